"""The docs match the command (sqlite-utils' test_docs idea): the option reference lists every
option with its variable and nothing that is not one, the exit-code table every code, the
README stays a first screen with the released version pinned, and every relative link of the
README and CONTRIBUTING.md resolves (`make docs` checks docs/ itself, --strict)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ecsdeploy
from ecsdeploy.cli import command, envvar_name, help_section
from ecsdeploy.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
OPTIONS_PAGE = (ROOT / "docs/reference/options.md").read_text()
EXIT_CODES_PAGE = (ROOT / "docs/reference/exit-codes.md").read_text()
OPTIONS = [opt for param in command.params for opt in param.opts if opt.startswith("--")]


def reference_rows() -> list[tuple[list[str], str]]:
    """The option table's rows: the options named in the first column, and the second."""
    rows = []
    for line in OPTIONS_PAGE.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if not line.startswith("| `-") or len(cells) < 3:
            continue
        names = re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", cells[0].split("`")[1])
        rows.append((names, cells[1].strip("`")))
    return rows


@pytest.mark.parametrize("option", OPTIONS)
def test_every_option_is_in_the_option_reference(option):
    assert any(option in names for names, _ in reference_rows()), option


def test_the_option_reference_names_only_options_with_their_variables():
    by_name = {opt: p for p in command.params for opt in [*p.opts, *p.secondary_opts]}
    by_name.update({"-h": None, "--help": None})  # click's own
    for names, env in reference_rows():
        params = {id(by_name[n]) for n in names if n in by_name}
        assert all(n in by_name for n in names), f"not an option: {names}"
        assert len(params) == 1, f"one row, one option: {names}"
        param = by_name[names[0]]
        assert env == ((param is not None and envvar_name(param)) or ""), names


ENV_DIST = (ROOT / "local.env.dist").read_text()
ENVVARS = [name for p in command.params if (name := envvar_name(p))]


@pytest.mark.parametrize("envvar", ENVVARS)
def test_every_environment_variable_is_documented(envvar):
    assert f"`{envvar}`" in OPTIONS_PAGE
    assert f"#{envvar}=" in ENV_DIST


@pytest.mark.parametrize("param", command.params, ids=[p.name or "" for p in command.params])
def test_every_option_is_in_a_help_section(param):
    assert help_section(param), param.name


@pytest.mark.parametrize("code", list(ExitCode))
def test_every_exit_code_is_in_the_table(code):
    assert re.search(rf"^\| {int(code)} \|", EXIT_CODES_PAGE, re.M), code


def test_the_exit_code_table_has_no_code_that_is_not_one():
    for code in re.findall(r"^\| (\d+) \|", EXIT_CODES_PAGE, re.M):
        assert int(code) in {int(c) for c in ExitCode}, code


def test_the_readme_is_a_first_screen():
    assert len(README.splitlines()) <= 350
    assert "make demo" in README
    assert "make test" in README
    assert "--scheduled-tasks none" in README
    assert "docs/iam-policy.json" in README


def test_the_readme_pins_the_released_version():
    version = ecsdeploy.__version__
    assert f"pip install ecs-deploy-cli=={version}" in README
    assert f"ecs-deploy-cli@v{version}" in README
    assert f"ecs-deploy-cli:{version}" in README
    for pinned in re.findall(r"ecs-deploy-cli(?:\[\w+\])?==([\w.]+)", _all_docs()):
        assert pinned == version


def _all_docs() -> str:
    return "\n".join(p.read_text() for p in [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md")])


def _anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, as both GitHub and MkDocs' toc make them for the
    plain headings these pages use."""
    heads = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", h).strip().lower()) for h in heads}


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md"])
def test_relative_links_resolve(name):
    text = (ROOT / name).read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        if re.match(r"\w+://", link):
            continue
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else ROOT / name
        assert target.exists(), link
        if anchor:
            assert anchor in _anchors(target), link


def test_the_readme_action_step_uses_real_inputs():
    import yaml

    block = README.split("```yaml\n", 1)[1].split("```", 1)[0]
    steps = yaml.safe_load(block)
    step = next(s for s in steps if "ecs-deploy-cli@" in s.get("uses", ""))
    inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    assert set(step["with"]) <= set(inputs)
    assert {n for n, i in inputs.items() if i.get("required")} <= set(step["with"])
