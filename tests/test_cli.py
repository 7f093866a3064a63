"""The real `ecs-deploy` command against the sandbox: exit codes, messages, and from the
sandbox's request log, that bad input made no mutating call. A deploy that succeeds, fails or
is rolled back, and the exits of bad input, run as a process of their own (the console
script's exit); refusals that only read run in this process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST, deploy, run_cli, seed, start_cli
from tests.test_ci_conditions import BREAKER, wait_until


def current(sandbox: Any, cluster: str) -> dict[str, Any]:
    ecs = sandbox.client()
    svc = ecs.describe_services(cluster=cluster, services=["web"])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    return {"service": svc, "taskdef": td}


def test_version_and_help(sandbox):
    run = run_cli(sandbox, "--version", own_process=True)
    assert run.code == 0
    assert run.stdout.startswith("ecs-deploy, version ")
    run = run_cli(sandbox, "--help", own_process=True)
    assert run.code == 0
    assert "--service-name" in run.stdout
    assert run.calls == []


def test_deploy_rolls_over_and_exits_0(sandbox, cluster):
    seed(sandbox, cluster, desired_count=3)
    run = deploy(sandbox, cluster, "-i", "nginx:1.27", own_process=True)  # exit 0
    assert run.code == 0, run.stderr
    assert "Deploy succeeded: 3/3 tasks running" in run.stdout
    assert "has reached a steady state" in run.stdout
    now = current(sandbox, cluster)
    assert now["taskdef"]["containerDefinitions"][0]["image"] == "nginx:1.27"
    assert now["taskdef"]["revision"] == 2
    assert len(now["service"]["deployments"]) == 1
    assert run.mutating_calls == ["RegisterTaskDefinition", "UpdateService"]


def test_image_that_cannot_start_fails_with_the_stop_reason(sandbox, cluster):
    seed(sandbox, cluster, desired_count=2)
    sandbox.set_faults(fail_images=("*:broken",))
    run = deploy(sandbox, cluster, "-i", "nginx:broken", "--timeout", "2", own_process=True)
    assert run.code == 1
    assert "CannotPullContainerError" in run.stdout
    assert "stopCode TaskFailedToStart" in run.stdout
    assert "ERROR: Deploy timed out: timed out: 0/2 new tasks running" in run.stderr


def test_circuit_breaker_rollback_is_not_a_success(sandbox, cluster):
    seed(
        sandbox,
        cluster,
        desired_count=2,
        deployment_configuration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    sandbox.set_faults("web", fail_start=True)
    run = deploy(sandbox, cluster, "-i", "nginx:9", "--timeout", "30", own_process=True)
    assert run.code == 15, run.stdout + run.stderr
    assert f"rolled back by ECS to {cluster}-web:1" in run.stderr


def test_a_circuit_breaker_rollback_reads_the_same_when_ecs_has_dropped_the_deployment(
    sandbox, cluster
):
    """The poll after the breaker tripped comes only once ECS lists our failed deployment no
    more (drained by the rollback): the run still names the circuit breaker, and shows our
    deployment as last seen, never `new 0/0 ...; unknown`."""
    seed(sandbox, cluster, desired_count=1, deployment_configuration=BREAKER)
    sandbox.set_faults("web", fail_images=("*:broken",), circuit_breaker_threshold=1000)
    sandbox.scheduler.inject("DescribeServices", "hold", skip=2)  # describe, 1st poll: through
    started = start_cli(sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:broken")
    started.wait_for_call(sandbox, "DescribeServices", 3)  # the 2nd poll, held
    sandbox.set_faults("web", circuit_breaker_threshold=1)
    ecs = sandbox.client()
    wait_until(
        lambda: (
            [
                d["taskDefinition"].rsplit(":", 1)[1]
                for d in ecs.describe_services(cluster=cluster, services=["web"])["services"][0][
                    "deployments"
                ]
            ]
            == ["1"]
        )
    )
    sandbox.scheduler.release("DescribeServices")
    run = started.finish(sandbox)
    assert run.code == 15, run.stdout + run.stderr
    assert run.stderr.strip().endswith(
        f"rolled back by ECS to {cluster}-web:1, triggered by the deployment circuit breaker: "
        "tasks failed to start"
    )
    assert "new 0/0" not in run.stdout
    assert "; unknown" not in run.stdout


def test_json_output_is_one_object_on_stdout(sandbox, cluster, tmp_path):
    seed(sandbox, cluster, desired_count=1)
    gh = tmp_path / "gh_output"
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--output", "json", GITHUB_OUTPUT=str(gh))
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["outcome"] == "succeeded"
    assert data["new_task_definition"].endswith(f"{cluster}-web:2")
    assert data["old_task_definition"].endswith(f"{cluster}-web:1")
    assert data["deployment_id"].startswith("ecs-svc/")
    assert data["counts"]["running"] == 1
    assert "outcome=succeeded" in gh.read_text()


def test_no_matching_container_registers_nothing(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    run = deploy(sandbox, cluster, "-i", "other/repo:1")
    assert run.code == 14
    assert (
        "No container's image repository matches other/repo (containers: web=nginx:1.25)"
        in run.stderr
    )
    assert run.mutating_calls == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["-c", "nowhere", "-n", "web", "-i", "nginx"],
            17,
            "Cluster nowhere not found in region us-east-1; check -c/--cluster",
        ),
        (["-n", "missing", "-i", "nginx"], 17, "Service missing not found"),
    ],
)
def test_missing_aws_resources_get_one_line_and_code(sandbox, cluster, args, code, message):
    seed(sandbox, cluster, desired_count=1)
    if "-c" not in args:
        args = ["-c", cluster, *args]
    run = run_cli(sandbox, *args)
    assert run.code == code
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert run.mutating_calls == []


@pytest.mark.parametrize(
    ("controller", "code", "message"),
    [
        ("CODE_DEPLOY", 17, "No CodeDeploy deployment group deploys service web"),
        ("EXTERNAL", 19, "uses the EXTERNAL deployment controller"),
    ],
)
def test_non_ecs_deployment_controller_is_refused_before_any_change(
    sandbox, cluster, controller, code, message
):
    """EXTERNAL is refused; CODE_DEPLOY is deployed through its CodeDeploy group, which this
    service has none of (test_codedeploy.py has the rest)."""
    seed(sandbox, cluster, desired_count=0, deployment_controller=controller)
    run = deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code == code
    assert message in run.stderr
    assert run.mutating_calls == []


def test_throttling_burst_on_reads_does_not_fail_a_deploy(sandbox, cluster, monkeypatch):
    """The decision (retry a read through a burst of 10) on a backoff a hundred times
    shorter: the run is in this process, and its timing is not what is tested."""
    from tenacity import wait_random_exponential

    import ecsdeploy.ecs

    def short(multiplier: float, max: float) -> wait_random_exponential:
        return wait_random_exponential(multiplier=multiplier / 100, max=max / 100)

    monkeypatch.setattr(ecsdeploy.ecs, "wait_random_exponential", short)
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.throttle("DescribeServices", 10)
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--timeout", "60")
    assert run.code == 0, run.stderr
    assert run.calls.count("DescribeServices") >= 11


def test_endpoint_must_be_loopback_in_tests():
    from tests.conftest import assert_loopback

    with pytest.raises(RuntimeError, match="non-loopback"):
        assert_loopback("https://ecs.us-east-1.amazonaws.com")


def test_task_definition_file_is_the_base(sandbox, cluster, tmp_path: Path):
    seed(sandbox, cluster, desired_count=1)
    file = tmp_path / "td.json"
    file.write_text(
        json.dumps(
            {
                "taskDefinition": {
                    "family": f"{cluster}-web",
                    "cpu": "256",
                    "memory": "512",
                    "pidMode": "host",
                    "containerDefinitions": [{"name": "web", "image": "nginx:1.0", "memory": 128}],
                }
            }
        )
    )
    run = deploy(sandbox, cluster, "-i", "nginx:3", "--task-definition-file", str(file))
    assert run.code == 0, run.stderr
    td = current(sandbox, cluster)["taskdef"]
    assert (td["pidMode"], td["cpu"], td["containerDefinitions"][0]["image"]) == (
        "host",
        "256",
        "nginx:3",
    )


def test_unreadable_task_definition_file(sandbox, cluster, tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    run = deploy(sandbox, cluster, "-i", "nginx:3", "--task-definition-file", str(bad))
    assert run.code == 20
    assert "is not valid JSON" in run.stderr
    assert run.calls == []


@pytest.mark.parametrize(
    ("args", "code"),
    [(("-c", "x", "-i", "nginx"), 5), (("-c", "x", "-n", "web"), 8), (("--bogus",), 3)],
)
def test_usage_exit_codes_from_the_console_script(sandbox, args, code):
    """The exit paths of bad input, through a real process (in-process runs check the rest)."""
    run = run_cli(sandbox, *args, own_process=True)
    assert run.code == code, run.stderr
    assert run.calls == []


def test_a_cluster_looked_for_in_another_region_names_the_region(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)  # in us-east-1
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-r", "eu-west-1")
    assert run.code == 17, run.stderr
    assert f"Cluster {cluster} not found in region eu-west-1; check -c/--cluster, and " in (
        run.stderr
    )
    assert "-r/--region" in run.stderr
    assert run.mutating_calls == []


def test_a_region_that_does_not_exist_is_one_line_at_once(sandbox, cluster):
    """Well formed, but no endpoint answers for it: said at once, not retried to -t."""
    import time

    started = time.monotonic()
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-r", "eu-west-9", "-t", "60")
    assert run.code == 18, run.stderr
    assert "no such region 'eu-west-9'" in run.stderr
    assert "<html" not in run.stderr.lower()
    assert time.monotonic() - started < 20  # one call, no retries until the deadline
    assert run.calls == ["DescribeServices"]


def test_no_arguments_prints_the_usage_and_points_to_help(sandbox):
    run = run_cli(sandbox)
    assert run.code == 5
    assert run.stderr.startswith("Usage:\n  ecs-deploy -c CLUSTER -n SERVICE -i IMAGE")
    assert run.stderr.rstrip().endswith(
        "ERROR: One of -n/--service-name or -d/--task-definition is required; see ecs-deploy "
        "--help for every option"
    )
    assert run.calls == []


def test_verbose_says_which_region_endpoint_and_account_it_uses(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-v", AWS_DEFAULT_REGION="us-east-1")
    assert run.code == 0, run.stderr
    said = run.stdout + run.stderr
    assert (
        f"using region us-east-1, endpoint {sandbox.endpoint}, account 123456789012 as "
        "arn:aws:sts::123456789012:" in said
    )
    assert "region=None" not in said  # the variable's region is the one used, not "None"
