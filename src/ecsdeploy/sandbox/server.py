"""The sandbox server: moto's WSGI app behind a middleware that serialises requests with the
scheduler (one lock), logs operation names, injects throttling and serves `/_sandbox/` knobs.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from ecsdeploy.sandbox import codedeploy, patches
from ecsdeploy.sandbox.scheduler import Faults, Scheduler

MUTATING = frozenset(
    {
        "RegisterTaskDefinition",
        "UpdateService",
        "StopServiceDeployment",
        "ContinueServiceDeployment",
        "DeregisterTaskDefinition",
        "RunTask",
        "CreateService",
        "StopTask",
        "DeleteService",
        "PutTargets",
        "UpdateSchedule",
        "CreateDeployment",
        "StopDeployment",
        "ContinueDeployment",
        "ModifyRule",
        "ModifyListener",
    }
)
#: ecs-deploy's user agent (aws.client_config): the calls the tool made, told from a test's own.
TOOL_AGENT = "ecs-deploy-cli"
#: ECS writes that change nothing a scheduler step skips (a steady service, a task running
#: for two steps): neither reads a task definition again.
TASK_DEFINITION_WRITES = frozenset({"RegisterTaskDefinition", "DeregisterTaskDefinition"})
#: ECS writes that name their cluster in a `cluster` field (ECS's `default` when absent).
CLUSTER_WRITES = frozenset(
    {"CreateService", "UpdateService", "DeleteService", "RunTask", "StopTask"}
)
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

StartResponse = Callable[..., Any]


class Middleware:
    def __init__(self, app: Any, scheduler: Scheduler, latency: float = 0.0) -> None:
        self.app = app
        self.scheduler = scheduler
        #: Seconds added to every AWS request's round trip, as a real region's distance adds
        #: them: half before the request is served, half after, outside the lock, so that
        #: concurrent requests overlap.
        self.latency = latency
        #: (time.monotonic() on arrival, operation) of every AWS request, for the benchmarks.
        self.arrivals: list[tuple[float, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._control(environ, start_response, path.removeprefix("/_sandbox/"))
        operation = _operation(environ)
        self.arrivals.append((time.monotonic(), operation))
        latency = self.latency
        if latency > 0:
            time.sleep(latency / 2)
        try:
            return self._serve(environ, start_response, operation)
        finally:
            if latency > 0:
                time.sleep(latency / 2)

    def _serve(
        self, environ: dict[str, Any], start_response: StartResponse, operation: str
    ) -> Iterable[bytes]:
        region, service = _scope(environ)
        cluster = _cluster_written(environ) if service == "ecs" and operation in MUTATING else None
        with self.scheduler.lock:
            self.scheduler.requests.append(operation)
            if TOOL_AGENT in environ.get("HTTP_USER_AGENT", ""):
                self.scheduler.tool_log.append((service, operation))
            fault = self.scheduler.take_injected(operation)
        if region and region not in _served_regions():
            return _unknown_region(region, start_response)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)  # outside the lock: the scheduler and others go on
        elif fault is not None and fault.kind == "hold":
            self.scheduler.hold(operation).wait(fault.delay)  # outside the lock, as above
        elif fault is not None and fault.kind == "error":
            body = json.dumps({"__type": fault.code, "message": fault.message})
            start_response(
                f"{fault.status} Injected",
                [
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("Content-Length", str(len(body))),
                ],
            )
            return [body.encode()]
        elif fault is not None and fault.kind == "drop" and not fault.after:
            return _drop_connection(environ, start_response)
        status: list[str] = []

        def recording_start_response(code: str, headers: Any, *rest: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *rest)

        with self.scheduler.lock:
            # Read the whole response under the lock: moto serialises lazily.
            body_bytes = b"".join(self.app(environ, recording_start_response))
            if operation in MUTATING and status and status[0].startswith("2"):
                self.scheduler.applied.append(operation)
            if operation in TASK_DEFINITION_WRITES and service == "ecs":
                pass  # nothing a step skips reads a task definition
            elif operation in MUTATING or operation.startswith(("POST", "PUT", "DELETE")):
                self.scheduler.changed(cluster)
        if fault is not None and fault.kind == "drop":  # carried out; the answer is lost
            return _drop_connection(environ, None)
        return [body_bytes]

    def _control(
        self, environ: dict[str, Any], start_response: StartResponse, name: str
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        s = self.scheduler
        result: Any = {"ok": True}
        if name == "requests":
            with s.lock:
                result = list(s.requests)
        elif name == "reset-requests":
            with s.lock:
                s.requests.clear()
        elif name == "faults":
            service = body.pop("service", None)
            for key in (
                "fail_images",
                "stall_images",
                "crash_images",
                "crash_log",
                "unhealthy_target_images",
                "task_log",
                "late_log",
            ):
                if key in body:
                    body[key] = tuple(body[key])
            if "exit_codes" in body:
                body["exit_codes"] = tuple(body["exit_codes"].items())
            if "hook_verdicts" in body:
                body["hook_verdicts"] = tuple(body["hook_verdicts"].items())
            s.set_faults(service, **body)
        elif name == "throttle":
            s.throttle(body["operation"], int(body["count"]))
        elif name == "error":
            s.inject_error(
                body["operation"],
                int(body["count"]),
                body["code"],
                body.get("message", body["code"]),
                int(body.get("status", 400)),
            )
        elif name == "inject":
            s.inject(body.pop("operation"), body.pop("kind"), **body)
        elif name == "latency":
            self.latency = max(0.0, float(body["seconds"]))
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "unknown sandbox endpoint"}']
        data = json.dumps(result).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [data]


class Sandbox:
    """A local ECS on 127.0.0.1. `with Sandbox() as sb:` starts it on a free port."""

    def __init__(
        self,
        port: int = 0,
        step_delay: float = 0.05,
        host: str = "127.0.0.1",
        minute: float = 60.0,
        latency: float = 0.0,
    ) -> None:
        """`latency`: seconds added to every AWS request served (not to `/_sandbox/` knobs),
        concurrent requests overlapping, as a real region answers a CI runner."""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox listens on loopback only")
        self.host = host
        self.port = port
        self.scheduler = Scheduler(step_delay=step_delay, minute=minute)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: Any = None
        self._undo: Callable[[], None] | None = None
        self._clients: dict[str, Any] = {}
        self._base_latency = latency
        self._middleware: Middleware | None = None
        self._latency = latency

    @property
    def latency(self) -> float:
        """Seconds added to every AWS request's round trip (settable while it serves;
        `reset_faults` puts the constructor's value back)."""
        return self._middleware.latency if self._middleware is not None else self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._latency = max(0.0, seconds)
        if self._middleware is not None:
            self._middleware.latency = self._latency

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def tool_log(self) -> list[tuple[str, str]]:
        """(signing service, operation) of each call ecs-deploy made (told by its user agent
        from a test's own), in order: the service is the prefix of the call's IAM action."""
        with self.scheduler.lock:
            return list(self.scheduler.tool_log)

    @property
    def requests(self) -> list[str]:
        with self.scheduler.lock:
            return list(self.scheduler.requests)

    @property
    def arrivals(self) -> list[tuple[float, str]]:
        """(time.monotonic() on arrival, operation) of every AWS request served so far."""
        return list(self._middleware.arrivals) if self._middleware is not None else []

    @property
    def applied(self) -> list[str]:
        """Mutating calls that took effect (answered 2xx by the emulated ECS, whether or not
        the answer reached the client), in order."""
        with self.scheduler.lock:
            return list(self.scheduler.applied)

    def env(self) -> dict[str, str]:
        """The sandbox's endpoint and dummy credentials."""
        return {**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def child_environ(self, base: Mapping[str, str], **extra: str) -> dict[str, str]:
        """A whole environment for a child `ecs-deploy`: `base` without any AWS_* variable
        (no real credentials, profile or endpoint can leak in), no shared AWS config files,
        and the sandbox's endpoint and dummy keys."""
        keep = {k: v for k, v in base.items() if not k.startswith("AWS_") and k != "GITHUB_OUTPUT"}
        return {
            **keep,
            **self.env(),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **extra,
        }

    def client(self, service: str = "ecs", config: Any = None) -> Any:
        """A boto3 client for this sandbox (`config`: a botocore Config, e.g. no retries).
        Without a config, one client per service is made and handed out again (boto3's
        clients are thread-safe): a test session asks for thousands."""
        import boto3

        if config is None and service in self._clients:
            return self._clients[service]
        made = boto3.client(  # type: ignore[call-overload]
            service,
            config=config,
            endpoint_url=self.endpoint,
            region_name=DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        if config is None:
            self._clients[service] = made
        return made

    def set_faults(self, service: str | None = None, **knobs: Any) -> None:
        self.scheduler.set_faults(service, **knobs)

    def reset_faults(self) -> None:
        with self.scheduler.lock:
            if self.scheduler.faults != Faults() or self.scheduler.service_faults:
                self.scheduler.changed()  # the only faults a step reads
            self.scheduler.faults = Faults()
            self.scheduler.service_faults.clear()
            self.scheduler.injected.clear()
            for held in self.scheduler.holds.values():
                held.set()  # a test that failed before releasing a call must not hang
            self.scheduler.holds.clear()
        self.latency = self._base_latency

    def start(self) -> Sandbox:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        undo_ecs = patches.apply(self.scheduler)
        undo_codedeploy = codedeploy.apply(self.scheduler)

        def undo() -> None:
            undo_codedeploy()
            undo_ecs()

        self._undo = undo

        backends: dict[str, Any] = {}

        class Dispatcher(DomainDispatcherApplication):
            """moto's, but a host's backend is found once: moto matches the host a request
            was signed for against every service's URL patterns (hundreds of regular
            expressions), on every request, for an answer that depends on the host alone."""

            def get_backend_for_host(self, host: str | None) -> Any:
                if host is None or host not in backends:
                    found = super().get_backend_for_host(host)
                    if host is None or not found:
                        return found
                    backends[host] = found
                return backends[host]

        app = Middleware(Dispatcher(create_backend_app), self.scheduler, self._latency)
        self._middleware = app

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        self._server = make_server(
            self.host, self.port, app, threaded=True, request_handler=QuietHandler
        )
        self.port = self._server.server_address[1]
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="sandbox-http", daemon=True),
            threading.Thread(
                target=self.scheduler.run_forever,
                args=(self._stop,),
                name="sandbox-scheduler",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._undo is not None:
            self._undo()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def target_group(self, name: str, port: int = 80) -> str:
        """A target group (type ip) in a VPC of the sandbox, for a service's loadBalancers."""
        vpc = self.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group = self.client("elbv2").create_target_group(
            Name=name, Protocol="HTTP", Port=port, VpcId=vpc, TargetType="ip"
        )
        return str(group["TargetGroups"][0]["TargetGroupArn"])

    def seed_service(
        self,
        cluster: str,
        service: str,
        image: str = "nginx:1.25",
        desired_count: int = 2,
        *,
        family: str | None = None,
        container_name: str = "web",
        environment: dict[str, str] | None = None,
        extra_containers: Iterable[dict[str, Any]] = (),
        deployment_configuration: dict[str, Any] | None = None,
        health_check: bool = False,
        container: dict[str, Any] | None = None,
        load_balancers: list[dict[str, Any]] | None = None,
        deployment_controller: str = "ECS",
        wait: bool = True,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Create a cluster, a task definition and a service, and wait until it is steady."""
        import time

        ecs = self.client()
        ecs.create_cluster(clusterName=cluster)
        main: dict[str, Any] = {
            "name": container_name,
            "image": image,
            "memory": 128,
            "essential": True,
            **(container or {}),
        }
        if environment:
            main["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
        if health_check:
            main["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5}
        td = ecs.register_task_definition(
            family=family or service, containerDefinitions=[main, *extra_containers]
        )["taskDefinition"]
        kwargs: dict[str, Any] = {}
        if load_balancers:
            kwargs["loadBalancers"] = load_balancers
        if deployment_configuration:
            kwargs["deploymentConfiguration"] = deployment_configuration
        svc = ecs.create_service(
            cluster=cluster,
            serviceName=service,
            taskDefinition=td["taskDefinitionArn"],
            desiredCount=desired_count,
            deploymentController={"type": deployment_controller},
            **kwargs,
        )["service"]
        if wait and deployment_controller == "ECS":
            # Stepped here, and watched in the scheduler rather than by polling the API: a
            # session seeds hundreds, and each waited a tenth of a second for the steps.
            ref = self.scheduler.services[svc["serviceArn"]]
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with self.scheduler.lock:
                    deployments = ref.service.deployments
                    steady = (
                        len(deployments) == 1 and deployments[0].get("rolloutState") == "COMPLETED"
                    )
                if steady:
                    current = ecs.describe_services(cluster=cluster, services=[service])
                    return dict(current["services"][0])
                self.scheduler.step()
            raise TimeoutError(f"seeded service {service} did not become steady")
        return dict(svc)

    def seed_codedeploy_service(
        self, cluster: str, service: str = "web", image: str = "nginx:1.25", **options: Any
    ) -> dict[str, Any]:
        """A CODE_DEPLOY service behind an ALB with CodeDeploy's application and deployment
        group for it, steady on its first task set. Options and the returned names and ARNs:
        `codedeploy.seed` (deployment_config, ready_wait_minutes, termination_wait_minutes,
        auto_rollback, test_listener, desired_count, family, environment, ...)."""
        return codedeploy.seed(self, cluster, service, image, **options)


def _drop_connection(
    environ: dict[str, Any], start_response: StartResponse | None
) -> Iterable[bytes]:
    """Close the client's connection with no answer, as a reset or a dying proxy does."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
    if start_response is not None:  # werkzeug wants a status; writing it fails quietly now
        start_response("500 Dropped", [("Content-Length", "0")])
    return []


def _scope(environ: dict[str, Any]) -> tuple[str, str]:
    """The region and the service a request was signed for (its SigV4 credential scope); the
    service (ecs, logs, elasticloadbalancing, ...) is the prefix of its IAM actions."""
    match = re.search(
        r"Credential=[^/]*/[^/]*/([^/]*)/([^/]+)/", environ.get("HTTP_AUTHORIZATION", "")
    )
    return (match.group(1), match.group(2)) if match else ("", "")


@functools.cache
def _served_regions() -> frozenset[str]:
    """The regions moto serves: those botocore knows for ECS, in every partition."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ecs", partition_name=partition)
    )


def _unknown_region(region: str, start_response: StartResponse) -> Iterable[bytes]:
    """A region AWS has no endpoint for: in AWS the call could not connect; here, one clear
    error at once (moto would answer an HTML 500, which a client retries until its timeout)."""
    body = json.dumps(
        {
            "__type": "UnknownRegion",
            "message": f"no such region {region!r}: the sandbox (like AWS) serves only AWS's "
            "regions, e.g. us-east-1",
        }
    ).encode()
    start_response(
        "400 Bad Request",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _cluster_written(environ: dict[str, Any]) -> str | None:
    """The name of the cluster an ECS write of `CLUSTER_WRITES` names (by name or ARN); None
    for any other write (`Scheduler.changed`: every cluster may have changed)."""
    if str(environ.get("HTTP_X_AMZ_TARGET", "")).rsplit(".", 1)[-1] not in CLUSTER_WRITES:
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)  # put it back for moto
    try:
        cluster = json.loads(body or b"{}").get("cluster") or "default"
    except (ValueError, AttributeError):
        return None
    return cluster.rsplit("/", 1)[-1] if isinstance(cluster, str) else None


def _operation(environ: dict[str, Any]) -> str:
    """The API operation of a request: JSON protocols name it in X-Amz-Target, query
    protocols (STS) in an Action field of the query string or form body."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)  # put it back for moto
        query.update(parse_qs(body.decode("utf-8", "replace")))
    if "Action" in query:
        return str(query["Action"][0])
    return f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
