"""Property-based tests: whatever the input, the parsers end quickly and either return a
value or raise our own error (an exit code and one line), never anything else.

Each example runs under a real timer (`bounded`): hypothesis' own deadline only measures an
example after it returns, so it cannot catch a parser that loops forever."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import string
import tempfile
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecsdeploy.errors import ImageError, TaskDefinitionFileError, UsageError
from ecsdeploy.files import read_task_definition_file
from ecsdeploy.image import ImageRef, parse_image
from ecsdeploy.netconfig import parse_network_configuration

EXAMPLE_SECONDS = 2.0
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def bounded(seconds: float = EXAMPLE_SECONDS) -> Iterator[None]:
    """Fail the example if the block runs longer than `seconds` (an endless loop included)."""

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- images ------------------------------------------------------------------------------

IMAGE_ALPHABET = string.ascii_letters + string.digits + "._-/:@ "


@SETTINGS
@given(st.text(alphabet=IMAGE_ALPHABET, max_size=80) | st.text(max_size=40))
def test_parse_image_returns_a_reference_or_our_error(text: str) -> None:
    with bounded():
        try:
            ref = parse_image(text)
        except ImageError:
            return
    assert isinstance(ref, ImageRef)
    assert parse_image(str(ref)) == ref  # what it prints, it reads back


# No dots: by Docker's rule a first component with a dot (or a colon) is a registry host.
COMPONENT = st.from_regex(r"[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+){0,2}", fullmatch=True)
TAG = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@SETTINGS
@given(
    registry=st.none() | st.sampled_from(["reg.example.com", "localhost:5000", "1.2.3.4:443"]),
    path=st.lists(COMPONENT, min_size=1, max_size=3),
    tag=TAG,
)
def test_valid_images_round_trip(registry: str | None, path: list[str], tag: str) -> None:
    text = "/".join([*([registry] if registry else []), *path]) + f":{tag}"
    with bounded():
        ref = parse_image(text)
    assert (ref.registry, ref.path, ref.tag) == (registry, "/".join(path), tag)
    assert str(ref) == text


# -- --network-configuration ---------------------------------------------------------------

SHORTHAND_ALPHABET = "{}[]=, awsvpcConfiguration subnets securityGroups sg-1 ENABLED \"'"


@SETTINGS
@given(
    st.text(alphabet=SHORTHAND_ALPHABET, max_size=120)
    | st.text(max_size=60)
    | st.just("awsvpcConfiguration={subnets=[subnet-1}")  # the input that looped forever
)
def test_network_configuration_parses_or_refuses_never_hangs(text: str) -> None:
    value: Any = None
    error: UsageError | None = None
    with bounded():
        try:
            value = parse_network_configuration(text)
        except UsageError as exc:
            error = exc
    if error is not None:
        assert error.code == 3
    else:
        assert isinstance(value, dict)
        assert "awsvpcConfiguration" in value


WORD = st.from_regex(r"[a-zA-Z0-9-]{1,12}", fullmatch=True)


@SETTINGS
@given(
    subnets=st.lists(WORD, min_size=1, max_size=4),
    groups=st.lists(WORD, max_size=3),
    public=st.sampled_from(["ENABLED", "DISABLED"]),
)
def test_shorthand_and_json_mean_the_same(subnets: list[str], groups: list[str], public: str):
    config: dict[str, Any] = {"subnets": subnets, "assignPublicIp": public}
    if groups:
        config["securityGroups"] = groups
    parts = [f"subnets=[{','.join(subnets)}]", f"assignPublicIp={public}"]
    if groups:
        parts.append(f"securityGroups=[{','.join(groups)}]")
    shorthand = "awsvpcConfiguration={" + ",".join(parts) + "}"
    with bounded():
        from_shorthand = parse_network_configuration(shorthand)
        from_json = parse_network_configuration(json.dumps({"awsvpcConfiguration": config}))
    assert from_shorthand == from_json == {"awsvpcConfiguration": config}


# -- --task-definition-file ----------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["family", "containerDefinitions", "cpu", "memory", "taskDefinition", "tags", "bogus"]
)
TASKDEF_LIKE = st.dictionaries(FIELDS, JSON_VALUES, max_size=5)
CONTAINER = st.fixed_dictionaries(
    {"name": st.text(max_size=5), "image": st.text(max_size=10)},
    optional={"memory": JSON_VALUES, "environment": JSON_VALUES, "essential": JSON_VALUES},
)


def _read(data: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        fh.write(data)
    error: TaskDefinitionFileError | None = None
    try:
        with bounded():
            taskdef, tags = read_task_definition_file(fh.name)
    except TaskDefinitionFileError as exc:
        error = exc
    finally:
        os.unlink(fh.name)
    if error is not None:
        assert error.code == 20
        assert "\n" not in error.message  # one line
    else:
        assert isinstance(taskdef, dict)
        assert isinstance(tags, list)


@SETTINGS
@given(st.binary(max_size=200))
def test_task_definition_file_of_any_bytes(data: bytes) -> None:
    _read(data)


@SETTINGS
@given(
    TASKDEF_LIKE
    | st.builds(
        lambda family, containers, extra: {
            "family": family,
            "containerDefinitions": containers,
            **extra,
        },
        st.text(max_size=8),
        st.lists(CONTAINER, min_size=1, max_size=2),
        TASKDEF_LIKE,
    )
    | st.builds(lambda inner: {"taskDefinition": inner}, TASKDEF_LIKE)
)
def test_task_definition_file_of_any_json(document: dict[str, Any]) -> None:
    _read(json.dumps(document).encode())
