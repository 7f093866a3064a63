"""Why it failed, in the CI log, through the real command against the sandbox: the failed
container's own log lines (in another region, masked, escaped, grouped), where the logs are
not, reads that fail, the load balancer's reason, container health, one-off tasks, a native
deployment and a release; and the preflight: each check passes, fails (exit 25, nothing
registered) and is skipped on AccessDenied, and makes no call when nothing needs it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import FAST, SENTINEL_SECRET, ecr_image, run_cli

BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
CRASH = ("nginx:crash",)


def awslogs(group: str = "/ecs/web", prefix: str | None = "ecs", **more: str) -> dict[str, Any]:
    options = {"awslogs-group": group, **({"awslogs-stream-prefix": prefix} if prefix else {})}
    return {"logConfiguration": {"logDriver": "awslogs", "options": {**options, **more}}}


def service(sandbox, cluster, container: dict[str, Any] | None = None, **kwargs: Any) -> None:
    kwargs.setdefault("deployment_configuration", BREAKER)
    kwargs.setdefault("desired_count", 1)
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", container=container, **kwargs)


def log_group(sandbox, name: str = "/ecs/web", region: str | None = None) -> None:
    client = sandbox.client("logs") if region is None else _client(sandbox, "logs", region)
    client.create_log_group(logGroupName=name)


def _client(sandbox, name: str, region: str) -> Any:
    import boto3

    return boto3.client(
        name,
        endpoint_url=sandbox.endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def deploy(sandbox, cluster, *args: str, **env: str):
    run = run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, *args, "-t", "30", **env)
    return run, json.loads(run.stdout.strip().splitlines()[-1]) if "--output" in args else None


def said(run) -> str:
    return run.stdout + run.stderr


# -- the failed container's own logs --------------------------------------------------------


def test_a_crash_shows_the_containers_last_log_lines_masked_and_escaped(sandbox, cluster):
    log_group(sandbox, f"/{cluster}")
    service(
        sandbox,
        cluster,
        {
            **awslogs(f"/{cluster}"),
            "environment": [
                {"name": "DB_PASSWORD", "value": "hunter2-secret"},
                {"name": "DATABASE_URL", "value": "postgres://app:pa55w0rd@db/app"},
            ],
        },
    )
    sandbox.set_faults(
        crash_images=CRASH,
        crash_log=(
            "connecting with hunter2-secret to postgres://app:pa55w0rd@db/app",
            "\x1b[31mFATAL\x1b[0m cannot start",
            "KeyError: 'DATABASE_URL'",
        ),
    )
    run, summary = deploy(sandbox, cluster, "-i", "nginx:crash", "--output", "json")
    assert run.code == 15, run.stderr  # the verdict is ECS's rollback, unchanged
    assert "KeyError: 'DATABASE_URL'" in said(run)
    assert "\\x1b[31mFATAL\\x1b[0m cannot start" in said(run)
    assert "\x1b[31m" not in said(run)
    assert "hunter2-secret" not in said(run)
    assert "pa55w0rd" not in said(run)
    assert "connecting with **** to postgres://app:****@db/app" in said(run)
    first = summary["diagnosis"][0]
    container = first["containers"][0]
    assert container["container"] == "web"
    assert container["exit_code"] == 1
    assert container["log_group"] == f"/{cluster}"
    assert container["log_stream"] == f"ecs/web/{first['task_arn'].rsplit('/', 1)[1]}"
    assert container["lines"][-1] == "KeyError: 'DATABASE_URL'"


def test_the_deploying_identitys_own_key_in_a_crash_log_is_masked(sandbox, cluster):
    """The key the deploy signs with (here the environment's), printed by the crashing
    container: masked in the diagnosis, text and JSON (the secrets scan checks every run)."""
    log_group(sandbox, f"/{cluster}")
    service(sandbox, cluster, awslogs(f"/{cluster}"))
    sandbox.set_faults(
        crash_images=CRASH, crash_log=(f"env: AWS_SECRET_ACCESS_KEY={SENTINEL_SECRET}",)
    )
    run, summary = deploy(sandbox, cluster, "-i", "nginx:crash", "--output", "json")
    assert run.code == 15, run.stderr
    assert "| env: AWS_SECRET_ACCESS_KEY=****" in said(run)
    lines = summary["diagnosis"][0]["containers"][0]["lines"]
    assert lines[-1] == "env: AWS_SECRET_ACCESS_KEY=****"


def test_bidi_controls_and_invisible_characters_are_shown_escaped(sandbox, cluster):
    """A log line cannot reorder what is printed around it (a bidi override, isolate or
    mark) nor hide text in it (zero-width characters, a byte order mark, tag characters):
    each shows as its escape, in the text and in the JSON summary alike."""
    log_group(sandbox, f"/{cluster}")
    service(sandbox, cluster, awslogs(f"/{cluster}"))
    sandbox.set_faults(
        crash_images=CRASH,
        crash_log=(
            "access granted \u202edenied\u202c for \u2066admin\u2069\u200f",
            "pass\u200bword\u200d\u2060 \ufeffchecked\U000e0041 soft\xadhyphen",
            "kept: ünïcode 日本",
        ),
    )
    run, summary = deploy(sandbox, cluster, "-i", "nginx:crash", "--output", "json")
    assert run.code == 15, run.stderr
    shown = [
        "access granted \\u202edenied\\u202c for \\u2066admin\\u2069\\u200f",
        "pass\\u200bword\\u200d\\u2060 \\ufeffchecked\\U000e0041 soft\\xadhyphen",
        "kept: ünïcode 日本",
    ]
    for line in shown:
        assert f"| {line}" in said(run)
    assert summary["diagnosis"][0]["containers"][0]["lines"][-3:] == shown
    for raw in ("\u202e", "\u202c", "\u2066", "\u200b", "\u200d", "\ufeff", "\U000e0041"):
        assert raw not in said(run)


def test_three_or_more_identical_failures_read_the_logs_once(sandbox, cluster):
    log_group(sandbox, f"/{cluster}")
    service(sandbox, cluster, awslogs(f"/{cluster}"), desired_count=3)
    sandbox.set_faults(crash_images=CRASH)
    run, summary = deploy(sandbox, cluster, "-i", "nginx:crash", "--output", "json")
    assert run.code == 15, run.stderr
    assert len(summary["diagnosis"]) >= 3
    assert run.calls.count("GetLogEvents") == 1
    same = [d for d in summary["diagnosis"] if d["same_failure_as"]]
    assert len(same) == len(summary["diagnosis"]) - 1
    assert "the same failure as task" in said(run)
    assert "(its logs are above)" in said(run)


@pytest.mark.parametrize(
    ("container", "image", "faults", "note"),
    [
        (None, "nginx:gone", {"fail_images": ("*:gone",)}, "no logConfiguration"),
        (awslogs(), "nginx:gone", {"fail_images": ("*:gone",)}, "no log stream to read"),
    ],
    ids=["no log configuration", "never started"],
)
def test_a_repeated_failure_says_its_logs_are_above_only_when_they_are(
    sandbox, cluster, container, image, faults, note
):
    if container is not None:
        container = awslogs(f"/{cluster}")
        log_group(sandbox, f"/{cluster}")
    service(sandbox, cluster, container, desired_count=2)
    sandbox.set_faults(**faults)
    run, _ = deploy(sandbox, cluster, "-i", image)
    assert run.code == 15, run.stderr
    assert f"container web: {note}" in said(run)
    assert "the same failure as task" in said(run)
    assert "its logs are above" not in said(run)


def test_logs_in_another_region_are_read_there(sandbox, cluster):
    log_group(sandbox, f"/{cluster}", region="eu-west-1")
    service(sandbox, cluster, awslogs(f"/{cluster}", **{"awslogs-region": "eu-west-1"}))
    sandbox.set_faults(crash_images=CRASH)
    run, summary = deploy(sandbox, cluster, "-i", "nginx:crash", "--output", "json")
    assert run.code == 15, run.stderr
    assert f"/{cluster} ecs/web/" in said(run)
    assert "(eu-west-1)" in said(run)
    assert summary["diagnosis"][0]["containers"][0]["log_region"] == "eu-west-1"


@pytest.mark.parametrize(
    ("container", "note"),
    [
        (awslogs("/somewhere", prefix=None), "awslogs without awslogs-stream-prefix"),
        ({"logConfiguration": {"logDriver": "awsfirelens"}}, "logs go through FireLens"),
        ({"logConfiguration": {"logDriver": "splunk", "options": {}}}, "logs go to Splunk"),
        ({"logConfiguration": {"logDriver": "none"}}, "logging is off"),
    ],
)
def test_where_the_logs_are_not_is_one_line(sandbox, cluster, container, note):
    if "/somewhere" in json.dumps(container):
        log_group(sandbox, "/somewhere") if not _exists(sandbox, "/somewhere") else None
    service(sandbox, cluster, container)
    sandbox.set_faults(crash_images=CRASH)
    run, _ = deploy(sandbox, cluster, "-i", "nginx:crash")
    assert run.code == 15, run.stderr
    assert f"container web: {note}" in said(run)
    assert "GetLogEvents" not in run.calls


def _exists(sandbox, group: str) -> bool:
    groups = sandbox.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return any(g["logGroupName"] == group for g in groups)


def test_access_denied_on_logs_is_one_line_and_the_verdict_stands(sandbox, cluster):
    log_group(sandbox, f"/{cluster}")
    service(sandbox, cluster, awslogs(f"/{cluster}"))
    sandbox.set_faults(crash_images=CRASH)
    sandbox.scheduler.inject(
        "GetLogEvents", "error", code="AccessDeniedException", message="no logs for you",
        count=None, seconds=60,
    )  # fmt: skip
    run, _ = deploy(sandbox, cluster, "-i", "nginx:crash")
    assert run.code == 15, run.stderr
    assert "logs not read: GetLogEvents: access denied" in said(run)
    assert "the role needs logs:GetLogEvents: see docs/iam.md" in said(run)


def test_a_container_that_never_started_has_no_stream_and_says_so(sandbox, cluster):
    log_group(sandbox, f"/{cluster}")
    service(sandbox, cluster, awslogs(f"/{cluster}"))
    sandbox.set_faults(fail_images=("*:gone",))
    run, _ = deploy(sandbox, cluster, "-i", "nginx:gone")
    assert run.code == 15, run.stderr
    assert "no log stream to read" in said(run)
    assert "CannotPullContainerError" in said(run)


def test_log_lines_zero_reads_no_logs(sandbox, cluster):
    log_group(sandbox, f"/{cluster}")
    service(sandbox, cluster, awslogs(f"/{cluster}"))
    sandbox.set_faults(crash_images=CRASH)
    run, _ = deploy(sandbox, cluster, "-i", "nginx:crash", "--log-lines", "0")
    assert run.code == 15, run.stderr
    assert "GetLogEvents" not in run.calls


# -- health ------------------------------------------------------------------------------------


def test_elb_health_check_reason_codes_are_read_while_the_target_exists(sandbox, cluster):
    group = sandbox.target_group(f"{cluster}-tg")
    service(
        sandbox,
        cluster,
        load_balancers=[{"targetGroupArn": group, "containerName": "web", "containerPort": 80}],
    )
    sandbox.set_faults(unhealthy_target_images=("nginx:bad",))
    run, summary = deploy(sandbox, cluster, "-i", "nginx:bad", "--output", "json")
    assert run.code == 15, run.stderr
    assert (
        "unhealthy: Target.ResponseCodeMismatch: Health checks failed with these codes: [502]"
        in (run.stderr)
    )
    targets = [t for d in summary["diagnosis"] for t in d["target_health"]]
    assert targets
    assert targets[0]["reason"] == "Target.ResponseCodeMismatch"
    assert "DescribeTargetHealth" in run.calls


def test_container_health_status_is_shown(sandbox, cluster):
    service(sandbox, cluster, health_check=True)
    sandbox.set_faults(unhealthy=True)
    run, summary = deploy(sandbox, cluster, "-i", "nginx:2", "--output", "json")
    assert run.code == 15, run.stderr
    assert "container web health UNHEALTHY" in said(run)
    assert summary["diagnosis"][0]["containers"][0]["health_status"] == "UNHEALTHY"


# -- the same diagnosis everywhere --------------------------------------------------------


def test_a_one_off_task_that_fails_shows_its_logs(sandbox, cluster):
    log_group(sandbox, f"/{cluster}")
    service(sandbox, cluster, awslogs(f"/{cluster}"))
    sandbox.set_faults(exit_codes=(("web", 3),))
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "-i", "nginx:2", "--run-task",
        "--wait-for-success", *FAST, "--output", "json",
    )  # fmt: skip
    assert run.code == 67, run.stderr  # 64 + the container's own 3
    assert "web | KeyError: 'DATABASE_URL'" in run.stderr  # streamed as it was logged
    summary = json.loads(run.stdout)
    assert summary["task_exit_code"] == 3
    assert summary["diagnosis"][0]["containers"][0]["lines"][-1] == "KeyError: 'DATABASE_URL'"


def test_a_native_deployments_failed_green_tasks_are_diagnosed(sandbox, cluster, monkeypatch):
    monkeypatch.setattr(sandbox.scheduler, "minute", 0.1)
    log_group(sandbox, f"/{cluster}")
    service(
        sandbox,
        cluster,
        awslogs(f"/{cluster}"),
        deployment_configuration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1, **BREAKER},
    )
    sandbox.set_faults(fail_images=("*:gone",))
    run, summary = deploy(sandbox, cluster, "-i", "nginx:gone", "--output", "json")
    assert run.code == 15, run.stderr
    assert "BLUE_GREEN deploy" in said(run)
    assert summary["diagnosis"][0]["containers"][0]["note"].startswith("no log stream to read")


def test_each_service_of_a_release_is_diagnosed(sandbox, cluster):
    log_group(sandbox, f"/{cluster}")
    for name in ("a", "b"):
        sandbox.seed_service(
            cluster, name, desired_count=1, family=f"{cluster}-{name}",
            deployment_configuration=BREAKER, container=awslogs(f"/{cluster}"),
        )  # fmt: skip
    sandbox.set_faults("b", crash_images=CRASH)
    run = run_cli(sandbox, "-c", cluster, "-n", "a,b", *FAST, "-i", "nginx:crash", "-t", "30")
    assert run.code in (1, 15), run.stderr
    assert "[b]     | KeyError: 'DATABASE_URL'" in run.stdout


# -- preflight ---------------------------------------------------------------------------------

ACCOUNT = "123456789012"
REPO = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"


def test_preflight_refuses_an_ecr_tag_that_does_not_exist_before_anything_is_registered(
    sandbox, cluster
):
    image = ecr_image(sandbox, f"{cluster}-web", "1.0")
    service(sandbox, cluster, image=image)
    run, summary = deploy(sandbox, cluster, "-i", f"{REPO}/{cluster}-web:9.9", "--output", "json")
    assert run.code == 25, run.stderr
    assert f"image {REPO}/{cluster}-web:9.9" in said(run)
    assert "nothing was registered" in run.stderr
    assert run.mutating_calls == []
    assert summary["preflight"][0]["status"] == "missing"
    ok = run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, "-i", image.replace(":1.0", ":1.0"))
    assert ok.code == 0, ok.stderr
    assert "Preflight: 1 of 1 checked exist" in said(ok)


def test_the_ecr_image_check_leaves_beside_the_first_read_not_after_the_task_definition(
    sandbox, cluster
):
    """-i alone says which image to check: its DescribeImages does not wait for the
    service's description (held a second here) nor for the task definition's."""
    image = ecr_image(sandbox, f"{cluster}-web", "1.0")
    new = ecr_image(sandbox, f"{cluster}-web", "2.0")
    service(sandbox, cluster, image=image)
    sandbox.scheduler.inject("DescribeServices", "delay", delay=1.0)
    run, _ = deploy(sandbox, cluster, "-i", new)
    assert run.code == 0, run.stderr
    assert run.calls.count("DescribeImages") == 1
    assert run.calls.index("DescribeImages") < run.calls.index("DescribeTaskDefinition")
    assert "Preflight: 1 of 1 checked exist" in said(run)


@pytest.mark.parametrize("kind", ["parameter", "secret", "log group"])
def test_each_preflight_check_passes_fails_and_is_skipped_on_access_denied(
    sandbox, cluster, kind, tmp_path
):
    ssm, secrets, logs = (
        sandbox.client("ssm"),
        sandbox.client("secretsmanager"),
        sandbox.client("logs"),
    )
    if kind == "parameter":
        ssm.put_parameter(Name=f"/{cluster}/db", Value="x", Type="SecureString")
        present, absent, operation = f"/{cluster}/db", f"/{cluster}/nope", "GetParameters"
        change = lambda name: ("--secret", "web", f"DB={name}")  # noqa: E731
    elif kind == "secret":
        present = secrets.create_secret(Name=f"{cluster}-db", SecretString="s")["ARN"]
        absent = present[:-6] + "XXXXXX"
        operation = "DescribeSecret"
        change = lambda name: ("--secret", "web", f"DB={name}")  # noqa: E731
    else:
        logs.create_log_group(logGroupName=f"/{cluster}/present")
        present, absent, operation = (
            f"/{cluster}/present",
            f"/{cluster}/absent",
            "DescribeLogGroups",
        )
        change = None
    if change is None:
        service(sandbox, cluster, awslogs(present))
        file = _file(tmp_path, cluster, absent)
        bad = run_cli(
            sandbox, "-c", cluster, "-n", "web", *FAST, "--task-definition-file", file,
            "-i", "nginx:2",
        )  # fmt: skip
    else:
        service(sandbox, cluster)
        bad = run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, *change(absent))
    assert bad.code == 25, bad.stderr
    assert absent in bad.stderr
    assert bad.mutating_calls == []
    good_args = ("-i", "nginx:2") if change is None else change(present)
    good = run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, *good_args)
    assert good.code == 0, good.stderr
    assert operation in good.calls
    sandbox.scheduler.inject(
        operation, "error", code="AccessDeniedException", message="no", count=None, seconds=30
    )
    denied_args = ("-i", "nginx:3") if change is None else change(absent)
    denied = run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, *denied_args)
    assert denied.code == 0, denied.stderr  # never failed for lack of permission
    assert "Preflight skipped" in said(denied)
    assert "was refused" in said(denied)


def _file(tmp_path, cluster: str, group: str) -> str:
    td = {
        "family": f"{cluster}-web",
        "containerDefinitions": [
            {"name": "web", "image": "nginx:1", "memory": 128, **awslogs(group)}
        ],
    }
    path = tmp_path / "td.json"
    path.write_text(json.dumps(td))
    return str(path)


def test_a_deploy_that_needs_nothing_checked_makes_no_preflight_call(sandbox, cluster):
    service(sandbox, cluster)
    run, _ = deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code == 0, run.stderr
    checks = {"DescribeImages", "GetParameters", "DescribeSecret", "DescribeLogGroups"}
    assert not checks & set(run.calls)
    assert "Preflight: not checked, not in ECR: nginx:2" in said(run)


def test_dry_run_runs_the_preflight_and_no_preflight_turns_it_off(sandbox, cluster):
    service(sandbox, cluster)
    missing = f"{REPO}/{cluster}-nothing:1"
    dry, _ = deploy(sandbox, cluster, "-i", missing, "--container", "web", "--dry-run")
    assert dry.code == 25, dry.stderr
    off, _ = deploy(
        sandbox, cluster, "-i", missing, "--container", "web", "--dry-run", "--no-preflight"
    )
    assert off.code == 0, off.stderr
    assert "DescribeImages" not in off.calls
