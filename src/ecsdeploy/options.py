"""The click parameter types and option factories the command is declared with: finite
numbers, ECS's tenth-of-a-percent steps, CONTAINER VALUE pairs (from the command line or,
whole pairs only, from their ECS_DEPLOY_ variables)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click


class FiniteFloat(click.FloatRange):
    """A float in range that is a real number: `nan` passes every comparison, and `inf`
    would wait forever."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if _is_non_finite(value):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(value, param, ctx)


class Seconds(FiniteFloat):
    """A number of seconds: `-t 5m` says so, rather than "not a valid float"."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                self.fail(
                    f"{value!r} is not a number of seconds (e.g. 300 for five minutes)", param, ctx
                )
        return super().convert(value, param, ctx)


class TenthPercent(FiniteFloat):
    """A percentage in ECS's range that is a multiple of 0.1 (canaryPercent, stepPercent)."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__(min=low, max=high)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isclose(number * 10, round(number * 10), abs_tol=1e-6):
            self.fail(f"{value!r} is not a multiple of 0.1", param, ctx)
        return round(number, 1)


def _is_non_finite(value: Any) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


_F = TypeVar("_F", bound=Callable[..., Any])


class PairedOption(click.Option):
    """A repeatable CONTAINER VALUE option: from its ECS_DEPLOY_ variable, the words must
    make whole pairs (click would drop a dangling word, deploying `GREETING=hello` for
    `web GREETING=hello world`)."""

    def value_from_envvar(self, ctx: click.Context) -> Any:
        raw = self.resolve_envvar_value(ctx)
        if raw is not None:
            words = self.type.split_envvar_value(raw)
            if len(words) % self.nargs:
                raise click.BadParameter(
                    f"{self.envvar} holds {len(words)} words, which do not make whole "
                    "CONTAINER VALUE pairs (a value cannot hold a space there: give it on the "
                    "command line, or in an --env-file)",
                    ctx=ctx,
                    param=self,
                )
        return super().value_from_envvar(ctx)


def container_option(
    flag: str,
    metavar: str,
    text: str,
    value_type: Any = None,
    *,
    name: str | None = None,
) -> Callable[[_F], _F]:
    """A repeatable change option that names its container: `FLAG CONTAINER VALUE`."""
    return click.option(
        flag,
        *([name] if name else []),
        cls=PairedOption,
        nargs=2,
        multiple=True,
        type=(str, value_type or str),
        metavar=f"CONTAINER {metavar}",
        help=f"{text} Repeatable.",
    )
