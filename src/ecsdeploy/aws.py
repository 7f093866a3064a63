"""The one place that builds boto3 sessions and clients.

Credentials and region come as in the bash ecs-deploy: -k/-s keys, -p profile, -r region,
-a assume-role, else the standard chain (environment, shared files, instance profile).
`AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_ECS`) is honoured by boto3 itself; that is how
everything here reaches the local sandbox.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ecsdeploy.errors import AwsAccessError, AwsError, UsageError

if TYPE_CHECKING:
    import boto3


@dataclass(frozen=True)
class AwsSettings:
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    assume_role_arn: str | None = None
    session_name: str = "ecs-deploy"

    def __repr__(self) -> str:  # never show a key, even in a debug dump
        return (
            f"AwsSettings(region={self.region!r}, profile={self.profile!r}, "
            f"access_key_id={'***' if self.access_key_id else None}, "
            f"secret_access_key={'***' if self.secret_access_key else None}, "
            f"assume_role_arn={self.assume_role_arn!r})"
        )


def client_config() -> Any:
    """botocore's own retries are off: ecs.py retries reads with tenacity, bounded by the
    deploy's deadline, so retries are never multiplied."""
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=20,
        user_agent_extra="ecs-deploy-cli",
    )


def build_session(settings: AwsSettings) -> boto3.Session:
    """A session with the user's credentials, after assuming a role when asked."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session(
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            profile_name=settings.profile,
            region_name=settings.region,
        )
    except BotoCoreError as exc:  # e.g. ProfileNotFound
        raise AwsAccessError(f"{exc}; check --profile and your AWS config") from exc
    if session.region_name is None:
        raise AwsError("No AWS region: pass -r/--region or set AWS_DEFAULT_REGION")
    if not settings.assume_role_arn:
        return session
    sts = session.client("sts", config=client_config())
    try:
        creds = sts.assume_role(
            RoleArn=settings.assume_role_arn, RoleSessionName=settings.session_name
        )["Credentials"]
    except ClientError as exc:
        raise AwsAccessError(
            f"Could not assume role {settings.assume_role_arn}: "
            f"{exc.response.get('Error', {}).get('Message', exc)}"
        ) from exc
    except BotoCoreError as exc:
        raise AwsAccessError(f"Could not assume role {settings.assume_role_arn}: {exc}") from exc
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=session.region_name,
    )


def check_endpoint_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse a malformed AWS_ENDPOINT_URL(_ECS) in one line, before boto3 trips on it."""
    env = os.environ if environ is None else environ
    for name in ("AWS_ENDPOINT_URL_ECS", "AWS_ENDPOINT_URL"):
        value = env.get(name)
        if not value:
            continue
        try:
            parts = urlsplit(value)
            _ = parts.port  # raises ValueError for a port that is not a number in range
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"{name} is not an http(s) URL with a host; e.g. http://127.0.0.1:4566"
            )


def ecs_client(settings: AwsSettings) -> Any:
    """An ECS client for these settings."""
    from botocore.exceptions import InvalidRegionError

    check_endpoint_environment()
    session = build_session(settings)
    try:
        return session.client("ecs", config=client_config())
    except InvalidRegionError as exc:
        raise UsageError(
            f"{session.region_name!r} is not a region name (from -r, AWS_REGION, "
            "AWS_DEFAULT_REGION or the profile); use one like us-east-1"
        ) from exc
    except ValueError as exc:  # botocore's "Invalid endpoint"
        raise UsageError(f"The ECS endpoint is not valid ({exc}); check AWS_ENDPOINT_URL") from exc
