"""Moving a CODE_DEPLOY service onto ECS's own blue/green, as a pure mapping: from what AWS
says (the service, its CodeDeploy deployment group and that group's traffic routing, the
load balancer's target groups and listener rules, the infrastructure role) to the requests
that move it in place and the checks that must all pass first (migratechecks.py). No I/O
here: the story in migration.py reads, prints the plan and writes.

AWS's prerequisites ("Migrate CodeDeploy blue/green deployments to Amazon ECS blue/green
deployments"): no deployment in progress, a role ECS can assume to change the load balancer,
and both target groups associated with the listener rules ECS shifts traffic on (else the
first deployment rolls back: "Both targetGroup and alternateTargetGroup must be associated
with the productionListenerRule or testListenerRule"). CodeDeploy's listeners forward to one
target group, so the rules usually need the other one added: that change is planned here
(the missing group at weight 0, so no request is routed differently: ModifyRule, or
ModifyListener for a listener's default rule, which ModifyRule cannot change) and sent,
behind the same dry run, before the UpdateService.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ecsdeploy.errors import UsageError
from ecsdeploy.limits import CANARY_PERCENT_RANGE, LINEAR_STEP_PERCENT_RANGE, MAX_BAKE_MINUTES
from ecsdeploy.migratechecks import (
    Found,
    RuleChange,
    check_role,
    check_service,
    find_routes,
    service_load_balancer,
    target_group_pair,
)
from ecsdeploy.strategy import merge_deployment_configuration

#: CodeDeploy's predefined ECS deployment configurations, as GetDeploymentConfig describes
#: them (trafficRoutingConfig): no call is needed for these.
PREDEFINED_CONFIGS: dict[str, dict[str, Any]] = {
    "CodeDeployDefault.ECSAllAtOnce": {"type": "AllAtOnce"},
    "CodeDeployDefault.ECSCanary10Percent5Minutes": {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5},
    },
    "CodeDeployDefault.ECSCanary10Percent15Minutes": {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 15},
    },
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": {
        "type": "TimeBasedLinear",
        "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 1},
    },
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": {
        "type": "TimeBasedLinear",
        "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 3},
    },
}
#: Each CodeDeploy ECS lifecycle hook, and the ECS lifecycle stage where the same moment
#: falls. ECS's hooks have another contract (the Lambda returns hookStatus instead of calling
#: PutLifecycleEventHookExecutionStatus; a role lets ECS invoke it), so none is carried.
HOOK_STAGES = {
    "BeforeInstall": "PRE_SCALE_UP",
    "AfterInstall": "POST_SCALE_UP",
    "AfterAllowTestTraffic": "POST_TEST_TRAFFIC_SHIFT",
    "BeforeAllowTraffic": "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "AfterAllowTraffic": "POST_PRODUCTION_TRAFFIC_SHIFT",
}


@dataclass(frozen=True)
class Hook:
    """A CodeDeploy lifecycle hook that is not carried, and where it would go in ECS."""

    event: str
    function: str
    stage: str | None  # None: CodeDeploy's own event, no ECS stage


@dataclass
class Plan:
    """The requests that move the service (rules first, then the service), the checks that
    failed (each says its fix: nothing is sent unless there are none), what is not carried,
    and the request that goes back."""

    update: dict[str, Any]
    rule_changes: list[RuleChange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    back: dict[str, Any] = field(default_factory=dict)

    @property
    def requests(self) -> dict[str, Any]:
        """The requests, by operation, in the order they are sent."""
        found: dict[str, Any] = {}
        for change in self.rule_changes:
            found.setdefault(change.operation, []).append(change.request)
        found["UpdateService"] = self.update
        return found


def routing_of(config_name: str) -> dict[str, Any] | None:
    """A predefined configuration's trafficRoutingConfig; None for a custom one (read it
    with GetDeploymentConfig)."""
    known = PREDEFINED_CONFIGS.get(config_name)
    return json.loads(json.dumps(known)) if known is not None else None


def strategy_of(routing: Mapping[str, Any]) -> dict[str, Any]:
    """A CodeDeploy trafficRoutingConfig as ECS's strategy fields: AllAtOnce -> BLUE_GREEN,
    TimeBasedCanary -> CANARY (canaryPercentage/canaryInterval), TimeBasedLinear -> LINEAR
    (linearPercentage/linearInterval)."""
    kind = routing.get("type") or "AllAtOnce"
    if kind == "TimeBasedCanary":
        canary = routing.get("timeBasedCanary") or {}
        return {
            "strategy": "CANARY",
            "canaryConfiguration": {
                "canaryPercent": float(canary.get("canaryPercentage", 0)),
                "canaryBakeTimeInMinutes": int(canary.get("canaryInterval", 0)),
            },
        }
    if kind == "TimeBasedLinear":
        linear = routing.get("timeBasedLinear") or {}
        return {
            "strategy": "LINEAR",
            "linearConfiguration": {
                "stepPercent": float(linear.get("linearPercentage", 0)),
                "stepBakeTimeInMinutes": int(linear.get("linearInterval", 0)),
            },
        }
    return {"strategy": "BLUE_GREEN"}


def plan(found: Found) -> Plan:
    """The migration of `found.service` onto ECS's controller: every check, and the requests.
    A strategy option that the resulting strategy does not use is a UsageError."""
    service, group = found.service, found.group
    name = str(service.get("serviceName", ""))
    problems: list[str] = []
    notes: list[str] = []
    check_service(service, found, problems)

    # The load balancer: which target group takes production traffic, and the rules.
    pair = target_group_pair(group, found, problems)
    balancer = service_load_balancer(service, pair, problems)
    routes = find_routes(found, pair, problems) if pair is not None else None

    conf = _deployment_configuration(found, problems, notes)
    load_balancer: dict[str, Any] = {}
    if balancer is not None and routes is not None:
        advanced = {
            "alternateTargetGroupArn": routes.alternate,
            "productionListenerRule": routes.production_rule,
            "roleArn": found.role_arn,
        }
        if routes.test_rule is not None:
            advanced["testListenerRule"] = routes.test_rule
        load_balancer = {
            "targetGroupArn": routes.production,
            "containerName": balancer.get("containerName"),
            "containerPort": balancer.get("containerPort"),
            "advancedConfiguration": advanced,
        }
    update: dict[str, Any] = {
        "cluster": found.cluster,
        "service": name,
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": conf,
    }
    if load_balancer:
        update["loadBalancers"] = [load_balancer]
    check_role(found, problems)
    hooks = [Hook(e, f, HOOK_STAGES.get(e)) for e, f in found.hooks]
    return Plan(
        update=update,
        rule_changes=routes.changes if routes is not None else [],
        problems=problems,
        hooks=hooks,
        notes=notes,
        back=_way_back(found, routes.production if routes else None, balancer),
    )


# -- the deployment configuration --------------------------------------------------------------


def _deployment_configuration(
    found: Found, problems: list[str], notes: list[str]
) -> dict[str, Any]:
    """ECS's deploymentConfiguration from the group's: the strategy from its traffic
    routing, the bake time from its termination wait, the Ready wait as a PAUSE hook, the
    alarms and automatic rollback; the strategy options override each."""
    group, overrides = found.group, found.overrides
    own = dict(found.service.get("deploymentConfiguration") or {})
    kept = {k: own[k] for k in ("maximumPercent", "minimumHealthyPercent") if k in own}
    if found.routing is None and overrides.strategy is None:
        problems.append(
            f"the deployment configuration {group.get('deploymentConfigName')} could not be "
            "read: choose the strategy with --strategy"
        )
        routed: dict[str, Any] = {"strategy": "BLUE_GREEN"}
    elif found.routing is None:
        routed = {"strategy": overrides.strategy}
    elif found.routing.get("type") not in (None, "AllAtOnce", "TimeBasedCanary", "TimeBasedLinear"):
        problems.append(
            f"the deployment configuration {group.get('deploymentConfigName')} routes traffic "
            f"as {found.routing.get('type')}, which ECS has no strategy for: choose one with "
            "--strategy"
        )
        routed = {"strategy": overrides.strategy or "BLUE_GREEN"}
    else:
        routed = strategy_of(found.routing)
    strategy = overrides.strategy or routed["strategy"]
    if strategy == "ROLLING":
        raise UsageError(
            "--migrate-to-native moves the service to ECS's blue/green, linear or canary "
            "deployments: drop --strategy rolling (or pass blue-green, linear or canary)"
        )
    base: dict[str, Any] = {**kept, "strategy": routed["strategy"]}
    for member in ("canaryConfiguration", "linearConfiguration"):
        if member in routed and strategy == routed["strategy"]:
            base[member] = routed[member]
    blue_green = group.get("blueGreenDeploymentConfiguration") or {}
    termination = blue_green.get("terminateBlueInstancesOnDeploymentSuccess") or {}
    wait = int(termination.get("terminationWaitTimeInMinutes") or 0)
    if termination.get("action") == "KEEP_ALIVE" and overrides.bake_time is None:
        problems.append(
            "the deployment group keeps the original task set running after a deployment "
            "(KEEP_ALIVE): ECS ends it after the bake time; choose the bake time with "
            f"--bake-time MINUTES (0-{MAX_BAKE_MINUTES})"
        )
    elif wait > MAX_BAKE_MINUTES and overrides.bake_time is None:
        problems.append(
            f"the deployment group waits {wait} minutes before it ends the original task "
            f"set; ECS's bake time is at most {MAX_BAKE_MINUTES}: choose one with --bake-time "
            f"MINUTES (0-{MAX_BAKE_MINUTES})"
        )
    base["bakeTimeInMinutes"] = min(wait, MAX_BAKE_MINUTES)
    conf = merge_deployment_configuration(base, overrides)
    conf["strategy"] = strategy
    _check_steps(conf, problems)
    hooks = _ready_wait(blue_green, notes)
    if hooks:
        conf["lifecycleHooks"] = hooks
    _alarms_and_rollback(group, conf, notes)
    return conf


def _check_steps(conf: Mapping[str, Any], problems: list[str]) -> None:
    """The canary or linear steps the group gives fit ECS's ranges (else: which option)."""
    canary = conf.get("canaryConfiguration") or {}
    linear = conf.get("linearConfiguration") or {}
    if conf.get("strategy") == "CANARY":
        if not canary:
            problems.append("--strategy canary needs --canary-percent and --canary-bake-time")
        elif int(canary.get("canaryBakeTimeInMinutes", 0)) > MAX_BAKE_MINUTES:
            problems.append(
                f"the canary interval of {canary['canaryBakeTimeInMinutes']} minutes is longer "
                f"than ECS allows ({MAX_BAKE_MINUTES}): choose one with --canary-bake-time"
            )
        elif not CANARY_PERCENT_RANGE[0] <= float(canary.get("canaryPercent", 0)) <= 100:
            problems.append("choose the canary's share with --canary-percent (0.1-100)")
    if conf.get("strategy") == "LINEAR":
        if not linear:
            problems.append(
                "--strategy linear needs --linear-step-percent and --linear-step-bake-time"
            )
        elif int(linear.get("stepBakeTimeInMinutes", 0)) > MAX_BAKE_MINUTES:
            problems.append(
                f"the linear interval of {linear['stepBakeTimeInMinutes']} minutes is longer "
                f"than ECS allows ({MAX_BAKE_MINUTES}): choose one with --linear-step-bake-time"
            )
        elif float(linear.get("stepPercent", 0)) < LINEAR_STEP_PERCENT_RANGE[0]:
            problems.append(
                f"the linear step of {linear['stepPercent']:g}% is below ECS's minimum "
                f"({LINEAR_STEP_PERCENT_RANGE[0]:g}%): choose one with --linear-step-percent"
            )


def _ready_wait(blue_green: Mapping[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    """CodeDeploy's Ready wait (reroute traffic only when told, STOP_DEPLOYMENT on timeout)
    is ECS's PAUSE hook after the test traffic shift, rolled back on timeout."""
    ready = blue_green.get("deploymentReadyOption") or {}
    if ready.get("actionOnTimeout") != "STOP_DEPLOYMENT":
        return []
    minutes = int(ready.get("waitTimeInMinutes") or 0)
    notes.append(
        f"the Ready wait ({minutes} min, STOP_DEPLOYMENT) becomes a PAUSE hook at "
        "POST_TEST_TRAFFIC_SHIFT that rolls back when it times out: approve each deploy with "
        "--on-pause continue, or --resume continue from another job"
    )
    return [
        {
            "targetType": "PAUSE",
            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
            "timeoutConfiguration": {"timeoutInMinutes": minutes, "action": "ROLLBACK"},
        }
    ]


def _alarms_and_rollback(group: Mapping[str, Any], conf: dict[str, Any], notes: list[str]) -> None:
    """The group's alarms (rolled back on when its automatic rollback says so) and its
    rollback on failure (ECS's circuit breaker)."""
    rollback = group.get("autoRollbackConfiguration") or {}
    events = set(rollback.get("events") or []) if rollback.get("enabled") else set()
    alarms = group.get("alarmConfiguration") or {}
    names = [str(a.get("name")) for a in alarms.get("alarms") or [] if a.get("name")]
    if alarms.get("enabled") and names:
        conf["alarms"] = {
            "alarmNames": names,
            "enable": True,
            "rollback": "DEPLOYMENT_STOP_ON_ALARM" in events,
        }
        if alarms.get("ignorePollAlarmFailure"):
            notes.append(
                "ignorePollAlarmFailure is not carried: ECS has no such setting (a deployment "
                "goes on when an alarm cannot be read)"
            )
    if "DEPLOYMENT_FAILURE" in events:
        conf["deploymentCircuitBreaker"] = {"enable": True, "rollback": True}


def _way_back(
    found: Found, production: str | None, balancer: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The UpdateService that puts the service back on CodeDeploy's controller."""
    back: dict[str, Any] = {
        "cluster": found.cluster,
        "service": found.service.get("serviceName"),
        "deploymentController": {"type": "CODE_DEPLOY"},
    }
    if production is not None and balancer is not None:
        back["loadBalancers"] = [
            {
                "targetGroupArn": production,
                "containerName": balancer.get("containerName"),
                "containerPort": balancer.get("containerPort"),
            }
        ]
    own = found.service.get("deploymentConfiguration")
    if own:
        back["deploymentConfiguration"] = dict(own)
    return back


def parse_hooks(content: str) -> list[tuple[str, str]]:
    """The lifecycle hooks of an ECS AppSpec (JSON, or YAML of the documented shape:
    `Hooks:` then `- EventName: "function"` lines), as (event, function), in order."""
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        hooks = data.get("Hooks") or data.get("hooks") or []
        found: list[tuple[str, str]] = []
        for entry in hooks if isinstance(hooks, list) else []:
            if isinstance(entry, Mapping):
                found.extend((str(k), str(v)) for k, v in entry.items())
        return found
    found = []
    inside = False
    for line in content.splitlines():
        stripped = line.strip()
        if not line[:1].isspace() and stripped:
            inside = stripped.rstrip(":").lower() == "hooks"
            continue
        if inside and stripped.startswith("-") and ":" in stripped:
            event, _, function = stripped[1:].partition(":")
            found.append((event.strip(), function.strip().strip("\"'")))
    return found
