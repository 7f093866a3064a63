"""ECS's service-deployment records, as the sandbox keeps them: plain dicts in API shape
(moto's serializer returns them as they are), and the few changes made to them. Pure: the
scheduler (rolling deployments) and strategies.py (native ones) both use these."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: States a new deployment closes (STOPPED), as ECS does.
OPEN_STATES = ("PENDING", "IN_PROGRESS")


def now() -> datetime:
    return datetime.now(UTC)


def child_arn(service_arn: str, kind: str, suffix: str = "") -> str:
    """`…:service/c/s` -> `…:service-deployment/c/s/suffix` (kind: service-deployment or
    service-revision); with no suffix, the prefix every such ARN of the service starts with."""
    return service_arn.replace(":service/", f":{kind}/", 1) + "/" + suffix


def breaker_threshold(desired_count: int, override: int | None = None) -> int:
    """Failed tasks before the circuit breaker trips: ECS's rule is half the desired count,
    at least 3, at most 200."""
    if override is not None:
        return override
    return min(200, max(3, math.ceil(desired_count / 2)))


def revision_counts(deployment: dict[str, Any]) -> dict[str, Any]:
    """The task counts of a ServiceRevisionSummary, from an ECS deployment's."""
    return {
        "requestedTaskCount": deployment.get("desiredCount", 0),
        "runningTaskCount": deployment.get("runningCount", 0),
        "pendingTaskCount": deployment.get("pendingCount", 0),
    }


def close(record: dict[str, Any], status: str, reason: str) -> None:
    stamp = now()
    record.update(status=status, statusReason=reason, updatedAt=stamp, finishedAt=stamp)
    if status == "STOPPED":
        record["stoppedAt"] = stamp


def begin_rollback(record: dict[str, Any], reason: str) -> None:
    """ECS rolls back inside the same service deployment, to its source revision."""
    sources = record["sourceServiceRevisions"]
    record.update(
        status="ROLLBACK_IN_PROGRESS",
        updatedAt=now(),
        rollback={
            "reason": reason,
            "startedAt": now(),
            "serviceRevisionArn": sources[0]["arn"] if sources else "",
        },
    )


def end_rollback(record: dict[str, Any], failed: bool = False) -> None:
    if failed:
        close(record, "ROLLBACK_FAILED", "The rollback failed: the service needs a person.")
    else:
        close(record, "ROLLBACK_SUCCESSFUL", "The service deployment rolled back.")


@dataclass
class ServiceRef:
    """The scheduler's handle on one of moto's services (and its backend)."""

    backend: Any
    service: Any
    last_good_task_definition: str | None = None
    #: The scheduler's `_stamp` of its cluster when this service was last seen steady (None:
    #: not steady): a steady service is not stepped again until something may have changed.
    quiet_at: tuple[int, int] | None = None
