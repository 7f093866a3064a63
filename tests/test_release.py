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
