"""Secrets in what a user types: a `NAME=VALUE` argument's value never reaches stdout, stderr,
the JSON summary or GITHUB_OUTPUT, whichever message (ours or click's) would have quoted it,
and wherever on the command line (or in ECS_DEPLOY_ variables) it was put. Secret-looking
names, URL passwords and secret-named Docker labels are masked in every diff and summary.
The image and the revision are the exceptions: showing them is the output's point."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FAST, SENTINEL_ENV_VALUE, SENTINEL_SECRET, run_cli, seed

#: How a secret ends up on a command line by mistake or on purpose, with the exit code each
#: gets; `{s}` is the sentinel, `{c}` the cluster. All are --dry-run or refused: no writes.
SHAPES: list[tuple[tuple[str, ...], int]] = [
    (("--env", "DB_PASSWORD={s}", "LOG_LEVEL=debug", "--dry-run"), 14),  # container forgotten
    (("--env", "web", "LOG_LEVEL=debug", "TOKEN={s}"), 3),  # one word too many: click's error
    (("--env", "web", "API_TOKEN={s}", "--dry-run"), 0),
    (("--docker-label", "web", "auth.password={s}", "--dry-run"), 0),
    (("--env", "web", "DATABASE_URL=postgres://app:{s}@db/app", "--dry-run"), 0),
    (("--env", "web", "REDIS_URL=redis://:{s}@cache:6379", "--dry-run"), 0),
    (("--secret", "web", "DB={s}:x", "--dry-run"), 3),  # not an SSM name or ARN
    (("--env", "web", "{s}"), 3),  # no '='
    (("--env-file", "web", "/nonexistent/x={s}"), 3),
    (("--unset-env", "web=x{s}", "A", "--dry-run"), 14),
    (("--env", "web", "A={s}", "web", "--dry-run"), 3),  # dangling word
    (("--cpu", "web", "CPU={s}"), 3),  # click: not an integer
]
SENTINEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=6, max_size=20)


@pytest.fixture(scope="module")
def service(sandbox) -> str:
    cluster = "secrets-scan"
    seed(sandbox, cluster, desired_count=1)
    return cluster


@pytest.mark.parametrize("shape", SHAPES, ids=[" ".join(a) for a, _ in SHAPES])
@settings(
    max_examples=3,  # each is a run of the command: the shapes are the breadth here
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(word=SENTINEL, json_output=st.booleans())
def test_a_value_typed_in_never_reaches_any_output(
    sandbox, service, tmp_path, shape, word, json_output
):
    secret = f"snt1{word}"
    args, code = shape
    argv = [a.replace("{s}", secret) for a in args]
    gh = tmp_path / "gh"
    gh.write_text("")
    out = ("--output", "json") if json_output else ()
    run = run_cli(sandbox, "-c", service, "-n", "web", *out, *argv, GITHUB_OUTPUT=str(gh))
    assert run.code == code, run.stderr
    for text in (run.stdout, run.stderr, gh.read_text()):
        assert secret not in text
    assert "Traceback" not in run.stderr
    assert run.mutating_calls == []


def test_the_same_through_the_environment(sandbox, service, tmp_path):
    gh = tmp_path / "gh"
    run = run_cli(
        sandbox,
        "-c",
        service,
        "-n",
        "web",
        "--dry-run",
        GITHUB_OUTPUT=str(gh),
        ECS_DEPLOY_ENV="DB_PASSWORD=snt1fromenv LOG_LEVEL=debug",
        ECS_DEPLOY_OUTPUT="json",
    )
    assert run.code == 14, run.stderr
    assert json.loads(run.stdout)["exit_code"] == 14
    for text in (run.stdout, run.stderr, gh.read_text()):
        assert "snt1fromenv" not in text
    assert "No container named DB_PASSWORD=***" in run.stderr


def test_the_image_and_revision_are_shown(sandbox, service):
    """The exceptions: an image or a revision is what the output is about."""
    run = run_cli(sandbox, "-c", service, "-n", "web", "-i", "nginx:snt1image", "--dry-run")
    assert run.code == 0, run.stderr
    assert "nginx:snt1image" in run.stdout + run.stderr


# -- values the run itself knows are secret -------------------------------------------------

LOGS = {
    "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/secrets", "awslogs-stream-prefix": "ecs"},
    }
}
#: One-run overrides: a secret-looking name, a URL's password, and a value that is shown.
OVERRIDES = (
    "--run-task-env", "web", "DB_PASSWORD=snt1override",
    "--run-task-env", "web", "DATABASE_URL=postgres://app:snt1urlpass@db/app",
    "--run-task-env", "web", "MODE=once",
)  # fmt: skip
SHOWN_OVERRIDES = [
    {"name": "DB_PASSWORD", "value": "****"},
    {"name": "DATABASE_URL", "value": "postgres://app:****@db/app"},
    {"name": "MODE", "value": "once"},
]


@pytest.fixture
def logged(sandbox, cluster) -> str:
    """A steady service whose container logs to CloudWatch (awslogs)."""
    _secrets_log_group(sandbox)
    seed(sandbox, cluster, desired_count=1, container=LOGS)
    return cluster


def _texts(run, gh) -> list[str]:
    return [run.stdout, run.stderr, gh.read_text()]


@pytest.mark.parametrize("how", ["run-task", "pre-deploy"])
def test_a_one_run_override_is_masked_in_a_dry_runs_request(sandbox, logged, tmp_path, how):
    """The RunTask request a dry run prints (text, JSON `requests`, GITHUB_OUTPUT) masks a
    --run-task-env value as the task definition's environment is masked."""
    gh = tmp_path / "gh"
    gh.write_text("")
    where = (
        ("-d", f"{logged}-web", "--run-task")
        if how == "run-task"
        else ("-n", "web", "-i", "nginx:2", "--pre-deploy", "web", "migrate")
    )
    text = run_cli(sandbox, "-c", logged, *where, *OVERRIDES, "--dry-run", GITHUB_OUTPUT=str(gh))
    assert text.code == 0, text.stderr
    assert '"value": "****"' in text.stdout
    assert '"value": "postgres://app:****@db/app"' in text.stdout
    assert '"value": "once"' in text.stdout  # not secret: shown
    as_json = run_cli(
        sandbox, "-c", logged, *where, *OVERRIDES, "--dry-run", "--output", "json",
        GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert as_json.code == 0, as_json.stderr
    request = json.loads(as_json.stdout)["requests"]["RunTask"]
    assert request["overrides"]["containerOverrides"][0]["environment"] == SHOWN_OVERRIDES
    assert "requests=" in gh.read_text()
    for run in (text, as_json):
        for said in _texts(run, gh):
            assert "snt1override" not in said
            assert "snt1urlpass" not in said


@pytest.mark.parametrize("how", ["run-task", "pre-deploy"])
def test_a_one_off_tasks_log_lines_mask_its_one_run_overrides(sandbox, logged, tmp_path, how):
    """Streamed lines and the failure's diagnosis (text and JSON) know the overrides."""
    gh = tmp_path / "gh"
    gh.write_text("")
    sandbox.set_faults(
        task_log=("connecting with snt1override", "to postgres://app:snt1urlpass@db/app"),
        exit_codes=(("web", 3),),
        crash_log=("failed: bad password snt1override", "mode once"),
    )
    where = (
        ("-d", f"{logged}-web", "--run-task", "--wait-for-success")
        if how == "run-task"
        else ("-n", "web", "-i", "nginx:2", "--pre-deploy", "web", "migrate")
    )
    run = run_cli(
        sandbox, "-c", logged, *where, *OVERRIDES, *FAST, "--output", "json",
        GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == (67 if how == "run-task" else 27), run.stderr
    assert "web | connecting with ****" in run.stderr
    assert "web | to postgres://app:****@db/app" in run.stderr
    assert "web | failed: bad password ****" in run.stderr
    lines = json.loads(run.stdout)["diagnosis"][0]["containers"][0]["lines"]
    assert "failed: bad password ****" in lines
    assert "mode once" in lines
    for said in _texts(run, gh):
        assert "snt1override" not in said
        assert "snt1urlpass" not in said


@pytest.mark.parametrize("how", ["run-task", "pre-deploy"])
def test_a_value_an_override_replaces_is_still_masked(sandbox, logged, tmp_path, how):
    """--run-task-env DB_PASSWORD=... replaces the task definition's value for this run, but
    the task may still print the definition's own (a default in a script, an image's baked
    configuration): lines are masked by both, in the stream and in the diagnosis."""
    gh = tmp_path / "gh"
    gh.write_text("")
    sandbox.set_faults(
        task_log=(f"{SENTINEL_ENV_VALUE} leaked",),
        exit_codes=(("web", 3),),
        crash_log=(f"failed with {SENTINEL_ENV_VALUE}",),
    )
    where = (
        ("-d", f"{logged}-web", "--run-task", "--wait-for-success")
        if how == "run-task"
        else ("-n", "web", "-i", "nginx:2", "--pre-deploy", "web", "migrate")
    )
    run = run_cli(
        sandbox, "-c", logged, *where, "--run-task-env", "web", "DB_PASSWORD=snt1override",
        *FAST, "--output", "json", GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == (67 if how == "run-task" else 27), run.stderr
    assert "web | **** leaked" in run.stderr
    lines = json.loads(run.stdout)["diagnosis"][0]["containers"][0]["lines"]
    assert "failed with ****" in lines
    for said in _texts(run, gh):
        assert SENTINEL_ENV_VALUE not in said
        assert "snt1override" not in said


@pytest.mark.parametrize("given", ["environment", "option", "profile"])
def test_the_deploying_identitys_own_key_is_never_shown(sandbox, logged, tmp_path, given):
    """A container that logs the key the deploy runs with (the environment's, -s, or a
    profile's): masked in the streamed lines, the diagnosis and the JSON summary."""
    key = {"environment": SENTINEL_SECRET}.get(given, f"snt1-own-{given}-secret-key-0042")
    keys: tuple[str, ...] = ()
    env: dict[str, str] = {}
    if given == "option":
        keys = ("-k", "AKIASNT1OWNKEY000001", "-s", key)
    elif given == "profile":
        credentials = tmp_path / "credentials"
        credentials.write_text(
            f"[deployer]\naws_access_key_id = AKIASNT1PROFILE00001\naws_secret_access_key = {key}\n"
        )
        keys, env = ("-p", "deployer"), {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
    gh = tmp_path / "gh"
    gh.write_text("")
    sandbox.set_faults(
        task_log=(f"AWS_SECRET_ACCESS_KEY={key}",),
        exit_codes=(("web", 3),),
        crash_log=(f"signing with {key}", f"{'x' * 220} {key}"),  # past the cut, too
    )
    run = run_cli(
        sandbox, "-c", logged, "-d", f"{logged}-web", "--run-task", "--wait-for-success",
        *keys, *FAST, "--output", "json", GITHUB_OUTPUT=str(gh), **env,
    )  # fmt: skip
    assert run.code == 67, run.stderr
    assert "web | AWS_SECRET_ACCESS_KEY=****" in run.stderr
    lines = json.loads(run.stdout)["diagnosis"][0]["containers"][0]["lines"]
    assert "signing with ****" in lines
    for said in _texts(run, gh):
        assert key not in said
        assert key[:12] not in said


# -- values a task definition holds, wherever AWS quotes them ---------------------------------

#: A task definition's secrets: a secret-looking variable of the essential container, a URL's
#: password, a sidecar's token and a secret-named Docker label (the diff's rule for each).
TD_PASSWORD = "snt1-td-password-0451"
TD_URL_PASSWORD = "snt1urlpw0452"
SIDE_TOKEN = "snt1-sidecar-token-0453"
LABEL_SECRET = "snt1-label-secret-0454"
TD_SECRETS = (TD_PASSWORD, TD_URL_PASSWORD, SIDE_TOKEN, LABEL_SECRET)
#: How AWS's text quotes them (an image's error, a command line in a stop reason, ...).
QUOTED = (
    f" pw={TD_PASSWORD} url=postgres://app:{TD_URL_PASSWORD}@db/x side={SIDE_TOKEN}"
    f" label={LABEL_SECRET}"
)
QUOTED_SHOWN = " pw=**** url=postgres://app:****@db/x side=**** label=****"


def _secrets_log_group(sandbox) -> None:
    """The log group LOGS names, once per sandbox."""
    client = sandbox.client("logs")
    if not client.describe_log_groups(logGroupNamePrefix="/secrets")["logGroups"]:
        client.create_log_group(logGroupName="/secrets")


def _with_secrets(sandbox, cluster: str, name: str = "web") -> None:
    _secrets_log_group(sandbox)
    sandbox.seed_service(
        cluster,
        name,
        family=f"{cluster}-{name}",
        desired_count=1,
        container=LOGS,
        environment={
            "DB_PASSWORD": TD_PASSWORD,
            "DATABASE_URL": f"postgres://app:{TD_URL_PASSWORD}@db/app",
        },
        extra_containers=[
            {
                "name": "side",
                "image": "busybox:1",
                "memory": 64,
                "essential": False,
                "environment": [{"name": "SIDE_TOKEN", "value": SIDE_TOKEN}],
                "dockerLabels": {"AUTH_LABEL": LABEL_SECRET, "team": "payments"},
                **LOGS,
            }
        ],
    )


def _no_td_secret(run, gh) -> None:
    for said in _texts(run, gh):
        for secret in TD_SECRETS:
            assert secret not in said


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_a_service_event_and_a_stopped_tasks_reason_never_show_the_task_definitions_secrets(
    sandbox, cluster, tmp_path, monkeypatch, json_output
):
    """ECS's service events and a task's stop reason are AWS's text, and may quote what the
    task was started with: every container's secret values, a URL's password and a
    secret-named label are masked there, in the lines, the JSON summary (`stopped_tasks`,
    `diagnosis`) and the step outputs, as in a diff."""
    _with_secrets(sandbox, cluster)
    event, fail = sandbox.scheduler.event, sandbox.scheduler._fail_to_start
    monkeypatch.setattr(sandbox.scheduler, "event", lambda svc, m: event(svc, m + QUOTED))
    monkeypatch.setattr(
        sandbox.scheduler,
        "_fail_to_start",
        lambda task, reason=None: fail(task, "CannotPullContainerError: x" + QUOTED),
    )
    sandbox.set_faults(fail_images=("*:nopull",))
    gh = tmp_path / "gh"
    gh.write_text("")
    out = ("--output", "json") if json_output else ()
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:nopull", "--max-failed-tasks", "1",
        "-t", "20", *FAST, *out, GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 1, run.stderr
    human = run.stderr if json_output else run.stdout
    assert "event: (service web) has started 1 tasks" in human
    assert QUOTED_SHOWN in next(line for line in human.splitlines() if "event:" in line)
    assert f"stopped: CannotPullContainerError: x{QUOTED_SHOWN}" in human
    if json_output:
        summary = json.loads(run.stdout)
        stopped = summary["stopped_tasks"][0]["stopped_reason"]
        assert stopped == f"CannotPullContainerError: x{QUOTED_SHOWN}"
        assert summary["diagnosis"][0]["stopped_reason"] == stopped
    assert f"x{QUOTED_SHOWN}" in gh.read_text()  # stopped_tasks=
    _no_td_secret(run, gh)


@pytest.mark.parametrize("how", ["run-task", "pre-deploy"])
def test_a_one_off_task_that_cannot_start_never_shows_the_task_definitions_secrets(
    sandbox, cluster, tmp_path, monkeypatch, how
):
    """A one-off task (or migration) that never started: its container's line (`no exit
    code`, with ECS's reason), the stop line, the ERROR line and the JSON `reason` quote
    AWS's message, masked; its one-run overrides (--run-task-env) are masked there too."""
    _with_secrets(sandbox, cluster)
    fail = sandbox.scheduler._fail_to_start
    quoted = QUOTED + " once=snt1-override-0455"
    monkeypatch.setattr(
        sandbox.scheduler,
        "_fail_to_start",
        lambda task, reason=None: fail(task, "CannotPullContainerError: x" + quoted),
    )
    sandbox.set_faults(fail_images=("*:nopull",))
    where = (
        ("-d", f"{cluster}-web", "--run-task", "--wait-for-success")
        if how == "run-task"
        else ("-n", "web", "--pre-deploy", "web", "migrate")
    )
    gh = tmp_path / "gh"
    gh.write_text("")
    run = run_cli(
        sandbox, "-c", cluster, *where, "-i", "nginx:nopull",
        "--run-task-env", "web", "SESSION_ID=snt1-override-0455", *FAST, "--output", "json",
        GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 26, run.stderr
    shown = f"CannotPullContainerError: x{QUOTED_SHOWN} once=****"
    assert f"container web: no exit code ({shown})" in run.stderr
    assert f"stopped: {shown}" in run.stderr
    what = "task" if how == "run-task" else "migration"
    assert f"ERROR: The {what} did not start: {shown}" in run.stderr
    assert json.loads(run.stdout)["reason"] == f"The {what} did not start: {shown}"
    _no_td_secret(run, gh)
    for said in _texts(run, gh):
        assert "snt1-override-0455" not in said


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_an_aws_error_that_quotes_a_secret_is_masked_in_a_release(
    sandbox, cluster, tmp_path, json_output
):
    """A release: each service's task definition is known, and an AWS message that quotes
    one of its secrets is masked in the table, the ERROR lines, JSON and the step outputs."""
    for name in ("api", "worker"):
        _with_secrets(sandbox, cluster, name)
    sandbox.scheduler.inject_error("UpdateService", 1, "InvalidParameterException", "bad" + QUOTED)
    gh = tmp_path / "gh"
    gh.write_text("")
    out = ("--output", "json") if json_output else ()
    run = run_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", *FAST, *out,
        GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 18, run.stderr
    said = f"InvalidParameterException: bad{QUOTED_SHOWN}"
    if not json_output:
        rows = [line for line in run.stdout.splitlines() if line.endswith(said)]
        assert len(rows) == 1, run.stdout  # the table's row of the service that failed
    else:
        reasons = [s["reason"] for s in json.loads(run.stdout)["services"]]
        assert any(r.endswith(said) for r in reasons), reasons
    assert said in run.stderr  # its ERROR line
    assert said in gh.read_text()
    _no_td_secret(run, gh)


def test_another_containers_secret_and_a_secret_label_are_masked_in_every_log_line(
    sandbox, cluster, tmp_path
):
    """Masking is by the whole task definition, not by the container that logs: the
    essential container printing the sidecar's token or a secret-named label's value shows
    `****`, streamed and in the failure's diagnosis, past the cut too; a label that is not
    secret is shown."""
    _with_secrets(sandbox, cluster)
    gh = tmp_path / "gh"
    gh.write_text("")
    sandbox.set_faults(
        task_log=(f"side={SIDE_TOKEN} label={LABEL_SECRET} team=payments",),
        exit_codes=(("web", 3),),
        crash_log=(f"failed side={SIDE_TOKEN}", f"{'x' * 230} {LABEL_SECRET}"),
    )
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success",
        *FAST, "--output", "json", GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 67, run.stderr
    assert "web | side=**** label=**** team=payments" in run.stderr
    lines = json.loads(run.stdout)["diagnosis"][0]["containers"][0]["lines"]
    assert "failed side=****" in lines
    assert not any(LABEL_SECRET[:8] in line for line in lines)
    _no_td_secret(run, gh)


def test_the_environments_own_key_is_masked_when_k_and_s_are_given(sandbox, logged, tmp_path):
    """-k/-s sign the calls, but the environment's AWS_SECRET_ACCESS_KEY and session token
    are still the deployer's: a container that echoes them shows `****`."""
    from tests.conftest import SENTINEL_SECRET, SENTINEL_TOKEN

    gh = tmp_path / "gh"
    gh.write_text("")
    sandbox.set_faults(task_log=(f"env {SENTINEL_SECRET} {SENTINEL_TOKEN}",))
    run = run_cli(
        sandbox, "-c", logged, "-d", f"{logged}-web", "--run-task", "--wait-for-success",
        "-k", "AKIASNT1OWNKEY000002", "-s", "snt1-own-option-secret-key-0043", *FAST,
        "--output", "json", GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert "web | env **** ****" in run.stderr
    for said in _texts(run, gh):
        assert SENTINEL_SECRET not in said
        assert SENTINEL_TOKEN not in said


def test_a_secret_that_is_also_a_word_of_the_summary_never_breaks_it(sandbox, cluster, tmp_path):
    """A secret-looking variable may hold `true` or a word the JSON summary uses as a key:
    it is masked in the strings, never in the document's own syntax (JSON and step outputs
    still parse, every key is there)."""
    seed(
        sandbox,
        cluster,
        desired_count=1,
        environment={"AUTH_ENABLED": "true", "SESSION_FIELD": "reason", "API_KEY": "exit_code"},
    )
    gh = tmp_path / "gh"
    gh.write_text("")
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", *FAST, "--output", "json",
        GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["exit_code"] == 0
    assert summary["reason"]
    assert summary["rollback"] is None
    written = dict(line.split("=", 1) for line in gh.read_text().splitlines())
    assert written["exit_code"] == "0"
    assert json.loads(written["counts"])["desired"] == 1


def test_a_secret_equal_to_a_summary_word_leaves_the_fields_a_workflow_tests(
    sandbox, cluster, tmp_path
):
    """A secret that happens to be `succeeded`, or the cluster's name, is masked in the
    lines, but `outcome` and the revisions' ARNs, which a workflow tests and passes on, are
    the run's own words: they stay as they are in JSON and the step outputs."""
    _secrets_log_group(sandbox)
    sandbox.seed_service(
        cluster, "web", family=f"{cluster}-web", desired_count=1, container=LOGS,
        environment={"API_KEY": "succeeded", "CLUSTER_TOKEN": cluster},
    )  # fmt: skip
    gh = tmp_path / "gh"
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", *FAST, "--output", "json",
        GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "succeeded"
    assert summary["new_task_definition"].endswith(f"task-definition/{cluster}-web:2")
    outputs = dict(line.split("=", 1) for line in gh.read_text().splitlines() if "=" in line)
    assert outputs["outcome"] == "succeeded"
    assert outputs["new_task_definition"] == summary["new_task_definition"]


def test_each_line_of_a_multi_line_secret_is_masked(sandbox, cluster, tmp_path):
    """A key in PEM form reaches CloudWatch one event a line: each of its lines is masked
    where a line of the log shows it."""
    _secrets_log_group(sandbox)
    body = ("snt1-pem-line-one-0461", "snt1-pem-line-two-0462")
    key = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END PRIVATE KEY-----"
    sandbox.seed_service(
        cluster, "web", family=f"{cluster}-web", desired_count=1, container=LOGS,
        environment={"PRIVATE_KEY": key},
    )  # fmt: skip
    sandbox.set_faults(task_log=body)
    gh = tmp_path / "gh"
    gh.write_text("")
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success",
        *FAST, "--output", "json", GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert "web | ****" in run.stderr
    for said in _texts(run, gh):
        assert not any(line in said for line in body), said
