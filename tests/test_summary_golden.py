"""`--output json` does not drift: the summaries of representative runs (a success, our
rollback, ECS's rollback, a native rollback, a dry run, bad input, an --atomic release),
through the real command against the sandbox, compared with the ones recorded in
tests/golden/summaries.json, byte for byte once run-specific text (the cluster, numbers) is
normalised. `ECS_DEPLOY_RECORD_GOLDEN=1 pytest tests/test_summary_golden.py` re-records."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST, run_cli, seed

GOLDEN = Path(__file__).resolve().parent / "golden" / "summaries.json"
BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def normalised(text: str, cluster: str) -> str:
    data = json.loads(text)
    data = _strip_volatile(data)
    out = json.dumps(data, sort_keys=True)
    out = out.replace(cluster, "CLUSTER")
    return re.sub(r"[0-9]+(\.[0-9]+)?", "N", out)


def _strip_volatile(value: Any) -> Any:
    """Timing decides how many tasks stopped (and were diagnosed) and which counts the last
    poll saw."""
    if isinstance(value, dict):
        return {k: (None if _volatile(k, v) else _strip_volatile(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


def _volatile(key: str, value: Any) -> bool:
    """(ECS's rollback reads the same whichever poll caught it: its reason is compared.)"""
    return key in ("stopped_tasks", "counts", "diagnosis")


def scenario(sandbox, cluster, name: str) -> str:
    web = ("-c", cluster, "-n", "web", *FAST, "--output", "json")
    if name == "success":
        seed(sandbox, cluster, desired_count=1)
        run = run_cli(sandbox, *web, "-i", "nginx:2")
    elif name == "our_rollback":
        seed(sandbox, cluster, desired_count=1)
        sandbox.set_faults(fail_images=("*:broken",))
        run = run_cli(
            sandbox, *web, "-i", "nginx:broken", "--max-failed-tasks", "1", "--enable-rollback"
        )
    elif name == "ecs_rollback":
        seed(sandbox, cluster, desired_count=1, deployment_configuration=BREAKER)
        sandbox.set_faults(fail_images=("*:broken",))
        run = run_cli(sandbox, *web, "-i", "nginx:broken", "-t", "30")
    elif name == "dry_run":
        seed(sandbox, cluster, desired_count=1)
        run = run_cli(sandbox, *web, "-i", "nginx:2", "--env", "web", "A=1", "--dry-run")
    elif name == "bad_input":
        run = run_cli(sandbox, *web, "--max-definitions", "x", "-i", "nginx")
    elif name == "release":
        for service in ("a", "b"):
            sandbox.seed_service(
                cluster, service, desired_count=1, family=f"{cluster}-{service}",
                deployment_configuration=BREAKER,
            )  # fmt: skip
        sandbox.set_faults("b", fail_images=("*:broken",))
        run = run_cli(
            sandbox, "-c", cluster, "-n", "a,b", *FAST, "-i", "nginx:broken", "--atomic",
            "-t", "30", "--output", "json",
        )  # fmt: skip
    else:
        raise AssertionError(name)
    return normalised(run.stdout.strip().splitlines()[-1], cluster)


NAMES = ["success", "our_rollback", "ecs_rollback", "dry_run", "bad_input", "release"]


@pytest.mark.parametrize("name", NAMES)
def test_the_json_summary_is_byte_for_byte_what_it_was(sandbox, cluster, name):
    got = scenario(sandbox, cluster, name)
    recorded: dict[str, str] = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if os.environ.get("ECS_DEPLOY_RECORD_GOLDEN"):
        recorded[name] = got
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    assert got == recorded[name]
