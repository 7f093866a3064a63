"""What a task leaves outside ECS in the sandbox: its containers' CloudWatch Logs (awslogs
driver) and its load balancer targets, written into moto's own logs and elbv2 backends, so
the tool reads them through the same endpoint and APIs as in AWS.

moto keeps no health for an IP target (it reports every registered target healthy), so the
health of the targets the sandbox registers is kept here and answered by a patch of moto's
target group (`patch_target_health`). Log stream names follow ECS's awslogs naming:
`PREFIX/CONTAINER/TASK_ID`, in `awslogs-region` (which may differ from the cluster's).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

#: What a container that crashes at start logs before it exits 1 (the `crash_images` fault).
CRASH_LOG = (
    "Starting app (pid 1)",
    "Traceback (most recent call last):",
    '  File "/app/main.py", line 12, in <module>',
    '    DATABASE_URL = os.environ["DATABASE_URL"]',
    "KeyError: 'DATABASE_URL'",
)
#: What a one-off task logs, a line a step (the `task_log` fault): a migration.
TASK_LOG = (
    "Operations to perform: apply all migrations",
    "Running migrations:",
    "  Applying orders.0001_initial... OK",
    "  Applying orders.0002_add_status... OK",
)
UNHEALTHY = (
    "unhealthy",
    "Target.ResponseCodeMismatch",
    "Health checks failed with these codes: [502]",
)
MISSING_GROUP = (
    "ResourceInitializationError: failed to validate logger args: create stream has been "
    "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The "
    "specified log group does not exist. : exit status 1"
)

#: (target group ARN, target id) -> (state, reason, description) of the targets registered here.
HEALTH: dict[tuple[str, str], tuple[str, str | None, str | None]] = {}
_ips = itertools.count(10)


def awslogs(container: dict[str, Any], default_region: str) -> tuple[str, str, str, bool] | None:
    """(group, prefix, region, create-group) of an awslogs container; None for any other."""
    conf = container.get("_logging") or {}
    if conf.get("logDriver") != "awslogs":
        return None
    options = conf.get("options") or {}
    group, prefix = options.get("awslogs-group"), options.get("awslogs-stream-prefix")
    if not group:
        return None
    region = options.get("awslogs-region") or default_region
    return group, prefix or "", region, str(options.get("awslogs-create-group")) == "true"


def missing_log_group(task: dict[str, Any]) -> bool:
    """A container whose awslogs group does not exist (and is not to be created): ECS cannot
    start the task."""
    account, region = _where(task)
    for c in task["containers"]:
        spec = awslogs(c, region)
        if spec and not spec[3] and spec[0] not in _logs(account, spec[2]).groups:
            return True
    return False


def log(task: dict[str, Any], lines_for: Callable[[dict[str, Any]], Iterable[str]]) -> None:
    """Append each awslogs container's lines (`lines_for(container)`) to its stream."""
    account, region = _where(task)
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    for c in task["containers"]:
        spec = awslogs(c, region)
        lines = list(lines_for(c))
        if spec is None or not lines:
            continue
        group, prefix, log_region, create = spec
        backend = _logs(account, log_region)
        if group not in backend.groups:
            if not create:
                continue
            backend.create_log_group(group, {})
        # without a prefix ECS names the stream after the Docker id, which it does not report
        stream = f"{prefix}/{c['name']}/{task_id}" if prefix else f"{c['name']}-{task_id}"
        if stream not in backend.groups[group].streams:
            backend.create_log_stream(group, stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)]
        backend.put_log_events(group, stream, events)


def register_targets(task: dict[str, Any], load_balancers: Iterable[dict[str, Any]]) -> None:
    """A service task behind a load balancer: an awsvpc address, and a target of its port in
    each target group, health `initial` until `set_health`."""
    account, region = _where(task)
    n = next(_ips)
    ip = f"10.0.{n // 250 % 250}.{n % 250 + 2}"
    task["attachments"] = [
        {
            "id": f"eni-attachment-{n}",
            "type": "ElasticNetworkInterface",
            "status": "ATTACHED",
            "details": [{"name": "privateIPv4Address", "value": ip}],
        }
    ]
    backend = _elbv2(account, region)
    for lb in load_balancers:
        arn = lb.get("targetGroupArn")
        if not arn or arn not in backend.target_groups:
            continue
        backend.register_targets(arn, [{"Id": ip, "Port": lb.get("containerPort")}])
        HEALTH[(arn, ip)] = (
            "initial",
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
        )
        task.setdefault("_targets", []).append((arn, ip))


def set_health(task: dict[str, Any], health: tuple[str, str | None, str | None]) -> None:
    for key in task.get("_targets", []):
        HEALTH[key] = health


def deregister_targets(task: dict[str, Any]) -> None:
    account, region = _where(task)
    backend = _elbv2(account, region)
    for arn, ip in task.pop("_targets", []):
        HEALTH.pop((arn, ip), None)
        if arn in backend.target_groups:
            backend.deregister_targets(arn, [{"Id": ip}])


def patch_target_health() -> Callable[[], None]:
    """Answer DescribeTargetHealth for the sandbox's targets from HEALTH; undo returned."""
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    original = FakeTargetGroup.health_for

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        known = HEALTH.get((self.arn, target["Id"]))
        if known is None or target["Id"] not in self.targets:
            return original(self, target, ec2_backend)
        state, reason, description = known
        port = self.targets[target["Id"]]["Port"]
        return FakeHealthStatus(
            target["Id"], port, self.health_check_port, state, reason, description
        )

    setattr(FakeTargetGroup, "health_for", health_for)  # noqa: B010  (patching moto)

    def undo() -> None:
        setattr(FakeTargetGroup, "health_for", original)  # noqa: B010

    return undo


def _where(task: dict[str, Any]) -> tuple[str, str]:
    parts = task["clusterArn"].split(":")
    return parts[4], parts[3]


def _logs(account: str, region: str) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[account][region]


def _elbv2(account: str, region: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[account][region]
