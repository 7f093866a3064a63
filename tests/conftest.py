"""Shared fixtures: one sandbox ECS for the whole session, on loopback only."""

from __future__ import annotations

import ipaddress
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from ecsdeploy.sandbox import Sandbox

FAST = ("--poll-interval", "0.1")  # tests poll faster than the default
MUTATING = {"RegisterTaskDefinition", "UpdateService", "DeregisterTaskDefinition", "RunTask"}
_names = itertools.count(1)


def assert_loopback(endpoint: str) -> None:
    """Refuse to run against anything but this machine: no test may reach real AWS."""
    host = urlparse(endpoint).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RuntimeError(f"refusing to run tests against non-loopback endpoint {endpoint}")


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(step_delay=0.02) as sb:
        assert_loopback(sb.endpoint)
        yield sb


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").reset_faults()


@pytest.fixture
def cluster() -> str:
    """A fresh cluster name per test, so tests share the sandbox without sharing state."""
    return f"c{next(_names)}"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    calls: list[str]

    @property
    def mutating_calls(self) -> list[str]:
        return [c for c in self.calls if c in MUTATING]


def child_env(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    env = sandbox.child_environ(os.environ, **extra)
    assert_loopback(env["AWS_ENDPOINT_URL"])
    return env


def run_cli(sandbox: Sandbox, *args: str, timeout: float = 60, **env: str) -> Run:
    """Run the real `ecs-deploy` command in a subprocess against the sandbox."""
    before = len(sandbox.requests)
    exe = Path(sys.executable).with_name("ecs-deploy")
    proc = subprocess.run(
        [str(exe), *args],
        env=child_env(sandbox, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, sandbox.requests[before:])


def seed(sandbox: Sandbox, cluster: str, **kwargs: Any) -> dict[str, Any]:
    """A steady service `web` in `cluster`, in the cluster's own task-definition family."""
    kwargs.setdefault("family", f"{cluster}-web")
    return sandbox.seed_service(cluster, "web", **kwargs)


def deploy(sandbox: Sandbox, cluster: str, *args: str, **env: str) -> Run:
    """`ecs-deploy -c CLUSTER -n web ARGS` with fast polling."""
    return run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, *args, **env)
