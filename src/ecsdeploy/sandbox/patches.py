"""Patches to moto's ECS responses so the sandbox behaves as ECS documents.

Measured on moto 5.2.5: it starts no tasks for services; UpdateService edits deployments[0]
in place and stores the task definition as the raw string passed; ListTasks ignores
serviceName and pagination; ListTaskDefinitions ignores sort and pagination; DescribeTasks
has no 100-ARN limit and moves tasks toward STOPPED on every call; RunTask crashes when
memory is set only at task level. Each patched handler below replaces one of those;
`check_compatible` fails loudly when an upgrade moves them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

EXPECTED_MOTO = "5.2."
PATCHED = (
    "list_clusters",
    "list_services",
    "describe_services",
    "create_service",
    "update_service",
    "list_tasks",
    "describe_tasks",
    "run_task",
    "stop_task",
    "register_task_definition",
    "list_task_definitions",
)
#: Operations moto does not have at all; the sandbox adds them.
ADDED = (
    "list_service_deployments",
    "describe_service_deployments",
    "describe_service_revisions",
    "stop_service_deployment",
    "continue_service_deployment",
)
DESCRIBE_SERVICE_DEPLOYMENTS_LIMIT = 20  # also DescribeServiceRevisions'
LIST_SERVICE_DEPLOYMENTS_PAGE = 20
BRIEF_FIELDS = (
    "serviceDeploymentArn",
    "serviceArn",
    "clusterArn",
    "startedAt",
    "createdAt",
    "finishedAt",
    "status",
    "statusReason",
)
DESCRIBE_TASKS_LIMIT = 100
DESCRIBE_SERVICES_LIMIT = 10
LIST_PAGE = 100
LIST_SERVICES_PAGE = 10  # ListServices' default maxResults is 10, not 100


class SandboxIncompatibleError(RuntimeError):
    """The installed moto is not the one the sandbox was written against."""


def check_compatible() -> None:
    """Raise SandboxIncompatibleError if moto moved what the patches replace."""
    import moto
    from moto.core.responses import ActionResult
    from moto.ecs.models import EC2ContainerServiceBackend, Service, TaskDefinition
    from moto.ecs.responses import EC2ContainerServiceResponse

    if not moto.__version__.startswith(EXPECTED_MOTO):
        raise SandboxIncompatibleError(
            f"the sandbox patches moto {EXPECTED_MOTO}x; moto {moto.__version__} is installed "
            "(pip install -e '.[sandbox]')"
        )
    for name in PATCHED:
        if not callable(getattr(EC2ContainerServiceResponse, name, None)):
            raise SandboxIncompatibleError(f"moto's ECS responses lost {name}()")
    for name in ("describe_task_definition", "_get_service", "_get_cluster", "create_service"):
        if not callable(getattr(EC2ContainerServiceBackend, name, None)):
            raise SandboxIncompatibleError(f"moto's ECS backend lost {name}()")
    for cls, attr in ((Service, "__init__"), (TaskDefinition, "__init__")):
        if not callable(getattr(cls, attr, None)):
            raise SandboxIncompatibleError(f"moto's ECS {cls.__name__} changed")
    if not hasattr(ActionResult, "result"):
        raise SandboxIncompatibleError("moto's ActionResult changed")


def apply(scheduler: Any) -> Callable[[], None]:
    """Install the patched handlers, bound to `scheduler`; returns a function that undoes it."""
    check_compatible()
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import (
        ECSException,
        InvalidParameterException,
        ServiceNotFoundException,
    )
    from moto.ecs.responses import EC2ContainerServiceResponse as R

    from ecsdeploy.sandbox import controller, strategies, telemetry

    originals = {name: getattr(R, name) for name in PATCHED}

    def list_clusters(self: Any) -> Any:
        return _page(self, list(self.ecs_backend.list_clusters()), "clusterArns")

    def list_services(self: Any) -> Any:
        arns = originals["list_services"](self).result["serviceArns"]
        return _page(self, list(arns), "serviceArns", default=LIST_SERVICES_PAGE)

    def describe_services(self: Any) -> Any:
        if len(self._get_param("services") or []) > DESCRIBE_SERVICES_LIMIT:
            raise InvalidParameterException(
                f"services can have at most {DESCRIBE_SERVICES_LIMIT} items."
            )
        return originals["describe_services"](self)

    def create_service(self: Any) -> Any:
        result = originals["create_service"](self)
        service = result.result["service"]
        scheduler.adopt_service(
            self.ecs_backend, service, self._get_param("deploymentConfiguration")
        )
        return result

    def update_service(self: Any) -> Any:
        backend = self.ecs_backend
        cluster = self._get_param("cluster", "default")
        name = str(self._get_param("service")).rsplit("/", 1)[-1]
        service = backend._get_service(cluster, name)
        if service.status != "ACTIVE":
            raise ECSException("ServiceNotActiveException", "Service was not ACTIVE.")
        if controller.moves(service, self._get_params()):  # CODE_DEPLOY -> ECS: controller.py
            controller.move(scheduler, self, service, self._get_params())
            return ActionResult({"service": service})
        controller.refuse_code_deploy_update(service, self._get_params())
        scheduler.update_service(backend, service, self._get_params())
        return ActionResult({"service": service})

    def list_tasks(self: Any) -> Any:
        backend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        service_name = self._get_param("serviceName")
        family = self._get_param("family")
        started_by = self._get_param("startedBy")
        desired = self._get_param("desiredStatus") or "RUNNING"
        launch_type = self._get_param("launchType")
        if started_by and (service_name or family or self._get_param("containerInstance")):
            # ECS: "When you specify startedBy as the filter, it must be the only filter"
            raise InvalidParameterException("startedBy must be the only filter when specified.")
        group = f"service:{str(service_name).rsplit('/', 1)[-1]}" if service_name else None
        arns = [
            t["taskArn"]
            for t in scheduler.tasks.values()
            if t["clusterArn"] == cluster.arn
            and t["desiredStatus"] == desired
            and (not group or t["group"] == group)
            and (not started_by or t["startedBy"] == started_by)
            and (not launch_type or t["launchType"] == launch_type)
            and (
                not family or t["taskDefinitionArn"].rsplit("/", 1)[-1].rsplit(":", 1)[0] == family
            )
        ]
        return _page(self, arns, "taskArns")

    def describe_tasks(self: Any) -> Any:
        backend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        wanted = self._get_param("tasks") or []
        if not wanted:
            raise InvalidParameterException("Tasks cannot be empty.")
        if len(wanted) > DESCRIBE_TASKS_LIMIT:
            raise InvalidParameterException(
                f"Tasks cannot have more than {DESCRIBE_TASKS_LIMIT} elements."
            )
        by_id = {
            arn.rsplit("/", 1)[-1]: t
            for arn, t in scheduler.tasks.items()
            if t["clusterArn"] == cluster.arn
        }
        found, failures = [], []
        for ref in wanted:
            task = by_id.get(str(ref).rsplit("/", 1)[-1])
            if task is None:
                failures.append({"arn": ref, "reason": "MISSING"})
            else:
                found.append(task)
        return ActionResult({"tasks": found, "failures": failures})

    def run_task(self: Any) -> Any:
        backend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        taskdef = backend.describe_task_definition(self._get_param("taskDefinition"))
        count = int(self._get_param("count") or 1)
        if not 1 <= count <= 10:
            raise InvalidParameterException("count must be between 1 and 10.")
        launch_type = self._get_param("launchType") or "EC2"
        if taskdef.network_mode == "awsvpc" and not self._get_param("networkConfiguration"):
            raise InvalidParameterException(
                "Network Configuration must be provided when networkMode 'awsvpc' is specified."
            )
        tasks = [
            scheduler.create_task(
                taskdef,
                cluster_arn=cluster.arn,
                group=self._get_param("group") or f"family:{taskdef.family}",
                started_by=self._get_param("startedBy") or "",
                launch_type=launch_type,
                one_off=True,
            )
            for _ in range(count)
        ]
        return ActionResult({"tasks": tasks, "failures": []})

    def stop_task(self: Any) -> Any:
        backend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        task_id = str(self._get_param("task")).rsplit("/", 1)[-1]
        for arn, task in scheduler.tasks.items():
            if task["clusterArn"] == cluster.arn and arn.endswith("/" + task_id):
                scheduler.stop_task(task, self._get_param("reason") or "Task stopped by user")
                return ActionResult({"task": task})
        raise InvalidParameterException("The referenced task was not found.")

    def register_task_definition(self: Any) -> Any:
        # moto models a fixed list of fields; keep the rest too (ECS returns every field
        # it accepted), so a dropped field shows up in tests as it would on ECS.
        from botocore import xform_name

        result = originals["register_task_definition"](self)
        taskdef = result.result["taskDefinition"]
        for key, value in self._get_params().items():
            attr = xform_name(key)
            if key != "tags" and value is not None and not hasattr(taskdef, attr):
                setattr(taskdef, attr, value)
        return result

    def list_task_definitions(self: Any) -> Any:
        # ECS: lexicographic by family, numeric by revision; DESC reverses; 100 a page.
        backend = self.ecs_backend
        family = self._get_param("familyPrefix")
        status = self._get_param("status") or "ACTIVE"
        order = self._get_param("sort") or "ASC"
        revisions = [
            td
            for by_rev in backend.task_definitions.values()
            for td in by_rev.values()
            if td.status == status and (family is None or td.family == family)
        ]
        revisions.sort(key=lambda td: (td.family, td.revision), reverse=order == "DESC")
        return _page(self, [td.arn for td in revisions], "taskDefinitionArns")

    def list_service_deployments(self: Any) -> Any:
        # ECS: a service's deployments, newest first, 20 a page; status and createdAt filter.
        backend = self.ecs_backend
        name = str(self._get_param("service")).rsplit("/", 1)[-1]
        service = backend._get_service(self._get_param("cluster", "default"), name)
        statuses = self._get_param("status") or []
        created = self._get_param("createdAt") or {}
        after, before = _instant(created.get("after")), _instant(created.get("before"))
        briefs = [
            {
                **{k: r[k] for k in BRIEF_FIELDS if k in r},
                "targetServiceRevisionArn": r["targetServiceRevision"]["arn"],
            }
            for r in reversed(scheduler.service_deployments.values())
            if r["serviceArn"] == service.arn
            and (not statuses or r["status"] in statuses)
            and (after is None or r["createdAt"] >= after)
            and (before is None or r["createdAt"] <= before)
        ]
        return _page(self, briefs, "serviceDeployments", default=LIST_SERVICE_DEPLOYMENTS_PAGE)

    def describe_service_deployments(self: Any) -> Any:
        answer = _describe(self, "serviceDeploymentArns", scheduler.service_deployments)
        for arn in self._get_param("serviceDeploymentArns") or []:
            if arn in scheduler.service_deployments:
                strategies.seen(scheduler.service_deployments[arn])
        return answer

    def describe_service_revisions(self: Any) -> Any:
        return _describe(self, "serviceRevisionArns", scheduler.service_revisions)

    def _record(self: Any) -> dict[str, Any]:
        arn = self._get_param("serviceDeploymentArn")
        if arn not in scheduler.service_deployments:
            raise ECSException(
                "ServiceDeploymentNotFoundException", "The service deployment does not exist."
            )
        record: dict[str, Any] = scheduler.service_deployments[arn]
        return record

    def stop_service_deployment(self: Any) -> Any:
        record = _record(self)
        if (self._get_param("stopType") or "ROLLBACK") != "ROLLBACK":
            raise ECSException(
                "UnsupportedFeatureException", "The sandbox emulates stopType ROLLBACK only."
            )
        strategies.stop_deployment(scheduler, record)
        return ActionResult({"serviceDeploymentArn": record["serviceDeploymentArn"]})

    def continue_service_deployment(self: Any) -> Any:
        record = _record(self)
        action = self._get_param("action") or "CONTINUE"
        strategies.continue_deployment(scheduler, record, self._get_param("hookId"), action)
        return ActionResult({"serviceDeploymentArn": record["serviceDeploymentArn"]})

    added = {
        "stop_service_deployment": stop_service_deployment,
        "continue_service_deployment": continue_service_deployment,
        "list_service_deployments": list_service_deployments,
        "describe_service_deployments": describe_service_deployments,
        "describe_service_revisions": describe_service_revisions,
    }
    replacements = {
        "list_clusters": list_clusters,
        "list_services": list_services,
        "describe_services": describe_services,
        "create_service": create_service,
        "update_service": update_service,
        "list_tasks": list_tasks,
        "describe_tasks": describe_tasks,
        "run_task": run_task,
        "stop_task": stop_task,
        "register_task_definition": register_task_definition,
        "list_task_definitions": list_task_definitions,
    }
    for name, fn in {**added, **replacements}.items():
        setattr(R, name, fn)
    _ = ServiceNotFoundException  # imported so an upgrade that renames it fails here
    undo_targets = telemetry.patch_target_health()
    undo_rules = controller.patch_default_rules()

    def undo() -> None:
        for name, fn in originals.items():
            setattr(R, name, fn)
        for name in added:
            delattr(R, name)
        undo_targets()
        undo_rules()

    return undo


def _describe(response: Any, param: str, found: dict[str, dict[str, Any]]) -> Any:
    """Describe records by ARN (at most 20), with a MISSING failure for each unknown one."""
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException

    arns = response._get_param(param) or []
    if not 1 <= len(arns) <= DESCRIBE_SERVICE_DEPLOYMENTS_LIMIT:
        raise InvalidParameterException(
            f"{param} must have between 1 and {DESCRIBE_SERVICE_DEPLOYMENTS_LIMIT} items."
        )
    key = "serviceDeployments" if param == "serviceDeploymentArns" else "serviceRevisions"
    return ActionResult(
        {
            key: [found[a] for a in arns if a in found],
            "failures": [{"arn": a, "reason": "MISSING"} for a in arns if a not in found],
        }
    )


def _instant(value: Any) -> datetime | None:
    """A timestamp parameter (epoch seconds over JSON) as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(float(value), UTC)


def _page(response: Any, items: Sequence[Any], key: str, default: int = LIST_PAGE) -> Any:
    """One page of `items` by the request's maxResults (1-100) and opaque nextToken."""
    from moto.core.responses import ActionResult
    from moto.ecs.exceptions import InvalidParameterException

    max_results = int(response._get_param("maxResults") or default)
    if not 1 <= max_results <= LIST_PAGE:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    token = response._get_param("nextToken")
    start = _decode_token(token) if token else 0
    result: dict[str, Any] = {key: items[start : start + max_results]}
    if start + max_results < len(items):
        result["nextToken"] = _encode_token(start + max_results)
    return ActionResult(result)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str) -> int:
    from moto.ecs.exceptions import InvalidParameterException

    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise InvalidParameterException("Invalid nextToken.") from exc
