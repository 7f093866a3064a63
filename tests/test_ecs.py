"""The gateway's contract against the sandbox: batches, pages, retries, the deadline."""

from __future__ import annotations

import signal
import time

import pytest

from ecsdeploy.aws import client_config
from ecsdeploy.ecs import FIRST_CONNECT_ATTEMPTS, EcsGateway, request_problems
from ecsdeploy.errors import AwsError, NotFoundError
from ecsdeploy.policy import Interrupted, RunPolicy
from tests.conftest import retire, seed


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
    retire(sandbox, cluster)


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


def test_no_call_starts_once_a_signal_arrived(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    ecs = gateway(sandbox)
    ecs.policy.on_signal(signal.SIGTERM)
    with pytest.raises(Interrupted, match="interrupted before UpdateService") as raised:
        ecs.update_service(cluster=cluster, service="web", forceNewDeployment=True)
    assert raised.value.code == 130  # the error's own code; the policy says 143 for SIGTERM
    assert ecs.policy.exit_code == 143
    assert ecs.calls == []


def test_a_signal_ends_the_retries_of_a_throttled_call(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.throttle("DescribeTaskDefinition", 1000)
    policy = RunPolicy(deadline=time.monotonic() + 30)
    ecs = EcsGateway(sandbox.client(config=client_config()), policy=policy, max_backoff=0.2)
    attempts = 0

    def on_call(_op: str, _secs: float, _error: str | None) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            policy.on_signal(signal.SIGINT)

    ecs.on_call = on_call
    with pytest.raises(Interrupted):
        ecs.describe_task_definition(f"{cluster}-web:1")
    assert ecs.calls == ["DescribeTaskDefinition"] * 3


def test_retries_use_the_budget_up_to_the_deadline(sandbox, cluster):
    """The last attempt comes at the deadline, not a whole backoff before it."""
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.inject(
        "DescribeServices", "error", code="ThrottlingException", count=None, seconds=1.0
    )
    ecs = EcsGateway(
        sandbox.client(config=client_config()), deadline=time.monotonic() + 1.5, max_backoff=4
    )
    assert ecs.describe_service(cluster, "web").name == "web"


def test_an_endpoint_that_never_answered_fails_after_two_attempts():
    import boto3

    client = boto3.client(
        "ecs",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=client_config(),
    )
    ecs = EcsGateway(client, deadline=time.monotonic() + 600)
    with pytest.raises(AwsError, match="check AWS_ENDPOINT_URL"):
        ecs.describe_service("c", "web")
    assert ecs.calls == ["DescribeServices"] * FIRST_CONNECT_ATTEMPTS


def test_describe_services_goes_ten_at_a_time_and_list_services_reads_every_page(sandbox, cluster):
    seed(sandbox, cluster, desired_count=0)
    ecs_client = sandbox.client()
    arn = ecs_client.describe_services(cluster=cluster, services=["web"])["services"][0][
        "taskDefinition"
    ]
    for i in range(24):
        ecs_client.create_service(
            cluster=cluster, serviceName=f"s{i}", taskDefinition=arn, desiredCount=0
        )
    ecs = gateway(sandbox)
    names = ecs.list_services(cluster)
    assert len(names) == 25
    assert ecs.calls == ["ListServices"] * 3  # ten a page by default, as ECS
    assert len(ecs.describe_services(cluster, names)) == 25
    assert ecs.calls[3:] == ["DescribeServices"] * 3


def test_request_problems_name_fields_never_values():
    problems = request_problems(
        "RegisterTaskDefinition",
        {
            "family": "f",
            "containerDefinitions": [
                {"name": "web", "environment": [{"name": "K", "value": 424242}], "bogus": 1}
            ],
        },
    )
    assert problems == [
        "containerDefinitions[0]: unknown field 'bogus'",
        "containerDefinitions[0].environment[0].value: expected str, not int",
    ]
    assert not any("424242" in p for p in problems)
