"""Everything the user sees. Verbosity is a level; errors go to stderr; JSON goes to stdout
alone; colour and the live status line only on a terminal (CI gets timestamped lines).

Output never decides a deploy: writing to a closed stdout or to a reader that quit early
(`| head`) stops quietly, text the stream cannot encode is written with replacement
characters (only a closed stream stops output), an unwritable GITHUB_OUTPUT is one warning on
stderr, and the run goes on as it would have.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from ecsdeploy.levels import Level
from ecsdeploy.masking import redact, redacted
from ecsdeploy.models import (
    Deployment,
    Service,
    ServiceDeployment,
    ServiceEvent,
    Task,
    rollout_counts,
    short_name,
)
from ecsdeploy.result import DeployResult, Outcome, ReleaseResult

if TYPE_CHECKING:  # a failure's diagnosis loads with the story that makes one
    from ecsdeploy.diagnose import TargetHealth, TaskDiagnosis

OUTCOME_WORDS = {
    Outcome.FAILED: "failed",
    Outcome.TIMED_OUT: "timed out",
    Outcome.ROLLED_BACK_BY_ECS: "failed and was rolled back by ECS",
    Outcome.ROLLBACK_FAILED: "failed and ECS's rollback FAILED",
    Outcome.PAUSED: "paused, awaiting approval",
    Outcome.ROLLED_BACK: "rolled back",
    Outcome.SUPERSEDED: "superseded",
    Outcome.SERVICE_INACTIVE: "stopped: the service is no longer active",
    Outcome.INTERRUPTED: "interrupted",
    Outcome.ABORTED: "aborted",
}


def outcome_words(result: DeployResult) -> str:
    """How the outcome reads: a CODE_DEPLOY service's rollback is CodeDeploy's, not ECS's."""
    words = OUTCOME_WORDS.get(result.outcome, result.outcome.value)
    if result.codedeploy is not None:
        words = words.replace("by ECS", "by CodeDeploy").replace("ECS's", "CodeDeploy's")
    return words


#: An ERROR line is never cut short (it is the run's last word), only escaped.
MAX_ERROR_WIDTH = 1 << 20


def shown(text: str) -> str:
    """One line as it may be printed: masked first (a secret is found as it was written),
    then every control, bidi or invisible character in it escaped (`diagnose.clean_line`),
    never cut. Every line the Reporter writes goes through it, so an AWS message, a service
    event or a debug line cannot move the cursor, recolour or reorder the terminal; the JSON
    summary and the step outputs carry AWS's text (a reason, a warning, a diagnosis) as it."""
    from ecsdeploy.diagnose import clean_line  # loaded by every story that prints by then

    return clean_line(redact(text), width=MAX_ERROR_WIDTH)


def _escaped_all(data: Any) -> Any:
    """A copy of AWS's text in a summary (a reason, a warning, a diagnosis, a stopped task)
    with every string as a line shows it (`shown`): text, JSON and step outputs agree."""
    if isinstance(data, str):
        return shown(data)
    if isinstance(data, Mapping):
        return {key: _escaped_all(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_escaped_all(value) for value in data]
    return data


class _Stream:
    """A text stream that stops writing, quietly, once it breaks (EPIPE, closed, missing);
    whatever it writes is `redact`ed."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        self.broken = stream is None

    def write(self, text: str, *, masked: bool = False) -> bool:
        """Write `text`, `redact`ed unless the caller `masked` each part of it already (a
        JSON document, whose every string was: masking the document's text could break it)."""
        if self.broken or self.stream is None:
            return False
        if not masked:
            text = redact(text)
        try:
            try:
                self.stream.write(text)
            except UnicodeEncodeError:  # nothing was written: the stream is fine, the text not
                self.stream.write(encodable(text, getattr(self.stream, "encoding", None)))
            self.stream.flush()
        except (OSError, ValueError):  # BrokenPipeError, EBADF, "I/O on closed file"
            self.broken = True
            return False
        return True

    def isatty(self) -> bool:
        try:
            return not self.broken and self.stream is not None and self.stream.isatty()
        except (OSError, ValueError):
            return False


def encodable(text: str, encoding: str | None) -> str:
    """`text` with each character the stream's encoding cannot take (a lone surrogate from a
    log line; anything beyond ASCII on an ASCII terminal) replaced by U+FFFD, or by `?`
    where even that cannot be encoded."""
    encoding = encoding or "utf-8"

    def fits(ch: str) -> bool:
        try:
            ch.encode(encoding)
        except (UnicodeEncodeError, LookupError):
            return False
        return True

    mark = "\ufffd" if fits("\ufffd") else "?"
    return "".join(ch if fits(ch) else mark for ch in text)


#: A crash loop stops tasks by the hundred; the summary (and each GitHub step output, one
#: line) keeps the first ones and the total.
MAX_STOPPED_TASKS_IN_SUMMARY = 10


@dataclass
class Reporter:
    """Writes progress as text; with `json_output` the human text goes to stderr."""

    level: Level = Level.NORMAL
    json_output: bool = False
    out: IO[str] | None = field(default_factory=lambda: sys.stdout)  # None: fd 1 is closed
    err: IO[str] | None = field(default_factory=lambda: sys.stderr)
    tty: bool | None = None
    #: Every warning said, at any level: the summary lists each (JSON `warnings`, the
    #: `warnings=` step output). A story records them in its result (`record_into`).
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._out, self._err = _Stream(self.out), _Stream(self.err)
        self._human = self._err if self.json_output else self._out
        if self.tty is None:
            self.tty = self._human.isatty() and os.environ.get("TERM") != "dumb"
        self._status_shown = False
        self._last_progress: str | None = None

    # -- lines -----------------------------------------------------------------------------

    def info(self, message: str) -> None:
        if self.level >= Level.NORMAL:
            self._line(message)

    def block(self, lines: list[str]) -> None:
        """Lines shown as they are (a diff, a request, the release's table): no timestamps,
        so they can be read and copied; escaped and masked as every line is (`shown`)."""
        if self.level >= Level.NORMAL:
            self._clear_status()
            for line in lines:
                self._human.write(shown(line) + "\n")

    def debug(self, message: str) -> None:
        if self.level >= Level.VERBOSE:
            self._line(f"debug: {message}")

    def warn(self, message: str) -> None:
        """The one way a warning is said: shown (unless quiet) and recorded."""
        self.warnings.append(message)
        if self.level >= Level.NORMAL:
            self._line(message, "33")

    def record_into(self, warnings: list[str]) -> None:
        """Record warnings in `warnings` (a run's result) from now on, after those said
        before the run began (a repeated option, ...)."""
        if warnings is not self.warnings:
            warnings.extend(w for w in self.warnings if w not in warnings)
            self.warnings = warnings

    def error(self, message: str) -> None:
        """One ERROR line, whatever the message holds: a newline, an escape sequence or a
        bidi override in it (from a name, an AWS message) is shown escaped."""
        self._clear_status()
        self._err.write(f"ERROR: {shown(message)}\n")

    def usage(self, lines: list[str]) -> None:
        """The command's forms, on stderr with the error they precede (a command given no
        arguments at all)."""
        self._clear_status()
        for line in lines:
            self._err.write(line + "\n")

    # -- the watcher's observer ------------------------------------------------------------

    def progress(
        self,
        service: Service,
        deployment: Deployment | None,
        elapsed: float,
        sd: ServiceDeployment | None = None,
    ) -> None:
        if self.level < Level.NORMAL:
            return
        counts = rollout_counts(service, deployment)
        if sd is not None:  # stage and traffic have lines of their own (stage_changed)
            text = describe_counts(counts, "green", "blue")
            status = f"{sd.lifecycle_stage or 'no stage'}: {text}; {describe_traffic(sd)}"
        else:
            state = (deployment.rollout_state if deployment else None) or "unknown"
            text = status = f"{describe_counts(counts)}; {state}"
        if self.tty:
            self._show_status(f"[{elapsed:5.1f}s] {status}")
        elif text != self._last_progress:
            self._line(f"[{elapsed:.1f}s] {text}")
        self._last_progress = text

    def stage_changed(self, sd: ServiceDeployment) -> None:
        """A native deployment moved on: its stage, status or traffic weights changed."""
        self.info(f"stage {sd.lifecycle_stage or 'none'} ({sd.status}): {describe_traffic(sd)}")

    def service_event(self, event: ServiceEvent) -> None:
        self.info(f"event: {event.message}")

    def diagnosis(self, d: TaskDiagnosis) -> None:
        """A stopped task's diagnosis, indented under its line: each failed container's last
        log lines (escaped and masked already), its health, its load balancer target."""
        if self.level < Level.NORMAL:
            return
        lines: list[str] = []
        if d.same_as:
            above = " (its logs are above)" if d.same_as_logged else ""
            lines.append(f"  the same failure as task {d.same_as}{above}")
        elif d.not_read:
            lines.append(f"  logs not read: {d.not_read}")
        if d.health_status and d.health_status != "UNKNOWN":
            lines.append(f"  task health {d.health_status}")
        for c in d.containers:
            head = f"  container {c.container}"
            if c.health_status:
                head += f" health {c.health_status}"
            if c.lines:
                where = f"{c.place.group} {c.place.stream}" + (
                    f" ({c.place.region})" if c.place.region else ""
                )
                lines.append(f"{head}: last {len(c.lines)} log lines of {where}:")
                lines.extend(f"    | {line}" for line in c.lines)
            else:
                lines.append(f"{head}: {c.note or c.place.note or 'no logs'}")
        lines.extend(f"  {t.describe()}" for t in d.targets)
        self.block(lines)

    def task_log(self, container: str, line: str) -> None:
        """A line a one-off task's container logged (escaped and masked already)."""
        self.info(f"{container} | {line}")

    def targets(self, targets: list[TargetHealth]) -> None:
        """Targets seen unhealthy, read as soon as ECS said so (before it deregisters them)."""
        for t in targets:
            if t.state not in ("healthy", "initial"):
                self.warn(t.describe())

    def task_stopped(self, task: Task) -> None:
        parts = [f"task {task.id} stopped: {task.stopped_reason or 'no reason given'}"]
        if task.stop_code:
            parts.append(f"stopCode {task.stop_code}")
        for c in task.containers:
            parts.append(
                f"container {c.name} exit code {c.exit_code if c.exit_code is not None else '-'}"
                + (f" ({c.reason})" if c.reason and c.reason != task.stopped_reason else "")
            )
        message = "; ".join(parts)
        if self.level >= Level.NORMAL:
            self._line(message, "31")
        else:
            self.error(message)

    # -- the end -------------------------------------------------------------------------

    def summary(self, result: DeployResult) -> None:
        """The end of every run, whatever ended it: the JSON object (with --output json),
        one ERROR line on stderr for a failure, and the GitHub step outputs."""
        data = summary_dict(result)
        # a run that never began (bad input) still lists what was said before it
        data["warnings"] = _escaped_all(
            [*result.warnings, *(w for w in self.warnings if w not in result.warnings)]
        )
        data = redacted(data)
        if self.json_output:
            self._clear_status()
            self._out.write(json.dumps(data, sort_keys=True) + "\n", masked=True)
        if result.code != 0 and result.outcome is Outcome.ERROR:  # bad input or an AWS error
            self.error(result.reason)
        elif result.code != 0:
            self.error(f"{result.what} {outcome_words(result)}: {result.reason}")
        elif result.outcome is Outcome.DRY_RUN and not self.json_output:
            self.info(f"Dry run finished: {result.reason} ({result.duration:.1f}s)")
        elif not self.json_output and self.level >= Level.NORMAL:
            self._line(f"{result.what} succeeded: {result.reason} ({result.duration:.1f}s)", "32")
        try:
            write_github_output(data)
        except OSError as exc:
            self._err.write(
                shown(
                    f"WARNING: could not write GITHUB_OUTPUT ({exc.strerror or exc}); "
                    "the deploy's outcome is unchanged"
                )
                + "\n"
            )

    def release_summary(self, release: ReleaseResult) -> None:
        """The end of a release: the table, an ERROR line for each service that did not
        deploy and one for the release, the JSON object, the GitHub step outputs."""
        data = release_dict(release)
        # the release's own (said before or between its services' runs), then each service's
        said = {w for r in release.results for w in r.warnings}
        own = _escaped_all([w for w in self.warnings if w not in said])
        data["warnings"] = [*own, *data["warnings"]]
        data = redacted(data)
        if self.json_output:
            self._clear_status()
            self._out.write(json.dumps(data, sort_keys=True) + "\n", masked=True)
        if self.level >= Level.NORMAL:
            self.block(["", *release_table(release)])
        for r in release.results:
            if r.code != 0:
                words = outcome_words(r)
                self.error(f"{r.service}: {words}: {r.reason}")
        if release.code != 0:
            self.error(f"Release {release.outcome.value}: {release.reason}")
        elif release.outcome is Outcome.DRY_RUN and not self.json_output:
            self.info(f"Dry run finished: {release.reason}, nothing was changed")
        elif not self.json_output and self.level >= Level.NORMAL:
            self._line(f"Release succeeded: {release.reason} ({release.duration:.1f}s)", "32")
        flat = {k: v for k, v in data.items() if k != "services"}
        flat["services"] = data["services"]
        try:
            write_github_output(flat)
        except OSError as exc:
            self._err.write(
                shown(
                    f"WARNING: could not write GITHUB_OUTPUT ({exc.strerror or exc}); "
                    "the release's outcome is unchanged"
                )
                + "\n"
            )

    # -- plumbing ------------------------------------------------------------------------

    def _show_status(self, line: str) -> None:
        """The live status line (a terminal only)."""
        self._clear_status()
        self._human.write("\r" + fit(line))
        self._status_shown = True

    def _line(self, message: str, colour: str | None = None) -> None:
        """One line of text, escaped and masked (`shown`), then coloured (on a terminal)."""
        text = shown(message)
        self._write_line(self._paint(text, colour) if colour else text)

    def _write_line(self, message: str) -> None:
        self._clear_status()
        if self.tty:
            self._human.write(message + "\n")
        else:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._human.write(f"{stamp} {message}\n")

    def _clear_status(self) -> None:
        if self._status_shown:
            self._human.write("\r\x1b[2K")
            self._status_shown = False

    def _paint(self, text: str, colour: str) -> str:
        if self.tty and not os.environ.get("NO_COLOR"):
            return f"\x1b[{colour}m{text}\x1b[0m"
        return text


def fit(line: str) -> str:
    """A line cut to the terminal's width: a wider one wraps, and the cursor cannot take a
    wrapped line back."""
    width = shutil.get_terminal_size().columns - 1
    return line if len(line) <= width else line[: width - 1] + "…"


class StatusBoard:
    """A release's live status on a terminal: a row per service, redrawn in place below the
    lines printed so far."""

    def __init__(self, stream: IO[str] | None, names: list[str]) -> None:
        self._stream = _Stream(stream)
        self.rows = dict.fromkeys(names, "waiting")
        self.width = max((len(n) for n in names), default=0)
        self.lock = threading.RLock()
        self.shown = 0

    def line(self, text: str) -> None:
        with self.lock:
            self._clear()
            self._stream.write(text + "\n")
            self._draw()

    def update(self, name: str, text: str) -> None:
        with self.lock:
            self.rows[name] = text
            self._clear()
            self._draw()

    def close(self) -> None:
        """Leave the rows as they last were, and print below them from now on."""
        with self.lock:
            self.shown = 0

    def _clear(self) -> None:
        if self.shown:  # to the start of the first row, then clear to the end of the screen
            self._stream.write(f"\x1b[{self.shown}F\x1b[J")
            self.shown = 0

    def _draw(self) -> None:
        for name, text in self.rows.items():
            self._stream.write(fit(f"{name.ljust(self.width)}  {text}") + "\n")
        self.shown = len(self.rows)


@dataclass
class ServiceReporter(Reporter):
    """One service's lines in a release: each prefixed with `[service]`, whole lines only
    (the services' threads share one lock). On a terminal its progress is its row of the
    release's StatusBoard, and its lines are printed above the board."""

    prefix: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    board: StatusBoard | None = None

    def _write_line(self, message: str) -> None:
        with self.lock:
            if self.board is not None:
                self.board.line(f"[{self.prefix}] {message}")
            else:
                super()._write_line(f"[{self.prefix}] {message}")

    def _show_status(self, line: str) -> None:
        if self.board is not None:
            self.board.update(self.prefix, line)

    def error(self, message: str) -> None:
        with self.lock:
            super().error(f"[{self.prefix}] {message}")

    def block(self, lines: list[str]) -> None:
        with self.lock:
            super().block([f"[{self.prefix}] {line}" for line in lines])


def release_dict(release: ReleaseResult) -> dict[str, Any]:
    """A release's summary: the overall verdict, every service's warnings (each prefixed
    with its service), and each service's own summary."""
    return {
        "cluster": release.cluster,
        "outcome": release.outcome.value,
        "reason": shown(release.reason),
        "exit_code": int(release.code),
        "duration_seconds": round(release.duration, 3),
        "describe_services_calls": release.describe_calls,
        "read_rounds": release.read_rounds,
        "warnings": _escaped_all(
            list(dict.fromkeys(f"{r.service}: {w}" for r in release.results for w in r.warnings))
        ),
        "services": [summary_dict(r) for r in release.results],
    }


def release_table(release: ReleaseResult) -> list[str]:
    """service, outcome, revision, duration, reason: a row each."""
    rows = [("service", "outcome", "revision", "duration", "reason")]
    for r in release.results:
        revision = short_name(r.new_task_definition or "") or "-"
        rows.append(
            (
                r.service or "-",
                r.outcome.value,
                revision,
                f"{r.duration:.1f}s",
                r.reason.splitlines()[0] if r.reason else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]


def describe_counts(counts: Mapping[str, int], new: str = "new", old: str = "old") -> str:
    """`new 1/2 running, 1 pending, 0 failed; old 1 running` from rollout_counts()."""
    return (
        f"{new} {counts.get('running', 0)}/{counts.get('desired', 0)} running, "
        f"{counts.get('pending', 0)} pending, {counts.get('failed', 0)} failed; "
        f"{old} {counts.get('old_running', 0)} running"
    )


def describe_traffic(sd: ServiceDeployment) -> str:
    """`traffic to green: test 100%, production 25%` (unknown where ECS gives no weight)."""
    parts = [
        f"{name} {'?' if weight is None else f'{weight:g}%'}" for name, weight in sd.traffic.items()
    ]
    return "traffic to green: " + ", ".join(parts)


def summary_dict(result: DeployResult) -> dict[str, Any]:
    """The end-of-deploy summary, for --output json and GitHub step outputs (`codedeploy`
    only for a CODE_DEPLOY service, so every other summary stays as it was)."""
    data = _summary_dict(result)
    if result.codedeploy is not None:
        data["codedeploy"] = result.codedeploy
    return data


def _summary_dict(result: DeployResult) -> dict[str, Any]:
    return {
        "cluster": result.cluster,
        "service": result.service,
        "old_task_definition": result.old_task_definition,
        "new_task_definition": result.new_task_definition,
        "deployment_id": result.deployment_id,
        "outcome": result.outcome.value,
        "reason": shown(result.reason),
        "exit_code": int(result.code),
        "duration_seconds": round(result.duration, 3),
        "counts": result.counts,
        "rollback": result.rollback.as_dict() if result.rollback else None,
        "deregistered": result.deregistered,
        "warnings": _escaped_all(result.warnings),
        "strategy": result.strategy,
        "service_deployment_arn": result.service_deployment_arn,
        "service_deployment_status": result.service_deployment_status,
        "lifecycle_stage": result.lifecycle_stage,
        "traffic": result.traffic,
        "paused_hook": result.paused_hook,
        "resume_command": result.resume_command,
        "diff": result.diff,
        "requests": result.requests,
        "diagnosis": _escaped_all([d.as_dict() for d in result.diagnosis]),
        "preflight": result.preflight,
        "task_exit_code": result.task_exit_code,
        "scheduled_tasks": [t.as_dict() for t in result.scheduled_tasks],
        "stopped_tasks_total": len(result.stopped_tasks),
        "stopped_tasks": _escaped_all(
            [
                {
                    "task_arn": t.arn,
                    "stopped_reason": t.stopped_reason,
                    "stop_code": t.stop_code,
                    "containers": [
                        {"name": c.name, "exit_code": c.exit_code, "reason": c.reason}
                        for c in t.containers
                    ],
                }
                for t in result.stopped_tasks[:MAX_STOPPED_TASKS_IN_SUMMARY]
            ]
        ),
    }


def write_github_output(data: Mapping[str, Any]) -> None:
    """When GITHUB_OUTPUT is set (GitHub Actions), append the summary as step outputs."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8", errors="replace") as fh:
        for key, value in redacted(data).items():
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            # one line per output: a newline would start a new key (or a heredoc)
            fh.write(f"{key}={' '.join(text.splitlines())}\n")
