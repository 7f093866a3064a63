"""`ecs-deploy-sandbox`: run the local ECS on loopback until interrupted."""

from __future__ import annotations

import json
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


DEMO_REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def _awslogs(group: str) -> dict[str, Any]:
    """A container that logs to CloudWatch Logs, in `group` (streams ecs/CONTAINER/TASK)."""
    return {
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": group, "awslogs-stream-prefix": "ecs"},
        }
    }


def seed_demo_api(sandbox: Sandbox, step_delay: float) -> None:
    """Service 'api' of cluster 'demo': an ECR image (demo/api, tags 1.0 and 1.1 pushed),
    logs to CloudWatch (/demo/api, awslogs), a secret-looking variable in its environment."""
    import hashlib
    import json

    ecr = sandbox.client("ecr")
    ecr.create_repository(repositoryName="demo/api")
    for tag in ("1.0", "1.1"):
        ecr.put_image(
            repositoryName="demo/api",
            imageTag=tag,
            imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
            imageManifest=json.dumps(
                {
                    "schemaVersion": 2,
                    "config": {"digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
                    "layers": [],
                }
            ),
        )
    sandbox.client("logs").create_log_group(logGroupName="/demo/api")
    sandbox.seed_service(
        "demo",
        "api",
        f"{DEMO_REGISTRY}/demo/api:1.0",
        2,
        environment={"DB_PASSWORD": "demo-secret-value"},
        container=_awslogs("/demo/api"),
        deployment_configuration=DEMO_BASE,
        timeout=60 + 10 * step_delay,
    )


def seed_demo_orders(sandbox: Sandbox, step_delay: float) -> None:
    """Services 'orders-api' and 'orders-worker' of cluster 'demo', one family ('orders', one
    revision), logging to /demo/orders; a nightly EventBridge rule runs orders:1 there."""
    import time

    sandbox.client("logs").create_log_group(logGroupName="/demo/orders")
    sandbox.seed_service(
        "demo",
        "orders-api",
        "nginx:1.25",
        1,
        family="orders",
        container=_awslogs("/demo/orders"),
        deployment_configuration=DEMO_BASE,
        timeout=60 + 10 * step_delay,
    )
    ecs = sandbox.client()
    ecs.create_service(
        cluster="demo",
        serviceName="orders-worker",
        taskDefinition="orders:1",
        desiredCount=1,
        deploymentConfiguration=DEMO_BASE,
    )
    account_region = "us-east-1:123456789012"
    events = sandbox.client("events")
    events.put_rule(Name="orders-nightly", ScheduleExpression="cron(0 3 * * ? *)")
    events.put_targets(
        Rule="orders-nightly",
        Targets=[
            {
                "Id": "report",
                "Arn": f"arn:aws:ecs:{account_region}:cluster/demo",
                "RoleArn": "arn:aws:iam::123456789012:role/events-ecs",
                "EcsParameters": {
                    "TaskDefinitionArn": f"arn:aws:ecs:{account_region}:task-definition/orders:1",
                    "TaskCount": 1,
                },
            }
        ],
    )
    deadline = time.monotonic() + 60 + 10 * step_delay
    while time.monotonic() < deadline:  # the worker steady before the demo starts
        svc = ecs.describe_services(cluster="demo", services=["orders-worker"])["services"][0]
        if [d.get("rolloutState") for d in svc["deployments"]] == ["COMPLETED"]:
            return
        time.sleep(step_delay)


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
    "--latency",
    type=click.FloatRange(min=0, max=10),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Added to every AWS request's round trip (concurrent requests overlap), as a real "
    "region answers a CI runner: e.g. 0.06.",
)
@click.option(
    "--seed-demo",
    is_flag=True,
    help="Create cluster 'demo' with seven services, the first six with the circuit breaker "
    "and its rollback: 'web' (ROLLING), 'web-bg' (BLUE_GREEN with a PAUSE hook after the "
    "test traffic shift) and 'web-canary' (CANARY 20%), 2 tasks of nginx:1.25 each; 'api' "
    "(2 tasks of the ECR image demo/api:1.0, tags 1.0 and 1.1 pushed, logs in /demo/api); "
    "'orders-api' and 'orders-worker' (one task each of family 'orders', logs in "
    "/demo/orders); the EventBridge rule 'orders-nightly', which runs orders:1 in the "
    "cluster; and 'web-cd', a CODE_DEPLOY service behind an ALB with its CodeDeploy "
    "application and deployment group 'demo-web-cd' (all at once, a test listener, a "
    "termination wait of a minute), with the IAM role 'demo-ecs-infra' for its migration to "
    "ECS's blue/green. Takes a few seconds: wait for the ready line.",
)
@click.option(
    "--fail-image",
    "fail_images",
    multiple=True,
    metavar="GLOB",
    help="Tasks whose image matches GLOB fail to start (CannotPullContainerError).",
)
@click.option(
    "--crash-image",
    "crash_images",
    multiple=True,
    metavar="GLOB",
    help="Containers whose image matches GLOB start, log a traceback and exit 1.",
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
    latency: float,
    seed_demo: bool,
    fail_images: tuple[str, ...],
    crash_images: tuple[str, ...],
    ready_file: str | None,
) -> None:
    """A local ECS (moto + a service scheduler) for ecs-deploy, with no AWS account."""
    sandbox = Sandbox(port=port, step_delay=step_delay, minute=minute).start()
    if fail_images:
        sandbox.set_faults(fail_images=fail_images)
    if crash_images:
        sandbox.set_faults(crash_images=crash_images)
    if seed_demo:
        click.echo("ecs-deploy sandbox: seeding the demo (a few seconds)...", err=True)
        for name, conf in DEMO_SERVICES.items():
            sandbox.seed_service(
                "demo",
                name,
                "nginx:1.25",
                2,
                deployment_configuration={**DEMO_BASE, **conf},
                timeout=60 + 10 * step_delay,
            )
        seed_demo_api(sandbox, step_delay)
        seed_demo_orders(sandbox, step_delay)
        sandbox.seed_codedeploy_service(
            "demo",
            "web-cd",
            "nginx:1.25",
            termination_wait_minutes=1,
            test_listener=True,
            timeout=60 + 10 * step_delay,
        )
        sandbox.client("iam").create_role(  # for web-cd's migration to ECS's blue/green
            RoleName="demo-ecs-infra",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ecs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
    sandbox.latency = latency  # after the seeding, which it would only slow down
    if ready_file:
        with open(ready_file, "w", encoding="utf-8") as fh:
            fh.write(sandbox.endpoint + "\n")
    # The one line a user waits for, on stdout: commands sent before it may fail to connect.
    click.echo(f"ecs-deploy sandbox ready on {sandbox.endpoint}")
    sys.stdout.flush()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    sandbox.stop()
    sys.exit(0)
