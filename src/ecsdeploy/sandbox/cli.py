"""`ecs-deploy-sandbox`: run the local ECS on loopback until interrupted."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click

from ecsdeploy.sandbox.server import Sandbox

DEMO_BASE: dict[str, Any] = {
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
}
DEMO_SERVICES: dict[str, dict[str, Any]] = {
    "web": {},
    "web-bg": {
        "strategy": "BLUE_GREEN",
        "bakeTimeInMinutes": 1,
        "lifecycleHooks": [
            {
                "targetType": "PAUSE",
                "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                "timeoutConfiguration": {"timeoutInMinutes": 30, "action": "ROLLBACK"},
            }
        ],
    },
    "web-canary": {
        "strategy": "CANARY",
        "bakeTimeInMinutes": 1,
        "canaryConfiguration": {"canaryPercent": 20, "canaryBakeTimeInMinutes": 1},
    },
}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--port", type=int, default=4566, show_default=True, help="Port on 127.0.0.1 (0: any free)."
)
@click.option(
    "--step-delay",
    type=float,
    default=0.5,
    show_default=True,
    help="Seconds between scheduler steps (each task moves one state a step).",
)
@click.option(
    "--minute",
    type=click.FloatRange(min=0.001),
    default=60.0,
    show_default=True,
    help="Seconds in a sandbox minute: native deployments' bake times are in minutes.",
)
@click.option(
    "--seed-demo",
    is_flag=True,
    help="Create cluster 'demo' with services 'web' (ROLLING), 'web-bg' (BLUE_GREEN with a "
    "PAUSE hook after the test traffic shift) and 'web-canary' (CANARY 20%), each 2 tasks "
    "of nginx:1.25 with the circuit breaker and its rollback.",
)
@click.option(
    "--fail-image",
    "fail_images",
    multiple=True,
    metavar="GLOB",
    help="Tasks whose image matches GLOB fail to start (CannotPullContainerError).",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False),
    help="Write the endpoint URL here once the sandbox serves.",
)
def main(
    *,
    port: int,
    step_delay: float,
    minute: float,
    seed_demo: bool,
    fail_images: tuple[str, ...],
    ready_file: str | None,
) -> None:
    """A local ECS (moto + a service scheduler) for ecs-deploy, with no AWS account."""
    sandbox = Sandbox(port=port, step_delay=step_delay, minute=minute).start()
    if fail_images:
        sandbox.set_faults(fail_images=fail_images)
    if seed_demo:
        for name, conf in DEMO_SERVICES.items():
            sandbox.seed_service(
                "demo",
                name,
                "nginx:1.25",
                2,
                deployment_configuration={**DEMO_BASE, **conf},
                timeout=60 + 10 * step_delay,
            )
    click.echo(f"ecs-deploy sandbox serving on {sandbox.endpoint}", err=True)
    if ready_file:
        with open(ready_file, "w", encoding="utf-8") as fh:
            fh.write(sandbox.endpoint + "\n")
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    sandbox.stop()
    sys.exit(0)
