"""Frozen, typed views over ECS API dicts, with named checks that read like the ECS docs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Deployment:
    id: str
    status: str  # PRIMARY, ACTIVE or INACTIVE
    task_definition: str
    desired_count: int
    running_count: int
    pending_count: int
    failed_tasks: int
    rollout_state: str | None  # IN_PROGRESS, COMPLETED, FAILED; absent on some services
    rollout_state_reason: str | None
    created_at: datetime | None

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Deployment:
        return cls(
            id=d["id"],
            status=d.get("status", ""),
            task_definition=d.get("taskDefinition", ""),
            desired_count=int(d.get("desiredCount", 0)),
            running_count=int(d.get("runningCount", 0)),
            pending_count=int(d.get("pendingCount", 0)),
            failed_tasks=int(d.get("failedTasks", 0)),
            rollout_state=d.get("rolloutState"),
            rollout_state_reason=d.get("rolloutStateReason"),
            created_at=d.get("createdAt"),
        )

    @property
    def is_primary(self) -> bool:
        return self.status == "PRIMARY"

    @property
    def rollout_failed(self) -> bool:
        return self.rollout_state == "FAILED"

    @property
    def rollout_completed(self) -> bool:
        """COMPLETED, or no rolloutState at all (ECS omits it where it does not track one)."""
        return self.rollout_state in (None, "COMPLETED")

    @property
    def all_desired_running(self) -> bool:
        return self.running_count >= self.desired_count and self.pending_count == 0


@dataclass(frozen=True)
class ServiceEvent:
    id: str
    created_at: datetime | None
    message: str

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> ServiceEvent:
        return cls(id=d.get("id", ""), created_at=d.get("createdAt"), message=d.get("message", ""))


@dataclass(frozen=True)
class Service:
    arn: str
    name: str
    status: str  # ACTIVE, DRAINING or INACTIVE
    task_definition: str
    desired_count: int
    running_count: int
    pending_count: int
    deployment_controller: str  # ECS, CODE_DEPLOY or EXTERNAL
    deployments: tuple[Deployment, ...]
    events: tuple[ServiceEvent, ...]
    deployment_configuration: Mapping[str, Any] = field(default_factory=dict)
    #: The ARN of the service deployment ECS runs now (UpdateService's response names the
    #: one it started); absent on older APIs.
    current_service_deployment: str | None = None
    #: The target groups of its load balancers (a failure's diagnosis reads their health).
    target_groups: tuple[str, ...] = ()
    #: Where its tasks run: a migration (--pre-deploy) runs as they do.
    placement: Mapping[str, Any] = field(default_factory=dict)
    #: Its load balancers as ECS lists them (target group, container name and port).
    load_balancers: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Service:
        return cls(
            arn=d.get("serviceArn", ""),
            name=d.get("serviceName", ""),
            status=d.get("status", ""),
            task_definition=d.get("taskDefinition", ""),
            desired_count=int(d.get("desiredCount", 0)),
            running_count=int(d.get("runningCount", 0)),
            pending_count=int(d.get("pendingCount", 0)),
            deployment_controller=(d.get("deploymentController") or {}).get("type", "ECS"),
            deployments=tuple(Deployment.from_api(x) for x in d.get("deployments", [])),
            events=tuple(ServiceEvent.from_api(x) for x in d.get("events", [])),
            deployment_configuration=d.get("deploymentConfiguration") or {},
            current_service_deployment=d.get("currentServiceDeployment"),
            target_groups=tuple(
                str(lb["targetGroupArn"])
                for lb in d.get("loadBalancers") or []
                if lb.get("targetGroupArn")
            ),
            placement={
                key: d[key]
                for key in (
                    "launchType",
                    "capacityProviderStrategy",
                    "platformVersion",
                    "networkConfiguration",
                )
                if d.get(key)
            },
            load_balancers=tuple(d.get("loadBalancers") or ()),
        )

    @property
    def strategy(self) -> str:
        """ROLLING, BLUE_GREEN, LINEAR or CANARY (ROLLING when ECS does not say)."""
        return str(self.deployment_configuration.get("strategy") or "ROLLING")

    @property
    def is_active(self) -> bool:
        return self.status == "ACTIVE"

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.is_primary), None)

    def deployment(self, deployment_id: str) -> Deployment | None:
        return next((d for d in self.deployments if d.id == deployment_id), None)

    def others(self, deployment_id: str) -> tuple[Deployment, ...]:
        return tuple(d for d in self.deployments if d.id != deployment_id)


#: Strategies ECS itself runs stage by stage, followed through their service deployment.
NATIVE_STRATEGIES = ("BLUE_GREEN", "LINEAR", "CANARY")
#: --strategy's spelling -> the API's.
STRATEGIES = {
    "rolling": "ROLLING",
    "blue-green": "BLUE_GREEN",
    "linear": "LINEAR",
    "canary": "CANARY",
}
#: ServiceDeployment statuses after which nothing more happens.
FINAL_STATUSES = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
ROLLBACK_STATUSES = ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")


@dataclass(frozen=True)
class RevisionSummary:
    """A ServiceRevisionSummary: one revision's tasks and its share of the traffic."""

    arn: str
    requested: int
    running: int
    pending: int
    test_weight: float | None
    production_weight: float | None

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> RevisionSummary:
        return cls(
            arn=d.get("arn", ""),
            requested=int(d.get("requestedTaskCount", 0)),
            running=int(d.get("runningTaskCount", 0)),
            pending=int(d.get("pendingTaskCount", 0)),
            test_weight=_float(d.get("requestedTestTrafficWeight")),
            production_weight=_float(d.get("requestedProductionTrafficWeight")),
        )


@dataclass(frozen=True)
class HookDetail:
    """A DeploymentLifecycleHookDetail: a lifecycle hook running in the current stage."""

    hook_id: str
    target_type: str  # AWS_LAMBDA or PAUSE
    target_arn: str | None
    status: str  # AWAITING_ACTION, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT
    expires_at: datetime | None
    timeout_action: str | None  # CONTINUE or ROLLBACK

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> HookDetail:
        return cls(
            hook_id=d.get("hookId", ""),
            target_type=d.get("targetType", ""),
            target_arn=d.get("targetArn"),
            status=d.get("status", ""),
            expires_at=d.get("expiresAt"),
            timeout_action=d.get("timeoutAction"),
        )

    @property
    def awaiting_action(self) -> bool:
        return self.status == "AWAITING_ACTION"

    @property
    def failed(self) -> bool:
        return self.status in ("FAILED", "TIMED_OUT")


@dataclass(frozen=True)
class ServiceDeployment:
    """One ServiceDeployment from DescribeServiceDeployments: the record ECS keeps of a
    deployment, with its status, lifecycle stage, hooks, traffic weights and rollback."""

    arn: str
    service_arn: str
    status: str
    status_reason: str | None
    lifecycle_stage: str | None
    target: RevisionSummary | None
    sources: tuple[RevisionSummary, ...]
    hooks: tuple[HookDetail, ...]
    rollback_reason: str | None
    circuit_breaker_status: str | None  # TRIGGERED once it tripped
    alarms_status: str | None
    triggered_alarms: tuple[str, ...]
    strategy: str | None
    created_at: datetime | None = None

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> ServiceDeployment:
        target = d.get("targetServiceRevision")
        alarms = d.get("alarms") or {}
        return cls(
            arn=d.get("serviceDeploymentArn", ""),
            service_arn=d.get("serviceArn", ""),
            status=d.get("status", ""),
            status_reason=d.get("statusReason"),
            lifecycle_stage=d.get("lifecycleStage"),
            target=RevisionSummary.from_api(target) if target else None,
            sources=tuple(RevisionSummary.from_api(x) for x in d.get("sourceServiceRevisions", [])),
            hooks=tuple(HookDetail.from_api(x) for x in d.get("lifecycleHookDetails", [])),
            rollback_reason=(d.get("rollback") or {}).get("reason"),
            circuit_breaker_status=(d.get("deploymentCircuitBreaker") or {}).get("status"),
            alarms_status=alarms.get("status"),
            triggered_alarms=tuple(alarms.get("triggeredAlarmNames") or ()),
            strategy=(d.get("deploymentConfiguration") or {}).get("strategy"),
            created_at=d.get("createdAt"),
        )

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def rolling_back(self) -> bool:
        return self.status in ROLLBACK_STATUSES

    @property
    def paused_hook(self) -> HookDetail | None:
        """The PAUSE hook (or any hook) awaiting ContinueServiceDeployment, if one is."""
        return next((h for h in self.hooks if h.awaiting_action), None)

    @property
    def traffic(self) -> dict[str, float | None]:
        """The new revision's requested share of test and production traffic, in percent."""
        return {
            "test": self.target.test_weight if self.target else None,
            "production": self.target.production_weight if self.target else None,
        }

    def rollback_trigger(self) -> str:
        """What made ECS roll back: the circuit breaker, an alarm, a hook, or a stop."""
        if self.circuit_breaker_status == "TRIGGERED":
            return "the deployment circuit breaker"
        if self.alarms_status == "TRIGGERED" or self.triggered_alarms:
            names = ", ".join(self.triggered_alarms)
            return f"CloudWatch alarm {names}" if names else "a CloudWatch alarm"
        failed = next((h for h in self.hooks if h.failed), None)
        if failed is not None:
            return f"lifecycle hook {failed.hook_id} ({failed.target_type} {failed.status})"
        return "a rollback request"


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Container:
    name: str
    exit_code: int | None
    reason: str | None
    last_status: str
    health_status: str | None
    essential: bool = True

    @property
    def failed(self) -> bool:
        """Exited non-zero, or stopped without ever giving an exit code (it never started)."""
        return self.exit_code != 0

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Container:
        return cls(
            name=d.get("name", ""),
            exit_code=d.get("exitCode"),
            reason=d.get("reason"),
            last_status=d.get("lastStatus", ""),
            health_status=d.get("healthStatus"),
        )


@dataclass(frozen=True)
class Task:
    arn: str
    task_definition: str
    last_status: str
    desired_status: str
    health_status: str | None
    started_by: str | None
    stopped_reason: str | None
    stop_code: str | None
    containers: tuple[Container, ...]
    #: The task's private IPv4 addresses (awsvpc): how its load balancer targets are named.
    private_ips: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Task:
        return cls(
            arn=d.get("taskArn", ""),
            task_definition=d.get("taskDefinitionArn", ""),
            last_status=d.get("lastStatus", ""),
            desired_status=d.get("desiredStatus", ""),
            health_status=d.get("healthStatus"),
            started_by=d.get("startedBy"),
            stopped_reason=d.get("stoppedReason"),
            stop_code=d.get("stopCode"),
            containers=tuple(Container.from_api(c) for c in d.get("containers", [])),
            private_ips=tuple(
                str(detail.get("value"))
                for attachment in d.get("attachments") or []
                for detail in attachment.get("details") or []
                if detail.get("name") == "privateIPv4Address" and detail.get("value")
            ),
        )

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def is_stopped(self) -> bool:
        return self.last_status == "STOPPED"

    @property
    def is_running(self) -> bool:
        return self.last_status == "RUNNING"

    @property
    def is_healthy(self) -> bool:
        return self.health_status == "HEALTHY"


def rollout_counts(service: Service | None, deployment: Deployment | None) -> dict[str, int]:
    """Where a rollout stands: our deployment's counts, and old tasks still running."""
    old = (
        sum(
            d.running_count
            for d in service.deployments
            if deployment is None or d.id != deployment.id
        )
        if service
        else 0
    )
    return {
        "desired": deployment.desired_count if deployment else 0,
        "running": deployment.running_count if deployment else 0,
        "pending": deployment.pending_count if deployment else 0,
        "failed": deployment.failed_tasks if deployment else 0,
        "old_running": old,
    }


def family_of(arn: str) -> str:
    """`…:task-definition/web:3` -> `web`."""
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def short_name(arn: str) -> str:
    """`…:task-definition/web:3` -> `web:3` (the part after the last slash)."""
    return arn.rsplit("/", 1)[-1]


def revision_number(arn: str) -> int:
    """`…/web:3` -> 3 (0 when there is none)."""
    tail = arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0
