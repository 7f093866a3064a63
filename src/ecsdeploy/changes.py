"""Changes to a task definition beyond the image (--env, --secret, --command, --cpu, ...), and
what a change looks like to a reader: a field-by-field summary and a unified diff, with the
values of secret-looking environment variables masked. Pure: no AWS, no printing.

Each change is a small function from a task definition to a new one; `apply_changes`
composes them in one fixed order, so the same options always give the same revision:
environment files, then --env, then --unset-env; --secret, then --unset-secret; then the
container settings and the task-level ones. Every other field is kept exactly as it was.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ecsdeploy.errors import NoMatchingContainerError, UsageError

TaskDef = dict[str, Any]

#: Environment variable names whose values are masked in every diff, summary and log: any
#: name containing one of these words (case-insensitive). Secret ARNs (--secret) are shown:
#: they name a secret, they are not one.
SECRET_WORDS = (
    "PASSWORD",
    "PASSWD",
    "PWD",
    "SECRET",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "AUTH",
    "CERT",
    "SALT",
    "SIGNATURE",
    "DSN",
    "SESSION",
    "COOKIE",
)
_SECRET_NAME = re.compile("|".join(SECRET_WORDS), re.IGNORECASE)
MASK = "****"


def looks_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


#: `scheme://user:` before the password of credentials written into a URL (postgres, mysql,
#: redis, amqp, mongodb+srv, ...): the one shape every masking of a URL's password follows.
#: A scheme is at most 32 characters here, so that a long run of its characters with no
#: `://` costs each position 32 steps, not the rest of the line (a 250 KB log line took 40 s);
#: a longer one still has its password masked (the match starts 32 characters before `://`).
_URL_USER = r"[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s:/@]*:"
_URL_USER_AT = re.compile(_URL_USER)
_WORD = re.compile(r"\S+")
#: In free text (messages, log lines, a JSON summary with no spaces): the password stops at
#: the first `/` or `@`, so the text after it is never taken too.
_URL_PASSWORD_IN_TEXT = re.compile(rf"({_URL_USER})[^/\s@]+@")


def _credentials(value: str) -> list[tuple[int, int]]:
    """Where the URL passwords of a value (an environment variable, a label) are: in each
    word, from the first `scheme://user:` to the word's last `@`, so one holding an unescaped
    `@` or `/` is masked whole (more is masked, never less). Found word by word, not by one
    pattern running to each `@` (quadratic: a 48 KB value took 2 s)."""
    spans = []
    for word in _WORD.finditer(value):
        user = _URL_USER_AT.search(value, word.start(), word.end())
        at = value.rfind("@", word.start(), word.end())
        if user is not None and at >= user.end():
            spans.append((user.end(), at))
    return spans


def mask_url_passwords(value: str) -> str:
    """`value` with the password of each URL in it masked (`scheme://user:****@host`)."""
    out, last = [], 0
    for start, end in _credentials(value):
        out += [value[last:start], MASK]
        last = end
    return "".join(out) + value[last:]


def url_passwords(value: str) -> list[str]:
    """The passwords `mask_url_passwords` masks in `value`, in order."""
    return [value[start:end] for start, end in _credentials(value)]


def mask_url_passwords_in_text(text: str) -> str:
    """`text` (any message or line) with the password of each URL in it masked."""
    return _URL_PASSWORD_IN_TEXT.sub(rf"\g<1>{MASK}@", text)


def mask_value(name: str, value: Any) -> Any:
    """What may be shown of an environment value or Docker label: MASK for a secret-looking
    name; otherwise the value with any URL's password masked. Pure."""
    if looks_secret(name):
        return MASK
    if isinstance(value, str):
        return mask_url_passwords(value)
    return value


def shown_argument(text: str) -> str:
    """A command-line argument as a message may quote it: `NAME=VALUE` becomes `NAME=***`
    (the value may be a secret, and an argument in the wrong place is often one)."""
    name, sep, _ = text.partition("=")
    return f"{name}=***" if sep else text


@dataclass(frozen=True)
class Changes:
    """What the change options ask for; each container-level entry names its container."""

    env: tuple[tuple[str, str, str], ...] = ()  # (container, name, value), env files first
    unset_env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str, str], ...] = ()  # (container, name, valueFrom)
    unset_secrets: tuple[tuple[str, str], ...] = ()
    command: tuple[tuple[str, tuple[str, ...]], ...] = ()
    cpu: tuple[tuple[str, int], ...] = ()
    memory: tuple[tuple[str, int], ...] = ()
    memory_reservation: tuple[tuple[str, int], ...] = ()
    docker_labels: tuple[tuple[str, str, str], ...] = ()
    task_cpu: str | None = None
    task_memory: str | None = None
    task_role: str | None = None
    execution_role: str | None = None

    @property
    def given(self) -> bool:
        return any(getattr(self, f.name) not in ((), None) for f in fields(self))

    def containers(self) -> set[str]:
        """Every container a change names."""
        named: set[str] = set()
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                named.update(entry[0] for entry in value)
        return named


# -- parsing option values (cli.py calls these; each error is one line, exit 3) ---------------

_SSM_NAME = re.compile(r"/?[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:(ssm|secretsmanager):[a-z0-9-]+:[0-9]{12}:.+")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+")


def split_pair(value: str, option: str, what: str = "NAME=VALUE") -> tuple[str, str]:
    """`NAME=VALUE` -> (NAME, VALUE); the value may be empty and may hold `=`. Errors never
    quote the argument: it may be a secret."""
    name, sep, rest = value.partition("=")
    if not sep:
        raise UsageError(f"{option} takes CONTAINER {what}: the second argument has no '='")
    if not name.strip() or name != name.strip():
        raise UsageError(f"{option} takes CONTAINER {what}: the name before '=' is empty or padded")
    return name, rest


def check_value_from(value: str, option: str = "--secret") -> str:
    """An SSM parameter (name or ARN) or a Secrets Manager secret ARN, as ECS accepts."""
    if _SECRET_ARN.fullmatch(value) or (_SSM_NAME.fullmatch(value) and ":" not in value):
        return value
    raise UsageError(
        f"{option}: the value must be an SSM parameter name or ARN, or a Secrets Manager "
        "secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
    )


def check_role_arn(value: str, option: str) -> str:
    if _ROLE_ARN.fullmatch(value):
        return value
    raise UsageError(f"{option} must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")


def parse_command(value: str, option: str = "--command") -> tuple[str, ...]:
    """A JSON array of strings, or a command line split as a POSIX shell would."""
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{option}: not a JSON array ({exc.msg})") from exc
        if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
            raise UsageError(f"{option}: a JSON array of strings is expected")
        words = tuple(parsed)
    else:
        try:
            words = tuple(shlex.split(value))
        except ValueError as exc:
            raise UsageError(f"{option}: cannot split the command ({exc})") from exc
    if not words:
        raise UsageError(f"{option}: the command is empty")
    return words


def parse_env_file(text: str, source: str) -> list[tuple[str, str]]:
    """dotenv syntax: `NAME=VALUE` lines, blank lines and `#` comments, an optional
    `export `, values in single quotes (literal) or double quotes (with \\n, \\t, \\" and
    \\\\ escapes), and ` #` comments after unquoted values. Anything else is an error that
    names the line (never its value)."""
    pairs = []
    # Lines end at \n (or \r\n) only: str.splitlines() would also cut at U+2028, U+0085,
    # \v, \f and more, splitting one variable's value into a second "variable".
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip(_BLANK)
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, rest = line.partition("=")
        name = name.strip(_BLANK)
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
            raise UsageError(f"{source}, line {number}: expected NAME=VALUE")
        pairs.append((name, _dotenv_value(rest.strip(_BLANK), source, number)))
    return pairs


#: What a dotenv line may be padded with (not the Unicode separators str.strip() removes).
_BLANK = " \t"


def _dotenv_value(text: str, source: str, number: int) -> str:
    if text[:1] in ("'", '"'):
        quote = text[0]
        end = _closing_quote(text, quote)
        if end < 0:
            raise UsageError(f"{source}, line {number}: the {quote} quote is not closed")
        trailing = text[end + 1 :].strip()
        if trailing and not trailing.startswith("#"):
            raise UsageError(f"{source}, line {number}: text after the closing quote")
        body = text[1:end]
        if quote == "'":
            return body
        escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
        return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), body)
    comment = _COMMENT.search(text)  # one scan: `\s+#` backtracks over every blank run
    return (text[: comment.start()] if comment else text).rstrip(_BLANK)


_COMMENT = re.compile(r"[ \t]#")


def _closing_quote(text: str, quote: str) -> int:
    i = 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


# -- applying them -------------------------------------------------------------------------


def apply_changes(taskdef: Mapping[str, Any], changes: Changes) -> TaskDef:
    """A new task definition with `changes` applied; `taskdef` is not modified.

    Raises NoMatchingContainerError (naming the containers there are) when a change names a
    container the definition does not have, and UsageError when the result would be refused
    for its launch type (FARGATE's CPU/memory pairs, a reservation above the limit)."""
    new: TaskDef = copy.deepcopy(dict(taskdef))
    containers = {c.get("name"): c for c in new.get("containerDefinitions", [])}
    missing = sorted(changes.containers() - set(containers))
    if missing:
        hint = ""
        if any("=" in name for name in missing):
            hint = " (a change option takes the container first: --env CONTAINER NAME=VALUE)"
        raise NoMatchingContainerError(
            f"No container named {', '.join(shown_argument(n) for n in missing)} in the task "
            f"definition (it has: {', '.join(str(n) for n in containers)}){hint}; nothing was "
            "registered"
        )
    _set_all(containers, "environment", "value", changes.env)
    for name, key in changes.unset_env:
        _unset_named(containers[name], "environment", key)
    _set_all(containers, "secrets", "valueFrom", changes.secrets)
    for name, key in changes.unset_secrets:
        _unset_named(containers[name], "secrets", key)
    for name, words in changes.command:
        containers[name]["command"] = list(words)
    for field, entries in (
        ("cpu", changes.cpu),
        ("memory", changes.memory),
        ("memoryReservation", changes.memory_reservation),
    ):
        for name, number in entries:
            containers[name][field] = number
    for name, key, value in changes.docker_labels:
        labels = dict(containers[name].get("dockerLabels") or {})
        labels[key] = value
        containers[name]["dockerLabels"] = labels
    for field, text in (
        ("cpu", changes.task_cpu),
        ("memory", changes.task_memory),
        ("taskRoleArn", changes.task_role),
        ("executionRoleArn", changes.execution_role),
    ):
        if text is not None:
            new[field] = text
    check_resources(new)
    return new


def _set_all(
    containers: Mapping[Any, dict[str, Any]],
    field: str,
    key: str,
    entries: Iterable[tuple[str, str, str]],
) -> None:
    """Set (container, name, value) entries in each container's `field` list: an existing
    name keeps its place, a new one is appended. One pass, whatever the number of entries
    (an env file of 100,000 lines must not cost 100,000 list copies)."""
    by_container: dict[str, list[tuple[str, str]]] = {}
    for container, name, value in entries:
        by_container.setdefault(container, []).append((name, value))
    for container, pairs in by_container.items():
        current = [dict(e) for e in containers[container].get(field) or []]
        index = {e.get("name"): i for i, e in enumerate(current)}
        for name, value in pairs:
            if name in index:
                current[index[name]][key] = value
            else:
                index[name] = len(current)
                current.append({"name": name, key: value})
        containers[container][field] = current


def _unset_named(container: dict[str, Any], field: str, name: str) -> None:
    if field in container:
        container[field] = [e for e in container[field] or [] if e.get("name") != name]


# -- resources: what ECS would refuse, refused here first -------------------------------------

#: FARGATE's task CPU units -> the task memory values (MiB) allowed with them.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}


#: ECS's task cpu and memory are 32-bit integers at most.
_MAX_AMOUNT = 2**31 - 1


def cpu_units(text: str) -> int | None:
    """`1024`, `1 vCPU`, `0.25 vcpu` -> CPU units; None if it is neither, or not a whole
    number of units (`256.4`), or too large to be one."""
    return _amount(text, "vcpu")


def memory_mib(text: str) -> int | None:
    """`2048`, `2 GB`, `0.5GB` -> MiB; None if it is neither, or not a whole number of MiB,
    or too large to be one."""
    return _amount(text, "gb")


def _amount(text: Any, unit: str) -> int | None:
    """A whole number, or a number of `unit`s (x 1024) that is a whole number: exact decimal
    arithmetic, so 400 nines is "too large", not an OverflowError."""
    from decimal import Decimal

    match = re.fullmatch(rf"\s*([0-9]*\.?[0-9]+)\s*({unit})?\s*", str(text), re.IGNORECASE)
    if not match or len(match.group(1)) > 40:  # 40 digits is far past any real amount
        return None
    number = Decimal(match.group(1)) * (1024 if match.group(2) else 1)
    if number != number.to_integral_value() or number > _MAX_AMOUNT:
        return None
    return int(number)


def check_resources(taskdef: Mapping[str, Any]) -> None:
    """Refuse a task definition that ECS would refuse for its CPU and memory."""
    for container in taskdef.get("containerDefinitions", []):
        limit, reserved = container.get("memory"), container.get("memoryReservation")
        if limit is not None and reserved is not None and reserved > limit:
            raise UsageError(
                f"Container {container.get('name')}: memoryReservation {reserved} MiB is above "
                f"its memory limit {limit} MiB; lower --memory-reservation or raise --memory"
            )
    cpu_text, memory_text = taskdef.get("cpu"), taskdef.get("memory")
    if cpu_text is not None and cpu_units(cpu_text) is None:
        raise UsageError(
            f"Task cpu {_cut(cpu_text)} is not a whole number of CPU units (e.g. 1024) or vCPU "
            "(1 vCPU)"
        )
    if memory_text is not None and memory_mib(memory_text) is None:
        raise UsageError(
            f"Task memory {_cut(memory_text)} is not a whole number of MiB (e.g. 2048) or GB (2 GB)"
        )
    if "FARGATE" not in (taskdef.get("requiresCompatibilities") or []):
        return
    cpu = cpu_units(cpu_text) if cpu_text is not None else None
    memory = memory_mib(memory_text) if memory_text is not None else None
    if cpu is None or memory is None:
        raise UsageError(
            "A FARGATE task definition needs both task cpu and task memory; pass --task-cpu "
            "and --task-memory"
        )
    if cpu not in FARGATE_MEMORY:
        raise UsageError(
            f"FARGATE does not offer task cpu {cpu}; valid values: "
            f"{', '.join(str(c) for c in FARGATE_MEMORY)}"
        )
    if memory not in FARGATE_MEMORY[cpu]:
        allowed = FARGATE_MEMORY[cpu]
        raise UsageError(
            f"FARGATE does not offer task memory {memory} MiB with cpu {cpu}; valid values: "
            f"{_ranges(allowed)} MiB"
        )
    for container in taskdef.get("containerDefinitions", []):
        for field, total in (("memory", memory), ("cpu", cpu)):
            value = container.get(field)
            if value is not None and value > total:
                raise UsageError(
                    f"Container {container.get('name')}: {field} {value} is above the task's "
                    f"{total}; lower it or raise --task-{field}"
                )


def _cut(value: Any, width: int = 24) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _ranges(values: Sequence[int]) -> str:
    if len(values) <= 3:
        return ", ".join(str(v) for v in values)
    step = values[1] - values[0]
    return f"{values[0]} to {values[-1]} in steps of {step}"


# -- what changed, for people ------------------------------------------------------------------


def masked(request: Mapping[str, Any]) -> TaskDef:
    """A copy of a request (RegisterTaskDefinition's, RunTask's, ...) with every environment
    value and Docker label masked as `mask_value` says, wherever it is: a container
    definition's, or a one-run override's (RunTask's `containerOverrides`)."""
    copy_: TaskDef = copy.deepcopy(dict(request))
    _mask_within(copy_)
    return copy_


def _mask_within(value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _mask_within(item)
        return
    if not isinstance(value, dict):
        return
    for key, inner in value.items():
        if key == "environment" and isinstance(inner, list):
            for entry in inner:
                if isinstance(entry, dict) and "value" in entry:
                    entry["value"] = mask_value(str(entry.get("name", "")), entry["value"])
        elif key == "dockerLabels" and isinstance(inner, dict):
            value[key] = {k: mask_value(str(k), v) for k, v in inner.items()}
        else:
            _mask_within(inner)


def secrets_within(value: Any) -> tuple[list[str], list[str]]:
    """What `masked` hides, as values to mask anywhere else (a log line, a service event, an
    AWS message): the values of secret-looking environment variables and Docker labels, and
    the URL passwords of the others (`url_passwords`), wherever they are in `value` (a task
    definition, every container of it, a registration request, RunTask's overrides). Pure."""
    values: list[str] = []
    passwords: list[str] = []

    def take(name: Any, inner: Any) -> None:
        if not isinstance(inner, str) or not inner:
            return
        if looks_secret(str(name)):
            values.append(inner)
        else:
            passwords.extend(url_passwords(inner))

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, inner in node.items():
                if key == "environment" and isinstance(inner, list):
                    for entry in inner:
                        if isinstance(entry, dict):
                            take(entry.get("name", ""), entry.get("value"))
                elif key == "dockerLabels" and isinstance(inner, dict):
                    for name, label in inner.items():
                        take(name, label)
                else:
                    walk(inner)

    walk(value)
    return values, passwords


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two task definitions (registration requests), a line per field,
    per container; secret-looking environment values masked."""
    lines = []
    for key in sorted(set(old) | set(new)):
        if key in ("containerDefinitions", "tags") or old.get(key) == new.get(key):
            continue
        lines.append(f"task {key}: {_brief(old.get(key))} -> {_brief(new.get(key))}")
    before = {c.get("name"): c for c in old.get("containerDefinitions", [])}
    after = {c.get("name"): c for c in new.get("containerDefinitions", [])}
    for name in [*before, *(n for n in after if n not in before)]:
        if name not in after:
            lines.append(f"container {name}: removed")
            continue
        if name not in before:
            lines.append(f"container {name}: added ({_brief(after[name].get('image'))})")
            continue
        lines.extend(
            f"container {name}: {line}" for line in _container_changes(before[name], after[name])
        )
    return lines


def _container_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key in ("environment", "secrets"):
            value_key = "value" if key == "environment" else "valueFrom"
            lines.extend(
                f"{key} {line}" for line in _named_changes(a or [], b or [], value_key, key)
            )
        elif key == "dockerLabels":
            lines.extend(
                f"dockerLabels {line}"
                for line in _dict_changes(dict(a or {}), dict(b or {}), secret=True)
            )
        else:
            lines.append(f"{key}: {_brief(a)} -> {_brief(b)}")
    return lines


def _named_changes(
    old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]], key: str, field: str
) -> list[str]:
    a = {str(e.get("name")): e.get(key) for e in old}
    b = {str(e.get("name")): e.get(key) for e in new}
    return _dict_changes(a, b, secret=field == "environment")


def _dict_changes(a: Mapping[str, Any], b: Mapping[str, Any], *, secret: bool) -> list[str]:
    def show(name: str, value: Any) -> str:
        return _brief(mask_value(name, value)) if secret else _brief(value)

    lines = []
    for name in sorted(set(a) | set(b)):
        if name not in b:
            lines.append(f"{name}: removed")
        elif name not in a:
            lines.append(f"{name}: added = {show(name, b[name])}")
        elif a[name] != b[name]:
            lines.append(f"{name}: {show(name, a[name])} -> {show(name, b[name])}")
    return lines


def _brief(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def unified_diff(
    old: Mapping[str, Any], new: Mapping[str, Any], old_label: str, new_label: str
) -> list[str]:
    """The unified diff of two task definitions as sorted, indented JSON (masked)."""
    a = json.dumps(masked(old), indent=2, sort_keys=True, default=str).splitlines()
    b = json.dumps(masked(new), indent=2, sort_keys=True, default=str).splitlines()
    return list(difflib.unified_diff(a, b, old_label, new_label, lineterm=""))
