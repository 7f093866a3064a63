"""Many services in one run, through the real command against the sandbox: success, partial
failure, --enable-rollback, --atomic, the JSON list, the exit codes, and the reads batched
ten services a DescribeServices call."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FAST, run_cli

BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def services(sandbox, cluster, count: int, breaker: bool = True) -> list[str]:
    names = [f"s{i:02d}" for i in range(count)]
    for name in names:
        sandbox.seed_service(
            cluster,
            name,
            desired_count=1,
            family=f"{cluster}-{name}",
            deployment_configuration=BREAKER if breaker else None,
        )
    return names


def release(sandbox, cluster, names, *args: str):
    run = run_cli(sandbox, "-c", cluster, "-n", ",".join(names), *FAST, *args, "--output", "json")
    return run, json.loads(run.stdout)


def revision(sandbox, cluster, name) -> int:
    svc = sandbox.client().describe_services(cluster=cluster, services=[name])["services"][0]
    return int(svc["taskDefinition"].rsplit(":", 1)[1])


def test_a_code_deploy_service_stops_the_whole_release_before_anything_is_written(sandbox, cluster):
    names = services(sandbox, cluster, 2)
    sandbox.seed_codedeploy_service(cluster, "cd", family=f"{cluster}-cd")
    run, data = release(sandbox, cluster, [*names, "cd"], "-i", "nginx:2")
    assert run.code == 19, run.stderr
    assert {s["service"]: s["exit_code"] for s in data["services"]} == {
        "s00": 19,
        "s01": 19,
        "cd": 19,
    }
    assert run.applied == []
    assert [revision(sandbox, cluster, n) for n in names] == [1, 1]
    assert "cd uses the CODE_DEPLOY controller, which a release does not deploy" in run.stderr
    assert "nothing was registered or run" in run.stderr


def test_a_release_of_twenty_services_reads_them_ten_a_call(sandbox, cluster):
    names = services(sandbox, cluster, 20)
    run, summary = release(sandbox, cluster, names, "-i", "nginx:2")
    assert run.code == 0, run.stderr
    assert summary["outcome"] == "succeeded"
    assert [s["service"] for s in summary["services"]] == names
    assert all(s["outcome"] == "succeeded" for s in summary["services"])
    assert run.applied.count("RegisterTaskDefinition") == 20
    assert run.applied.count("UpdateService") == 20
    # every read of the release is batched: at most 2 calls a round for 20 services
    reads = run.calls.count("DescribeServices")
    assert reads == summary["describe_services_calls"]
    assert summary["describe_services_calls"] <= 2 * summary["read_rounds"]
    # the first read of the 20 services is gathered too (not 20 calls; 2 when all arrive in
    # one window, a little more on a loaded machine)
    first = run.calls[: run.calls.index("DescribeTaskDefinition")]
    assert first.count("DescribeServices") <= 4
    assert all(revision(sandbox, cluster, n) == 2 for n in names)
    for name in names:  # each line says which service it is about
        assert f"[{name}] Service updated" in run.stderr
    assert "service  outcome" in run.stderr  # the table


def test_repeated_and_comma_separated_names(sandbox, cluster):
    names = services(sandbox, cluster, 3)
    run = run_cli(
        sandbox,
        "-c",
        cluster,
        "-n",
        names[0],
        "-n",
        f"{names[1]},{names[2]}",
        *FAST,
        "-i",
        "nginx:2",
    )
    assert run.code == 0, run.stderr
    assert all(revision(sandbox, cluster, n) == 2 for n in names)
    assert "was given more than once" not in run.stderr


def test_partial_failure_reports_each_service_and_the_common_code(sandbox, cluster):
    names = services(sandbox, cluster, 3)
    sandbox.set_faults(names[1], fail_images=("*:broken",))
    run, summary = release(sandbox, cluster, names, "-i", "nginx:broken", "-t", "30")
    assert run.code == 15, run.stderr  # the one failure's own code
    outcomes = {s["service"]: s["outcome"] for s in summary["services"]}
    assert outcomes == {
        names[0]: "succeeded",
        names[1]: "rolled_back_by_ecs",
        names[2]: "succeeded",
    }
    assert summary["exit_code"] == 15
    assert f"ERROR: {names[1]}: failed and was rolled back by ECS" in run.stderr
    assert [revision(sandbox, cluster, n) for n in names] == [2, 1, 2]


def test_failures_of_different_kinds_exit_1(sandbox, cluster):
    names = services(sandbox, cluster, 3)
    sandbox.set_faults(names[0], fail_images=("*:broken",))
    sandbox.set_faults(names[1], stall=True)
    run, summary = release(sandbox, cluster, names, "-i", "nginx:broken", "-t", "5")
    assert run.code == 1, run.stderr
    codes = sorted(s["exit_code"] for s in summary["services"])
    assert codes == [0, 1, 15]


def test_atomic_rolls_back_every_service_of_the_release(sandbox, cluster):
    names = services(sandbox, cluster, 3)
    sandbox.set_faults(names[1], fail_images=("*:broken",))
    run, summary = release(sandbox, cluster, names, "-i", "nginx:broken", "--atomic", "-t", "30")
    assert run.code == 1, run.stderr
    outcomes = {s["service"]: s["outcome"] for s in summary["services"]}
    assert outcomes[names[0]] == outcomes[names[2]] == "rolled_back"
    assert all(revision(sandbox, cluster, n) == 1 for n in names)  # shipped whole or not at all
    assert "--atomic: a service failed; rolling back 2 service(s)" in run.stderr
    assert run.applied.count("UpdateService") == 5  # 3 deploys + 2 rollbacks, nothing twice


def test_a_release_lists_every_warning_at_its_top_and_in_the_step_outputs(
    sandbox, cluster, tmp_path
):
    """Each service's warnings, prefixed with its service, and the release's own (--atomic's
    rollback), in the top-level `warnings` and the `warnings=` step output, as a single
    deploy's are."""
    names = services(sandbox, cluster, 2)
    sandbox.set_faults(names[1], fail_images=("*:broken",))
    gh = tmp_path / "gh"
    run = run_cli(
        sandbox, "-c", cluster, "-n", ",".join(names), *FAST, "-i", "nginx:broken", "--atomic",
        "-t", "30", "--output", "json", GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 1, run.stderr
    summary = json.loads(run.stdout)
    each = [f"{s['service']}: {w}" for s in summary["services"] for w in s["warnings"]]
    assert each  # (the failed service's stopped tasks, at least)
    own = "--atomic: a service failed; rolling back 1 service(s) of the release"
    assert summary["warnings"] == [own, *each]
    outputs = dict(line.split("=", 1) for line in gh.read_text().splitlines())
    assert json.loads(outputs["warnings"]) == summary["warnings"]


def test_enable_rollback_rolls_back_only_the_failed(sandbox, cluster):
    names = services(sandbox, cluster, 2, breaker=False)
    sandbox.set_faults(names[0], fail_images=("nginx:2",))
    run, summary = release(
        sandbox, cluster, names, "-i", "nginx:2", "--max-failed-tasks", "1", "--enable-rollback"
    )
    assert run.code == 21, run.stderr
    assert [s["exit_code"] for s in summary["services"]] == [21, 0]
    assert [revision(sandbox, cluster, n) for n in names] == [1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-n", "a", "--atomic", "-i", "x"), "--atomic rolls a release of several services back"),
        (("-n", "a,b", "--resume", "continue"), "--resume acts on one service"),
        (("-n", "a,b", "--revision", "a:1"), "--revision FAMILY:REV names one service's"),
    ],
)
def test_release_options_refused_before_any_call(sandbox, cluster, args, message):
    run = run_cli(sandbox, "-c", cluster, *args)
    assert run.code == 3, run.stderr
    assert message in run.stderr
    assert run.calls == []


def test_an_unknown_service_in_a_release_fails_alone(sandbox, cluster):
    names = services(sandbox, cluster, 2)
    run, summary = release(sandbox, cluster, [*names, "nosuch"], "-i", "nginx:2")
    assert run.code == 17, run.stderr
    assert [s["exit_code"] for s in summary["services"]] == [0, 0, 17]
    assert "nosuch not found" in run.stderr


def test_sigterm_stops_every_service_of_the_release_and_reports_each(sandbox, cluster):
    import signal

    from tests.conftest import start_cli

    names = services(sandbox, cluster, 3, breaker=False)
    for name in names:
        sandbox.set_faults(name, stall=True)
    started = start_cli(
        sandbox, "-c", cluster, "-n", ",".join(names), *FAST, "-i", "nginx:2", "--output", "json"
    )
    started.wait_for_call(sandbox, "DescribeServices", nth=4)  # all three are being watched
    started.signal(signal.SIGTERM)
    run = started.finish(sandbox)
    assert run.code == 143, run.stderr
    summary = json.loads(run.stdout)
    assert [s["outcome"] for s in summary["services"]] == ["interrupted"] * 3
    assert run.applied.count("UpdateService") == 3  # nothing after the signal


def test_a_dry_run_release_changes_nothing(sandbox, cluster):
    names = services(sandbox, cluster, 3)
    run, summary = release(sandbox, cluster, names, "-i", "nginx:2", "--dry-run")
    assert run.code == 0, run.stderr
    assert summary["outcome"] == "dry_run"
    assert run.mutating_calls == []
    assert all(revision(sandbox, cluster, n) == 1 for n in names)


def steady(sandbox, cluster, name: str, rev: int) -> bool:
    svc = sandbox.client().describe_services(cluster=cluster, services=[name])["services"][0]
    deployments = svc["deployments"]
    return (
        len(deployments) == 1
        and deployments[0].get("rolloutState") == "COMPLETED"
        and deployments[0]["taskDefinition"].endswith(f":{rev}")
    )


def wait_until(check, within: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the sandbox never got there"
        time.sleep(0.02)


def test_sigterm_in_an_atomic_release_exits_143_and_starts_no_release_rollback(sandbox, cluster):
    """Two services done, one still rolling out: the signal ends the release like a single
    deploy (the one still waiting rolls its own deployment back, as --enable-rollback does
    on a signal); the two that succeeded are not rolled back after the signal."""
    import signal

    from tests.conftest import start_cli

    names = services(sandbox, cluster, 3, breaker=False)
    sandbox.set_faults(names[1], stall=True)
    started = start_cli(
        sandbox, "-c", cluster, "-n", ",".join(names), *FAST, "-i", "nginx:2", "--atomic",
        "-t", "30", "--output", "json",
    )  # fmt: skip
    wait_until(lambda: all(steady(sandbox, cluster, n, 2) for n in (names[0], names[2])))
    polls = sandbox.requests[started.log_start :].count("DescribeServices")
    started.wait_for_call(sandbox, "DescribeServices", nth=polls + 3)  # and the tool saw it
    started.signal(signal.SIGTERM)
    sandbox.reset_faults()  # the interrupted service's own rollback can then finish
    run = started.finish(sandbox)
    assert run.code == 143, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "interrupted"
    outcomes = {s["service"]: s["outcome"] for s in summary["services"]}
    assert outcomes == {names[0]: "succeeded", names[1]: "interrupted", names[2]: "succeeded"}
    # 3 deploys, and only the rollback the interrupted service's own deploy owed
    assert run.applied.count("UpdateService") == 4
    assert "--atomic: a service failed" not in run.stderr
    assert [revision(sandbox, cluster, n) for n in names] == [2, 1, 2]


def test_a_second_signal_keeps_each_running_service_state(sandbox, cluster):
    """The first SIGTERM starts each service's own rollback (a new phase); a second one then
    interrupts those rollbacks as it would a single deploy's, and each service still says
    what it did: registered, updated, rollback started."""
    import signal

    from tests.conftest import start_cli

    names = services(sandbox, cluster, 2, breaker=False)
    for name in names:
        sandbox.set_faults(name, stall=True)
    started = start_cli(
        sandbox, "-c", cluster, "-n", ",".join(names), *FAST, "-i", "nginx:2",
        "--enable-rollback", "-t", "30", "--output", "json",
    )  # fmt: skip
    started.wait_for_call(sandbox, "UpdateService", nth=2)
    started.wait_for_call(sandbox, "DescribeServices", nth=4)
    started.signal(signal.SIGTERM)
    started.wait_for_call(sandbox, "UpdateService", nth=4)  # both rollbacks are under way
    started.signal(signal.SIGTERM)
    run = started.finish(sandbox)
    assert run.code == 143, run.stderr
    summary = json.loads(run.stdout)
    for service in summary["services"]:
        assert service["outcome"] == "interrupted", service
        assert "did not run" not in service["reason"]
        assert service["new_task_definition"].endswith(":2")
        assert service["rollback"]["outcome"] == "interrupted"
    assert run.applied.count("UpdateService") == 4


def test_an_abort_reports_where_each_service_stood(sandbox, cluster):
    """Two signals while the first is still pending (a held call): the release aborts, and
    each service's summary is its own state, not "the deploy did not run"."""
    import signal

    from tests.conftest import start_cli

    names = services(sandbox, cluster, 2, breaker=False)
    for name in names:
        sandbox.set_faults(name, stall=True)
    started = start_cli(
        sandbox, "-c", cluster, "-n", ",".join(names), *FAST, "-i", "nginx:2", "-t", "30",
        "--output", "json",
    )  # fmt: skip
    started.wait_for_call(sandbox, "UpdateService", nth=2)
    sandbox.scheduler.inject("DescribeServices", "hold", count=None, seconds=30)
    n = sandbox.requests[started.log_start :].count("DescribeServices")
    started.wait_for_call(sandbox, "DescribeServices", nth=n + 1)  # a poll is held
    started.signal(signal.SIGTERM)
    started.wait_delivered(signal.SIGTERM)  # two signals, not one merged by the kernel
    started.signal(signal.SIGTERM)
    run = started.finish(sandbox)
    sandbox.scheduler.release("DescribeServices")
    assert run.code == 143, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "aborted"
    outcomes = [service["outcome"] for service in summary["services"]]
    # The service whose poll is held is aborted; the other may have honoured the first
    # signal (between two polls) before the second came: interrupted, as it was.
    assert "aborted" in outcomes, outcomes
    for service in summary["services"]:
        assert service["outcome"] in ("aborted", "interrupted"), service
        assert "did not run" not in service["reason"]
        assert "goes on without us" in service["reason"]
        assert service["deployment_id"]
    assert run.applied.count("UpdateService") == 2


def test_atomic_refuses_on_pause_exit_before_any_call(sandbox, cluster):
    run = run_cli(
        sandbox, "-c", cluster, "-n", "a,b", "-i", "nginx:2", "--atomic", "--on-pause", "exit"
    )
    assert run.code == 3, run.stderr
    assert "--atomic cannot take --on-pause exit" in run.stderr
    assert run.calls == []


def test_a_failed_atomic_rollback_is_its_own_outcome_and_exit_22(sandbox, cluster):
    names = services(sandbox, cluster, 3)
    sandbox.set_faults(names[1], fail_images=("*:broken",))
    # the three deploys' UpdateService calls pass; every later one (the rollbacks) is denied
    sandbox.scheduler.inject(
        "UpdateService", "error", code="AccessDeniedException", message="no", skip=3,
        count=None, seconds=60,
    )  # fmt: skip
    run, summary = release(sandbox, cluster, names, "-i", "nginx:broken", "--atomic", "-t", "30")
    assert run.code == 22, run.stderr
    assert summary["outcome"] == "rollback_failed"
    by_name = {s["service"]: s for s in summary["services"]}
    for name in (names[0], names[2]):
        assert by_name[name]["outcome"] == "rollback_failed", by_name[name]
        assert by_name[name]["exit_code"] == 22
        assert "still runs" in by_name[name]["reason"]
        assert revision(sandbox, cluster, name) == 2
    assert by_name[names[1]]["outcome"] == "rolled_back_by_ecs"
    assert "need a person" in run.stderr


def test_a_release_over_one_family_keeps_each_services_previous_revision(sandbox, cluster):
    """api runs app:1, worker app:2 (one family): the release registers a revision for each,
    --max-definitions 1 prunes neither's previous one, and --revision previous puts each
    back on its own, not on the other's (nor on the other's new one)."""
    family = f"{cluster}-app"
    sandbox.seed_service(cluster, "api", desired_count=1, family=family)
    sandbox.seed_service(cluster, "worker", desired_count=1, family=family, image="nginx:w")
    run, _ = release(sandbox, cluster, ["api", "worker"], "-i", "nginx:2", "--max-definitions", "1")
    assert run.code == 0, run.stderr
    active = sandbox.client().list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
    assert [int(a.rsplit(":", 1)[1]) for a in active] == [1, 2, 3, 4]
    assert {revision(sandbox, cluster, n) for n in ("api", "worker")} == {3, 4}
    for name, before in (("api", 1), ("worker", 2)):
        back = run_cli(sandbox, "-c", cluster, "-n", name, "--revision", "previous", *FAST)
        assert back.code == 0, back.stderr
        assert revision(sandbox, cluster, name) == before


def test_an_atomic_release_with_a_service_that_fails_its_checks_writes_nothing(sandbox, cluster):
    """--atomic moves every service or none: cache has no container of the image's repository
    (14), so nothing is registered and no service moves (before: the others deployed, then
    were rolled back)."""
    names = services(sandbox, cluster, 2)
    sandbox.seed_service(cluster, "cache", desired_count=1, image="redis:7")
    run, summary = release(sandbox, cluster, [*names, "cache"], "-i", "nginx:2", "--atomic")
    assert run.code == 14, run.stderr
    assert run.mutating_calls == []
    by_name = {s["service"]: s for s in summary["services"]}
    assert "not deployed: cache failed its checks" in by_name[names[0]]["reason"]
    assert all(revision(sandbox, cluster, n) == 1 for n in names)


def test_a_release_looks_for_scheduled_tasks_once_per_cluster_not_per_service(sandbox, cluster):
    """ListRuleNamesByTarget and ListSchedules answer for the whole cluster: three services
    of three families in one cluster ask once each, and the one family's rule and schedule
    still move."""
    from tests.test_deploy_job import rule_and_schedule, scheduled_revisions

    names = services(sandbox, cluster, 3)
    rule_and_schedule(sandbox, cluster, f"{cluster}-s01:1")
    run, _ = release(sandbox, cluster, names, "-i", "nginx:2")
    assert run.code == 0, run.stderr
    assert run.calls.count("ListRuleNamesByTarget") == 1
    assert run.calls.count("ListTargetsByRule") == 1
    assert run.calls.count("GET /schedules") == 1
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-s01:2", f"{cluster}-s01:2")
