"""What CI systems call it with: options from ECS_DEPLOY_* variables, shell completion."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import cli_path, run_cli, seed


def image_of(sandbox, cluster) -> str:
    ecs = sandbox.client()
    svc = ecs.describe_services(cluster=cluster, services=["web"])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    return str(td["containerDefinitions"][0]["image"])


def test_every_option_from_the_environment(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    run = run_cli(
        sandbox,
        ECS_DEPLOY_CLUSTER=cluster,
        ECS_DEPLOY_SERVICE_NAME="web",
        ECS_DEPLOY_IMAGE="nginx:2",
        ECS_DEPLOY_ENV="web A=1 web B=2",
        ECS_DEPLOY_ENABLE_ROLLBACK="true",
        ECS_DEPLOY_POLL_INTERVAL="0.1",
        ECS_DEPLOY_OUTPUT="json",
        ECS_DEPLOY_VERSION="3.10.22",  # a pin some CI files set: not --version
    )
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)  # ECS_DEPLOY_OUTPUT=json: the summary alone on stdout
    assert summary["outcome"] == "succeeded"
    assert image_of(sandbox, cluster) == "nginx:2"
    assert "container web: environment A: added = 1" in run.stderr
    assert "container web: environment B: added = 2" in run.stderr


def test_the_command_line_wins_over_the_environment(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    run = run_cli(
        sandbox,
        "-i",
        "nginx:3",
        "--poll-interval",
        "0.1",
        ECS_DEPLOY_CLUSTER=cluster,
        ECS_DEPLOY_SERVICE_NAME="web",
        ECS_DEPLOY_IMAGE="nginx:2",
    )
    assert run.code == 0, run.stderr
    assert image_of(sandbox, cluster) == "nginx:3"


def test_a_bad_value_from_the_environment_is_a_usage_error(sandbox, cluster):
    run = run_cli(sandbox, "-c", cluster, "-n", "web", "-i", "x", ECS_DEPLOY_TIMEOUT="soon")
    assert run.code == 3, run.stderr
    assert "'soon' is not a number of seconds" in run.stderr
    assert run.calls == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts(shell):
    env = {**os.environ, "_ECS_DEPLOY_COMPLETE": f"{shell}_source"}
    out = subprocess.run([cli_path()], env=env, capture_output=True, text=True, check=True)
    assert "_ECS_DEPLOY_COMPLETE" in out.stdout
    assert "ecs_deploy" in out.stdout


def test_completion_offers_options_and_choices():
    def complete(words: str, index: int) -> list[str]:
        env = {
            **os.environ,
            "_ECS_DEPLOY_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(index),
        }
        out = subprocess.run([cli_path()], env=env, capture_output=True, text=True, check=True)
        return [line.split(",", 1)[1] for line in out.stdout.splitlines()]

    assert "--strategy" in complete("ecs-deploy --str", 1)
    assert complete("ecs-deploy --strategy ", 2) == ["rolling", "blue-green", "linear", "canary"]
    assert complete("ecs-deploy --on-pause ", 2) == ["wait", "continue", "rollback", "exit"]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--strategy", "bluegreen"), {"ECS_DEPLOY_OUTPUT": "json"}),  # click refuses the value
        (("--no-such-option",), {"ECS_DEPLOY_OUTPUT": "json"}),
        (("--strategy", "bluegreen"), {"ECS_DEPLOY_OUTPUT": "json", "ECS_DEPLOY_QUIET": "true"}),
    ],
)
def test_json_from_the_environment_on_a_parse_error(sandbox, cluster, tmp_path, args, env):
    gh = tmp_path / "gh"
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "x", *args, GITHUB_OUTPUT=str(gh), **env
    )
    assert run.code == 3, run.stderr
    summary = json.loads(run.stdout)
    assert (summary["exit_code"], summary["outcome"]) == (3, "error")
    assert "exit_code=3" in gh.read_text()


def test_the_command_line_output_wins_over_the_environment_on_a_parse_error(sandbox, cluster):
    run = run_cli(sandbox, "-c", cluster, "--output", "text", "--bogus", ECS_DEPLOY_OUTPUT="json")
    assert run.code == 3
    assert run.stdout == ""


def test_empty_arguments_are_skipped_as_the_original_does(sandbox, cluster):
    """Its GitHub Action passes '' for every unset input: `ecs-deploy ... IMG ''` deploys."""
    seed(sandbox, cluster, desired_count=1)
    run = run_cli(
        sandbox, "", "-c", cluster, "", "-n", "web", "-i", "nginx:2", "", "", "--poll-interval",
        "0.1", "",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert image_of(sandbox, cluster) == "nginx:2"


def test_an_empty_option_value_stays_a_value(sandbox, cluster):
    run = run_cli(sandbox, "-c", cluster, "-n", "web", "-to", "")
    assert run.code == 8, run.stderr  # -to '' is no -to, as in bash: no image
    assert run.calls == []
