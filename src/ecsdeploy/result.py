"""What a run ends with: the outcome vocabulary and the result value that the deployer fills
in as it goes and the output module reports. It sits below both, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from ecsdeploy.errors import ExitCode

if TYPE_CHECKING:  # named in fields only: what a run fills in loads with the run
    from ecsdeploy.diagnose import TaskDiagnosis
    from ecsdeploy.models import ServiceDeployment, Task
    from ecsdeploy.schedules import ScheduledTask


class Outcome(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # rolloutState FAILED or --max-failed-tasks reached
    ROLLED_BACK_BY_ECS = "rolled_back_by_ecs"  # ECS put the old revision back itself
    ROLLBACK_FAILED = "rollback_failed"  # ECS's rollback of a native deployment failed
    PAUSED = "paused"  # a native deployment waits at a lifecycle hook (--on-pause exit)
    DRY_RUN = "dry_run"  # --dry-run: everything read and checked, nothing written
    ROLLED_BACK = "rolled_back"  # rolled back at our request (--on-pause/--resume rollback)
    SUPERSEDED = "superseded"  # another run's deployment replaced ours: never roll it back
    SERVICE_INACTIVE = "service_inactive"  # DRAINING or INACTIVE while we waited
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM: what was still to come did not happen
    ABORTED = "aborted"  # a second signal before the first was honoured
    ERROR = "error"  # bad input or an AWS error; the exit code says which
    SKIPPED = "skipped"  # a rollback left undone: the service runs another run's deployment

    @property
    def exit_code(self) -> ExitCode | None:
        """The exit code this verdict has by itself; None where it depends on more (an
        error's kind, the signal, the rollback that followed)."""
        return _EXIT_CODES.get(self)


_EXIT_CODES = {
    Outcome.SUCCEEDED: ExitCode.OK,
    Outcome.FAILED: ExitCode.DEPLOY_FAILED,
    Outcome.TIMED_OUT: ExitCode.DEPLOY_FAILED,
    Outcome.SUPERSEDED: ExitCode.DEPLOY_FAILED,
    Outcome.ROLLED_BACK_BY_ECS: ExitCode.ROLLED_BACK_BY_ECS,
    Outcome.SERVICE_INACTIVE: ExitCode.UNSUPPORTED_SERVICE,
    Outcome.INTERRUPTED: ExitCode.INTERRUPTED,
    Outcome.ROLLBACK_FAILED: ExitCode.ROLLBACK_FAILED,
    Outcome.PAUSED: ExitCode.PAUSED,
    Outcome.ROLLED_BACK: ExitCode.ROLLED_BACK,
    Outcome.DRY_RUN: ExitCode.OK,
}


@dataclass(frozen=True)
class Rollback:
    """What a rollback did. Rolling: the revision put back (`task_definition`) and the
    deployment that does it; native: the service deployment rolled back inside itself and the
    call that asked (`requested_with`). `counts` is the rollback's own last counts, filled in
    place while it is watched, so an abort still reports them. A new record replaces it as it
    goes on (`ended`, `restored`)."""

    task_definition: str | None = None
    service_deployment_arn: str | None = None
    requested_with: str | None = None
    deployment_id: str | None = None
    counts: dict[str, int] | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    configuration_restored: bool = False

    def ended(self, outcome: Outcome, reason: str) -> Rollback:
        return replace(self, outcome=outcome, reason=reason)

    def as_dict(self) -> dict[str, Any]:
        """The summary's `rollback` object: only the fields this rollback has."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value is not False:
                data[f.name] = value.value if isinstance(value, Outcome) else value
        return data


@dataclass
class DeployResult:
    """Everything known about a run so far; on any exit path it is what the summary reports."""

    code: ExitCode
    outcome: Outcome
    reason: str
    cluster: str | None = None
    service: str | None = None
    old_task_definition: str | None = None
    new_task_definition: str | None = None
    deployment_id: str | None = None
    duration: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    rollback: Rollback | None = None
    deregistered: list[str] = field(default_factory=list)
    stopped_tasks: list[Task] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Native strategies: what the service deployment record said last.
    strategy: str | None = None
    service_deployment_arn: str | None = None
    service_deployment_status: str | None = None
    lifecycle_stage: str | None = None
    traffic: dict[str, float | None] | None = None
    paused_hook: dict[str, Any] | None = None
    resume_command: str | None = None
    #: --dry-run: the unified diff of the task definition, and the requests not sent.
    diff: list[str] | None = None
    requests: dict[str, Any] = field(default_factory=dict)
    #: Why each failed task failed: its containers' last log lines, target health.
    diagnosis: list[TaskDiagnosis] = field(default_factory=list)
    #: The scheduled tasks (rule targets, schedules) of the family: moved, or left alone.
    scheduled_tasks: list[ScheduledTask] = field(default_factory=list)
    #: A one-off task's (or migration's) essential container's own exit code, exactly.
    task_exit_code: int | None = None
    #: What the preflight checked (kind, what, status ok/missing/skipped, why).
    preflight: list[dict[str, str]] = field(default_factory=list)
    #: A CODE_DEPLOY service: the CodeDeploy application, group, deployment (id, status,
    #: configuration, lifecycle events, traffic weights, error, rollback deployment).
    codedeploy: dict[str, Any] | None = None
    #: With --strategy: the service's own deploymentConfiguration, which a rollback puts
    #: back (not reported).
    own_configuration: dict[str, Any] | None = None
    #: A release cannot go on without this service (a CODE_DEPLOY one, which a release does
    #: not deploy): none of its services moves.
    stops_release: bool = False
    #: What the run is, in its last line ("Deploy succeeded", "Migration interrupted").
    what: str = "Deploy"

    def note_service_deployment(self, sd: ServiceDeployment | None) -> None:
        """Copy what the summary reports of a service deployment (native strategies)."""
        if sd is None:
            return
        self.service_deployment_arn = sd.arn
        self.service_deployment_status = sd.status
        self.lifecycle_stage = sd.lifecycle_stage
        self.traffic = sd.traffic
        self.strategy = sd.strategy or self.strategy

    @classmethod
    def failure(cls, code: ExitCode, reason: str) -> DeployResult:
        """A run that ended before a deploy could start (bad input, no credentials, ...)."""
        return cls(code=code, outcome=Outcome.ERROR, reason=reason)


@dataclass
class ReleaseResult:
    """Several services deployed in one run: each one's result, and the release's verdict."""

    cluster: str | None
    results: list[DeployResult]
    code: ExitCode
    outcome: Outcome
    reason: str
    duration: float = 0.0
    #: DescribeServices calls the release made, and the rounds that read several services
    #: at once: calls / rounds is the calls per poll (2 for 20 services).
    describe_calls: int = 0
    read_rounds: int = 0

    @classmethod
    def of(
        cls,
        cluster: str | None,
        results: list[DeployResult],
        *,
        duration: float = 0.0,
        aborted_code: ExitCode | None = None,
        signal_code: ExitCode | None = None,
    ) -> ReleaseResult:
        """A signal's code (130/143) when the release was aborted, or when a signal
        (`signal_code`: one arrived) stopped a service before its verdict; 22 when a
        service's rollback failed (the release is half-shipped: a person must look); 0 when
        every service succeeded; the code they share when all failures share one; else 1.
        A signal that arrived once every service had its verdict (while the scheduled tasks
        moved, or pruning) changes none: a signal never changes a verdict already reached (a
        second one neither: the release passes no `aborted_code` then)."""
        failed = [r for r in results if r.code != ExitCode.OK]
        names = ", ".join(f"{r.service} ({r.outcome.value})" for r in failed)
        if aborted_code is not None:
            return cls(cluster, results, aborted_code, Outcome.ABORTED, "aborted", duration)
        stopped = [r for r in failed if r.outcome in (Outcome.INTERRUPTED, Outcome.ABORTED)]
        if signal_code is not None and stopped:
            return cls(
                cluster,
                results,
                signal_code,
                Outcome.INTERRUPTED,
                f"interrupted: {names}",
                duration,
            )
        stuck = [r for r in results if r.code == ExitCode.ROLLBACK_FAILED]
        if stuck:
            return cls(
                cluster,
                results,
                ExitCode.ROLLBACK_FAILED,
                Outcome.ROLLBACK_FAILED,
                f"{len(stuck)} service(s) could not be rolled back and need a person: {names}",
                duration,
            )
        if not failed:
            if all(r.outcome is Outcome.DRY_RUN for r in results):
                outcome, reason = Outcome.DRY_RUN, f"dry run of {len(results)} services"
            else:
                outcome, reason = Outcome.SUCCEEDED, f"all {len(results)} services deployed"
            return cls(cluster, results, ExitCode.OK, outcome, reason, duration)
        codes = {r.code for r in failed}
        code = failed[0].code if len(codes) == 1 else ExitCode.DEPLOY_FAILED
        return cls(
            cluster,
            results,
            code,
            Outcome.FAILED,
            f"{len(failed)} of {len(results)} services did not deploy: {names}",
            duration,
        )
