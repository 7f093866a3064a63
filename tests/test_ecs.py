"""The gateway's contract against the sandbox: batches, pages, retries, the deadline."""

from __future__ import annotations

import time

import pytest

from ecsdeploy.aws import client_config
from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import AwsError, NotFoundError
from tests.conftest import seed


def gateway(sandbox) -> EcsGateway:
    """A gateway as the command builds it: botocore's own retries off, tenacity's on."""
    client = sandbox.client(config=client_config())
    return EcsGateway(client, deadline=time.monotonic() + 30, max_backoff=0.05)


def test_describe_tasks_goes_in_batches_of_100_and_list_tasks_reads_every_page(sandbox, cluster):
    seed(sandbox, cluster, desired_count=250, timeout=60)
    ecs = gateway(sandbox)
    arns = ecs.list_tasks(cluster, serviceName="web")
    assert len(set(arns)) == 250
    assert ecs.calls == ["ListTasks"] * 3
    tasks = ecs.describe_tasks(cluster, arns)
    assert len(tasks) == 250
    assert ecs.calls[3:] == ["DescribeTasks"] * 3


def test_reads_are_retried_on_5xx_and_throttling(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.inject_error("DescribeServices", 2, "InternalError", "oops", status=500)
    ecs = gateway(sandbox)
    assert ecs.describe_service(cluster, "web").name == "web"
    assert ecs.calls == ["DescribeServices"] * 3


def test_writes_are_not_retried_on_5xx(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.inject_error("UpdateService", 1, "InternalError", "oops", status=500)
    ecs = gateway(sandbox)
    with pytest.raises(AwsError, match="UpdateService failed: InternalError"):
        ecs.update_service(cluster=cluster, service="web", forceNewDeployment=True)
    assert ecs.calls == ["UpdateService"]


def test_writes_are_retried_on_throttling(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.throttle("UpdateService", 2)
    ecs = gateway(sandbox)
    ecs.update_service(cluster=cluster, service="web", forceNewDeployment=True)
    assert ecs.calls == ["UpdateService"] * 3


def test_retries_stop_at_the_deadline(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.throttle("DescribeServices", 1000)
    ecs = gateway(sandbox)
    ecs.deadline = time.monotonic() + 0.5
    started = time.monotonic()
    with pytest.raises(AwsError, match="ThrottlingException"):
        ecs.describe_service(cluster, "web")
    assert time.monotonic() - started < 1.5


def test_missing_service_is_not_found(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    with pytest.raises(NotFoundError, match="Service nope not found in cluster"):
        gateway(sandbox).describe_service(cluster, "nope")
