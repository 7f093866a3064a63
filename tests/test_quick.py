"""quick.py: a deploy's first reads, signed and sent before botocore loads. Signed as
botocore signs; sent only when the options and the environment settle where and as whom;
each answers the one call that asks the same, once; any other answer leaves the call to
botocore, as before."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from ecsdeploy.aws import AwsSettings
from ecsdeploy.quick import APIS, Access, access, sign
from tests.conftest import FAST, ecr_image, run_cli, seed

ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_CONFIG_FILE": "/dev/null",
}


@pytest.mark.parametrize("token", [None, "IQoJb3JpZ2luX2VjEXAMPLETOKEN"])
@pytest.mark.parametrize(
    ("api", "host"), [("ecs", "ecs.eu-west-1.amazonaws.com"), ("logs", "127.0.0.1:4566")]
)
def test_a_request_is_signed_as_botocore_signs_it(token, api, host):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    who = Access("eu-west-1", ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"], token, {})
    body = json.dumps({"cluster": "prod", "services": ["web"]}).encode()
    now = datetime(2026, 12, 3, 12, 0, 7, tzinfo=UTC)
    ours = sign(who, APIS[api], "eu-west-1", "DescribeServices", body, now=now, host=host)

    scheme = "https" if host.endswith("amazonaws.com") else "http"
    request = AWSRequest(
        method="POST",
        url=f"{scheme}://{host}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"{APIS[api].target}.DescribeServices",
        },
    )
    signer = SigV4Auth(Credentials(who.access_key, who.secret_key, token), api, "eu-west-1")
    request.context["timestamp"] = now.strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signer._inject_signature_to_request(request, signature)
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
    assert ours.get("x-amz-security-token") == request.headers.get("X-Amz-Security-Token")


@pytest.mark.parametrize(
    ("settings", "env", "reads"),
    [
        ({}, {}, True),
        ({"access_key_id": "AKIDOPTION", "secret_access_key": "s" * 40}, {}, True),
        ({"region": "us-west-2"}, {"AWS_DEFAULT_REGION": ""}, True),
        ({}, {"AWS_DEFAULT_REGION": ""}, False),  # the profile's region: botocore's to find
        ({}, {"AWS_SECRET_ACCESS_KEY": ""}, False),  # the credential chain: botocore's
        ({"profile": "prod"}, {}, False),
        ({"assume_role_arn": "arn:aws:iam::123456789012:role/deploy"}, {}, False),
        ({}, {"HTTPS_PROXY": "http://proxy:3128"}, False),
        ({}, {"https_proxy": "http://proxy:3128"}, False),
        ({}, {"AWS_CA_BUNDLE": "/etc/ssl/corp.pem"}, False),
        ({}, {"AWS_USE_FIPS_ENDPOINT": "true"}, False),
        ({}, {"ECS_DEPLOY_QUICK_READS": "0"}, False),
        ({}, {"ECS_DEPLOY_QUICK_READS": "off"}, False),
        ({}, {"AWS_PROFILE": "prod"}, False),  # a profile: botocore's to read
        ({}, {"AWS_DATA_PATH": "/opt/models"}, False),  # models (and endpoints) of its own
    ],
)
def test_reads_are_sent_ahead_only_when_the_options_and_environment_settle_them(
    settings, env, reads
):
    found = access(AwsSettings(**settings), {**ENV, **env})
    assert (found is not None) == reads
    if found is not None and settings.get("access_key_id"):
        assert found.access_key == "AKIDOPTION"  # -k/-s win, as with botocore
    assert "wJalr" not in repr(found)


def test_each_api_finds_its_endpoint_as_botocore_does():
    def endpoint(api: str, region: str = "eu-west-1", **env: str) -> str | None:
        found = access(AwsSettings(), {**ENV, **env})
        assert found is not None
        return found.endpoint(APIS[api], region)

    assert endpoint("ecs") == "https://ecs.eu-west-1.amazonaws.com"
    assert endpoint("ecr", "us-east-2") == "https://api.ecr.us-east-2.amazonaws.com"
    assert endpoint("logs", AWS_ENDPOINT_URL="http://127.0.0.1:4566") == "http://127.0.0.1:4566"
    assert (
        endpoint(
            "secretsmanager",
            AWS_ENDPOINT_URL="http://127.0.0.1:4566",
            AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:9000",
        )
        == "http://127.0.0.1:9000"
    )
    assert endpoint("ecs", "cn-north-1") is None  # another partition: botocore's rules
    assert endpoint("ecs", AWS_ENDPOINT_URL="http://user:pw@127.0.0.1:4566") is None


@pytest.mark.parametrize(
    "setting",
    [
        "endpoint_url = http://127.0.0.1:4566",
        "ignore_configured_endpoint_urls = true",  # botocore would not use AWS_ENDPOINT_URL
        "ca_bundle = /etc/ssl/corp.pem",
    ],
)
def test_a_config_file_that_changes_endpoints_leaves_the_reads_to_botocore(tmp_path, setting):
    config = tmp_path / "config"
    config.write_text(f"[profile other]\n{setting}\n")
    env = {**ENV, "AWS_CONFIG_FILE": str(config), "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    assert access(AwsSettings(), env) is None


def test_the_session_token_is_the_one_botocore_takes():
    both = {"AWS_SECURITY_TOKEN": "security", "AWS_SESSION_TOKEN": "session"}
    found = access(AwsSettings(), {**ENV, **both})
    assert found is not None
    assert found.token == "security"  # botocore's EnvProvider looks at it first
    found = access(AwsSettings(), {**ENV, **both, "AWS_SECURITY_TOKEN": ""})
    assert found is not None
    assert found.token == "session"  # an empty one is skipped


class _Meta:
    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self.region_name = "eu-west-1"

        class Model:
            service_name = "ecs"

        self.service_model = Model()


class _Client:
    def __init__(self, endpoint_url: str) -> None:
        self.meta = _Meta(endpoint_url)


def test_an_answer_from_another_endpoint_than_the_clients_is_not_taken(monkeypatch):
    """Sent where botocore would not send it (its endpoint rules differ): the client's call
    is made, the answer never used."""
    from ecsdeploy import quick
    from ecsdeploy.policy import RunPolicy

    who = quick.access(AwsSettings(), {**ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    assert who is not None
    answer = quick.Answer(200, {}, b"{}", 0.01, "http://127.0.0.1:4566")
    monkeypatch.setattr(quick, "post", lambda *a: answer)
    sent = quick.Prefetched(who, RunPolicy())
    params = {"cluster": "prod", "services": ["web"]}
    sent.send(("ecs", "eu-west-1", "DescribeServices", params))
    assert (
        sent.take(_Client("https://ecs.eu-west-1.amazonaws.com"), "DescribeServices", params)
        is None
    )


def test_a_lost_answer_is_the_error_botocore_would_raise():
    from botocore.exceptions import (
        ConnectionClosedError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    from ecsdeploy import quick

    def lost(status: int) -> Exception:
        return quick._lost(quick.Answer(status, {}, b"", 1.0, "http://127.0.0.1:9"))

    assert isinstance(lost(quick.CONNECTING), EndpointConnectionError)
    assert isinstance(lost(quick.TIMED_OUT), ReadTimeoutError)
    assert isinstance(lost(quick.LOST), ConnectionClosedError)
    assert "Read timeout on endpoint URL" in str(lost(quick.TIMED_OUT))


def _production(sandbox: Any, cluster: str) -> str:
    """Service web whose revision names an ECR image, a secret, a parameter and a log group
    (all existing); returns a new image to deploy."""
    sandbox.client("logs").create_log_group(logGroupName=f"/{cluster}/web")
    sandbox.client("ssm").put_parameter(Name=f"/{cluster}/db", Value="x", Type="SecureString")
    secret = sandbox.client("secretsmanager").create_secret(Name=f"{cluster}-key", SecretString="s")
    seed(
        sandbox,
        cluster,
        image=ecr_image(sandbox, f"{cluster}/web", "1"),
        desired_count=1,
        container={
            "secrets": [
                {"name": "DB", "valueFrom": f"/{cluster}/db"},
                {"name": "KEY", "valueFrom": secret["ARN"]},
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": f"/{cluster}/web", "awslogs-region": "us-east-1"},
            },
        },
    )
    return ecr_image(sandbox, f"{cluster}/web", "2")


def _reads(calls: list[str]) -> Counter[str]:
    return Counter(c for c in calls[: calls.index("UpdateService")])


def test_a_deploy_sends_the_same_reads_with_or_without_them_sent_ahead(sandbox, cluster):
    """Sent ahead or by botocore, a production-like deploy reads the same things, each once,
    and takes the same decisions."""
    new = _production(sandbox, cluster)
    ahead = run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, "-i", new, "-v", own_process=True)
    assert ahead.code == 0, ahead.stderr
    assert "first reads: sent ahead" in ahead.stdout + ahead.stderr
    assert "Preflight: 4 of 4 checked exist" in ahead.stdout + ahead.stderr
    newer = ecr_image(sandbox, f"{cluster}/web", "3")
    botocore = run_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "-i", newer, "-v", ECS_DEPLOY_QUICK_READS="0"
    )
    assert botocore.code == 0, botocore.stderr
    assert "first reads: sent ahead" not in botocore.stdout + botocore.stderr
    assert _reads(ahead.calls) == _reads(botocore.calls)
    assert set(_reads(ahead.calls).values()) == {1}
    assert ahead.calls[0] in ("DescribeServices", "DescribeImages")


def test_a_check_of_what_the_new_revision_no_longer_names_is_not_taken_for_its_own(
    sandbox, cluster
):
    """The reads sent ahead check the running revision's secret; the new revision names
    another, missing one: the preflight reads that one and refuses, as without them."""
    new = _production(sandbox, cluster)
    missing = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{cluster}-gone-AbCdEf"
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "--secret", "web", f"KEY={missing}",
        "-i", new, own_process=True,
    )  # fmt: skip
    assert run.code == 25, run.stderr
    assert missing in run.stdout + run.stderr
    assert "RegisterTaskDefinition" not in run.calls


@pytest.mark.parametrize(
    ("code", "status", "exit_code", "sent"),
    [
        ("ThrottlingException", 400, 0, 2),  # retried, as botocore's answer would be
        ("ServiceUnavailableException", 503, 0, 2),
        ("AccessDeniedException", 400, 16, 1),  # not retried: the same one-line error
    ],
)
def test_an_error_answer_to_a_read_sent_ahead_is_the_calls_own(
    sandbox, cluster, code, status, exit_code, sent
):
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.inject_error("DescribeServices", 1, code, "no", status=status)
    run = run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2", own_process=True)
    assert run.code == exit_code, run.stderr
    before = run.calls[: run.calls.index("UpdateService")] if exit_code == 0 else run.calls
    assert before.count("DescribeServices") == sent
    assert "Traceback" not in run.stderr


def test_a_task_definition_read_with_its_tags_is_read_once(sandbox, cluster):
    """--copy-task-definition-tags: the story reads the revision with its tags; so does the
    read sent ahead, which answers it."""
    seed(sandbox, cluster, desired_count=1)
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2",
        "--copy-task-definition-tags", own_process=True,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert _reads(run.calls)["DescribeTaskDefinition"] == 1


def test_a_config_file_that_is_not_a_plain_file_is_never_opened(tmp_path):
    """A FIFO would block the read: the reads are left to botocore, unopened."""
    import os

    fifo = tmp_path / "config"
    os.mkfifo(fifo)
    assert access(AwsSettings(), {**ENV, "AWS_CONFIG_FILE": str(fifo)}) is None
    assert access(AwsSettings(), {**ENV, "AWS_CONFIG_FILE": os.devnull}) is not None
    assert access(AwsSettings(), {**ENV, "AWS_CONFIG_FILE": str(tmp_path / "none")}) is not None
