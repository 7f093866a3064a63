"""docs/iam-policy.json: well formed and least privilege (no wildcard action, PassRole only to
the services that take roles), and it allows every AWS call ecs-deploy makes. Each call is
recorded by the sandbox with the service it was signed for; here representative commands run
every feature once, and the whole suite's calls are checked again when the session ends
(tests/conftest.py, pytest_sessionfinish). docs/iam.md's smaller policy covers a plain
rolling deploy."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import FAST, deploy, ecr_image, run_cli, seed
from tests.iam_policy import action, allowed_actions, not_allowed, policy

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
LOGS = {
    "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/iam", "awslogs-stream-prefix": "ecs"},
    }
}
GROUPS = {
    "CoreDeploy",
    "PassTaskAndTargetRoles",
    "Preflight",
    "Diagnosis",
    "ScheduledTasks",
    "NativeStrategies",
    "OneOffTasks",
    "CodeDeployDeploy",
    "MigrateToEcsBlueGreen",
    "RoleAssumption",
}


def test_the_policy_is_least_privilege_grouped_by_feature():
    document = policy()
    assert document["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(sids) == len(set(sids))
    assert set(sids) == GROUPS
    for named in allowed_actions(document):
        service, _, name = named.partition(":")
        assert re.fullmatch(r"[a-z-]+", service), named
        assert re.fullmatch(r"[A-Z][A-Za-z]+", name), named  # no "*", no service:*, no Get*
    passrole = [s for s in document["Statement"] if "iam:PassRole" in s["Action"]]
    assert [s["Sid"] for s in passrole] == ["PassTaskAndTargetRoles"]
    assert passrole[0]["Action"] == "iam:PassRole"  # alone in its statement, with its condition
    services = passrole[0]["Condition"]["StringEquals"]["iam:PassedToService"]
    assert set(services) == {
        "ecs-tasks.amazonaws.com",
        "ecs.amazonaws.com",
        "events.amazonaws.com",
        "scheduler.amazonaws.com",
    }


def test_every_group_is_explained_in_iam_md():
    text = (ROOT / "docs" / "iam.md").read_text()
    for sid in GROUPS:
        assert f"| `{sid}` |" in text, sid
    for named in allowed_actions(policy()):
        assert f"`{named}`" in text or named.startswith("elasticloadbalancing:Describe"), named


def test_a_missing_action_is_found():
    document = policy()
    for statement in document["Statement"]:
        if "ecs:UpdateService" in statement["Action"]:
            statement["Action"].remove("ecs:UpdateService")
    calls = [("ecs", "DescribeServices"), ("ecs", "UpdateService"), ("scheduler", "GET /schedules")]
    assert not_allowed(calls, document) == ["ecs:UpdateService"]
    assert action("scheduler", "PUT /schedules/nightly") == "scheduler:UpdateSchedule"
    assert action("elasticloadbalancing", "DescribeTargetHealth") == (
        "elasticloadbalancing:DescribeTargetHealth"
    )


def _scheduled_rule(sandbox, cluster: str) -> None:
    events = sandbox.client("events")
    events.put_rule(Name=f"{cluster}-nightly", ScheduleExpression="cron(0 3 * * ? *)")
    events.put_targets(
        Rule=f"{cluster}-nightly",
        Targets=[
            {
                "Id": "job",
                "Arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{cluster}",
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events",
                "EcsParameters": {
                    "TaskDefinitionArn": (
                        f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{cluster}-web:1"
                    ),
                    "TaskCount": 1,
                },
            }
        ],
    )


def test_the_policy_allows_every_call_of_every_feature(sandbox, cluster):
    start = len(sandbox.tool_log)
    logs = sandbox.client("logs")
    if not logs.describe_log_groups(logGroupNamePrefix="/iam")["logGroups"]:
        logs.create_log_group(logGroupName="/iam")
    seed(sandbox, cluster, desired_count=1, container=LOGS)
    _scheduled_rule(sandbox, cluster)
    image = ecr_image(sandbox, "iam/web", "1.0")
    secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:iam-AbCdEf"
    # the preflight (ECR, SSM, Secrets Manager, logs), -v, and a role assumed first
    checked = deploy(
        sandbox, cluster, "-i", image, "--container", "web", "--secret", "web", "DB=/iam/db",
        "--secret", "web", f"TOKEN={secret}", "--dry-run", "-v",
        "-a", f"arn:aws:iam::{ACCOUNT}:role/deploy",
    )  # fmt: skip
    assert checked.code == 25, checked.stderr  # the parameter and the secret do not exist
    # a deploy that moves the scheduled task and prunes
    ok = deploy(sandbox, cluster, "-i", "nginx:2", "--max-definitions", "1")
    assert ok.code == 0, ok.stderr
    # a crash, explained by the container's logs and stopped tasks
    sandbox.set_faults(crash_images=("nginx:crash",))
    crashed = deploy(sandbox, cluster, "-i", "nginx:crash", "--max-failed-tasks", "1")
    assert crashed.code in (1, 15), crashed.stderr
    # a one-off task, its logs streamed
    task = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success", *FAST
    )
    assert task.code == 0, task.stderr
    # a native blue/green deployment, its hook answered
    native = f"{cluster}bg"
    seed(
        sandbox,
        native,
        desired_count=1,
        deployment_configuration={
            "strategy": "BLUE_GREEN",
            "bakeTimeInMinutes": 0,
            "lifecycleHooks": [
                {
                    "targetType": "PAUSE",
                    "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                    "timeoutConfiguration": {"timeoutInMinutes": 600, "action": "ROLLBACK"},
                }
            ],
        },
    )
    bg = deploy(sandbox, native, "-i", "nginx:2", "--on-pause", "rollback", "-t", "30")
    assert bg.code == 21, bg.stderr
    calls = sandbox.tool_log[start:]
    services = {service for service, _ in calls}
    assert {"ecs", "ecr", "ssm", "secretsmanager", "logs", "events", "scheduler", "sts"} <= services
    assert not_allowed(calls) == []


def test_the_smaller_policy_covers_a_plain_rolling_deploy(sandbox, cluster):
    text = (ROOT / "docs" / "iam.md").read_text()
    small = json.loads(
        text.split("## A plain rolling deploy", 1)[1].split("```json\n")[1].split("```")[0]
    )
    seed(sandbox, cluster, desired_count=1)
    start = len(sandbox.tool_log)
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--scheduled-tasks", "none", "--no-preflight")
    assert run.code == 0, run.stderr
    sandbox.set_faults(fail_images=("nginx:broken",))
    failed = deploy(
        sandbox,
        cluster,
        "-i",
        "nginx:broken",
        "--scheduled-tasks",
        "none",
        "--max-failed-tasks",
        "1",
    )
    assert failed.code in (1, 15), failed.stderr
    assert not_allowed(sandbox.tool_log[start:], small) == []
