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
        )

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


@dataclass(frozen=True)
class Container:
    name: str
    exit_code: int | None
    reason: str | None
    last_status: str
    health_status: str | None
    essential: bool = True

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
