"""ECS's native BLUE_GREEN, CANARY and LINEAR deployments, one scheduler step at a time.

A native deployment keeps the blue (old) tasks serving while the green (new) ones scale up
beside them, then moves test traffic and production traffic to green (all at once, a canary
share first, or in linear steps), bakes, and only then cleans up blue. Its service deployment
record walks ECS's lifecycle stages in order: PRE_SCALE_UP, SCALE_UP, POST_SCALE_UP,
TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT,
POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME, CLEAN_UP. Bake times are in sandbox minutes
(`Scheduler.minute` seconds each), so a test can bake for a fraction of a second.

With the circuit breaker on (and its rollback), green tasks that keep failing to start roll
the deployment back inside the same record: blue is PRIMARY again and takes back the
traffic, green is drained, ROLLBACK_IN_PROGRESS then ROLLBACK_SUCCESSFUL (ROLLBACK_FAILED with
the `rollback_fails` fault). Lifecycle hooks and Stop/ContinueServiceDeployment are not
emulated yet.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecsdeploy.sandbox.scheduler import Scheduler, ServiceRef

NATIVE = ("BLUE_GREEN", "CANARY", "LINEAR")
#: Stages that last one scheduler step each: nothing to wait for in the sandbox.
PASSING = {
    "PRE_SCALE_UP": "SCALE_UP",
    "POST_SCALE_UP": "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT": "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT": "BAKE_TIME",
}


def is_native(deployment_configuration: dict[str, Any]) -> bool:
    return deployment_configuration.get("strategy", "ROLLING") in NATIVE


def begin(deployment: dict[str, Any], record: dict[str, Any] | None) -> None:
    """Mark a new deployment as native: it starts before scaling up, with no traffic on it,
    and its record says so from the start."""
    deployment["_native"] = {"stage": "PRE_SCALE_UP", "since": time.monotonic(), "prod": 0}
    _show(record, deployment["_native"])


def advance(scheduler: Scheduler, ref: ServiceRef, green: dict[str, Any]) -> None:
    """One step of the native deployment `green` (the service's PRIMARY)."""
    svc = ref.service
    state = green["_native"]
    record = scheduler.service_deployments.get(green.get("_record", ""))
    tasks = scheduler._wanted_tasks(svc)
    green_tasks = [t for t in tasks if t["startedBy"] == green["id"]]
    blue_tasks = [t for t in tasks if t["startedBy"] != green["id"]]
    if _breaker_tripped(svc, green, record):
        _start_rollback(scheduler, ref, green, record)
        return
    stage = state["stage"]
    conf = svc.deployment_configuration
    minute = scheduler.minute
    waited = time.monotonic() - state["since"]
    if stage in PASSING:
        _enter(state, PASSING[stage])
    elif stage == "SCALE_UP":
        missing = svc.desired_count - len(green_tasks)
        for _ in range(max(0, missing)):
            scheduler._start_service_task(ref, green)
        if len(green_tasks) >= svc.desired_count and all(
            t["lastStatus"] == "RUNNING" for t in green_tasks
        ):
            _enter(state, "POST_SCALE_UP")
    elif stage == "TEST_TRAFFIC_SHIFT":
        state["test"] = 100
        _enter(state, "POST_TEST_TRAFFIC_SHIFT")
    elif stage == "PRODUCTION_TRAFFIC_SHIFT":
        state["prod"] = _next_production_weight(conf, state["prod"], waited, minute)
        if state["prod"] != state.get("shown"):
            state["shown"], state["since"] = state["prod"], time.monotonic()
        if state["prod"] >= 100:
            _enter(state, "POST_PRODUCTION_TRAFFIC_SHIFT")
    elif stage == "BAKE_TIME":
        if waited >= float(conf.get("bakeTimeInMinutes", 0)) * minute:
            _enter(state, "CLEAN_UP")
    elif stage == "CLEAN_UP":
        for task in blue_tasks:
            scheduler._stop(
                task, "Blue tasks removed after the bake time", "ServiceSchedulerInitiated"
            )
        if not blue_tasks:
            green["rolloutState"] = "COMPLETED"
            green["rolloutStateReason"] = f"ECS deployment {green['id']} completed."
            scheduler.timeline.setdefault(green["id"], {})["completed"] = time.monotonic()
            ref.last_good_task_definition = green["taskDefinition"]
            del green["_native"]
            scheduler._finish_service_deployment(green)
            scheduler._event(svc, f"(service {svc.name}) has reached a steady state.")
    _show(record, state)


def _next_production_weight(conf: dict[str, Any], weight: int, waited: float, minute: float) -> int:
    strategy = conf.get("strategy")
    if strategy == "CANARY":
        canary = conf.get("canaryConfiguration") or {}
        if weight == 0:
            return int(canary.get("canaryPercent", 10))
        bake = float(canary.get("canaryBakeTimeInMinutes", 0)) * minute
        return 100 if waited >= bake else weight
    if strategy == "LINEAR":
        linear = conf.get("linearConfiguration") or {}
        bake = float(linear.get("stepBakeTimeInMinutes", 0)) * minute
        if weight == 0 or waited >= bake:
            return min(100, weight + int(linear.get("stepPercent", 10)))
        return weight
    return 100  # BLUE_GREEN: all at once


def _enter(state: dict[str, Any], stage: str) -> None:
    state["stage"], state["since"] = stage, time.monotonic()


def _show(record: dict[str, Any] | None, state: dict[str, Any]) -> None:
    """The record's stage and the requested traffic weights of green (target) and blue."""
    if record is None:
        return
    prod, test = state.get("prod", 0), state.get("test", 0)
    record["lifecycleStage"] = state["stage"]
    record["targetServiceRevision"].update(
        requestedProductionTrafficWeight=float(prod), requestedTestTrafficWeight=float(test)
    )
    for source in record["sourceServiceRevisions"]:
        source.update(
            requestedProductionTrafficWeight=float(100 - prod),
            requestedTestTrafficWeight=float(100 - test),
        )
    record["updatedAt"] = _now()


def _breaker_tripped(svc: Any, green: dict[str, Any], record: dict[str, Any] | None) -> bool:
    breaker = svc.deployment_configuration.get("deploymentCircuitBreaker") or {}
    if not breaker.get("enable") or record is None:
        return False
    return bool(green["failedTasks"] >= record["deploymentCircuitBreaker"]["threshold"])


def _start_rollback(
    scheduler: Scheduler, ref: ServiceRef, green: dict[str, Any], record: dict[str, Any] | None
) -> None:
    svc = ref.service
    reason = "ECS deployment circuit breaker: tasks failed to start."
    green.update(rolloutState="FAILED", rolloutStateReason=reason, status="ACTIVE")
    scheduler.timeline.setdefault(green["id"], {})["failed"] = time.monotonic()
    blue = next((d for d in svc.deployments if d is not green), None)
    if blue is not None:  # blue serves again: it is the service's PRIMARY
        blue["status"] = "PRIMARY"
        svc.deployments.remove(blue)
        svc.deployments.insert(0, blue)
        svc.task_definition = blue["taskDefinition"]
    breaker = svc.deployment_configuration.get("deploymentCircuitBreaker") or {}
    scheduler._event(
        svc, f"(service {svc.name}) (deployment {green['id']}) deployment failed: {reason}"
    )
    if record is None:
        return
    record["deploymentCircuitBreaker"]["status"] = "TRIGGERED"
    if not breaker.get("rollback"):
        from ecsdeploy.sandbox.scheduler import _close

        _close(record, "STOPPED", reason)
        return
    # Blue is PRIMARY again, so the scheduler's rolling logic drains green; the scheduler
    # closes the record once green has no task left (Scheduler._update_service_deployments).
    sources = record["sourceServiceRevisions"]
    record.update(
        status="ROLLBACK_IN_PROGRESS",
        _green=green["id"],
        rollback={
            "reason": reason,
            "startedAt": _now(),
            "serviceRevisionArn": sources[0]["arn"] if sources else "",
        },
    )
    green["_native"]["prod"] = green["_native"]["test"] = 0
    _show(record, green["_native"])
    scheduler.rolling_back.add(record["serviceDeploymentArn"])


def _now() -> Any:
    from ecsdeploy.sandbox.scheduler import _now as now

    return now()
