"""Native blue/green, linear and canary deploys, through the real command against the
sandbox: every end a service deployment can reach, each --on-pause choice, --resume,
--wait-until traffic-shifted, rollbacks that never send a second UpdateService, and the
strategy overrides with their bad values."""

from __future__ import annotations

import json
import re
import signal
from typing import Any

import pytest

from tests.conftest import FAST, deploy, run_cli, seed, start_cli
from tests.test_ci_conditions import wait_until
from tests.test_sandbox import STAGES  # ECS's lifecycle stages, in order

BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
#: Steps of 3 sandbox minutes (0.3 s) are long enough for polls every 0.1 s to see each.
CANARY = {"canaryConfiguration": {"canaryPercent": 10, "canaryBakeTimeInMinutes": 3}}
LINEAR = {"linearConfiguration": {"stepPercent": 50, "stepBakeTimeInMinutes": 3}}


def pause(minutes: int = 600, action: str = "ROLLBACK") -> dict[str, Any]:
    return {
        "targetType": "PAUSE",
        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        "timeoutConfiguration": {"timeoutInMinutes": minutes, "action": action},
    }


#: The -t of a test of what a deadline does at a stage passes once the run has said it is
#: there (conftest.JumpingClock), however long a loaded runner took to get there.
IN_BAKE = {"deadline_after": "stage BAKE_TIME (IN_PROGRESS)"}
AT_PAUSE = {"deadline_after": "paused at POST_TEST_TRAFFIC_SHIFT"}


@pytest.fixture
def minute(sandbox, monkeypatch) -> float:
    """A sandbox minute of 0.1 s: bake times of a few minutes last a fraction of a second."""
    monkeypatch.setattr(sandbox.scheduler, "minute", 0.1)
    return 0.1


def native(sandbox, cluster, strategy="BLUE_GREEN", bake=1, hooks=(), **conf: Any) -> None:
    seed(
        sandbox,
        cluster,
        deployment_configuration={
            "strategy": strategy,
            "bakeTimeInMinutes": bake,
            "lifecycleHooks": list(hooks),
            **BREAKER,
            **conf,
        },
    )


def said(run) -> str:
    """Everything the command printed (text output goes to stdout, with JSON to stderr)."""
    return run.stdout + run.stderr


def summary(run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return data


def service_conf(sandbox, cluster) -> dict[str, Any]:
    svc = sandbox.client().describe_services(cluster=cluster, services=["web"])["services"][0]
    return dict(svc["deploymentConfiguration"]) | {"taskDefinition": svc["taskDefinition"]}


@pytest.mark.parametrize(
    ("strategy", "conf", "weights"),
    [
        ("BLUE_GREEN", {}, ["production 100%"]),
        ("CANARY", CANARY, ["production 10%", "production 100%"]),
        ("LINEAR", LINEAR, ["production 50%", "production 100%"]),
    ],
)
def test_a_native_deploy_is_followed_stage_by_stage_to_success(
    sandbox, cluster, minute, strategy, conf, weights
):
    native(sandbox, cluster, strategy, bake=3, **conf)
    sandbox.set_faults("web", stages_seen=True)  # each stage and step lasts until polled
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--output", "json")
    assert run.code == 0, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "UpdateService"]
    assert "DescribeServiceDeployments" in run.calls
    assert f"{strategy} deploy: following service deployment" in said(run)
    shown = re.findall(r"stage (\w+) \((\w+)\)", said(run))
    order = [STAGES.index(stage) for stage, _ in shown]
    assert order == sorted(order)  # ECS's order, each stage as it came
    assert ("BAKE_TIME", "IN_PROGRESS") in shown
    assert shown[-1] == ("CLEAN_UP", "SUCCESSFUL")
    for weight in weights:  # canary and linear steps, one line each
        assert weight in said(run)
    data = summary(run)
    assert data["outcome"] == "succeeded"
    assert data["strategy"] == strategy
    assert data["service_deployment_arn"].startswith("arn:aws:ecs:")
    assert data["service_deployment_status"] == "SUCCESSFUL"
    assert data["lifecycle_stage"] == "CLEAN_UP"
    assert data["traffic"] == {"test": 100.0, "production": 100.0}
    assert service_conf(sandbox, cluster)["taskDefinition"].endswith(":2")


def test_rolling_deploys_are_not_followed_through_service_deployments(sandbox, cluster):
    seed(sandbox, cluster, deployment_configuration=BREAKER)
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--output", "json")
    assert run.code == 0, run.stderr
    assert "DescribeServiceDeployments" not in run.calls
    assert summary(run)["strategy"] == "ROLLING"


def test_traffic_shifted_succeeds_once_the_bake_time_has_begun(sandbox, cluster, minute):
    native(sandbox, cluster, bake=600)  # a bake of a minute of real time
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--wait-until", "traffic-shifted", "-t", "20")
    assert run.code == 0, run.stderr
    assert "ECS may still roll back until the bake time ends" in said(run)
    assert "stage BAKE_TIME" in said(run)


def test_failing_green_tasks_rolled_back_by_ecs_exit_15_with_the_trigger(sandbox, cluster, minute):
    native(sandbox, cluster, "CANARY", **CANARY)
    sandbox.set_faults("web", fail_images=("*:broken",))
    run = deploy(sandbox, cluster, "-i", "nginx:broken", "--output", "json", "--enable-rollback")
    assert run.code == 15, run.stderr
    assert "triggered by the deployment circuit breaker" in said(run)
    assert "CannotPullContainerError" in said(run)  # green's stopped tasks explained
    # ECS rolled back already: --enable-rollback adds nothing, and never a second update
    assert run.applied == ["RegisterTaskDefinition", "UpdateService"]
    data = summary(run)
    assert data["service_deployment_status"] == "ROLLBACK_SUCCESSFUL"
    assert service_conf(sandbox, cluster)["taskDefinition"].endswith(":1")


def test_a_rollback_that_fails_exits_22_loudly(sandbox, cluster, minute):
    native(sandbox, cluster)
    sandbox.set_faults("web", fail_images=("*:broken",), rollback_fails=True)
    run = deploy(sandbox, cluster, "-i", "nginx:broken", "--output", "json")
    assert run.code == 22, run.stderr
    assert "needs a person" in said(run)
    assert summary(run)["outcome"] == "rollback_failed"


def test_a_failed_lambda_hook_is_named_as_the_trigger(sandbox, cluster, minute):
    hook = {
        "targetType": "AWS_LAMBDA",
        "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:check",
        "roleArn": "arn:aws:iam::123456789012:role/hooks",
        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
    }
    native(sandbox, cluster, hooks=[hook])
    sandbox.set_faults("web", hook_verdicts=(("POST_TEST_TRAFFIC_SHIFT", "FAILED"),))
    run = deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code == 15, run.stderr
    assert "triggered by lifecycle hook" in said(run)


def test_a_stopped_deployment_exits_1_with_its_reason(sandbox, cluster, minute):
    native(sandbox, cluster, deploymentCircuitBreaker={"enable": True, "rollback": False})
    sandbox.set_faults("web", fail_images=("*:broken",))
    run = deploy(sandbox, cluster, "-i", "nginx:broken")
    assert run.code == 1, run.stderr
    assert "service deployment STOPPED at SCALE_UP" in said(run)


def test_the_deadline_names_the_stage(sandbox, cluster, minute):
    native(sandbox, cluster, bake=600)
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-t", "10", "--output", "json", **IN_BAKE)
    assert run.code == 1, run.stderr
    assert "timed out in stage BAKE_TIME" in said(run)
    assert summary(run)["lifecycle_stage"] == "BAKE_TIME"


def test_enable_rollback_stops_the_deployment_instead_of_a_second_update(sandbox, cluster, minute):
    native(sandbox, cluster, bake=600)
    run = deploy(
        sandbox, cluster, "-i", "nginx:2", "-t", "10", "--enable-rollback", "--output", "json",
        **IN_BAKE,
    )  # fmt: skip
    assert run.code == 21, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "UpdateService", "StopServiceDeployment"]
    data = summary(run)
    assert data["rollback"]["requested_with"] == "StopServiceDeployment"
    assert data["rollback"]["outcome"] == "rolled_back"
    assert data["service_deployment_status"] == "ROLLBACK_SUCCESSFUL"
    assert service_conf(sandbox, cluster)["taskDefinition"].endswith(":1")


def test_enable_rollback_while_paused_answers_the_hook_with_rollback(sandbox, cluster, minute):
    native(sandbox, cluster, hooks=[pause()])
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-t", "10", "--enable-rollback", **AT_PAUSE)
    assert run.code == 21, run.stderr
    assert "paused at POST_TEST_TRAFFIC_SHIFT" in said(run)  # said at once
    assert run.applied == ["RegisterTaskDefinition", "UpdateService", "ContinueServiceDeployment"]


@pytest.mark.parametrize(
    ("on_pause", "code", "applied", "revision"),
    [
        ("continue", 0, ["ContinueServiceDeployment"], 2),
        ("rollback", 21, ["ContinueServiceDeployment"], 1),
        ("exit", 23, [], 2),
    ],
)
def test_on_pause(sandbox, cluster, minute, on_pause, code, applied, revision):
    native(sandbox, cluster, hooks=[pause()])
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--on-pause", on_pause, "--output", "json")
    assert run.code == code, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "UpdateService", *applied]
    assert "PAUSE hook" in said(run)
    assert "awaits approval" in said(run)
    data = summary(run)
    if on_pause == "exit":
        assert data["outcome"] == "paused"
        assert data["resume_command"] == f"ecs-deploy -c {cluster} -n web --resume continue"
        assert data["paused_hook"]["target_type"] == "PAUSE"
        assert data["lifecycle_stage"] == "POST_TEST_TRAFFIC_SHIFT"
        assert data["traffic"] == {"test": 100.0, "production": 0.0}
        assert f"ecs-deploy -c {cluster} -n web --resume continue" in said(run)
    else:
        assert service_conf(sandbox, cluster)["taskDefinition"].endswith(f":{revision}")


def test_on_pause_wait_waits_and_says_how_to_approve(sandbox, cluster, minute):
    native(sandbox, cluster, hooks=[pause(minutes=5, action="CONTINUE")])
    run = deploy(sandbox, cluster, "-i", "nginx:2")
    assert run.code == 0, run.stderr  # the hook timed out with CONTINUE
    assert f"Approve from elsewhere with: ecs-deploy -c {cluster} -n web --resume continue" in said(
        run
    )


@pytest.mark.parametrize(("action", "code", "revision"), [("continue", 0, 2), ("rollback", 21, 1)])
def test_an_approval_gate_in_two_jobs(sandbox, cluster, minute, action, code, revision):
    native(sandbox, cluster, hooks=[pause()])
    first = deploy(sandbox, cluster, "-i", "nginx:2", "--on-pause", "exit")
    assert first.code == 23, first.stderr
    second = deploy(sandbox, cluster, "--resume", action, "--output", "json")
    assert second.code == code, second.stderr
    assert second.applied == ["ContinueServiceDeployment"]
    assert summary(second)["outcome"] == ("succeeded" if action == "continue" else "rolled_back")
    assert service_conf(sandbox, cluster)["taskDefinition"].endswith(f":{revision}")
    again = deploy(sandbox, cluster, "--resume", action)
    assert again.code == 17, again.stderr  # nothing paused any more
    assert "awaits approval" in said(again)
    assert again.applied == []


def test_resume_on_a_rolling_service_changes_nothing(sandbox, cluster):
    seed(sandbox, cluster)
    run = deploy(sandbox, cluster, "--resume", "continue")
    assert run.code == 17, run.stderr
    assert "ROLLING strategy" in said(run)
    assert run.mutating_calls == []


def test_a_deploy_superseded_by_another_is_never_rolled_back(sandbox, cluster, minute):
    native(sandbox, cluster, bake=600)
    first = start_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2", "-t", "30", "--enable-rollback"
    )
    first.wait_for_call(sandbox, "DescribeServiceDeployments", nth=3)
    second = deploy(sandbox, cluster, "-i", "nginx:3", "--wait-until", "traffic-shifted")
    assert second.code == 0, second.stderr
    run = first.finish(sandbox)
    assert run.code == 1, run.stderr
    assert "superseded by service deployment" in said(run)
    assert "StopServiceDeployment" not in run.calls
    assert "ContinueServiceDeployment" not in run.calls


def test_sigterm_with_enable_rollback_rolls_the_native_deployment_back(sandbox, cluster, minute):
    native(sandbox, cluster, bake=600)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:2", "-t", "30", "--enable-rollback"
    )
    started.wait_for_call(sandbox, "DescribeServiceDeployments", nth=2)
    started.signal(signal.SIGTERM)
    run = started.finish(sandbox)
    assert run.code == 143, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "UpdateService", "StopServiceDeployment"]


def test_overrides_are_merged_into_the_deployment_configuration(sandbox, cluster, minute):
    native(sandbox, cluster)
    run = deploy(
        sandbox,
        cluster,
        "-i",
        "nginx:2",
        "--strategy",
        "canary",
        "--canary-percent",
        "20",
        "--canary-bake-time",
        "3",  # 0.3 s at 20%: long enough for the polls to see it beside other workers
        "--bake-time",
        "2",
    )
    assert run.code == 0, run.stderr
    assert "CANARY deploy" in said(run)
    assert "production 20%" in said(run)
    conf = service_conf(sandbox, cluster)
    assert conf["strategy"] == "CANARY"
    assert conf["bakeTimeInMinutes"] == 2
    assert conf["canaryConfiguration"] == {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 3}
    assert conf["deploymentCircuitBreaker"] == BREAKER["deploymentCircuitBreaker"]  # kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--canary-percent", "20"), "--canary-percent applies to --strategy canary"),
        (("--linear-step-bake-time", "2"), "--linear-step-bake-time applies to --strategy linear"),
        (("--strategy", "rolling", "--bake-time", "3"), "--bake-time applies to"),
        (("--strategy", "canary", "--canary-percent", "0.05"), "0.1<=x<=100"),
        (("--strategy", "canary", "--canary-percent", "12.34"), "not a multiple of 0.1"),
        (("--strategy", "linear", "--linear-step-percent", "2.5"), "3.0<=x<=100"),
        (("--bake-time", "1441"), "0<=x<=1440"),
        (("--canary-bake-time", "-1"), "0<=x<=1440"),
        (("--strategy", "blue_green"), "'blue_green' is not one of"),
        (("--on-pause", "approve"), "'approve' is not one of"),
        (("--resume", "continue"), "drop -i/--image"),
        (("--wait-until", "baked"), "'baked' is not one of"),
    ],
)
def test_bad_strategy_options_exit_3_and_change_nothing(sandbox, cluster, args, message):
    native(sandbox, cluster)
    run = deploy(sandbox, cluster, "-i", "nginx:2", *args)
    assert run.code == 3, run.stderr
    assert message in said(run)
    assert len([line for line in said(run).splitlines() if line.startswith("ERROR")]) == 1
    assert run.mutating_calls == []


def test_strategy_options_need_a_service(sandbox, cluster):
    seed(sandbox, cluster)
    run = run_cli(sandbox, "-d", f"{cluster}-web", "-i", "nginx:2", "--strategy", "canary")
    assert run.code == 3, run.stderr
    assert "--strategy acts on a service" in said(run)
    assert run.mutating_calls == []


@pytest.mark.parametrize(
    ("args", "hooks", "operation", "code", "deadline"),
    [
        (("-t", "10", "--enable-rollback"), [], "StopServiceDeployment", 21, IN_BAKE),
        (("-t", "10", "--enable-rollback"), [pause()], "ContinueServiceDeployment", 21, AT_PAUSE),
        (("--on-pause", "continue"), [pause()], "ContinueServiceDeployment", 0, {}),
    ],
    ids=["stop", "continue-rollback", "continue"],
)
def test_a_lost_answer_to_stop_or_continue_is_checked_not_misreported(
    sandbox, cluster, minute, args, hooks, operation, code, deadline
):
    native(sandbox, cluster, bake=600 if not hooks else 1, hooks=hooks)
    sandbox.scheduler.inject(operation, "drop", after=True)  # carried out, answer lost
    run = deploy(sandbox, cluster, "-i", "nginx:2", *args, **deadline)
    assert run.code == code, said(run)
    taken = f"{operation} reported an error" in said(run)
    assert taken or run.calls.count(operation) == 2
    assert "UpdateService" not in run.applied[2:]  # never a second update


def deny(sandbox, operation: str, count: int | None = None) -> None:
    sandbox.scheduler.inject(
        operation, "error", code="AccessDeniedException", message="not allowed", count=count,
        seconds=60 if count is None else None,
    )  # fmt: skip


def test_a_failed_answer_to_a_pause_still_rolls_back(sandbox, cluster, minute):
    """--on-pause continue whose ContinueServiceDeployment is denied (both tries): the
    deployment still waits, so --enable-rollback answers it with ROLLBACK."""
    native(sandbox, cluster, hooks=[pause()])
    deny(sandbox, "ContinueServiceDeployment", count=2)
    run = deploy(
        sandbox, cluster, "-i", "nginx:2", "--on-pause", "continue", "--enable-rollback",
        "-t", "10", "--output", "json",
    )  # fmt: skip
    assert run.code == 21, run.stderr
    data = summary(run)
    assert data["rollback"]["outcome"] == "rolled_back"
    assert data["rollback"]["requested_with"] == "ContinueServiceDeployment"
    assert "ContinueServiceDeployment CONTINUE for hook" in data["reason"]
    assert service_conf(sandbox, cluster)["taskDefinition"].endswith(":1")


def test_a_failed_answer_without_rollback_says_how_to_resume(sandbox, cluster, minute):
    native(sandbox, cluster, hooks=[pause()])
    deny(sandbox, "ContinueServiceDeployment")
    run = deploy(
        sandbox, cluster, "-i", "nginx:2", "--on-pause", "continue", "-t", "10", "--output", "json"
    )
    assert run.code == 16, run.stderr
    data = summary(run)
    assert data["paused_hook"]["target_type"] == "PAUSE"  # it still waits there
    assert data["resume_command"] == f"ecs-deploy -c {cluster} -n web --resume continue"
    assert "approve with" in data["reason"]


def test_a_rollback_puts_the_service_own_strategy_back(sandbox, cluster, minute):
    """--strategy canary on a ROLLING service, rolled back by ECS: the service is ROLLING
    again, not left CANARY."""
    seed(sandbox, cluster, deployment_configuration=BREAKER)
    sandbox.set_faults(fail_images=("*:broken",))
    run = deploy(
        sandbox, cluster, "-i", "nginx:broken", "--strategy", "canary", "--canary-percent", "20",
        "--canary-bake-time", "1", "-t", "20", "--output", "json",
    )  # fmt: skip
    assert run.code == 15, run.stderr
    conf = service_conf(sandbox, cluster)
    assert conf["strategy"] == "ROLLING"
    assert conf["taskDefinition"].endswith(":1")
    assert "Put the service's own deployment configuration back (strategy ROLLING)" in said(run)


def test_our_rollback_of_a_strategy_override_puts_blue_green_back(sandbox, cluster, minute):
    native(sandbox, cluster)  # BLUE_GREEN, with the circuit breaker
    # ECS's breaker would trip as --max-failed-tasks 1 decides (a race that
    # test_a_rollback_that_ecs_began_as_our_verdict_came_is_ecs_rollback settles): here it
    # holds off, so the rollback is ours
    sandbox.set_faults(fail_images=("*:broken",), circuit_breaker_threshold=1000)
    run = deploy(
        sandbox, cluster, "-i", "nginx:broken", "--strategy", "rolling", "--max-failed-tasks",
        "1", "--enable-rollback", "-t", "20", "--output", "json",
    )  # fmt: skip
    assert run.code == 21, run.stderr
    conf = service_conf(sandbox, cluster)
    assert conf["strategy"] == "BLUE_GREEN"
    assert conf["taskDefinition"].endswith(":1")


def test_ecs_rollback_as_our_verdict_came_also_puts_blue_green_back(sandbox, cluster, minute):
    """The race above, settled the other way: ECS's breaker goes back to web:1 as
    --max-failed-tasks decides. The run is ECS's rollback (15), and the service gets its own
    strategy back all the same."""
    native(sandbox, cluster)
    sandbox.set_faults(fail_images=("*:broken",), circuit_breaker_threshold=1000)
    sandbox.scheduler.inject("ListTasks", "hold")  # the verdict's look at the stopped tasks
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", *FAST, "-i", "nginx:broken", "--strategy",
        "rolling", "--max-failed-tasks", "1", "--enable-rollback", "--output", "json",
    )  # fmt: skip
    started.wait_for_call(sandbox, "ListTasks")
    sandbox.set_faults(circuit_breaker_threshold=1)
    wait_until(lambda: service_conf(sandbox, cluster)["taskDefinition"].endswith(":1"))
    sandbox.scheduler.release("ListTasks")
    run = started.finish(sandbox)
    assert run.code == 15, run.stdout + run.stderr
    assert summary(run)["outcome"] == "rolled_back_by_ecs"
    assert service_conf(sandbox, cluster)["strategy"] == "BLUE_GREEN"
    assert run.applied.count("UpdateService") == 2  # the deploy, then the strategy put back


def test_a_successful_strategy_override_stays_on_the_service(sandbox, cluster, minute):
    """Documented: --strategy is stored on the service by UpdateService, as ECS does."""
    seed(sandbox, cluster)
    run = deploy(sandbox, cluster, "-i", "nginx:2", "--strategy", "blue-green", "--bake-time", "1")
    assert run.code == 0, run.stderr
    assert service_conf(sandbox, cluster)["strategy"] == "BLUE_GREEN"
