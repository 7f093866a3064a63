"""`--network-configuration`: JSON, or the AWS CLI shorthand the bash tool passes through to
`aws ecs run-task`. Parsed once into the request's dict, and checked against botocore's model
of it. Pure: text in, a value or a UsageError out, in time linear in the input."""

from __future__ import annotations

import json
from typing import Any

from ecsdeploy.errors import UsageError


def parse_network_configuration(text: str) -> dict[str, Any]:
    """JSON, or the AWS CLI shorthand the original passes through, e.g.
    `awsvpcConfiguration={subnets=[subnet-1,subnet-2],securityGroups=[sg-1],assignPublicIp=ENABLED}`.
    Raises UsageError for anything else, in time linear in the input."""
    text = text.strip()
    try:
        value = json.loads(text) if text.startswith("{") else _Shorthand(text).document()
    except (ValueError, RecursionError) as exc:
        raise UsageError(
            f"--network-configuration is neither JSON nor AWS CLI shorthand ({exc}); e.g. "
            "awsvpcConfiguration={subnets=[subnet-1],securityGroups=[sg-1]}"
        ) from exc
    if not isinstance(value, dict) or "awsvpcConfiguration" not in value:
        raise UsageError("--network-configuration needs an awsvpcConfiguration")
    from ecsdeploy.ecs import request_problems

    problems = request_problems("RunTask", value, shape="NetworkConfiguration")
    if problems:
        raise UsageError(f"--network-configuration is invalid: {'; '.join(problems[:3])}")
    return value


class _Shorthand:
    """A recursive-descent parser of the AWS CLI shorthand subset ECS users write:
    `key=value,...` where a value is `{...}`, `[...]` or a bare word. Every step consumes
    input or fails, so it always ends."""

    MAX_DEPTH = 32
    DELIMITERS = "=,{}[]"

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def document(self) -> dict[str, Any]:
        value = self._pairs(depth=0, closing=None)
        if self.i != len(self.text):
            raise ValueError(f"unexpected {self.text[self.i]!r} at character {self.i + 1}")
        return value

    def _peek(self) -> str | None:
        return self.text[self.i] if self.i < len(self.text) else None

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            found = repr(self._peek()) if self._peek() is not None else "the end"
            raise ValueError(f"expected {char!r} at character {self.i + 1}, found {found}")
        self.i += 1

    def _pairs(self, depth: int, closing: str | None) -> dict[str, Any]:
        if depth > self.MAX_DEPTH:
            raise ValueError("nested too deeply")
        out: dict[str, Any] = {}
        while True:
            key = self._word("a key")
            self._expect("=")
            out[key] = self._value(depth)
            if self._peek() != ",":
                break
            self.i += 1
        if closing is not None:
            self._expect(closing)
        return out

    def _value(self, depth: int) -> Any:
        char = self._peek()
        if char == "{":
            self.i += 1
            return self._pairs(depth + 1, "}")
        if char == "[":
            self.i += 1
            items: list[Any] = []
            if self._peek() == "]":
                self.i += 1
                return items
            while True:
                items.append(self._value(depth + 1))
                if self._peek() != ",":
                    break
                self.i += 1
            self._expect("]")
            return items
        return self._word("a value")

    def _word(self, what: str) -> str:
        """A bare key or value: everything up to the next delimiter, trimmed, not empty."""
        start = self.i
        while self._peek() not in (None, *self.DELIMITERS):
            self.i += 1
        word = self.text[start : self.i].strip()
        if not word:
            raise ValueError(f"{what} is missing at character {start + 1}")
        return word
