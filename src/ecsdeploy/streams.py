"""Following a one-off task's logs live: one more streamer over the watcher's task wait
(watch.wait_for_tasks calls it at every poll, on the same pace and clock), not a loop of its
own. Each awslogs container's stream is read forward from where the last read stopped
(GetLogEvents' forward token), page after page until the token stops moving, so no line is
shown twice or lost; each line is prefixed with its container's name, escaped and masked as a
failure's diagnosis is (diagnose.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecsdeploy.diagnose import log_place, secret_values, shown_lines
from ecsdeploy.errors import EcsDeployError, NotFoundError
from ecsdeploy.models import Task
from ecsdeploy.policy import Interrupted, RunPolicy

#: Pages read of one stream at one poll at most (a burst of output is shown at the next poll).
MAX_PAGES_PER_POLL = 20


class LogPages(Protocol):
    def page(self, group: str, stream: str, token: str | None) -> tuple[list[str], str | None]: ...


class PageReaders(Protocol):
    def logs(self, region: str, policy: RunPolicy) -> Any: ...

    @property
    def region(self) -> str: ...


@dataclass
class LogStreamer:
    """The live logs of one-off tasks, shown by `show(container, line)` as they come."""

    readers: PageReaders
    policy: RunPolicy
    containers: Sequence[Mapping[str, Any]]  # the task definition's container definitions
    show: Callable[[str, str], None]
    warn: Callable[[str], None] = lambda message: None
    #: Values masked in every line besides each container's own (the run's credentials).
    known_secrets: Sequence[str] = ()
    #: Masks what else the run knows no output may show (masking.redact), before the cut.
    mask: Callable[[str], str] | None = None
    tokens: dict[tuple[str, str], str | None] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # shown, per container
    _quiet: set[tuple[str, str]] = field(default_factory=set)  # streams that failed: said once

    def __call__(self, tasks: Sequence[Task]) -> int:
        """Show what every started container of `tasks` has logged since the last call;
        how many lines that was."""
        shown = 0
        for task in tasks:
            for spec in self.containers:
                place = log_place(spec, task.id, self.readers.region)
                if not (place.group and place.stream and place.region):
                    continue
                shown += self._follow(task, spec, place.group, place.stream, place.region)
        return shown

    def follows_any(self) -> bool:
        """Whether any container logs where it can be read (awslogs, a stream prefix)."""
        return any(
            log_place(spec, "-", self.readers.region).stream is not None for spec in self.containers
        )

    def _follow(
        self, task: Task, spec: Mapping[str, Any], group: str, stream: str, region: str
    ) -> int:
        key = (group, stream)
        if key in self._quiet:
            return 0
        token = self.tokens.get(key)
        reader = self.readers.logs(region, self.policy)
        secrets = secret_values(spec, self.known_secrets)
        name = str(spec.get("name", ""))
        shown = 0
        for _ in range(MAX_PAGES_PER_POLL):
            try:
                messages, forward = reader.page(group, stream, token)
            except Interrupted:
                raise
            except NotFoundError:
                return shown  # the container has not logged yet: its stream comes later
            except EcsDeployError as exc:
                self._quiet.add(key)
                self.warn(f"Logs of {name} not followed: {exc.message}")
                return shown
            for line in shown_lines(messages, secrets, self.mask):
                self.show(name, line)
            shown += len(messages)
            self.lines[name] = self.lines.get(name, 0) + len(messages)
            moved = forward is not None and forward != token
            token = forward if forward is not None else token
            self.tokens[key] = token
            if not moved or not messages:
                return shown
        return shown
