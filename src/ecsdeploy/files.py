"""Reading the files an option names (--task-definition-file, --env-file) before any AWS
call: regular files only (a FIFO or a device is refused without blocking on it), at most
1 MiB, and a task definition checked against botocore's model and ECS's resource rules.
Every way a file can be wrong is one line and a usage code (3, or 20 for a task definition).
"""

from __future__ import annotations

import os
from typing import Any

from ecsdeploy.errors import EcsDeployError, TaskDefinitionFileError, UsageError


def read_task_definition_file(path: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Read, parse and check --task-definition-file against botocore's model: every way it
    can be wrong (unreadable, a directory, not UTF-8, not JSON, unknown fields, wrong types)
    is one line and exit 20, before any AWS call."""
    from ecsdeploy.changes import check_resources
    from ecsdeploy.ecs import check_request, ecs_model, request_fields
    from ecsdeploy.taskdef import load_task_definition_file, registration_request

    raw = read_regular_file(
        path, "--task-definition-file", MAX_TASK_DEFINITION_FILE_BYTES, TaskDefinitionFileError
    )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaskDefinitionFileError(
            f"--task-definition-file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    accepted = request_fields("RegisterTaskDefinition")
    known = {*accepted, *ecs_model().shape_for("TaskDefinition").members}
    taskdef, tags = load_task_definition_file(text, path, known_fields=known)
    check_request(
        "RegisterTaskDefinition",
        registration_request(taskdef, accepted, tags),
        TaskDefinitionFileError,
    )
    try:
        check_resources(taskdef)
    except UsageError as exc:
        raise TaskDefinitionFileError(f"--task-definition-file {path}: {exc.message}") from exc
    return taskdef, tags


#: Larger files are refused before they are read whole: an env file or a task definition
#: this size is a mistake (ECS takes at most 64 KiB of task definition).
MAX_ENV_FILE_BYTES = 1024 * 1024
MAX_TASK_DEFINITION_FILE_BYTES = 1024 * 1024


def read_regular_file(path: str, option: str, limit: int, error: type[EcsDeployError]) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. A FIFO, a device (/dev/zero) or
    a directory is refused without blocking or reading: opened non-blocking, checked with
    fstat, and read only up to the limit."""
    import stat

    def cannot(why: str) -> EcsDeployError:
        return error(f"Cannot read {option} {path}: {why}")

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise cannot(exc.strerror or str(exc)) from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise cannot("Is a directory")
        if not stat.S_ISREG(mode):
            raise cannot("not a regular file (a FIFO or a device); give a file's path")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise cannot(exc.strerror or str(exc)) from exc
    finally:
        os.close(fd)
    if len(raw) > limit:
        raise cannot(f"larger than {limit // 1024} KiB; is it the right file?")
    return raw
