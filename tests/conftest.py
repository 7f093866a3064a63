"""Shared fixtures: one sandbox ECS for the whole session, on loopback only.

Every run of the real command goes through `run_cli` or `start_cli`/`finish`, which hand it
sentinel credentials and scan everything it printed or wrote for them (and for the sentinel
environment value every seeded task definition carries): the whole CLI suite is the
secrets scan."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from ecsdeploy.config import DeployConfig
from ecsdeploy.image import parse_image
from ecsdeploy.sandbox import Sandbox

FAST = ("--poll-interval", "0.1")  # tests poll faster than the default
MUTATING = {
    "RegisterTaskDefinition",
    "UpdateService",
    "DeregisterTaskDefinition",
    "RunTask",
    "StopServiceDeployment",
    "ContinueServiceDeployment",
    "StopTask",
    "PutTargets",
    "UpdateSchedule",
    "ModifyRule",
    "ModifyListener",
}
_names = itertools.count(1)

#: Credentials every command run gets, and a secret every seeded task definition holds:
#: none may appear in anything the command prints or writes.
SENTINEL_KEY_ID = "AKIASENTINELKEYID0001"
SENTINEL_SECRET = "sentinel-secret-access-key-7f3a9c"
SENTINEL_TOKEN = "sentinel-session-token-51be02"
SENTINEL_ENV_VALUE = "sentinel-db-password-c0ffee"
SENTINELS = (SENTINEL_KEY_ID, SENTINEL_SECRET, SENTINEL_TOKEN, SENTINEL_ENV_VALUE)
_SECRET_OPTIONS = {"-k", "--aws-access-key", "-s", "--aws-secret-key"}


def assert_loopback(endpoint: str) -> None:
    """Refuse to run against anything but this machine: no test may reach real AWS."""
    host = urlparse(endpoint).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RuntimeError(f"refusing to run tests against non-loopback endpoint {endpoint}")


def pytest_configure(config: pytest.Config) -> None:
    _parse_botocores_models_once()
    _share_botocores_pure_caches()


#: The model files nothing changes once parsed, whose parsed data can be shared (not the
#: partitions file, `endpoints`, which its readers change as they resolve endpoints).
_READ_ONLY_MODELS = ("/service-2", "/endpoint-rule-set-1", "/paginators-1", "/waiters-2")


def _parse_botocores_models_once() -> None:
    """Each in-process run builds its own botocore session and clients, as a process of its
    own does, and so parses botocore's JSON models (ECS's is megabytes) again: that was a
    third of the CPU of an in-process deploy. In this test process a model file of botocore's
    own data (package data, read-only) is parsed once per loader class (the command's parses
    into plain dicts, botocore's into ordered ones), and every later read gets the same data,
    as the clients of one session share it. The partitions file (`endpoints`, 1.2 MB, about
    half of what was left of a run's parsing) is parsed once too, but each read gets its own
    copy (`_FreshServices`), since its readers write into it. Nothing else changes: every run
    still builds its session, loader and clients; a model in AWS_DATA_PATH or ~/.aws/models
    is read as before."""
    import botocore
    from botocore.loaders import JSONFileLoader

    own_data = os.path.join(os.path.dirname(botocore.__file__), "data") + os.sep
    partitions_file = own_data + "endpoints"
    parse = JSONFileLoader.load_file
    parsed: dict[tuple[str, str], Any] = {}

    def load_file(self: JSONFileLoader, file_path: str) -> Any:
        shared = file_path.endswith(_READ_ONLY_MODELS)
        if not (file_path.startswith(own_data) and (shared or file_path == partitions_file)):
            return parse(self, file_path)
        key = (type(self).__qualname__, file_path)
        if key not in parsed:
            parsed[key] = parse(self, file_path)
        return parsed[key] if shared else _fresh_partitions(parsed[key])

    JSONFileLoader.load_file = load_file  # type: ignore[method-assign]


class _FreshServices(dict[str, Any]):
    """One partition's `services` as a new parse would give them: a service's data is
    copied from the one parse when first looked up (botocore's endpoint resolver writes into
    a service's `endpoints` as it resolves them), so that no run sees what another wrote.
    Copying all 400-odd services cost as much as parsing; a run looks up a handful."""

    def __init__(self, parsed: dict[str, Any]) -> None:
        super().__init__(parsed)
        self._copied: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        if name not in self._copied:
            value = _copy_json(value)
            super().__setitem__(name, value)
            self._copied.add(name)
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        self._copied.add(name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[name] if name in self else default  # noqa: SIM401 (self.get is this)

    def values(self) -> Any:
        return [self[name] for name in self]

    def items(self) -> Any:
        return [(name, self[name]) for name in self]


def _copy_json(value: Any) -> Any:
    """A copy of parsed JSON, each dict of its own type (plain or ordered) and order."""
    if isinstance(value, dict):
        return type(value)((key, _copy_json(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value  # str, int, float, bool, None: immutable


def _fresh_partitions(parsed: dict[str, Any]) -> dict[str, Any]:
    """The partitions file's data for one reader: its own dicts down to each service."""
    partitions = [{**p, "services": _FreshServices(p["services"])} for p in parsed["partitions"]]
    return {**parsed, "partitions": partitions}


def _share_botocores_pure_caches() -> None:
    """Two caches botocore keeps per session, of answers that depend on nothing a session
    holds, shared by the sessions of this test process (a process of its own has one
    session, and so one of each): an event name's alias (a function of the name and the
    alias table, botocore's EVENT_ALIASES), and whether a handler function accepts **kwargs
    (its signature), which botocore asks `inspect` of each of the hundreds of handlers a
    session registers. About a tenth of an in-process run's CPU."""
    import types

    from botocore import hooks

    aliases: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    init = hooks.EventAliaser.__init__

    def aliaser_init(self: hooks.EventAliaser, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)  # each client's emitter is a copy, with a copy of these
        table = tuple(self._event_aliases.items())
        self._alias_name_cache = aliases.setdefault(table, self._alias_name_cache)

    hooks.EventAliaser.__init__ = aliaser_init  # type: ignore[method-assign]

    accepts = hooks.accepts_kwargs
    by_code: dict[types.CodeType, bool] = {}

    def accepts_kwargs(func: Any) -> bool:
        plain = func.__func__ if isinstance(func, types.MethodType) else func
        if not isinstance(plain, types.FunctionType) or hasattr(plain, "__signature__"):
            return bool(accepts(func))
        code = plain.__code__  # a function's own signature is its code's (no __signature__)
        if code not in by_code:
            by_code[code] = bool(accepts(func))
        return by_code[code]

    hooks.accepts_kwargs = accepts_kwargs


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(step_delay=0.02) as sb:
        assert_loopback(sb.endpoint)
        yield sb
        _TOOL_CALLS.update(sb.tool_log)


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").reset_faults()


@pytest.fixture
def cluster() -> str:
    """A fresh cluster name per test, so tests share the sandbox without sharing state."""
    return f"c{next(_names)}"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    calls: list[str]
    applied: list[str] = field(default_factory=list)  # mutating calls that took effect

    @property
    def mutating_calls(self) -> list[str]:
        return [c for c in self.calls if c in MUTATING]


def child_env(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    env = sandbox.child_environ(
        os.environ,
        AWS_ACCESS_KEY_ID=SENTINEL_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SENTINEL_SECRET,
        AWS_SESSION_TOKEN=SENTINEL_TOKEN,
        **extra,
    )
    assert_loopback(env["AWS_ENDPOINT_URL"])
    return env


def leaked_secrets(texts: list[str], args: tuple[str, ...] = ()) -> list[str]:
    """Which sentinels (and values given to -k/-s) appear in `texts`."""
    secrets = set(SENTINELS)
    secrets.update(v for flag, v in itertools.pairwise(args) if flag in _SECRET_OPTIONS)
    return sorted(s for s in secrets if len(s) >= 4 and any(s in t for t in texts))


_SCANNED = [0]  # command runs scanned this session (reported at the end of the run)
_PROCESSES = [0]  # of which ran as a process of their own
#: (service, operation) of every AWS call ecs-deploy made this session, in any worker: each
#: must be allowed by docs/iam-policy.json (checked when the session ends).
_TOOL_CALLS: set[tuple[str, str]] = set()
_NOT_ALLOWED: list[str] = []
#: What an xfail test of an open defect saw when the defect showed (see `seen_open_defect`),
#: printed at the end of the run: an XFAIL line alone says nothing of why.
_SEEN: list[str] = []


def seen_open_defect(message: str) -> None:
    """Report an open defect's occurrence (the end of the run prints it), then xfail."""
    _SEEN.append(message)
    pytest.xfail(message.splitlines()[0])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its counts and calls to the controller (pytest_testnodedown);
    the controller (or a run without workers) checks the calls against the IAM policy, and
    fails the session if one is not allowed."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["scanned"] = _SCANNED[0]
        workeroutput["processes"] = _PROCESSES[0]
        workeroutput["tool_calls"] = sorted(_TOOL_CALLS)
        workeroutput["seen"] = _SEEN
        return
    from tests.iam_policy import not_allowed

    _NOT_ALLOWED[:] = not_allowed(_TOOL_CALLS)
    if _NOT_ALLOWED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_testnodedown(node: Any, error: Any) -> None:
    output = getattr(node, "workeroutput", {})
    _SCANNED[0] += int(output.get("scanned", 0))
    _PROCESSES[0] += int(output.get("processes", 0))
    _TOOL_CALLS.update((service, op) for service, op in output.get("tool_calls", []))
    _SEEN.extend(output.get("seen", []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for message in _SEEN:
        terminalreporter.write_line(f"OPEN DEFECT seen (xfail): {message}", yellow=True)
    if _NOT_ALLOWED:
        terminalreporter.write_line(
            f"FAILED: docs/iam-policy.json does not allow {', '.join(_NOT_ALLOWED)}, which "
            "ecs-deploy called in this session",
            red=True,
        )
    elif _TOOL_CALLS:
        terminalreporter.write_line(
            f"IAM policy: the {len(_TOOL_CALLS)} AWS operations ecs-deploy called are all "
            "allowed by docs/iam-policy.json"
        )
    if _SCANNED[0]:
        terminalreporter.write_line(
            f"secrets scan: {_SCANNED[0]} runs of ecs-deploy ({_PROCESSES[0]} in a process of "
            "their own), none printed or wrote a sentinel"
        )


def _scan(args: tuple[str, ...], env: dict[str, str], stdout: str, stderr: str) -> None:
    _SCANNED[0] += 1
    texts = [stdout, stderr]
    path = env.get("GITHUB_OUTPUT")
    if path and Path(path).is_file():
        texts.append(Path(path).read_text(errors="replace"))
    leaked = leaked_secrets(texts, args)
    assert not leaked, f"secrets in the command's output: {leaked}"


def cli_path() -> str:
    return str(Path(sys.executable).with_name("ecs-deploy"))


@dataclass
class Started:
    """A command started with `start_cli`, for tests that signal it mid-run."""

    proc: subprocess.Popen[str]
    args: tuple[str, ...]
    env: dict[str, str]
    log_start: int
    applied_start: int
    stderr_seen: bytes = b""  # read by `wait_for_output`, given back by `finish`

    def wait_for_call(self, sandbox: Sandbox, operation: str, nth: int = 1, within: float = 30):
        """Block until the command has made its `nth` call of `operation`."""
        deadline = time.monotonic() + within
        while sandbox.requests[self.log_start :].count(operation) < nth:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"the command never called {operation} #{nth}")
            time.sleep(0.01)

    def wait_for_output(self, text: str, within: float = 30) -> None:
        """Block until the command has written `text` to stderr (a line it writes as a
        phase begins, say). What was read is kept: `finish` returns all of stderr."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()  # read unbuffered, so select sees all that is left
        deadline = time.monotonic() + within
        while text.encode() not in self.stderr_seen:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                raise AssertionError(f"the command never wrote {text!r}")
            self.stderr_seen += chunk

    def signal(self, sig: int = signal.SIGINT) -> None:
        self.proc.send_signal(sig)

    def wait_delivered(self, sig: int, within: float = 30) -> None:
        """Block until the kernel has delivered `sig` to the process (no longer pending in
        /proc/PID/status): a second one sent after this is a second signal, not merged
        with the first by the kernel, however starved the process is."""
        status = Path(f"/proc/{self.proc.pid}/status")
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                fields = dict(
                    line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
                )
            except OSError:
                return
            pending = int(fields["ShdPnd"], 16) | int(fields["SigPnd"], 16)
            if not pending & (1 << (sig - 1)):
                return
            time.sleep(0.01)

    def _hung(self, timeout: float) -> str:
        """Why a command outlived `timeout`, for the failure's message: its signal masks (by
        thread), then every thread's stack, which faulthandler prints on SIGABRT (start_cli
        sets PYTHONFAULTHANDLER), and the end of what it wrote to stderr."""
        masks = []
        with contextlib.suppress(OSError):
            for task in sorted(os.listdir(f"/proc/{self.proc.pid}/task")):
                status = Path(f"/proc/{self.proc.pid}/task/{task}/status").read_text()
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                masks.append(
                    f"{fields['Name'].strip()}: "
                    + " ".join(f"{k}={fields[k].strip()}" for k in _MASKS if k in fields)
                )
        self.proc.send_signal(signal.SIGABRT)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # as subprocess.run does
            _, err = self.proc.communicate()
        return (
            f"the command did not end within {timeout} s\n" + "\n".join(masks) + f"\n{err[-6000:]}"
        )

    def finish(self, sandbox: Sandbox, timeout: float = 60) -> Run:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(self._hung(timeout)) from None
        err = self.stderr_seen.decode(errors="replace") + err
        _scan(self.args, self.env, out, err)
        return Run(
            self.proc.returncode,
            out,
            err,
            sandbox.requests[self.log_start :],
            sandbox.applied[self.applied_start :],
        )


#: The /proc status lines that say what a process does with each signal.
_MASKS = ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")


def start_cli(sandbox: Sandbox, *args: str, command: tuple[str, ...] = (), **env: str) -> Started:
    """Start the real command (or `command`, e.g. the Action's entry point) in the
    background, stdout and stderr captured; a SIGABRT makes it print every thread's stack
    (see Started._hung)."""
    environ = child_env(sandbox, **{"PYTHONFAULTHANDLER": "1", **env})
    start, applied = len(sandbox.requests), len(sandbox.applied)
    _PROCESSES[0] += 1
    proc = subprocess.Popen(
        [*(command or (cli_path(),)), *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Started(proc, args, environ, start, applied)


#: ECS_DEPLOY_TEST_SUBPROCESS=1 runs every command in a process of its own, as before.
ALWAYS_SUBPROCESS = bool(os.environ.get("ECS_DEPLOY_TEST_SUBPROCESS"))


def run_cli(
    sandbox: Sandbox,
    *args: str,
    timeout: float = 60,
    command: tuple[str, ...] = (),
    own_process: bool = False,
    deadline_after: str | None = None,
    **env: str,
) -> Run:
    """Run `ecs-deploy ARGS` against the sandbox: in this process (`cli.main(argv)`, with
    the command's whole environment, stdout and stderr swapped in for the run), or, with
    `own_process` (or a `command`), as a process of its own, for what needs one: signals,
    start-up, the console script's exit, a closed stream. `deadline_after`: the run's
    --timeout passes as soon as it has written this text (see `JumpingClock`); in a process
    of its own, the run keeps its real --timeout."""
    if own_process or command or ALWAYS_SUBPROCESS:
        return start_cli(sandbox, *args, command=command, **env).finish(sandbox, timeout=timeout)
    return run_in_process(sandbox, *args, deadline_after=deadline_after, **env)


#: How far a `JumpingClock` jumps: past any --timeout a test gives.
JUMP = 3600.0


class JumpingClock:
    """The clock an in-process run measures its deadlines by: time.monotonic(), an hour
    ahead once the run has written `text` (to stdout or stderr). A test of what a --timeout
    does at a point of the run (a pause, a wait at Ready) passes that point first, however
    long a loaded runner needs to reach it, and does not wait out the rest of the -t."""

    def __init__(self, text: str, *streams: Any) -> None:
        self.ahead = 0.0
        self._text, self._streams = text, streams
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def __call__(self) -> float:
        return time.monotonic() + self.ahead

    def _watch(self) -> None:
        while not self._done.wait(0.005):
            if any(self._text in stream.getvalue() for stream in self._streams):
                self.ahead = JUMP
                return

    def stop(self) -> None:
        self._done.set()
        self._watcher.join()


#: How far apart an in-process run reads a stopped one-off task's logs again (watch.LOG_SETTLE,
#: 1 s for CloudWatch Logs' ingestion lag): the sandbox's lag (the `late_log` fault) is
#: `late_log_after`, which a test keeps under this (0.15 s), so the first read after
#: the stop already finds its lines. Every one-off run waits one or two of these after its
#: task stopped. A run in a process of its own keeps the product's 1 s.
SANDBOX_LOG_SETTLE = 0.25


def run_in_process(
    sandbox: Sandbox, *args: str, deadline_after: str | None = None, **env: str
) -> Run:
    import contextlib
    import io

    from ecsdeploy import watch
    from ecsdeploy.cli import main
    from ecsdeploy.policy import RunPolicy

    environ = child_env(sandbox, **env)
    start, applied = len(sandbox.requests), len(sandbox.applied)
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    code: int | str | None = 0
    settle = watch.LOG_SETTLE
    clock = JumpingClock(deadline_after, out, err) if deadline_after else None
    try:
        watch.LOG_SETTLE = SANDBOX_LOG_SETTLE
        os.environ.clear()
        os.environ.update(environ)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args), policy=RunPolicy(clock=clock) if clock else RunPolicy())
            except SystemExit as exc:
                code = exc.code
    finally:
        if clock is not None:
            clock.stop()
        watch.LOG_SETTLE = settle
        os.environ.clear()
        os.environ.update(saved)
    _scan(args, environ, out.getvalue(), err.getvalue())
    return Run(
        int(code or 0),
        out.getvalue(),
        err.getvalue(),
        sandbox.requests[start:],
        sandbox.applied[applied:],
    )


def seed(sandbox: Sandbox, cluster: str, **kwargs: Any) -> dict[str, Any]:
    """A steady service `web` in `cluster`, in the cluster's own task-definition family;
    its container holds a secret in its environment (the secrets scan looks for it)."""
    kwargs.setdefault("family", f"{cluster}-web")
    kwargs.setdefault("environment", {"DB_PASSWORD": SENTINEL_ENV_VALUE})
    return sandbox.seed_service(cluster, "web", **kwargs)


def retire(sandbox: Sandbox, cluster: str, service: str = "web") -> None:
    """Scale a big service (hundreds of tasks) to zero once its test is done: left running,
    its tasks are stepped again by every fault change for the rest of the session."""
    sandbox.client().update_service(cluster=cluster, service=service, desiredCount=0)


def broken_deploy(cluster: str, timeout: float = 2) -> DeployConfig:
    """An in-process deploy of an image that cannot start, with --enable-rollback."""
    return DeployConfig(
        cluster=cluster,
        service="web",
        image=parse_image("nginx:broken"),
        timeout=timeout,
        poll_interval=0.1,
        enable_rollback=True,
    )


def deploy(sandbox: Sandbox, cluster: str, *args: str, **env: str) -> Run:
    """`ecs-deploy -c CLUSTER -n web ARGS` with fast polling."""
    return run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, *args, **env)


def ecr_image(sandbox: Sandbox, repository: str, tag: str) -> str:
    """An image pushed to the sandbox's ECR (the preflight finds it); returns its reference."""
    import contextlib
    import hashlib
    import json

    ecr = sandbox.client("ecr")
    with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
        ecr.create_repository(repositoryName=repository)
    digest = "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()
    ecr.put_image(
        repositoryName=repository,
        imageTag=tag,
        imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
        imageManifest=json.dumps({"schemaVersion": 2, "config": {"digest": digest}, "layers": []}),
    )
    return f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}:{tag}"
