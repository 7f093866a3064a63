"""What no output may show: one process-wide table of the run's secrets (the command line's
`NAME=VALUE` words, its credentials, every task definition's secret values), and the masking
every writer applies with it (output's lines, the JSON summary, the step outputs). Low in the
house so that the gateway registers a task definition's secrets as it reads one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ecsdeploy.changes import MASK, mask_url_passwords_in_text, secrets_within, shown_argument
from ecsdeploy.limits import MIN_MASKED_LENGTH


#: What no output shows, and what is shown instead: the `NAME=VALUE` words of the command line
#: and its ECS_DEPLOY_ variables (`NAME=***`), the run's credentials, the secret values of every
#: task definition the run has seen (MASK), each in every spelling output can take (as is,
#: JSON-escaped), longest first. No line, JSON summary or step output quotes one, whichever
#: message (ours, click's, AWS's, a container's) held it. Replaced whole, never changed in
#: place: a release's services register theirs from their own threads while others print.
class _Hidden:
    words: dict[str, str] = {}  # noqa: RUF012 (replaced whole, never changed in place)
    lock = threading.Lock()


_HIDDEN = _Hidden()


def _add_hidden(pairs: Iterable[tuple[str, str]], *, clear: bool = False) -> None:
    with _HIDDEN.lock:
        table = {} if clear else dict(_HIDDEN.words)
        for spelling, mask in pairs:
            table.setdefault(spelling, mask)
        # longest first: a value inside another is masked after it, never splitting it
        _HIDDEN.words = dict(sorted(table.items(), key=lambda item: -len(item[0])))


def hide(words: Iterable[str]) -> None:
    """Mask these `NAME=VALUE` words in everything written from now on, and nothing else
    hidden before (cli.main calls it once the arguments are known; they are the process's
    own)."""
    pairs = []
    for word in words:
        shown = shown_argument(word)
        for spelling, mask in ((word, shown), (json.dumps(word)[1:-1], json.dumps(shown)[1:-1])):
            if spelling != mask:
                pairs.append((spelling, mask))
    _add_hidden(pairs, clear=True)


def hide_values(values: Iterable[str]) -> None:
    """Also mask these values (as MASK) in everything written from now on: secrets the run
    holds that no argument shows as `NAME=VALUE` (the credentials it signs with; cli.run
    calls it once they are known). Added to `hide`'s table, which the next `hide` clears.
    Values shorter than MIN_MASKED_LENGTH are left out (masking `on` would garble every
    line and protect nothing)."""
    _add_hidden(
        (spelling, MASK)
        for value in values
        if len(value) >= MIN_MASKED_LENGTH
        # each line of a multi-line one too (a key in PEM form): a log driver sends one
        # event a line
        for spelling in (value, json.dumps(value)[1:-1], *_lines_of(value))
    )


def _lines_of(value: str) -> list[str]:
    """The lines of a multi-line value long enough to be masked on their own."""
    lines = [line.strip() for line in value.splitlines()]
    return [line for line in lines if len(lines) > 1 and len(line) >= MIN_MASKED_LENGTH]


def hide_url_passwords(passwords: Iterable[str]) -> None:
    """Also mask these URL passwords (an endpoint's `http://user:PASSWORD@host`) in everything
    written from now on: the URL's `:PASSWORD@` whatever its length, the value itself when it
    is long enough to mask anywhere (`hide_values`)."""
    passwords = list(passwords)
    _add_hidden(
        (spelling, f":{MASK}@")
        for password in passwords
        for spelling in (f":{password}@", json.dumps(f":{password}@")[1:-1])
    )
    hide_values(passwords)


def hide_secrets_in(definition: Any) -> None:
    """Mask, in everything written from now on, what a diff or a dry run's request masks of
    `definition` (a task definition, a registration request, RunTask's parameters with their
    overrides): the values of its secret-looking environment variables and Docker labels, in
    every container, and its URLs' passwords (`changes.secrets_within`). Called as soon as a
    task definition is known (ecs.py reads and writes every one), so a service event, a
    stopped task's reason, an AWS message or another container's log line that quotes one
    shows MASK."""
    values, passwords = secrets_within(definition)
    if values:
        hide_values(values)
    if passwords:
        hide_url_passwords(passwords)


def redact(text: str) -> str:
    """`text` with every hidden word masked, and any URL's password. Pure but for the
    table `hide` fills."""
    for word, mask in _HIDDEN.words.items():
        if word in text:
            text = text.replace(word, mask)
    if "://" in text:
        text = mask_url_passwords_in_text(text)
    return text


#: Summary fields a workflow tests or passes on (`outcome == 'succeeded'`, the new
#: revision's ARN): words of a fixed vocabulary and the names AWS gave the run's own
#: resources, never a secret's value. A secret that happens to equal one (`succeeded`, the
#: cluster's name) would otherwise turn it into `****` and send the workflow the wrong way.
VERBATIM_FIELDS = frozenset(
    {
        "outcome",
        "lifecycle_stage",
        "cluster",
        "service",
        "new_task_definition",
        "old_task_definition",
        "deployment_id",
        "service_deployment_arn",
    }
)


def redacted(data: Any) -> Any:
    """A copy of a summary (`summary_dict`, `release_dict`) with every string in it
    `redact`ed, keys left as they are: what --output json and the step outputs serialize,
    so that masking a value (which may be as short as `true`) cannot break the document.
    The VERBATIM_FIELDS are left as they are."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, Mapping):
        return {
            key: value if key in VERBATIM_FIELDS and isinstance(value, str) else redacted(value)
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redacted(value) for value in data]
    return data
