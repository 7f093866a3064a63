"""CodeDeploy's blue/green deployments of ECS services (deploymentController CODE_DEPLOY), one
scheduler step at a time: what moto 5.2.5 lacks.

moto keeps CodeDeploy applications, deployment groups and deployments (CreateDeployment
stores one, status "Created" for ever); it has no lifecycle, no StopDeployment,
ContinueDeployment, deployment targets or deployment configurations, and its ECS backend
starts no task for a task set. This module fills that in, as AWS documents it:

- A CODE_DEPLOY service gets its PRIMARY task set from CreateService (its revision and load
  balancer), and every task set keeps `scale` percent of the desired count running (the
  scheduler's tasks, startedBy the task set's id; failed ones are replaced).
- CreateDeployment refuses a second active deployment in the group
  (DeploymentLimitExceededException). A deployment whose AppSpec names no TaskDefinition is
  kept as moto keeps it (Created, never run). A deployment walks ECS's lifecycle events in order:
  BeforeInstall, Install (the replacement task set scales up in the group's other target
  group), AfterInstall, AllowTestTraffic (Skipped without a test listener),
  AfterAllowTestTraffic, then waits at Ready when the group's deploymentReadyOption says
  STOP_DEPLOYMENT (ContinueDeployment READY_WAIT, or Stopped when waitTimeInMinutes runs out),
  BeforeAllowTraffic, AllowTraffic (all at once, canary or linear, as its deployment
  configuration says), AfterAllowTraffic, then the termination wait, after which the original
  task set goes and the deployment Succeeded. Minutes are sandbox minutes (`minute` seconds).
- Replacement tasks that keep failing (the `fail_images`/`crash_images` faults: as many as
  the circuit breaker's threshold) fail Install: the deployment Failed (ECS_UPDATE_ERROR).
  StopDeployment stops it (MANUAL_STOP). Either rolls back when asked (autoRollbackEnabled,
  or the group's autoRollbackConfiguration for that event): the rollback is a deployment of
  its own (creator codeDeployRollback, rollbackInfo both ways) that moves traffic back and
  removes the replacement task set; with the `rollback_fails` fault it Failed.
- GetDeploymentTarget / BatchGetDeploymentTargets / ListDeploymentTargets answer the ECS
  target: its lifecycle events and both task sets with their counts and traffic weights.
  The production listener's forward action carries the same weights.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ecsdeploy.sandbox import records, telemetry
from ecsdeploy.sandbox.records import ServiceRef

LIFECYCLE = (
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
)
#: The events a rollback deployment runs (it only moves traffic back).
ROLLBACK_LIFECYCLE = ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
ACTIVE = ("Created", "Queued", "InProgress", "Baking", "Ready")
#: CodeDeploy's predefined ECS configurations: (type, percent, interval in minutes).
PREDEFINED = {
    "CodeDeployDefault.ECSAllAtOnce": ("AllAtOnce", 100, 0),
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": ("TimeBasedLinear", 10, 1),
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": ("TimeBasedLinear", 10, 3),
    "CodeDeployDefault.ECSCanary10Percent5Minutes": ("TimeBasedCanary", 10, 5),
    "CodeDeployDefault.ECSCanary10Percent15Minutes": ("TimeBasedCanary", 10, 15),
}
OPERATIONS = (
    "create_deployment",
    "get_deployment",
    "batch_get_deployments",
    "stop_deployment",
    "continue_deployment",
    "list_deployment_targets",
    "get_deployment_target",
    "batch_get_deployment_targets",
    "get_deployment_config",
    "create_deployment_config",
    "batch_get_deployment_groups",
    "get_deployment_group",
)


@dataclass
class Run:
    """One CodeDeploy deployment of an ECS service, as the sandbox runs it."""

    deployment: Any  # moto's DeploymentInfo
    ref: ServiceRef
    cluster: str
    events: dict[str, dict[str, Any]]
    rollback_of: Run | None = None
    stage: int = 0
    since: float = field(default_factory=time.monotonic)
    green: Any = None  # the replacement task set (moto's TaskSet)
    weight: float = 0.0  # production traffic on the replacement, percent
    test_weight: float = 0.0
    ready: bool = False
    ready_since: float = 0.0
    continued: bool = False
    stop: tuple[str, bool] | None = None  # (reason, roll back) asked by StopDeployment
    waiting_termination: bool = False
    error: dict[str, str] = field(default_factory=dict)
    rollback_info: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.deployment.deployment_id)

    @property
    def group(self) -> Any:
        return self.deployment.deployment_group

    @property
    def final(self) -> bool:
        return self.deployment.status not in ACTIVE


class CodeDeployHost:
    """The sandbox's CodeDeploy: runs each deployment a step at a time, within the
    scheduler's steps (and under its lock)."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.runs: dict[str, Run] = {}
        self.configs: dict[str, dict[str, Any]] = {}  # custom deployment configurations
        self._services: list[ServiceRef] = []  # the CODE_DEPLOY ones
        self._scanned = -1

    # -- the step ------------------------------------------------------------------------

    def step(self) -> None:
        services = self.scheduler.services
        if len(services) != self._scanned:  # a test session seeds hundreds of ECS services
            self._scanned = len(services)
            self._services = [
                r
                for r in services.values()
                if r.service.deployment_controller.get("type") == "CODE_DEPLOY"
            ]
        for ref in self._services:
            svc = ref.service
            if svc.status != "ACTIVE" or svc.deployment_controller.get("type") != "CODE_DEPLOY":
                continue  # (migrated to the ECS controller: the scheduler's now)
            if not svc.task_sets:
                self._primary_task_set(ref)
            self._keep_task_sets(ref)
        for run in list(self.runs.values()):
            if not run.final:
                self._advance(run)

    def _primary_task_set(self, ref: ServiceRef) -> None:
        """ECS makes a CODE_DEPLOY service's first task set itself, from CreateService."""
        svc = ref.service
        ts = _task_set(ref, svc.task_definition, list(svc.load_balancers or []))
        ts.status = "PRIMARY"
        svc.task_sets.append(ts)

    def _keep_task_sets(self, ref: ServiceRef) -> None:
        """Each task set runs `scale` percent of the desired count, as ECS keeps it."""
        svc = ref.service
        live = self.scheduler.wanted_tasks(svc)
        running = pending = 0
        for ts in svc.task_sets:
            desired = math.ceil(svc.desired_count * float(ts.scale.get("value", 100)) / 100)
            mine = [t for t in live if t["startedBy"] == ts.id]
            for task in mine[desired:]:
                self.scheduler.stop_task(task, "Task set scaled in", "ServiceSchedulerInitiated")
            for _ in range(desired - len(mine)):
                self._start(ref, ts)
            mine = [t for t in live if t["startedBy"] == ts.id][:desired]
            ts.computed_desired_count = desired
            ts.running_count = sum(t["lastStatus"] == "RUNNING" for t in mine)
            ts.pending_count = len(mine) - ts.running_count
            steady = ts.running_count == desired and ts.pending_count == 0
            ts.stabilityStatus = "STEADY_STATE" if steady else "STABILIZING"
            running += ts.running_count
            pending += ts.pending_count
        svc.running_count, svc.pending_count = running, pending

    def _start(self, ref: ServiceRef, ts: Any) -> Any:
        svc = ref.service
        taskdef = ref.backend.describe_task_definition(ts.task_definition)
        return self.scheduler.create_task(
            taskdef,
            cluster_arn=svc.cluster_arn,
            group=f"service:{svc.name}",
            started_by=ts.id,
            launch_type=svc.launch_type or "EC2",
            service_name=svc.name,
            load_balancers=ts.load_balancers,
        )

    # -- a deployment's lifecycle --------------------------------------------------------

    def _advance(self, run: Run) -> None:
        d = run.deployment
        if d.status == "Created":
            d.status, d.start_time = "InProgress", records.now()
            d.deployment_overview.update(InProgress=1)
            return
        if run.stop is not None:
            reason, roll_back = run.stop
            self._end(run, "Stopped", "MANUAL_STOP", reason, roll_back)
            return
        if run.rollback_of is not None:
            self._advance_rollback(run)
            return
        events = LIFECYCLE
        if run.stage >= len(events):
            self._terminate(run)
            return
        name = events[run.stage]
        event = run.events[name]
        if event["status"] == "Pending":
            if name == "BeforeAllowTraffic" and not self._past_ready(run):
                return
            event.update(status="InProgress", startTime=records.now())
            run.since = time.monotonic()
            if name == "Install":
                run.green = self._replacement(run)
            return
        done = self._event(run, name)
        if done is None:
            return
        event.update(status=done, endTime=records.now())
        if done == "Failed":
            return
        run.stage += 1
        run.since = time.monotonic()

    def _event(self, run: Run, name: str) -> str | None:
        """The status an in-progress event ends with, or None while it goes on."""
        minute = self.scheduler.minute
        if name == "Install":
            return self._install(run)
        if name == "AllowTestTraffic":
            if not _test_listeners(run.group):
                return "Skipped"
            run.test_weight = 100.0
            return "Succeeded"
        if name == "AllowTraffic":
            kind, percent, interval = self.traffic_routing(str(d_config(run)))
            waited = time.monotonic() - run.since
            if run.weight == 0:
                run.weight = 100.0 if kind == "AllAtOnce" else float(percent)
                run.since = time.monotonic()
            elif waited >= interval * minute:
                step = 100.0 if kind == "TimeBasedCanary" else float(percent)
                run.weight = min(100.0, run.weight + step)
                run.since = time.monotonic()
            self._route(run)
            return "Succeeded" if run.weight >= 100 else None
        return "Succeeded"  # hook events: no Lambda hooks run in the sandbox

    def _install(self, run: Run) -> str | None:
        svc = run.ref.service
        green = run.green
        tasks = [t for t in self.scheduler.tasks.values() if t["startedBy"] == green.id]
        failed = [t for t in tasks if t["lastStatus"] == "STOPPED" and not t.get("_cd_drained")]
        threshold = records.breaker_threshold(
            svc.desired_count, self.scheduler.faults_for(svc.name).circuit_breaker_threshold
        )
        if len(failed) >= threshold:
            run.events["Install"].update(
                status="Failed",
                endTime=records.now(),
                diagnostics={
                    "errorCode": "UnknownError",
                    "scriptName": "",
                    "message": f"{len(failed)} tasks of the replacement task set failed",
                    "logTail": "",
                },
            )
            self._end(
                run,
                "Failed",
                "ECS_UPDATE_ERROR",
                f"The ECS service cannot reach a steady state: {len(failed)} tasks of the "
                f"replacement task set {green.id} stopped "
                f"({failed[-1].get('stoppedReason', 'no reason')})",
                _rolls_back_on(run.group, "DEPLOYMENT_FAILURE"),
            )
            return "Failed"
        live = [t for t in tasks if t["lastStatus"] != "STOPPED"]
        ready = [t for t in live if _ready(t)]
        return "Succeeded" if len(ready) >= green.computed_desired_count > 0 else None

    def _past_ready(self, run: Run) -> bool:
        """The Ready wait, after test traffic: False while the deployment waits there."""
        option = (run.group.blue_green_deployment_configuration or {}).get(
            "deploymentReadyOption"
        ) or {}
        wait = float(option.get("waitTimeInMinutes") or 0) * self.scheduler.minute
        if option.get("actionOnTimeout") != "STOP_DEPLOYMENT":
            return bool(time.monotonic() - run.since >= wait)
        if run.continued:
            run.deployment.status = "InProgress"
            run.deployment.deployment_overview.update(Ready=0, InProgress=1)
            return True
        if not run.ready:
            run.ready, run.ready_since = True, time.monotonic()
            run.deployment.status = "Ready"
            run.deployment.deployment_overview.update(Ready=1, InProgress=0)
        elif time.monotonic() - run.ready_since >= wait:
            self._end(
                run,
                "Stopped",
                "TIMEOUT",
                "The deployment timed out waiting to reroute traffic (deploymentReadyOption "
                "STOP_DEPLOYMENT)",
                _rolls_back_on(run.group, "DEPLOYMENT_STOP_ON_REQUEST"),
            )
        return False

    def _terminate(self, run: Run) -> None:
        """The termination wait, then the original task set goes: Succeeded."""
        svc = run.ref.service
        option = (run.group.blue_green_deployment_configuration or {}).get(
            "terminateBlueInstancesOnDeploymentSuccess"
        ) or {}
        wait = float(option.get("terminationWaitTimeInMinutes") or 0) * self.scheduler.minute
        if not run.waiting_termination:
            run.waiting_termination, run.since = True, time.monotonic()
            run.deployment.instance_termination_wait_time_started = True
            return
        if time.monotonic() - run.since < wait:
            return
        for ts in list(svc.task_sets):
            if ts is not run.green:
                self._remove(run.ref, ts)
        run.green.status = "PRIMARY"
        svc.task_definition = run.green.task_definition
        svc.load_balancers = list(run.green.load_balancers)
        run.weight = 100.0
        self._finish(run, "Succeeded")

    def _advance_rollback(self, run: Run) -> None:
        """A rollback deployment: traffic back to the original, the replacement removed."""
        original = run.rollback_of
        assert original is not None
        name = ROLLBACK_LIFECYCLE[min(run.stage, len(ROLLBACK_LIFECYCLE) - 1)]
        event = run.events[name]
        if event["status"] == "Pending":
            event.update(status="InProgress", startTime=records.now())
            return
        if name == "AllowTraffic":
            original.weight = original.test_weight = 0.0
            self._route(original)
        if self.scheduler.faults_for(run.ref.service.name).rollback_fails:
            event.update(status="Failed", endTime=records.now())
            run.error = {
                "code": "ECS_UPDATE_ERROR",
                "message": "The rollback could not reroute traffic to the original task set",
            }
            self._finish(run, "Failed")
            return
        event.update(status="Succeeded", endTime=records.now())
        run.stage += 1
        if run.stage >= len(ROLLBACK_LIFECYCLE):
            if original.green is not None:
                self._remove(run.ref, original.green)
            self._finish(run, "Succeeded")

    def _end(self, run: Run, status: str, code: str, message: str, roll_back: bool) -> None:
        """The deployment Failed or was Stopped; with `roll_back`, its rollback starts."""
        run.error = {"code": code, "message": message}
        for event in run.events.values():
            if event["status"] == "InProgress":
                event.update(status="Failed" if status == "Failed" else "Skipped")
            elif event["status"] == "Pending":
                event["status"] = "Skipped"
        self._finish(run, status)
        if roll_back and run.green is not None:
            rollback = self._create(run.ref, run.cluster, run.deployment, rollback_of=run)
            run.rollback_info = {
                "rollbackDeploymentId": rollback.id,
                "rollbackMessage": f"Deployment {run.id} is rolled back by deployment "
                f"{rollback.id}",
            }
            rollback.rollback_info = {"rollbackTriggeringDeploymentId": run.id}
        elif run.green is not None and run.weight == 0:
            self._remove(run.ref, run.green)

    def _finish(self, run: Run, status: str) -> None:
        """The deployment ends; the timeline (benchmarks) says when."""
        d = run.deployment
        d.status, d.complete_time = status, records.now()
        self.scheduler.timeline.setdefault(run.id, {})[status.lower()] = time.monotonic()
        d.deployment_overview.update(InProgress=0, Ready=0, **{status: 1})

    def _replacement(self, run: Run) -> Any:
        """The replacement (green) task set, in the group's other target group."""
        svc = run.ref.service
        appspec = _appspec(run.deployment.revision)
        props = _target_service(appspec)
        lb_info = props.get("LoadBalancerInfo") or {}
        blue = next(ts for ts in svc.task_sets if ts.status == "PRIMARY")
        blue_groups = {lb.get("targetGroupArn") for lb in blue.load_balancers}
        green_group = next(
            (arn for arn in _target_group_arns(svc, run.group) if arn not in blue_groups), None
        )
        container = lb_info.get("ContainerName") or (
            blue.load_balancers[0].get("containerName") if blue.load_balancers else None
        )
        port = lb_info.get("ContainerPort") or (
            blue.load_balancers[0].get("containerPort") if blue.load_balancers else None
        )
        lbs = (
            [{"targetGroupArn": green_group, "containerName": container, "containerPort": port}]
            if green_group
            else []
        )
        taskdef = run.ref.backend.describe_task_definition(str(props["TaskDefinition"]))
        ts = _task_set(run.ref, taskdef.arn, lbs)
        svc.task_sets.append(ts)
        return ts

    def _remove(self, ref: ServiceRef, ts: Any) -> None:
        for task in self.scheduler.wanted_tasks(ref.service):
            if task["startedBy"] == ts.id:
                task["_cd_drained"] = True
                self.scheduler.stop_task(
                    task, "Task set deleted by CodeDeploy", "ServiceSchedulerInitiated"
                )
        if ts in ref.service.task_sets:
            ref.service.task_sets.remove(ts)

    def _route(self, run: Run) -> None:
        """The production listener forwards `weight` percent to the replacement."""
        blue = [ts for ts in run.ref.service.task_sets if ts is not run.green]
        blue_arns = [lb.get("targetGroupArn") for ts in blue for lb in ts.load_balancers]
        green_arns = [lb.get("targetGroupArn") for lb in run.green.load_balancers]
        if not blue_arns or not green_arns:
            return
        groups = [
            {"TargetGroupArn": blue_arns[0], "Weight": int(100 - run.weight)},
            {"TargetGroupArn": green_arns[0], "Weight": int(run.weight)},
        ]
        action = {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}
        try:
            elbv2 = _elbv2(run.ref.service.cluster_arn)
            for route in _prod_listeners(run.group):
                elbv2.modify_listener(route, actions=[action])
        except Exception:  # the weights in the deployment target are the record
            return

    # -- the API -------------------------------------------------------------------------

    def create(self, backend: Any, params: dict[str, Any]) -> str:
        """CreateDeployment, as CodeDeploy checks it."""
        from moto.codedeploy.exceptions import CodeDeployException

        app, group_name = params.get("applicationName"), params.get("deploymentGroupName")
        group = backend.get_deployment_group(app, group_name)
        for run in self.runs.values():
            if run.group is group and not run.final:
                raise CodeDeployException(
                    "DeploymentLimitExceededException",
                    f"The Deployment Group '{group_name}' already has an active Deployment "
                    f"'{run.id}'",
                )
        config = params.get("deploymentConfigName") or group.deployment_config_name
        known = str(config) in PREDEFINED or str(config) in self.configs
        if config and not known and not str(config).startswith("CodeDeployDefault."):
            raise CodeDeployException(
                "DeploymentConfigDoesNotExistException",
                f"The deployment configuration {config} does not exist",
            )
        revision = params.get("revision") or {}
        if revision.get("revisionType") != "AppSpecContent":
            raise CodeDeployException(
                "InvalidRevisionException", "An ECS deployment's revision is AppSpecContent"
            )
        try:
            props = _target_service(_appspec(revision))
            runs = bool(props["TaskDefinition"])
        except (KeyError, ValueError, TypeError):
            runs = False  # kept as moto keeps it (Created): the sandbox does not run it
        cluster, service = _ecs_service(group)
        ref = self._service_ref(cluster, service)
        if ref is None:
            raise CodeDeployException(
                "InvalidECSServiceException", f"The ECS service {service} does not exist"
            )
        deployment_id = backend.create_deployment(
            application_name=app,
            deployment_group_name=group_name,
            revision=revision,
            deployment_config_name=params.get("deploymentConfigName"),
            description=params.get("description"),
            auto_rollback_configuration=params.get("autoRollbackConfiguration"),
        )
        d = backend.deployments.pop(deployment_id)
        d.deployment_id = _deployment_id()
        d.auto_rollback_configuration = (
            params.get("autoRollbackConfiguration") or group.auto_rollback_configuration
        )
        backend.deployments[d.deployment_id] = d
        if not runs:
            return str(d.deployment_id)
        self.runs[d.deployment_id] = Run(d, ref, cluster, _events(LIFECYCLE))
        self.scheduler.timeline[d.deployment_id] = {"created": time.monotonic()}
        return str(d.deployment_id)

    def _create(self, ref: ServiceRef, cluster: str, original: Any, rollback_of: Run) -> Run:
        """The rollback deployment: a deployment of its own, of the original revision."""
        backend = _codedeploy_backend(ref.service.cluster_arn)
        blue = next(ts for ts in ref.service.task_sets if ts is not rollback_of.green)
        revision = {
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": json.dumps(_appspec_for(blue))},
        }
        deployment_id = backend.create_deployment(
            application_name=original.application_name,
            deployment_group_name=original.deployment_group_name,
            revision=revision,
            deployment_config_name="CodeDeployDefault.ECSAllAtOnce",
            description=f"Rollback of deployment {original.deployment_id}",
        )
        d = backend.deployments.pop(deployment_id)
        d.deployment_id = _deployment_id()
        d.creator = "codeDeployRollback"
        d.status, d.start_time = "InProgress", records.now()
        backend.deployments[d.deployment_id] = d
        run = Run(d, ref, cluster, _events(ROLLBACK_LIFECYCLE), rollback_of=rollback_of)
        self.runs[d.deployment_id] = run
        return run

    def _service_ref(self, cluster: str, service: str) -> ServiceRef | None:
        return next(
            (
                r
                for r in self.scheduler.services.values()
                if r.service.name == service
                and r.service.cluster_arn.rsplit("/", 1)[-1] == cluster
                and r.service.status == "ACTIVE"
            ),
            None,
        )

    def run_of(self, deployment_id: str) -> Run:
        from moto.codedeploy.exceptions import DeploymentDoesNotExistException

        run = self.runs.get(deployment_id)
        if run is None:
            raise DeploymentDoesNotExistException(
                f"The deployment {deployment_id} does not exist with the user or AWS account."
            )
        return run

    def stop(self, deployment_id: str, auto_rollback: bool | None) -> dict[str, str]:
        from moto.codedeploy.exceptions import CodeDeployException

        run = self.run_of(deployment_id)
        if run.final:
            raise CodeDeployException(
                "DeploymentAlreadyCompletedException",
                f"The deployment {deployment_id} has already completed",
            )
        roll_back = (
            auto_rollback
            if auto_rollback is not None
            else _rolls_back_on(run.group, "DEPLOYMENT_STOP_ON_REQUEST")
        )
        run.stop = ("The deployment was stopped by StopDeployment", bool(roll_back))
        return {"status": "Pending", "statusMessage": "Stopping the deployment"}

    def continue_ready(self, deployment_id: str, wait_type: str) -> None:
        from moto.codedeploy.exceptions import CodeDeployException

        run = self.run_of(deployment_id)
        if wait_type == "TERMINATION_WAIT":
            if run.waiting_termination:
                run.since = -math.inf
            return
        if run.deployment.status != "Ready":
            raise CodeDeployException(
                "DeploymentIsNotInReadyStateException",
                f"The deployment {deployment_id} is not in a ready state",
            )
        run.continued = True

    def info(self, deployment_id: str, answer: dict[str, Any]) -> dict[str, Any]:
        """What moto leaves out of a deployment's description."""
        run = self.runs.get(deployment_id)
        if run is None:
            return answer
        answer["errorInformation"] = dict(run.error)
        answer["rollbackInfo"] = dict(run.rollback_info)
        answer["autoRollbackConfiguration"] = run.deployment.auto_rollback_configuration
        answer["deploymentStyle"] = run.group.deployment_style
        return {k: v for k, v in answer.items() if v not in (None, {}, "")}

    def target(self, run: Run) -> dict[str, Any]:
        """The ECS deployment target: lifecycle events and both task sets."""
        svc = run.ref.service
        original = run.rollback_of or run
        green = original.green
        sets = []
        for ts in svc.task_sets:
            is_green = ts is green
            sets.append(
                {
                    "identifer": ts.id,  # sic: AWS's spelling
                    "desiredCount": getattr(ts, "computed_desired_count", 0),
                    "pendingCount": getattr(ts, "pending_count", 0),
                    "runningCount": getattr(ts, "running_count", 0),
                    "status": ts.status,
                    "trafficWeight": original.weight if is_green else 100.0 - original.weight,
                    "targetGroup": {"name": _tg_name(ts)},
                    "taskSetLabel": "Green" if is_green else "Blue",
                }
            )
        status = {"Ready": "Ready", "Created": "Pending"}.get(run.deployment.status)
        return {
            "deploymentTargetType": "ECSTarget",
            "ecsTarget": {
                "deploymentId": run.id,
                "targetId": f"{run.cluster}:{svc.name}",
                "targetArn": svc.arn,
                "lastUpdatedAt": records.now(),
                "lifecycleEvents": [
                    {"lifecycleEventName": name, **event} for name, event in run.events.items()
                ],
                "status": status or run.deployment.status,
                "taskSetsInfo": sets,
            },
        }

    def traffic_routing(self, config: str) -> tuple[str, float, float]:
        if config in PREDEFINED:
            return PREDEFINED[config]
        custom = (self.configs.get(config) or {}).get("trafficRoutingConfig") or {}
        kind = custom.get("type", "AllAtOnce")
        if kind == "TimeBasedCanary":
            c = custom.get("timeBasedCanary") or {}
            return kind, float(c.get("canaryPercentage", 10)), float(c.get("canaryInterval", 1))
        if kind == "TimeBasedLinear":
            c = custom.get("timeBasedLinear") or {}
            return kind, float(c.get("linearPercentage", 10)), float(c.get("linearInterval", 1))
        return "AllAtOnce", 100, 0


def apply(scheduler: Any) -> Callable[[], None]:
    """Install the CodeDeploy handlers and the scheduler step; returns the undo."""
    from moto.codedeploy.exceptions import CodeDeployException
    from moto.codedeploy.responses import CodeDeployResponse as R
    from moto.core.responses import ActionResult, EmptyResult

    host = CodeDeployHost(scheduler)
    scheduler.codedeploy = host
    scheduler.steppers.append(host.step)
    originals = {name: getattr(R, name, None) for name in OPERATIONS}

    def create_deployment(self: Any) -> Any:
        return ActionResult(
            {"deploymentId": host.create(self.codedeploy_backend, self._get_params())}
        )

    def get_deployment(self: Any) -> Any:
        result = originals["get_deployment"](self)  # type: ignore[misc]
        info = result.result["deploymentInfo"]
        result.result["deploymentInfo"] = host.info(info["deploymentId"], info)
        return result

    def batch_get_deployments(self: Any) -> Any:
        result = originals["batch_get_deployments"](self)  # type: ignore[misc]
        result.result["deploymentsInfo"] = [
            host.info(i["deploymentId"], i) for i in result.result["deploymentsInfo"]
        ]
        return result

    def stop_deployment(self: Any) -> Any:
        rollback = self._get_param("autoRollbackEnabled")
        return ActionResult(host.stop(self._get_param("deploymentId", ""), rollback))

    def continue_deployment(self: Any) -> Any:
        host.continue_ready(
            self._get_param("deploymentId", ""),
            self._get_param("deploymentWaitType") or "READY_WAIT",
        )
        return EmptyResult()

    def list_deployment_targets(self: Any) -> Any:
        run = host.run_of(self._get_param("deploymentId", ""))
        return ActionResult({"targetIds": [host.target(run)["ecsTarget"]["targetId"]]})

    def _target(deployment_id: str, target_id: str) -> dict[str, Any]:
        run = host.run_of(deployment_id)
        found = host.target(run)
        if target_id != found["ecsTarget"]["targetId"]:
            raise CodeDeployException(
                "DeploymentTargetDoesNotExistException",
                f"The deployment target {target_id} does not exist",
            )
        return found

    def get_deployment_target(self: Any) -> Any:
        found = _target(self._get_param("deploymentId", ""), self._get_param("targetId", ""))
        return ActionResult({"deploymentTarget": found})

    def batch_get_deployment_targets(self: Any) -> Any:
        deployment_id = self._get_param("deploymentId", "")
        found = [_target(deployment_id, t) for t in self._get_param("targetIds") or []]
        return ActionResult({"deploymentTargets": found})

    def get_deployment_config(self: Any) -> Any:
        name = self._get_param("deploymentConfigName", "")
        if name in host.configs:
            return ActionResult({"deploymentConfigInfo": host.configs[name]})
        if name not in PREDEFINED:
            raise CodeDeployException(
                "DeploymentConfigDoesNotExistException",
                f"The deployment configuration {name} does not exist",
            )
        kind, percent, interval = PREDEFINED[name]
        routing: dict[str, Any] = {"type": kind}
        if kind == "TimeBasedCanary":
            routing["timeBasedCanary"] = {"canaryPercentage": percent, "canaryInterval": interval}
        elif kind == "TimeBasedLinear":
            routing["timeBasedLinear"] = {"linearPercentage": percent, "linearInterval": interval}
        info = {
            "deploymentConfigName": name,
            "computePlatform": "ECS",
            "trafficRoutingConfig": routing,
            "createTime": records.now(),
        }
        return ActionResult({"deploymentConfigInfo": info})

    def create_deployment_config(self: Any) -> Any:
        name = self._get_param("deploymentConfigName", "")
        host.configs[name] = {
            "deploymentConfigName": name,
            "deploymentConfigId": secrets.token_hex(8),
            "computePlatform": self._get_param("computePlatform") or "Server",
            "trafficRoutingConfig": self._get_param("trafficRoutingConfig") or {},
            "createTime": records.now(),
        }
        return ActionResult({"deploymentConfigId": host.configs[name]["deploymentConfigId"]})

    def get_deployment_group(self: Any) -> Any:
        group = self.codedeploy_backend.get_deployment_group(
            self._get_param("applicationName"), self._get_param("deploymentGroupName")
        )
        return ActionResult({"deploymentGroupInfo": _group_info(self.codedeploy_backend, group)})

    def batch_get_deployment_groups(self: Any) -> Any:
        app = self._get_param("applicationName", "")
        found, missing = [], []
        for name in self._get_param("deploymentGroupNames") or []:
            try:
                group = self.codedeploy_backend.get_deployment_group(app, name)
            except CodeDeployException:
                missing.append(name)
                continue
            found.append(_group_info(self.codedeploy_backend, group))
        answer: dict[str, Any] = {"deploymentGroupsInfo": found}
        if missing:
            answer["errorMessage"] = f"Deployment groups not found: {', '.join(missing)}"
        return ActionResult(answer)

    handlers = {
        "batch_get_deployment_groups": batch_get_deployment_groups,
        "get_deployment_group": get_deployment_group,
        "create_deployment": create_deployment,
        "get_deployment": get_deployment,
        "batch_get_deployments": batch_get_deployments,
        "stop_deployment": stop_deployment,
        "continue_deployment": continue_deployment,
        "list_deployment_targets": list_deployment_targets,
        "get_deployment_target": get_deployment_target,
        "batch_get_deployment_targets": batch_get_deployment_targets,
        "get_deployment_config": get_deployment_config,
        "create_deployment_config": create_deployment_config,
    }
    for name, fn in handlers.items():
        setattr(R, name, fn)

    def undo() -> None:
        for name, fn in originals.items():
            if fn is None:
                delattr(R, name)
            else:
                setattr(R, name, fn)
        if host.step in scheduler.steppers:
            scheduler.steppers.remove(host.step)

    return undo


# -- helpers ------------------------------------------------------------------------------


def _group_info(backend: Any, group: Any) -> dict[str, Any]:
    """moto's deployment group, with what CodeDeploy also says of it: its last attempted and
    last successful deployments (LastDeploymentInfo), left out while there is none."""
    from moto.codedeploy.responses import _deployment_group_info

    info = _deployment_group_info(group)
    info.pop("lastSuccessfulDeployment", None)
    info.pop("lastAttemptedDeployment", None)
    ours = [d for d in backend.deployments.values() if d.deployment_group is group]
    ours.sort(key=lambda d: d.create_time)

    def last(deployment: Any) -> dict[str, Any]:
        shown = {
            "deploymentId": deployment.deployment_id,
            "status": deployment.status,
            "createTime": deployment.create_time,
        }
        if deployment.complete_time is not None:
            shown["endTime"] = deployment.complete_time
        return shown

    if ours:
        info["lastAttemptedDeployment"] = last(ours[-1])
    succeeded = [d for d in ours if d.status == "Succeeded"]
    if succeeded:
        info["lastSuccessfulDeployment"] = last(succeeded[-1])
    return info


def d_config(run: Run) -> str:
    return str(run.deployment.deployment_config_name or "CodeDeployDefault.ECSAllAtOnce")


def _events(names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return {name: {"status": "Pending"} for name in names}


def _deployment_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "d-" + "".join(secrets.choice(alphabet) for _ in range(9))


def _task_set(ref: ServiceRef, task_definition: str, load_balancers: list[dict[str, Any]]) -> Any:
    from moto.ecs.models import TaskSet

    svc = ref.service
    region, account = svc.arn.split(":")[3], svc.arn.split(":")[4]
    cluster = svc.cluster_arn.rsplit("/", 1)[-1]
    ts: Any = TaskSet(
        svc.name,
        cluster,
        task_definition,
        account,
        region,
        load_balancers=load_balancers,
        launch_type=svc.launch_type or "EC2",
        scale={"value": 100.0, "unit": "PERCENT"},
    )
    ts.id = f"ecs-svc/{secrets.randbelow(10**19):019d}"
    ts.task_set_arn = ts.task_set_arn.rsplit("/", 2)[0] + f"/{ts.id}"
    ts.service_arn, ts.cluster_arn = svc.arn, svc.cluster_arn
    ts.computed_desired_count = ts.running_count = ts.pending_count = 0
    ts.stabilityStatus = "STABILIZING"
    return ts


def _appspec(revision: dict[str, Any]) -> dict[str, Any]:
    content = (revision.get("appSpecContent") or {}).get("content")
    if revision.get("revisionType") != "AppSpecContent" or not content:
        raise ValueError("revisionType AppSpecContent with its content is required")
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        import yaml  # type: ignore[import-untyped]

        data = yaml.safe_load(content)
    if not isinstance(data, dict):
        raise ValueError("the AppSpec is not a mapping")
    return data


def _target_service(appspec: dict[str, Any]) -> dict[str, Any]:
    for resource in appspec.get("Resources") or []:
        for body in resource.values():
            if isinstance(body, dict) and body.get("Type") == "AWS::ECS::Service":
                props: dict[str, Any] = body.get("Properties") or {}
                return props
    raise ValueError("no AWS::ECS::Service resource")


def _appspec_for(ts: Any) -> dict[str, Any]:
    lb = ts.load_balancers[0] if ts.load_balancers else {}
    props: dict[str, Any] = {"TaskDefinition": ts.task_definition}
    if lb:
        props["LoadBalancerInfo"] = {
            "ContainerName": lb.get("containerName"),
            "ContainerPort": lb.get("containerPort"),
        }
    return {
        "version": 0.0,
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": props}}],
    }


def _ecs_service(group: Any) -> tuple[str, str]:
    services = group.ecs_services or [{}]
    return str(services[0].get("clusterName", "")), str(services[0].get("serviceName", ""))


def _rolls_back_on(group: Any, event: str) -> bool:
    conf = group.auto_rollback_configuration or {}
    return bool(conf.get("enabled")) and event in (conf.get("events") or [])


def _pairs(group: Any) -> list[dict[str, Any]]:
    return list((group.load_balancer_info or {}).get("targetGroupPairInfoList") or [])


def _prod_listeners(group: Any) -> list[str]:
    return [
        arn
        for p in _pairs(group)
        for arn in (p.get("prodTrafficRoute") or {}).get("listenerArns", [])
    ]


def _test_listeners(group: Any) -> list[str]:
    return [
        arn
        for p in _pairs(group)
        for arn in (p.get("testTrafficRoute") or {}).get("listenerArns", [])
    ]


def _target_group_arns(svc: Any, group: Any) -> list[str]:
    """The ARNs of the group's two target groups (it names them; ELB knows their ARNs)."""
    names = [tg.get("name") for p in _pairs(group) for tg in p.get("targetGroups") or []]
    elbv2 = _elbv2(svc.cluster_arn)
    by_name = {tg.name: arn for arn, tg in elbv2.target_groups.items()}
    return [by_name[n] for n in names if n in by_name]


def _tg_name(ts: Any) -> str:
    arn = ts.load_balancers[0].get("targetGroupArn", "") if ts.load_balancers else ""
    match = re.search(r":targetgroup/([^/]+)/", str(arn))
    return match.group(1) if match else ""


def _ready(task: dict[str, Any]) -> bool:
    if task["lastStatus"] != "RUNNING":
        return False
    return all(
        telemetry.HEALTH.get(key, ("",))[0] == "healthy" for key in task.get("_targets", [])
    ) and (not task["_health_check"] or task["healthStatus"] == "HEALTHY")


def _elbv2(cluster_arn: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    region, account = cluster_arn.split(":")[3], cluster_arn.split(":")[4]
    return elbv2_backends[account][region]


def _codedeploy_backend(cluster_arn: str) -> Any:
    from moto.codedeploy.models import codedeploy_backends

    region, account = cluster_arn.split(":")[3], cluster_arn.split(":")[4]
    return codedeploy_backends[account][region]


# -- seeding ------------------------------------------------------------------------------


def seed(
    sandbox: Any,
    cluster: str,
    service: str = "web",
    image: str = "nginx:1.25",
    *,
    desired_count: int = 2,
    family: str | None = None,
    container_name: str = "web",
    container_port: int = 80,
    environment: dict[str, str] | None = None,
    deployment_config: str = "CodeDeployDefault.ECSAllAtOnce",
    ready_wait_minutes: int | None = None,
    termination_wait_minutes: int = 0,
    auto_rollback: bool = True,
    test_listener: bool = False,
    application: str | None = None,
    group: str | None = None,
    wait: bool = True,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """A CODE_DEPLOY service `service` in `cluster` behind an ALB (production listener on
    port 80, a test listener on 8080 with `test_listener`), with two target groups (blue
    serves, green waits), and a CodeDeploy application (`application`, default
    CLUSTER-SERVICE) with a deployment group (`group`, default the same) for it.

    `ready_wait_minutes`: None lets traffic move at once (CONTINUE_DEPLOYMENT); a number
    waits at Ready that long for ContinueDeployment (STOP_DEPLOYMENT). `auto_rollback` rolls
    back on DEPLOYMENT_FAILURE and DEPLOYMENT_STOP_ON_REQUEST. Waits (`wait`) until the first
    task set is steady. Returns the names and ARNs: cluster, service, application, group,
    load_balancer, target_groups (blue, green), listeners (prod[, test]), task_definition."""
    ec2, elbv2, ecs = sandbox.client("ec2"), sandbox.client("elbv2"), sandbox.client()
    cd = sandbox.client("codedeploy")
    application = application or f"{cluster}-{service}"
    group = group or f"{cluster}-{service}"
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    short = f"{cluster}-{service}"[:24]
    alb = elbv2.create_load_balancer(Name=f"{short}-alb", Subnets=subnets)["LoadBalancers"][0]
    groups = {}
    for colour in ("blue", "green"):
        tg = elbv2.create_target_group(
            Name=f"{short}-{colour}"[:32],
            Protocol="HTTP",
            Port=container_port,
            VpcId=vpc,
            TargetType="ip",
        )["TargetGroups"][0]
        groups[colour] = (tg["TargetGroupName"], tg["TargetGroupArn"])
    forward = [{"Type": "forward", "TargetGroupArn": groups["blue"][1]}]
    listeners = {
        "prod": elbv2.create_listener(
            LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward
        )["Listeners"][0]["ListenerArn"]
    }
    if test_listener:
        listeners["test"] = elbv2.create_listener(
            LoadBalancerArn=alb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=8080,
            DefaultActions=forward,
        )["Listeners"][0]["ListenerArn"]
    ecs.create_cluster(clusterName=cluster)
    main: dict[str, Any] = {
        "name": container_name,
        "image": image,
        "memory": 128,
        "essential": True,
        "portMappings": [{"containerPort": container_port}],
    }
    if environment:
        main["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
    td = ecs.register_task_definition(family=family or service, containerDefinitions=[main])
    td_arn = td["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=cluster,
        serviceName=service,
        taskDefinition=td_arn,
        desiredCount=desired_count,
        deploymentController={"type": "CODE_DEPLOY"},
        loadBalancers=[
            {
                "targetGroupArn": groups["blue"][1],
                "containerName": container_name,
                "containerPort": container_port,
            }
        ],
    )
    cd.create_application(applicationName=application, computePlatform="ECS")
    pair: dict[str, Any] = {
        "targetGroups": [{"name": groups["blue"][0]}, {"name": groups["green"][0]}],
        "prodTrafficRoute": {"listenerArns": [listeners["prod"]]},
    }
    if test_listener:
        pair["testTrafficRoute"] = {"listenerArns": [listeners["test"]]}
    ready: dict[str, Any] = {"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0}
    if ready_wait_minutes is not None:
        ready = {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": ready_wait_minutes}
    cd.create_deployment_group(
        applicationName=application,
        deploymentGroupName=group,
        deploymentConfigName=deployment_config,
        serviceRoleArn="arn:aws:iam::123456789012:role/ecsCodeDeployRole",
        deploymentStyle={
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        },
        blueGreenDeploymentConfiguration={
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE",
                "terminationWaitTimeInMinutes": termination_wait_minutes,
            },
            "deploymentReadyOption": ready,
        },
        autoRollbackConfiguration={
            "enabled": auto_rollback,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"] if auto_rollback else [],
        },
        loadBalancerInfo={"targetGroupPairInfoList": [pair]},
        ecsServices=[{"serviceName": service, "clusterName": cluster}],
    )
    deadline = time.monotonic() + timeout
    while wait:
        sets = (
            ecs.describe_services(cluster=cluster, services=[service])["services"][0].get(
                "taskSets"
            )
            or []
        )
        if sets and sets[0].get("runningCount") == desired_count:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"seeded CODE_DEPLOY service {service} did not become steady")
        sandbox.scheduler.step()  # stepped here, not waited for: a session seeds many
    return {
        "cluster": cluster,
        "service": service,
        "application": application,
        "group": group,
        "load_balancer": alb["LoadBalancerArn"],
        "target_groups": {colour: arn for colour, (_, arn) in groups.items()},
        "listeners": listeners,
        "task_definition": td_arn,
    }
