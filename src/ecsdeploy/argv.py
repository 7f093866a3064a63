"""What the raw arguments say before click parses them: empty arguments dropped (as the bash
ecs-deploy skips them), how to report a parse error (JSON, quiet, verbose: from the arguments
or their ECS_DEPLOY_ variables), which single-value options were given twice, and every
`NAME=VALUE` word no output may quote. Pure but for reading the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import click

from ecsdeploy.levels import Level

ENVVAR_PREFIX = "ECS_DEPLOY"


@dataclass
class ArgScan:
    """What can be read off the raw arguments before click parses them: how to report a
    parse error, and which single-value options were given more than once."""

    json_output: bool = False
    level: Level = Level.NORMAL
    repeated: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Word:
    """One step of the arguments: an option with the words it takes, or a lone argument."""

    text: str
    option: click.Option | None = None
    values: tuple[str, ...] = ()
    inline: str | None = None  # `--opt=value`

    @property
    def value(self) -> str | None:
        return self.inline if self.inline is not None else (self.values or (None,))[0]


def _walk(params: Sequence[click.Parameter], args: Sequence[str]) -> Iterator[_Word]:
    """The arguments as click will read them: `--opt value`, `--opt=value`, flags, lone
    arguments; `--` ends the options."""
    by_name = {n: p for p in params if isinstance(p, click.Option) for n in p.opts}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            yield from (_Word(rest) for rest in args[i - 1 :])
            return
        name, sep, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        option = by_name.get(name)
        if option is None:
            yield _Word(arg)
        elif sep:
            yield _Word(arg, option, inline=inline)
        elif option.is_flag:
            yield _Word(arg, option)
        else:
            count = max(1, option.nargs)
            yield _Word(arg, option, tuple(args[i : i + count]))
            i += count


def drop_empty_arguments(params: Sequence[click.Parameter], args: Sequence[str]) -> list[str]:
    """Every empty argument that stands where an option would, dropped, as the bash
    ecs-deploy skips them (its GitHub Action passes one for each input left unset); an empty
    option value (`-to ''`) stays the option's value."""
    kept: list[str] = []
    for word in _walk(params, args):
        if word.option is not None or word.text != "":
            kept.extend((word.text, *word.values))
    return kept


def _env_flag(name: str) -> bool:
    return click.types.BoolParamType.str_to_bool(os.environ.get(name, "")) is True


def scan_args(params: Sequence[click.Parameter], args: Sequence[str]) -> ArgScan:
    """What the raw arguments (and the ECS_DEPLOY_OUTPUT, _QUIET and _VERBOSE variables,
    which the command line overrides) say before click parses them."""
    scan, seen = ArgScan(), dict[str, int]()
    scan.json_output = os.environ.get(f"{ENVVAR_PREFIX}_OUTPUT") == "json"
    if _env_flag(f"{ENVVAR_PREFIX}_QUIET"):
        scan.level = Level.QUIET
    elif _env_flag(f"{ENVVAR_PREFIX}_VERBOSE"):
        scan.level = Level.VERBOSE
    for word in _walk(params, args):
        option = word.option
        if option is None:
            continue
        if option.name == "output_format":
            scan.json_output = word.value == "json"
        elif option.name == "quiet":
            scan.level = Level.QUIET
        elif option.name == "verbose" and scan.level is not Level.QUIET:
            scan.level = Level.VERBOSE
        if not option.multiple and option.name:
            seen[option.name] = seen.get(option.name, 0) + 1
            if seen[option.name] == 2:
                scan.repeated.append("/".join(option.opts))
    return scan


def argument_pairs(args: Sequence[str], environ: Mapping[str, str]) -> set[str]:
    """Every `NAME=VALUE` word of the arguments and of the ECS_DEPLOY_ variables: no output
    may quote one (its value may be a secret; `masking.hide` masks them everywhere)."""
    words = [*args]
    for key, value in environ.items():
        if key.startswith(f"{ENVVAR_PREFIX}_"):
            words.extend(value.split())
    pairs = set()
    for word in words:
        name, sep, value = word.partition("=")
        if sep and name and value:
            pairs.add(word)
    return pairs
