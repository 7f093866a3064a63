"""Task-definition rewriting: pure functions that return new dicts and never mutate input."""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from ecsdeploy.errors import ImageError, NoMatchingContainerError, TaskDefinitionFileError
from ecsdeploy.image import ImageRef, parse_image

TaskDef = dict[str, Any]


def registration_request(
    taskdef: Mapping[str, Any],
    accepted_fields: Iterable[str],
    tags: Sequence[Mapping[str, str]] = (),
) -> TaskDef:
    """The RegisterTaskDefinition arguments that recreate `taskdef`.

    `accepted_fields` is the request shape's member list (from botocore's service model), so
    every field the API accepts is carried over and only read-only ones (status, revision,
    ARN, requiresAttributes, compatibilities, registeredAt/By, ...) are dropped.
    """
    accepted = set(accepted_fields)
    request = {k: copy.deepcopy(v) for k, v in taskdef.items() if k in accepted and v is not None}
    request.pop("tags", None)
    if tags:
        request["tags"] = [dict(tag) for tag in tags]
    return request


def swap_image(
    containers: Sequence[Mapping[str, Any]],
    image: ImageRef,
    names: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Put `image` on the containers whose repository equals the image's, or on the named ones.

    Raises NoMatchingContainerError, listing every container and its image, when nothing
    would change: registering an identical revision would deploy nothing.
    """
    new = [copy.deepcopy(dict(c)) for c in containers]
    if names:
        missing = sorted(set(names) - {c.get("name") for c in new})
        if missing:
            raise NoMatchingContainerError(
                f"No container named {', '.join(missing)} in the task definition "
                f"(it has: {describe_containers(containers)}); check --container"
            )
        targets = [c for c in new if c.get("name") in names]
    else:
        targets = [c for c in new if _same_repository(c.get("image", ""), image)]
        if not targets:
            raise NoMatchingContainerError(
                f"No container's image repository matches {image.repository} "
                f"(containers: {describe_containers(containers)}); nothing was registered. "
                "Use --container NAME to replace the image of a named container"
            )
    for container in targets:
        container["image"] = str(image)
    return new


def retag_all(containers: Sequence[Mapping[str, Any]], tag: str) -> list[dict[str, Any]]:
    """Put `tag` on every container's image, replacing only the tag (or digest)."""
    new = [copy.deepcopy(dict(c)) for c in containers]
    for container in new:
        container["image"] = str(parse_image(container["image"]).with_tag(tag))
    return new


def masked_by(
    containers: Sequence[Mapping[str, Any]], overrides: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The container definitions a RunTask with these `overrides` runs, as its log lines are
    masked by: each container's environment is its own AND its override's (a value the
    override replaces is still a value its image or a script may print), and the override's
    command instead of the container's."""
    by_name = {o.get("name"): o for o in (overrides or {}).get("containerOverrides") or []}
    ran = []
    for container in containers:
        new = copy.deepcopy(dict(container))
        override = by_name.get(new.get("name")) or {}
        if override.get("environment"):
            own = list(new.get("environment") or [])
            new["environment"] = own + copy.deepcopy(list(override["environment"]))
        if "command" in override:
            new["command"] = list(override["command"])
        ran.append(new)
    return ran


def describe_containers(containers: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{c.get('name')}={c.get('image')}" for c in containers)


#: How deep a file's JSON may nest: a task definition or an AppSpec is a few levels deep; a
#: file nested deeper is a mistake (or an attack on the parser's recursion).
MAX_NESTING = 64

_SCALARS = (str, int, float, bool, type(None))


def json_problem(data: Any, max_depth: int = MAX_NESTING) -> str | None:
    """What makes `data` something other than plain JSON of bounded depth (a key that is not
    a string, a date, a set, NaN, nesting deeper than `max_depth`), or None. Iterative, so a
    deep value cannot exhaust the stack."""
    import math

    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list) and depth > max_depth:
            return f"nests deeper than {max_depth} levels"
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"has a key that is not a string ({key!r}); quote it"
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, float) and not math.isfinite(value):
            return f"has a number JSON cannot carry ({value!r})"
        elif not isinstance(value, _SCALARS):
            shown = str(value)[:40]
            return (
                f"has a {type(value).__name__} value ({shown}) that JSON cannot carry; "
                "quote it as a string"
            )
    return None


#: Around the definition in `aws ecs describe-task-definition` output.
_WRAPPER_FIELDS = {"taskDefinition", "tags", "ResponseMetadata"}


def load_task_definition_file(
    text: str, source: str, known_fields: Collection[str] | None = None
) -> tuple[TaskDef, list[dict[str, str]]]:
    """Parse a task-definition file: `describe-task-definition` output or a bare definition.

    `known_fields`: the task definition's field names (request and read-only ones); any other
    top-level field is refused, since RegisterTaskDefinition would drop it silently.
    Returns the definition and its tags (empty when the file has none).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskDefinitionFileError(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}); "
            "give describe-task-definition output or a bare task definition"
        ) from exc
    except RecursionError:
        raise TaskDefinitionFileError(f"{source} nests deeper than {MAX_NESTING} levels") from None
    except ValueError as exc:  # a number of more than 4,300 digits
        raise TaskDefinitionFileError(f"{source}: {str(exc).splitlines()[0]}") from None
    problem = json_problem(data)
    if problem:
        raise TaskDefinitionFileError(f"{source} {problem}")
    if not isinstance(data, dict):
        raise TaskDefinitionFileError(
            f"{source} must hold a JSON object, not {type(data).__name__}"
        )
    tags = data.get("tags") or []
    wrapped = "taskDefinition" in data
    taskdef = data.get("taskDefinition", data)
    if not isinstance(taskdef, dict) or not isinstance(taskdef.get("family"), str):
        raise TaskDefinitionFileError(f"{source} has no task definition: 'family' is missing")
    if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
        raise TaskDefinitionFileError(f"{source}: 'tags' must be a list of key/value objects")
    if known_fields is not None:
        allowed = set(known_fields) | (set() if wrapped else _WRAPPER_FIELDS - {"taskDefinition"})
        unknown = sorted(set(taskdef) - allowed)
        if wrapped:
            unknown += sorted(set(data) - _WRAPPER_FIELDS)
        if unknown:
            raise TaskDefinitionFileError(
                f"{source}: unknown field(s) {', '.join(map(repr, unknown[:5]))}; "
                "check the spelling against RegisterTaskDefinition's parameters"
            )
    containers = taskdef.get("containerDefinitions")
    if not isinstance(containers, list) or not containers:
        raise TaskDefinitionFileError(
            f"{source} has no task definition: 'containerDefinitions' is empty"
        )
    if not all(isinstance(c, dict) and isinstance(c.get("image"), str) for c in containers):
        raise TaskDefinitionFileError(f"{source}: every container definition needs an 'image'")
    return taskdef, list(tags)


def _same_repository(image_text: str, image: ImageRef) -> bool:
    try:
        current = parse_image(image_text)
    except ImageError:
        return False
    return current.canonical_repository == image.canonical_repository
