"""Changing what ships with the image, seeing the change first, and redeploying any revision:
through the real command against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SENTINEL_ENV_VALUE, deploy, run_cli, seed

ROLE = "arn:aws:iam::123456789012:role/app"
EXEC_ROLE = "arn:aws:iam::123456789012:role/ecs-exec"
SSM = "arn:aws:ssm:us-east-1:123456789012:parameter/app/db"
SECRETS_MANAGER = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-key-AbCdEf"
TOKEN_VALUE = "sentinel-api-token-8d1e"  # an --env value whose name looks secret


def said(run) -> str:
    return run.stdout + run.stderr


def taskdef(sandbox, arn_or_family: str) -> dict[str, Any]:
    found: dict[str, Any] = sandbox.client().describe_task_definition(taskDefinition=arn_or_family)[
        "taskDefinition"
    ]
    return found


def service_td(sandbox, cluster) -> str:
    svc = sandbox.client().describe_services(cluster=cluster, services=["web"])["services"][0]
    return str(svc["taskDefinition"])


def container(td: dict[str, Any], name: str = "web") -> dict[str, Any]:
    return next(c for c in td["containerDefinitions"] if c["name"] == name)


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("environment", [])}


SIDECAR = {"name": "log", "image": "fluent/fluent-bit:2", "memory": 64, "essential": False}


def test_every_change_option_through_the_command(sandbox, cluster, tmp_path: Path):
    seed(sandbox, cluster, extra_containers=[SIDECAR])
    before = taskdef(sandbox, service_td(sandbox, cluster))
    envfile = tmp_path / "web.env"
    envfile.write_text(
        "# settings\nexport MODE=blue\nGREETING=\"hello\\nworld\"\nLITERAL='$HOME'\n"
        "PLAIN=a b # comment\n"
    )
    run = deploy(
        sandbox,
        cluster,
        "-i",
        "nginx:2",
        "--env-file",
        "web",
        str(envfile),
        "--env",
        "web",
        "MODE=green",  # --env comes after the file: it wins
        "--env",
        "web",
        f"API_TOKEN={TOKEN_VALUE}",
        "--unset-env",
        "web",
        "DB_PASSWORD",
        "--secret",
        "web",
        f"DB={SSM}",
        "--secret",
        "log",
        f"KEY={SECRETS_MANAGER}",
        "--unset-secret",
        "web",
        "NOT_THERE",
        "--command",
        "web",
        "nginx -g 'daemon off;'",
        "--command",
        "log",
        '["fluent-bit", "-c", "/etc/fb.conf"]',
        "--cpu",
        "web",
        "128",
        "--memory",
        "web",
        "256",
        "--memory-reservation",
        "web",
        "192",
        "--docker-label",
        "web",
        "team=payments",
        "--task-cpu",
        "512",
        "--task-memory",
        "1 GB",
        "--task-role",
        ROLE,
        "--execution-role",
        EXEC_ROLE,
        "-v",
        "--no-preflight",  # the secrets named here are examples: they exist in no account
    )
    assert run.code == 0, said(run)
    assert run.applied == ["RegisterTaskDefinition", "UpdateService"]
    after = taskdef(sandbox, service_td(sandbox, cluster))
    web, log = container(after), container(after, "log")
    assert env_of(web) == {
        "MODE": "green",
        "GREETING": "hello\nworld",
        "LITERAL": "$HOME",
        "PLAIN": "a b",
        "API_TOKEN": TOKEN_VALUE,
    }
    assert web["secrets"] == [{"name": "DB", "valueFrom": SSM}]
    assert log["secrets"] == [{"name": "KEY", "valueFrom": SECRETS_MANAGER}]
    assert web["command"] == ["nginx", "-g", "daemon off;"]
    assert log["command"] == ["fluent-bit", "-c", "/etc/fb.conf"]
    assert (web["cpu"], web["memory"], web["memoryReservation"]) == (128, 256, 192)
    assert web["dockerLabels"] == {"team": "payments"}
    assert web["image"] == "nginx:2"
    assert (after["cpu"], after["memory"]) == ("512", "1 GB")
    assert (after["taskRoleArn"], after["executionRoleArn"]) == (ROLE, EXEC_ROLE)
    # every other field exactly as it was
    changed = {"environment", "secrets", "command", "cpu", "memory", "memoryReservation"}
    for key, value in container(before).items():
        if key not in changed | {"image", "dockerLabels"}:
            assert web[key] == value, key
    for key, value in container(before, "log").items():
        if key not in {"secrets", "command"}:
            assert log[key] == value, key
    # the diff, field by field per container, with secret-looking values masked
    text = said(run)
    assert "container web: image: nginx:1.25 -> nginx:2" in text
    assert "container web: environment MODE: added = green" in text
    assert "container web: environment API_TOKEN: added = ****" in text
    assert "container web: environment DB_PASSWORD: removed" in text
    assert f"container web: secrets DB: added = {SSM}" in text  # secret ARNs are shown
    assert "container log: command:" in text
    assert f"task taskRoleArn: (none) -> {ROLE}" in text
    assert TOKEN_VALUE not in text  # not even with -v


def test_a_change_without_a_new_image_registers_and_deploys(sandbox, cluster):
    seed(sandbox, cluster)
    run = deploy(sandbox, cluster, "--env", "web", "LOG_LEVEL=debug")
    assert run.code == 0, said(run)
    assert run.applied == ["RegisterTaskDefinition", "UpdateService"]
    td = taskdef(sandbox, service_td(sandbox, cluster))
    assert env_of(container(td))["LOG_LEVEL"] == "debug"
    assert env_of(container(td))["DB_PASSWORD"] == SENTINEL_ENV_VALUE  # kept as it was


def test_dry_run_reads_everything_and_writes_nothing(sandbox, cluster):
    seed(sandbox, cluster, deployment_configuration={"maximumPercent": 200})
    run = deploy(
        sandbox,
        cluster,
        "-i",
        "nginx:2",
        "--env",
        "web",
        "DB_PASSWORD=changed-too",
        "-M",
        "150",
        "--dry-run",
        "--output",
        "json",
    )
    assert run.code == 0, said(run)
    assert run.mutating_calls == []
    assert run.applied == []
    assert service_td(sandbox, cluster).endswith(f"{cluster}-web:1")
    text = run.stderr  # with --output json the human text is on stderr
    assert "--- " in text
    assert "+++ " in text
    assert '-      "image": "nginx:1.25",' in text
    assert '+      "image": "nginx:2",' in text
    assert "changed-too" not in said(run)
    assert "UpdateService request that would be sent:" in text
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "dry_run"
    assert summary["exit_code"] == 0
    assert '+      "image": "nginx:2",' in summary["diff"]
    update = summary["requests"]["UpdateService"]
    assert update["deploymentConfiguration"]["maximumPercent"] == 150
    assert update["taskDefinition"] == f"{cluster}-web:<next>"


def test_dry_run_of_a_task_definition_and_its_run_task(sandbox, cluster):
    seed(sandbox, cluster)
    run = run_cli(
        sandbox,
        "-d",
        f"{cluster}-web",
        "-c",
        cluster,
        "-i",
        "nginx:3",
        "--run-task",
        "--launch-type",
        "EC2",
        "--dry-run",
    )
    assert run.code == 0, said(run)
    assert run.mutating_calls == []
    assert "RunTask request that would be sent:" in said(run)


def test_dry_run_with_bad_changes_exits_with_the_validation_code(sandbox, cluster):
    seed(sandbox, cluster)
    run = deploy(sandbox, cluster, "--env", "nosuch", "A=1", "--dry-run")
    assert run.code == 14, said(run)
    assert run.mutating_calls == []


@pytest.mark.parametrize("form", ["family:rev", "arn", "previous"])
def test_revision_points_the_service_at_an_existing_revision(sandbox, cluster, form):
    seed(sandbox, cluster)
    assert deploy(sandbox, cluster, "-i", "nginx:2").code == 0
    first = f"{cluster}-web:1"
    arn = taskdef(sandbox, first)["taskDefinitionArn"]
    wanted = {"family:rev": first, "arn": arn, "previous": "previous"}[form]
    run = deploy(sandbox, cluster, "--revision", wanted, "--output", "json")
    assert run.code == 0, said(run)
    assert run.applied == ["UpdateService"]  # nothing registered
    assert service_td(sandbox, cluster) == arn
    assert "container web: image: nginx:2 -> nginx:1.25" in run.stderr
    assert json.loads(run.stdout)["new_task_definition"] == arn


def test_previous_is_the_services_own_history_and_the_familys_order_without_it(sandbox, cluster):
    """:1 -> :2, then another pipeline registers :3 and moves the service to it: previous is
    :2, which the service ran, by ECS's record of its deployments (never :2 by numbering
    alone when the service ran :1 before); that record denied, the family's order decides."""
    seed(sandbox, cluster)
    assert deploy(sandbox, cluster, "-i", "nginx:2").code == 0
    assert deploy(sandbox, cluster, "--revision", f"{cluster}-web:1").code == 0  # :1 again
    run = deploy(sandbox, cluster, "--revision", "previous")
    assert run.code == 0, said(run)
    assert service_td(sandbox, cluster).endswith(":2")  # numbering alone: "none before :1"
    assert f"the service ran {cluster}-web:2 before {cluster}-web:1" in said(run)
    sandbox.scheduler.inject(
        "ListServiceDeployments", "error", code="AccessDeniedException", message="no"
    )
    run = deploy(sandbox, cluster, "--revision", "previous")
    assert run.code == 0, said(run)
    assert service_td(sandbox, cluster).endswith(":1")
    assert "deployment history not read" in said(run)


def test_revision_of_another_family_or_inactive_is_refused(sandbox, cluster):
    seed(sandbox, cluster)
    ecs = sandbox.client()
    other = ecs.register_task_definition(
        family=f"{cluster}-other",
        containerDefinitions=[{"name": "web", "image": "nginx:1", "memory": 64}],
    )["taskDefinition"]["taskDefinitionArn"]
    run = deploy(sandbox, cluster, "--revision", other)
    assert run.code == 24, said(run)
    assert "is of family" in run.stderr
    assert run.mutating_calls == []
    allowed = deploy(sandbox, cluster, "--revision", other, "--allow-family-change")
    assert allowed.code == 0, said(allowed)
    assert service_td(sandbox, cluster) == other
    assert deploy(sandbox, cluster, "-i", "nginx:2").code == 0  # a new one of the service's
    gone = f"{cluster}-web:1"
    ecs.deregister_task_definition(taskDefinition=gone)
    run = deploy(sandbox, cluster, "--revision", gone)
    assert run.code == 24, said(run)
    assert "is INACTIVE" in run.stderr
    assert run.mutating_calls == []


def test_revision_already_running_changes_nothing(sandbox, cluster):
    seed(sandbox, cluster)
    run = deploy(sandbox, cluster, "--revision", f"{cluster}-web:1")
    assert run.code == 0, said(run)
    assert "already runs" in said(run)
    assert run.mutating_calls == []


def _fargate(sandbox, cluster) -> str:
    return str(
        sandbox.client().register_task_definition(
            family=f"{cluster}-fg",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "app", "image": "nginx:1", "essential": True}],
        )["taskDefinition"]["family"]
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--task-memory", "4096"), 3, "valid values: 512, 1024, 2048 MiB"),
        (("--task-cpu", "300"), 3, "valid values: 256, 512, 1024"),
        (("--task-cpu", "1 vCPU", "--task-memory", "3 GB"), 0, ""),
        (("--task-cpu", "4096", "--task-memory", "9000"), 3, "8192 to 30720 in steps of 1024"),
    ],
)
def test_fargate_cpu_and_memory_pairs_are_checked_before_any_call(
    sandbox, cluster, args, code, message
):
    family = _fargate(sandbox, cluster)
    run = run_cli(sandbox, "-d", family, *args)
    assert run.code == code, said(run)
    if code:
        assert message in run.stderr
        assert run.mutating_calls == []
    else:
        assert run.applied == ["RegisterTaskDefinition"]
        assert taskdef(sandbox, family)["cpu"] == "1 vCPU"


# -- issue 14 ----------------------------------------------------------------------------


def active(sandbox, family: str) -> list[int]:
    arns = sandbox.client().list_task_definitions(familyPrefix=family, status="ACTIVE")
    return sorted(int(a.rsplit(":", 1)[1]) for a in arns["taskDefinitionArns"])


def test_pruning_after_revision_never_passes_the_deployed_revision(sandbox, cluster):
    """The service moves from :2 back to :1 while another pipeline has just registered :3:
    --max-definitions 1 keeps :3 (newer than what was deployed), and :2, the previous."""
    seed(sandbox, cluster)
    assert deploy(sandbox, cluster, "-i", "nginx:2").code == 0
    family = f"{cluster}-web"
    sandbox.client().register_task_definition(
        family=family, containerDefinitions=[{"name": "web", "image": "nginx:3", "memory": 64}]
    )
    run = deploy(sandbox, cluster, "--revision", "previous", "--max-definitions", "1")
    assert run.code == 0, said(run)
    assert service_td(sandbox, cluster).endswith(":1")
    assert active(sandbox, family) == [1, 2, 3]
    assert "DeregisterTaskDefinition" not in run.calls
    assert f"Kept {family}:3: newer than the revision deployed" in said(run)


def test_max_definitions_one_keeps_the_previous_revision_for_a_rollback(sandbox, cluster):
    """A documented difference: the bash tool keeps only the new revision."""
    seed(sandbox, cluster)
    for tag in ("2", "3"):
        assert deploy(sandbox, cluster, "-i", f"nginx:{tag}").code == 0
    run = deploy(sandbox, cluster, "-i", "nginx:4", "--max-definitions", "1")
    assert run.code == 0, said(run)
    assert active(sandbox, f"{cluster}-web") == [3, 4]


def test_a_dry_run_of_the_revision_already_running_is_a_dry_run(sandbox, cluster):
    seed(sandbox, cluster)
    run = deploy(
        sandbox, cluster, "--revision", f"{cluster}-web:1", "--dry-run", "--output", "json"
    )
    assert run.code == 0, said(run)
    assert json.loads(run.stdout)["outcome"] == "dry_run"
    assert run.mutating_calls == []


def test_a_bare_family_is_its_newest_active_revision(sandbox, cluster):
    seed(sandbox, cluster)
    family = f"{cluster}-web"
    sandbox.client().register_task_definition(
        family=family, containerDefinitions=[{"name": "web", "image": "nginx:3", "memory": 64}]
    )
    run = deploy(sandbox, cluster, "--revision", family)
    assert run.code == 0, said(run)
    assert service_td(sandbox, cluster).endswith(":2")


@pytest.mark.parametrize("mode", ["service", "task definition"])
def test_image_ignore_without_tag_only_redeploys_what_runs_as_a_new_revision(
    sandbox, cluster, mode
):
    seed(sandbox, cluster)
    if mode == "service":
        run = deploy(sandbox, cluster, "-i", "ignore")
    else:
        run = run_cli(sandbox, "-d", f"{cluster}-web", "-i", "ignore")
    assert run.code == 0, said(run)
    assert "-i ignore without -to" in said(run)
    assert "--force-new-deployment" in said(run)
    new = taskdef(sandbox, f"{cluster}-web:2")
    assert container(new)["image"] == "nginx:1.25"  # identical: the same image again
    assert run.applied[0] == "RegisterTaskDefinition"
    if mode == "service":
        assert service_td(sandbox, cluster).endswith(":2")
