"""--migrate-to-native: a CODE_DEPLOY service moved in place onto ECS's own blue/green.

The mapping (migrate.py) is a table: each CodeDeploy setting and what ECS gets for it. The
story runs through the real command against the sandbox, on fixtures built with plain boto3
calls (an ALB, two target groups, listeners, a CODE_DEPLOY service, a CodeDeploy application
and deployment group): each refusal (nothing written), the dry run, the real run, and a
normal -i deploy afterwards, which is a native blue/green deployment."""

from __future__ import annotations

import json
import signal
import time
from dataclasses import replace
from typing import Any

import pytest

from ecsdeploy.errors import UsageError
from ecsdeploy.migrate import parse_hooks, plan, routing_of
from ecsdeploy.migratechecks import Found, RuleChange
from ecsdeploy.strategy import StrategyOverrides
from tests.conftest import FAST, run_cli, start_cli

ROLE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
BLUE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/1"
GREEN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/2"
PROD = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/alb/1/80"
TEST = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/alb/1/8080"
PROD_RULE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/alb/1/80/d"
TEST_RULE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/alb/1/8080/d"
ROLE = "arn:aws:iam::123456789012:role/ecs-infra"


# -- the mapping, as a table -----------------------------------------------------------------


def found(**changes: Any) -> Found:
    """What the story reads for a plain CodeDeploy service: all at once, 5 minutes of
    termination wait, one production listener whose default rule forwards to blue."""
    group: dict[str, Any] = {
        "applicationName": "app",
        "deploymentGroupName": "grp",
        "deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce",
        "blueGreenDeploymentConfiguration": {
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE",
                "terminationWaitTimeInMinutes": 5,
            },
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
        },
        "loadBalancerInfo": {
            "targetGroupPairInfoList": [
                {
                    "targetGroups": [{"name": "blue"}, {"name": "green"}],
                    "prodTrafficRoute": {"listenerArns": [PROD]},
                }
            ]
        },
        "ecsServices": [{"serviceName": "web", "clusterName": "c"}],
    }
    group.update(changes.pop("group", {}))
    base = Found(
        cluster="c",
        service={
            "serviceName": "web",
            "status": "ACTIVE",
            "deploymentController": {"type": "CODE_DEPLOY"},
            "loadBalancers": [
                {"targetGroupArn": BLUE, "containerName": "web", "containerPort": 80}
            ],
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100},
            "taskSets": [],
            "deployments": [],
        },
        group=group,
        role_arn=ROLE,
        routing=routing_of(group["deploymentConfigName"]),
        target_groups={"blue": BLUE, "green": GREEN},
        rules={PROD: [rule(PROD_RULE, BLUE)], TEST: [rule(TEST_RULE, BLUE)]},
        role={"Arn": ROLE, "AssumeRolePolicyDocument": ROLE_TRUST},
    )
    return replace(base, **changes)


def rule(arn: str, *targets: str, weights: tuple[int, ...] = ()) -> dict[str, Any]:
    if len(targets) == 1 and not weights:
        return {"RuleArn": arn, "IsDefault": True, "Actions": [forward(targets[0])]}
    groups = [{"TargetGroupArn": t, "Weight": w} for t, w in zip(targets, weights, strict=True)]
    return {
        "RuleArn": arn,
        "IsDefault": True,
        "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
    }


def forward(target: str) -> dict[str, Any]:
    return {"Type": "forward", "TargetGroupArn": target}


def canary(percent: float, minutes: int) -> dict[str, Any]:
    return {"canaryPercent": percent, "canaryBakeTimeInMinutes": minutes}


def linear(percent: float, minutes: int) -> dict[str, Any]:
    return {"stepPercent": percent, "stepBakeTimeInMinutes": minutes}


def custom(kind: str, **values: int) -> dict[str, Any]:
    key = "timeBasedCanary" if kind == "TimeBasedCanary" else "timeBasedLinear"
    return {"type": kind, key: values}


STRATEGY_TABLE = [
    # (deployment config, its routing when custom, options given, the strategy fields ECS gets)
    ("CodeDeployDefault.ECSAllAtOnce", None, {}, {"strategy": "BLUE_GREEN"}),
    (
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        None,
        {},
        {"strategy": "CANARY", "canaryConfiguration": canary(10, 5)},
    ),
    (
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
        None,
        {},
        {"strategy": "CANARY", "canaryConfiguration": canary(10, 15)},
    ),
    (
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        None,
        {},
        {"strategy": "LINEAR", "linearConfiguration": linear(10, 1)},
    ),
    (
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        None,
        {},
        {"strategy": "LINEAR", "linearConfiguration": linear(10, 3)},
    ),
    (
        "my-canary",
        custom("TimeBasedCanary", canaryPercentage=25, canaryInterval=30),
        {},
        {"strategy": "CANARY", "canaryConfiguration": canary(25, 30)},
    ),
    (
        "my-linear",
        custom("TimeBasedLinear", linearPercentage=20, linearInterval=2),
        {},
        {"strategy": "LINEAR", "linearConfiguration": linear(20, 2)},
    ),
    ("my-all-at-once", {"type": "AllAtOnce"}, {}, {"strategy": "BLUE_GREEN"}),
    # each strategy option overrides what the group says
    (
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        None,
        {"canary_percent": 5.5},
        {"strategy": "CANARY", "canaryConfiguration": canary(5.5, 5)},
    ),
    (
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        None,
        {"linear_step_bake_time": 7},
        {"strategy": "LINEAR", "linearConfiguration": linear(10, 7)},
    ),
    (
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        None,
        {"strategy": "BLUE_GREEN"},
        {"strategy": "BLUE_GREEN"},
    ),
    (
        "CodeDeployDefault.ECSAllAtOnce",
        None,
        {"strategy": "LINEAR", "linear_step_percent": 50.0, "linear_step_bake_time": 2},
        {"strategy": "LINEAR", "linearConfiguration": linear(50, 2)},
    ),
]


@pytest.mark.parametrize(("config", "routing", "options", "expected"), STRATEGY_TABLE)
def test_the_strategy_comes_from_the_deployment_configuration(config, routing, options, expected):
    given = found(
        group={"deploymentConfigName": config},
        routing=routing or routing_of(config),
        overrides=StrategyOverrides(**options),
    )
    conf = plan(given).update["deploymentConfiguration"]
    shown = {k: v for k, v in conf.items() if k in expected or k.endswith("Configuration")}
    assert shown == expected
    assert conf["maximumPercent"] == 200  # the service's own settings are kept


@pytest.mark.parametrize(
    ("termination", "bake_time", "expected", "problem"),
    [
        ({"action": "TERMINATE", "terminationWaitTimeInMinutes": 0}, None, 0, None),
        ({"action": "TERMINATE", "terminationWaitTimeInMinutes": 60}, None, 60, None),
        ({"action": "TERMINATE", "terminationWaitTimeInMinutes": 1440}, None, 1440, None),
        ({"action": "TERMINATE", "terminationWaitTimeInMinutes": 2880}, None, 1440, "--bake-time"),
        ({"action": "TERMINATE", "terminationWaitTimeInMinutes": 2880}, 30, 30, None),
        ({"action": "KEEP_ALIVE"}, None, 0, "KEEP_ALIVE"),
        ({"action": "KEEP_ALIVE"}, 15, 15, None),
    ],
)
def test_the_bake_time_is_the_termination_wait(termination, bake_time, expected, problem):
    given = found(
        group={
            "blueGreenDeploymentConfiguration": {
                "terminateBlueInstancesOnDeploymentSuccess": termination
            }
        },
        overrides=StrategyOverrides(bake_time=bake_time),
    )
    result = plan(given)
    assert result.update["deploymentConfiguration"]["bakeTimeInMinutes"] == expected
    if problem is None:
        assert result.problems == []
    else:
        assert len(result.problems) == 1
        assert problem in result.problems[0]
        assert "--bake-time" in result.problems[0]


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ({}, {}),
        (
            {
                "alarmConfiguration": {"enabled": True, "alarms": [{"name": "5xx"}]},
                "autoRollbackConfiguration": {
                    "enabled": True,
                    "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
                },
            },
            {
                "alarms": {"alarmNames": ["5xx"], "enable": True, "rollback": True},
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
        ),
        (
            {
                "alarmConfiguration": {"enabled": True, "alarms": [{"name": "a"}, {"name": "b"}]},
                "autoRollbackConfiguration": {"enabled": False, "events": ["DEPLOYMENT_FAILURE"]},
            },
            {"alarms": {"alarmNames": ["a", "b"], "enable": True, "rollback": False}},
        ),
        (
            {"autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}},
            {"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        ),
        ({"alarmConfiguration": {"enabled": False, "alarms": [{"name": "off"}]}}, {}),
        (
            {
                "blueGreenDeploymentConfiguration": {
                    "deploymentReadyOption": {
                        "actionOnTimeout": "STOP_DEPLOYMENT",
                        "waitTimeInMinutes": 120,
                    }
                }
            },
            {
                "lifecycleHooks": [
                    {
                        "targetType": "PAUSE",
                        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                        "timeoutConfiguration": {"timeoutInMinutes": 120, "action": "ROLLBACK"},
                    }
                ]
            },
        ),
    ],
)
def test_alarms_rollback_and_the_ready_wait_are_carried(group, expected):
    conf = plan(found(group=group)).update["deploymentConfiguration"]
    carried = {
        k: conf[k] for k in ("alarms", "deploymentCircuitBreaker", "lifecycleHooks") if k in conf
    }
    assert carried == expected


def test_the_load_balancer_and_rules():
    result = plan(found())
    assert result.problems == []
    assert result.update["deploymentController"] == {"type": "ECS"}
    assert result.update["loadBalancers"] == [
        {
            "targetGroupArn": BLUE,
            "containerName": "web",
            "containerPort": 80,
            "advancedConfiguration": {
                "alternateTargetGroupArn": GREEN,
                "productionListenerRule": PROD_RULE,
                "roleArn": ROLE,
            },
        }
    ]
    # the listener's default rule forwards to blue alone: green is added at weight 0 (no
    # request moves), with ModifyListener (ModifyRule cannot change a default rule)
    assert result.rule_changes == [
        RuleChange("ModifyListener", {"ListenerArn": PROD, "DefaultActions": [BOTH]}, PROD_RULE)
    ]
    assert result.back["deploymentController"] == {"type": "CODE_DEPLOY"}
    assert result.back["loadBalancers"][0]["targetGroupArn"] == BLUE


BOTH = {
    "Type": "forward",
    "ForwardConfig": {
        "TargetGroups": [
            {"TargetGroupArn": BLUE, "Weight": 100},
            {"TargetGroupArn": GREEN, "Weight": 0},
        ]
    },
}


def test_a_rule_of_its_own_is_changed_with_modify_rule():
    own = {**rule(PROD_RULE, BLUE), "IsDefault": False, "Priority": "10"}
    result = plan(found(rules={PROD: [own]}))
    assert result.rule_changes == [
        RuleChange("ModifyRule", {"RuleArn": PROD_RULE, "Actions": [BOTH]}, PROD_RULE)
    ]
    assert result.requests == {
        "ModifyRule": [{"RuleArn": PROD_RULE, "Actions": [BOTH]}],
        "UpdateService": result.update,
    }


def test_production_is_where_traffic_goes_after_an_odd_number_of_deploys():
    """CodeDeploy swaps the target groups at every deploy: production is green now."""
    given = found(rules={PROD: [rule(PROD_RULE, GREEN)]})
    given = replace(
        given,
        service={**given.service, "taskSets": [ts("PRIMARY", GREEN)]},
    )
    result = plan(given)
    assert result.problems == []
    balancer = result.update["loadBalancers"][0]
    assert balancer["targetGroupArn"] == GREEN
    assert balancer["advancedConfiguration"]["alternateTargetGroupArn"] == BLUE


def ts(status: str, target: str) -> dict[str, Any]:
    return {"status": status, "loadBalancers": [{"targetGroupArn": target}]}


def test_a_test_listener_gives_the_test_rule_and_no_change_where_both_are_on_the_rule():
    group = found().group
    pair = dict(group["loadBalancerInfo"]["targetGroupPairInfoList"][0])
    pair["testTrafficRoute"] = {"listenerArns": [TEST]}
    given = found(
        group={"loadBalancerInfo": {"targetGroupPairInfoList": [pair]}},
        rules={
            PROD: [rule(PROD_RULE, BLUE, GREEN, weights=(1, 0))],
            TEST: [rule(TEST_RULE, BLUE)],
        },
    )
    result = plan(given)
    assert result.problems == []
    advanced = result.update["loadBalancers"][0]["advancedConfiguration"]
    assert advanced["testListenerRule"] == TEST_RULE
    assert [c.rule for c in result.rule_changes] == [TEST_RULE]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"active_deployments": [("d-ABC", "InProgress")]}, "d-ABC is InProgress"),
        ({"role": None}, "does not exist"),
        ({"role": {"AssumeRolePolicyDocument": {"Statement": []}}}, "cannot be assumed"),
        ({"rules": {PROD: [rule(PROD_RULE, BLUE, GREEN, weights=(50, 50))]}}, "splits traffic"),
        (
            {"rules": {PROD: [rule(PROD_RULE, BLUE), rule(PROD_RULE + "2", BLUE)]}},
            "2 rules that forward",
        ),
        ({"rules": {PROD: [rule(PROD_RULE, "arn:other")]}}, "0 rules"),
        ({"target_groups": {"blue": BLUE}}, "green of the deployment group does not exist"),
        ({"rules": {}}, "does not exist"),
        (
            {"routing": custom("TimeBasedLinear", linearPercentage=1, linearInterval=1)},
            "--linear-step-percent",
        ),
        (
            {"routing": custom("TimeBasedCanary", canaryPercentage=10, canaryInterval=2000)},
            "--canary-bake-time",
        ),
        ({"routing": None}, "--strategy"),
    ],
)
def test_each_failed_check_says_its_fix(changes, words):
    result = plan(found(**changes))
    assert len(result.problems) == 1, result.problems
    assert words in result.problems[0]


def test_a_deployment_ecs_shows_in_progress_is_refused():
    given = found(active_deployments=[("d-1", "InProgress")])
    sets = [ts("PRIMARY", BLUE), {**ts("ACTIVE", GREEN), "id": "ecs-svc/2"}]
    given = replace(given, service={**given.service, "taskSets": sets})
    assert "2 task sets" in plan(given).problems[1]
    assert "let it end" in plan(given).problems[1]


def test_a_task_set_left_by_a_stop_without_rollback_says_how_to_remove_it():
    """It never ends by itself: 'let it end' would be a wait forever."""
    given = found()
    sets = [ts("PRIMARY", BLUE), {**ts("ACTIVE", GREEN), "id": "ecs-svc/2"}]
    given = replace(given, service={**given.service, "taskSets": sets})
    (problem,) = plan(given).problems
    assert "no CodeDeploy deployment is active" in problem
    assert "aws ecs delete-task-set --cluster c --service web --task-set ecs-svc/2" in problem
    assert "let it end" not in problem


def test_an_option_the_strategy_does_not_use_is_a_usage_error():
    with pytest.raises(UsageError, match="--canary-percent"):
        plan(found(overrides=StrategyOverrides(canary_percent=5.0)))


def test_hooks_are_listed_with_their_ecs_stage():
    appspec = {
        "version": 0.0,
        "Resources": [],
        "Hooks": [
            {"BeforeInstall": "fn-a"},
            {"AfterAllowTestTraffic": "fn-b"},
            {"BeforeAllowTraffic": "fn-c"},
        ],
    }
    yaml = (
        'version: 0.0\nResources: []\nHooks:\n  - AfterInstall: "fn-d"\n'
        "  - AfterAllowTraffic: fn-e\n"
    )
    assert parse_hooks(json.dumps(appspec)) == [
        ("BeforeInstall", "fn-a"),
        ("AfterAllowTestTraffic", "fn-b"),
        ("BeforeAllowTraffic", "fn-c"),
    ]
    assert parse_hooks(yaml) == [("AfterInstall", "fn-d"), ("AfterAllowTraffic", "fn-e")]
    hooks = plan(found(hooks=parse_hooks(json.dumps(appspec)) + parse_hooks(yaml))).hooks
    assert [(h.event, h.stage) for h in hooks] == [
        ("BeforeInstall", "PRE_SCALE_UP"),
        ("AfterAllowTestTraffic", "POST_TEST_TRAFFIC_SHIFT"),
        ("BeforeAllowTraffic", "PRE_PRODUCTION_TRAFFIC_SHIFT"),
        ("AfterInstall", "POST_SCALE_UP"),
        ("AfterAllowTraffic", "POST_PRODUCTION_TRAFFIC_SHIFT"),
    ]


# -- through the command, against the sandbox --------------------------------------------------


def codedeploy_service(
    sandbox,
    cluster: str,
    *,
    config: str = "CodeDeployDefault.ECSAllAtOnce",
    termination: dict[str, Any] | None = None,
    test_listener: bool = False,
    role: bool = True,
    ready: dict[str, Any] | None = None,
) -> dict[str, str]:
    """A CODE_DEPLOY service `web` behind an ALB, with its CodeDeploy application and group,
    all made with plain boto3 calls; returns the ARNs the tests look at."""
    ec2, elb = sandbox.client("ec2"), sandbox.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    alb = elb.create_load_balancer(Name=f"{cluster}-alb", Subnets=subnets)["LoadBalancers"][0]
    groups = {}
    for color in ("blue", "green"):
        made = elb.create_target_group(
            Name=f"{cluster}-{color}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
        )
        groups[color] = made["TargetGroups"][0]["TargetGroupArn"]
    listeners = {}
    for name, port in (("prod", 80), *((("test", 8080),) if test_listener else ())):
        listeners[name] = elb.create_listener(
            LoadBalancerArn=alb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
        )["Listeners"][0]["ListenerArn"]
    role_arn = f"arn:aws:iam::123456789012:role/{cluster}-ecs-infra"
    if role:
        role_arn = sandbox.client("iam").create_role(
            RoleName=f"{cluster}-ecs-infra", AssumeRolePolicyDocument=json.dumps(ROLE_TRUST)
        )["Role"]["Arn"]
    sandbox.seed_service(
        cluster,
        "web",
        family=f"{cluster}-web",
        container={"portMappings": [{"containerPort": 80}]},
        load_balancers=[
            {"targetGroupArn": groups["blue"], "containerName": "web", "containerPort": 80}
        ],
        deployment_controller="CODE_DEPLOY",
        wait=False,
    )
    codedeploy = sandbox.client("codedeploy")
    codedeploy.create_application(applicationName=f"{cluster}-app", computePlatform="ECS")
    route = {"prodTrafficRoute": {"listenerArns": [listeners["prod"]]}}
    if test_listener:
        route["testTrafficRoute"] = {"listenerArns": [listeners["test"]]}
    codedeploy.create_deployment_group(
        applicationName=f"{cluster}-app",
        deploymentGroupName=f"{cluster}-group",
        serviceRoleArn=role_arn,
        deploymentConfigName=config,
        deploymentStyle={
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        },
        blueGreenDeploymentConfiguration={
            "terminateBlueInstancesOnDeploymentSuccess": termination
            or {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5},
            "deploymentReadyOption": ready or {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
        },
        loadBalancerInfo={
            "targetGroupPairInfoList": [
                {
                    "targetGroups": [{"name": f"{cluster}-blue"}, {"name": f"{cluster}-green"}],
                    **route,
                }
            ]
        },
        ecsServices=[{"serviceName": "web", "clusterName": cluster}],
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
    )
    return {"role": role_arn, **groups, **{f"{k}_listener": v for k, v in listeners.items()}}


def migrate(sandbox, cluster: str, role: str, *args: str):
    return run_cli(
        sandbox,
        "-c",
        cluster,
        "-n",
        "web",
        *FAST,
        "--migrate-to-native",
        "--infrastructure-role-arn",
        role,
        *args,
    )


def described(sandbox, cluster: str) -> dict[str, Any]:
    return sandbox.client().describe_services(cluster=cluster, services=["web"])["services"][0]


def said(run) -> str:
    return run.stdout + run.stderr


MOVES = ("ModifyRule", "ModifyListener", "UpdateService")


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("-i", "nginx:2"), "drop -i/--image"),
        (("--force-new-deployment",), "drop --force-new-deployment"),
        (("--env", "web", "A=1"), "drop the change options"),
        (("--strategy", "rolling"), "drop --strategy rolling"),
        (("--codedeploy-appspec", "appspec.json"), "drop --codedeploy-appspec"),
        (("-n", "api"), "--migrate-to-native acts on one service: give a single -n"),
        (("--strategy", "canary"), "needs --canary-percent and --canary-bake-time"),
        (("--strategy", "canary", "--canary-percent", "20"), "needs --canary-bake-time;"),
        (("--strategy", "linear"), "needs --linear-step-percent and --linear-step-bake-time"),
    ],
)
def test_migrate_with_a_deploy_option_is_a_usage_error(sandbox, cluster, extra, words):
    run = migrate(sandbox, cluster, ROLE, *extra)
    assert run.code == 3
    assert words in run.stderr
    assert run.calls == []  # refused before any call


def test_the_role_option_goes_with_migrate(sandbox, cluster):
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--infrastructure-role-arn", ROLE
    )
    assert run.code == 3
    assert "--infrastructure-role-arn is only valid with --migrate-to-native" in run.stderr
    run = run_cli(sandbox, "-c", cluster, "-n", "web", "--migrate-to-native")
    assert run.code == 3
    assert "needs --infrastructure-role-arn" in run.stderr
    run = migrate(sandbox, cluster, "not-an-arn")
    assert run.code == 3
    assert run.calls == []


def test_dry_run_prints_the_plan_and_writes_nothing(sandbox, cluster):
    made = codedeploy_service(
        sandbox, cluster, config="CodeDeployDefault.ECSCanary10Percent5Minutes"
    )
    run = migrate(sandbox, cluster, made["role"], "--dry-run", "--output", "json")
    assert run.code == 0, said(run)
    assert run.applied == []
    assert "ModifyListener request that would be sent" in said(run)
    assert "UpdateService request that would be sent" in said(run)
    data = json.loads(run.stdout.strip().splitlines()[-1])
    assert data["outcome"] == "dry_run"
    update = data["requests"]["UpdateService"]
    assert update["deploymentController"] == {"type": "ECS"}
    assert update["deploymentConfiguration"]["strategy"] == "CANARY"
    assert update["deploymentConfiguration"]["canaryConfiguration"] == canary(10, 5)
    assert update["deploymentConfiguration"]["bakeTimeInMinutes"] == 5
    assert (
        update["loadBalancers"][0]["advancedConfiguration"]["alternateTargetGroupArn"]
        == made["green"]
    )
    assert [c["ListenerArn"] for c in data["requests"]["ModifyListener"]] == [made["prod_listener"]]
    assert described(sandbox, cluster)["deploymentController"] == {"type": "CODE_DEPLOY"}


def test_the_real_run_moves_the_service_and_a_deploy_after_is_blue_green(
    sandbox, cluster, monkeypatch
):
    monkeypatch.setattr(sandbox.scheduler, "minute", 0.05)  # the 5-minute bake: 0.25 s
    made = codedeploy_service(sandbox, cluster, test_listener=True)
    run = migrate(sandbox, cluster, made["role"])
    assert run.code == 0, said(run)
    assert [c for c in run.applied if c in MOVES] == [
        "ModifyListener",
        "ModifyListener",
        "UpdateService",
    ]
    assert "now uses ECS's deployment controller (BLUE_GREEN, bake time 5 min)" in said(run)
    assert "To go back to CodeDeploy" in said(run)
    assert '"type": "CODE_DEPLOY"' in said(run)
    service = described(sandbox, cluster)
    assert service["deploymentController"] == {"type": "ECS"}
    assert service["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True,
        "rollback": True,
    }
    advanced = service["loadBalancers"][0]["advancedConfiguration"]
    elb = sandbox.client("elbv2")
    prod_rule = elb.describe_rules(ListenerArn=made["prod_listener"])["Rules"][0]
    assert advanced["productionListenerRule"] == prod_rule["RuleArn"]
    assert (
        advanced["testListenerRule"]
        == elb.describe_rules(ListenerArn=made["test_listener"])["Rules"][0]["RuleArn"]
    )
    weights = {
        g["TargetGroupArn"]: g["Weight"]
        for g in prod_rule["Actions"][0]["ForwardConfig"]["TargetGroups"]
    }
    assert weights == {made["blue"]: 100, made["green"]: 0}
    # the CodeDeploy application and group are left in place
    groups = sandbox.client("codedeploy").list_deployment_groups(applicationName=f"{cluster}-app")
    assert groups["deploymentGroups"] == [f"{cluster}-group"]

    # Run again: nothing to do.
    again = migrate(sandbox, cluster, made["role"])
    assert again.code == 0
    assert "nothing to migrate" in said(again)
    assert [c for c in again.applied if c in MOVES] == []

    # A normal deploy now is an ECS blue/green deployment.
    steady(sandbox, cluster)
    run = run_cli(
        sandbox,
        "-c",
        cluster,
        "-n",
        "web",
        *FAST,
        "-i",
        "nginx:1.26",
        "--output",
        "json",
        "--no-preflight",
    )
    assert run.code == 0, said(run)
    data = json.loads(run.stdout.strip().splitlines()[-1])
    assert data["strategy"] == "BLUE_GREEN"
    assert data["service_deployment_status"] == "SUCCESSFUL"


def test_sigterm_while_update_service_is_on_the_wire_says_it_was_applied(sandbox, cluster):
    """The signal is honoured (143) though the UpdateService, once sent, cannot be taken back:
    the run says the service now uses ECS's controller."""
    made = codedeploy_service(sandbox, cluster)
    sandbox.scheduler.inject("UpdateService", "hold")
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "--migrate-to-native",
        "--infrastructure-role-arn", made["role"], "--output", "json",
    )  # fmt: skip
    started.wait_for_call(sandbox, "UpdateService")
    started.signal(signal.SIGTERM)
    started.wait_delivered(signal.SIGTERM)  # its handler runs before the held call returns
    sandbox.scheduler.release("UpdateService")
    run = started.finish(sandbox)
    assert run.code == 143, said(run)
    assert described(sandbox, cluster)["deploymentController"] == {"type": "ECS"}
    data = json.loads(run.stdout.strip().splitlines()[-1])
    assert data["outcome"] == "interrupted"
    assert "the UpdateService was applied: service web now uses ECS's controller" in data["reason"]
    assert "Migration interrupted" in run.stderr
    assert "succeeded" not in said(run)


def test_a_migration_that_succeeds_says_migration_succeeded(sandbox, cluster):
    made = codedeploy_service(sandbox, cluster)
    run = migrate(sandbox, cluster, made["role"])
    assert run.code == 0, said(run)
    assert "Migration succeeded: service web now uses ECS's controller" in said(run)
    assert "Deploy succeeded" not in said(run)


def steady(sandbox, cluster: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        service = described(sandbox, cluster)
        deployments = service["deployments"]
        if len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED":
            return
        time.sleep(0.05)
    raise AssertionError(f"service did not become steady: {service['deployments']}")


def test_an_active_codedeploy_deployment_is_refused_by_the_tool_and_by_ecs(sandbox, cluster):
    made = codedeploy_service(sandbox, cluster)
    codedeploy = sandbox.client("codedeploy")
    deployment_id = codedeploy.create_deployment(
        applicationName=f"{cluster}-app",
        deploymentGroupName=f"{cluster}-group",
        revision={
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": json.dumps({"version": 0.0, "Resources": []})},
        },
    )["deploymentId"]
    run = migrate(sandbox, cluster, made["role"])
    assert run.code == 19
    assert f"CodeDeploy deployment {deployment_id} is" in run.stderr
    assert "aws deploy stop-deployment" in run.stderr
    assert "nothing was changed" in run.stderr
    assert [c for c in run.applied if c in MOVES] == []
    # ECS (the sandbox) refuses the move itself while the deployment is active
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="InvalidParameterException"):
        sandbox.client().update_service(
            cluster=cluster, service="web", deploymentController={"type": "ECS"}
        )


@pytest.mark.parametrize(
    ("account", "partition"), [("999999999999", "aws"), ("123456789012", "aws-cn")]
)
def test_a_role_of_another_account_is_a_failed_check(sandbox, cluster, account, partition):
    """The same-named role exists in our own account: the ARN's account still decides."""
    made = codedeploy_service(sandbox, cluster)
    foreign = made["role"].replace("123456789012", account).replace(":aws:", f":{partition}:")
    run = migrate(sandbox, cluster, foreign)
    assert run.code == 19, said(run)
    assert f"role {foreign} (--infrastructure-role-arn) is in account {account}" in run.stderr
    assert "GetRole" not in run.calls
    assert [c for c in run.applied if c in MOVES] == []


def test_a_missing_role_and_a_long_termination_wait_are_each_named(sandbox, cluster):
    made = codedeploy_service(
        sandbox,
        cluster,
        role=False,
        termination={"action": "TERMINATE", "terminationWaitTimeInMinutes": 2000},
    )
    run = migrate(sandbox, cluster, made["role"])
    assert run.code == 19
    assert "2 check(s) failed" in run.stderr
    assert "does not exist: create it; it must trust ecs.amazonaws.com" in run.stderr
    assert "waits 2000 minutes" in run.stderr
    assert "--bake-time" in run.stderr
    assert [c for c in run.applied if c in MOVES] == []


def test_bake_time_chooses_where_the_termination_wait_is_too_long(sandbox, cluster):
    made = codedeploy_service(
        sandbox, cluster, termination={"action": "TERMINATE", "terminationWaitTimeInMinutes": 2000}
    )
    run = migrate(
        sandbox, cluster, made["role"], "--bake-time", "60", "--dry-run", "--output", "json"
    )
    assert run.code == 0, said(run)
    data = json.loads(run.stdout.strip().splitlines()[-1])
    assert data["requests"]["UpdateService"]["deploymentConfiguration"]["bakeTimeInMinutes"] == 60


def test_a_service_without_a_deployment_group_is_refused(sandbox, cluster):
    sandbox.seed_service(
        cluster, "web", family=f"{cluster}-web", deployment_controller="CODE_DEPLOY", wait=False
    )
    run = migrate(sandbox, cluster, ROLE)
    assert run.code == 17
    assert "No CodeDeploy deployment group deploys service web" in run.stderr


def test_the_group_is_found_as_a_deploy_finds_it_and_may_be_named(sandbox, cluster):
    """The migration finds the group as a CODE_DEPLOY deploy does (the ECS applications'
    groups, BatchGetDeploymentGroups), refuses two naming the service, and takes
    --codedeploy-application/--codedeploy-group to choose one."""
    made = codedeploy_service(sandbox, cluster)
    run = migrate(sandbox, cluster, made["role"], "--dry-run")
    assert run.code == 0, said(run)
    assert "BatchGetDeploymentGroups" in run.calls
    assert "GetDeploymentGroup" not in run.calls
    codedeploy = sandbox.client("codedeploy")
    codedeploy.create_application(applicationName=f"{cluster}-other", computePlatform="ECS")
    codedeploy.create_deployment_group(
        applicationName=f"{cluster}-other",
        deploymentGroupName="other",
        serviceRoleArn=made["role"],
        ecsServices=[{"serviceName": "web", "clusterName": cluster}],
    )
    run = migrate(sandbox, cluster, made["role"], "--dry-run")
    assert run.code == 3, said(run)
    assert f"{cluster}-app/{cluster}-group" in run.stderr
    assert f"{cluster}-other/other" in run.stderr
    assert "choose one with --codedeploy-application and --codedeploy-group" in run.stderr
    chosen = ("--codedeploy-application", f"{cluster}-app", "--codedeploy-group")
    run = migrate(sandbox, cluster, made["role"], "--dry-run", *chosen, f"{cluster}-group")
    assert run.code == 0, said(run)
    assert f"CodeDeploy application {cluster}-app, deployment group {cluster}-group" in said(run)
    run = migrate(sandbox, cluster, made["role"], "--dry-run", *chosen, "nope")
    assert run.code == 17, said(run)
    assert run.applied == []


def test_a_custom_configuration_that_cannot_be_read_needs_strategy(sandbox, cluster):
    made = codedeploy_service(sandbox, cluster, config="my-canary")
    sandbox.scheduler.inject_error(
        "GetDeploymentConfig", 2, "DeploymentConfigDoesNotExistException", "No such config", 400
    )
    run = migrate(sandbox, cluster, made["role"], "--dry-run")
    assert run.code == 19
    assert "Could not read deployment configuration my-canary" in said(run)
    assert "choose the strategy with --strategy" in run.stderr
    run = migrate(sandbox, cluster, made["role"], "--dry-run", "--strategy", "blue-green")
    assert run.code == 0, said(run)
    assert run.applied == []


def test_a_role_that_cannot_be_read_is_a_warning(sandbox, cluster):
    made = codedeploy_service(sandbox, cluster)
    sandbox.scheduler.inject_error("GetRole", 1, "AccessDenied", "not allowed", 403)
    run = migrate(sandbox, cluster, made["role"], "--dry-run")
    assert run.code == 0, said(run)
    assert f"Could not check role {made['role']}" in said(run)
    assert "it must trust ecs.amazonaws.com" in said(run)


def test_the_ready_wait_becomes_a_pause_the_next_deploy_stops_at(sandbox, cluster, monkeypatch):
    monkeypatch.setattr(sandbox.scheduler, "minute", 0.05)
    made = codedeploy_service(
        sandbox, cluster, ready={"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 600}
    )
    run = migrate(sandbox, cluster, made["role"])
    assert run.code == 0, said(run)
    assert "becomes a PAUSE hook at POST_TEST_TRAFFIC_SHIFT" in said(run)
    steady(sandbox, cluster)
    run = run_cli(
        sandbox,
        "-c",
        cluster,
        "-n",
        "web",
        *FAST,
        "-i",
        "nginx:1.26",
        "--on-pause",
        "exit",
        "--no-preflight",
    )
    assert run.code == 23, said(run)
    assert "POST_TEST_TRAFFIC_SHIFT" in said(run)


def test_the_sandbox_moves_the_controller_only_with_what_a_native_strategy_needs(sandbox, cluster):
    from botocore.exceptions import ClientError

    made = codedeploy_service(sandbox, cluster)
    ecs = sandbox.client()
    native = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0}
    plain = {"targetGroupArn": made["blue"], "containerName": "web", "containerPort": 80}
    with pytest.raises(ClientError, match="advancedConfiguration must specify"):
        ecs.update_service(
            cluster=cluster,
            service="web",
            deploymentController={"type": "ECS"},
            deploymentConfiguration=native,
            loadBalancers=[plain],
        )
    assert described(sandbox, cluster)["deploymentController"] == {"type": "CODE_DEPLOY"}
    rule = sandbox.client("elbv2").describe_rules(ListenerArn=made["prod_listener"])["Rules"][0]
    with pytest.raises(ClientError, match="OperationNotPermitted"):  # as ELB: ModifyListener
        sandbox.client("elbv2").modify_rule(RuleArn=rule["RuleArn"], Actions=rule["Actions"])
    advanced = {
        "alternateTargetGroupArn": made["green"],
        "productionListenerRule": rule["RuleArn"],
        "roleArn": made["role"],
    }
    ecs.update_service(
        cluster=cluster,
        service="web",
        deploymentController={"type": "ECS"},
        deploymentConfiguration=native,
        loadBalancers=[{**plain, "advancedConfiguration": advanced}],
    )
    steady(sandbox, cluster)  # its tasks are one ECS deployment of its revision
    service = described(sandbox, cluster)
    assert service["runningCount"] == 2
    with pytest.raises(ClientError, match="not supported"):
        ecs.update_service(
            cluster=cluster, service="web", deploymentController={"type": "EXTERNAL"}
        )


def test_the_hooks_of_the_last_deployment_are_listed_after_a_codedeploy_deploy(
    sandbox, cluster, monkeypatch, tmp_path
):
    """GetDeploymentGroup names the last deployment (lastSuccessfulDeployment), as
    CodeDeploy's does: the migration reads its AppSpec and lists its hooks."""
    monkeypatch.setattr(sandbox.scheduler, "minute", 0.05)
    sandbox.seed_codedeploy_service(cluster, family=f"{cluster}-web")
    hook = "arn:aws:lambda:us-east-1:123456789012:function:smoke"
    template = {
        "version": 0.0,
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {}}}],
        "Hooks": [{"BeforeAllowTraffic": hook}],
    }
    path = tmp_path / "appspec.json"
    path.write_text(json.dumps(template))
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2",
        "--codedeploy-appspec", str(path), "--output", "json",
    )  # fmt: skip
    assert run.code == 0, said(run)
    deployed = json.loads(run.stdout.strip().splitlines()[-1])["deployment_id"]
    group = sandbox.client("codedeploy").get_deployment_group(
        applicationName=f"{cluster}-web", deploymentGroupName=f"{cluster}-web"
    )["deploymentGroupInfo"]
    assert group["lastSuccessfulDeployment"]["deploymentId"] == deployed
    assert group["lastAttemptedDeployment"]["status"] == "Succeeded"
    run = migrate(sandbox, cluster, ROLE, "--dry-run")
    assert f"CodeDeploy hook BeforeAllowTraffic ({hook}) is not carried" in said(run)
    assert "PRE_PRODUCTION_TRAFFIC_SHIFT" in said(run)


def test_the_sandbox_refuses_a_new_task_definition_on_a_code_deploy_service(sandbox, cluster):
    """As ECS does: only a CodeDeploy deployment changes a CODE_DEPLOY service's revision."""
    from botocore.exceptions import ClientError

    sandbox.seed_codedeploy_service(cluster, family=f"{cluster}-web")
    ecs = sandbox.client()
    arn = ecs.describe_services(cluster=cluster, services=["web"])["services"][0]["taskDefinition"]
    with pytest.raises(ClientError, match=r"InvalidParameterException.*CODE_DEPLOY"):
        ecs.update_service(cluster=cluster, service="web", taskDefinition=arn)
    ecs.update_service(cluster=cluster, service="web", desiredCount=2)  # this one it takes
