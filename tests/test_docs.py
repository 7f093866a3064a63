"""The README documents every option and every exit code (sqlite-utils' test_docs idea)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ecsdeploy.cli import command, envvar_name, help_section
from ecsdeploy.errors import ExitCode

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
OPTIONS = [opt for param in command.params for opt in param.opts if opt.startswith("--")]


@pytest.mark.parametrize("option", OPTIONS)
def test_every_option_is_in_the_option_reference(option):
    reference = README.split("## Option reference", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"`[^`]*{re.escape(option)}\b", reference), option


ENV_DIST = (Path(__file__).resolve().parent.parent / "local.env.dist").read_text()
ENVVARS = [name for p in command.params if (name := envvar_name(p))]


@pytest.mark.parametrize("envvar", ENVVARS)
def test_every_environment_variable_is_documented(envvar):
    reference = README.split("## Option reference", 1)[1].split("\n## ", 1)[0]
    assert f"`{envvar}`" in reference
    assert f"#{envvar}=" in ENV_DIST


@pytest.mark.parametrize("param", command.params, ids=[p.name or "" for p in command.params])
def test_every_option_is_in_a_help_section(param):
    assert help_section(param), param.name


@pytest.mark.parametrize("code", list(ExitCode))
def test_every_exit_code_is_in_the_table(code):
    table = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^\| {int(code)} \|", table, re.M), code


def test_the_two_commands_are_documented():
    assert "make demo" in README
    assert "make test" in README
