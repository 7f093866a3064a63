"""The container files, checked without a Docker engine (none runs on our machines)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_is_small_non_root_and_enters_the_command():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.M)
    assert re.search(r"^USER (?!root)\w+$", text, re.M)
    assert 'ENTRYPOINT ["ecs-deploy"]' in text
    # every COPY source exists, so the build context has what the image needs
    for line in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for source in line.split():
            assert (ROOT / source).exists(), source


def test_compose_services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    # local.env is optional; credentials also pass through from the shell
    assert services["ecsdeploy"]["env_file"] == [{"path": "local.env", "required": False}]
    assert {"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN"} <= set(
        services["ecsdeploy"]["environment"]
    )
    assert services["ecsdeploy"]["build"] == "."
    sandbox = services["sandbox"]
    assert sandbox["entrypoint"] == ["ecs-deploy-sandbox"]
    # healthy once it serves: the healthcheck reads the ready file the sandbox writes
    ready = sandbox["command"][sandbox["command"].index("--ready-file") + 1]
    assert sandbox["healthcheck"]["test"] == ["CMD", "test", "-s", ready]
    local = services["ecsdeploy-sandbox"]
    assert local["depends_on"] == {"sandbox": {"condition": "service_healthy"}}
    assert local["network_mode"] == "service:sandbox"  # loopback reaches the sandbox
    assert local["environment"]["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_local_env_dist_lists_every_variable_the_tool_reads():
    documented = set(re.findall(r"^#?([A-Z_]+)=", (ROOT / "local.env.dist").read_text(), re.M))
    read = set()
    for path in (ROOT / "src" / "ecsdeploy").glob("*.py"):
        read |= set(re.findall(r"environ\.get\(\"([A-Z_]+)\"", path.read_text()))
    read.discard("TERM")  # the terminal's own variable, set by every terminal
    assert read <= documented, read - documented
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= documented
    # no real values: every uncommented value is empty or a region name
    for name, value in re.findall(r"^([A-Z_]+)=(.*)$", (ROOT / "local.env.dist").read_text(), re.M):
        assert value in ("", "us-east-1"), name
