"""What every story of a run shares (the service deploy, resume, the rollbacks, pruning,
register-only and one-off tasks): the gateway, the reporter, the run's policy with its clock
and deadline, the phase the run is in, the result it fills as it goes, and the few steps each
story takes alike: watching a deployment through the one watcher, registering, and the
checked write that looks whether a lost answer took effect.

A story is a function of a `Story` (see deploy.py, register.py, rollback.py, prune.py,
native.py); `Story.run` gives it one deadline and turns whatever ends it (a signal, an abort,
an AWS error) into the result's outcome, saying where the run stood.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from ecsdeploy import preflight
from ecsdeploy.config import DeployConfig
from ecsdeploy.diagnose import Diagnoser
from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import AwsError, EcsDeployError
from ecsdeploy.gateways import AwsReaders
from ecsdeploy.masking import redact
from ecsdeploy.models import (
    Deployment,
    HookDetail,
    Service,
    ServiceDeployment,
    ServiceEvent,
    Task,
    rollout_counts,
    short_name,
)
from ecsdeploy.output import Reporter, describe_counts
from ecsdeploy.plan import new_revision_asked
from ecsdeploy.policy import Aborted, Interrupted
from ecsdeploy.result import DeployResult, Outcome
from ecsdeploy.watch import Target, WatchResult, WatchSettings, paused_reason, watch

#: Seconds the task reads that explain a failure (or check health) may retry: they are best
#: effort, and must not hold up a verdict until the deadline.
TASK_READ_BUDGET = 3.0


#: ECS already rolled back (or failed to), the service can no longer be updated, the service
#: now runs someone else's deployment, or the deployment waits for approval on purpose:
#: rolling back would undo what is not ours to undo.
NO_ROLLBACK = {
    Outcome.ROLLED_BACK_BY_ECS,
    Outcome.ROLLBACK_FAILED,
    Outcome.ROLLED_BACK,
    Outcome.PAUSED,
    Outcome.SERVICE_INACTIVE,
    Outcome.SUPERSEDED,
}


class Phase(Enum):
    """Where a run stands; its value is how a report names it ("interrupted while ...")."""

    STARTING = "starting"
    DESCRIBING_SERVICE = "describing the service"
    DESCRIBING_TASK_DEFINITION = "describing the task definition"
    PREPARING = "preparing the new revision"
    PREFLIGHT = "checking what the new revision needs"
    REGISTERING = "registering the new revision"
    MIGRATING = "running the migration"
    CHECKING_MIGRATION = "checking the move to ECS's controller"
    MIGRATING_CONTROLLER = "moving the service to ECS's controller"
    UPDATING = "updating the service"
    WAITING = "waiting for the deployment"
    FINDING_PAUSED = "finding the paused deployment"
    RESUMING = "resuming the deployment"
    ROLLING_BACK = "rolling back"
    ROLLING_BACK_WITH_RELEASE = "rolling back with the release"
    MOVING_SCHEDULED = "moving the scheduled tasks"
    PRUNING = "pruning old revisions"
    RUNNING_TASK = "running the task"
    WAITING_FOR_TASK = "waiting for the task"
    STOPPING_TASK = "stopping the one-off task"


def resume_command(cluster: str, service: str, action: str = "continue") -> str:
    return f"ecs-deploy -c {cluster} -n {service} --resume {action}"


def record_pause(cfg: DeployConfig, r: DeployResult, sd: ServiceDeployment | None) -> None:
    """The deployment waits at a hook: say which, and how to answer it."""
    hook = sd.paused_hook if sd is not None else None
    if hook is None:
        return
    assert cfg.cluster
    assert cfg.service
    r.paused_hook = {
        "hook_id": hook.hook_id,
        "target_type": hook.target_type,
        "expires_at": hook.expires_at.isoformat() if hook.expires_at else None,
        "timeout_action": hook.timeout_action,
    }
    r.resume_command = resume_command(cfg.cluster, cfg.service)
    r.reason += (
        f"; approve with: {r.resume_command} (or "
        f"{resume_command(cfg.cluster, cfg.service, 'rollback')})"
    )


@dataclass
class _Recorder:
    """The watcher's observer: shows what it sees, and keeps the latest counts (in the
    result, or the rollback's record) so that an abort still reports where a rollout stood."""

    reporter: Reporter
    result: DeployResult
    counts: dict[str, Any]
    #: How to approve a paused deployment from another job (said when one pauses).
    resume_hint: str = ""
    #: Why a stopped task failed (its logs, its target health); None: not asked.
    diagnoser: Diagnoser | None = None
    service: Service | None = None  # as the last poll saw it

    def progress(
        self,
        service: Service,
        deployment: Deployment | None,
        elapsed: float,
        sd: ServiceDeployment | None = None,
    ) -> None:
        self.counts.clear()
        self.counts.update(rollout_counts(service, deployment))
        self.result.note_service_deployment(sd)
        self.service = service
        self.reporter.progress(service, deployment, elapsed, sd)

    def stage_changed(self, sd: ServiceDeployment) -> None:
        self.reporter.stage_changed(sd)

    def paused(self, sd: ServiceDeployment, hook: HookDetail) -> None:
        self.reporter.warn(f"Deployment {paused_reason(sd, hook)}{self.resume_hint}")

    def service_event(self, event: ServiceEvent) -> None:
        self.reporter.service_event(event)
        if self.diagnoser is not None and self.service is not None and _unhealthy_target(event):
            # read now: ECS deregisters the target when it stops the task
            self.reporter.targets(self.diagnoser.read_targets(self.service))

    def task_stopped(self, task: Task) -> None:
        self.reporter.task_stopped(task)
        if self.diagnoser is not None:
            diagnosis = self.diagnoser.task(task, self.service)
            self.result.diagnosis.append(diagnosis)
            self.reporter.diagnosis(diagnosis)

    def warn(self, message: str) -> None:
        self.reporter.warn(message)


def _unhealthy_target(event: ServiceEvent) -> bool:
    """ECS's event when a load balancer finds a task's target unhealthy: "(service web)
    (task 1a2b) is unhealthy in (target-group arn:...) due to (reason ...)", or the one when it
    stops such a task ("... failed ELB health checks in (target-group ...)")."""
    text = event.message.lower()
    return "target-group" in text and ("unhealthy" in text or "health checks" in text)


@dataclass
class _WatchedGateway:
    """What the watcher calls: DescribeServices as it is, task reads on a short budget."""

    ecs: EcsGateway

    def describe_service(self, cluster: str, service: str) -> Service:
        return self.ecs.describe_service(cluster, service)

    def describe_service_deployment(self, arn: str) -> ServiceDeployment:
        return self.ecs.describe_service_deployment(arn)

    def list_tasks(self, cluster: str, **filters: str) -> list[str]:
        with self.ecs.within(TASK_READ_BUDGET):
            return self.ecs.list_tasks(cluster, **filters)

    def describe_tasks(self, cluster: str, arns: list[str]) -> list[Task]:
        with self.ecs.within(TASK_READ_BUDGET):
            return self.ecs.describe_tasks(cluster, arns)


class Story:
    """One run's frame: the gateway (whose policy holds the clock, the deadline and the
    signals), the reporter, the phase, and the result being filled."""

    def __init__(
        self, ecs: EcsGateway, reporter: Reporter, readers: AwsReaders | None = None
    ) -> None:
        self.ecs = ecs
        self.reporter = reporter
        #: The reads a failure's diagnosis (and a preflight) makes; None: none are made.
        self.readers = readers
        self.diagnoser: Diagnoser | None = None
        self.policy = ecs.policy
        self.clock = self.policy.clock
        self.phase = Phase.STARTING
        self.service_updated = False
        #: The verdict is reached (the deploy or registration succeeded, a one-off task timed
        #: out): what follows is housekeeping, and no signal, a second one neither, changes it.
        self.settled = False
        #: Where a signal would leave the service, when the story knows better than the
        #: phase (a migration's UpdateService: sent, applied or unknown).
        self.state_on_signal: str | None = None
        #: What a signal leaves of a one-off task (or migration) that was started: stopped,
        #: or how to stop (or find) it. Said after the rest of the state.
        self.tasks_on_signal: str | None = None
        self.result: DeployResult | None = None  # the run's, once one has begun
        #: The write after the verdict in flight (a revision being deregistered), as a second
        #: signal that cuts it short would name it; None: none.
        self.in_flight: str | None = None
        self._early_checks: preflight.Early = {}  # image checks begun with the first reads

    # -- the frame ---------------------------------------------------------------------------

    def run(self, result: DeployResult, timeout: float, body: Callable[[], None]) -> DeployResult:
        """Run `body` within one deadline; whatever ends it, `result` says where it stood."""
        self.attach(result)
        started = self.clock()
        self.policy.deadline = started + timeout
        try:
            body()
        except Interrupted:
            if not self.kept_verdict(result, "A signal"):
                self.stopped_by_signal(result, Outcome.INTERRUPTED, "interrupted")
        except Aborted:
            if not self.kept_verdict(result, "A second signal"):
                self.stopped_by_signal(result, Outcome.ABORTED, "aborted by a second signal")
        except EcsDeployError as exc:
            result.code, result.outcome, result.reason = exc.code, Outcome.ERROR, exc.message
        result.duration = self.clock() - started
        return result

    def attach(self, result: DeployResult) -> None:
        """`result` is the run's from now on: every warning said is recorded in it."""
        self.result = result
        self.reporter.record_into(result.warnings)

    def begin(self, cfg: DeployConfig) -> None:
        """A story's first step: say the notices the options left (`-i` ignored with `-to`,
        ...), and from now on, say why each failed task failed (when the run has readers)."""
        for notice in cfg.notices:
            self.reporter.warn(notice)
        if self.readers is not None:
            self.diagnoser = Diagnoser(
                self.readers,
                self.policy,
                cfg.log_lines,
                warn=self.reporter.warn,
                known_secrets=self.readers.credential_secrets,
                mask=redact,
            )

    def preflight_early(self, cfg: DeployConfig) -> None:
        """Start the checks that need only the command line (each -i in ECR) now, beside the
        first reads; `preflight` takes their answers (and ignores those it does not need)."""
        if not cfg.preflight or self.readers is None:
            return
        if not new_revision_asked(cfg) and cfg.revision is None:
            return  # no revision to check
        if cfg.image is not None:
            images = [str(i) for i in (cfg.image, *cfg.extra_images)]
            self._early_checks = preflight.start_images(
                self.readers, self.policy, images, self.readers.region
            )
        # The other checks' clients are made once the revision is known; their models
        # (most of a client's cost) load now, while the first reads are on the wire.
        self.readers.clients.prepare(preflight.LATER, after=list(self._early_checks.values()))

    def preflight(
        self, cfg: DeployConfig, containers: Sequence[Mapping[str, Any]], r: DeployResult
    ) -> None:
        """Before the first write: check that what the revision names exists (preflight.py);
        raise PreflightError naming what does not. Nothing is read when nothing needs it."""
        if not cfg.preflight or self.readers is None:
            return
        found = preflight.needs(containers, self.readers.region)
        if found.other_registries:
            self.reporter.info(
                f"Preflight: not checked, not in ECR: {', '.join(found.other_registries)}"
            )
        if found.empty:
            return
        self.phase = Phase.PREFLIGHT
        started = self.clock()
        checks = preflight.run(self.readers, self.policy, found, self._early_checks)
        r.preflight = [c.as_dict() for c in checks]
        ok = sum(c.status == "ok" for c in checks)
        self.reporter.info(
            f"Preflight: {ok} of {len(checks)} checked exist ({self.clock() - started:.2f}s)"
        )
        for check in checks:
            if check.status == "skipped":
                self.reporter.warn(f"Preflight skipped {check.describe()}")
        preflight.verdict(checks)

    def new_phase(self, phase: Phase, timeout: float) -> None:
        """A phase a signal before it does not stop (a rollback), with a fresh deadline."""
        self.policy.new_phase()
        self.policy.deadline = self.clock() + timeout
        self.phase = phase

    def stopped_by_signal(self, result: DeployResult, outcome: Outcome, how: str) -> None:
        result.code, result.outcome = self.policy.exit_code, outcome
        if self.phase is Phase.PRUNING:
            state = f"the deploy had succeeded; {len(result.deregistered)} revision(s) pruned"
        elif self.state_on_signal:
            state = self.state_on_signal
        elif result.deployment_id or self.service_updated:
            state = f"deployment {result.deployment_id or '(not known)'} goes on without us"
            if result.counts:
                state += f" ({describe_counts(result.counts)})"
        elif result.new_task_definition and result.new_task_definition != (
            result.old_task_definition
        ):
            state = (
                f"registered {result.new_task_definition}, but the service was not updated"
                if result.service
                else f"registered {result.new_task_definition}"
            )
        else:
            state = "nothing was changed"
        if self.tasks_on_signal:  # a task was started: something was changed
            state = (
                self.tasks_on_signal
                if state == "nothing was changed"
                else f"{state}; {self.tasks_on_signal}"
            )
        result.reason = f"{how} while {self.phase.value}: {state}"

    def aws_cli_args(self) -> str:
        """The options an `aws` command printed for the user needs to act where this run did:
        ` --region R`, and ` --profile P` when a profile was used."""
        from shlex import quote

        from ecsdeploy.ecs import region_of

        args = f" --region {quote(region_of(self.ecs))}"
        profile = self.readers.clients.profile if self.readers is not None else None
        return args + (f" --profile {quote(profile)}" if profile else "")

    def kept_verdict(self, result: DeployResult, signal: str) -> bool:
        """A signal that ends the run after its verdict leaves the verdict as it is (a warning
        says what it cut short); False when no verdict was reached yet."""
        if not self.settled:
            return False
        cut = f"; {self.in_flight}" if self.in_flight else ""
        self.reporter.warn(
            f"{signal} after the verdict ({result.outcome.value}) stopped the run while "
            f"{self.phase.value}{cut}; the verdict stands"
        )
        return True

    def where_it_stood(self, outcome: Outcome, how: str) -> DeployResult | None:
        """The run's result as it stands, ended by a signal (a release's abort: this
        service's thread did not get to say so itself); None if no run began. A verdict
        already reached stands."""
        if self.result is None:
            return None
        signal = "A second signal" if outcome is Outcome.ABORTED else "A signal"
        if self.kept_verdict(self.result, signal):
            return self.result
        if self.result.outcome is not Outcome.ABORTED:
            self.stopped_by_signal(self.result, outcome, how)
        return self.result

    # -- steps every story takes alike --------------------------------------------------------

    def watch(
        self,
        r: DeployResult,
        target: Target,
        settings: WatchSettings,
        *,
        seen: tuple[ServiceEvent, ...] = (),
        previous: WatchResult | None = None,
        counts: dict[str, Any] | None = None,
        resume_hint: str = "",
    ) -> WatchResult:
        """Follow `target` until its verdict, through the policy's clock and sleep, showing
        nothing that `seen` events or a `previous` wait already showed."""
        return watch(
            _WatchedGateway(self.ecs),
            target,
            settings,
            _Recorder(
                self.reporter,
                r,
                r.counts if counts is None else counts,
                resume_hint,
                self.diagnoser,
            ),
            clock=self.clock,
            sleep=self.policy.sleep,
            interrupted=self.policy.interrupted,
            seen_events=frozenset(e.id for e in seen),
            previous=previous,
        )

    def settings(self, cfg: DeployConfig, require_healthy: bool = False) -> WatchSettings:
        """The watcher's settings for this deploy, up to the current deadline."""
        assert self.policy.deadline is not None
        return WatchSettings(
            deadline=self.policy.deadline,
            poll_interval=cfg.poll_interval,
            max_failed_tasks=cfg.max_failed_tasks,
            skip_deployments_check=cfg.skip_deployments_check,
            require_healthy=require_healthy,
            wait_until=cfg.wait_until,
            on_pause=cfg.on_pause,
        )

    def record_verdict(self, cfg: DeployConfig, r: DeployResult, result: WatchResult) -> None:
        """The watcher's verdict into the result: outcome, reason, counts, code."""
        r.outcome, r.reason = result.outcome, result.reason
        if result.service is not None:
            r.counts = rollout_counts(result.service, result.deployment)
        r.note_service_deployment(result.service_deployment)
        r.stopped_tasks = result.stopped_tasks
        self.settled = result.outcome is Outcome.SUCCEEDED  # what follows is housekeeping
        if result.outcome is Outcome.ERROR and result.error is not None:
            r.code = result.error.code
        elif result.outcome is Outcome.INTERRUPTED:
            r.code = self.policy.exit_code
            self.reporter.warn(f"Interrupted while waiting: {describe_counts(r.counts)}")
        else:
            code = result.outcome.exit_code
            assert code is not None  # every verdict the watcher returns has its own
            r.code = code
        if result.outcome is Outcome.PAUSED:
            record_pause(cfg, r, result.service_deployment)

    def register(self, request: Mapping[str, Any]) -> str:
        arn = str(self.ecs.register_task_definition(request)["taskDefinitionArn"])
        self.reporter.info(f"Registered new task definition: {arn}")
        return arn

    def update_service(
        self, cfg: DeployConfig, before: Service, update: dict[str, Any], *, orphan: bool
    ) -> Service:
        """UpdateService. When it fails, look whether it was applied all the same (a lost
        answer): follow it if so; otherwise deregister the revision registered for it
        (`orphan`), since nothing will ever run it."""
        try:
            return self.ecs.update_service(**update)
        except Interrupted:
            raise
        except EcsDeployError as exc:
            applied = self._applied_update(cfg, before, update["taskDefinition"])
            if applied is not None:
                self.reporter.warn(
                    f"UpdateService reported an error ({exc.message}), but the service shows "
                    "the update applied: following it"
                )
                return applied
            if orphan:
                self.deregister_orphan(update["taskDefinition"])
            raise

    def deployment_to_follow(self, cfg: DeployConfig, updated: Service) -> str:
        """The PRIMARY deployment UpdateService created (ECS lists it in its response)."""
        assert cfg.cluster
        assert cfg.service
        primary = updated.primary or self.ecs.describe_service(cfg.cluster, cfg.service).primary
        if primary is None:
            raise AwsError(
                f"UpdateService left service {cfg.service} with no PRIMARY deployment to follow"
            )
        return primary.id

    def _applied_update(self, cfg: DeployConfig, before: Service, arn: str) -> Service | None:
        assert cfg.cluster
        assert cfg.service
        try:
            now = self.ecs.describe_service(cfg.cluster, cfg.service)
        except EcsDeployError:
            return None
        primary = now.primary
        known = {d.id for d in before.deployments}
        if primary is not None and primary.id not in known and primary.task_definition == arn:
            return now
        return None

    def deregister_orphan(self, arn: str, why: str = "the service was not updated to it") -> bool:
        """Deregister a revision registered for a deployment that was refused (the summary's
        `deregistered` lists it); whether it was."""
        try:
            self.ecs.deregister_task_definition(arn)
        except EcsDeployError as exc:
            self.reporter.warn(f"Could not deregister the unused revision {arn}: {exc.message}")
            return False
        if self.result is not None and arn not in self.result.deregistered:
            self.result.deregistered.append(arn)
        self.reporter.warn(f"Deregistered {short_name(arn)}: {why}")
        return True
