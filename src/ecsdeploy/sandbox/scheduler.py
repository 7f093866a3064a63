"""The sandbox's service scheduler: rolls tasks over as ECS does, with fault knobs.

Tasks live here (plain dicts in API shape, so moto's serializer returns them as they are);
clusters, services and task definitions live in moto's backend. Every method that touches
state runs under `lock`, which the server also holds for each request: moto is not
thread-safe.
"""

from __future__ import annotations

import fnmatch
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ecsdeploy.sandbox import records, strategies, telemetry
from ecsdeploy.sandbox.records import ServiceRef

Task = dict[str, Any]
ACTIVE_STATES = ("PROVISIONING", "PENDING", "ACTIVATING")
DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
}


@dataclass(frozen=True)
class Faults:
    """Fault knobs; set globally or per service (`Scheduler.set_faults`)."""

    #: New tasks fail to start: STOPPED, stopCode TaskFailedToStart, CannotPullContainerError.
    fail_start: bool = False
    #: Tasks whose image matches one of these glob patterns fail to start, as above.
    fail_images: tuple[str, ...] = ()
    #: Tasks (whose containers have a healthCheck) never become healthy; ECS stops them.
    unhealthy: bool = False
    #: New tasks stay PENDING forever: the rollout stalls.
    stall: bool = False
    #: Service tasks whose image matches one of these glob patterns stay PENDING forever: a
    #: deploy of that image can never finish, while a rollback to another image can.
    stall_images: tuple[str, ...] = ()
    #: Service tasks run, then their essential containers exit with this code a step later,
    #: before the deployment can be steady (a crash loop); counted as failed tasks.
    crash_exit_code: int | None = None
    #: Exit code per container name for one-off tasks (run_task); others exit 0.
    exit_codes: tuple[tuple[str, int], ...] = ()
    #: What a one-off task's containers log (awslogs), a line a step, before they exit; one
    #: whose exit code is not 0 then logs `crash_log`.
    task_log: tuple[str, ...] = telemetry.TASK_LOG
    #: Failed tasks before the circuit breaker trips; None: ECS's rule (half the desired
    #: count, at least 3, at most 200).
    circuit_breaker_threshold: int | None = None
    #: A native (blue/green, canary, linear) rollback ends ROLLBACK_FAILED.
    rollback_fails: bool = False
    #: A native deployment leaves each stage (and each traffic step) only once a
    #: DescribeServiceDeployments has answered with it: a test of what a follower shows does
    #: not depend on when its polls come.
    stages_seen: bool = False
    #: What Lambda lifecycle hooks answer, by hook stage (SUCCEEDED where not given).
    hook_verdicts: tuple[tuple[str, str], ...] = ()
    #: Containers whose image matches one of these glob patterns start, log `crash_log`
    #: (awslogs) and exit 1 a step later: the essential container exits, the task stops.
    crash_images: tuple[str, ...] = ()
    crash_log: tuple[str, ...] = telemetry.CRASH_LOG
    #: What a one-off task's containers wrote as they exited that CloudWatch Logs makes
    #: readable only `late_log_after` seconds after the task STOPPED (ingestion lags).
    late_log: tuple[str, ...] = ()
    late_log_after: float = 0.5
    #: Service tasks whose image matches one of these patterns fail their load balancer's
    #: health checks (Target.ResponseCodeMismatch, [502]); ECS says so, then stops them.
    unhealthy_target_images: tuple[str, ...] = ()


@dataclass(frozen=True)
class Injection:
    """A fault on the next calls of one operation (see `Scheduler.inject`)."""

    #: "error": answer with an AWS error; "drop": close the connection; "delay"; "hold":
    #: keep the call until the test releases it (`Scheduler.release`), so that a test
    #: decides what the sandbox does meanwhile instead of racing it.
    kind: str
    code: str = ""
    message: str = ""
    status: int = 400
    count: int | None = 1  # calls it applies to; None: every call until `until`
    skip: int = 0  # calls let through untouched first
    until: float | None = None  # time.monotonic() after which it is gone
    delay: float = 0.0  # "delay": seconds to hold the call; "hold": the most it is held
    after: bool = False  # "drop": carry the call out, then drop the answer


#: The kinds of fault `Scheduler.inject` takes.
INJECTION_KINDS = ("error", "drop", "delay", "hold")
#: The longest a "hold" keeps a call that the test never releases (a failed test).
HOLD_LIMIT = 60.0


@dataclass
class Scheduler:
    step_delay: float = 0.05
    lock: threading.RLock = field(default_factory=threading.RLock)
    faults: Faults = field(default_factory=Faults)
    service_faults: dict[str, Faults] = field(default_factory=dict)
    injected: dict[str, Injection] = field(default_factory=dict)  # by operation
    requests: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # mutating calls that took effect
    tool_log: list[tuple[str, str]] = field(default_factory=list)  # ecs-deploy's own calls
    tasks: dict[str, Task] = field(default_factory=dict)  # by task ARN, in creation order
    #: Tasks not yet STOPPED, by (cluster ARN, group): a step touches only these, so stopped
    #: tasks (ECS keeps them visible) cost nothing at 5,000-task scale.
    live: dict[tuple[str, str], dict[str, Task]] = field(default_factory=dict)
    services: dict[str, ServiceRef] = field(default_factory=dict)  # by service ARN
    steps: int = 0
    #: deployment id -> {"created"|"completed"|"failed": time.monotonic()}, so benchmarks
    #: can subtract the rollout's own time from a deploy's wall time.
    timeline: dict[str, dict[str, float]] = field(default_factory=dict)
    #: ECS's service deployments (one per deployment a create or an update starts) and the
    #: service revisions they go from and to, by ARN, oldest first.
    service_deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_revisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    rolling_back: set[str] = field(default_factory=set)  # native records rolling back
    #: Calls held by a "hold" injection, by operation, until `release`.
    holds: dict[str, threading.Event] = field(default_factory=dict)
    generation: int = 0  # bumped by every fault change and unscoped write (see `changed`)
    #: Writes to each cluster (by name) that named it (see `changed`).
    cluster_changes: dict[str, int] = field(default_factory=dict)
    #: Seconds in a sandbox minute: bake times are given in minutes.
    minute: float = 60.0
    #: What else moves a step with the tasks (CodeDeploy's deployments: codedeploy.py).
    steppers: list[Callable[[], None]] = field(default_factory=list)
    #: Groups of tasks (by `live`'s key) whose every task was `_settled` after the step of
    #: this `_stamp` of their cluster: a step skips them until a write or a fault changes the
    #: stamp, or a task of theirs is created or stopped (which forgets the entry). A session
    #: leaves thousands of running tasks behind; stepping each 50 times a second cost a
    #: worker over a fifth of its CPU.
    settled_groups: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    #: Log lines not yet readable (the `late_log` fault): (time.monotonic() due, task, lines).
    late_lines: list[tuple[float, Task, tuple[str, ...]]] = field(default_factory=list)

    # -- knobs ---------------------------------------------------------------------------

    def set_faults(self, service: str | None = None, **knobs: Any) -> None:
        """Set fault knobs globally, or for one service name."""
        with self.lock:
            self.changed()
            if service is None:
                self.faults = replace(self.faults, **knobs)
            else:
                self.service_faults[service] = replace(
                    self.service_faults.get(service, self.faults), **knobs
                )

    def throttle(self, operation: str, count: int) -> None:
        """Answer the next `count` calls of `operation` with ThrottlingException."""
        self.inject_error(operation, count, "ThrottlingException", "Rate exceeded")

    def inject_error(
        self, operation: str, count: int, code: str, message: str, status: int = 400
    ) -> None:
        """Answer the next `count` calls of `operation` with this AWS error."""
        self.inject(operation, "error", code=code, message=message, status=status, count=count)

    def inject(
        self,
        operation: str,
        kind: str,
        *,
        count: int | None = 1,
        skip: int = 0,
        seconds: float | None = None,
        **details: Any,
    ) -> None:
        """A fault on `operation`: after `skip` calls, the next `count` calls (or, with
        count None, every call for `seconds`) get an AWS error (code, message, status), a
        dropped connection (after=True: once the call was carried out) or a delay."""
        if kind not in INJECTION_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {INJECTION_KINDS}")
        until = None if seconds is None else time.monotonic() + seconds
        if kind == "hold":
            details.setdefault("delay", HOLD_LIMIT)
        with self.lock:  # no `changed()`: a step reads no injection, the requests do
            if kind == "hold":
                self.holds[operation] = threading.Event()
            self.injected[operation] = Injection(
                kind, count=count, skip=skip, until=until, **details
            )

    def lift(self, operation: str) -> None:
        """End the fault injected on `operation` now: a fault that lasts until an event the
        test waited for (a phase of the command's), not for a number of seconds."""
        with self.lock:  # no `changed()`, as for `inject`
            self.injected.pop(operation, None)

    def hold(self, operation: str) -> threading.Event:
        """What a held call of `operation` waits on (set: let it through)."""
        with self.lock:
            return self.holds.setdefault(operation, threading.Event())

    def release(self, operation: str) -> None:
        """Let the held calls of `operation` through (and any later one it would hold)."""
        self.hold(operation).set()

    def take_injected(self, operation: str) -> Injection | None:
        """The fault this call of `operation` gets, if any (and count it)."""
        with self.lock:
            fault = self.injected.get(operation)
            if fault is None:
                return None
            if fault.until is not None and time.monotonic() >= fault.until:
                del self.injected[operation]
                return None
            if fault.skip > 0:
                self.injected[operation] = replace(fault, skip=fault.skip - 1)
                return None
            if fault.count is not None:
                if fault.count <= 0:
                    return None
                self.injected[operation] = replace(fault, count=fault.count - 1)
            return fault

    def faults_for(self, service_name: str | None) -> Faults:
        if service_name is not None and service_name in self.service_faults:
            return self.service_faults[service_name]
        return self.faults

    # -- the loop ------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.wait(self.step_delay):
            self.step()

    def step(self) -> None:
        """One scheduler tick: advance every task one state and every rollout one move. A
        steady rolling service (one COMPLETED deployment, its tasks all ready) is skipped
        until `changed()` says something may have moved it: a test session seeds hundreds
        of services, and stepping each 50 times a second costs a worker a core's share."""
        with self.lock:
            self.steps += 1
            if self.late_lines:
                self._write_late_lines()
            for key, group in list(self.live.items()):
                stamp = self._stamp(key[0])
                if self.settled_groups.get(key) == stamp:
                    continue
                settled = True
                for task in list(group.values()):
                    self._advance_task(task)
                    settled = settled and _settled(task)
                if settled:
                    self.settled_groups[key] = stamp
            for ref in self.services.values():
                stamp = self._stamp(ref.service.cluster_arn)
                if ref.quiet_at == stamp:
                    continue
                self._advance_service(ref)
                ref.quiet_at = stamp if self._steady(ref) else None
            for stepper in self.steppers:
                stepper()

    def _write_late_lines(self) -> None:
        now = time.monotonic()
        due = [entry for entry in self.late_lines if entry[0] <= now]
        self.late_lines = [entry for entry in self.late_lines if entry[0] > now]
        for _, task, lines in due:
            telemetry.log(task, lambda c: lines)  # noqa: B023 (called at once)

    def changed(self, cluster: str | None = None) -> None:
        """Something may have changed a steady service: an API write that named `cluster`
        (a cluster's name), which moves nothing in another cluster, so that only that
        cluster's services and tasks are stepped again; or (None) a fault or another write,
        after which all of them are. A session leaves hundreds of clusters behind (one with
        5,000 tasks), and each of its thousands of writes stepped all of them again."""
        if cluster is None:
            self.generation += 1
        else:
            self.cluster_changes[cluster] = self.cluster_changes.get(cluster, 0) + 1

    def _stamp(self, cluster_arn: str) -> tuple[int, int]:
        """What `changed` has said of this cluster: equal stamps, nothing new."""
        return (self.generation, self.cluster_changes.get(cluster_arn.rsplit("/", 1)[-1], 0))

    def _steady(self, ref: ServiceRef) -> bool:
        svc = ref.service
        if svc.status != "ACTIVE" or len(svc.deployments) != 1:
            return False
        dep = svc.deployments[0]
        if "_native" in dep or dep.get("rolloutState") != "COMPLETED":
            return False
        live = self.wanted_tasks(svc)
        return len(live) == svc.desired_count and all(_ready(t) for t in live)

    # -- services ------------------------------------------------------------------------

    def adopt_service(self, backend: Any, service: Any, deployment_configuration: Any) -> None:
        """Take a service moto just created: fix its fields and start its first deployment."""
        conf = {**DEFAULT_DEPLOYMENT_CONFIGURATION, **(deployment_configuration or {})}
        service.deployment_configuration = conf
        service.running_count = 0
        service.pending_count = 0
        service.events = []
        self.services[service.arn] = ServiceRef(backend, service, None)
        if service.deployment_controller.get("type", "ECS") != "ECS":
            return
        service.deployments = [self._new_deployment(service, service.task_definition)]
        self._open_service_deployment(service, service.deployments[0], None)

    def update_service(self, backend: Any, service: Any, params: dict[str, Any]) -> None:
        """UpdateService: a new PRIMARY deployment, synchronously, when the revision changes
        or a new deployment is forced; a desired-count change alone rescales the PRIMARY."""
        new_arn = service.task_definition
        if params.get("taskDefinition"):  # validate before changing anything, as ECS does
            new_arn = backend.describe_task_definition(params["taskDefinition"]).arn
        ref = self.services.get(service.arn)
        if ref is None:
            self.adopt_service(backend, service, None)
            ref = self.services[service.arn]
        if params.get("deploymentConfiguration"):
            service.deployment_configuration = {
                **service.deployment_configuration,
                **params["deploymentConfiguration"],
            }
        if params.get("desiredCount") is not None:
            service.desired_count = int(params["desiredCount"])
        if params.get("networkConfiguration") is not None:
            service.network_configuration = params["networkConfiguration"]
        if params.get("platformVersion") is not None:
            service.platform_version = params["platformVersion"]
        changed = new_arn != service.task_definition
        if changed or params.get("forceNewDeployment"):
            if service.deployments and service.deployments[0].get("rolloutState") == "COMPLETED":
                ref.last_good_task_definition = service.deployments[0]["taskDefinition"]
            source = service.deployments[0] if service.deployments else None
            for dep in service.deployments:
                dep["status"] = "ACTIVE"
            service.task_definition = new_arn
            service.deployments.insert(0, self._new_deployment(service, new_arn))
            self._open_service_deployment(service, service.deployments[0], source)
            if strategies.is_native(service.deployment_configuration):
                new = service.deployments[0]
                strategies.begin(new, self.service_deployments.get(new["_record"]))
        elif service.deployments:
            service.deployments[0]["desiredCount"] = service.desired_count
            service.deployments[0]["updatedAt"] = _now()

    def _new_deployment(self, service: Any, task_definition: str) -> dict[str, Any]:
        dep_id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
        self.timeline[dep_id] = {"created": time.monotonic()}
        return {
            "id": dep_id,
            "status": "PRIMARY",
            "taskDefinition": task_definition,
            "desiredCount": service.desired_count,
            "pendingCount": 0,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": _now(),
            "updatedAt": _now(),
            "launchType": service.launch_type,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {dep_id} in progress.",
        }

    def _advance_service(self, ref: ServiceRef) -> None:
        svc = ref.service
        if svc.status != "ACTIVE" or not svc.deployments:
            return
        primary = svc.deployments[0]
        if "_native" in primary:  # blue/green, canary, linear: strategies.py
            strategies.advance(self, ref, primary)
            self._recount(svc)
            self._update_service_deployments(svc)
            self._drop_drained(svc)
            return
        name = svc.name
        live = self.wanted_tasks(svc)
        by_dep: dict[str, list[Task]] = {}
        for t in live:
            by_dep.setdefault(t["startedBy"], []).append(t)
        mine = by_dep.get(primary["id"], [])
        old = [t for t in live if t["startedBy"] != primary["id"]]
        desired = svc.desired_count
        conf = svc.deployment_configuration
        max_total = math.floor(desired * conf.get("maximumPercent", 200) / 100)
        min_healthy = math.ceil(desired * conf.get("minimumHealthyPercent", 100) / 100)

        # Stop: old tasks that are not serving first, then as many serving ones as the
        # minimum healthy percent allows (all of them once the new deployment is complete).
        stopped: list[Task] = []
        ready_new = [t for t in mine if _ready(t)]
        for t in [t for t in old if not _ready(t)]:
            stopped.append(t)
        ready_old = [t for t in old if _ready(t)]
        if len(ready_new) >= desired:
            stopped.extend(ready_old)
        else:
            room = len(ready_new) + len(ready_old) - min_healthy
            stopped.extend(ready_old[: max(0, room)])
        if len(mine) > desired:  # scaled down
            stopped.extend(sorted(mine, key=_ready)[: len(mine) - desired])
        for t in stopped:
            self.stop_task(
                t,
                f"Scaling activity initiated by (deployment {t['startedBy']})",
                "ServiceSchedulerInitiated",
            )
        if stopped:
            self.event(
                svc,
                f"(service {name}) has stopped {len(stopped)} running tasks: "
                + _task_ids(stopped)
                + ".",
            )

        # Start: new tasks up to the desired count, within the maximum percent.
        live_after = len(live) - len(stopped)
        mine_after = len([t for t in mine if t not in stopped])
        if primary.get("rolloutState") != "FAILED":
            count = min(desired - mine_after, max_total - live_after)
            started = [self.start_service_task(ref, primary) for _ in range(max(0, count))]
            if started:
                self.event(
                    svc,
                    f"(service {name}) has started {len(started)} tasks: "
                    + _task_ids(started)
                    + ".",
                )

        self._circuit_breaker(ref, primary)
        self._recount(svc)
        self._update_service_deployments(svc)
        self._drop_drained(svc)
        primary = svc.deployments[0]
        if (
            len(svc.deployments) == 1
            and primary["rolloutState"] == "IN_PROGRESS"
            and primary["runningCount"] == desired
            and primary["pendingCount"] == 0
            and all(
                _ready(t) and t["_age"] >= 1  # steady: up for a whole step, as ECS waits
                for t in self.wanted_tasks(svc)
            )
        ):
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            self.timeline.setdefault(primary["id"], {})["completed"] = time.monotonic()
            ref.last_good_task_definition = primary["taskDefinition"]
            self.finish_service_deployment(primary)
            self.event(svc, f"(service {name}) (deployment {primary['id']}) deployment completed.")
            self.event(svc, f"(service {name}) has reached a steady state.")

    def _drop_drained(self, svc: Any) -> None:
        """Drained deployments leave the list, as ECS marks them INACTIVE."""
        svc.deployments = [
            d
            for d in svc.deployments
            if d["status"] == "PRIMARY" or d["runningCount"] + d["pendingCount"] > 0
        ]

    def _circuit_breaker(self, ref: ServiceRef, primary: dict[str, Any]) -> None:
        svc = ref.service
        breaker = svc.deployment_configuration.get("deploymentCircuitBreaker") or {}
        if not breaker.get("enable") or primary.get("rolloutState") != "IN_PROGRESS":
            return
        threshold = self.faults_for(svc.name).circuit_breaker_threshold
        if threshold is None:
            threshold = records.breaker_threshold(svc.desired_count)
        if primary["failedTasks"] < threshold:
            return
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        self.timeline.setdefault(primary["id"], {})["failed"] = time.monotonic()
        self.event(
            svc,
            f"(service {svc.name}) (deployment {primary['id']}) deployment failed: "
            "tasks failed to start.",
        )
        previous = ref.last_good_task_definition
        record = self.service_deployments.get(primary.get("_record", ""))
        if record is not None:
            record["deploymentCircuitBreaker"]["status"] = "TRIGGERED"
        if breaker.get("rollback") and previous and previous != primary["taskDefinition"]:
            primary["status"] = "ACTIVE"
            rollback = self._new_deployment(svc, previous)
            svc.task_definition = previous
            svc.deployments.insert(0, rollback)
            if record is not None:  # ECS rolls back within the same service deployment
                rollback["_record"], rollback["_rolls_back"] = record["serviceDeploymentArn"], True
                records.begin_rollback(record, primary["rolloutStateReason"])
            self.event(svc, f"(service {svc.name}) rolling back to deployment {rollback['id']}.")
        elif record is not None:
            records.close(record, "STOPPED", primary["rolloutStateReason"])

    # -- service deployments (ECS's records of deployments) ------------------------------

    def _open_service_deployment(
        self, service: Any, dep: dict[str, Any], source: dict[str, Any] | None
    ) -> None:
        """The service deployment (and target service revision) for a new deployment; one
        still open on the service is STOPPED, as a new deployment replaces it."""
        now = records.now()
        suffix = dep["id"].rsplit("/", 1)[-1]
        revision_arn = records.child_arn(service.arn, "service-revision", suffix)
        record_arn = records.child_arn(service.arn, "service-deployment", suffix)
        self.service_revisions[revision_arn] = {
            "serviceRevisionArn": revision_arn,
            "serviceArn": service.arn,
            "clusterArn": service.cluster_arn,
            "taskDefinition": dep["taskDefinition"],
            "launchType": service.launch_type or "EC2",
            "createdAt": now,
        }
        for record in self.service_deployments.values():
            if record["serviceArn"] == service.arn and record["status"] in records.OPEN_STATES:
                records.close(record, "STOPPED", "Service deployment stopped: a new one started.")
        breaker = service.deployment_configuration.get("deploymentCircuitBreaker") or {}
        previous = self.service_deployments.get((source or {}).get("_record", ""))
        self.service_deployments[record_arn] = {
            "serviceDeploymentArn": record_arn,
            "serviceArn": service.arn,
            "clusterArn": service.cluster_arn,
            "createdAt": now,
            "updatedAt": now,
            "status": "PENDING",
            "targetServiceRevision": {"arn": revision_arn, **records.revision_counts(dep)},
            "sourceServiceRevisions": (
                [
                    {
                        "arn": previous["targetServiceRevision"]["arn"],
                        **records.revision_counts(source or {}),
                    }
                ]
                if previous
                else []
            ),
            "deploymentConfiguration": dict(service.deployment_configuration),
            "deploymentCircuitBreaker": {
                "status": "MONITORING" if breaker.get("enable") else "DISABLED",
                "failureCount": 0,
                "threshold": records.breaker_threshold(service.desired_count),
            },
        }
        dep["_record"] = record_arn
        service.current_service_deployment = record_arn

    def _update_service_deployments(self, svc: Any) -> None:
        """Move each deployment's record on: PENDING -> IN_PROGRESS, and its counts."""
        for dep in svc.deployments:
            record = self.service_deployments.get(dep.get("_record", ""))
            if record is None or dep.get("_rolls_back"):
                continue
            if record["status"] == "PENDING":
                record.update(status="IN_PROGRESS", startedAt=_now(), updatedAt=_now())
            record["targetServiceRevision"].update(records.revision_counts(dep))
            record["deploymentCircuitBreaker"]["failureCount"] = dep["failedTasks"]
        prefix = records.child_arn(svc.arn, "service-deployment")
        for record_arn in [a for a in self.rolling_back if a.startswith(prefix)]:
            record = self.service_deployments[record_arn]
            if any(t["startedBy"] == record["_green"] for t in self.wanted_tasks(svc)):
                continue  # green is still draining
            self.rolling_back.discard(record_arn)
            records.end_rollback(record, failed=self.faults_for(svc.name).rollback_fails)
        current = self.service_deployments.get(getattr(svc, "current_service_deployment", ""))
        if current is not None and svc.deployments:
            # what the service runs now: the target, or what a rollback went back to
            arn = (current.get("rollback") or {}).get("serviceRevisionArn")
            arn = arn or current["targetServiceRevision"]["arn"]
            svc.current_service_revisions = [
                {"arn": arn, **records.revision_counts(svc.deployments[0])}
            ]

    def finish_service_deployment(self, dep: dict[str, Any]) -> None:
        record = self.service_deployments.get(dep.get("_record", ""))
        if record is None:
            return
        if dep.get("_rolls_back") and record["status"] == "ROLLBACK_IN_PROGRESS":
            records.end_rollback(record)
        elif record["status"] in records.OPEN_STATES:
            record["targetServiceRevision"].update(records.revision_counts(dep))
            records.close(record, "SUCCESSFUL", "The service deployment completed.")

    def _recount(self, svc: Any) -> None:
        tasks = self.wanted_tasks(svc)
        for dep in svc.deployments:
            dep_tasks = [t for t in tasks if t["startedBy"] == dep["id"]]
            dep["runningCount"] = sum(1 for t in dep_tasks if t["lastStatus"] == "RUNNING")
            dep["pendingCount"] = sum(1 for t in dep_tasks if t["lastStatus"] in ACTIVE_STATES)
            if dep["status"] != "PRIMARY":
                dep["desiredCount"] = len(dep_tasks)
            else:
                dep["desiredCount"] = svc.desired_count
        svc.running_count = sum(1 for t in tasks if t["lastStatus"] == "RUNNING")
        svc.pending_count = sum(1 for t in tasks if t["lastStatus"] in ACTIVE_STATES)

    def wanted_tasks(self, svc: Any) -> list[Task]:
        """The service's tasks it still wants: not STOPPED, and not being stopped."""
        live = self.live.get((svc.cluster_arn, f"service:{svc.name}"), {})
        return [t for t in live.values() if t["desiredStatus"] == "RUNNING"]

    def event(self, svc: Any, message: str) -> None:
        svc.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": _now(), "message": message})
        del svc.events[100:]

    # -- tasks ---------------------------------------------------------------------------

    def start_service_task(self, ref: ServiceRef, deployment: dict[str, Any]) -> Task:
        svc = ref.service
        taskdef = ref.backend.describe_task_definition(deployment["taskDefinition"])
        return self.create_task(
            taskdef,
            cluster_arn=svc.cluster_arn,
            group=f"service:{svc.name}",
            started_by=deployment["id"],
            launch_type=svc.launch_type or "EC2",
            service_name=svc.name,
            load_balancers=svc.load_balancers,
        )

    def create_task(
        self,
        taskdef: Any,
        *,
        cluster_arn: str,
        group: str,
        started_by: str,
        launch_type: str,
        service_name: str | None = None,
        one_off: bool = False,
        load_balancers: list[dict[str, Any]] | None = None,
    ) -> Task:
        task_id = uuid.uuid4().hex
        region, account = cluster_arn.split(":")[3], cluster_arn.split(":")[4]
        cluster_name = cluster_arn.rsplit("/", 1)[-1]
        arn = f"arn:aws:ecs:{region}:{account}:task/{cluster_name}/{task_id}"
        containers = [
            {
                "containerArn": (
                    f"arn:aws:ecs:{region}:{account}:container/{cluster_name}/{task_id}/"
                    f"{uuid.uuid4()}"
                ),
                "taskArn": arn,
                "name": c["name"],
                "image": c["image"],
                "lastStatus": "PENDING",
                "healthStatus": "UNKNOWN",
                "essential": c.get("essential", True),
                "_health_check": bool(c.get("healthCheck")),
                "_logging": c.get("logConfiguration"),
            }
            for c in taskdef.container_definitions
        ]
        task: Task = {
            "taskArn": arn,
            "clusterArn": cluster_arn,
            "taskDefinitionArn": taskdef.arn,
            "group": group,
            "startedBy": started_by,
            "launchType": launch_type,
            "lastStatus": "PROVISIONING",
            "desiredStatus": "RUNNING",
            "healthStatus": "UNKNOWN",
            "createdAt": _now(),
            "containers": containers,
            "cpu": taskdef.cpu,
            "memory": taskdef.memory,
            "version": 1,
            "_service": service_name,
            "_one_off": one_off,
            "_age": 0,
            "_health_check": any(c["_health_check"] for c in containers),
            "_load_balancers": list(load_balancers or []),
        }
        self.tasks[arn] = task
        self.live.setdefault((cluster_arn, group), {})[arn] = task
        self.settled_groups.pop((cluster_arn, group), None)
        return task

    def stop_task(self, task: Task, reason: str, stop_code: str = "UserInitiated") -> None:
        if task["lastStatus"] == "STOPPED":
            return
        self.settled_groups.pop((task["clusterArn"], task["group"]), None)
        task["desiredStatus"] = "STOPPED"
        task["stoppedReason"] = reason
        task["stopCode"] = stop_code
        task["stoppingAt"] = _now()
        task["lastStatus"] = "DEACTIVATING" if task["lastStatus"] == "RUNNING" else "STOPPED"
        if task["lastStatus"] == "STOPPED":
            self._finish(task, exit_code=None)

    def _finish(
        self, task: Task, exit_code: int | None, reasons: dict[str, str] | None = None
    ) -> None:
        task["lastStatus"] = "STOPPED"
        task["desiredStatus"] = "STOPPED"
        task["stoppedAt"] = _now()
        self.live.get((task["clusterArn"], task["group"]), {}).pop(task["taskArn"], None)
        self.settled_groups.pop((task["clusterArn"], task["group"]), None)
        telemetry.deregister_targets(task)
        for c in task["containers"]:
            c["lastStatus"] = "STOPPED"
            if exit_code is not None and "exitCode" not in c:
                c["exitCode"] = exit_code
            if reasons and c["name"] in reasons:
                c["reason"] = reasons[c["name"]]

    def _fail_to_start(self, task: Task, reason: str | None = None) -> None:
        images = ", ".join(c["image"] for c in task["containers"])
        reason = reason or (
            f"CannotPullContainerError: pull image manifest has been retried 5 time(s): "
            f"failed to resolve ref {images}: not found"
        )
        task["desiredStatus"] = "STOPPED"
        task["stopCode"] = "TaskFailedToStart"
        task["stoppedReason"] = reason
        self._finish(task, None, {c["name"]: reason for c in task["containers"]})
        self._count_failure(task)

    def _service_of(self, task: Task) -> ServiceRef | None:
        return next(
            (
                r
                for r in self.services.values()
                if task["_service"] == r.service.name
                and r.service.cluster_arn == task["clusterArn"]
            ),
            None,
        )

    def _count_failure(self, task: Task) -> None:
        ref = self._service_of(task)
        if ref is None:
            return
        for dep in ref.service.deployments:
            if dep["id"] == task["startedBy"]:
                dep["failedTasks"] += 1

    def _advance_task(self, task: Task) -> None:
        state = task["lastStatus"]
        if state == "STOPPED":
            return
        faults = self.faults_for(task["_service"])
        task["_age"] += 1
        if state == "PROVISIONING":
            task["lastStatus"] = "PENDING"
        elif state == "PENDING":
            if not task["_one_off"] and (faults.stall or self._matches(task, faults.stall_images)):
                return
            if faults.fail_start or any(
                fnmatch.fnmatchcase(c["image"], pattern)
                for c in task["containers"]
                for pattern in faults.fail_images
            ):
                self._fail_to_start(task)
                return
            if telemetry.missing_log_group(task):
                self._fail_to_start(task, telemetry.MISSING_GROUP)
                return
            task["lastStatus"] = "RUNNING"
            task["startedAt"] = _now()
            task["_age"] = 0
            for c in task["containers"]:
                c["lastStatus"] = "RUNNING"
            telemetry.log(task, lambda c: (f"{c['name']}: starting", f"{c['name']}: ready"))
            if task["_load_balancers"]:
                telemetry.register_targets(task, task["_load_balancers"])
        elif state == "RUNNING":
            self._advance_health(task, faults)
        elif state == "DEACTIVATING":
            self._finish(task, exit_code=0)

    @staticmethod
    def _matches_one(container: dict[str, Any], patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(container["image"], p) for p in patterns)

    def _matches(self, task: Task, patterns: tuple[str, ...]) -> bool:
        return any(self._matches_one(c, patterns) for c in task["containers"])

    def _target_health(self, task: Task, faults: Faults) -> bool:
        """A task behind a load balancer: healthy a step after it runs, or (the
        `unhealthy_target_images` fault) unhealthy, said in a service event, and stopped two
        steps later by ECS. True when the task was stopped."""
        if not self._matches(task, faults.unhealthy_target_images):
            if task["_age"] >= 1:
                telemetry.set_health(task, ("healthy", None, None))
            return False
        if task["_age"] == 1:
            telemetry.set_health(task, telemetry.UNHEALTHY)
            ref = self._service_of(task)
            for arn, _ip in task.get("_targets", []):
                port = next(
                    (
                        lb.get("containerPort")
                        for lb in task["_load_balancers"]
                        if lb.get("targetGroupArn") == arn
                    ),
                    None,
                )
                if ref is not None:
                    self.event(
                        ref.service,
                        f"(service {ref.service.name}) (task {_task_id(task)}) (port {port}) is "
                        f"unhealthy in (target-group {arn}) due to (reason "
                        f"{telemetry.UNHEALTHY[2]}).",
                    )
        # ECS stops it after the load balancer's unhealthy threshold: here a wall-clock second
        # (at least two steps), so a poll sees the unhealthy target before it is deregistered
        task.setdefault("_unhealthy_since", time.monotonic())
        if task["_age"] >= 3 and time.monotonic() - task["_unhealthy_since"] >= 1.0:
            groups = " ".join(f"(target-group {arn})" for arn, _ in task.get("_targets", []))
            task["desiredStatus"] = "STOPPED"
            task["stopCode"] = "ServiceSchedulerInitiated"
            task["stoppedReason"] = f"Task failed ELB health checks in {groups}"
            task["lastStatus"] = "DEACTIVATING"
            self._count_failure(task)
            return True
        return False

    def _advance_health(self, task: Task, faults: Faults) -> None:
        if task["_one_off"]:
            step = task["_age"] - 1
            if 0 <= step < len(faults.task_log):
                line = faults.task_log[step]
                telemetry.log(task, lambda c: (line,))
            if task["_age"] >= max(2, len(faults.task_log) + 1):
                codes = dict(faults.exit_codes)
                for c in task["containers"]:
                    c["exitCode"] = codes.get(c["name"], 0)
                telemetry.log(task, lambda c: faults.crash_log if c["exitCode"] else ())
                failed = [c for c in task["containers"] if c["essential"] and c["exitCode"] != 0]
                task["stopCode"] = "EssentialContainerExited"
                task["stoppedReason"] = "Essential container in task exited"
                self._finish(
                    task,
                    exit_code=0,
                    reasons={c["name"]: f"exited with code {c['exitCode']}" for c in failed},
                )
                if faults.late_log:
                    due = time.monotonic() + faults.late_log_after
                    self.late_lines.append((due, task, faults.late_log))
            return
        if task["_age"] >= 1 and self._matches(task, faults.crash_images):
            crashing = [c for c in task["containers"] if self._matches_one(c, faults.crash_images)]
            telemetry.log(task, lambda c: faults.crash_log if c in crashing else ())
            for c in crashing:
                c["exitCode"] = 1
            task["stopCode"] = "EssentialContainerExited"
            task["stoppedReason"] = "Essential container in task exited"
            self._finish(task, exit_code=0)
            self._count_failure(task)
            return
        if task.get("_targets") and self._target_health(task, faults):
            return
        if faults.crash_exit_code is not None and task["_age"] >= 1:
            for c in task["containers"]:
                if c["essential"]:
                    c["exitCode"] = faults.crash_exit_code
            task["stopCode"] = "EssentialContainerExited"
            task["stoppedReason"] = "Essential container in task exited"
            self._finish(task, exit_code=0)
            self._count_failure(task)
            return
        if not task["_health_check"]:
            return
        if faults.unhealthy:
            for c in task["containers"]:
                if c["_health_check"]:
                    c["healthStatus"] = "UNHEALTHY"
            task["healthStatus"] = "UNHEALTHY"
            if task["_age"] >= 2:
                task["desiredStatus"] = "STOPPED"
                task["stopCode"] = "ServiceSchedulerInitiated"
                task["stoppedReason"] = "Task failed container health checks"
                task["lastStatus"] = "DEACTIVATING"
                for c in task["containers"]:
                    c["exitCode"] = 137
                    c["reason"] = "Task failed container health checks"
                self._count_failure(task)
            return
        for c in task["containers"]:
            if c["_health_check"]:
                c["healthStatus"] = "HEALTHY"
        task["healthStatus"] = "HEALTHY"


def _task_id(task: Task) -> str:
    return str(task["taskArn"].rsplit("/", 1)[-1])


def _task_ids(tasks: list[Task]) -> str:
    """`(task abc) (task def)`, as ECS lists tasks in its service events."""
    return " ".join(f"(task {t['taskArn'].rsplit('/', 1)[-1]})" for t in tasks)


def _settled(task: Task) -> bool:
    """A step would change nothing of this task but its age while the faults stay as they
    are: a service's task RUNNING for two steps already (every fault that stops a running task
    or marks it unhealthy has acted by then: `_advance_health`), and not an unhealthy target,
    whose stop waits on the wall clock. One-off tasks run to their end by age."""
    return (
        task["lastStatus"] == "RUNNING"
        and not task["_one_off"]
        and task["_age"] >= 2
        and "_unhealthy_since" not in task
    )


def _ready(task: Task) -> bool:
    """Counts toward the minimum healthy percent: RUNNING, HEALTHY where checked, and healthy
    in every target group it is registered in (as ECS counts a task behind a load balancer)."""
    if task["lastStatus"] != "RUNNING":
        return False
    if not all(
        telemetry.HEALTH.get(key, ("",))[0] == "healthy" for key in task.get("_targets", [])
    ):
        return False
    return not task["_health_check"] or task["healthStatus"] == "HEALTHY"


def _now() -> datetime:
    return records.now()
