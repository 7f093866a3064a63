"""The rollout watcher: a function of (service state, clock). Never prints, never exits.

Steady state costs one DescribeServices call per poll whatever the service's size; tasks are
listed and described only to explain failures (paginated, at most 100 ARNs a call).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ecsdeploy.errors import EcsDeployError
from ecsdeploy.models import Deployment, Service, ServiceEvent, Task
from ecsdeploy.policy import Interrupted
from ecsdeploy.result import Outcome

DEFAULT_POLL_INTERVAL = 1.0
#: The first poll after the update comes this soon, and the wait grows by RAMP each poll up
#: to the interval: short rollouts and early failures (image pulls) show up in the first
#: seconds, while a long rollout still costs one call per interval.
FIRST_POLL = 0.25
RAMP = 1.5
#: When a rollout is about to finish (every new task running; no old task running), the
#: waits start again from this one and ramp up as before: the end is seen within a fraction
#: of a second, for a few more calls per deploy. Each sign resets the ramp once.
FINISHING_POLL = 0.1
MAX_STOPPED_TASKS_SHOWN = 10  # a crash-looping deployment stops tasks faster than anyone reads
JITTER = 0.1  # +-10% of the interval, so many CI jobs do not poll in lock-step


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class WatchSettings:
    deadline: float  # a clock() value
    poll_interval: float = DEFAULT_POLL_INTERVAL
    max_failed_tasks: int | None = None
    skip_deployments_check: bool = False
    #: With skip_deployments_check: the revision has health checks, so the running task
    #: must also be HEALTHY (that needs a task-level look, so it is not decided in assess).
    require_healthy: bool = False


@dataclass(frozen=True)
class Target:
    """What we wait for: our deployment, and the revision it replaced (to spot a rollback)."""

    cluster: str
    service: str
    deployment_id: str
    previous_task_definition: str | None


@dataclass
class WatchResult:
    outcome: Outcome
    reason: str
    service: Service | None
    deployment: Deployment | None
    stopped_tasks: list[Task] = field(default_factory=list)
    polls: int = 0
    #: The AWS error that ended the wait (Outcome.ERROR); service/deployment are then the
    #: last state seen before it.
    error: EcsDeployError | None = None


class Gateway(Protocol):
    def describe_service(self, cluster: str, service: str) -> Service: ...
    def list_tasks(self, cluster: str, **filters: str) -> list[str]: ...
    def describe_tasks(self, cluster: str, arns: list[str]) -> list[Task]: ...


class Observer(Protocol):
    """Where the watcher reports what it sees (output.py's reporter, or a test's list)."""

    def progress(self, service: Service, deployment: Deployment | None, elapsed: float) -> None: ...
    def service_event(self, event: ServiceEvent) -> None: ...
    def task_stopped(self, task: Task) -> None: ...
    def warn(self, message: str) -> None: ...


def assess(service: Service, target: Target, settings: WatchSettings) -> Verdict | None:
    """The verdict on one DescribeServices snapshot; None means keep waiting."""
    if not service.is_active:
        return Verdict(Outcome.SERVICE_INACTIVE, f"the service is {service.status}")
    ours = service.deployment(target.deployment_id)
    primary = service.primary
    rolled_back = (
        primary is not None
        and primary.id != target.deployment_id
        and target.previous_task_definition is not None
        and primary.task_definition == target.previous_task_definition
    )
    if ours is None or not ours.is_primary:
        why = ours.rollout_state_reason if ours is not None and ours.rollout_state_reason else None
        if rolled_back or (ours is not None and ours.rollout_failed):
            return Verdict(
                Outcome.ROLLED_BACK_BY_ECS,
                f"rolled back by ECS to {_revision(primary)}"
                + (f": {why}" if why else ": the deployment was replaced"),
            )
        return Verdict(
            Outcome.SUPERSEDED,
            f"superseded by deployment {primary.id if primary else 'unknown'} "
            f"(revision {_revision(primary)}): another deploy started; it was left alone",
        )
    if ours.rollout_failed:
        return Verdict(
            Outcome.FAILED, f"rolloutState FAILED: {ours.rollout_state_reason or 'no reason given'}"
        )
    if settings.max_failed_tasks is not None and ours.failed_tasks >= settings.max_failed_tasks:
        return Verdict(
            Outcome.FAILED,
            f"{ours.failed_tasks} task(s) of the new deployment failed "
            f"(--max-failed-tasks {settings.max_failed_tasks})",
        )
    if ours.desired_count == 0:
        return Verdict(Outcome.SUCCEEDED, "desired count is 0: the new deployment is PRIMARY")
    if settings.skip_deployments_check and not settings.require_healthy and ours.running_count >= 1:
        return Verdict(Outcome.SUCCEEDED, "the new deployment has a running task")
    replaced = [d for d in service.others(ours.id) if d.status != "INACTIVE"]
    if ours.all_desired_running and not replaced and ours.rollout_completed:
        return Verdict(
            Outcome.SUCCEEDED, f"{ours.running_count}/{ours.desired_count} tasks running"
        )
    return None


def watch(
    ecs: Gateway,
    target: Target,
    settings: WatchSettings,
    observer: Observer,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], object],
    interrupted: Callable[[], bool] = lambda: False,
    seen_events: frozenset[str] = frozenset(),
    rng: random.Random | None = None,
) -> WatchResult:
    """Poll until the deployment succeeds, fails, the deadline passes or we are interrupted.

    An AWS error that outlasts the gateway's retries ends the wait as Outcome.ERROR (the
    result keeps the last state seen); it is returned, not raised, so what follows (the
    rollback, the summary) still happens."""
    rng = rng or random.Random()
    started = clock()
    events_seen = set(seen_events)
    tasks_seen: set[str] = set()
    result = WatchResult(Outcome.TIMED_OUT, "", None, None)
    failed_seen = running_seen = 0
    signs_seen: set[str] = set()
    wait = min(FIRST_POLL, settings.poll_interval)
    while True:
        if interrupted():
            result.outcome, result.reason = Outcome.INTERRUPTED, "interrupted while waiting"
            return result
        try:
            service = ecs.describe_service(target.cluster, target.service)
        except Interrupted:
            result.outcome, result.reason = Outcome.INTERRUPTED, "interrupted while waiting"
            return result
        except EcsDeployError as exc:
            result.outcome, result.error = Outcome.ERROR, exc
            result.reason = f"stopped waiting on an AWS error: {exc.message}"
            return result
        result.polls += 1
        ours = service.deployment(target.deployment_id)
        result.service, result.deployment = service, ours
        for event in reversed(service.events):  # ECS lists newest first
            if event.id not in events_seen:
                events_seen.add(event.id)
                observer.service_event(event)
        observer.progress(service, ours, clock() - started)
        verdict = assess(service, target, settings)
        if (
            verdict is None
            and settings.skip_deployments_check
            and settings.require_healthy
            and ours is not None
            and ours.running_count >= 1
            and _has_healthy_task(ecs, target)
        ):
            verdict = Verdict(Outcome.SUCCEEDED, "the new deployment has a healthy running task")
        failed_now = ours.failed_tasks if ours else 0
        running_now = ours.running_count if ours else 0
        # Look at stopped tasks when ECS counts a failure, when running tasks vanish (an app
        # that crashes after RUNNING need not count as failed), or when the deploy failed.
        if (
            failed_now > failed_seen
            or running_now < running_seen
            or (verdict and verdict.outcome != Outcome.SUCCEEDED)
        ):
            _explain_stopped(ecs, target, tasks_seen, result, observer)
        failed_seen, running_seen = failed_now, running_now
        if verdict is not None:
            result.outcome, result.reason = verdict.outcome, verdict.reason
            return result
        now = clock()
        if now >= settings.deadline:
            result.outcome = Outcome.TIMED_OUT
            result.reason = _timeout_reason(service, ours)
            _explain_stopped(ecs, target, tasks_seen, result, observer)
            return result
        new_signs = _finishing_signs(service, ours) - signs_seen
        if new_signs:
            signs_seen |= new_signs
            wait = min(FINISHING_POLL, settings.poll_interval)
        jittered = wait * (1 + rng.uniform(-JITTER, JITTER))
        sleep(max(0.0, min(jittered, settings.deadline - now)))
        wait = min(wait * RAMP, settings.poll_interval)


def _finishing_signs(service: Service, ours: Deployment | None) -> set[str]:
    """What says the rollout is about to finish: all its new tasks run; no old task runs."""
    if ours is None or ours.desired_count == 0:
        return set()
    signs = set()
    if ours.all_desired_running:
        signs.add("new tasks running")
    if not any(d.running_count for d in service.others(ours.id)):
        signs.add("old tasks gone")
    return signs


def _explain_stopped(
    ecs: Gateway, target: Target, seen: set[str], result: WatchResult, observer: Observer
) -> None:
    """Record our deployment's newly stopped tasks and show the first few. An error here
    (or a signal) only leaves the explanation short: it never changes the verdict."""
    try:
        fresh = _new_stopped_tasks(ecs, target, seen)
    except EcsDeployError as exc:
        observer.warn(f"Could not explain stopped tasks: {exc.message}")
        return
    for task in fresh:
        result.stopped_tasks.append(task)
        if len(result.stopped_tasks) <= MAX_STOPPED_TASKS_SHOWN:
            observer.task_stopped(task)


def _new_stopped_tasks(ecs: Gateway, target: Target, seen: set[str]) -> list[Task]:
    """Stopped tasks of our deployment not reported yet (task calls happen only here)."""
    arns = [
        a
        for a in ecs.list_tasks(target.cluster, serviceName=target.service, desiredStatus="STOPPED")
        if a not in seen
    ]
    if not arns:
        return []
    fresh = []
    for task in ecs.describe_tasks(target.cluster, arns):
        seen.add(task.arn)
        if task.started_by == target.deployment_id and task.is_stopped:
            fresh.append(task)
    return fresh


def _has_healthy_task(ecs: Gateway, target: Target) -> bool:
    """A running task of our deployment is HEALTHY (an error: not known yet, keep waiting)."""
    try:
        arns = ecs.list_tasks(target.cluster, serviceName=target.service, desiredStatus="RUNNING")
        tasks = ecs.describe_tasks(target.cluster, arns) if arns else []
    except EcsDeployError:
        return False
    return any(
        t.started_by == target.deployment_id and t.is_running and t.is_healthy for t in tasks
    )


def _timeout_reason(service: Service, ours: Deployment | None) -> str:
    if ours is None:
        return "timed out waiting for the deployment"
    others = sum(d.running_count for d in service.deployments if d.id != ours.id)
    return (
        f"timed out: {ours.running_count}/{ours.desired_count} new tasks running, "
        f"{ours.pending_count} pending, {others} old still running, "
        f"rolloutState {ours.rollout_state or 'unknown'}"
    )


def _revision(deployment: Deployment | None) -> str:
    if deployment is None:
        return "an unknown revision"
    return deployment.task_definition.rsplit("/", 1)[-1]
