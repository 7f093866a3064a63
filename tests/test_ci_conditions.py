"""What CI runners do to a deploy, through the real command against the sandbox:
overlapping pipelines of one service, cancellation at start-up and twice over, streams that
close early, an unwritable GITHUB_OUTPUT, an endpoint that cannot be reached, options given
twice."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest

from ecsdeploy.deploy import Deployer
from ecsdeploy.ecs import EcsGateway
from ecsdeploy.output import Reporter
from tests.conftest import (
    FAST,
    broken_deploy,
    child_env,
    cli_path,
    deploy,
    ecr_image,
    run_cli,
    seed,
    seen_open_defect,
    start_cli,
)

BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def service(sandbox: Any, cluster: str) -> dict[str, Any]:
    return sandbox.client().describe_services(cluster=cluster, services=["web"])["services"][0]


def active_revisions(sandbox: Any, family: str) -> list[int]:
    arns = sandbox.client().list_task_definitions(familyPrefix=family, status="ACTIVE")
    return [int(a.rsplit(":", 1)[1]) for a in arns["taskDefinitionArns"]]


# -- overlapping deploys ---------------------------------------------------------------------


def test_overlapping_deploys_never_undo_each_other(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults("web", stall=True)  # neither can finish while both are running
    before = len(sandbox.applied)
    first = start_cli(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:1.26", "--enable-rollback")
    first.wait_for_call(sandbox, "UpdateService")
    second = start_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:1.27", "--enable-rollback", *FAST
    )
    run1 = first.finish(sandbox)  # superseded: it returns while the second still waits
    sandbox.reset_faults()
    run2 = second.finish(sandbox)
    assert run1.code == 1, run1.stdout + run1.stderr
    winner = service(sandbox, cluster)
    assert winner["taskDefinition"].endswith(f"{cluster}-web:3")
    assert (
        f"Deploy superseded: superseded by deployment {winner['deployments'][0]['id']} "
        f"(revision {cluster}-web:3)" in run1.stderr
    )
    assert "Rolling back" not in run1.stdout
    assert run2.code == 0, run2.stdout + run2.stderr
    assert "is still in progress on the service; this deploy replaces it" in run2.stdout
    # two deploys, two deployments: the superseded one rolled nothing back
    assert sandbox.applied[before:].count("UpdateService") == 2


def test_a_deployment_in_progress_is_named_only_when_ours_replaces_it(sandbox, cluster):
    """The preflight refuses the deploy: nothing replaces the deployment in progress, so
    nothing says so; the deploy that goes on names it as its UpdateService is sent."""
    image = ecr_image(sandbox, f"{cluster}-web", "1.0")
    seed(sandbox, cluster, image=image)
    sandbox.set_faults("web", stall=True)
    sandbox.client().update_service(cluster=cluster, service="web", forceNewDeployment=True)
    repository = image.rsplit(":", 1)[0]
    refused = deploy(sandbox, cluster, "-i", f"{repository}:9.9")
    assert refused.code == 25, refused.stderr
    assert "still in progress" not in refused.stdout + refused.stderr
    assert refused.mutating_calls == []
    run = deploy(sandbox, cluster, "-i", image, "-t", "1")  # stalled: it times out
    assert "is still in progress on the service; this deploy replaces it" in run.stdout
    said = run.stdout.splitlines()
    notice = next(i for i, line in enumerate(said) if "this deploy replaces it" in line)
    assert "Service updated: deployment" in said[notice + 1]


class AnotherRunDeploysFirst(Reporter):
    """As our rollback begins, another pipeline's deploy lands on the service."""

    def __init__(self, sandbox: Any, cluster: str) -> None:
        super().__init__(out=io.StringIO(), err=io.StringIO(), tty=False)
        self.sandbox, self.cluster = sandbox, cluster

    def warn(self, message: str) -> None:
        if message.startswith("Rolling back to"):  # a revision of its own (web:3)
            ecs = self.sandbox.client()
            base = ecs.describe_task_definition(taskDefinition=f"{self.cluster}-web:1")
            mine = ecs.register_task_definition(
                family=f"{self.cluster}-web",
                containerDefinitions=base["taskDefinition"]["containerDefinitions"],
            )["taskDefinition"]["taskDefinitionArn"]
            ecs.update_service(cluster=self.cluster, service="web", taskDefinition=mine)
        super().warn(message)


def test_rollback_never_reverts_a_deployment_that_is_not_ours(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults("web", fail_images=("*:broken",))
    config = broken_deploy(cluster, timeout=1)
    before = len(sandbox.applied)
    result = Deployer(
        EcsGateway(sandbox.client()), AnotherRunDeploysFirst(sandbox, cluster)
    ).deploy_service(config)
    assert result.code == 1
    assert result.rollback is not None
    assert result.rollback.as_dict()["outcome"] == "skipped"
    assert (
        "the service no longer runs ours, so it was left alone"
        in result.rollback.as_dict()["reason"]
    )
    # ours and the other run's: the rollback made no UpdateService of its own
    assert sandbox.applied[before:].count("UpdateService") == 2


def test_a_rollback_that_ecs_began_as_our_verdict_came_is_ecs_rollback(sandbox, cluster):
    """--max-failed-tasks 1 decides; in the same moment ECS's circuit breaker goes back to
    the previous revision: the run reads as ECS's rollback (15), not as superseded (1)."""
    seed(sandbox, cluster, desired_count=1, deployment_configuration=BREAKER)
    # the breaker holds off until the verdict has been reached, then trips at once
    sandbox.set_faults("web", fail_images=("*:broken",), circuit_breaker_threshold=1000)
    sandbox.scheduler.inject("ListTasks", "hold")  # the verdict's look at the stopped tasks
    started = start_cli(
        sandbox,
        *("-c", cluster, "-n", "web", *FAST, "-i", "nginx:broken", "--max-failed-tasks", "1"),
        *("--enable-rollback", "--output", "json"),
    )
    started.wait_for_call(sandbox, "ListTasks")
    sandbox.set_faults("web", circuit_breaker_threshold=1)
    wait_until(lambda: service(sandbox, cluster)["taskDefinition"].endswith("-web:1"))
    sandbox.scheduler.release("ListTasks")
    run = started.finish(sandbox)
    assert run.code == 15, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "rolled_back_by_ecs"
    assert summary["reason"] == (
        f"rolled back by ECS to {cluster}-web:1, triggered by the deployment circuit breaker: "
        "tasks failed to start"
    )
    assert "Rollback skipped" not in run.stderr
    assert run.applied.count("UpdateService") == 1  # ECS rolled back; we sent no second one


def wait_until(condition: Any, within: float = 30) -> None:
    """Block until `condition()` holds (the sandbox moves on its own clock)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the sandbox never got there"
        time.sleep(0.01)


def test_prune_keeps_revisions_that_a_service_deployment_runs(sandbox, cluster):
    family = f"{cluster}-web"
    seed(sandbox, cluster)
    ecs = sandbox.client()
    containers = ecs.describe_task_definition(taskDefinition=f"{family}:1")["taskDefinition"][
        "containerDefinitions"
    ]
    for _ in range(2):  # revisions 2 and 3
        ecs.register_task_definition(family=family, containerDefinitions=containers)
    sandbox.set_faults("web", stall=True)  # a service deploy of revision 3 is under way
    ecs.update_service(cluster=cluster, service="web", taskDefinition=f"{family}:3")
    run = run_cli(sandbox, "-d", family, "-i", "nginx:9", "--max-definitions", "1")
    assert run.code == 0, run.stderr
    # 4 is new; 3 is the base (and the service's PRIMARY); 1 is the service's ACTIVE
    # deployment, still running and what it would roll back to: only 2 may go.
    assert active_revisions(sandbox, family) == [1, 3, 4]
    assert f"Kept {family}:1: deployment " in run.stdout
    assert run.applied == ["RegisterTaskDefinition", "DeregisterTaskDefinition"]


# -- signals -----------------------------------------------------------------------------------


#: OPEN DEFECT (see the issue 20/21 note): on a heavily loaded machine, a SIGINT 50 ms after
#: the start is sometimes lost (the run goes on; about one full run in three with two CPU
#: burners). One cause was CPython's own start-up swallowing the KeyboardInterrupt (fixed:
#: sys.last_value); another, silent, is not found yet. Marked so that it is reported, not
#: hidden: an XPASS or XFAIL line in every run until it is fixed.
LOST_SIGINT = pytest.mark.xfail(
    reason="open defect: a SIGINT in the first ~50 ms under heavy load is sometimes lost",
    strict=False,
)


@pytest.mark.parametrize("delay", [pytest.param(0.05, id="0.05"), 0.1, 0.2, 0.4, 0.8])
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_at_any_moment_of_start_up_is_a_clean_exit(
    request, sandbox, cluster, delay, sig, code
):
    if sig == signal.SIGINT and delay == 0.05:
        request.applymarker(LOST_SIGINT)
    seed(sandbox, cluster, desired_count=1)
    sandbox.set_faults("web", stall=True)
    started = start_cli(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--output", "json")
    time.sleep(delay)
    started.signal(sig)
    try:
        run = started.finish(sandbox)
    except AssertionError as hung:  # the run went on (stalled, it never ends by itself)
        if sig == signal.SIGINT and delay == 0.05:
            seen_open_defect(f"a SIGINT 50 ms after the start was lost: {hung}")
        raise
    if before_our_handlers(run, sig):
        return
    assert "Traceback" not in ours(run.stderr)
    assert run.code == code, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "interrupted"
    assert summary["exit_code"] == code
    if "UpdateService" not in run.applied:  # stopped before the deploy: nothing deployed
        assert service(sandbox, cluster)["taskDefinition"].endswith(f"{cluster}-web:1")


def before_our_handlers(run: Any, sig: int) -> bool:
    """The signal came in the interpreter's own start-up, before any code of ours could
    install a handler (a few milliseconds; far more on a loaded machine): Python ended the
    process, as it ends any program then. SIGTERM's default action kills it (the shell sees
    143, as after our handler); SIGINT is Python's KeyboardInterrupt, raised wherever the
    interpreter stood. Either way nothing of ours ran: no AWS call, no summary."""
    if run.code == code_of(sig) or run.calls or run.stdout:
        return False
    killed = run.code == -sig
    keyboard = sig == signal.SIGINT and run.stderr.rstrip().endswith("KeyboardInterrupt")
    assert killed or keyboard, (run.code, run.stderr)
    return True


#: What CPython prints when a SIGINT's KeyboardInterrupt lands in its own start-up where it
#: carries on (checking argv[0] as an import path): its words, not ours; the run then takes
#: the SIGINT from sys.last_value (ecsdeploy.__main__).
CPYTHON_START_UP = "Failed checking if argv[0] is an import path entry\n"


def ours(stderr: str) -> str:
    """stderr without CPython's own start-up report of a swallowed KeyboardInterrupt."""
    if not stderr.startswith(CPYTHON_START_UP):
        return stderr
    _, _, rest = stderr.partition("\nKeyboardInterrupt\n")
    return rest


def code_of(sig: int) -> int:
    return 128 + sig


def test_a_second_signal_aborts_at_once_but_still_reports(sandbox, cluster, tmp_path):
    seed(sandbox, cluster)
    sandbox.scheduler.inject("DescribeServices", "hold", skip=1)  # the first poll, held
    gh = tmp_path / "gh"
    started = start_cli(
        sandbox,
        *("-c", cluster, "-n", "web", "-i", "nginx:2", "--enable-rollback", "--output", "json"),
        GITHUB_OUTPUT=str(gh),
    )
    started.wait_for_call(sandbox, "DescribeServices", 2)
    started.signal(signal.SIGTERM)
    started.wait_delivered(signal.SIGTERM)  # two signals, not one merged by the kernel
    started.signal(signal.SIGTERM)  # the first is still pending inside the held call
    run = started.finish(sandbox)
    sandbox.scheduler.release("DescribeServices")
    assert run.code == 143, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "aborted"
    assert summary["reason"].startswith(
        "aborted by a second signal while waiting for the deployment"
    )
    assert f"deployment {summary['deployment_id']} goes on without us" in summary["reason"]
    assert "outcome=aborted" in gh.read_text()
    assert "Traceback" not in run.stderr
    assert run.applied.count("UpdateService") == 1  # no rollback after an abort


def test_one_signal_during_a_rollback_after_a_failure_is_honoured(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults("web", stall=True)  # the deploy times out; the rollback cannot finish
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--enable-rollback", "-t", "2"
    )
    started.wait_for_call(sandbox, "UpdateService", 2)  # the rollback's
    started.signal(signal.SIGINT)
    run = started.finish(sandbox, timeout=20)  # long before the rollback's own 2 s deadline
    assert run.code == 130, run.stdout + run.stderr
    assert "Rollback interrupted: deployment " in run.stdout
    assert "the rollback to " in run.stderr
    assert "was interrupted" in run.stderr


# -- output that breaks ------------------------------------------------------------------------


def test_closed_stdout_changes_nothing(sandbox, cluster, tmp_path):
    seed(sandbox, cluster, desired_count=1)
    gh = tmp_path / "gh"
    proc = subprocess.run(
        [cli_path(), "-c", cluster, "-n", "web", "-i", "nginx:2", *FAST],
        env=child_env(sandbox, GITHUB_OUTPUT=str(gh)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "outcome=succeeded" in gh.read_text()


def test_a_reader_that_quits_early_does_not_skip_the_rollback(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults("web", fail_images=("*:broken",))
    args = ("-c", cluster, "-n", "web", "-i", "nginx:broken", "--enable-rollback", "-t", "2")
    proc = subprocess.Popen(
        [cli_path(), *args, *FAST],
        env=child_env(sandbox),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 21, err  # failed, and the rollback put the old revision back
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    assert service(sandbox, cluster)["taskDefinition"].endswith(f"{cluster}-web:1")


@pytest.mark.parametrize(("image", "code"), [("nginx:2", 0), ("nginx:broken", 21)])
def test_unwritable_github_output_keeps_the_deploys_exit_code(
    sandbox, cluster, tmp_path, image, code
):
    seed(sandbox, cluster, desired_count=1)
    sandbox.set_faults("web", fail_images=("*:broken",))
    run = deploy(
        sandbox, cluster, "-i", image, "--enable-rollback", "-t", "2", GITHUB_OUTPUT=str(tmp_path)
    )
    assert run.code == code, run.stderr
    assert "WARNING: could not write GITHUB_OUTPUT (Is a directory)" in run.stderr


# -- the environment and the arguments ---------------------------------------------------------


def test_an_unreachable_endpoint_fails_in_seconds_not_after_the_timeout(sandbox):
    run = run_cli(
        sandbox,
        *("-c", "x", "-n", "web", "-i", "nginx", "-t", "600"),
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # discard: nothing listens
        timeout=30,  # -t 600 would be far past this
    )
    assert run.code == 18, run.stderr
    assert "Could not connect to the endpoint URL" in run.stderr
    assert "check AWS_ENDPOINT_URL, -r/--region and the network" in run.stderr


def test_a_repeated_option_warns_and_the_last_value_wins(sandbox, cluster):
    seed(sandbox, cluster, desired_count=1)
    # -i is repeatable now (every image of the build); -t is not
    run = deploy(sandbox, cluster, "-i", "nginx:second", "-t", "5", "--timeout", "60")
    assert run.code == 0, run.stderr
    assert "-t/--timeout was given more than once: the last value is used" in run.stdout
    assert "nginx:1.25 -> nginx:second" in run.stdout


@pytest.mark.parametrize(
    ("args", "faults", "code"),
    [
        (("-i", "nginx:2"), {}, 0),
        (
            ("-i", "nginx:broken", "--enable-rollback", "-t", "2"),
            {"fail_images": ("*:broken",)},
            21,
        ),
        (("-i", "nginx:2", "--max-definitions", "1", "--copy-task-definition-tags"), {}, 0),
    ],
)
def test_verbose_runs_print_no_secret(sandbox, cluster, tmp_path, args, faults, code):
    """-v is where the bash tool leaked (set -x); the scan in run_cli checks every line."""
    seed(sandbox, cluster, desired_count=1)
    if faults:
        sandbox.set_faults("web", **faults)
    run = deploy(
        sandbox, cluster, "-v", *args, "-k", "AKIAVERBOSEKEY00001", "-s", "verbose-secret-9a8b7c",
        GITHUB_OUTPUT=str(tmp_path / "gh"),
    )  # fmt: skip
    assert run.code == code, run.stderr
    assert "debug: settings: AwsSettings(" in run.stdout
    assert "access_key_id=***" in run.stdout
