"""What a migration off CodeDeploy reads, and the checks on it (migrate.py maps it to the
requests): the service is ACTIVE with no deployment in progress, the infrastructure role is of
the service's account and ECS may assume it, the deployment group names one pair of target
groups and one production (and at most one test) listener, each listener has one rule that
only forwards, to those two target groups, without splitting traffic, and the PRIMARY task set
is the one production traffic reaches. A failed check is a problem that says its fix. The
listener rules that forward to one target group only get the other at weight 0
(`RuleChange`s). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ecsdeploy.models import short_name
from ecsdeploy.strategy import StrategyOverrides

#: The weight the target group that takes no traffic gets in a rule's forward action.
IDLE_WEIGHT = 0
#: Who must be able to assume the infrastructure role.
ECS_PRINCIPAL = "ecs.amazonaws.com"
#: What the infrastructure role must allow (AmazonECSInfrastructureRolePolicyForLoadBalancers).
ROLE_NEEDS = (
    f"trust {ECS_PRINCIPAL} and allow elasticloadbalancing:DescribeListeners, DescribeRules, "
    "DescribeTargetGroups, DescribeTargetHealth, ModifyListener, ModifyRule, "
    "RegisterTargets and DeregisterTargets (the managed policy "
    "AmazonECSInfrastructureRolePolicyForLoadBalancers)"
)


@dataclass(frozen=True)
class Found:
    """What the story read, as AWS returned it."""

    cluster: str
    service: Mapping[str, Any]  # DescribeServices' service (with its taskSets)
    group: Mapping[str, Any]  # GetDeploymentGroup's deploymentGroupInfo
    role_arn: str
    #: The group's trafficRoutingConfig (predefined, or GetDeploymentConfig's); None: unknown.
    routing: Mapping[str, Any] | None = None
    target_groups: Mapping[str, str] = field(default_factory=dict)  # name -> ARN
    rules: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)  # listener
    #: GetRole's Role; None: it does not exist. `role_checked` False: it could not be read.
    role: Mapping[str, Any] | None = None
    role_checked: bool = True
    active_deployments: Sequence[tuple[str, str]] = ()  # (deployment id, status)
    hooks: Sequence[tuple[str, str]] = ()  # (CodeDeploy lifecycle event, Lambda function)
    overrides: StrategyOverrides = field(default_factory=StrategyOverrides)
    #: The options an `aws` command printed for the user takes (` --region R`, ...).
    cli: str = ""


@dataclass(frozen=True)
class RuleChange:
    """One listener rule's new forward action: ModifyRule, or, for a listener's default
    rule, ModifyListener (ELB: "To modify the actions for the default rule, use
    ModifyListener")."""

    operation: str  # ModifyRule or ModifyListener
    request: dict[str, Any]
    rule: str  # the rule's ARN


@dataclass(frozen=True)
class Routes:
    """Where traffic goes: the target group production traffic reaches and the other one,
    the listener rules ECS will shift it on, and the ModifyRules that put both target groups
    on those rules."""

    production: str
    alternate: str
    production_rule: str
    test_rule: str | None
    changes: list[RuleChange]


def find_routes(found: Found, pair: tuple[str, str], problems: list[str]) -> Routes | None:
    """The group's listeners, read through their rules; None when a check failed."""
    group_routes = (found.group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList")
    route = (group_routes or [{}])[0]
    listeners = {
        role: list((route.get(key) or {}).get("listenerArns") or [])
        for role, key in (("production", "prodTrafficRoute"), ("test", "testTrafficRoute"))
    }
    for role, arns in listeners.items():
        if len(arns) > 1 or (role == "production" and not arns):
            problems.append(
                f"the deployment group names {len(arns)} {role} listeners: ECS shifts "
                f"{role} traffic on one listener rule; give the group one"
            )
            return None
    prod_rule = _rule_for(found, listeners["production"][0], pair, "production", problems)
    production = _serving(prod_rule, pair, "production", problems) if prod_rule else None
    if prod_rule is None or production is None:
        return None
    alternate = pair[1] if production == pair[0] else pair[0]
    _check_task_sets(found.service, production, problems)
    prod_listener = listeners["production"][0]
    changes = [_with_both(prod_rule, prod_listener, production, alternate)]
    test_rule = None
    if listeners["test"]:
        test_rule = _rule_for(found, listeners["test"][0], pair, "test", problems)
        if test_rule is None or not _serving(test_rule, pair, "test", problems):
            return None
        changes.append(_with_both(test_rule, listeners["test"][0], production, alternate))
    return Routes(
        production=production,
        alternate=alternate,
        production_rule=str(prod_rule["RuleArn"]),
        test_rule=str(test_rule["RuleArn"]) if test_rule is not None else None,
        changes=[c for c in changes if c is not None],
    )


# -- the checks -------------------------------------------------------------------------------


def check_service(service: Mapping[str, Any], found: Found, problems: list[str]) -> None:
    """The service is ACTIVE, and no deployment is in progress (CodeDeploy's or ECS's)."""
    name = service.get("serviceName", "")
    if service.get("status") != "ACTIVE":
        problems.append(
            f"service {name} is {service.get('status')}: only an ACTIVE service can be migrated"
        )
    for deployment_id, status in found.active_deployments:
        problems.append(
            f"CodeDeploy deployment {deployment_id} is {status} on deployment group "
            f"{found.group.get('deploymentGroupName')}: let it end (or stop it: aws deploy "
            f"stop-deployment --deployment-id {deployment_id}{found.cli}), then migrate"
        )
    sets = service.get("taskSets") or []
    busy = [d for d in service.get("deployments") or [] if d.get("rolloutState") == "IN_PROGRESS"]
    if len(sets) > 1 and not found.active_deployments:
        # A deployment stopped without rollback leaves its replacement task set: it never ends.
        extra = [str(ts.get("id")) for ts in sets if ts.get("status") != "PRIMARY"]
        cluster = found.cluster
        deletes = "; ".join(
            f"aws ecs delete-task-set --cluster {cluster} --service {name} --task-set {ts} "
            f"--force{found.cli}"
            for ts in extra
        )
        problems.append(
            f"service {name} has {len(sets)} task sets and no CodeDeploy deployment is "
            "active (a deployment stopped without rollback leaves its replacement task set, "
            f"which stays until removed): delete the one(s) not PRIMARY ({deletes}), or deploy "
            "the service once more through CodeDeploy, then migrate"
        )
    elif len(sets) > 1 or busy:
        what = f"{len(sets)} task sets" if len(sets) > 1 else f"deployment {busy[0].get('id')}"
        problems.append(
            f"ECS shows a deployment in progress on service {name} ({what}): let it end, "
            "then migrate"
        )


def foreign_role(role_arn: str, service_arn: str) -> str | None:
    """Why the role cannot be the service's infrastructure role, from the two ARNs alone: it
    is in another account (or partition) than the service; ECS takes a role of the
    service's own account only. None when they match, or either ARN is not one."""
    role, service = role_arn.split(":"), service_arn.split(":")
    if len(role) < 6 or len(service) < 6 or not service[4]:
        return None
    if (role[1], role[4]) == (service[1], service[4]):
        return None
    return (
        f"role {role_arn} (--infrastructure-role-arn) is in account {role[4]} "
        f"({role[1]}), the service in {service[4]} ({service[1]}): ECS cannot be passed a "
        "role of another account; give a role of the service's own account"
    )


def check_role(found: Found, problems: list[str]) -> None:
    """The infrastructure role is of the service's account, exists, and ECS may assume it."""
    foreign = foreign_role(found.role_arn, str(found.service.get("serviceArn") or ""))
    if foreign:
        problems.append(foreign)
        return
    if not found.role_checked:
        return  # could not be read: the story warns
    if found.role is None:
        problems.append(
            f"role {found.role_arn} (--infrastructure-role-arn) does not exist: create it; "
            f"it must {ROLE_NEEDS}"
        )
        return
    if not _trusts_ecs(found.role.get("AssumeRolePolicyDocument")):
        problems.append(
            f"role {found.role_arn} (--infrastructure-role-arn) cannot be assumed by "
            f"{ECS_PRINCIPAL}: add it to the role's trust policy; the role must {ROLE_NEEDS}"
        )


def _trusts_ecs(document: Any) -> bool:
    """Whether a trust policy (a dict, or IAM's URL-encoded JSON text) lets ECS assume it."""
    if isinstance(document, str):
        try:
            document = json.loads(unquote(document))
        except ValueError:
            return False
    if not isinstance(document, Mapping):
        return False
    statements = document.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal") or {}
        services = principal.get("Service", []) if isinstance(principal, Mapping) else []
        if isinstance(services, str):
            services = [services]
        if ECS_PRINCIPAL in services:
            return True
    return False


def target_group_pair(
    group: Mapping[str, Any], found: Found, problems: list[str]
) -> tuple[str, str] | None:
    """The ARNs of the group's two target groups, in the group's order."""
    pairs = (group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or []
    names = [str(t.get("name")) for t in (pairs[0].get("targetGroups") or [])] if pairs else []
    if len(pairs) != 1 or len(names) != 2:
        problems.append(
            "the deployment group does not name one pair of target groups "
            "(loadBalancerInfo.targetGroupPairInfoList): ECS blue/green needs exactly two"
        )
        return None
    missing = [n for n in names if n not in found.target_groups]
    if missing:
        problems.append(
            f"target group {', '.join(missing)} of the deployment group does not exist: "
            "create it (or fix the group), then migrate"
        )
        return None
    return found.target_groups[names[0]], found.target_groups[names[1]]


def service_load_balancer(
    service: Mapping[str, Any], pair: tuple[str, str] | None, problems: list[str]
) -> Mapping[str, Any] | None:
    """The service's load balancer entry (its container and port)."""
    balancers = [b for b in service.get("loadBalancers") or [] if b.get("targetGroupArn")]
    if len(balancers) != 1:
        problems.append(
            f"service {service.get('serviceName')} has {len(balancers)} target-group load "
            "balancers: a CodeDeploy blue/green service has one"
        )
        return None
    balancer = balancers[0]
    if pair is not None and balancer["targetGroupArn"] not in pair:
        problems.append(
            f"service {service.get('serviceName')}'s target group "
            f"{short_name(str(balancer['targetGroupArn']))} is not one of its deployment "
            "group's: fix the deployment group, then migrate"
        )
    if not balancer.get("containerName") or balancer.get("containerPort") is None:
        problems.append("the service's load balancer names no container and port")
        return None
    return dict(balancer)


def _forward_targets(rule: Mapping[str, Any]) -> list[tuple[str, int]] | None:
    """A rule's forward targets (ARN, weight); None when it does more than forward."""
    actions = list(rule.get("Actions") or [])
    if len(actions) != 1 or actions[0].get("Type") != "forward":
        return None
    action = actions[0]
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
    if groups:
        return [(str(g["TargetGroupArn"]), int(g.get("Weight", 1))) for g in groups]
    if action.get("TargetGroupArn"):
        return [(str(action["TargetGroupArn"]), 1)]
    return None


def _named_groups(rule: Mapping[str, Any]) -> set[str]:
    """Every target group any action of the rule forwards to."""
    named = set()
    for action in rule.get("Actions") or []:
        named.add(action.get("TargetGroupArn"))
        forward = action.get("ForwardConfig") or {}
        named.update(g.get("TargetGroupArn") for g in forward.get("TargetGroups") or [])
    return {str(n) for n in named if n}


def _rule_for(
    found: Found, listener: str, pair: tuple[str, str], role: str, problems: list[str]
) -> Mapping[str, Any] | None:
    """The one rule of `listener` that forwards to the pair's target groups."""
    rules = found.rules.get(listener)
    if rules is None:
        problems.append(f"the {role} listener {listener} does not exist: fix the group")
        return None
    matching = [r for r in rules if _named_groups(r) & set(pair)]
    if len(matching) != 1:
        problems.append(
            f"the {role} listener {short_name(listener)} has {len(matching)} rules that "
            "forward to the service's target groups: ECS shifts traffic on exactly one "
            f"({role}ListenerRule); keep one rule forwarding to them"
        )
        return None
    rule = matching[0]
    targets = _forward_targets(rule)
    if targets is None:
        problems.append(
            f"the {role} listener rule {rule.get('RuleArn')} has actions besides one forward "
            "(authenticate, redirect, fixed-response): ECS blue/green cannot shift traffic on "
            "it; make its only action a forward to the target groups"
        )
        return None
    others = [arn for arn, _ in targets if arn not in pair]
    if others:
        problems.append(
            f"the {role} listener rule {rule.get('RuleArn')} also forwards to "
            f"{', '.join(short_name(o) for o in others)}: ECS shifts traffic between the "
            "deployment group's two target groups only; remove the others from the rule"
        )
        return None
    return rule


def _serving(
    rule: Mapping[str, Any], pair: tuple[str, str], role: str, problems: list[str]
) -> str | None:
    """The target group the rule sends its traffic to (one, not split)."""
    targets = _forward_targets(rule) or []
    serving = [arn for arn, weight in targets if weight > 0]
    if len(serving) != 1:
        shares = ", ".join(f"{short_name(a)}={w}" for a, w in targets)
        problems.append(
            f"the {role} listener rule {rule.get('RuleArn')} splits traffic ({shares}): a "
            "CodeDeploy deployment did not finish; let it end (or roll it back), then migrate"
        )
        return None
    return serving[0]


def _check_task_sets(service: Mapping[str, Any], production: str, problems: list[str]) -> None:
    """The PRIMARY task set (where CodeDeploy says the service runs) is the one production
    traffic reaches."""
    for task_set in service.get("taskSets") or []:
        if task_set.get("status") != "PRIMARY":
            continue
        groups = [b.get("targetGroupArn") for b in task_set.get("loadBalancers") or []]
        if groups and production not in groups:
            problems.append(
                f"the PRIMARY task set runs in {short_name(str(groups[0]))} but the production "
                f"listener sends traffic to {short_name(production)}: CodeDeploy left the "
                "service half moved; redeploy it with CodeDeploy, then migrate"
            )


def _with_both(
    rule: Mapping[str, Any], listener: str, production: str, alternate: str
) -> RuleChange | None:
    """The change that associates both target groups with `rule` (the missing one at
    weight 0: no request goes elsewhere); None when both already are."""
    targets = _forward_targets(rule) or []
    present = {arn for arn, _ in targets}
    if production in present and alternate in present:
        return None
    weights = dict(targets)
    wanted = [(production, weights.get(production, IDLE_WEIGHT))]
    wanted.append((alternate, weights.get(alternate, IDLE_WEIGHT)))
    if all(w == IDLE_WEIGHT for _, w in wanted):
        return None  # cannot happen with a serving rule
    # one target group at weight 1 and the other at 0: as 100 and 0 (ECS's own weights)
    wanted = [(arn, 100 if w > 0 else IDLE_WEIGHT) for arn, w in wanted]
    action = dict((rule.get("Actions") or [{}])[0])
    forward: dict[str, Any] = {
        "TargetGroups": [{"TargetGroupArn": arn, "Weight": w} for arn, w in wanted]
    }
    stickiness = (action.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
    if stickiness:
        forward["TargetGroupStickinessConfig"] = stickiness
    new_action: dict[str, Any] = {"Type": "forward", "ForwardConfig": forward}
    if action.get("Order") is not None:
        new_action["Order"] = action["Order"]
    arn = str(rule["RuleArn"])
    if rule.get("IsDefault") or rule.get("Priority") == "default":
        request = {"ListenerArn": listener, "DefaultActions": [new_action]}
        return RuleChange("ModifyListener", request, arn)
    return RuleChange("ModifyRule", {"RuleArn": arn, "Actions": [new_action]}, arn)
