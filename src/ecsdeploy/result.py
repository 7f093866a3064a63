"""What a run ends with: the outcome vocabulary and the result value that the deployer fills
in as it goes and the output module reports. It sits below both, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ecsdeploy.errors import ExitCode
from ecsdeploy.models import Task


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


@dataclass
class DeployResult:
    """Everything known about a run so far; on any exit path it is what the summary reports."""

    code: ExitCode
    outcome: str
    reason: str
    cluster: str | None = None
    service: str | None = None
    old_task_definition: str | None = None
    new_task_definition: str | None = None
    deployment_id: str | None = None
    duration: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    rollback: dict[str, Any] | None = None
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
    #: With --strategy: the service's own deploymentConfiguration, which a rollback puts
    #: back (not reported).
    own_configuration: dict[str, Any] | None = None

    @classmethod
    def failure(cls, code: ExitCode, reason: str) -> DeployResult:
        """A run that ended before a deploy could start (bad input, no credentials, ...)."""
        return cls(code=code, outcome=Outcome.ERROR.value, reason=reason)


@dataclass
class ReleaseResult:
    """Several services deployed in one run: each one's result, and the release's verdict."""

    cluster: str | None
    results: list[DeployResult]
    code: ExitCode
    outcome: str
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
        """A signal's code (130/143) when the release was interrupted or aborted; 22 when a
        service's rollback failed (the release is half-shipped: a person must look); 0 when
        every service succeeded; the code they share when all failures share one; else 1."""
        failed = [r for r in results if r.code != ExitCode.OK]
        names = ", ".join(f"{r.service} ({r.outcome})" for r in failed)
        if aborted_code is not None:
            return cls(cluster, results, aborted_code, Outcome.ABORTED.value, "aborted", duration)
        if signal_code is not None:
            return cls(
                cluster,
                results,
                signal_code,
                Outcome.INTERRUPTED.value,
                f"interrupted: {names or 'every service had finished'}",
                duration,
            )
        stuck = [r for r in results if r.code == ExitCode.ROLLBACK_FAILED]
        if stuck:
            return cls(
                cluster,
                results,
                ExitCode.ROLLBACK_FAILED,
                Outcome.ROLLBACK_FAILED.value,
                f"{len(stuck)} service(s) could not be rolled back and need a person: {names}",
                duration,
            )
        if not failed:
            if all(r.outcome == Outcome.DRY_RUN.value for r in results):
                outcome, reason = Outcome.DRY_RUN, f"dry run of {len(results)} services"
            else:
                outcome, reason = Outcome.SUCCEEDED, f"all {len(results)} services deployed"
            return cls(cluster, results, ExitCode.OK, outcome.value, reason, duration)
        codes = {r.code for r in failed}
        code = failed[0].code if len(codes) == 1 else ExitCode.DEPLOY_FAILED
        return cls(
            cluster,
            results,
            code,
            Outcome.FAILED.value,
            f"{len(failed)} of {len(results)} services did not deploy: {names}",
            duration,
        )
