"""The one place that builds AWS sessions and clients: botocore's own, not boto3's (boto3
adds nothing a client needs here, and importing it loads s3transfer: about 0.1 s of every
deploy's start-up).

Credentials and region come as in the bash ecs-deploy: -k/-s keys, -p profile, -r region,
-a assume-role, else the standard chain (environment, shared files, instance profile).
`AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_ECS`) is honoured by botocore itself; that is how
everything here reaches the local sandbox.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ecsdeploy.errors import AwsAccessError, AwsError, UsageError

if TYPE_CHECKING:
    from concurrent.futures import Future

    import botocore.session


#: See `credential_secrets`.
MIN_CREDENTIAL_LENGTH = 8
#: The environment's credentials (botocore's names, AWS_SECURITY_TOKEN its old spelling of the
#: session token): masked whether or not the run signs with them (-k/-s or a profile win).
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)


@dataclass(frozen=True)
class AwsSettings:
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    assume_role_arn: str | None = None
    session_name: str = "ecs-deploy"

    def __repr__(self) -> str:  # never show a key, even in a debug dump
        given = "not given: the environment's or the profile's"  # -v prints the one used
        return (
            f"AwsSettings(region={self.region or given!r}, profile={self.profile!r}, "
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


def new_session(profile: str | None = None) -> botocore.session.Session:
    """A botocore session whose model loader is `quick_loader`'s."""
    import botocore.session

    session = botocore.session.Session(profile=profile)
    data_path = session.get_config_variable("data_path")
    session.register_component("data_loader", quick_loader(data_path))
    return session


def quick_loader(data_path: str | None = None) -> Any:
    """botocore's model loader (the same search path: AWS_DATA_PATH, ~/.aws/models, botocore's
    own), but which, to check that a service has a model before loading it, looks in that
    service's directory alone: botocore lists all of them (over 400 directories, thousands of
    stat calls) to answer it, about 0.03 s of every run's start-up before its first request.
    Anything else that lists the services gets botocore's whole list. And its JSON files are
    parsed into plain dicts (see PlainJson)."""
    import json

    from botocore.loaders import JSONFileLoader, Loader

    class _Services(Sequence[str]):
        def __init__(self, loader: Loader, type_name: str) -> None:
            self._loader, self._type_name = loader, type_name

        def __contains__(self, name: object) -> bool:
            if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
                return False
            for location in self._loader.search_paths:
                where = os.path.join(location, name)
                if os.path.isdir(where) and any(
                    self._loader.file_loader.exists(os.path.join(where, version, self._type_name))
                    for version in os.listdir(where)
                ):
                    return True
            return False

        def _all(self) -> list[str]:
            listed: list[str] = Loader.list_available_services(self._loader, self._type_name)
            return listed

        def __getitem__(self, index: Any) -> Any:
            return self._all()[index]

        def __len__(self) -> int:
            return len(self._all())

    class PlainJson(JSONFileLoader):
        """Models parsed into plain dicts (ordered as read), not into OrderedDicts, whose
        hook makes the parse 2-3 times slower (0.02 s more for the ECS client's files):
        botocore builds its own ordered shapes from them either way."""

        def _load_file(self, full_path: str, open_method: Any) -> Any:
            if not os.path.isfile(full_path):
                return None
            with open_method(full_path, "rb") as fp:
                return json.loads(fp.read().decode("utf-8"))

    class QuickLoader(Loader):
        FILE_LOADER_CLASS = PlainJson

        def list_available_services(  # type: ignore[override]  # a sequence, not a list
            self, type_name: str
        ) -> Sequence[str]:
            return _Services(self, type_name)

    paths = None  # as botocore's create_loader reads AWS_DATA_PATH
    if data_path is not None:
        paths = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
    return QuickLoader(extra_search_paths=paths)


def build_session(settings: AwsSettings) -> tuple[botocore.session.Session, tuple[str, ...]]:
    """A session with the user's credentials and region, after assuming a role when asked;
    and the secret parts of every credential it took to make it (see `credential_secrets`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = new_session(settings.profile)
        session.get_scoped_config()  # an unknown profile fails here, not mid-deploy
        if settings.access_key_id and settings.secret_access_key:
            session.set_credentials(settings.access_key_id, settings.secret_access_key)
        if settings.region:
            session.set_config_variable("region", settings.region)
        region = session.get_config_variable("region")
    except BotoCoreError as exc:  # e.g. ProfileNotFound
        raise AwsAccessError(f"{exc}; check --profile and your AWS config") from exc
    if region is None:
        raise AwsError("No AWS region: pass -r/--region or set AWS_DEFAULT_REGION")
    check_region(str(region))
    secrets = credential_secrets(session)
    if not settings.assume_role_arn:
        return session, secrets
    sts: Any = session.create_client("sts", config=client_config())
    try:
        creds = sts.assume_role(
            RoleArn=settings.assume_role_arn, RoleSessionName=settings.session_name
        )["Credentials"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        hint = (
            "; the identity that assumes it needs sts:AssumeRole on it, and the role's trust "
            "policy must allow that identity: see docs/iam.md"
            if error.get("Code") in ("AccessDenied", "AccessDeniedException")
            else ""
        )
        raise AwsAccessError(
            f"Could not assume role {settings.assume_role_arn}: {error.get('Message', exc)}{hint}"
        ) from exc
    except BotoCoreError as exc:
        raise AwsAccessError(f"Could not assume role {settings.assume_role_arn}: {exc}") from exc
    assumed = new_session()
    assumed.set_credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assumed.set_config_variable("region", region)
    return assumed, (*secrets, *credential_secrets(assumed))


def credential_secrets(session: botocore.session.Session) -> tuple[str, ...]:
    """What of the deploying identity's credentials no output may show, wherever it comes
    from (a container's log line, an error message): the access key pair and session token
    the session signs with (from -k/-s, the environment, the profile, a role), the
    environment's own (CREDENTIAL_VARIABLES, even when -k/-s or a profile are used instead:
    a container can still echo them), and the keys written in its profile and the profiles it
    takes its credentials from (source_profile).
    Credentials that cannot be resolved yet give nothing: the first call fails on them.
    Values shorter than MIN_CREDENTIAL_LENGTH are left out: no AWS credential is that short
    (key ids have 16 characters or more, secret keys 40), and a local sandbox's dummy keys
    (`test`, `testing`) protect nothing, while masking them would garble every `latest`."""
    from botocore.exceptions import BotoCoreError

    found: list[str | None] = [os.environ.get(name) for name in CREDENTIAL_VARIABLES]
    try:
        credentials = session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            found += [frozen.access_key, frozen.secret_key, frozen.token]
        profiles = session.full_config.get("profiles", {})
    except BotoCoreError:
        return _long_enough(found)
    name: str | None = session.profile or "default"
    seen: set[str] = set()
    while name and name not in seen:
        seen.add(name)
        profile = profiles.get(name) or {}
        found += [
            profile.get(key)
            for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
        ]
        name = profile.get("source_profile")
    return _long_enough(found)


def _long_enough(found: Sequence[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(v) for v in found if v and len(v) >= MIN_CREDENTIAL_LENGTH))


def load_models(loader: Any, services: Sequence[str]) -> None:
    """Load what a client of each service is made from into `loader`'s cache (the same
    calls, with the same arguments, as botocore's client factory makes)."""
    for service in services:
        loader.load_service_model(service, "service-2", api_version=None)
        loader.load_service_model(service, "endpoint-rule-set-1", api_version=None)


#: An AWS region's shape: us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1, eu-isoe-west-1,
#: eusc-de-east-1 (not an availability zone: eu-west-1a). Whether such a region exists is AWS's
#: to say (a new one may be newer than botocore).
REGION = re.compile(r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}")


def check_region(region: str) -> None:
    """Refuse a region that is not shaped like one, at once (exit 3), before any call: sent
    anyway, it would only fail to connect."""
    if not REGION.fullmatch(region):
        raise UsageError(
            f"{region!r} is not a region name (from -r, AWS_REGION, AWS_DEFAULT_REGION or the "
            "profile); use one like us-east-1"
        )


#: The variables an endpoint can come from (botocore's service-specific ones too).
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"


def check_endpoint_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse a malformed AWS_ENDPOINT_URL(_ECS) in one line, before any call: an http(s)
    URL with a host and nothing after it (no path, query or fragment; no space anywhere).
    Sent anyway, a path or a stray word reaches a web page, not the API."""
    env = os.environ if environ is None else environ
    for name in ("AWS_ENDPOINT_URL_ECS", ENDPOINT_VARIABLE):
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
        if any(c.isspace() or not c.isprintable() for c in value):
            raise UsageError(
                f"{name} holds a space or control character; e.g. http://127.0.0.1:4566"
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment or value.endswith("?"):
            raise UsageError(
                f"{name} has a path, query or fragment after its host; give only "
                "scheme://host[:port], e.g. http://127.0.0.1:4566"
            )


def endpoint_passwords(environ: Mapping[str, str] | None = None) -> list[str]:
    """The passwords written into the endpoint URLs of the environment
    (`http://user:PASSWORD@host`): no output may show them."""
    env = os.environ if environ is None else environ
    found = []
    for name, value in env.items():
        if not name.startswith(ENDPOINT_VARIABLE) or "@" not in value:
            continue
        with contextlib.suppress(ValueError):
            password = urlsplit(value.strip()).password
            if password:
                found.append(password)
    return found


class Clients:
    """Clients of one session, made when first asked for and kept (one per service and
    region; threads of a release share them): the ECS client, and the read-only ones a
    failure's diagnosis and the preflight use, in the region a resource names."""

    def __init__(
        self,
        session: botocore.session.Session,
        secrets: tuple[str, ...] = (),
        profile: str | None = None,
    ) -> None:
        import threading

        self.session = session
        #: -p/--profile, as given: what an `aws` command printed for the user passes too.
        self.profile = profile
        #: The credentials' secret parts (`credential_secrets`): never to be shown.
        self.secrets = secrets
        self.region = str(session.get_config_variable("region"))
        self._made: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def prepare(self, services: Sequence[str], after: Sequence[Future[Any]] = ()) -> None:
        """Load the models of these services' clients in the background, once `after` are
        done (so that it takes no time from the run's first requests): a client made later
        costs a fraction. No client is made, and nothing is sent."""
        import threading
        from concurrent.futures import wait

        def load() -> None:
            wait(after)
            with contextlib.suppress(Exception):  # best effort: a client loads what it needs
                load_models(self.session.get_component("data_loader"), services)

        threading.Thread(target=load, name="aws-models", daemon=True).start()

    def get(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        with self._lock:
            made = self._made.get(key)
        if made is None:  # made outside the lock: the preflight's threads make theirs at once
            made = self.session.create_client(service, region_name=key[1], config=client_config())
            with self._lock:
                made = self._made.setdefault(key, made)
        return made


def clients(settings: AwsSettings) -> Clients:
    """The run's clients, its ECS client already made (a bad region or endpoint fails here,
    before anything else)."""
    from botocore.exceptions import InvalidRegionError

    check_endpoint_environment()
    made = Clients(*build_session(settings), profile=settings.profile)
    try:
        made.get("ecs")
    except InvalidRegionError as exc:
        raise UsageError(
            f"{made.region!r} is not a region name (from -r, AWS_REGION, AWS_DEFAULT_REGION or "
            "the profile); use one like us-east-1"
        ) from exc
    except ValueError as exc:  # botocore's "Invalid endpoint"
        raise UsageError(f"The ECS endpoint is not valid ({exc}); check AWS_ENDPOINT_URL") from exc
    return made
