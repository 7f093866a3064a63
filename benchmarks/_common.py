"""Shared helpers for the benchmarks: a sandbox in this process, `ecs-deploy` as a child."""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecsdeploy.sandbox import Sandbox

EXE = str(Path(sys.executable).with_name("ecs-deploy"))

# Measure the command as an installed tool runs: pip compiles its modules at install time,
# while this editable checkout (with PYTHONDONTWRITEBYTECODE set, as on our machines) would
# recompile every changed module at every start.
compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "src"), quiet=1)


@dataclass
class Timed:
    code: int
    wall: float
    stdout: str
    stderr: str
    calls: list[str]
    ended: float  # time.monotonic() when the child exited


def child_env(sandbox: Sandbox) -> dict[str, str]:
    env = sandbox.child_environ(os.environ)
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:"), "loopback only"
    return env


def run(sandbox: Sandbox, *args: str) -> Timed:
    before = len(sandbox.requests)
    started = time.monotonic()
    proc = subprocess.run(
        [EXE, *args],
        env=child_env(sandbox),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    ended = time.monotonic()
    return Timed(
        proc.returncode, ended - started, proc.stdout, proc.stderr, sandbox.requests[before:], ended
    )


def deployment_id(stdout: str) -> str:
    for line in stdout.splitlines():
        if "Service updated: deployment " in line:
            return line.split("Service updated: deployment ", 1)[1].split()[0]
    raise RuntimeError(f"no deployment id in output:\n{stdout}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def describe(values: list[float]) -> str:
    return (
        f"median {median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f}, "
        f"n={len(values)})"
    )


def seed(sandbox: Sandbox, cluster: str, tasks: int, **kwargs: Any) -> None:
    sandbox.seed_service(
        cluster, "web", family=f"{cluster}-web", desired_count=tasks, timeout=600, **kwargs
    )
