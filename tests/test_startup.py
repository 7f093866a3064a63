"""Start-up imports only what the run needs (issue 21): `--version` loads neither click nor
botocore, and a plain rolling deploy none of the stories it does not take. Read from the
interpreter's own import log (`python -X importtime`), so a module imported in a background
thread counts too."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import FAST, run_cli, seed

IMPORTTIME = (sys.executable, "-X", "importtime", "-m", "ecsdeploy")

#: What a rolling deploy that succeeds never needs: the release of several services, the
#: native strategies, the rollbacks, pruning, one-off tasks and their log streams, the
#: sandbox (and moto), boto3 (botocore is enough), CodeDeploy and the migration off it.
NOT_IN_A_PLAIN_DEPLOY = {
    "ecsdeploy.release",
    "ecsdeploy.native",
    "ecsdeploy.rollback",
    "ecsdeploy.prune",
    "ecsdeploy.register",
    "ecsdeploy.streams",
    "ecsdeploy.sandbox",
    "ecsdeploy.codedeploy",
    "ecsdeploy.codedeploywatch",
    "ecsdeploy.codedeployconfig",
    "ecsdeploy.appspec",
    "ecsdeploy.migration",
    "ecsdeploy.migrate",
    "ecsdeploy.migratechecks",
    "moto",
    "boto3",
}


def imported(stderr: str) -> set[str]:
    """Module names from `-X importtime` lines (`import time: self | cumulative | name`)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    } - {"package"}


def test_version_loads_neither_click_nor_botocore():
    proc = subprocess.run(
        [*IMPORTTIME, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0
    assert proc.stdout == "ecs-deploy, version " + _version() + "\n"
    modules = imported(proc.stderr)
    assert "ecsdeploy" in modules
    assert not {m for m in modules if m.split(".")[0] in ("botocore", "click", "boto3")}
    assert not {m for m in modules if m.startswith("ecsdeploy.")}


#: What `--help` loads of ours: the command's declaration (its options, their types and
#: limits), the reading of the raw arguments, the run's policy. Not the rules behind the
#: options (config), nor the output and what it speaks of (results, models, diagnosis).
HELP_MODULES = {
    "ecsdeploy",
    "ecsdeploy.cli",
    "ecsdeploy.argv",
    "ecsdeploy.options",
    "ecsdeploy.limits",
    "ecsdeploy.levels",
    "ecsdeploy.errors",
    "ecsdeploy.policy",
}


def test_help_loads_no_botocore_and_only_the_command_declaration():
    proc = subprocess.run(
        [*IMPORTTIME, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage: ecs-deploy [OPTIONS]" in proc.stdout
    modules = imported(proc.stderr)
    assert not {m for m in modules if m.split(".")[0] in ("botocore", "boto3")}
    assert {m for m in modules if m.split(".")[0] == "ecsdeploy"} == HELP_MODULES


def test_a_plain_rolling_deploy_loads_no_story_it_does_not_take(sandbox, cluster):
    seed(sandbox, cluster, family=f"{cluster}-web", desired_count=1)
    run = run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2", command=IMPORTTIME)
    assert run.code == 0, run.stderr
    modules = imported(run.stderr)
    assert {"ecsdeploy.deploy", "ecsdeploy.watch", "botocore.session"} <= modules
    loaded = {m for m in modules if m.split(".")[0] in ("ecsdeploy", "moto", "boto3")}
    assert not {
        m for m in loaded if m in NOT_IN_A_PLAIN_DEPLOY or m.startswith("ecsdeploy.sandbox")
    }


def _version() -> str:
    from ecsdeploy import __version__

    return __version__


def test_the_quick_model_loader_knows_what_botocores_knows(tmp_path):
    """A client's service is checked in its own directory (not by listing all 400): the same
    answers as botocore's loader, a model in AWS_DATA_PATH included."""
    from botocore.loaders import Loader

    from ecsdeploy.aws import quick_loader

    model = tmp_path / "my-service" / "2020-01-01" / "service-2.json"
    model.parent.mkdir(parents=True)
    model.write_text("{}")
    quick, botocores = quick_loader(str(tmp_path)), Loader(extra_search_paths=[str(tmp_path)])
    for type_name in ("service-2", "endpoint-rule-set-1"):
        listed = botocores.list_available_services(type_name)
        known = quick.list_available_services(type_name)
        assert list(known) == listed
        for name in ("ecs", "ecr", "ssm", "logs", "my-service", "no-such-service", "", "../ecs"):
            assert (name in known) == (name in listed), name
    assert "my-service" in quick.list_available_services("service-2")
    # the same data, read into plain dicts
    for service in ("ecs", "ssm"):
        model = quick.load_service_model(service, "service-2")
        assert model == botocores.load_service_model(service, "service-2")
        assert type(model) is dict
    assert quick.load_data("endpoints") == botocores.load_data("endpoints")


def test_a_deploy_reads_its_service_once_and_first(sandbox, cluster):
    """The service's first read leaves while the story loads (ecs.FirstRead): it is still
    the deploy's first request, and the story takes its answer rather than reading again."""
    seed(sandbox, cluster, family=f"{cluster}-web", desired_count=1)
    run = run_cli(sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2")
    assert run.code == 0, run.stderr
    before_update = run.calls[: run.calls.index("UpdateService")]
    assert before_update[0] == "DescribeServices"
    assert before_update.count("DescribeServices") == 1


def test_a_service_that_is_not_there_fails_as_before(sandbox, cluster):
    seed(sandbox, cluster, family=f"{cluster}-web", desired_count=1)
    run = run_cli(sandbox, "-c", cluster, "-n", "nope", *FAST, "-i", "nginx:2")
    assert run.code == 17
    assert f"Service nope not found in cluster {cluster}" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert not run.mutating_calls
