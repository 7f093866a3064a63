"""CODE_DEPLOY services, through the real command against the sandbox's CodeDeploy: one test
per row of the issue's table (Succeeded, traffic-shifted, rolled back by CodeDeploy, its
rollback failed, Ready with --on-pause, the timeout with and without --enable-rollback,
stopped by someone else, failed without rollback), each refusal, the dry run, the AppSpec
template, --resume, and a signal. The AppSpec builder is a pure function, tested as a table."""

from __future__ import annotations

import json
import re
import signal
import time
from typing import Any

import pytest

from ecsdeploy import appspec
from ecsdeploy.codedeploywatch import LIFECYCLE
from ecsdeploy.errors import UsageError
from tests.conftest import FAST, SENTINEL_ENV_VALUE, run_cli, start_cli


@pytest.fixture
def minute(sandbox, monkeypatch) -> float:
    """A sandbox minute of 0.1 s: waits of a few minutes last a fraction of a second."""
    monkeypatch.setattr(sandbox.scheduler, "minute", 0.1)
    return 0.1


def seed(sandbox, cluster, **options: Any) -> dict[str, Any]:
    options.setdefault("environment", {"DB_PASSWORD": SENTINEL_ENV_VALUE})
    options.setdefault("family", f"{cluster}-web")
    info: dict[str, Any] = sandbox.seed_codedeploy_service(cluster, **options)
    return info


def cd_deploy(sandbox, cluster, *args: str, **env: str):
    return run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, *args, **env)


def said(run) -> str:
    return run.stdout + run.stderr


def summary(run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return data


def deployment(sandbox, deployment_id: str) -> dict[str, Any]:
    info: dict[str, Any] = sandbox.client("codedeploy").get_deployment(deploymentId=deployment_id)[
        "deploymentInfo"
    ]
    return info


def current_revision(sandbox, cluster) -> str:
    svc = sandbox.client().describe_services(cluster=cluster, services=["web"])["services"][0]
    return str(svc["taskDefinition"])


# -- the table's rows -----------------------------------------------------------------------


def test_succeeded_exits_0_after_every_lifecycle_event_in_order(sandbox, cluster, minute):
    seed(sandbox, cluster)
    run = cd_deploy(
        sandbox,
        cluster,
        "-i",
        "nginx:2",
        "--output",
        "json",
        GITHUB_RUN_ID="4242",
        GITHUB_REPOSITORY="acme/shop",
    )
    assert run.code == 0, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "CreateDeployment"]
    assert "UpdateService" not in run.calls
    shown = re.findall(r"lifecycle event (\w+): (\w+)", said(run))
    order = [LIFECYCLE.index(name) for name, _ in shown]
    assert order == sorted(order)  # AWS's order, each event as it changed
    assert ("AllowTraffic", "Succeeded") in shown
    assert ("AllowTestTraffic", "Skipped") in shown  # no test listener
    assert "production traffic 100% replacement, 0% original" in said(run)
    data = summary(run)
    assert data["outcome"] == "succeeded"
    assert data["strategy"] == "CODE_DEPLOY"
    cd = data["codedeploy"]
    assert cd["deployment_id"] == data["deployment_id"]
    assert re.fullmatch(r"d-[A-Z0-9]{9}", cd["deployment_id"])
    assert cd["status"] == "Succeeded"
    assert [e["name"] for e in cd["lifecycle_events"]] == list(LIFECYCLE)
    assert cd["traffic"] == {"green": 100.0}
    assert data["traffic"] == {"production": 100.0}
    info = deployment(sandbox, cd["deployment_id"])
    assert "nginx:2" in info["description"]
    assert "https://github.com/acme/shop/actions/runs/4242" in info["description"]
    assert current_revision(sandbox, cluster).endswith(f"{cluster}-web:2")


def test_traffic_shifted_exits_0_during_the_termination_wait(sandbox, cluster, minute):
    seed(sandbox, cluster, termination_wait_minutes=600)  # a minute of real time
    run = cd_deploy(
        sandbox, cluster, "-i", "nginx:2", "--wait-until", "traffic-shifted", "-t", "20"
    )
    assert run.code == 0, run.stderr
    assert "CodeDeploy may still roll back" in said(run)
    assert "production traffic 100% replacement" in said(run)


def test_a_failure_codedeploy_rolls_back_exits_15_once_the_rollback_ended(sandbox, cluster, minute):
    seed(sandbox, cluster)
    sandbox.set_faults("web", fail_images=("*:broken",))
    run = cd_deploy(sandbox, cluster, "-i", "nginx:broken", "--output", "json", "-t", "30")
    assert run.code == 15, run.stderr
    data = summary(run)
    assert data["outcome"] == "rolled_back_by_ecs"
    assert data["codedeploy"]["status"] == "Failed"
    assert data["codedeploy"]["error"]["code"] == "ECS_UPDATE_ERROR"
    rollback_id = data["codedeploy"]["rollback_deployment_id"]
    assert rollback_id
    assert rollback_id in data["reason"]
    assert data["rollback"]["deployment_id"] == rollback_id
    assert deployment(sandbox, rollback_id)["creator"] == "codeDeployRollback"
    assert "CannotPullContainerError" in said(run)  # the replacement's stopped tasks, explained
    assert data["stopped_tasks_total"] >= 1
    assert current_revision(sandbox, cluster).endswith(f"{cluster}-web:1")
    assert "Deploy failed and was rolled back by CodeDeploy: " in run.stderr
    assert "by ECS" not in said(run)


def test_a_rollback_that_fails_exits_22(sandbox, cluster, minute):
    seed(sandbox, cluster)
    sandbox.set_faults("web", fail_images=("*:broken",), rollback_fails=True)
    run = cd_deploy(sandbox, cluster, "-i", "nginx:broken", "-t", "30")
    assert run.code == 22, run.stderr
    assert "needs a person" in said(run)
    assert "CodeDeploy's rollback FAILED" in run.stderr


def test_a_failure_without_rollback_exits_1(sandbox, cluster, minute):
    seed(sandbox, cluster, auto_rollback=False)
    sandbox.set_faults("web", fail_images=("*:broken",))
    run = cd_deploy(sandbox, cluster, "-i", "nginx:broken", "-t", "30")
    assert run.code == 1, run.stderr
    assert "Failed (ECS_UPDATE_ERROR" in said(run)
    assert "not rolled back" in said(run)


def test_ready_with_on_pause_exit_exits_23_with_the_resume_command(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000)
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--on-pause", "exit", "--output", "json")
    assert run.code == 23, run.stderr
    data = summary(run)
    assert data["outcome"] == "paused"
    assert data["resume_command"] == f"ecs-deploy -c {cluster} -n web --resume continue"
    assert data["codedeploy"]["status"] == "Ready"
    assert deployment(sandbox, data["deployment_id"])["status"] == "Ready"

    resumed = cd_deploy(sandbox, cluster, "--resume", "continue")
    assert resumed.code == 0, resumed.stderr
    assert resumed.applied == ["ContinueDeployment"]
    assert deployment(sandbox, data["deployment_id"])["status"] == "Succeeded"


def test_resume_rollback_on_a_ready_deployment_exits_21(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000)
    paused = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--on-pause", "exit")
    assert paused.code == 23, paused.stderr
    run = cd_deploy(sandbox, cluster, "--resume", "rollback")
    assert run.code == 21, run.stderr
    assert run.applied == ["StopDeployment"]
    assert current_revision(sandbox, cluster).endswith(f"{cluster}-web:1")


def test_on_pause_continue_continues_the_ready_wait(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000)
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--on-pause", "continue")
    assert run.code == 0, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "CreateDeployment", "ContinueDeployment"]


def test_a_signal_after_continue_says_the_last_known_status_not_unknown(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000)
    sandbox.scheduler.inject("ContinueDeployment", "hold")
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2", "--on-pause", "continue",
        "--output", "json",
    )  # fmt: skip
    started.wait_for_call(sandbox, "ContinueDeployment")
    started.signal(signal.SIGTERM)
    time.sleep(0.2)  # signal delivery (the handler runs at once, the call stays held)
    sandbox.scheduler.release("ContinueDeployment")
    run = started.finish(sandbox)
    assert run.code == 143, run.stderr
    reason = summary(run)["reason"]
    assert "is Ready (its last known status); it goes on without us" in reason
    assert "unknown" not in reason


def test_on_pause_rollback_stops_the_ready_deployment_and_exits_21(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000)
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--on-pause", "rollback")
    assert run.code == 21, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "CreateDeployment", "StopDeployment"]
    assert "rolled back as asked (--on-pause rollback)" in said(run)


def test_the_timeout_exits_1_and_leaves_the_deployment(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000)
    # The Ready wait lasts 600 s here: the -t passes once the run said it waits there (the
    # case tested), however long a loaded runner took to reach it (Install took over 2 s)
    run = cd_deploy(
        sandbox, cluster, "-i", "nginx:2", "-t", "10", "--output", "json",
        deadline_after="Continue it from elsewhere with",
    )  # fmt: skip
    assert run.code == 1, run.stderr
    data = summary(run)
    assert data["outcome"] == "timed_out"
    assert "goes on without us" in data["reason"]
    assert "Continue it from elsewhere with: ecs-deploy" in said(run)
    assert "StopDeployment" not in run.calls


def test_the_timeout_with_enable_rollback_stops_and_exits_21(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000)
    run = cd_deploy(
        sandbox, cluster, "-i", "nginx:2", "-t", "10", "--enable-rollback", "--output", "json",
        deadline_after="Continue it from elsewhere with",
    )  # fmt: skip
    assert run.code == 21, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "CreateDeployment", "StopDeployment"]
    assert current_revision(sandbox, cluster).endswith(f"{cluster}-web:1")
    # the summary says how the deployment ended, from its last read, not how it stood
    data = summary(run)
    ended = deployment(sandbox, data["deployment_id"])
    assert data["codedeploy"]["status"] == ended["status"] == "Stopped"
    rollback_id = data["rollback"]["deployment_id"]
    assert rollback_id is not None
    assert data["codedeploy"]["rollback_deployment_id"] == rollback_id


def test_stopped_by_someone_else_exits_1(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000, auto_rollback=False)
    started = start_cli(sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2", "-t", "30")
    started.wait_for_call(sandbox, "GetDeploymentTarget", nth=2)
    cd = sandbox.client("codedeploy")
    active = cd.list_deployments(
        applicationName=f"{cluster}-web",
        deploymentGroupName=f"{cluster}-web",
        includeOnlyStatuses=["InProgress", "Ready"],
    )["deployments"]
    cd.stop_deployment(deploymentId=active[0], autoRollbackEnabled=False)
    run = started.finish(sandbox)
    assert run.code == 1, run.stderr
    assert "Stopped (MANUAL_STOP" in said(run)


def test_sigterm_with_enable_rollback_stops_the_deployment_with_rollback(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2", "-t", "30", "--enable-rollback"
    )
    started.wait_for_call(sandbox, "GetDeploymentTarget", nth=2)
    started.signal(signal.SIGTERM)
    run = started.finish(sandbox)
    assert run.code == 143, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "CreateDeployment", "StopDeployment"]


# -- refusals and the dry run ----------------------------------------------------------------


def test_an_active_deployment_is_refused_before_anything_is_registered(sandbox, cluster, minute):
    seed(sandbox, cluster, ready_wait_minutes=6000)
    first = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--on-pause", "exit", "--output", "json")
    assert first.code == 23, first.stderr
    active = summary(first)["deployment_id"]
    run = cd_deploy(sandbox, cluster, "-i", "nginx:3")
    assert run.code == 28, run.stderr
    assert f"CodeDeploy deployment {active} is still active" in run.stderr
    assert run.applied == []
    assert "RegisterTaskDefinition" not in run.calls


def test_create_deployment_refused_after_registration_deregisters_the_revision(
    sandbox, cluster, minute
):
    seed(sandbox, cluster)
    sandbox.scheduler.inject_error(
        "CreateDeployment",
        1,
        "DeploymentLimitExceededException",
        "The Deployment Group 'g' already has an active Deployment 'd-OTHER0001'",
    )
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--output", "json")
    assert run.code == 28, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "DeregisterTaskDefinition"]
    assert "d-OTHER0001" in run.stderr
    assert f"{cluster}-web:2 was deregistered" in run.stderr
    assert [short(a) for a in summary(run)["deregistered"]] == [f"{cluster}-web:2"]


def test_an_aws_error_message_on_several_lines_is_one_line(sandbox, cluster, minute):
    seed(sandbox, cluster)
    sandbox.scheduler.inject_error(
        "CreateDeployment", 1, "InvalidRoleException", "The role\nis not\r\n  valid"
    )
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code != 0
    (error,) = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
    assert "InvalidRoleException: The role is not valid" in error
    assert "is not\n" not in run.stderr


def short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def test_the_dry_run_prints_the_create_deployment_request_and_writes_nothing(
    sandbox, cluster, minute
):
    seed(sandbox, cluster)
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--dry-run", "--output", "json")
    assert run.code == 0, run.stderr
    assert run.applied == []
    request = summary(run)["requests"]["CreateDeployment"]
    assert request["applicationName"] == f"{cluster}-web"
    content = json.loads(request["revision"]["appSpecContent"]["content"])
    props = content["Resources"][0]["TargetService"]["Properties"]
    assert props["TaskDefinition"].endswith(f"{cluster}-web:<next>")
    assert props["LoadBalancerInfo"] == {"ContainerName": "web", "ContainerPort": 80}
    assert "CreateDeployment request that would be sent" in said(run)


def test_force_new_deployment_redeploys_the_current_revision_through_codedeploy(
    sandbox, cluster, minute
):
    seed(sandbox, cluster)
    current = current_revision(sandbox, cluster)
    dry = cd_deploy(sandbox, cluster, "--force-new-deployment", "--dry-run")
    assert dry.code == 0, dry.stderr
    assert dry.applied == []
    assert "CreateDeployment request that would be sent" in said(dry)
    run = cd_deploy(sandbox, cluster, "--force-new-deployment", "--output", "json")
    assert run.code == 0, run.stderr
    assert run.applied == ["CreateDeployment"]  # nothing registered: the same revision
    sent = deployment(sandbox, summary(run)["deployment_id"])["revision"]["appSpecContent"]
    props = json.loads(sent["content"])["Resources"][0]["TargetService"]["Properties"]
    assert props["TaskDefinition"] == current


def _template(**props: Any) -> dict[str, Any]:
    return {
        "version": 0.0,
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": props}}],
    }


def test_a_template_s_load_balancer_info_must_match_the_service_s(
    sandbox, cluster, minute, tmp_path
):
    seed(sandbox, cluster)
    path = tmp_path / "appspec.json"
    path.write_text(
        json.dumps(_template(LoadBalancerInfo={"ContainerName": "proxy", "ContainerPort": 8080}))
    )
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--codedeploy-appspec", str(path))
    assert run.code == 3, run.stderr
    assert "names container proxy port 8080, but the service's load balancer routes to " in (
        run.stderr
    )
    assert "container web port 80" in run.stderr
    assert run.applied == []
    path.write_text(
        json.dumps(_template(LoadBalancerInfo={"ContainerName": "web", "ContainerPort": 80}))
    )
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--codedeploy-appspec", str(path))
    assert run.code == 0, run.stderr


def test_a_revision_without_the_load_balancer_s_port_is_refused_before_registering(
    sandbox, cluster, minute, tmp_path
):
    seed(sandbox, cluster)
    path = tmp_path / "td.json"
    path.write_text(
        json.dumps(
            {
                "family": f"{cluster}-web",
                "containerDefinitions": [
                    {"name": "web", "image": "nginx:1", "memory": 128, "essential": True}
                ],
            }
        )
    )
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--task-definition-file", str(path))
    assert run.code == 3, run.stderr
    assert "container web of the new revision does not map port 80" in run.stderr
    assert run.applied == []


def test_the_appspec_template_keeps_its_hooks_and_gets_the_new_revision(
    sandbox, cluster, minute, tmp_path
):
    seed(sandbox, cluster)
    template = {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {"TaskDefinition": "replaced", "PlatformVersion": "1.4.0"},
                }
            }
        ],
        "Hooks": [{"BeforeAllowTraffic": "arn:aws:lambda:us-east-1:123456789012:function:check"}],
    }
    path = tmp_path / "appspec.json"
    path.write_text(json.dumps(template))
    run = cd_deploy(
        sandbox, cluster, "-i", "nginx:2", "--codedeploy-appspec", str(path), "--output", "json"
    )
    assert run.code == 0, run.stderr
    sent = deployment(sandbox, summary(run)["deployment_id"])["revision"]["appSpecContent"]
    spec = json.loads(sent["content"])
    assert spec["Hooks"] == template["Hooks"]
    props = spec["Resources"][0]["TargetService"]["Properties"]
    assert props["TaskDefinition"].endswith(f"{cluster}-web:2")
    assert props["PlatformVersion"] == "1.4.0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--codedeploy-application", "app"), "go together"),
        (("--codedeploy-appspec", "/nonexistent/appspec.json"), "--codedeploy-appspec"),
    ],
)
def test_bad_codedeploy_options_exit_3_before_any_call(sandbox, cluster, args, message):
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", *args)
    assert run.code == 3, run.stderr
    assert message in run.stderr
    assert run.calls == []


def test_a_group_that_does_not_deploy_the_service_is_refused(sandbox, cluster, minute):
    seed(sandbox, cluster)
    run = cd_deploy(
        sandbox,
        cluster,
        "-i",
        "nginx:2",
        "--codedeploy-application",
        f"{cluster}-web",
        "--codedeploy-group",
        f"{cluster}-web",
    )
    assert run.code == 0, run.stderr  # the right group, given
    other = f"{cluster}x"
    seed(sandbox, other, application=f"{other}-web", group=f"{other}-web")
    run = cd_deploy(
        sandbox,
        cluster,
        "-i",
        "nginx:3",
        "--codedeploy-application",
        f"{other}-web",
        "--codedeploy-group",
        f"{other}-web",
    )
    assert run.code == 3, run.stderr
    assert "does not deploy service web" in run.stderr
    assert run.applied == []


# -- the AppSpec, a pure function --------------------------------------------------------------

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"


@pytest.mark.parametrize(
    ("template", "expected_props"),
    [
        (
            None,
            {
                "TaskDefinition": ARN,
                "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80},
            },
        ),
        (
            {
                "Resources": [
                    {"S": {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": "x"}}}
                ]
            },
            {
                "TaskDefinition": ARN,
                "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80},
            },
        ),
        (
            {
                "Resources": [
                    {
                        "S": {
                            "Type": "AWS::ECS::Service",
                            "Properties": {
                                "LoadBalancerInfo": {
                                    "ContainerName": "proxy",
                                    "ContainerPort": 8080,
                                }
                            },
                        }
                    }
                ]
            },
            {
                "TaskDefinition": ARN,
                "LoadBalancerInfo": {"ContainerName": "proxy", "ContainerPort": 8080},
            },
        ),
    ],
    ids=["bare", "template-task-definition-replaced", "template-load-balancer-kept"],
)
def test_appspec_build(template, expected_props):
    spec = appspec.build(template, ARN, "web", 80)
    (body,) = spec["Resources"][0].values()
    assert body["Properties"] == expected_props
    assert spec["version"] == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "not an AppSpec"),
        ('{"Resources": []}', "exactly one Resources entry"),
        ("{not json", "not JSON"),
    ],
)
def test_appspec_templates_that_are_refused(text, message, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "yaml", None)  # as where PyYAML is not installed
    with pytest.raises(UsageError, match=message):
        appspec.parse_template(text, "--codedeploy-appspec f", 256 * 1024)


def test_appspec_revision_carries_its_sha256():
    rev = appspec.revision({"version": 0.0})
    import hashlib

    content = rev["appSpecContent"]["content"]
    assert rev["revisionType"] == "AppSpecContent"
    assert rev["appSpecContent"]["sha256"] == hashlib.sha256(content.encode()).hexdigest()


@pytest.mark.parametrize(
    ("env", "by"),
    [
        (
            {"GITHUB_RUN_ID": "1", "GITHUB_REPOSITORY": "o/r"},
            "https://github.com/o/r/actions/runs/1",
        ),
        ({"CI_JOB_URL": "https://gitlab.example/j/2"}, "https://gitlab.example/j/2"),
        ({}, None),
    ],
)
def test_the_description_says_who_deployed_what(env, by):
    text = appspec.description(["nginx:2"], "web", "web:7", env)
    assert text.startswith("ecs-deploy: web -> web:7 (image nginx:2)")
    assert (by in text) if by else ", by" not in text


@pytest.mark.parametrize("variable", ["BUILD_URL", "CI_JOB_URL"])
def test_a_ci_url_s_credentials_never_reach_the_description_or_the_output(
    sandbox, cluster, minute, variable
):
    seed(sandbox, cluster)
    url = "https://admin:s3cr3tT0ken@jenkins.example/job/shop/42/"
    dry = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--dry-run", **{variable: url})
    assert dry.code == 0, dry.stderr
    assert "by https://jenkins.example/job/shop/42/" in said(dry)
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--output", "json", **{variable: url})
    assert run.code == 0, run.stderr
    sent = deployment(sandbox, summary(run)["deployment_id"])["description"]
    assert sent.endswith(", by https://jenkins.example/job/shop/42/")
    assert "s3cr3tT0ken" not in said(dry) + said(run) + sent


def test_any_url_s_password_is_masked_in_what_is_written():
    from ecsdeploy.masking import redact

    assert redact("see https://admin:s3cr3t@ci.example/x and git://u:p@h/r") == (
        "see https://admin:****@ci.example/x and git://u:****@h/r"
    )
    assert redact("https://ci.example/a@b and user@example.com") == (
        "https://ci.example/a@b and user@example.com"
    )


def test_a_lost_answer_to_create_deployment_is_followed_not_deregistered(sandbox, cluster, minute):
    seed(sandbox, cluster)
    sandbox.scheduler.inject("CreateDeployment", "drop", after=True)
    run = start_cli(sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2").finish(sandbox)
    assert run.code == 0, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "CreateDeployment"]
    assert "has our AppSpec: following it" in said(run)


@pytest.mark.parametrize(
    ("config", "steps"),
    [
        ("CodeDeployDefault.ECSCanary10Percent5Minutes", ["10%", "100%"]),
        ("CodeDeployDefault.ECSLinear10PercentEvery3Minutes", ["10%", "50%", "100%"]),
    ],
)
def test_canary_and_linear_steps_are_each_shown(sandbox, cluster, minute, config, steps):
    seed(sandbox, cluster, deployment_config=config)
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "-t", "30")
    assert run.code == 0, run.stderr
    assert f"({config})" in said(run)
    for step in steps:
        assert f"production traffic {step} replacement" in said(run)


def test_codedeploy_options_on_an_ecs_service_are_refused(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web")
    run = cd_deploy(
        sandbox,
        cluster,
        "-i",
        "nginx:2",
        "--codedeploy-application",
        "a",
        "--codedeploy-group",
        "g",
    )
    assert run.code == 3, run.stderr
    assert "not CODE_DEPLOY: drop the --codedeploy-* options" in run.stderr
    assert run.applied == []


# -- the follower, on a fake clock (no sandbox, no real sleep) --------------------------------


class _ScriptedCodeDeploy:
    """GetDeployment/GetDeploymentTarget answers, one status a read (the last repeats)."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.reads = 0

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        status = self.statuses[min(self.reads, len(self.statuses) - 1)]
        self.reads += 1
        return {"deploymentId": deployment_id, "status": status}

    def ecs_target(self, deployment_id: str, target_id: str) -> dict[str, Any] | None:
        return None


def _follower(statuses: list[str], timeout: float, **cfg: Any):
    import io

    from ecsdeploy.codedeploywatch import Follower
    from ecsdeploy.config import DeployConfig
    from ecsdeploy.ecs import EcsGateway
    from ecsdeploy.errors import ExitCode
    from ecsdeploy.output import Level, Reporter
    from ecsdeploy.policy import RunPolicy
    from ecsdeploy.result import DeployResult, Outcome
    from ecsdeploy.story import Story

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    policy = RunPolicy(deadline=timeout, clock=lambda: now[0], sleep=sleep)
    story = Story(EcsGateway(None, policy=policy), Reporter(Level.QUIET, out=io.StringIO()))
    config = DeployConfig(cluster="c", service="web", poll_interval=1.0, **cfg)
    r = DeployResult(ExitCode.OK, Outcome.SUCCEEDED, "")
    cd = _ScriptedCodeDeploy(statuses)
    return Follower(story, cd, config, r, "c:web"), cd, now, slept  # type: ignore[arg-type]


def test_the_follower_sees_succeeded_at_the_next_read_and_stops_reading():
    from ecsdeploy.result import Outcome

    follower, cd, _now, slept = _follower(["InProgress"] * 4 + ["Succeeded"], timeout=600)
    outcome, _snap = follower.follow("d-1")
    assert outcome is Outcome.SUCCEEDED
    assert cd.reads == 5  # one read each poll, none after the verdict
    assert len(slept) == 4
    assert max(slept) <= 1.1  # ramped up to the 1 s interval (+10% jitter) at most


@pytest.mark.parametrize(
    ("statuses", "on_pause", "expected"),
    [
        (["InProgress"], "wait", "timed_out"),
        (["Ready"], "wait", "timed_out"),
        (["InProgress", "Ready"], "exit", "paused"),
        (["Failed"], "wait", "failed"),
        (["Stopped"], "wait", "failed"),
    ],
)
def test_the_follower_verdicts_on_a_fake_clock(statuses, on_pause, expected):
    follower, _cd, now, _slept = _follower(statuses, timeout=30, on_pause=on_pause)
    outcome, _snap = follower.follow("d-1")
    assert outcome.value == expected
    if expected == "timed_out":
        assert now[0] == pytest.approx(30)  # the deadline, not a poll past it


def test_an_unknown_group_exits_17_naming_it(sandbox, cluster, minute):
    seed(sandbox, cluster)
    run = cd_deploy(
        sandbox,
        cluster,
        *("-i", "nginx:2", "--codedeploy-application", f"{cluster}-web"),
        *("--codedeploy-group", "nope"),
    )
    assert run.code == 17, run.stderr
    assert "DeploymentGroupDoesNotExistException" in run.stderr
    assert run.applied == []


def test_the_sandbox_refuses_what_codedeploy_refuses(sandbox, cluster, minute):
    """The refusals the command's own checks come before: a second active deployment
    (DeploymentLimitExceededException), ContinueDeployment when not Ready."""
    info = seed(sandbox, cluster, ready_wait_minutes=6000)
    cd = sandbox.client("codedeploy")
    spec = appspec.build(None, info["task_definition"], "web", 80)
    request = {
        "applicationName": info["application"],
        "deploymentGroupName": info["group"],
        "revision": appspec.revision(spec),
    }
    first = cd.create_deployment(**request)["deploymentId"]
    with pytest.raises(cd.exceptions.ClientError, match="DeploymentLimitExceededException"):
        cd.create_deployment(**request)
    with pytest.raises(cd.exceptions.ClientError, match="DeploymentIsNotInReadyState"):
        cd.continue_deployment(deploymentId=first, deploymentWaitType="READY_WAIT")
    cd.stop_deployment(deploymentId=first, autoRollbackEnabled=True)


def test_two_groups_for_one_service_are_refused_naming_both(sandbox, cluster, minute):
    info = seed(sandbox, cluster)
    cd = sandbox.client("codedeploy")
    cd.create_application(applicationName=f"{cluster}-other", computePlatform="ECS")
    cd.create_deployment_group(
        applicationName=f"{cluster}-other",
        deploymentGroupName="other",
        serviceRoleArn="arn:aws:iam::123456789012:role/cd",
        ecsServices=[{"serviceName": "web", "clusterName": cluster}],
    )
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code == 3, run.stderr
    assert f"{info['application']}/{info['group']}" in run.stderr
    assert f"{cluster}-other/other" in run.stderr
    assert run.applied == []


def test_a_replacement_task_the_load_balancer_stops_is_explained_with_its_target_health(
    sandbox, cluster, minute
):
    """CodeDeploy's ECS target names the replacement's target group by name only; its task
    set (DescribeTaskSets, once) has the ARN, so its target health is read while Install
    waits for it, and a task ECS stops for failing the health checks is explained with it."""
    seed(sandbox, cluster)
    sandbox.set_faults("web", unhealthy_target_images=("*:2",))
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "--output", "json", "-t", "30")
    assert run.code == 15, said(run)
    assert run.calls.count("DescribeTaskSets") == 1, run.calls
    data = summary(run)
    explained = [d for d in data["diagnosis"] if "failed ELB health checks" in d["stopped_reason"]]
    assert explained, said(run)
    health = explained[0]["target_health"]
    assert health, explained
    assert health[0]["state"] == "unhealthy"
    assert "-green/" in health[0]["target_group"]


def test_a_healthy_replacement_costs_one_task_set_read_and_health_reads_until_healthy(
    sandbox, cluster, minute
):
    seed(sandbox, cluster)
    run = cd_deploy(sandbox, cluster, "-i", "nginx:2", "-t", "30")
    assert run.code == 0, said(run)
    assert run.calls.count("DescribeTaskSets") <= 1, run.calls  # 0 if Install ended unseen
    reads = run.calls.count("DescribeTargetHealth")
    assert reads < run.calls.count("GetDeploymentTarget"), run.calls  # not once healthy
