"""`make lock`: regenerate the image's lock files from pyproject.toml with uv.

requirements.lock holds the runtime dependencies, requirements-sandbox.lock those of the
image that also runs the local sandbox; every version pinned, every artifact hashed, for the
Python of the Dockerfile's base image. Each file starts with the digest of the dependency
lists it was made from, so tests/test_container.py fails when pyproject.toml changes and the
locks do not.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "3.12"  # the Dockerfile's base image
LOCKS = {"requirements.lock": (), "requirements-sandbox.lock": ("sandbox",)}


def dependency_digest(extras: tuple[str, ...], pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The digest of the dependency lists a lock is made from (the build backend's too: the
    image builds the package without reaching the index)."""
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    wanted = {
        "build-system": sorted(data["build-system"]["requires"]),
        "dependencies": sorted(project["dependencies"]),
        **{e: sorted(project["optional-dependencies"][e]) for e in extras},
    }
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()


def main() -> None:
    uv = Path(sys.executable).with_name("uv")
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    build_in = ROOT / "build" / "build-requirements.in"
    build_in.parent.mkdir(exist_ok=True)
    build_in.write_text("\n".join(build) + "\n")
    for name, extras in LOCKS.items():
        command = [
            str(uv),
            "pip",
            "compile",
            "pyproject.toml",
            str(build_in.relative_to(ROOT)),
            "--generate-hashes",
            "--quiet",
            "--python-version",
            PYTHON,
            "--no-header",
        ]
        for extra in extras:
            command += ["--extra", extra]
        body = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        header = (
            f"# Made by `make lock` (uv pip compile, Python {PYTHON}) from pyproject.toml"
            + (f" with [{','.join(extras)}]" if extras else "")
            + f"\n# dependencies-sha256: {dependency_digest(extras)}\n"
        )
        (ROOT / name).write_text(header + body)
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
