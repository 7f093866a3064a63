"""The image and the CI files, checked without a Docker engine or a registry: the Dockerfile
linted by hadolint, docker-compose.yml and action.yml validated against their published
schemas, the docs' workflow examples against the workflow schema, the build context, and
the lock files against pyproject.toml."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from ecsdeploy.action import PREFIX, legacy_inputs
from ecsdeploy.cli import command, envvar_name
from ecsdeploy.errors import ExitCode
from ecsdeploy.output import release_dict, summary_dict
from ecsdeploy.result import DeployResult, Outcome, ReleaseResult

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "scripts"))
from lock import LOCKS, dependency_digest  # noqa: E402


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_the_dockerfile_passes_hadolint():
    result = tool("hadolint", "--no-color", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.compose-spec", "docker-compose.yml"), ("vendor.github-actions", "action.yml")],
)
def test_files_match_their_published_schemas(schema, path):
    result = tool("check-jsonschema", "--builtin-schema", schema, path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("page", "marker"),
    [
        ("docs/guides/ci.md", "workflow-example"),
        ("docs/guides/deploy-job.md", "deploy-job-workflow"),
    ],
)
def test_the_docs_workflow_examples_are_valid_workflows(tmp_path, page, marker):
    text = (ROOT / page).read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->")[0]
    workflow = block.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "deploy.yml"
    path.write_text(workflow)
    result = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    steps = yaml.safe_load(workflow)["jobs"]["deploy"]["steps"]
    step = next(s for s in steps if "ecs-deploy-cli" in s.get("uses", ""))
    inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    assert set(step["with"]) <= set(inputs)


def test_action_inputs_are_options_and_outputs_are_summary_fields():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    deploy = next(s for s in action["runs"]["steps"] if s.get("id") == "deploy")
    known = {envvar_name(p) for p in command.params}
    legacy = {f"{PREFIX}{n.upper()}" for n in [*legacy_inputs(), "args"]}
    for name, value in deploy["env"].items():
        assert name in known or name in legacy, name
        assert value.startswith("${{ inputs."), name  # inputs reach the script as variables
    declared = set(action["inputs"])
    assert {v.split("inputs.")[1].rstrip(" }") for v in deploy["env"].values()} <= declared
    assert set(legacy_inputs()) <= declared
    fields = set(summary_dict(DeployResult(ExitCode.OK, Outcome.SUCCEEDED, ""))) | set(
        release_dict(ReleaseResult(None, [], ExitCode.OK, Outcome.SUCCEEDED, ""))
    )
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.deploy.outputs.{name} }}}}"
        assert name in fields, name


def test_the_build_context_holds_only_what_the_image_needs():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            bare = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
                keep = negate
        return keep

    for path in ("src/ecsdeploy/cli.py", "pyproject.toml", "requirements.lock", "LICENSE"):
        assert included(path), path
    for path in ("tests/test_cli.py", ".git/HEAD", ".venv/bin/python", "local.env", "benchmarks/x"):
        assert not included(path), path
    copied = re.findall(r"^COPY (.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M)
    for sources in copied:
        for source in sources.split():
            assert included(source.rstrip("/")) or included(source.rstrip("/") + "/x"), source


@pytest.mark.parametrize(("name", "extras"), list(LOCKS.items()))
def test_the_lock_files_agree_with_pyproject(name, extras):
    """`make lock` regenerates them; this fails when pyproject.toml changed since."""
    text = (ROOT / name).read_text()
    recorded = re.search(r"^# dependencies-sha256: (\w+)$", text, re.M)
    assert recorded, f"{name} has no digest header: run make lock"
    assert recorded.group(1) == dependency_digest(extras), f"{name} is stale: run make lock"
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, re.M))
    assert all("--hash=sha256:" in block for block in text.split("==")[1:]), "unhashed pin"
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [*data["project"]["dependencies"], *data["build-system"]["requires"]]
    for extra in extras:
        wanted += data["project"]["optional-dependencies"][extra]
    for line in wanted:
        requirement = Requirement(line)
        pinned = pins.get(requirement.name) or pins.get(requirement.name.replace("-", "_"))
        assert pinned, f"{requirement.name} is not pinned in {name}"
        assert requirement.specifier.contains(pinned, prereleases=True), (line, pinned)
