"""The GitHub Action: the inputs that become a command line (pure), and action.yml's deploy
step run as GitHub runs it (each env entry's `${{ inputs.X }}` filled from `with:` or the
input's default) against the sandbox, with the original Action's documented `with:` block."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecsdeploy.action import ActionInputError, arguments
from tests.conftest import SENTINEL_KEY_ID, SENTINEL_SECRET, ecr_image, run_cli

ROOT = Path(__file__).resolve().parent.parent
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cluster-name/image_name"


def step_env(with_: dict[str, str]) -> dict[str, str]:
    """The deploy step's environment for this `with:` block, as the runner would set it."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    unknown = set(with_) - set(action["inputs"])
    assert not unknown, f"inputs action.yml does not declare: {unknown}"
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "deploy")
    env = {}
    for key, value in step["env"].items():
        name = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", value)
        assert name, value
        default = action["inputs"][name.group(1)].get("default", "")
        env[key] = str(with_.get(name.group(1), default))
    return env


def run_action(sandbox, with_: dict[str, str], **extra: str):
    return run_cli(
        sandbox, command=(sys.executable, "-m", "ecsdeploy.action"), **step_env(with_), **extra
    )


def test_the_original_readme_with_block_works_when_only_uses_changes(sandbox, cluster):
    """silinternational/ecs-deploy's README, GitHub Actions section, as written (its names
    and `_cmd` companions), against a service of the sandbox."""
    sandbox.seed_service(cluster, "aws-service-name", image=f"{ECR}:1.0", desired_count=1)
    ecr_image(sandbox, "cluster-name/image_name", "latest")  # the preflight looks for it
    with_ = {
        "aws_access_key_cmd": "--aws-access-key",
        "aws_access_key": SENTINEL_KEY_ID,
        "aws_secret_key_cmd": "--aws-secret-key",
        "aws_secret_key": SENTINEL_SECRET,
        "cluster_cmd": "--cluster",
        "cluster": cluster,
        "image_cmd": "--image",
        "image": f"{ECR}:latest",
        "region_cmd": "--region",
        "region": "us-east-1",
        "service_name_cmd": "--service-name",
        "service_name": "aws-service-name",
        "timeout_cmd": "--timeout",
        "timeout": "360",
    }
    run = run_action(sandbox, with_, ECS_DEPLOY_POLL_INTERVAL="0.1")
    assert run.code == 0, run.stderr
    ecs = sandbox.client()
    svc = ecs.describe_services(cluster=cluster, services=["aws-service-name"])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    assert td["containerDefinitions"][0]["image"] == f"{ECR}:latest"
    # as the original Action does, --min 100 --max 200 when the workflow leaves them out
    assert svc["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert svc["deploymentConfiguration"]["maximumPercent"] == 200


def test_our_inputs_and_args_split_as_words(sandbox, cluster):
    sandbox.seed_service(cluster, "web", desired_count=1)
    with_ = {
        "cluster": cluster,
        "service-name": "web",
        "image": "nginx:2",
        "enable-rollback": "true",
        "args": "--env web 'GREETING=hello world' --poll-interval 0.1 --output json",
    }
    run = run_action(sandbox, with_)
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["outcome"] == "succeeded"
    assert "GREETING: added = hello world" in run.stderr


#: What the original Action passes unless the workflow sets them.
DEFAULTS = ["--min", "100", "--max", "200"]


@pytest.mark.parametrize(
    ("inputs", "argv"),
    [
        ({}, []),
        ({"SERVICE_NAME": "web"}, ["--service-name", "web", *DEFAULTS]),
        # a flag: its _cmd input alone, or the input true; "false" wins over the _cmd
        ({"ENABLE_ROLLBACK_CMD": "--enable-rollback"}, ["--enable-rollback", *DEFAULTS]),
        ({"FORCE_NEW_DEPLOYMENT": "true"}, ["--force-new-deployment", *DEFAULTS]),
        ({"RUN_TASK": "false", "RUN_TASK_CMD": "--run-task"}, DEFAULTS),
        ({"WAIT_FOR_SUCCESS": "yes"}, ["--wait-for-success", *DEFAULTS]),
        # a workflow that sets min/max keeps its own
        ({"TAG_ONLY": "1.2", "MIN_CMD": "--min"}, ["--tag-only", "1.2", "--max", "200"]),
        # args alone is ours (no defaults): shell words, quotes honoured, nothing expanded
        ({"ARGS": "--env web 'A=b c' *.json $HOME"}, ["--env", "web", "A=b c", "*.json", "$HOME"]),
        ({"ARGS": '--command web "echo \\"hi\\""'}, ["--command", "web", 'echo "hi"']),
    ],
)
def test_inputs_become_arguments(inputs: dict[str, str], argv: list[str]):
    environ: dict[str, Any] = {f"ECS_DEPLOY_ACTION_{k}": v for k, v in inputs.items()}
    if "MIN_CMD" in inputs:
        environ["ECS_DEPLOY_MIN"] = "50"  # the shared `min` input, set by the workflow
    assert arguments(environ) == argv


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"ARGS": "--env web 'unclosed"}, "input args cannot be split"),
        ({"RUN_TASK": "maybe"}, "input run_task must be true or false"),
    ],
)
def test_bad_inputs_are_usage_errors(inputs: dict[str, str], message: str):
    with pytest.raises(ActionInputError, match=message):
        arguments({f"ECS_DEPLOY_ACTION_{k}": v for k, v in inputs.items()})


def test_a_bad_input_exits_3_before_any_call(sandbox, cluster):
    run = run_action(sandbox, {"cluster": cluster, "args": "--env web 'oops"})
    assert run.code == 3, run.stderr
    assert "ERROR: input args cannot be split" in run.stderr
    assert run.calls == []
