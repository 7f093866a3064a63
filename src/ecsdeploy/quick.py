"""A deploy's first reads, sent while botocore loads.

Importing botocore and making the clients takes about 0.2 s of every run, and a deploy's
first reads depend on nothing but the command line: the service, the task definition it
runs, and the preflight's checks of what that revision and each `-i` name (the ECR image,
its secrets, parameters and log group). When the credentials, region and endpoints come from
the options and the environment alone (the usual CI job), these reads are signed here, with
Signature Version 4 as botocore signs, and sent with `http.client` on threads of their own
while botocore loads. Each answer waits in `Prefetched` until a gateway makes the same call
(same operation, same parameters), which then takes it instead of sending it, parsed by
botocore's own parser: the story sees exactly what the client would have returned. A read
nobody asks for (a check of a secret the new revision no longer names) is simply unused.

Anything else leaves the reads to botocore, as before: a profile or a role to assume, a
proxy, a CA bundle, a config file that sets endpoints, FIPS or dual-stack endpoints, a
partition other than `aws`, `ECS_DEPLOY_QUICK_READS=0`. And an answer that is not a complete
200 (an error, a throttle, a lost connection) is thrown away: the gateway makes the call
again, with its retries and its error messages.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ecsdeploy import __version__

if TYPE_CHECKING:
    from ecsdeploy.aws import AwsSettings
    from ecsdeploy.policy import RunPolicy

#: Regions of the `aws` partition, whose endpoints are SERVICE.REGION.amazonaws.com (China,
#: GovCloud and the ISO partitions name theirs otherwise: botocore's rules answer for them).
AWS_PARTITION_REGION = re.compile(r"(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]{1,2}")
#: Settings that change how botocore reaches or trusts an endpoint: with any of them set, the
#: reads are botocore's.
_ENVIRONMENT_REFUSALS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_DATA_PATH",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)
_CONFIG_REFUSALS = (
    "endpoint_url",
    "ignore_configured_endpoint_urls",
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "ca_bundle",
)
#: What ECS_DEPLOY_QUICK_READS may say to turn them off.
_OFF = ("0", "false", "no", "off")
CONNECT_TIMEOUT = 5.0  # as aws.client_config's
READ_TIMEOUT = 20.0


@dataclass(frozen=True)
class Api:
    """What a JSON 1.1 API needs to be called: botocore's name for it, its signing name,
    host prefix, target prefix and the service id its endpoint variable is named after."""

    name: str
    signing: str
    host: str
    target: str
    variable: str


APIS = {
    api.name: api
    for api in (
        Api("ecs", "ecs", "ecs", "AmazonEC2ContainerServiceV20141113", "ECS"),
        Api("ecr", "ecr", "api.ecr", "AmazonEC2ContainerRegistry_V20150921", "ECR"),
        Api("ssm", "ssm", "ssm", "AmazonSSM", "SSM"),
        Api(
            "secretsmanager",
            "secretsmanager",
            "secretsmanager",
            "secretsmanager",
            "SECRETS_MANAGER",
        ),
        Api("logs", "logs", "logs", "Logs_20140328", "CLOUDWATCH_LOGS"),
    )
}


@dataclass(frozen=True)
class Access:
    """As whom, and where, the reads are sent."""

    region: str
    access_key: str
    secret_key: str
    token: str | None
    environ: Mapping[str, str]

    def __repr__(self) -> str:  # never a key in a debug dump
        return f"Access(region={self.region!r})"

    def endpoint(self, api: Api, region: str) -> str | None:
        """scheme://host[:port] of `api` in `region`, as botocore would find it; None when
        only botocore can tell (an odd endpoint variable, another partition)."""
        value = self.environ.get(f"AWS_ENDPOINT_URL_{api.variable}") or self.environ.get(
            "AWS_ENDPOINT_URL"
        )
        if value:
            try:
                parts = urlsplit(value)
                _ = parts.port
            except ValueError:
                return None
            if parts.username or parts.password or parts.scheme not in ("http", "https"):
                return None
            if not parts.hostname or parts.path not in ("", "/") or parts.query:
                return None
            return f"{parts.scheme}://{parts.netloc}"
        if not AWS_PARTITION_REGION.fullmatch(region):
            return None
        return f"https://{api.host}.{region}.amazonaws.com"


def access(settings: AwsSettings, environ: Mapping[str, str] | None = None) -> Access | None:
    """The run's access when the options and the environment settle it as botocore would;
    None when botocore must work it out (see the module's docstring)."""
    env = os.environ if environ is None else environ
    if env.get("ECS_DEPLOY_QUICK_READS", "").strip().lower() in _OFF:
        return None
    if settings.profile or settings.assume_role_arn:
        return None
    if any(env.get(name) or env.get(name.lower()) for name in _ENVIRONMENT_REFUSALS):
        return None
    if _config_sets_endpoints(env):  # where botocore reads what may override the variables
        return None
    region = settings.region or env.get("AWS_DEFAULT_REGION")
    key: str | None
    secret: str | None
    token: str | None = None
    if settings.access_key_id and settings.secret_access_key:
        key, secret = settings.access_key_id, settings.secret_access_key
    else:
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        # botocore's order: the first of these that is not empty
        token = env.get("AWS_SECURITY_TOKEN") or env.get("AWS_SESSION_TOKEN") or None
    if not (region and key and secret):
        return None
    return Access(region, key, secret, token, dict(env))


def _config_sets_endpoints_at(path: str) -> bool:
    """True when the file names one of _CONFIG_REFUSALS, or cannot be read cheaply and
    safely (a FIFO, a device other than /dev/null, over 1 MiB): botocore then decides."""
    import stat

    try:
        found = os.stat(path)
    except OSError:
        return False  # no config file
    if path == os.devnull:
        return False
    if not stat.S_ISREG(found.st_mode) or found.st_size > 1 << 20:
        return True
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read().lower()
    except OSError:
        return True
    return any(word in text for word in _CONFIG_REFUSALS)


def _config_sets_endpoints(env: Mapping[str, str]) -> bool:
    """The shared config file names an endpoint, FIPS, dual-stack or a CA bundle (in any
    profile: a cheap, cautious reading)."""
    path = env.get("AWS_CONFIG_FILE") or os.path.join(os.path.expanduser("~"), ".aws", "config")
    return _config_sets_endpoints_at(path)


# -- signing --------------------------------------------------------------------------------


def sign(
    access: Access,
    api: Api,
    region: str,
    operation: str,
    body: bytes,
    *,
    now: datetime,
    host: str,
) -> dict[str, str]:
    """The headers of a signed AWS JSON 1.1 POST of `operation` to `/` (Signature
    Version 4)."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "host": host,
        "x-amz-date": stamp,
        "x-amz-target": f"{api.target}.{operation}",
    }
    if access.token:
        headers["x-amz-security-token"] = access.token
    names = sorted(headers)
    signed = ";".join(names)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            *(f"{name}:{' '.join(headers[name].split())}" for name in names),
            "",
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{api.signing}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{access.secret_key}".encode()
    for part in (day, region, api.signing, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return headers


# -- sending --------------------------------------------------------------------------------


#: An Answer's status when none came: the connection failed, was lost, or timed out reading.
CONNECTING, LOST, TIMED_OUT = 0, -1, -2


@dataclass(frozen=True)
class Answer:
    """A complete answer: its status, headers (lower-cased names), body, what it took, the
    endpoint it came from; or none (status CONNECTING, LOST or TIMED_OUT: the gateway's
    first attempt failed as botocore's would have)."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    endpoint: str = ""

    def json(self) -> dict[str, Any]:
        """A 200's JSON object ({} for an error answer)."""
        parsed = json.loads(self.body) if self.status == 200 else {}
        return parsed if isinstance(parsed, dict) else {}


def post(
    access: Access, name: str, region: str, operation: str, params: Mapping[str, Any]
) -> Answer | None:
    """One operation's answer (or none: see Answer); None when the answer is not one botocore
    would parse as an answer (a redirect, a 200 that is not a JSON object), and when the
    endpoint is botocore's to find."""
    import http.client  # imported by `start`, on the main thread (see there)

    api = APIS[name]
    endpoint = access.endpoint(api, region)
    if endpoint is None:
        return None
    parts = urlsplit(endpoint)
    default_port = 443 if parts.scheme == "https" else 80
    host, port = parts.hostname or "", parts.port or default_port
    body = json.dumps(params).encode()
    netloc = parts.netloc if port != default_port else parts.netloc.rsplit(":", 1)[0]
    if parts.port is None:
        netloc = parts.netloc
    headers = sign(access, api, region, operation, body, now=datetime.now(UTC), host=netloc)
    headers["user-agent"] = f"ecs-deploy-cli/{__version__} quick-read"
    headers["accept-encoding"] = "identity"
    started = time.monotonic()
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            host, port, timeout=CONNECT_TIMEOUT, context=_tls_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)
    phase = CONNECTING
    try:
        connection.connect()
        phase = LOST
        if connection.sock is not None:
            connection.sock.settimeout(READ_TIMEOUT)
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200 and not 400 <= response.status < 600:
            return None  # a redirect or an oddity: botocore's to answer, as it would
        headers = {k.lower(): v for k, v in response.getheaders()}
        answer = Answer(response.status, headers, data, time.monotonic() - started, endpoint)
        if answer.status == 200 and not isinstance(json.loads(data), dict):
            return None
        return answer
    except TimeoutError:
        failed = CONNECTING if phase == CONNECTING else TIMED_OUT
        return Answer(failed, {}, b"", time.monotonic() - started, endpoint)
    except (OSError, http.client.HTTPException):
        return Answer(phase, {}, b"", time.monotonic() - started, endpoint)
    except ValueError:
        return None
    finally:
        connection.close()


@functools.cache
def _tls_context() -> Any:
    """Certificates checked as botocore checks them: certifi's bundle when it is installed,
    else the one botocore ships. Made once, by `start`."""
    import ssl

    try:
        import certifi

        bundle: str | None = certifi.where()
    except ImportError:
        from importlib.util import find_spec

        spec = find_spec("botocore")
        locations = list(spec.submodule_search_locations or []) if spec else []
        bundle = os.path.join(locations[0], "cacert.pem") if locations else None
    return ssl.create_default_context(cafile=bundle)


# -- the answers, until a gateway asks ------------------------------------------------------


#: A read: the API (botocore's name), the region, the operation and its parameters.
Request = tuple[str, str, str, Mapping[str, Any]]


def _key(api: str, region: str, operation: str, params: Mapping[str, Any]) -> str:
    return json.dumps([api, region, operation, params], sort_keys=True, default=str)


class Prefetched:
    """Reads sent ahead, by what they asked: each answers one gateway call, once."""

    def __init__(self, access: Access, policy: RunPolicy) -> None:
        self._access, self._policy = access, policy
        self._sent: dict[str, Future[Answer | None]] = {}
        self._lock = threading.Lock()

    def send(
        self,
        request: Request,
        then: Callable[[Answer | None], None] | None = None,
    ) -> None:
        """Send a read on a thread of its own (not when a signal has arrived, nor twice).
        `then` runs on that thread with the answer before the answer is given to anyone:
        what it sends is on its way before the story could ask for it."""
        future: Future[Answer | None] = Future()
        with self._lock:
            key = _key(*request)
            if key in self._sent or self._policy.interrupted():
                return
            self._sent[key] = future

        def read() -> None:
            answer = None
            try:
                if not self._policy.interrupted():  # no request starts after a signal
                    answer = post(self._access, *request)
            except Exception:  # best effort: the gateway makes the call itself
                answer = None
            if then is not None:
                with contextlib.suppress(Exception):  # what it sends is best effort too
                    then(answer)
            future.set_result(answer)

        threading.Thread(target=read, name=f"quick-{request[2]}", daemon=True).start()

    def take(
        self, client: Any, operation: str, params: Mapping[str, Any]
    ) -> tuple[dict[str, Any], float, Exception | None] | None:
        """If this call of `client`'s was sent ahead and answered (waiting for it if it is
        on its way): what the client would have returned, the seconds it took, and the
        exception the client would have raised for an error answer. Else None."""
        meta = client.meta
        key = _key(meta.service_model.service_name, meta.region_name, operation, params)
        with self._lock:
            future = self._sent.pop(key, None)
        answer = future.result() if future is not None else None
        if answer is None or answer.endpoint != _normal(meta.endpoint_url):
            return None  # not sent, or sent where this client does not go: it asks itself
        if answer.status <= 0:  # as botocore says a connection failed
            return {}, answer.seconds, _lost(answer)
        parsed = parse(client, operation, answer)
        if answer.status < 300:
            return parsed, answer.seconds, None
        code = str(parsed.get("Error", {}).get("Code", ""))
        return parsed, answer.seconds, client.exceptions.from_code(code)(parsed, operation)


def _normal(url: str) -> str:
    """scheme://host[:port] of a client's endpoint URL, as `Access.endpoint` writes it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _lost(answer: Answer) -> Exception:
    from botocore.exceptions import (
        ConnectionClosedError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    kind = {CONNECTING: EndpointConnectionError, TIMED_OUT: ReadTimeoutError}.get(
        answer.status, ConnectionClosedError
    )
    lost: Exception = kind(endpoint_url=answer.endpoint)
    return lost


def parse(client: Any, operation: str, answer: Answer) -> dict[str, Any]:
    """`answer` as `client` would have returned it (botocore's parser, the client's model)."""
    from botocore.parsers import create_parser

    model = client.meta.service_model
    parser = create_parser(model.metadata["protocol"])
    parsed: dict[str, Any] = parser.parse(
        {"status_code": answer.status, "headers": answer.headers, "body": answer.body},
        model.operation_model(operation).output_shape,
    )
    return parsed


# -- a deploy's first reads -----------------------------------------------------------------


def start(
    settings: AwsSettings,
    policy: RunPolicy,
    cluster: str,
    service: str,
    images: Sequence[str] = (),
    *,
    checks: bool = False,
    tags: bool = False,
) -> Prefetched | None:
    """Send a deploy's first reads now: DescribeServices of `service`, then the task
    definition it runs; the preflight's ECR check of each of `images` at once; and, with
    `checks`, the preflight's checks of what the running revision names (its secrets,
    parameters and log groups: the new revision's, unless an option changes them). With
    `tags`, the task definition is read with its tags (--copy-task-definition-tags). None
    when botocore must make them (see `access`)."""
    from ecsdeploy import preflight
    from ecsdeploy.aws import check_endpoint_environment, check_region

    found = access(settings)
    if found is None:
        return None
    check_endpoint_environment()  # what `aws.clients` refuses is refused before any read
    check_region(found.region)
    # Imported here, not on a reading thread: botocore, loading on this thread meanwhile,
    # imports them too, and two threads importing the same modules can deadlock.
    import http.client  # noqa: F401

    endpoints = [found.endpoint(api, found.region) for api in APIS.values()]
    if any(e is not None and e.startswith("https:") for e in endpoints):
        _tls_context()  # on this thread, for the same reason
    sent = Prefetched(found, policy)
    region = found.region

    def check(defined: Answer | None) -> None:
        """The preflight's checks of what the running revision names."""
        td = defined.json().get("taskDefinition") if defined and checks else None
        containers = (td or {}).get("containerDefinitions") or []
        for request in preflight.later_requests(containers, region):
            sent.send(request)

    def describe(described: Answer | None) -> None:
        """Its task definition's read, once the service says which revision it runs."""
        services = described.json().get("services") if described else None
        arn = services[0].get("taskDefinition") if services else None
        if isinstance(arn, str) and arn:
            asked = {"taskDefinition": arn, **({"include": ["TAGS"]} if tags else {})}
            sent.send(("ecs", region, "DescribeTaskDefinition", asked), check)

    sent.send(
        ("ecs", region, "DescribeServices", {"cluster": cluster, "services": [service]}), describe
    )
    for request in preflight.image_requests(images, region):
        sent.send(request)
    return sent
