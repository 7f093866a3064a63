"""A thin gateway over the ECS client: pagination, batches of 100, retries, error translation.

Reads are retried on throttling, 5xx and connection errors; writes only on throttling (a
throttled call was not executed, so repeating it is safe). Every retry waits with
exponential backoff and full jitter and never past the deadline.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from ecsdeploy.errors import (
    AwsAccessError,
    AwsError,
    EcsDeployError,
    NotFoundError,
    TaskNotStartedError,
)
from ecsdeploy.masking import hide_secrets_in
from ecsdeploy.models import Service, ServiceDeployment, Task
from ecsdeploy.policy import Interrupted, RunPolicy

if TYPE_CHECKING:
    from ecsdeploy.quick import Prefetched

DESCRIBE_TASKS_LIMIT = 100  # DescribeTasks refuses more ARNs than this
DESCRIBE_SERVICES_LIMIT = 10  # DescribeServices refuses more services than this
#: Service deployments read for --revision previous (also DescribeServiceRevisions' limit).
SERVICE_HISTORY = 20
MAX_ATTEMPTS_WITHOUT_DEADLINE = 12
#: Attempts of the run's first call when the endpoint cannot be reached at all: a wrong
#: AWS_ENDPOINT_URL or region must fail in seconds, not after the whole --timeout.
FIRST_CONNECT_ATTEMPTS = 2

_THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}
_DENIED = {"AccessDeniedException", "AccessDenied"}  # the policy, not the credentials
_ACCESS = {
    *_DENIED,
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}
_NOT_FOUND = {
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "ServiceNotActiveException",
    "TaskDefinitionNotFoundException",
    "ServiceDeploymentNotFoundException",
    # the read gateways' (gateways.py): logs, Secrets Manager, ECR, SSM, ELB
    "ResourceNotFoundException",
    "ImageNotFoundException",
    "RepositoryNotFoundException",
    "ParameterNotFound",
    "TargetGroupNotFound",
    "TargetGroupNotFoundException",
    # the migration's (migration.py) and CodeDeploy's (gateways.CodeDeployGateway):
    # listeners, IAM roles, CodeDeploy
    "ListenerNotFound",
    "NoSuchEntity",
    "ApplicationDoesNotExistException",
    "DeploymentGroupDoesNotExistException",
    "DeploymentConfigDoesNotExistException",
    "DeploymentDoesNotExistException",
}


def _created(record: Mapping[str, Any]) -> float:
    created = record.get("createdAt")
    return created.timestamp() if isinstance(created, datetime) else 0.0


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", "")) or None
    return None


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def is_throttling(exc: BaseException) -> bool:
    return _error_code(exc) in _THROTTLING


def is_connection_error(exc: BaseException) -> bool:
    """The request may not have reached AWS, or its answer was lost."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError, ReadTimeoutError

    return isinstance(exc, BotoConnectionError | HTTPClientError | ReadTimeoutError)


def is_transient(exc: BaseException) -> bool:
    """Throttling, a 5xx, or a connection that failed or timed out."""
    return is_throttling(exc) or _status(exc) >= 500 or is_connection_error(exc)


class InvalidRequestError(AwsError):
    """A request built from what AWS returned (the current revision) does not match botocore's
    ECS model; found locally, before any mutating call. Input errors raise their own kinds."""


@functools.cache
def ecs_model() -> Any:
    """botocore's ECS service model (no client or credentials needed)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("ecs")


def request_fields(operation: str, model: Any = None) -> list[str]:
    """Every top-level member the operation's request accepts."""
    return list((model or ecs_model()).operation_model(operation).input_shape.members)


def request_problems(
    operation: str, params: Mapping[str, Any], *, shape: str = "", model: Any = None
) -> list[str]:
    """What is wrong with `params` for `operation` (or for the named shape), by botocore's own
    parameter validator. Each problem names the field and the rule, never the value: values
    can be secrets (botocore's own report prints them). `model`: a client's service model
    (loading one costs tens of milliseconds), else botocore's own."""
    from botocore.validate import ParamValidator

    model = model or ecs_model()
    target = model.shape_for(shape) if shape else model.operation_model(operation).input_shape
    report = ParamValidator().validate(params, target)
    problems = []
    for reason, name, details in getattr(report, "_errors", []):
        where = (name or "").lstrip(".") or "the request"
        if reason == "missing required field":
            problems.append(f"{where}: {details.get('required_name')} is required")
        elif reason == "unknown field":
            problems.append(f"{where}: unknown field {details.get('unknown_param')!r}")
        elif reason in ("invalid type", "invalid type for document"):
            valid = " or ".join(_type_name(t) for t in details.get("valid_types", []))
            got = type(details.get("param")).__name__
            problems.append(f"{where}: expected {valid}, not {got}")
        elif reason in ("invalid range", "invalid length"):
            what = "value" if reason == "invalid range" else "length"
            problems.append(f"{where}: {what} below the minimum {details.get('min_allowed')}")
        else:
            problems.append(f"{where}: {reason}")
    if report.has_errors() and not problems:  # botocore changed its report: still no values
        problems.append("does not match the ECS API")
    return problems


def _type_name(text: str) -> str:
    """`<class 'dict'>` (botocore's spelling) -> `dict`."""
    return text.removeprefix("<class '").removesuffix("'>")


def check_request(
    operation: str,
    params: Mapping[str, Any],
    error: type[EcsDeployError] | None = None,
    model: Any = None,
) -> None:
    """Raise `error` (InvalidRequestError by default) if `params` is not a valid request."""
    problems = request_problems(operation, params, model=model)
    if problems:
        shown = "; ".join(problems[:5])
        if len(problems) > 5:
            shown += f" (+{len(problems) - 5} more)"
        raise (error or InvalidRequestError)(f"{operation} request is invalid: {shown}")


class ServiceReader(Protocol):
    """Reads one service for a gateway, gathered with others (release.DescribeBatcher)."""

    def describe(self, ecs: EcsGateway, cluster: str, name: str) -> Service: ...


class FirstRead:
    """A service's first read sent at once, on a thread of its own, while the rest of the
    command loads (the story's modules, the preflight's clients): it is the answer to the
    gateway's first `describe_service` of that service, raising what that call would have
    raised; every later read is sent anew."""

    def __init__(self, ecs: EcsGateway, cluster: str, service: str) -> None:
        import threading
        from concurrent.futures import Future

        self._of = (cluster, service)
        self._answer: Future[Service] = Future()

        def read() -> None:
            try:
                self._answer.set_result(ecs.describe_one_service(cluster, service))
            except BaseException as exc:  # the caller's to raise
                self._answer.set_exception(exc)

        threading.Thread(target=read, name="first-read", daemon=True).start()
        ecs.reader = self

    def describe(self, ecs: EcsGateway, cluster: str, name: str) -> Service:
        ecs.reader = None  # once
        if (cluster, name) != self._of:
            return ecs.describe_one_service(cluster, name)
        return self._answer.result()


class Gateway:
    """One AWS client's calls, under the run's policy: every retry bounded by its deadline,
    no call once a signal has arrived. Reads are retried on throttling, 5xx and connection
    errors; the operations in MUTATING only on throttling. Every gateway (ECS, and the small
    read gateways of gateways.py) shares this one retry policy."""

    #: Operations that change something: retried only when throttled (then not executed).
    MUTATING: frozenset[str] = frozenset()

    def __init__(
        self,
        client: Any,
        *,
        policy: RunPolicy | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        max_backoff: float = 4.0,
    ) -> None:
        self.client = client
        self.policy = policy or RunPolicy(deadline=deadline, clock=clock, sleep=sleep)
        self._backoff = wait_random_exponential(multiplier=0.2, max=max_backoff)
        self.calls: list[str] = []  # operation names, in order (benchmarks count them)
        self.connected = False  # some call got an answer (an error answer counts)
        #: Called with (operation, seconds, error code or None) after every attempt; -v
        #: shows these. Parameters are never passed on: they can hold secrets.
        self.on_call: Callable[[str, float, str | None], None] | None = None
        #: Reads sent ahead while botocore loaded (quick.py): a call they answer is not sent.
        self.prefetched: Prefetched | None = None

    @property
    def deadline(self) -> float | None:
        return self.policy.deadline

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        self.policy.deadline = value

    @property
    def clock(self) -> Callable[[], float]:
        return self.policy.clock

    @contextlib.contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        """Calls in this block retry for at most `seconds` (and never past the deadline):
        for best-effort reads whose failure must not hold up what comes next."""
        saved = self.policy.deadline
        limit = self.clock() + seconds
        self.policy.deadline = limit if saved is None else min(saved, limit)
        try:
            yield
        finally:
            self.policy.deadline = saved

    # -- plumbing ------------------------------------------------------------------------

    def _stop(self, state: RetryCallState) -> bool:
        if self.policy.interrupted():
            return True
        failure = state.outcome.exception() if state.outcome else None
        if (
            not self.connected
            and failure is not None
            and is_connection_error(failure)
            and state.attempt_number >= FIRST_CONNECT_ATTEMPTS
        ):
            return True
        if self.deadline is None:
            return state.attempt_number >= MAX_ATTEMPTS_WITHOUT_DEADLINE
        return self.clock() >= self.deadline

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff with full jitter, cut short at the deadline: the last
        attempt comes at the deadline rather than a whole backoff before it."""
        backoff = float(self._backoff(state))
        remaining = self.policy.remaining()
        return backoff if remaining is None else max(0.0, min(backoff, remaining))

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call one operation (by its API name), retrying what is safe to repeat.

        No attempt starts once a signal has arrived (Interrupted is raised instead)."""
        method = getattr(self.client, _snake(operation))
        retry_on = is_throttling if operation in self.MUTATING else is_transient
        retrying = Retrying(
            retry=retry_if_exception(retry_on),
            wait=self._wait,
            stop=self._stop,
            sleep=self.policy.sleep,
            reraise=True,
        )
        failed: list[Exception] = []  # each attempt's error, in order
        try:
            for attempt in retrying:
                with attempt:
                    self.policy.check(operation)
                    ahead = self._taken(operation, params)
                    if ahead is not None:
                        return ahead
                    self.calls.append(operation)
                    started = time.monotonic()
                    try:
                        result: dict[str, Any] = method(**params)
                    except Exception as exc:
                        failed.append(exc)
                        self.connected = self.connected or not is_connection_error(exc)
                        self._trace(operation, started, _error_code(exc) or type(exc).__name__)
                        raise
                    self.connected = True
                    self._trace(operation, started, None)
                    return result
        except Interrupted:
            if not failed:
                raise
            # the signal came between attempts: the call was tried, and is not tried again
            error = translate(failed[-1], operation, iam_prefix(self.client))
            raise Interrupted(
                f"interrupted while retrying {operation} (last error: {error.message})"
            ) from failed[-1]
        except Exception as exc:
            error = translate(exc, operation, iam_prefix(self.client))
            if retry_on(exc) and self.policy.interrupted():  # the signal ended the retries
                raise Interrupted(
                    f"interrupted while retrying {operation} (last error: {error.message})"
                ) from exc
            raise error from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _taken(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The answer of this very read if quick.py sent it ahead, counted and traced as a
        call of this gateway's (an error answer raised as the client would raise it); None:
        the call is to be made."""
        taken = self.prefetched.take(self.client, operation, params) if self.prefetched else None
        if taken is None:
            return None
        answer, seconds, error = taken
        self.calls.append(operation)
        self.connected = self.connected or error is None or not is_connection_error(error)
        if self.on_call is not None:
            self.on_call(operation, seconds, _error_code(error) if error else None)
        if error is not None:
            raise error
        return answer

    def _trace(self, operation: str, started: float, error: str | None) -> None:
        if self.on_call is not None:
            self.on_call(operation, time.monotonic() - started, error)

    def _pages(self, operation: str, key: str, **params: Any) -> Iterator[str]:
        token: str | None = None
        while True:
            page = self.call(operation, **params, **({"nextToken": token} if token else {}))
            yield from page.get(key, [])
            token = page.get("nextToken")
            if not token:
                return

    def _batches(
        self, operation: str, key: str, items: Sequence[str], limit: int, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """`operation` over `items` (passed as its `key` parameter), `limit` a call; the
        answers' `key` lists, chained."""
        for start in range(0, len(items), limit):
            batch = list(items[start : start + limit])
            yield from self.call(operation, **params, **{key: batch}).get(key, [])

    # -- operations ----------------------------------------------------------------------


class EcsGateway(Gateway):
    """All ECS calls the tool makes."""

    MUTATING = frozenset(
        {
            "RegisterTaskDefinition",
            "UpdateService",
            "DeregisterTaskDefinition",
            "RunTask",
            "StopTask",
            "StopServiceDeployment",
            "ContinueServiceDeployment",
        }
    )

    def __init__(self, client: Any, *, reader: ServiceReader | None = None, **policy: Any) -> None:
        """`policy`: Gateway's (policy, deadline, clock, sleep, max_backoff)."""
        super().__init__(client, **policy)
        self.reader = reader

    def describe_service(self, cluster: str, service: str) -> Service:
        """One service. In a release, the read is gathered with the other services' by the
        release's `reader` (ten a DescribeServices call); alone, it is a call of its own."""
        if self.reader is not None:
            return self.reader.describe(self, cluster, service)
        return self.describe_one_service(cluster, service)

    def describe_one_service(self, cluster: str, service: str) -> Service:
        try:
            response = self.call("DescribeServices", cluster=cluster, services=[service])
        except NotFoundError as exc:
            raise NotFoundError(f"{cluster_not_found(self, cluster)} ({exc.message})") from exc
        services = response.get("services", [])
        if not services:
            raise NotFoundError(service_not_found(self, cluster, service))
        return Service.from_api(services[0])

    def describe_task_definition(
        self, task_definition: str, *, with_tags: bool = False
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        params: dict[str, Any] = {"taskDefinition": task_definition}
        if with_tags:
            params["include"] = ["TAGS"]
        response = self.call("DescribeTaskDefinition", **params)
        hide_secrets_in(response["taskDefinition"])  # whichever line quotes them from now on
        return response["taskDefinition"], list(response.get("tags") or [])

    def registration_fields(self) -> list[str]:
        """Every member RegisterTaskDefinition accepts, from botocore's service model."""
        return request_fields("RegisterTaskDefinition", self.client.meta.service_model)

    def check_request(
        self,
        operation: str,
        params: Mapping[str, Any],
        error: type[EcsDeployError] | None = None,
    ) -> None:
        """Validate a request locally, against this client's own model, before sending it."""
        check_request(operation, params, error, self.client.meta.service_model)

    def register_task_definition(self, request: Mapping[str, Any]) -> dict[str, Any]:
        hide_secrets_in(request)  # before AWS's answer (or its error message) can quote one
        taskdef: dict[str, Any] = self.call("RegisterTaskDefinition", **request)["taskDefinition"]
        return taskdef

    def update_service(self, **params: Any) -> Service:
        return Service.from_api(self.call("UpdateService", **params)["service"])

    def list_task_definitions(self, family: str, *, sort: str = "ASC") -> list[str]:
        """The family's ACTIVE revisions' ARNs, every page, oldest first by default."""
        return list(
            self._pages(
                "ListTaskDefinitions",
                "taskDefinitionArns",
                familyPrefix=family,
                status="ACTIVE",
                sort=sort,
            )
        )

    def latest_task_definition(self, family: str) -> str | None:
        """The family's newest ACTIVE revision, in one call."""
        response = self.call(
            "ListTaskDefinitions", familyPrefix=family, status="ACTIVE", sort="DESC", maxResults=1
        )
        arns = response.get("taskDefinitionArns", [])
        return str(arns[0]) if arns else None

    def deregister_task_definition(self, arn: str) -> None:
        self.call("DeregisterTaskDefinition", taskDefinition=arn)

    def list_tasks(self, cluster: str, **filters: Any) -> list[str]:
        """Task ARNs matching the filters, every page."""
        return list(self._pages("ListTasks", "taskArns", cluster=cluster, **filters))

    def describe_tasks(self, cluster: str, arns: Sequence[str]) -> list[Task]:
        """Tasks by ARN, in batches of at most 100 (DescribeTasks' limit)."""
        found = self._batches("DescribeTasks", "tasks", arns, DESCRIBE_TASKS_LIMIT, cluster=cluster)
        return [Task.from_api(t) for t in found]

    def list_clusters(self) -> list[str]:
        """Every cluster ARN in the region, every page."""
        return list(self._pages("ListClusters", "clusterArns"))

    def list_services(self, cluster: str) -> list[str]:
        """Every service ARN in the cluster, every page."""
        return list(self._pages("ListServices", "serviceArns", cluster=cluster))

    def describe_services(self, cluster: str, services: Sequence[str]) -> list[Service]:
        """Services by name or ARN, ten a call (DescribeServices' limit); missing ones are
        left out."""
        found = self._batches(
            "DescribeServices", "services", services, DESCRIBE_SERVICES_LIMIT, cluster=cluster
        )
        return [Service.from_api(s) for s in found]

    def describe_service_deployment(self, arn: str) -> ServiceDeployment:
        """One service deployment by ARN (DescribeServiceDeployments)."""
        response = self.call("DescribeServiceDeployments", serviceDeploymentArns=[arn])
        found = response.get("serviceDeployments") or []
        if not found:
            reasons = "; ".join(str(f.get("reason", "")) for f in response.get("failures") or [])
            raise NotFoundError(f"Service deployment {arn} not found ({reasons or 'no reason'})")
        return ServiceDeployment.from_api(found[0])

    def revisions_it_ran(self, cluster: str, service: str) -> list[str]:
        """The task definitions the service's latest SUCCESSFUL service deployments put in
        place, newest first (ListServiceDeployments, one page; DescribeServiceRevisions):
        what it ran, each until the next one replaced it."""
        briefs = self.call(
            "ListServiceDeployments",
            cluster=cluster,
            service=service,
            status=["SUCCESSFUL"],
            maxResults=SERVICE_HISTORY,
        ).get("serviceDeployments", [])
        briefs = sorted(  # ECS lists them newest first, filtered: make sure
            (b for b in briefs if b.get("status") == "SUCCESSFUL"), key=_created, reverse=True
        )
        wanted = list(dict.fromkeys(str(b["targetServiceRevisionArn"]) for b in briefs))
        found = (
            self.call("DescribeServiceRevisions", serviceRevisionArns=wanted).get(
                "serviceRevisions", []
            )
            if wanted
            else []
        )
        task_definition = {str(r["serviceRevisionArn"]): str(r["taskDefinition"]) for r in found}
        return [
            task_definition[str(b["targetServiceRevisionArn"])]
            for b in briefs
            if str(b["targetServiceRevisionArn"]) in task_definition
        ]

    def stop_service_deployment(self, arn: str, stop_type: str = "ROLLBACK") -> None:
        self.call("StopServiceDeployment", serviceDeploymentArn=arn, stopType=stop_type)

    def continue_service_deployment(self, arn: str, hook_id: str, action: str) -> None:
        self.call(
            "ContinueServiceDeployment", serviceDeploymentArn=arn, hookId=hook_id, action=action
        )

    def cluster_arn(self, cluster: str) -> str:
        """The cluster's ARN (scheduled tasks name their cluster by it)."""
        found = self.call("DescribeClusters", clusters=[cluster]).get("clusters") or []
        if not found:
            raise NotFoundError(cluster_not_found(self, cluster))
        return str(found[0]["clusterArn"])

    def stop_task(self, cluster: str, task: str, reason: str) -> None:
        self.call("StopTask", cluster=cluster, task=task, reason=reason[:255])

    def run_task(self, **params: Any) -> list[Task]:
        hide_secrets_in(params)  # the one-run overrides (--run-task-env) are the task's too
        response = self.call("RunTask", **params)
        failures = response.get("failures") or []
        if failures and not response.get("tasks"):
            reasons = "; ".join(f"{f.get('arn', '')}: {f.get('reason', '')}" for f in failures)
            raise TaskNotStartedError(f"RunTask placed no task: {reasons}")
        return [Task.from_api(t) for t in response.get("tasks", [])]


def region_of(gateway: Gateway) -> str:
    try:
        return str(gateway.client.meta.region_name)
    except AttributeError:  # a test's stand-in client
        return "the configured region"


def cluster_not_found(gateway: Gateway, cluster: str) -> str:
    """A cluster exists in one region: the usual cause of "not found" is the region."""
    return (
        f"Cluster {cluster} not found in region {region_of(gateway)}; check -c/--cluster, and "
        "-r/--region (or AWS_REGION, AWS_DEFAULT_REGION, the profile's region)"
    )


def service_not_found(gateway: Gateway, cluster: str, service: str) -> str:
    return (
        f"Service {service} not found in cluster {cluster} (region {region_of(gateway)}); check "
        "-n/--service-name, -c/--cluster and -r/--region"
    )


IAM_HELP = "docs/iam.md"


def iam_prefix(client: Any) -> str:
    """The IAM action prefix of a client's service (its signing name: ecs, logs,
    elasticloadbalancing, scheduler, ...)."""
    try:
        return str(client.meta.service_model.signing_name)
    except AttributeError:  # a test's stand-in client
        return "ecs"


#: The action an AccessDenied message names: "... is not authorized to perform:
#: iam:PassRole on resource: ..." (the action refused may not be the operation's own).
_NAMED_ACTION = re.compile(r"not authorized to perform:\s*([a-z0-9-]+:[A-Za-z0-9*]+)")


def access_denied(operation: str, code: str, message: str, prefix: str = "ecs") -> str:
    """An AccessDenied message that names the IAM action to grant (the one AWS names in
    `message` when it names one, else the operation's) and where the policy is."""
    named = _NAMED_ACTION.search(message)
    action = named.group(1) if named else f"{prefix}:{operation}"
    return (
        f"{operation}: access denied ({code}: {message}); the role needs {action}: see {IAM_HELP}"
    )


def translate(exc: Exception, operation: str, prefix: str = "ecs") -> EcsDeployError:
    """One-line errors with their exit codes instead of tracebacks; `prefix` is the IAM
    prefix of the service called, for AccessDenied."""
    from botocore.exceptions import (
        BotoCoreError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
    )

    if isinstance(exc, EcsDeployError):
        return exc
    if isinstance(exc, ParamValidationError):  # its text echoes parameter values: not shown
        return AwsError(
            f"{operation}: botocore refused the request as not matching the AWS API; "
            "run with the same input and -v, or report this as a bug"
        )
    code = _error_code(exc)
    if code is not None:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message", "") or code
        message = " ".join(str(message).split())  # AWS's text on one line, wherever it goes
        if _is_html(message):  # not AWS answering: a web server, a proxy, a wrong path
            status = _status(exc) or code
            return AwsError(
                f"{operation} failed: HTTP {status} from the endpoint (an HTML page: is "
                "AWS_ENDPOINT_URL right?)"
            )
        if code in _DENIED:
            return AwsAccessError(access_denied(operation, code, message, prefix))
        if code in _ACCESS:
            return AwsAccessError(
                f"{operation}: the credentials were refused ({code}: {message}); check the "
                "keys, the profile or the role session (expired?)"
            )
        if code in _NOT_FOUND:
            return NotFoundError(f"{operation}: {message} ({code})")
        if code == "ClientException" and "task definition" in message.lower():
            return NotFoundError(f"{operation}: {message}")
        return AwsError(f"{operation} failed: {code}: {message}")
    if isinstance(exc, NoCredentialsError):
        return AwsAccessError(
            "No AWS credentials found: pass -k/-s or -p, or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, NoRegionError):
        return AwsError("No AWS region: pass -r/--region or set AWS_DEFAULT_REGION")
    if is_connection_error(exc):
        return AwsError(
            f"{operation} failed: {exc}; check AWS_ENDPOINT_URL, -r/--region and the network"
        )
    if _is_html(str(exc)):  # botocore could not parse it (ResponseParserError)
        return AwsError(
            f"{operation} failed: an HTML page from the endpoint, not an AWS answer: is "
            "AWS_ENDPOINT_URL right?"
        )
    if isinstance(exc, BotoCoreError):
        return AwsError(f"{operation} failed: {exc}")
    return AwsError(f"{operation} failed: {type(exc).__name__}: {exc}")


def _is_html(text: str) -> bool:
    """Whether an error's text holds a web page (never printed: it is not AWS's words)."""
    lowered = text.lower()
    return "<!doctype html" in lowered or "<html" in lowered


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
