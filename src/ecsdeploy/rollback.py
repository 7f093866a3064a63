"""Every rollback, side by side: a rolling deploy's (one more UpdateService back to the
previous revision), a native deployment's (ECS rolls back inside it: StopServiceDeployment or
ContinueServiceDeployment, never a second UpdateService), a release's (--atomic: a service
that had succeeded is put back too), and putting the service's own deploymentConfiguration
back after a --strategy override.

Each runs in a phase of its own with a fresh --timeout (the signal that led here does not
stop it; a new one does), only while the service still runs our deployment, and through one
`guarded` step that turns an interrupt or an AWS error into the rollback's record; `settle`
then turns the record into the run's exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from ecsdeploy.config import DeployConfig
from ecsdeploy.errors import EcsDeployError, ExitCode
from ecsdeploy.models import Deployment, short_name
from ecsdeploy.output import describe_counts
from ecsdeploy.policy import Aborted, Interrupted
from ecsdeploy.result import DeployResult, Outcome, Rollback
from ecsdeploy.scheduled import move_scheduled
from ecsdeploy.story import Phase, Story
from ecsdeploy.watch import (
    Target,
    WatchResult,
    WatchSettings,
    ecs_rollback_reason,
    rolled_back_to_previous,
)

_SIGNALLED = {ExitCode.INTERRUPTED, ExitCode.TERMINATED}


class NativeRollback(Protocol):
    """What rolls a native deployment back (native.NativeRollout)."""

    def roll_back(
        self, target: Target, settings: WatchSettings, r: DeployResult, previous: WatchResult
    ) -> Rollback: ...


def roll_back_rolling(
    story: Story, cfg: DeployConfig, r: DeployResult, old_arn: str, seen: Deployment | None = None
) -> None:
    """--enable-rollback on a rolling deploy: point the service back at `old_arn` and wait.
    `seen` is our deployment as the watcher last saw it."""
    story.new_phase(Phase.ROLLING_BACK, cfg.timeout)
    story.reporter.warn(f"Rolling back to {short_name(old_arn)}")
    r.rollback = Rollback(task_definition=old_arn)
    guarded(story, r, lambda: _rolling(story, cfg, r, old_arn, seen))
    settle(story, r)


def roll_back_native(
    story: Story,
    cfg: DeployConfig,
    r: DeployResult,
    rollout: NativeRollback,
    *,
    target: Target,
    previous: WatchResult,
) -> None:
    """--enable-rollback on a native strategy: ECS rolls back inside the deployment."""
    story.new_phase(Phase.ROLLING_BACK, cfg.timeout)
    assert story.policy.deadline is not None
    settings = WatchSettings(story.policy.deadline, poll_interval=cfg.poll_interval)
    assert target.service_deployment_arn is not None
    r.rollback = Rollback(service_deployment_arn=target.service_deployment_arn)
    guarded(story, r, lambda: rollout.roll_back(target, settings, r, previous))
    settle(story, r)


def roll_back_release(story: Story, cfg: DeployConfig, r: DeployResult, failed: str) -> None:
    """--atomic: this service succeeded but another of its release failed: put it back on the
    revision it ran before (an UpdateService: its deployment is over) and wait for that. A
    rollback that did not put it back is the service's outcome (it still runs the new
    revision), never its earlier success."""
    assert r.old_task_definition
    story.attach(r)
    story.phase = Phase.ROLLING_BACK_WITH_RELEASE
    story.settled = False  # its success is being undone: a signal now stops the rollback
    try:
        roll_back_rolling(story, cfg, r, r.old_task_definition)
    except Aborted:
        story.stopped_by_signal(r, Outcome.ABORTED, "aborted by a second signal")
        return
    rollback = r.rollback or Rollback()
    if r.code == ExitCode.ROLLED_BACK:
        r.outcome = Outcome.ROLLED_BACK
        r.reason = f"rolled back with the release (--atomic): {failed} failed"
        put_back_configuration(story, cfg, r)
        move_scheduled(story, r.scheduled_tasks, r, back=True)
    elif rollback.outcome is Outcome.SKIPPED:
        r.code, r.outcome = ExitCode.DEPLOY_FAILED, Outcome.SUPERSEDED
        r.reason = f"not rolled back with the release (--atomic): {rollback.reason}"
    elif r.code == ExitCode.OK:
        r.code, r.outcome = ExitCode.ROLLBACK_FAILED, Outcome.ROLLBACK_FAILED
        why = rollback.reason or (rollback.outcome.value if rollback.outcome else "unknown")
        r.reason = (
            f"the release's rollback (--atomic, {failed} failed) did not take: {why}; the "
            f"service still runs {short_name(r.new_task_definition or '')}"
        )


def put_back_configuration(story: Story, cfg: DeployConfig, r: DeployResult) -> None:
    """A rollback also undoes --strategy and its settings, which UpdateService stored on the
    service: the rollback's deployment (or ECS's own, for a native one) leaves them there. One
    UpdateService with the service's own deploymentConfiguration and nothing else, which
    starts no deployment."""
    own = r.own_configuration
    if not cfg.strategy.given or own is None or story.policy.interrupted():
        return
    assert cfg.cluster
    assert cfg.service
    try:
        # ECS keeps a member the request leaves out: name the strategy even when the
        # service's own configuration relied on the default (ROLLING)
        story.ecs.update_service(
            cluster=cfg.cluster,
            service=cfg.service,
            deploymentConfiguration={"strategy": "ROLLING", **own},
        )
    except EcsDeployError as exc:
        message = (
            "The service keeps the --strategy override: putting its own configuration "
            f"back failed ({exc.message})"
        )
        story.reporter.warn(message)
        return
    if r.rollback is not None:
        r.rollback = replace(r.rollback, configuration_restored=True)
    story.reporter.info(
        f"Put the service's own deployment configuration back (strategy "
        f"{own.get('strategy') or 'ROLLING'})"
    )


def guarded(story: Story, r: DeployResult, steps: Callable[[], object]) -> None:
    """Run a rollback's steps; an interrupt (a new signal) or an AWS error ends it, and is
    its record's outcome, reported beside the deploy's own failure."""
    assert r.rollback is not None
    try:
        steps()
    except Interrupted as exc:
        r.rollback = r.rollback.ended(Outcome.INTERRUPTED, exc.message)
        story.reporter.warn(f"Rollback {exc.message}")
    except EcsDeployError as exc:
        r.rollback = r.rollback.ended(Outcome.ERROR, exc.message)
        story.reporter.error(f"Rollback failed: {exc.message}")


def settle(story: Story, r: DeployResult) -> None:
    """The run's code after its rollback: 21 when it put the previous revision back (unless a
    signal led here), 15 when ECS had gone back already (the run then reads as ECS's
    rollback), 22 when ECS's own rollback failed, the signal's when interrupted."""
    rollback = r.rollback
    assert rollback is not None
    native = rollback.service_deployment_arn is not None
    if rollback.outcome is Outcome.INTERRUPTED:
        r.code, r.outcome = story.policy.exit_code, Outcome.INTERRUPTED
        if rollback.deployment_id:  # the wait for our rollback deployment was cut short
            r.reason += (
                f"; the rollback to {short_name(rollback.task_definition or '')} was "
                f"interrupted: deployment {rollback.deployment_id} goes on without us"
            )
        else:
            r.reason += f"; the rollback was {rollback.reason}"
    elif rollback.outcome is Outcome.ROLLED_BACK_BY_ECS:  # ECS went back before we could
        r.outcome, r.reason = Outcome.ROLLED_BACK_BY_ECS, rollback.reason or r.reason
        if r.code not in _SIGNALLED:
            r.code = ExitCode.ROLLED_BACK_BY_ECS
    elif rollback.outcome is (Outcome.ROLLED_BACK if native else Outcome.SUCCEEDED):
        if r.code not in _SIGNALLED:
            r.code = ExitCode.ROLLED_BACK
    elif rollback.outcome is Outcome.ROLLBACK_FAILED:
        r.code = ExitCode.ROLLBACK_FAILED
        r.reason += f"; {rollback.reason}"


def _rolling(
    story: Story, cfg: DeployConfig, r: DeployResult, old_arn: str, seen: Deployment | None
) -> None:
    assert cfg.cluster
    assert cfg.service
    assert r.rollback is not None
    before = story.ecs.describe_service(cfg.cluster, cfg.service)
    primary = before.primary
    assert r.deployment_id is not None
    if rolled_back_to_previous(before, r.deployment_id, old_arn):
        # ECS's circuit breaker (or an alarm) failed the deployment as our verdict came:
        # the service is going back already, and the run reads as ECS's rollback would
        reason = ecs_rollback_reason(before, r.deployment_id, seen)
        r.rollback = r.rollback.ended(Outcome.ROLLED_BACK_BY_ECS, reason)
        story.reporter.warn(f"Rollback not needed: {reason}")
        return
    if primary is None or primary.id != r.deployment_id:
        reason = (
            f"superseded by deployment {primary.id if primary else 'unknown'} "
            f"(revision {short_name(primary.task_definition) if primary else 'unknown'}): "
            "the service no longer runs ours, so it was left alone"
        )
        r.rollback = r.rollback.ended(Outcome.SKIPPED, reason)
        story.reporter.warn(f"Rollback skipped: {reason}")
        return
    update = {"cluster": cfg.cluster, "service": cfg.service, "taskDefinition": old_arn}
    updated = story.update_service(cfg, before, update, orphan=False)
    deployment_id = story.deployment_to_follow(cfg, updated)
    counts: dict[str, int] = {}  # filled in place while the rollback is watched
    r.rollback = replace(r.rollback, deployment_id=deployment_id, counts=counts)
    assert story.policy.deadline is not None
    result = story.watch(
        r,
        Target(cfg.cluster, cfg.service, deployment_id, r.new_task_definition),
        WatchSettings(story.policy.deadline, poll_interval=cfg.poll_interval),
        seen=before.events,
        counts=counts,
    )
    r.rollback = r.rollback.ended(result.outcome, result.reason)
    if result.outcome is Outcome.INTERRUPTED:
        story.reporter.warn(
            f"Rollback interrupted: deployment {deployment_id} goes on without us "
            f"({describe_counts(counts)})"
        )
    else:
        story.reporter.info(f"Rollback {result.outcome.value}: {result.reason}")
