"""Why a task failed, from the source: the failed container's own last log lines, the load
balancer's health-check reason, the container's health status.

The pure half turns a stopped task, its task definition and what was read (log lines, target
health) into findings: where a container's logs are (`log_place`), what may be shown of a log
line (`clean_line`, `mask_line`: untrusted text, escaped and masked), which failures are the
same (`signature`). The `Diagnoser` decides what to read and reads it through the readers it
is given (gateways.AwsReaders; a fake in tests), within a small budget and never past the
run's deadline. A diagnosis never changes a verdict: every read that fails becomes a note.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecsdeploy.changes import MASK, looks_secret, url_passwords
from ecsdeploy.errors import AwsAccessError, EcsDeployError, NotFoundError
from ecsdeploy.limits import DEFAULT_LOG_LINES, MIN_MASKED_LENGTH
from ecsdeploy.models import Service, Task
from ecsdeploy.policy import Interrupted, RunPolicy

#: Distinct failures whose logs are read; identical ones after them are counted.
MAX_DISTINCT_FAILURES = 3
#: Seconds one task's diagnosis may take (its reads retry within it), never past --timeout.
DIAGNOSIS_BUDGET = 1.0
#: A log line longer than this is cut (a minified stack trace can be megabytes).
LOG_LINE_WIDTH = 240


@dataclass(frozen=True)
class TargetHealth:
    """One target of a target group, as DescribeTargetHealth reports it."""

    target_group: str
    target: str
    port: int | None
    state: str
    reason: str | None
    description: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_group": self.target_group,
            "target": self.target,
            "port": self.port,
            "state": self.state,
            "reason": self.reason,
            "description": self.description,
        }

    def describe(self) -> str:
        where = f"{self.target}:{self.port}" if self.port else self.target
        why = ": ".join(x for x in (self.reason, self.description) if x)
        return f"target {where} {self.state}" + (f": {why}" if why else "")


@dataclass(frozen=True)
class LogPlace:
    """Where a container's logs are (awslogs), or why they cannot be read (`note`)."""

    group: str | None = None
    stream: str | None = None
    region: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ContainerFinding:
    container: str
    exit_code: int | None
    reason: str | None
    health_status: str | None
    place: LogPlace
    lines: tuple[str, ...] = ()
    note: str | None = None  # why there are no lines (where the logs go, or a read that failed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "health_status": self.health_status,
            "log_group": self.place.group,
            "log_stream": self.place.stream,
            "log_region": self.place.region,
            "lines": list(self.lines),
            "note": self.note or self.place.note,
        }


@dataclass(frozen=True)
class TaskDiagnosis:
    task_arn: str
    stopped_reason: str | None
    health_status: str | None
    containers: tuple[ContainerFinding, ...] = ()
    targets: tuple[TargetHealth, ...] = ()
    #: The task id of an identical failure whose logs were read already.
    same_as: str | None = None
    #: That failure's diagnosis showed log lines (so they are above this one's).
    same_as_logged: bool = False
    #: Why this failure's logs were not read (too many distinct failures already).
    not_read: str | None = None

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_arn": self.task_arn,
            "stopped_reason": self.stopped_reason,
            "health_status": self.health_status,
            "containers": [c.as_dict() for c in self.containers],
            "target_health": [t.as_dict() for t in self.targets],
            "same_failure_as": self.same_as,
            "not_read": self.not_read,
        }


# -- pure: where logs are, what may be shown -------------------------------------------------


def log_place(container: Mapping[str, Any], task_id: str, default_region: str) -> LogPlace:
    """Where ECS's log driver sends this container's output. awslogs: the group, the stream
    `PREFIX/CONTAINER/TASK_ID` (ECS's naming) and the region (awslogs-region, which may
    differ from the cluster's). Anything else: one line saying where the logs go, or why
    the stream cannot be named."""
    conf = container.get("logConfiguration") or {}
    driver = conf.get("logDriver")
    options = conf.get("options") or {}
    if not driver:
        return LogPlace(note="no logConfiguration: the container's output is not kept anywhere")
    if driver == "awslogs":
        group = options.get("awslogs-group")
        region = options.get("awslogs-region") or default_region
        prefix = options.get("awslogs-stream-prefix")
        if not group:
            return LogPlace(note="awslogs without awslogs-group: no log group to read")
        if not prefix:
            return LogPlace(
                group=group,
                region=region,
                note=(
                    f"awslogs without awslogs-stream-prefix: the stream in {group} is named "
                    "after the Docker container id, which ECS does not report, so it cannot "
                    "be named; set awslogs-stream-prefix"
                ),
            )
        return LogPlace(group, f"{prefix}/{container.get('name')}/{task_id}", region)
    if driver == "awsfirelens":
        output = options.get("Name") or options.get("name")
        to = f" (output plugin {output})" if output else ""
        return LogPlace(note=f"logs go through FireLens{to}: read them where it sends them")
    if driver == "splunk":
        return LogPlace(note="logs go to Splunk (the splunk log driver): search them there")
    if driver == "none":
        return LogPlace(note="logging is off (logDriver none): the output is not kept")
    return LogPlace(note=f"logs go to the {driver} log driver: read them there")


_ESCAPES = {"\t": " ", "\r": "", "\n": " "}
#: The Unicode categories shown escaped: Cc, the controls (C0, DEL, C1); Cf, the invisible
#: format characters (the bidi overrides, embeddings, isolates and marks that reorder what
#: is printed around them, U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C; the
#: zero-width space, joiners and word joiner U+200B-U+200D, U+2060; the byte order mark
#: U+FEFF; the soft hyphen; the tag characters); Zl and Zp, the line and paragraph separators.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def clean_line(text: str, width: int = LOG_LINE_WIDTH) -> str:
    """Untrusted text made inert for a terminal and a CI log: every character that controls
    the display or hides in it (ESCAPED_CATEGORIES) shown escaped as Python writes it
    (`\\x1b[31m` stays visible but does nothing, a bidi override `\\u202e` cannot reorder the
    line, a zero-width space `\\u200b` shows where it is), a tab as a space, half a surrogate
    pair as U+FFFD (as a stream writes it); cut at `width` with an ellipsis. Pure."""
    out = []
    for ch in text:
        if " " <= ch <= "~":  # printable ASCII, most of any log
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif (category := unicodedata.category(ch)) in ESCAPED_CATEGORIES:
            out.append(_escaped(ord(ch)))
        elif category == "Cs":  # half a surrogate pair: no stream can encode it
            out.append("\ufffd")
        else:
            out.append(ch)
    line = "".join(out)
    return line if len(line) <= width else line[: width - 1] + "…"


def _escaped(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def secret_values(container: Mapping[str, Any], known: Sequence[str] = ()) -> list[str]:
    """The values a log line must not show: the container's environment values whose names
    look secret, the passwords of credentials written into URLs, and the `known` ones (the
    run's own credentials). (Secrets from SSM or Secrets Manager are never known to the
    tool, so they cannot be masked.)"""
    values = list(known)
    for entry in container.get("environment") or []:
        name, value = str(entry.get("name", "")), str(entry.get("value", ""))
        if looks_secret(name):
            values.append(value)
        else:  # a URL's password: the part mask_value masks
            values.extend(url_passwords(value))
    # longest first (a value inside another is masked after it), then by value: one order
    return sorted({v for v in values if len(v) >= MIN_MASKED_LENGTH}, key=lambda v: (-len(v), v))


def mask_line(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret value replaced by MASK (before it is cleaned and cut)."""
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def signature(task: Task) -> tuple[object, ...]:
    """What makes two failures the same: how the task stopped and how each failed container
    ended (not which task it was)."""
    return (
        task.stopped_reason,
        task.stop_code,
        tuple((c.name, c.exit_code, c.reason) for c in task.containers if c.failed),
    )


def shown_lines(
    lines: Sequence[str], secrets: Sequence[str], mask: Callable[[str], str] | None = None
) -> tuple[str, ...]:
    """Log lines as they may be shown: masked (by `secrets`, then by `mask`, the run's own
    table of what no output shows), escaped and cut, in that order: a secret that runs past
    the cut is masked whole, never shown in part."""
    if mask is None:
        return tuple(clean_line(mask_line(line, secrets)) for line in lines)
    return tuple(clean_line(mask(mask_line(line, secrets))) for line in lines)


# -- reading, on a budget --------------------------------------------------------------------


class LogsReader(Protocol):
    def tail(self, group: str, stream: str, lines: int) -> list[str]: ...


class ElbReader(Protocol):
    def target_health(self, target_group: str) -> list[TargetHealth]: ...


class Readers(Protocol):
    """What a diagnosis reads through, each under the policy it is given."""

    def task_definition(self, arn: str, policy: RunPolicy) -> Mapping[str, Any]: ...
    def logs(self, region: str, policy: RunPolicy) -> LogsReader: ...
    def elb(self, policy: RunPolicy) -> ElbReader: ...

    @property
    def region(self) -> str: ...


@dataclass
class Diagnoser:
    """One run's (one service's) diagnosis of its failed tasks: the logs of at most
    MAX_DISTINCT_FAILURES distinct failures, identical ones counted; target health as soon as
    a target is seen unhealthy (ECS deregisters it when it stops the task)."""

    readers: Readers
    policy: RunPolicy
    log_lines: int = DEFAULT_LOG_LINES
    budget: float = DIAGNOSIS_BUDGET
    warn: Callable[[str], None] = lambda message: None
    #: Values masked in every line besides each container's own (the run's credentials).
    known_secrets: Sequence[str] = ()
    #: Masks what else the run knows no output may show (masking.redact), before the cut.
    mask: Callable[[str], str] | None = None
    seen: dict[tuple[object, ...], str] = field(default_factory=dict)
    #: Tasks whose diagnosis showed log lines.
    logged: set[str] = field(default_factory=set)
    targets: dict[str, TargetHealth] = field(default_factory=dict)
    _definitions: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def task(
        self,
        task: Task,
        service: Service | None = None,
        containers: Sequence[Mapping[str, Any]] | None = None,
    ) -> TaskDiagnosis:
        """The diagnosis of one stopped task. Never raises for an AWS error. `containers`:
        the container definitions it ran with, when the caller knows them (a one-off task's,
        with its one-run overrides, which its log lines are masked by too); else they are
        read from its task definition."""
        base = TaskDiagnosis(task.arn, task.stopped_reason, task.health_status)
        targets = tuple(t for t in self.targets.values() if t.target in task.private_ips)
        if service is not None and service.target_groups and not targets:
            targets = tuple(t for t in self.read_targets(service) if t.target in task.private_ips)
        key = signature(task)
        if key in self.seen:
            first = self.seen[key]
            return _with(base, targets=targets, same_as=first, same_as_logged=first in self.logged)
        if len(self.seen) >= MAX_DISTINCT_FAILURES:
            return _with(
                base,
                targets=targets,
                not_read=f"logs of {MAX_DISTINCT_FAILURES} distinct failures were shown already",
            )
        self.seen[key] = task.id
        policy = self.policy.budget(self.budget)
        if containers is None:
            try:
                definition = self._definition(task.task_definition, policy)
            except Interrupted:
                return _with(base, targets=targets, not_read="interrupted")
            except EcsDeployError as exc:
                return _with(
                    base, targets=targets, not_read=f"task definition not read: {exc.message}"
                )
            containers = definition.get("containerDefinitions", [])
        by_name = {c.get("name"): c for c in containers}
        findings = []
        for container in task.containers:
            if not container.failed and not (container.health_status or "").startswith("UNH"):
                continue
            spec = by_name.get(container.name, {})
            place = log_place(spec, task.id, self.readers.region)
            lines: tuple[str, ...] = ()
            note = None
            if place.stream and place.group and place.region and self.log_lines > 0:
                lines, note = self._tail(place, spec, policy)
            elif place.stream and self.log_lines == 0:
                note = "log lines are off (--log-lines 0)"
            findings.append(
                ContainerFinding(
                    container.name,
                    container.exit_code,
                    container.reason,
                    container.health_status if spec.get("healthCheck") else None,
                    place,
                    lines,
                    note,
                )
            )
        if any(f.lines for f in findings):
            self.logged.add(task.id)
        return _with(base, containers=tuple(findings), targets=targets)

    def read_targets(self, service: Service) -> list[TargetHealth]:
        """Every target of the service's target groups, now (kept for the tasks that stop
        later: their targets are gone by then)."""
        policy = self.policy.budget(self.budget)
        found: list[TargetHealth] = []
        for group in service.target_groups:
            try:
                found.extend(self.readers.elb(policy).target_health(group))
            except Interrupted:
                break
            except EcsDeployError as exc:
                self.warn(f"Target health of {group} not read: {exc.message}")
                break
        for target in found:
            self.targets[target.target] = target
        return found

    def _definition(self, arn: str, policy: RunPolicy) -> Mapping[str, Any]:
        if arn not in self._definitions:
            self._definitions[arn] = self.readers.task_definition(arn, policy)
        return self._definitions[arn]

    def _tail(
        self, place: LogPlace, spec: Mapping[str, Any], policy: RunPolicy
    ) -> tuple[tuple[str, ...], str | None]:
        assert place.group is not None
        assert place.stream is not None
        assert place.region is not None
        try:
            raw = self.readers.logs(place.region, policy).tail(
                place.group, place.stream, self.log_lines
            )
        except Interrupted:
            return (), "not read: interrupted"
        except AwsAccessError as exc:
            return (), f"logs not read: {exc.message}"
        except NotFoundError as exc:
            return (
                (),
                f"no log stream to read ({exc.message}): the container may never have started",
            )
        except EcsDeployError as exc:
            return (), f"logs not read: {exc.message}"
        if not raw:
            return (), "the log stream is empty"
        return shown_lines(raw, secret_values(spec, self.known_secrets), self.mask), None


def _with(base: TaskDiagnosis, **changes: Any) -> TaskDiagnosis:
    from dataclasses import replace

    return replace(base, **changes)
