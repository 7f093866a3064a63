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

from tests.conftest import run_cli, seed

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
