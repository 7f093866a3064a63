"""UpdateService that moves a CODE_DEPLOY service onto the ECS deployment controller, as ECS
does for "Migrate CodeDeploy blue/green deployments to Amazon ECS blue/green deployments":
refused (InvalidParameterException) while a CodeDeploy deployment of the service is not
final, or when a native strategy's load balancer lacks its advancedConfiguration; else the
service takes the new controller, load balancers and deployment configuration, and its tasks
belong to one ECS deployment of its current revision from then on.

moto 5.2.5 stores deploymentController at CreateService only; its UpdateService ignores it.
The scheduler's UpdateService (patches.py) hands such a request here first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: CodeDeploy's deployment statuses that are not final.
ACTIVE_CODEDEPLOY_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
NATIVE = ("BLUE_GREEN", "LINEAR", "CANARY")


def moves(service: Any, params: dict[str, Any]) -> bool:
    """Whether this UpdateService changes the service's deployment controller."""
    wanted = (params.get("deploymentController") or {}).get("type")
    return bool(wanted) and wanted != service.deployment_controller.get("type", "ECS")


#: What UpdateService cannot change on a CODE_DEPLOY service (UpdateService's reference: "If
#: the network configuration, platform version, task definition, or load balancer need to be
#: updated, create a new CodeDeploy deployment"), with the words of ECS's refusal.
_CODE_DEPLOY_FIXED = {
    "taskDefinition": "task definition",
    "networkConfiguration": "network parameters",
    "platformVersion": "platform version",
    "loadBalancers": "load balancers",
}


def refuse_code_deploy_update(service: Any, params: dict[str, Any]) -> None:
    """ECS refuses an UpdateService that would change what only a CodeDeploy deployment
    changes on a CODE_DEPLOY service (InvalidParameterException); moto lets it through."""
    from moto.ecs.exceptions import InvalidParameterException

    if service.deployment_controller.get("type") != "CODE_DEPLOY":
        return
    for key, words in _CODE_DEPLOY_FIXED.items():
        if params.get(key) is not None:
            raise InvalidParameterException(
                f"Unable to update {words} on services with a CODE_DEPLOY deployment "
                "controller. Use AWS CodeDeploy to trigger a new deployment."
            )


def move(scheduler: Any, response: Any, service: Any, params: dict[str, Any]) -> None:
    """Apply a controller change (CODE_DEPLOY -> ECS), or refuse it as ECS does."""
    from moto.ecs.exceptions import InvalidParameterException

    wanted = params["deploymentController"]["type"]
    current = service.deployment_controller.get("type", "ECS")
    if (current, wanted) != ("CODE_DEPLOY", "ECS"):
        raise InvalidParameterException(
            f"Updating the deployment controller from {current} to {wanted} is not supported."
        )
    active = _active_codedeploy(response, service)
    if active:
        raise InvalidParameterException(
            f"Unable to update the deployment controller of service {service.name}: CodeDeploy "
            f"deployment {active} is in progress."
        )
    if params.get("taskDefinition"):
        raise InvalidParameterException(
            "The task definition cannot be updated with the deployment controller."
        )
    conf = {**service.deployment_configuration, **(params.get("deploymentConfiguration") or {})}
    balancers = params.get("loadBalancers") or service.load_balancers
    if conf.get("strategy") in NATIVE:
        for balancer in balancers:
            advanced = balancer.get("advancedConfiguration") or {}
            missing = [
                k
                for k in ("alternateTargetGroupArn", "productionListenerRule", "roleArn")
                if not advanced.get(k)
            ]
            if balancer.get("targetGroupArn") and missing:
                raise InvalidParameterException(
                    f"loadBalancers.advancedConfiguration must specify {', '.join(missing)} "
                    f"for the {conf['strategy']} deployment strategy."
                )
    service.deployment_controller = {"type": "ECS"}
    service.deployment_configuration = conf
    service.load_balancers = balancers
    ref = scheduler.services.get(service.arn)
    if ref is None:
        scheduler.adopt_service(response.ecs_backend, service, conf)
        return
    # The tasks CodeDeploy's task set ran are the new controller's first deployment.
    deployment = scheduler._new_deployment(service, service.task_definition)
    for task in scheduler.wanted_tasks(service):
        task["startedBy"] = deployment["id"]
    service.deployments = [deployment]
    scheduler._open_service_deployment(service, deployment, None)
    scheduler.event(
        service,
        f"(service {service.name}) now uses the ECS deployment controller "
        f"({conf.get('strategy', 'ROLLING')}).",
    )


def _active_codedeploy(response: Any, service: Any) -> str | None:
    """The id of a CodeDeploy deployment of `service` that is not final, if there is one."""
    from moto.codedeploy.models import codedeploy_backends

    backend = codedeploy_backends[response.current_account][response.region]
    cluster = service.cluster_arn.rsplit("/", 1)[-1]
    for deployment in backend.deployments.values():
        group = deployment.deployment_group
        names = any(
            s.get("serviceName") == service.name
            and str(s.get("clusterName", "")).rsplit("/", 1)[-1] == cluster
            for s in group.ecs_services
        )
        if names and deployment.status in ACTIVE_CODEDEPLOY_STATUSES:
            return str(deployment.deployment_id)
    return None


def patch_default_rules() -> Callable[[], None]:
    """ELB refuses ModifyRule on a listener's default rule ("To modify the actions for the
    default rule, use ModifyListener"); moto lets it through. Returns the undo."""
    from moto.elbv2.exceptions import ELBClientError
    from moto.elbv2.models import ELBv2Backend

    original = ELBv2Backend.modify_rule

    def modify_rule(self: Any, rule_arn: str, conditions: Any, actions: Any) -> Any:
        rules = self.describe_rules(listener_arn=None, rule_arns=[rule_arn])
        if rules and rules[0].is_default:
            raise ELBClientError(
                "OperationNotPermitted",
                "The default rule cannot be modified with ModifyRule: use ModifyListener.",
            )
        return original(self, rule_arn, conditions, actions)

    setattr(ELBv2Backend, "modify_rule", modify_rule)  # noqa: B010  (patching moto)

    def undo() -> None:
        setattr(ELBv2Backend, "modify_rule", original)  # noqa: B010

    return undo
