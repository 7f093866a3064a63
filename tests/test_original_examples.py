"""Every example in the bash ecs-deploy's README and usage text (sil-org/ecs-deploy, 3.10.22),
run as written through the real command against the sandbox: a CI line that worked with the
original works with this tool. Only the cluster name is this test's own (the sandbox is
shared by the whole session); services, images and options are the README's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ecr_image, run_cli

REPO = "my.private.repo.com/frontend_container"


def said(run) -> str:
    return run.stdout + run.stderr


def service(sandbox, cluster: str, name: str, image: str, **kwargs: Any) -> None:
    sandbox.seed_service(cluster, name, image, 1, family=f"{cluster}-{name}", **kwargs)


def running(sandbox, cluster: str, name: str) -> dict[str, Any]:
    ecs = sandbox.client()
    svc = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    td: dict[str, Any] = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])[
        "taskDefinition"
    ]
    return {
        "service": svc,
        "taskdef": td,
        "images": [c["image"] for c in td["containerDefinitions"]],
    }


def test_simple_deployment_of_a_service(sandbox, cluster):
    # ecs-deploy -c my-cluster-name -n my-service-name
    #   -i my.private.repo.com/frontend_container:latest
    service(sandbox, cluster, "my-service-name", f"{REPO}:1.0")
    run = run_cli(sandbox, "-c", cluster, "-n", "my-service-name", "-i", f"{REPO}:latest")
    assert run.code == 0, said(run)
    assert running(sandbox, cluster, "my-service-name")["images"] == [f"{REPO}:latest"]


def test_all_options(sandbox, cluster):
    # ecs-deploy -k ABC123 -s SECRETKEY -r us-east-1 -c my-cluster-name -n my-service-name
    #   -i my.private.repo.com/frontend_container -m 50 -M 100 -t 240 -D 2 -e CI_TIMESTAMP -v
    service(sandbox, cluster, "my-service-name", f"{REPO}:1.0")
    run = run_cli(
        sandbox,
        *("-k", "ABC123", "-s", "SECRETKEY", "-r", "us-east-1", "-c", cluster),
        *("-n", "my-service-name", "-i", REPO, "-m", "50", "-M", "100", "-t", "240"),
        *("-D", "2", "-e", "CI_TIMESTAMP", "-v"),
        CI_TIMESTAMP="20261128093000",
    )
    assert run.code == 0, said(run)
    now = running(sandbox, cluster, "my-service-name")
    assert now["images"] == [f"{REPO}:20261128093000"]
    assert now["service"]["desiredCount"] == 2
    conf = now["service"]["deploymentConfiguration"]
    assert (conf["minimumHealthyPercent"], conf["maximumPercent"]) == (50, 100)
    assert "debug:" in said(run)  # -v; the conftest scan checks ABC123/SECRETKEY never show


def test_updating_a_task_definition_with_a_new_image(sandbox, cluster):
    # ecs-deploy -d my-task-definition -i my.private.repo.com/frontend_container:17
    ecs = sandbox.client()
    family = f"{cluster}-my-task-definition"  # the family, prefixed like the cluster
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "app", "image": f"{REPO}:16", "memory": 64}]
    )
    run = run_cli(sandbox, "-d", family, "-i", f"{REPO}:17")
    assert run.code == 0, said(run)
    assert run.applied == ["RegisterTaskDefinition"]
    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    assert (td["revision"], td["containerDefinitions"][0]["image"]) == (2, f"{REPO}:17")


def test_using_profiles(sandbox, cluster, tmp_path: Path):
    # ecs-deploy -p my-profile -c my-cluster-name -n my-service-name
    #   -i my.private.repo.com/frontend_container -t 240 -e CI_TIMESTAMP -v
    service(sandbox, cluster, "my-service-name", f"{REPO}:1.0")
    config = tmp_path / "config"
    config.write_text("[profile my-profile]\nregion = us-east-1\n")
    creds = tmp_path / "credentials"
    creds.write_text("[my-profile]\naws_access_key_id = a\naws_secret_access_key = b\n")
    run = run_cli(
        sandbox,
        *("-p", "my-profile", "-c", cluster, "-n", "my-service-name", "-i", REPO),
        *("-t", "240", "-e", "CI_TIMESTAMP", "-v"),
        CI_TIMESTAMP="build-42",
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(creds),
    )
    assert run.code == 0, said(run)
    assert running(sandbox, cluster, "my-service-name")["images"] == [f"{REPO}:build-42"]


def test_update_just_the_tag_of_every_image(sandbox, cluster):
    # ecs-deploy -c staging -n core-service -to 0.1.899 -i ignore
    sidecar = {"name": "proxy", "image": "registry:5000/team/proxy:0.1.898", "memory": 32}
    service(sandbox, cluster, "core-service", f"{REPO}:0.1.898", extra_containers=[sidecar])
    run = run_cli(sandbox, "-c", cluster, "-n", "core-service", "-to", "0.1.899", "-i", "ignore")
    assert run.code == 0, said(run)
    assert "-i/--image is ignored with -to/--tag-only" in said(run)
    assert running(sandbox, cluster, "core-service")["images"] == [
        f"{REPO}:0.1.899",
        "registry:5000/team/proxy:0.1.899",
    ]


def test_tag_from_an_environment_variable(sandbox, cluster):
    # ecs-deploy -c my-cluster-name -n my-service-name -i my.private.repo.com/frontend_container
    #   -e CI_TIMESTAMP
    service(sandbox, cluster, "my-service-name", f"{REPO}:1.0")
    run = run_cli(
        sandbox,
        *("-c", cluster, "-n", "my-service-name", "-i", REPO, "-e", "CI_TIMESTAMP"),
        CI_TIMESTAMP="1764322200",
    )
    assert run.code == 0, said(run)
    assert running(sandbox, cluster, "my-service-name")["images"] == [f"{REPO}:1764322200"]


def test_the_github_actions_example_with_long_options(sandbox, cluster):
    # the action passes --aws-access-key, --aws-secret-key, --cluster, --image, --region,
    # --service-name and --timeout '360'
    service(
        sandbox,
        cluster,
        "aws-service-name",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/c/image_name:1",
    )
    ecr_image(sandbox, "c/image_name", "latest")  # the preflight looks for it
    run = run_cli(
        sandbox,
        *("--aws-access-key", "AKIAEXAMPLEKEY01", "--aws-secret-key", "example-secret-123"),
        *("--cluster", cluster, "--region", "us-east-1", "--service-name", "aws-service-name"),
        *("--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/c/image_name:latest"),
        *("--timeout", "360"),
    )
    assert run.code == 0, said(run)


@pytest.mark.parametrize(
    "image",
    [f"{REPO}:`git describe`", f"{REPO}:$(< VERSION)"],
    ids=["backticks", "command-substitution"],
)
def test_shell_substitution_in_single_quotes_is_refused_as_the_original_does(
    sandbox, cluster, image
):
    # The README's "How it works" shows -i 'repo:`git describe`' and -i 'repo:$(< VERSION)'
    # and says the script evals the image; 3.10.22 does not (it matches the text against its
    # image regex and exits 13). This tool never evaluates its input either: it refuses the
    # same text with the same code, and the shell's own substitution (double quotes) works.
    service(sandbox, cluster, "my-service-name", f"{REPO}:1.0")
    run = run_cli(sandbox, "-c", cluster, "-n", "my-service-name", "-i", image)
    assert run.code == 13, said(run)
    assert run.calls == []
    expanded = run_cli(sandbox, "-c", cluster, "-n", "my-service-name", "-i", f"{REPO}:v1.2.3")
    assert expanded.code == 0, said(expanded)


def test_the_usage_text_forms(sandbox, cluster):
    # Usage: [domain][:port][/repo][/][image][:tag] -- "mariadb, mariadb:latest,
    # private.registry.com:8000/repo/image:tag" -- each a valid -i, each deployed
    service(sandbox, cluster, "db", "mariadb:10")
    for image in ("mariadb", "mariadb:latest"):
        run = run_cli(sandbox, "-c", cluster, "-n", "db", "-i", image)
        assert run.code == 0, said(run)
    service(sandbox, cluster, "app", "private.registry.com:8000/repo/image:old")
    run = run_cli(
        sandbox, "-c", cluster, "-n", "app", "-i", "private.registry.com:8000/repo/image:tag"
    )
    assert run.code == 0, said(run)
    assert running(sandbox, cluster, "app")["images"] == [
        "private.registry.com:8000/repo/image:tag"
    ]
