"""ECS's native BLUE_GREEN, CANARY and LINEAR deployments, one scheduler step at a time.

A native deployment keeps the blue (old) tasks serving while the green (new) ones scale up
beside them, then moves test traffic and production traffic to green (all at once, a canary
share first, or in linear steps), bakes, and only then cleans up blue. Its service deployment
record walks ECS's lifecycle stages in order: PRE_SCALE_UP, SCALE_UP, POST_SCALE_UP,
TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT,
POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME, CLEAN_UP. Bake times are in sandbox minutes
(`Host.minute` seconds each), so a test can bake for a fraction of a second.

With the circuit breaker on (and its rollback), green tasks that keep failing to start roll
the deployment back inside the same record: blue is PRIMARY again and takes back the
traffic, green is drained, ROLLBACK_IN_PROGRESS then ROLLBACK_SUCCESSFUL (ROLLBACK_FAILED with
the `rollback_fails` fault). Lifecycle hooks run in their stages: a Lambda hook answers as the
`hook_verdicts` fault says, a PAUSE hook awaits ContinueServiceDeployment (or its timeout);
StopServiceDeployment(ROLLBACK) rolls a deployment back through ROLLBACK_REQUESTED.

The scheduler drives this module through `Host`, the small public interface it offers
strategies; this module never imports the scheduler (no import cycle).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any, Protocol

from ecsdeploy.sandbox import records
from ecsdeploy.sandbox.records import ServiceRef

NATIVE = ("BLUE_GREEN", "CANARY", "LINEAR")


class Host(Protocol):
    """What a strategy uses of the scheduler that steps it."""

    minute: float
    timeline: dict[str, dict[str, float]]
    services: dict[str, ServiceRef]
    service_deployments: dict[str, dict[str, Any]]
    rolling_back: set[str]

    def faults_for(self, service_name: str | None) -> Any: ...
    def wanted_tasks(self, svc: Any) -> list[dict[str, Any]]: ...
    def start_service_task(self, ref: ServiceRef, deployment: dict[str, Any]) -> Any: ...
    def stop_task(
        self, task: dict[str, Any], reason: str, stop_code: str = "UserInitiated"
    ) -> None: ...
    def finish_service_deployment(self, dep: dict[str, Any]) -> None: ...
    def event(self, svc: Any, message: str) -> None: ...


#: Stages that last one scheduler step each: nothing to wait for in the sandbox.
PASSING = {
    "PRE_SCALE_UP": "SCALE_UP",
    "POST_SCALE_UP": "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT": "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT": "BAKE_TIME",
}


#: Where each hook stage runs: PRE_PRODUCTION_TRAFFIC_SHIFT hooks run at the start of the
#: production shift, before any traffic moves; the others in the stage of the same name.
HOOK_STAGE = {"PRE_PRODUCTION_TRAFFIC_SHIFT": "PRODUCTION_TRAFFIC_SHIFT"}
STOPPABLE = ("PENDING", "IN_PROGRESS")


def is_native(deployment_configuration: dict[str, Any]) -> bool:
    return deployment_configuration.get("strategy", "ROLLING") in NATIVE


def begin(deployment: dict[str, Any], record: dict[str, Any] | None) -> None:
    """Mark a new deployment as native: it starts before scaling up, with no traffic on it,
    and its record says so from the start."""
    deployment["_native"] = {
        "stage": "PRE_SCALE_UP",
        "since": time.monotonic(),
        "prod": 0,
        "hooks_done": [],  # hook stages whose hooks all succeeded
        "hooks": [],  # the details of the hooks running now
        "actions": {},  # hookId -> CONTINUE or ROLLBACK, from ContinueServiceDeployment
    }
    if record is not None:
        record["_green"] = deployment["id"]
    _show(record, deployment["_native"])


def advance(scheduler: Host, ref: ServiceRef, green: dict[str, Any]) -> None:
    """One step of the native deployment `green` (the service's PRIMARY)."""
    svc = ref.service
    state = green["_native"]
    record = scheduler.service_deployments.get(green.get("_record", ""))
    tasks = scheduler.wanted_tasks(svc)
    green_tasks = [t for t in tasks if t["startedBy"] == green["id"]]
    blue_tasks = [t for t in tasks if t["startedBy"] != green["id"]]
    if record is not None and record["status"] == "ROLLBACK_REQUESTED":  # StopServiceDeployment
        _start_rollback(scheduler, ref, green, record, "Stopped by StopServiceDeployment.")
        return
    if _breaker_tripped(svc, green, record):
        _start_rollback(
            scheduler, ref, green, record, "ECS deployment circuit breaker: tasks failed to start."
        )
        return
    failed_hook = _run_hooks(scheduler, svc, state, record)
    if failed_hook is not None:
        _start_rollback(scheduler, ref, green, record, failed_hook)
        return
    if state["hooks"]:  # hooks of this stage still running or awaiting action
        _show(record, state)
        return
    polled = record.get("_seen", []) if record is not None else None
    holding = scheduler.faults_for(svc.name).stages_seen and polled is not None
    if holding and _where(state) not in (polled or []):  # until a poll has seen it
        _show(record, state)
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
            scheduler.start_service_task(ref, green)
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
            scheduler.stop_task(
                task, "Blue tasks removed after the bake time", "ServiceSchedulerInitiated"
            )
        if not blue_tasks:
            green["rolloutState"] = "COMPLETED"
            green["rolloutStateReason"] = f"ECS deployment {green['id']} completed."
            scheduler.timeline.setdefault(green["id"], {})["completed"] = time.monotonic()
            ref.last_good_task_definition = green["taskDefinition"]
            del green["_native"]
            scheduler.finish_service_deployment(green)
            scheduler.event(svc, f"(service {svc.name}) has reached a steady state.")
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


def _where(state: dict[str, Any]) -> list[Any]:
    """The stage and production weight a record shows (`stages_seen` holds each)."""
    return [state["stage"], float(state.get("prod", 0))]


def seen(record: dict[str, Any]) -> None:
    """A DescribeServiceDeployments answered with `record` as it stands."""
    revision = record.get("targetServiceRevision") or {}
    where = [
        record.get("lifecycleStage"),
        float(revision.get("requestedProductionTrafficWeight") or 0),
    ]
    if where not in record.setdefault("_seen", []):
        record["_seen"].append(where)


def _enter(state: dict[str, Any], stage: str) -> None:
    state["stage"], state["since"] = stage, time.monotonic()


def _run_hooks(
    scheduler: Host, svc: Any, state: dict[str, Any], record: dict[str, Any] | None
) -> str | None:
    """Start the current stage's hooks, move them on one step, and return why the
    deployment must roll back (a failed Lambda, a PAUSE answered or timed out with ROLLBACK),
    if it must. A Lambda hook runs for one step and answers the `hook_verdicts` fault for its
    stage (SUCCEEDED by default); a PAUSE hook awaits ContinueServiceDeployment until its
    timeout, then takes its timeout action."""
    if not state["hooks"]:
        hook_stage = next(
            (h for h in _hook_stages(svc, state) if h not in state["hooks_done"]),
            None,
        )
        if hook_stage is None:
            return None
        state["hooks"] = [
            _hook_detail(hook, hook_stage, scheduler.minute)
            for hook in svc.deployment_configuration.get("lifecycleHooks") or []
            if hook_stage in (hook.get("lifecycleStages") or [])
        ]
        state["hook_stage"] = hook_stage
        if record is not None:
            record["lifecycleHookDetails"] = state["hooks"]
        return None
    verdicts = dict(scheduler.faults_for(svc.name).hook_verdicts)
    now = time.time()
    for detail in state["hooks"]:
        if detail["status"] == "IN_PROGRESS":  # a Lambda answers after one step
            detail["status"] = verdicts.get(state["hook_stage"], "SUCCEEDED")
        elif detail["status"] == "AWAITING_ACTION":
            action = state["actions"].pop(detail["hookId"], None)
            if action is None and now >= detail["_expires"]:
                detail["status"] = "TIMED_OUT"
                action = detail["timeoutAction"]
            if action == "ROLLBACK":
                detail["status"] = "FAILED" if detail["status"] != "TIMED_OUT" else "TIMED_OUT"
                return f"lifecycle hook {detail['hookId']} at {state['hook_stage']}: rollback"
            if action == "CONTINUE" and detail["status"] != "TIMED_OUT":
                detail["status"] = "SUCCEEDED"
        if detail["status"] == "FAILED":
            return f"lifecycle hook {detail['hookId']} failed at {state['hook_stage']}"
    if all(d["status"] in ("SUCCEEDED", "TIMED_OUT") for d in state["hooks"]):
        state["hooks_done"].append(state["hook_stage"])
        state["hooks"] = []
    return None


def _hook_stages(svc: Any, state: dict[str, Any]) -> list[str]:
    """The hook stages that run in the current lifecycle stage, in order."""
    stage = state["stage"]
    wanted = {
        s
        for hook in svc.deployment_configuration.get("lifecycleHooks") or []
        for s in hook.get("lifecycleStages") or []
        if HOOK_STAGE.get(s, s) == stage
    }
    if stage == "PRODUCTION_TRAFFIC_SHIFT" and state["prod"]:
        wanted.discard("PRE_PRODUCTION_TRAFFIC_SHIFT")  # only before traffic moves
    order = ["PRE_PRODUCTION_TRAFFIC_SHIFT", stage]
    return sorted(wanted, key=lambda s: order.index(s) if s in order else len(order))


def _hook_detail(hook: dict[str, Any], stage: str, minute: float) -> dict[str, Any]:
    timeout = hook.get("timeoutConfiguration") or {}
    detail: dict[str, Any] = {
        "hookId": uuid.uuid4().hex[:12],
        "targetType": hook.get("targetType", "AWS_LAMBDA"),
        "targetArn": hook.get("hookTargetArn", ""),
        "status": "IN_PROGRESS",
    }
    if detail["targetType"] == "PAUSE":
        seconds = float(timeout.get("timeoutInMinutes", 60)) * minute
        detail.update(
            status="AWAITING_ACTION",
            timeoutAction=timeout.get("action", "ROLLBACK"),
            expiresAt=records.now() + timedelta(seconds=seconds),
            _expires=time.time() + seconds,
        )
    return detail


def continue_deployment(scheduler: Host, record: dict[str, Any], hook_id: str, action: str) -> None:
    """ContinueServiceDeployment: answer a PAUSE hook awaiting action (the next step acts)."""
    from moto.ecs.exceptions import InvalidParameterException

    state = _state(scheduler, record)
    waiting = [d for d in (state or {}).get("hooks", []) if d["status"] == "AWAITING_ACTION"]
    if state is None or hook_id not in {d["hookId"] for d in waiting}:
        raise InvalidParameterException(f"Hook {hook_id} is not awaiting action.")
    state["actions"][hook_id] = action


def stop_deployment(scheduler: Host, record: dict[str, Any]) -> None:
    """StopServiceDeployment with stopType ROLLBACK: ROLLBACK_REQUESTED now, the rollback
    at the next step."""
    from moto.ecs.exceptions import ECSException

    if record["status"] not in STOPPABLE:
        raise ECSException(
            "ConflictException", f"The service deployment is {record['status']}: nothing to stop."
        )
    if _state(scheduler, record) is None:
        raise ECSException(
            "UnsupportedFeatureException",
            "The sandbox emulates StopServiceDeployment for native (blue/green, canary, "
            "linear) deployments only.",
        )
    record.update(status="ROLLBACK_REQUESTED", updatedAt=records.now())


def _state(scheduler: Host, record: dict[str, Any]) -> dict[str, Any] | None:
    ref = scheduler.services.get(record["serviceArn"])
    if ref is None or "_green" not in record:
        return None
    green = next((d for d in ref.service.deployments if d["id"] == record["_green"]), None)
    return None if green is None else green.get("_native")


def _show(record: dict[str, Any] | None, state: dict[str, Any]) -> None:
    """The record's stage and the requested traffic weights of green (target) and blue."""
    if record is None:
        return
    prod, test = state.get("prod", 0), state.get("test", 0)
    record["lifecycleStage"] = state["stage"]
    # What the record went through, kept for tests: a stage that lasts one step is passed
    # whether or not a poll happened to see it.
    history = record.setdefault("_history", [])
    if not history or (history[-1]["stage"], history[-1]["production"]) != (state["stage"], prod):
        history.append({"stage": state["stage"], "production": float(prod), "at": time.monotonic()})
    record["targetServiceRevision"].update(
        requestedProductionTrafficWeight=float(prod), requestedTestTrafficWeight=float(test)
    )
    for source in record["sourceServiceRevisions"]:
        source.update(
            requestedProductionTrafficWeight=float(100 - prod),
            requestedTestTrafficWeight=float(100 - test),
        )
    record["updatedAt"] = records.now()


def _breaker_tripped(svc: Any, green: dict[str, Any], record: dict[str, Any] | None) -> bool:
    breaker = svc.deployment_configuration.get("deploymentCircuitBreaker") or {}
    if not breaker.get("enable") or record is None:
        return False
    return bool(green["failedTasks"] >= record["deploymentCircuitBreaker"]["threshold"])


def _start_rollback(
    scheduler: Host,
    ref: ServiceRef,
    green: dict[str, Any],
    record: dict[str, Any] | None,
    reason: str,
) -> None:
    svc = ref.service
    by_breaker = "circuit breaker" in reason
    green.update(rolloutState="FAILED", rolloutStateReason=reason, status="ACTIVE")
    scheduler.timeline.setdefault(green["id"], {})["failed"] = time.monotonic()
    blue = next((d for d in svc.deployments if d is not green), None)
    if blue is not None:  # blue serves again: it is the service's PRIMARY
        blue["status"] = "PRIMARY"
        svc.deployments.remove(blue)
        svc.deployments.insert(0, blue)
        svc.task_definition = blue["taskDefinition"]
    breaker = svc.deployment_configuration.get("deploymentCircuitBreaker") or {}
    scheduler.event(
        svc, f"(service {svc.name}) (deployment {green['id']}) deployment failed: {reason}"
    )
    if record is None:
        return
    if by_breaker:
        record["deploymentCircuitBreaker"]["status"] = "TRIGGERED"
    if by_breaker and not breaker.get("rollback"):
        records.close(record, "STOPPED", reason)
        return
    # Blue is PRIMARY again, so the scheduler's rolling logic drains green; the scheduler
    # closes the record once green has no task left (Host._update_service_deployments).
    records.begin_rollback(record, reason)  # record["_green"] was set by begin()
    green["_native"]["prod"] = green["_native"]["test"] = 0
    _show(record, green["_native"])
    scheduler.rolling_back.add(record["serviceDeploymentArn"])
