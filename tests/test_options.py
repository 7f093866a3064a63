"""Every option of ecs-deploy 3.10.22 (and ours) through the real command against the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST, child_env, deploy, retire, run_cli, seed, start_cli

SHA = "sha256:" + "c" * 64


def service(sandbox: Any, cluster: str) -> dict[str, Any]:
    ecs = sandbox.client()
    return ecs.describe_services(cluster=cluster, services=["web"])["services"][0]


def taskdef(sandbox: Any, arn: str, tags: bool = False) -> dict[str, Any]:
    response = sandbox.client().describe_task_definition(
        taskDefinition=arn, include=["TAGS"] if tags else []
    )
    return {**response["taskDefinition"], "tags": response.get("tags", [])}


def images(sandbox: Any, cluster: str) -> list[str]:
    td = taskdef(sandbox, service(sandbox, cluster)["taskDefinition"])
    return [c["image"] for c in td["containerDefinitions"]]


@pytest.mark.parametrize(
    ("start_image", "args", "env", "expected"),
    [
        ("nginx:1.25", ["-i", "nginx", "-e", "BUILD_TAG"], {"BUILD_TAG": "42"}, "nginx:42"),
        ("nginx:1.25", ["-i", "nginx:9", "-e", "BUILD_TAG"], {}, "nginx:latest"),
        ("nginx:1.25", ["-i", "nginx:9", "-e", "BUILD_TAG"], {"BUILD_TAG": ""}, "nginx:latest"),
        (
            "reg.example.com:5000/app:1",
            ["-i", f"reg.example.com:5000/app@{SHA}", "-e", "T"],
            {"T": "v3"},
            "reg.example.com:5000/app:v3",
        ),
        ("nginx:1.25", ["-i", f"nginx@{SHA}"], {}, f"nginx@{SHA}"),
        ("docker.io/library/nginx:1", ["-i", "nginx:2"], {}, "nginx:2"),
    ],
)
def test_image_and_tag_env_var(sandbox, cluster, start_image, args, env, expected):
    seed(sandbox, cluster, image=start_image, desired_count=1)
    run = deploy(sandbox, cluster, *args, **env)
    assert run.code == 0, run.stderr
    assert images(sandbox, cluster) == [expected]


def test_tag_only_retags_every_container(sandbox, cluster):
    seed(
        sandbox,
        cluster,
        image="reg.example.com:5000/app:1",
        desired_count=1,
        extra_containers=[{"name": "side", "image": f"envoy@{SHA}", "memory": 64}],
    )
    run = deploy(sandbox, cluster, "-to", "v7")
    assert run.code == 0, run.stderr
    assert images(sandbox, cluster) == ["reg.example.com:5000/app:v7", "envoy:v7"]


def test_container_option_targets_by_name(sandbox, cluster):
    seed(
        sandbox,
        cluster,
        desired_count=1,
        extra_containers=[{"name": "side", "image": "envoy:1", "memory": 64}],
    )
    run = deploy(sandbox, cluster, "-i", "ghcr.io/acme/web:9", "--container", "web")
    assert run.code == 0, run.stderr
    assert images(sandbox, cluster) == ["ghcr.io/acme/web:9", "envoy:1"]


def test_new_revision_keeps_every_field(sandbox, cluster):
    ecs = sandbox.client()
    ecs.create_cluster(clusterName=cluster)
    td = ecs.register_task_definition(
        family=f"{cluster}-web",
        cpu="256",
        memory="512",
        pidMode="host",
        ipcMode="host",
        networkMode="host",
        enableFaultInjection=True,
        placementConstraints=[{"type": "memberOf", "expression": "attribute:x == y"}],
        containerDefinitions=[
            {
                "name": "web",
                "image": "nginx:1",
                "environment": [{"name": "A", "value": "1"}],
                "dockerLabels": {"team": "x"},
            }
        ],
    )["taskDefinition"]
    ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=td["taskDefinitionArn"], desiredCount=1
    )
    run = deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code == 0, run.stderr
    new = taskdef(sandbox, service(sandbox, cluster)["taskDefinition"])
    for key in (
        "cpu",
        "memory",
        "pidMode",
        "ipcMode",
        "networkMode",
        "enableFaultInjection",
        "placementConstraints",
    ):
        assert new[key] == td[key], key
    assert new["containerDefinitions"][0]["dockerLabels"] == {"team": "x"}
    assert new["containerDefinitions"][0]["environment"] == [{"name": "A", "value": "1"}]


def test_desired_count_min_and_max_are_applied(sandbox, cluster):
    seed(
        sandbox,
        cluster,
        deployment_configuration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-D", "3", "-m", "50", "-M", "150")
    assert run.code == 0, run.stderr
    svc = service(sandbox, cluster)
    assert svc["desiredCount"] == 3
    assert svc["runningCount"] == 3
    conf = svc["deploymentConfiguration"]
    assert (conf["minimumHealthyPercent"], conf["maximumPercent"]) == (50, 150)
    assert conf["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}  # kept


def test_max_definitions_prunes_oldest_but_keeps_current_and_previous(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    for tag in ("2", "3"):
        assert deploy(sandbox, cluster, "-i", f"nginx:{tag}").code == 0
    run = deploy(sandbox, cluster, "-i", "nginx:4", "--max-definitions", "1")
    assert run.code == 0, run.stderr
    active = sandbox.client().list_task_definitions(familyPrefix=f"{cluster}-web", status="ACTIVE")
    assert [a.rsplit(":", 1)[-1] for a in active["taskDefinitionArns"]] == ["3", "4"]
    assert run.calls.count("DeregisterTaskDefinition") == 2


def test_enable_rollback_restores_previous_revision(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults(fail_images=("*:broken",))
    run = deploy(sandbox, cluster, "-i", "nginx:broken", "-t", "2", "--enable-rollback")
    assert run.code == 21, run.stderr
    assert f"Rolling back to {cluster}-web:1" in run.stdout
    assert "Rollback succeeded" in run.stdout
    svc = service(sandbox, cluster)
    assert svc["taskDefinition"].endswith(f"{cluster}-web:1")
    assert svc["runningCount"] == 2
    assert len(svc["deployments"]) == 1


def test_force_new_deployment_without_image_registers_nothing(sandbox, cluster):
    before = seed(sandbox, cluster)
    run = deploy(sandbox, cluster, "--force-new-deployment")
    assert run.code == 0, run.stderr
    assert run.mutating_calls == ["UpdateService"]
    svc = service(sandbox, cluster)
    assert svc["taskDefinition"] == before["taskDefinition"]
    assert svc["deployments"][0]["id"] != before["deployments"][0]["id"]


@pytest.mark.parametrize(
    ("health_check", "reason"),
    [
        (False, "the new deployment has a running task"),
        (True, "the new deployment has a healthy running task"),
    ],
)
def test_skip_deployments_check_does_not_wait_for_drain(sandbox, cluster, health_check, reason):
    seed(sandbox, cluster, desired_count=4, health_check=health_check)
    fast = sandbox.scheduler.step_delay
    sandbox.scheduler.step_delay = 0.2  # -M 125 starts one new task at a time: a long window
    try:
        run = deploy(sandbox, cluster, "-i", "nginx:2", "-M", "125", "--skip-deployments-check")
    finally:
        sandbox.scheduler.step_delay = fast
    assert run.code == 0, run.stderr
    assert reason in run.stdout
    assert "old 0 running" not in run.stdout  # it did not wait for the old tasks to drain


def test_use_latest_task_def_bases_on_newest_revision(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    sandbox.client().register_task_definition(
        family=f"{cluster}-web",
        containerDefinitions=[
            {
                "name": "web",
                "image": "nginx:1.26",
                "memory": 256,
                "environment": [{"name": "NEW", "value": "yes"}],
            }
        ],
    )
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--use-latest-task-def")
    assert run.code == 0, run.stderr
    new = taskdef(sandbox, service(sandbox, cluster)["taskDefinition"])
    assert new["revision"] == 3
    assert new["containerDefinitions"][0]["environment"] == [{"name": "NEW", "value": "yes"}]
    assert run.calls.count("ListTaskDefinitions") == 1


def test_copy_task_definition_tags(sandbox, cluster):
    ecs = sandbox.client()
    ecs.create_cluster(clusterName=cluster)
    td = ecs.register_task_definition(
        family=f"{cluster}-web",
        tags=[{"key": "team", "value": "web"}],
        containerDefinitions=[{"name": "web", "image": "nginx:1", "memory": 128}],
    )["taskDefinition"]
    ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=td["taskDefinitionArn"], desiredCount=1
    )
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--copy-task-definition-tags")
    assert run.code == 0, run.stderr
    assert taskdef(sandbox, service(sandbox, cluster)["taskDefinition"], tags=True)["tags"] == [
        {"key": "team", "value": "web"}
    ]


def register_job(sandbox: Any, cluster: str, **extra: Any) -> None:
    ecs = sandbox.client()
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=f"{cluster}-job",
        cpu="256",
        memory="512",
        **extra,
        containerDefinitions=[
            {"name": "main", "image": "job:1"},
            {"name": "side", "image": "side:1", "essential": False},
        ],
    )


def run_job(sandbox: Any, cluster: str, *extra: str) -> Any:
    """`ecs-deploy -c CLUSTER -d FAMILY-job -i job:2 --run-task EXTRA`."""
    return run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-job", "-i", "job:2", "--run-task", *extra, *FAST
    )


@pytest.mark.parametrize(
    ("exit_codes", "code", "message"),
    [
        ((), 0, "task succeeded: every container exited 0"),
        ((("side", 2),), 0, "task succeeded"),  # a non-essential container may fail
        ((("main", 3),), 67, "task failed: main exited 3"),  # 64 + the container's 3
    ],
)
def test_run_task_wait_for_success(sandbox, cluster, exit_codes, code, message):
    register_job(sandbox, cluster)
    sandbox.set_faults(exit_codes=exit_codes)
    run = run_job(sandbox, cluster, "--wait-for-success")
    assert run.code == code, run.stderr
    assert message in run.stdout + run.stderr
    assert "container main: exit code" in run.stdout


def test_run_task_with_fargate_network_shorthand(sandbox, cluster):
    register_job(sandbox, cluster, networkMode="awsvpc", requiresCompatibilities=["FARGATE"])
    run = run_job(
        sandbox,
        cluster,
        "--launch-type",
        "FARGATE",
        "--platform-version",
        "1.4.0",
        "--network-configuration",
        "awsvpcConfiguration={subnets=[subnet-1,subnet-2],securityGroups=[sg-1],"
        "assignPublicIp=DISABLED}",
    )
    assert run.code == 0, run.stderr
    assert "Started task(s): arn:aws:ecs:" in run.stdout
    assert run.mutating_calls == ["RegisterTaskDefinition", "RunTask"]


def test_run_task_awsvpc_without_network_is_an_aws_error(sandbox, cluster):
    register_job(sandbox, cluster, networkMode="awsvpc")
    run = run_job(sandbox, cluster)
    assert run.code == 18
    assert "Network Configuration must be provided" in run.stderr


def test_task_definition_only_registers_a_revision(sandbox, cluster):
    register_job(sandbox, cluster)
    run = run_cli(sandbox, "-d", f"{cluster}-job", "-i", "job:5")
    assert run.code == 0, run.stderr
    assert run.mutating_calls == ["RegisterTaskDefinition"]
    assert f"{cluster}-job:2" in run.stdout


def test_assume_role_and_verbose_never_print_credentials(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    run = deploy(
        sandbox,
        cluster,
        "-i",
        "nginx:2",
        "-v",
        "-k",
        "AKIDEXAMPLE",
        "-s",
        "s3cr3t-value",
        "-a",
        "arn:aws:iam::123456789012:role/deployer",
    )
    assert run.code == 0, run.stderr
    assert "AssumeRole" in run.calls
    assert "debug: DescribeServices" in run.stdout
    output = run.stdout + run.stderr
    assert "s3cr3t-value" not in output
    assert "AKIDEXAMPLE" not in output


def test_keys_region_and_profile_options(sandbox, cluster, tmp_path: Path):
    seed(sandbox, cluster, desired_count=1)
    base = child_env(sandbox)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        base.pop(name)
    exe = str(Path(sys.executable).with_name("ecs-deploy"))

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, "-c", cluster, "-n", "web", *FAST, *args],
            env={**base, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert run("-i", "nginx:2", "-k", "a", "-s", "b", "-r", "us-east-1").returncode == 0
    config = tmp_path / "config"
    config.write_text("[profile deployer]\nregion = us-east-1\n")
    creds = tmp_path / "credentials"
    creds.write_text("[deployer]\naws_access_key_id = a\naws_secret_access_key = b\n")
    result = run(
        "-i",
        "nginx:3",
        "-p",
        "deployer",
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(creds),
    )
    assert result.returncode == 0, result.stderr
    missing = run("-i", "nginx:4", "-k", "a", "-s", "b")
    assert missing.returncode == 18
    assert "No AWS region: pass -r/--region or set AWS_DEFAULT_REGION" in missing.stderr
    bad_profile = run("-i", "nginx:4", "-p", "nope")
    assert bad_profile.returncode == 16
    assert "nope" in bad_profile.stderr


def test_access_denied_gets_its_own_code(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.inject_error(
        "DescribeServices",
        1,
        "AccessDeniedException",
        "User is not authorized to perform: ecs:DescribeServices",
    )
    run = deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code == 16
    assert "access denied (AccessDeniedException: User is not authorized" in run.stderr
    assert "the role needs ecs:DescribeServices: see docs/iam.md" in run.stderr
    assert run.mutating_calls == []


def test_desired_count_zero_succeeds_once_primary(sandbox, cluster):
    seed(sandbox, cluster, desired_count=0)
    run = deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code == 0, run.stderr
    assert "desired count is 0" in run.stdout


def test_max_failed_tasks_fails_fast_without_circuit_breaker(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults("web", fail_start=True)
    started = time.monotonic()
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--max-failed-tasks", "2", "-t", "60")
    assert run.code == 1
    assert "task(s) of the new deployment failed (--max-failed-tasks 2)" in run.stderr
    assert time.monotonic() - started < 30


def test_json_failure_keeps_stdout_pure_and_explains_on_stderr(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults("web", fail_start=True)
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--output", "json", "-t", "2")
    assert run.code == 1
    data = json.loads(run.stdout)
    assert data["outcome"] == "timed_out"
    assert data["stopped_tasks"][0]["stop_code"] == "TaskFailedToStart"
    assert "ERROR: Deploy timed out" in run.stderr
    assert "CannotPullContainerError" in run.stderr  # progress goes to stderr in JSON mode


def test_crash_loop_shows_each_containers_exit_code(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults("web", crash_exit_code=1)
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--max-failed-tasks", "2", "-t", "60")
    assert run.code == 1
    assert (
        "stopped: Essential container in task exited; stopCode EssentialContainerExited; "
        "container web exit code 1" in run.stdout
    )


def test_quiet_prints_nothing_on_success_and_json_is_clean(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-q")
    assert (run.code, run.stdout, run.stderr) == (0, "", "")
    run = deploy(sandbox, cluster, "-i", "nginx:3", "--output", "json")
    assert json.loads(run.stdout)["outcome"] == "succeeded"


def test_more_than_100_tasks(sandbox, cluster):
    seed(sandbox, cluster, desired_count=250, timeout=60)
    sandbox.set_faults("web", fail_images=("*:broken",))
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-t", "60")
    assert run.code == 0, run.stderr
    assert "250/250 tasks running" in run.stdout
    assert "ListTasks" not in run.calls  # steady state never lists tasks
    retire(sandbox, cluster)


def test_5000_tasks_roll_over_in_batches_and_are_watched_with_one_call_per_poll(sandbox, cluster):
    seed(
        sandbox,
        cluster,
        desired_count=5000,
        timeout=120,
        deployment_configuration={"minimumHealthyPercent": 100, "maximumPercent": 110},
    )
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-t", "300", timeout=320)
    assert run.code == 0, run.stderr
    assert "5000/5000 tasks running" in run.stdout
    after = [  # once per deploy, beside the polls: the scheduled tasks' lookup
        c
        for c in run.calls[run.calls.index("UpdateService") + 1 :]
        if c != "ListRuleNamesByTarget" and not c.startswith("GET /schedules")
    ]
    assert after == ["DescribeServices"] * len(after)
    assert len(after) > 3  # it watched a rollout in progress, not just a finished one
    retire(sandbox, cluster)


def test_missing_family_is_not_found(sandbox):
    run = run_cli(sandbox, "-d", "no-such-family", "-i", "nginx:2")
    assert run.code == 17, run.stderr
    assert "DescribeTaskDefinition" in run.stderr
    assert run.mutating_calls == []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_waiting_reports_and_rolls_back(sandbox, cluster, sig, code):
    seed(sandbox, cluster)
    sandbox.set_faults("web", stall=True)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--enable-rollback", "-t", "60", *FAST
    )
    started.wait_for_call(sandbox, "UpdateService")
    started.wait_for_call(sandbox, "DescribeServices", 2)  # it polls a stalled rollout now
    signalled_at = len(sandbox.requests)
    started.signal(sig)
    started.wait_for_call(sandbox, "UpdateService", 2)  # the rollback's UpdateService
    sandbox.reset_faults()  # now let the rollback itself settle
    run = started.finish(sandbox)
    out = run.stdout
    assert run.code == code, out + run.stderr
    # the rollback's waits are real sleeps, not a tight loop on the already-set stop event
    assert sandbox.requests[signalled_at:].count("DescribeServices") < 40
    assert "Interrupted while waiting: new 0/2 running" in out
    assert out.index("Interrupted while waiting") < out.index("Rolling back")
    assert "Rollback succeeded" in out
    assert service(sandbox, cluster)["taskDefinition"].endswith(f"{cluster}-web:1")


def test_inactive_service_is_refused(sandbox, cluster):
    seed(sandbox, cluster, desired_count=0)
    sandbox.client().delete_service(cluster=cluster, service="web", force=True)
    run = deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code in (17, 19), run.stderr
    assert run.mutating_calls == []


def test_environment_of_child_has_no_real_endpoint(sandbox):
    env = child_env(sandbox)
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert os.environ.get("AWS_PROFILE") is None or "AWS_PROFILE" not in env
