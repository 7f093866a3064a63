"""Before anything is registered: the failures that can be known in advance. ECS takes
minutes of retries and a circuit breaker to find a missing image tag; a read finds it now.

Each check is a small function that returns what it found: `ok`, `missing` (what, and why it
is missing) or `skipped` (why: access denied, another registry, an error). `needs` reads off
the new revision's container definitions what to check (pure); `run` runs every check at
once, in threads, through the readers it is given, read-only. A definite "does not exist"
fails the run (PreflightError, exit 25) naming each missing thing; a preflight never fails a
deploy for lack of permission. A revision that names no ECR image, secret or log group makes
no call at all.

IAM actions: ecr:DescribeImages, ssm:GetParameters, secretsmanager:DescribeSecret,
logs:DescribeLogGroups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

from ecsdeploy.errors import AwsAccessError, EcsDeployError, NotFoundError, PreflightError
from ecsdeploy.policy import Interrupted, RunPolicy

#: The services of the checks that need the revision (all but ECR's).
LATER = ("ssm", "secretsmanager", "logs")

#: Seconds the checks may retry (throttling), never past the run's deadline.
PREFLIGHT_BUDGET = 10.0

_ECR = re.compile(
    r"(?P<registry>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repository>[^:@]+)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
_SSM_ARN = re.compile(r"arn:aws[a-z-]*:ssm:(?P<region>[a-z0-9-]+):[0-9]{12}:parameter(?P<name>/.+)")
_SECRET_ARN = re.compile(
    r"(?P<arn>arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):[0-9]{12}:secret:[^:]+)"
)


@dataclass(frozen=True)
class Check:
    kind: str  # "image", "parameter", "secret", "log group"
    what: str
    status: Literal["ok", "missing", "skipped"]
    why: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "what": self.what, "status": self.status, "why": self.why}

    def describe(self) -> str:
        return f"{self.kind} {self.what}" + (f" ({self.why})" if self.why else "")


@dataclass(frozen=True)
class EcrImage:
    image: str
    registry: str
    region: str
    repository: str
    tag: str | None
    digest: str | None


@dataclass
class Needs:
    """What a revision names that must exist before ECS can start it."""

    images: list[EcrImage] = field(default_factory=list)
    other_registries: list[str] = field(default_factory=list)  # not checked: said once
    parameters: dict[str, list[str]] = field(default_factory=dict)  # region -> names
    secrets: dict[str, str] = field(default_factory=dict)  # secret ARN -> region
    log_groups: dict[tuple[str, str], None] = field(default_factory=dict)  # (region, group)

    @property
    def empty(self) -> bool:
        return not (self.images or self.parameters or self.secrets or self.log_groups)


def needs(containers: Sequence[Mapping[str, Any]], region: str) -> Needs:
    """Read off the container definitions what to check (pure)."""
    found = Needs()
    for c in containers:
        image = str(c.get("image", ""))
        match = _ECR.fullmatch(image)
        if match:
            ref = EcrImage(image, *match.group("registry", "region", "repository", "tag", "digest"))
            if ref not in found.images:
                found.images.append(ref)
        elif image and image not in found.other_registries:
            found.other_registries.append(image)
        for secret in c.get("secrets") or []:
            value_from = str(secret.get("valueFrom", ""))
            if m := _SECRET_ARN.match(value_from):
                found.secrets[m.group("arn")] = m.group("region")
            elif m := _SSM_ARN.fullmatch(value_from):
                _add(found.parameters, m.group("region"), value_from)  # GetParameters takes ARNs
            elif value_from and not value_from.startswith("arn:"):
                _add(found.parameters, region, value_from)
        conf = c.get("logConfiguration") or {}
        options = conf.get("options") or {}
        created = str(options.get("awslogs-create-group")).lower() == "true"
        if conf.get("logDriver") == "awslogs" and options.get("awslogs-group") and not created:
            group_region = options.get("awslogs-region") or region
            found.log_groups[(group_region, options["awslogs-group"])] = None
    return found


def _add(by_region: dict[str, list[str]], region: str, name: str) -> None:
    names = by_region.setdefault(region, [])
    if name not in names:
        names.append(name)


# -- the reads each check makes (the gateways send them; quick.py may send them ahead) -----

#: A read: botocore's name of the API, the region, the operation and its parameters.
Request = tuple[str, str, str, dict[str, Any]]
#: GetParameters takes at most this many names.
PARAMETERS_AT_ONCE = 10


def image_request(
    registry: str, repository: str, tag: str | None, digest: str | None
) -> dict[str, Any]:
    image = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
    return {"registryId": registry, "repositoryName": repository, "imageIds": [image]}


def parameters_requests(names: Sequence[str]) -> list[dict[str, Any]]:
    """Names only: no value is decrypted (WithDecryption is false)."""
    return [
        {"Names": list(names[start : start + PARAMETERS_AT_ONCE]), "WithDecryption": False}
        for start in range(0, len(names), PARAMETERS_AT_ONCE)
    ]


def secret_request(secret_id: str) -> dict[str, Any]:
    return {"SecretId": secret_id}


def log_groups_request(group: str, token: str | None = None) -> dict[str, Any]:
    return {"logGroupNamePrefix": group, **({"nextToken": token} if token else {})}


def image_requests(images: Sequence[str], region: str) -> list[Request]:
    """The ECR reads the checks of these images make."""
    refs = needs([{"image": image} for image in images], region).images
    return [
        (
            "ecr",
            r.region,
            "DescribeImages",
            image_request(r.registry, r.repository, r.tag, r.digest),
        )
        for r in refs
    ]


def later_requests(containers: Sequence[Mapping[str, Any]], region: str) -> list[Request]:
    """The first reads of the checks of these containers' secrets, parameters and log groups."""
    found = needs(containers, region)
    return [
        *(
            ("ssm", r, "GetParameters", request)
            for r, names in found.parameters.items()
            for request in parameters_requests(names)
        ),
        *(
            ("secretsmanager", r, "DescribeSecret", secret_request(a))
            for a, r in found.secrets.items()
        ),
        *(("logs", r, "DescribeLogGroups", log_groups_request(g)) for r, g in found.log_groups),
    ]


class PreflightReaders(Protocol):
    def ecr(self, region: str, policy: RunPolicy) -> Any: ...
    def ssm(self, region: str, policy: RunPolicy) -> Any: ...
    def secrets(self, region: str, policy: RunPolicy) -> Any: ...
    def logs(self, region: str, policy: RunPolicy) -> Any: ...


# -- the checks: each returns what it found, never raises an AWS error -------------------------


def check_image(readers: PreflightReaders, policy: RunPolicy, ref: EcrImage) -> list[Check]:
    def read() -> None:
        readers.ecr(ref.region, policy).image_exists(
            ref.registry, ref.repository, ref.tag, ref.digest
        )

    return [_answer("image", ref.image, read, "ecr:DescribeImages")]


def check_parameters(
    readers: PreflightReaders, policy: RunPolicy, region: str, names: Sequence[str]
) -> list[Check]:
    try:
        missing = set(readers.ssm(region, policy).missing_parameters(names))
    except Interrupted:
        raise
    except AwsAccessError as exc:
        return [Check("parameter", n, "skipped", _denied(exc, "ssm:GetParameters")) for n in names]
    except EcsDeployError as exc:
        return [Check("parameter", n, "skipped", exc.message) for n in names]
    return [
        Check("parameter", n, "missing", f"no such SSM parameter in {region}")
        if n in missing
        else Check("parameter", n, "ok")
        for n in names
    ]


def check_secret(
    readers: PreflightReaders, policy: RunPolicy, arn: str, region: str
) -> list[Check]:
    def read() -> None:
        readers.secrets(region, policy).secret_exists(arn)

    return [_answer("secret", arn, read, "secretsmanager:DescribeSecret")]


def check_log_group(
    readers: PreflightReaders, policy: RunPolicy, region: str, group: str
) -> list[Check]:
    def read() -> None:
        if not readers.logs(region, policy).group_exists(group):
            raise NotFoundError(
                f"no such log group in {region} (and awslogs-create-group is not true)"
            )

    return [_answer("log group", group, read, "logs:DescribeLogGroups")]


def _answer(kind: str, what: str, read: Callable[[], None], action: str) -> Check:
    try:
        read()
    except Interrupted:
        raise
    except NotFoundError as exc:
        return Check(kind, what, "missing", exc.message)
    except AwsAccessError as exc:
        return Check(kind, what, "skipped", _denied(exc, action))
    except EcsDeployError as exc:
        return Check(kind, what, "skipped", exc.message)
    return Check(kind, what, "ok")


def _denied(exc: AwsAccessError, action: str) -> str:
    return f"not checked: {action} was refused ({exc.message})"


# -- the runner ----------------------------------------------------------------------------------


Early = dict[EcrImage, Future[list[Check]]]


def start_images(
    readers: PreflightReaders, policy: RunPolicy, images: Sequence[str], region: str
) -> Early:
    """The checks the command line alone asks for (each -i in ECR), started now in the
    background (beside the service's description); `run` takes their answers."""
    refs = needs([{"image": image} for image in images], region).images
    if not refs:
        return {}
    budget = policy.budget(PREFLIGHT_BUDGET)
    pool = ThreadPoolExecutor(max_workers=len(refs), thread_name_prefix="preflight")
    started = {ref: pool.submit(check_image, readers, budget, ref) for ref in refs}
    pool.shutdown(wait=False)
    return started


def run(
    readers: PreflightReaders, policy: RunPolicy, found: Needs, early: Early | None = None
) -> list[Check]:
    """Every check of `found`, at once (an image check `start_images` began is not sent
    again). A signal during it raises Interrupted, as any call."""
    budget = policy.budget(PREFLIGHT_BUDGET)
    early = early or {}
    jobs: list[Callable[[], list[Check]]] = [
        *(
            early[ref].result if ref in early else partial(check_image, readers, budget, ref)
            for ref in found.images
        ),
        *(partial(check_parameters, readers, budget, r, n) for r, n in found.parameters.items()),
        *(partial(check_secret, readers, budget, a, r) for a, r in found.secrets.items()),
        *(partial(check_log_group, readers, budget, r, g) for r, g in found.log_groups),
    ]
    if len(jobs) <= 1:
        return [check for job in jobs for check in job()]
    with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [check for future in futures for check in future.result()]


def verdict(checks: Sequence[Check]) -> None:
    """Raise PreflightError naming every missing thing (nothing has been written yet)."""
    missing = [c for c in checks if c.status == "missing"]
    if missing:
        raise PreflightError(
            f"Preflight: {len(missing)} thing(s) the new revision needs do not exist, so its "
            f"tasks could not start: {'; '.join(c.describe() for c in missing)}; nothing was "
            "registered (--no-preflight skips these checks)"
        )
