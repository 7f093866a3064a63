"""The sandbox ECS behaves as ECS documents: rollover, faults, pagination, limits, throttling."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecsdeploy.sandbox import Sandbox
from ecsdeploy.sandbox.patches import SandboxIncompatibleError, check_compatible
from tests.conftest import retire


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def describe(ecs: Any, cluster: str, name: str = "web") -> dict[str, Any]:
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def new_revision(ecs: Any, cluster: str, image: str, **extra: Any) -> str:
    """Register a revision in the cluster's own family (families are account-wide)."""
    container = {"name": "web", "image": image, "memory": 128, **extra}
    return ecs.register_task_definition(family=f"{cluster}-web", containerDefinitions=[container])[
        "taskDefinition"
    ]["taskDefinitionArn"]


def update(ecs: Any, cluster: str) -> dict[str, Any]:
    return ecs.update_service(cluster=cluster, service="web", taskDefinition=f"{cluster}-web")[
        "service"
    ]


def test_moto_is_the_version_the_patches_were_written_for():
    check_compatible()  # raises SandboxIncompatibleError after an incompatible upgrade


def test_incompatible_moto_fails_loudly(monkeypatch):
    import moto

    monkeypatch.setattr(moto, "__version__", "6.0.0")
    with pytest.raises(SandboxIncompatibleError, match=r"moto 6\.0\.0 is installed"):
        check_compatible()


def test_update_creates_primary_deployment_synchronously(sandbox, cluster):
    svc = sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=2)
    ecs = sandbox.client()
    arn = new_revision(ecs, cluster, "nginx:2")
    updated = update(ecs, cluster)
    assert updated["taskDefinition"] == arn  # a full ARN, not the string passed
    primary, old = updated["deployments"]
    assert (primary["status"], primary["taskDefinition"], primary["rolloutState"]) == (
        "PRIMARY",
        arn,
        "IN_PROGRESS",
    )
    assert (old["status"], old["id"]) == ("ACTIVE", svc["deployments"][0]["id"])
    # the very next poll sees the new deployment, never a stale "done"
    assert describe(ecs, cluster)["deployments"][0]["id"] == primary["id"]


def test_rollover_honours_minimum_healthy_and_maximum_percent(sandbox, cluster):
    sandbox.seed_service(
        cluster,
        "web",
        family=f"{cluster}-web",
        desired_count=4,
        deployment_configuration={"minimumHealthyPercent": 50, "maximumPercent": 100},
    )
    ecs = sandbox.client()
    new_revision(ecs, cluster, "nginx:2")
    dep_id = update(ecs, cluster)["deployments"][0]["id"]
    samples = []

    def done() -> bool:
        s = describe(ecs, cluster)
        running = sum(d["runningCount"] for d in s["deployments"])
        total = running + sum(d["pendingCount"] for d in s["deployments"])
        samples.append((running, total))
        return len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED"

    wait_for(done)
    assert all(running >= 2 for running, _ in samples)  # 50% of 4
    assert all(total <= 4 for _, total in samples)  # 100% of 4
    final = describe(ecs, cluster)
    assert final["deployments"][0]["id"] == dep_id
    assert final["runningCount"] == 4
    assert "has reached a steady state" in final["events"][0]["message"]
    stopped = ecs.list_tasks(cluster=cluster, serviceName="web", desiredStatus="STOPPED")[
        "taskArns"
    ]
    reasons = {
        t["stoppedReason"] for t in ecs.describe_tasks(cluster=cluster, tasks=stopped)["tasks"]
    }
    assert reasons == {
        f"Scaling activity initiated by (deployment {svc_dep})"
        for svc_dep in {
            t["startedBy"] for t in ecs.describe_tasks(cluster=cluster, tasks=stopped)["tasks"]
        }
    }


def test_service_tasks_are_marked_and_listed_by_service(sandbox, cluster):
    svc = sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=3)
    sandbox.seed_service(cluster, "api", family=f"{cluster}-api", desired_count=2)
    ecs = sandbox.client()
    arns = ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    assert len(tasks) == 3
    assert {t["group"] for t in tasks} == {"service:web"}
    assert {t["startedBy"] for t in tasks} == {svc["deployments"][0]["id"]}
    assert {t["lastStatus"] for t in tasks} == {"RUNNING"}


def test_list_tasks_paginates_by_100_and_describe_refuses_over_100(sandbox, cluster):
    sandbox.seed_service(cluster, "big", family=f"{cluster}-big", desired_count=250, timeout=60)
    ecs = sandbox.client()
    first = ecs.list_tasks(cluster=cluster, serviceName="big")
    assert len(first["taskArns"]) == 100
    assert "nextToken" in first
    pages = list(ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName="big"))
    assert [len(p["taskArns"]) for p in pages] == [100, 100, 50]
    every = [a for p in pages for a in p["taskArns"]]
    assert len(set(every)) == 250
    with pytest.raises(ClientError) as info:
        ecs.describe_tasks(cluster=cluster, tasks=every[:101])
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
    assert len(ecs.describe_tasks(cluster=cluster, tasks=every[:100])["tasks"]) == 100
    retire(sandbox, cluster, "big")


def test_describe_tasks_does_not_advance_tasks(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=1)
    ecs = sandbox.client()
    arn = ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"][0]
    for _ in range(5):
        assert (
            ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING"
        )


def test_fail_start_fault(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=2)
    sandbox.set_faults("web", fail_start=True)
    ecs = sandbox.client()
    new_revision(ecs, cluster, "nginx:2")
    update(ecs, cluster)
    wait_for(lambda: describe(ecs, cluster)["deployments"][0]["failedTasks"] >= 2)
    stopped = ecs.list_tasks(cluster=cluster, serviceName="web", desiredStatus="STOPPED")[
        "taskArns"
    ]
    task = ecs.describe_tasks(cluster=cluster, tasks=stopped[:1])["tasks"][0]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError:")
    # the old deployment keeps serving: minimum healthy 100%
    assert describe(ecs, cluster)["deployments"][1]["runningCount"] == 2


def test_fail_images_fault_matches_by_glob(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=1)
    sandbox.set_faults(fail_images=("*:broken",))
    ecs = sandbox.client()
    new_revision(ecs, cluster, "nginx:broken")
    update(ecs, cluster)
    wait_for(lambda: describe(ecs, cluster)["deployments"][0]["failedTasks"] >= 1)


def test_unhealthy_fault_stops_tasks_that_never_become_healthy(sandbox, cluster):
    check = {"healthCheck": {"command": ["CMD-SHELL", "true"]}}
    sandbox.seed_service(
        cluster, "web", family=f"{cluster}-web", desired_count=1, health_check=True
    )
    sandbox.set_faults("web", unhealthy=True)
    ecs = sandbox.client()
    new_revision(ecs, cluster, "nginx:2", **check)
    update(ecs, cluster)
    wait_for(lambda: describe(ecs, cluster)["deployments"][0]["failedTasks"] >= 1)
    stopped = ecs.list_tasks(cluster=cluster, serviceName="web", desiredStatus="STOPPED")[
        "taskArns"
    ]
    task = ecs.describe_tasks(cluster=cluster, tasks=stopped[:1])["tasks"][0]
    assert task["stoppedReason"] == "Task failed container health checks"
    assert task["healthStatus"] == "UNHEALTHY"


def test_healthy_tasks_report_healthy(sandbox, cluster):
    sandbox.seed_service(
        cluster, "web", family=f"{cluster}-web", desired_count=1, health_check=True
    )
    ecs = sandbox.client()
    arn = ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"][0]
    assert ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]["healthStatus"] == "HEALTHY"


def test_stall_fault_keeps_tasks_pending(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=2)
    sandbox.set_faults("web", stall=True)
    ecs = sandbox.client()
    new_revision(ecs, cluster, "nginx:2")
    update(ecs, cluster)
    wait_for(lambda: describe(ecs, cluster)["deployments"][0]["pendingCount"] == 2)
    steps = sandbox.scheduler.steps
    wait_for(lambda: sandbox.scheduler.steps >= steps + 10)  # steps, not seconds, pass
    primary = describe(ecs, cluster)["deployments"][0]
    assert (primary["runningCount"], primary["rolloutState"]) == (0, "IN_PROGRESS")


@pytest.mark.parametrize("rollback", [True, False])
def test_circuit_breaker(sandbox, cluster, rollback):
    sandbox.seed_service(
        cluster,
        "web",
        family=f"{cluster}-web",
        desired_count=2,
        deployment_configuration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": rollback}
        },
    )
    sandbox.set_faults("web", fail_start=True)
    ecs = sandbox.client()
    new_revision(ecs, cluster, "nginx:2")
    dep_id = update(ecs, cluster)["deployments"][0]["id"]
    # A failed deployment with no task left is dropped from `deployments` within a step or
    # two, so the outcome is read where it lasts: the timeline and the service deployment.
    wait_for(lambda: "failed" in sandbox.scheduler.timeline.get(dep_id, {}))
    arn = records(ecs, cluster)[0]["serviceDeploymentArn"]
    record = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
    # ECS's threshold: half the desired count, at least 3
    assert record["deploymentCircuitBreaker"]["failureCount"] >= 3
    assert record["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    primary = describe(ecs, cluster)["deployments"][0]
    if rollback:
        assert "circuit breaker" in record["rollback"]["reason"]
        assert primary["id"] != dep_id
        assert primary["taskDefinition"].endswith(f"{cluster}-web:1")
        ours = [d for d in describe(ecs, cluster)["deployments"] if d["id"] == dep_id]
        assert all(d["status"] == "ACTIVE" and d["rolloutState"] == "FAILED" for d in ours)
    else:
        assert primary["id"] == dep_id
        assert primary["rolloutState"] == "FAILED"
        assert "circuit breaker" in primary["rolloutStateReason"]
        assert primary["failedTasks"] >= 3


def test_run_task_carries_one_off_tasks_to_stopped_with_exit_codes(sandbox, cluster):
    ecs = sandbox.client()
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family="job",
        memory="512",
        cpu="256",
        containerDefinitions=[
            {"name": "main", "image": "job:1"},
            {"name": "side", "image": "side:1", "essential": False},
        ],
    )
    sandbox.set_faults(exit_codes=(("main", 3),))
    arn = ecs.run_task(cluster=cluster, taskDefinition="job")["tasks"][0]["taskArn"]
    task = wait_for(
        lambda: next(
            (
                t
                for t in ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"]
                if t["lastStatus"] == "STOPPED"
            ),
            None,
        )
    )
    assert {c["name"]: c["exitCode"] for c in task["containers"]} == {"main": 3, "side": 0}
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["group"] == "family:job"


def test_throttling_answers_the_next_n_calls_and_logs_them(sandbox, cluster):
    from botocore.config import Config

    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=1)
    raw = sandbox.client(config=Config(retries={"total_max_attempts": 1}))
    sandbox.scheduler.throttle("DescribeServices", 2)
    before = len(sandbox.requests)
    codes = []
    for _ in range(3):
        try:
            raw.describe_services(cluster=cluster, services=["web"])
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert codes == ["ThrottlingException", "ThrottlingException", "ok"]
    assert sandbox.requests[before:] == ["DescribeServices"] * 3


def test_a_lasting_fault_ends_when_the_test_lifts_it(sandbox, cluster):
    """`lift`: a fault that lasts until an event the test waited for, not for seconds."""
    from botocore.config import Config

    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=1)
    raw = sandbox.client(config=Config(retries={"total_max_attempts": 1}))
    sandbox.scheduler.inject(
        "DescribeServices", "error", code="ThrottlingException", count=None, seconds=60
    )
    codes = []
    for lifted in (False, False, True):
        if lifted:
            sandbox.scheduler.lift("DescribeServices")
        try:
            raw.describe_services(cluster=cluster, services=["web"])
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert codes == ["ThrottlingException", "ThrottlingException", "ok"]
    assert "DescribeServices" not in sandbox.scheduler.injected


def test_control_endpoint_sets_faults_and_reads_log(sandbox, cluster):
    def post(path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            f"{sandbox.endpoint}/_sandbox/{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    post("faults", {"service": "web", "fail_images": ["x:*"]})
    assert sandbox.scheduler.faults_for("web").fail_images == ("x:*",)
    post("throttle", {"operation": "ListClusters", "count": 1})
    assert sandbox.scheduler.injected["ListClusters"].count == 1
    log = post("requests", {})
    assert isinstance(log, list)


def test_sandbox_refuses_non_loopback_host():
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")  # noqa: S104 - the point of the test


def test_list_task_definitions_sorts_and_paginates_as_ecs(sandbox, cluster):
    ecs = sandbox.client()
    for _ in range(3):
        new_revision(ecs, cluster, "nginx:1")
    family = f"{cluster}-web"
    asc = ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
    desc = ecs.list_task_definitions(familyPrefix=family, sort="DESC")["taskDefinitionArns"]
    assert [a.rsplit(":", 1)[-1] for a in asc] == ["1", "2", "3"]
    assert desc == asc[::-1]
    first = ecs.list_task_definitions(familyPrefix=family, maxResults=2)
    assert len(first["taskDefinitionArns"]) == 2
    rest = ecs.list_task_definitions(
        familyPrefix=family, maxResults=2, nextToken=first["nextToken"]
    )
    assert first["taskDefinitionArns"] + rest["taskDefinitionArns"] == asc


def test_request_log_names_query_protocol_calls(sandbox):
    before = len(sandbox.requests)
    sandbox.client("sts").get_caller_identity()
    assert sandbox.requests[before:] == ["GetCallerIdentity"]


def test_started_by_must_be_the_only_filter(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=1)
    ecs = sandbox.client()
    with pytest.raises(ClientError, match="startedBy must be the only filter"):
        ecs.list_tasks(cluster=cluster, serviceName="web", startedBy="ecs-svc/1")
    dep_id = describe(ecs, cluster)["deployments"][0]["id"]
    assert len(ecs.list_tasks(cluster=cluster, startedBy=dep_id)["taskArns"]) == 1


def test_update_with_unknown_task_definition_changes_nothing(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=2)
    ecs = sandbox.client()
    with pytest.raises(ClientError):
        ecs.update_service(cluster=cluster, service="web", taskDefinition="nope:9", desiredCount=5)
    svc = describe(ecs, cluster)
    assert (svc["desiredCount"], len(svc["deployments"])) == (2, 1)


# -- service deployments (ECS's records of each deployment) ----------------------------------


def records(ecs: Any, cluster: str, **filters: Any) -> list[dict[str, Any]]:
    return ecs.list_service_deployments(cluster=cluster, service="web", **filters)[
        "serviceDeployments"
    ]


def test_rolling_deployments_get_service_deployment_records(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=1)
    ecs = sandbox.client()
    first = records(ecs, cluster)
    assert [r["status"] for r in first] == ["SUCCESSFUL"]  # CreateService's deployment
    new_revision(ecs, cluster, "nginx:2")
    sandbox.set_faults("web", stall=True)  # still in progress when read, however slow the runner
    update(ecs, cluster)
    newest = records(ecs, cluster)[0]
    assert newest["status"] in ("PENDING", "IN_PROGRESS")
    assert describe(ecs, cluster)["currentServiceDeployment"] == newest["serviceDeploymentArn"]
    sandbox.set_faults("web", stall=False)
    wait_for(lambda: records(ecs, cluster)[0]["status"] == "SUCCESSFUL")
    arn = newest["serviceDeploymentArn"]
    assert f":service-deployment/{cluster}/web/" in arn
    detail = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
    assert detail["sourceServiceRevisions"][0]["arn"] == first[0]["targetServiceRevisionArn"]
    assert detail["targetServiceRevision"]["runningTaskCount"] == 1
    assert detail["startedAt"] <= detail["finishedAt"]
    revision = ecs.describe_service_revisions(
        serviceRevisionArns=[detail["targetServiceRevision"]["arn"]]
    )["serviceRevisions"][0]
    assert revision["taskDefinition"].endswith(f"{cluster}-web:2")


def test_a_new_deployment_stops_the_one_in_progress(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=1)
    sandbox.set_faults("web", stall=True)
    ecs = sandbox.client()
    new_revision(ecs, cluster, "nginx:2")
    update(ecs, cluster)
    new_revision(ecs, cluster, "nginx:3")
    update(ecs, cluster)
    statuses = [r["status"] for r in records(ecs, cluster)]
    assert statuses[1:] == ["STOPPED", "SUCCESSFUL"]
    assert records(ecs, cluster, status=["STOPPED"])[0]["statusReason"].startswith(
        "Service deployment stopped"
    )


def test_a_circuit_breaker_rollback_is_recorded_in_the_same_service_deployment(sandbox, cluster):
    sandbox.seed_service(
        cluster,
        "web",
        family=f"{cluster}-web",
        desired_count=2,
        deployment_configuration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    ecs = sandbox.client()
    sandbox.set_faults("web", fail_start=True)
    new_revision(ecs, cluster, "nginx:2")
    update(ecs, cluster)
    wait_for(lambda: records(ecs, cluster)[0]["status"] == "ROLLBACK_IN_PROGRESS")
    sandbox.set_faults("web", fail_start=False)  # the rollback itself can start its tasks
    wait_for(lambda: records(ecs, cluster)[0]["status"] == "ROLLBACK_SUCCESSFUL")
    arn = records(ecs, cluster)[0]["serviceDeploymentArn"]
    detail = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
    assert "circuit breaker" in detail["rollback"]["reason"]
    assert detail["rollback"]["serviceRevisionArn"] == detail["sourceServiceRevisions"][0]["arn"]
    assert detail["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert detail["deploymentCircuitBreaker"]["failureCount"] >= 3
    assert len(records(ecs, cluster)) == 2  # the rollback made no record of its own


def test_service_deployment_listing_pages_and_describe_limits(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=0)
    ecs = sandbox.client()
    for _ in range(3):
        ecs.update_service(cluster=cluster, service="web", forceNewDeployment=True)
    page = ecs.list_service_deployments(cluster=cluster, service="web", maxResults=2)
    assert len(page["serviceDeployments"]) == 2
    rest = ecs.list_service_deployments(
        cluster=cluster, service="web", maxResults=2, nextToken=page["nextToken"]
    )
    assert len(rest["serviceDeployments"]) == 2
    assert "nextToken" not in rest
    found = ecs.describe_service_deployments(serviceDeploymentArns=["arn:missing"])
    assert found["failures"] == [{"arn": "arn:missing", "reason": "MISSING"}]
    with pytest.raises(ClientError, match="between 1 and 20"):
        ecs.describe_service_deployments(serviceDeploymentArns=[f"arn:{i}" for i in range(21)])


# -- native strategies: blue/green, canary, linear ------------------------------------------

STAGES = [
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
]
BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}


def follow(ecs: Any, cluster: str, until: tuple[str, ...]) -> list[dict[str, Any]]:
    """Poll our service deployment, keeping each distinct (status, stage, weight, blue)."""
    arn = describe(ecs, cluster)["currentServiceDeployment"]
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        record = ecs.describe_service_deployments(serviceDeploymentArns=[arn])[
            "serviceDeployments"
        ][0]
        blue = sum(d["runningCount"] for d in describe(ecs, cluster)["deployments"][1:])
        view = {
            "status": record["status"],
            "stage": record.get("lifecycleStage"),
            "weight": record["targetServiceRevision"].get("requestedProductionTrafficWeight"),
            "blue": blue,
            "at": time.monotonic(),
            "record": record,
        }
        if not seen or any(seen[-1][k] != view[k] for k in ("status", "stage", "weight")):
            seen.append(view)
        if record["status"] in until:
            return seen
        time.sleep(0.01)
    raise AssertionError(f"never reached {until}: {[(v['status'], v['stage']) for v in seen]}")


@pytest.mark.parametrize(
    ("strategy", "extra", "weights"),
    [
        ("BLUE_GREEN", {}, [0.0, 100.0]),
        (
            "CANARY",
            {"canaryConfiguration": {"canaryPercent": 10, "canaryBakeTimeInMinutes": 1}},
            [0.0, 10.0, 100.0],
        ),
        (
            "LINEAR",
            {"linearConfiguration": {"stepPercent": 25, "stepBakeTimeInMinutes": 1}},
            [0.0, 25.0, 50.0, 75.0, 100.0],
        ),
    ],
)
def test_native_strategies_walk_ecs_stages_and_keep_blue_through_the_bake(
    sandbox, cluster, monkeypatch, strategy, extra, weights
):
    # steps of 0.4 s: a follower polling beside three other test workers sees every one
    monkeypatch.setattr(sandbox.scheduler, "minute", 0.4)
    conf = {"strategy": strategy, "bakeTimeInMinutes": 2, **BREAKER, **extra}
    sandbox.seed_service(
        cluster, "web", family=f"{cluster}-web", desired_count=2, deployment_configuration=conf
    )
    ecs = sandbox.client()
    new_revision(ecs, cluster, "nginx:2")
    update(ecs, cluster)
    seen = follow(ecs, cluster, ("SUCCESSFUL",))
    # what the record went through, as the sandbox kept it: a stage that lasts one step on a
    # loaded machine is passed whether or not the follower's poll happened to see it
    history = sandbox.scheduler.service_deployments[seen[-1]["record"]["serviceDeploymentArn"]][
        "_history"
    ]
    stages = [h["stage"] for h in history]
    order = [STAGES.index(stage) for stage in stages]
    assert order == sorted(order)  # in ECS's order, never back
    assert stages[0] == "PRE_SCALE_UP"
    assert set(STAGES) <= set(stages)  # every stage, in turn
    assert {v["stage"] for v in seen} <= set(stages)  # the follower saw nothing else
    assert sorted({h["production"] for h in history}) == weights
    # blue keeps running through the bake (whenever the follower looked during it)
    assert all(v["blue"] == 2 for v in seen if v["stage"] == "BAKE_TIME")
    baked = next(h["at"] for h in history if h["stage"] == "CLEAN_UP") - next(
        h["at"] for h in history if h["stage"] == "BAKE_TIME"
    )
    assert baked >= 2 * 0.4  # bakeTimeInMinutes x the minute, as the sandbox timed it
    source = seen[-1]["record"]["sourceServiceRevisions"][0]
    assert source["requestedProductionTrafficWeight"] == 0.0
    final = describe(ecs, cluster)
    assert [d["taskDefinition"] for d in final["deployments"]] == [f"{final['taskDefinition']}"]
    assert final["taskDefinition"].endswith(f"{cluster}-web:2")


@pytest.mark.parametrize(
    ("rollback_fails", "status"), [(False, "ROLLBACK_SUCCESSFUL"), (True, "ROLLBACK_FAILED")]
)
def test_native_rollback_on_failing_green_tasks(sandbox, cluster, rollback_fails, status):
    sandbox.seed_service(
        cluster,
        "web",
        family=f"{cluster}-web",
        desired_count=2,
        deployment_configuration={"strategy": "BLUE_GREEN", **BREAKER},
    )
    ecs = sandbox.client()
    sandbox.set_faults("web", fail_images=("*:broken",), rollback_fails=rollback_fails)
    new_revision(ecs, cluster, "nginx:broken")
    update(ecs, cluster)
    seen = follow(ecs, cluster, ("ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"))
    record = seen[-1]["record"]
    assert record["status"] == status
    assert "circuit breaker" in record["rollback"]["reason"]
    final = describe(ecs, cluster)
    assert final["taskDefinition"].endswith(f"{cluster}-web:1")  # blue serves again
    assert final["deployments"][0]["runningCount"] == 2


PAUSE = {
    "targetType": "PAUSE",
    "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
    "timeoutConfiguration": {"timeoutInMinutes": 5, "action": "ROLLBACK"},
}
LAMBDA = {
    "targetType": "AWS_LAMBDA",
    "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:function:check",
    "roleArn": "arn:aws:iam::123456789012:role/hooks",
    "lifecycleStages": ["PRE_SCALE_UP", "PRE_PRODUCTION_TRAFFIC_SHIFT"],
}


def answer_pause(action: str) -> Any:
    def act(ecs: Any, arn: str, record: dict[str, Any]) -> bool:
        for hook in record.get("lifecycleHookDetails", []):
            if hook["status"] == "AWAITING_ACTION":
                assert hook["expiresAt"] > record["createdAt"]
                assert hook["timeoutAction"] == "ROLLBACK"
                ecs.continue_service_deployment(
                    serviceDeploymentArn=arn, hookId=hook["hookId"], action=action
                )
                return True
        return False

    return act


def stop_while_baking(ecs: Any, arn: str, record: dict[str, Any]) -> bool:
    if record.get("lifecycleStage") != "BAKE_TIME":
        return False
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    return True


@pytest.mark.parametrize(
    ("hooks", "act", "verdicts", "status", "hook_status", "reason"),
    [
        ([PAUSE], answer_pause("CONTINUE"), (), "SUCCESSFUL", "SUCCEEDED", None),
        ([PAUSE], answer_pause("ROLLBACK"), (), "ROLLBACK_SUCCESSFUL", "FAILED", ": rollback"),
        ([PAUSE], None, (), "ROLLBACK_SUCCESSFUL", "TIMED_OUT", ": rollback"),
        (
            [{**PAUSE, "timeoutConfiguration": {"timeoutInMinutes": 2, "action": "CONTINUE"}}],
            None,
            (),
            "SUCCESSFUL",
            "TIMED_OUT",
            None,
        ),
        ([LAMBDA], None, (), "SUCCESSFUL", "SUCCEEDED", None),
        (
            [LAMBDA],
            None,
            (("PRE_PRODUCTION_TRAFFIC_SHIFT", "FAILED"),),
            "ROLLBACK_SUCCESSFUL",
            "FAILED",
            "failed at PRE_PRODUCTION_TRAFFIC_SHIFT",
        ),
        ([], stop_while_baking, (), "ROLLBACK_SUCCESSFUL", None, "StopServiceDeployment"),
    ],
    ids=[
        "pause-continued",
        "pause-rolled-back",
        "pause-timeout-rollback",
        "pause-timeout-continue",
        "lambda-succeeds",
        "lambda-fails",
        "stopped-while-baking",
    ],
)
def test_lifecycle_hooks_and_stop_continue(
    sandbox, cluster, monkeypatch, hooks, act, verdicts, status, hook_status, reason
):
    monkeypatch.setattr(sandbox.scheduler, "minute", 0.2)
    conf = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1, "lifecycleHooks": hooks}
    sandbox.seed_service(
        cluster, "web", family=f"{cluster}-web", desired_count=1, deployment_configuration=conf
    )
    sandbox.set_faults("web", hook_verdicts=verdicts)
    ecs = sandbox.client()
    new_revision(ecs, cluster, "nginx:2")
    update(ecs, cluster)
    arn = describe(ecs, cluster)["currentServiceDeployment"]
    deadline, acted = time.monotonic() + 20, act is None
    while time.monotonic() < deadline:
        record = ecs.describe_service_deployments(serviceDeploymentArns=[arn])[
            "serviceDeployments"
        ][0]
        if not acted:
            acted = act(ecs, arn, record)
        if record["status"] in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"):
            break
        time.sleep(0.01)
    assert record["status"] == status
    if hook_status:
        assert record["lifecycleHookDetails"][-1]["status"] == hook_status
    if reason:
        assert reason in record["rollback"]["reason"]
    revision = 2 if status == "SUCCESSFUL" else 1
    assert describe(ecs, cluster)["taskDefinition"].endswith(f"{cluster}-web:{revision}")


def test_stop_and_continue_refuse_what_they_cannot_do(sandbox, cluster):
    sandbox.seed_service(cluster, "web", family=f"{cluster}-web", desired_count=1)
    ecs = sandbox.client()
    done = records(ecs, cluster)[0]["serviceDeploymentArn"]  # a finished rolling deployment
    with pytest.raises(ClientError, match="ServiceDeploymentNotFoundException"):
        ecs.stop_service_deployment(serviceDeploymentArn=done + "x")
    with pytest.raises(ClientError, match="ConflictException"):
        ecs.stop_service_deployment(serviceDeploymentArn=done)
    with pytest.raises(ClientError, match="UnsupportedFeatureException"):
        ecs.stop_service_deployment(serviceDeploymentArn=done, stopType="ABORT")
    with pytest.raises(ClientError, match="is not awaiting action"):
        ecs.continue_service_deployment(serviceDeploymentArn=done, hookId="nope")


def test_latency_is_added_to_every_aws_request_and_concurrent_requests_overlap(sandbox):
    """Each request takes at least the latency; four at once take about one latency, not
    four (the sleep is outside the sandbox's lock). `Sandbox(latency=...)` sets it from the
    start; here the session's sandbox gets it for one test (reset_faults puts it back)."""
    from concurrent.futures import ThreadPoolExecutor

    assert Sandbox(latency=0.4).latency == 0.4
    ecs = sandbox.client()
    clients = [sandbox.client() for _ in range(4)]
    for c in [ecs, *clients]:
        c.list_clusters()  # the connection and the model, outside the timings
    sandbox.latency = 0.4
    started = time.monotonic()
    ecs.list_clusters()
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda c: c.list_clusters(), clients))
    assert time.monotonic() - started < 4 * 0.4 * 0.75
    # the knobs answer at once; the latency is settable, and reset with the faults
    started = time.monotonic()
    urllib.request.urlopen(f"{sandbox.endpoint}/_sandbox/requests", timeout=5).read()
    assert time.monotonic() - started < 0.4
    arrived = [op for _, op in sandbox.arrivals[-6:]]
    assert arrived[-5:] == ["ListClusters"] * 5
    sandbox.reset_faults()
    assert sandbox.latency == 0
    started = time.monotonic()
    ecs.list_clusters()
    assert time.monotonic() - started < 0.4


def test_latency_control_endpoint_and_command_option(sandbox):
    req = urllib.request.Request(
        f"{sandbox.endpoint}/_sandbox/latency", data=b'{"seconds": 0.3}', method="POST"
    )
    urllib.request.urlopen(req, timeout=5).read()
    assert sandbox.latency == 0.3
    started = time.monotonic()
    sandbox.client().list_clusters()
    assert time.monotonic() - started >= 0.3
    sandbox.reset_faults()
    assert sandbox.latency == 0

    from click.testing import CliRunner

    from ecsdeploy.sandbox.cli import main

    help_text = CliRunner().invoke(main, ["--help"]).output
    assert "--latency SECONDS" in help_text


# -- the command: python -m ecsdeploy.sandbox, its ready line, its help ----------------------


def test_the_sandbox_says_on_one_line_when_it_is_ready(tmp_path):
    import subprocess
    import sys

    ready = tmp_path / "ready"
    with subprocess.Popen(
        [sys.executable, "-m", "ecsdeploy.sandbox", "--port", "0", "--ready-file", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # blocks until the sandbox serves (or exits)
            endpoint = ready.read_text().strip()
            assert line == f"ecs-deploy sandbox ready on {endpoint}\n"
            with urllib.request.urlopen(f"{endpoint}/_sandbox/requests", timeout=10) as answer:
                assert answer.status == 200  # it serves once it says so
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_the_help_lists_what_seed_demo_creates():
    from ecsdeploy.sandbox.cli import DEMO_SERVICES, main

    text = next(p for p in main.params if p.name == "seed_demo").help or ""
    names = [*DEMO_SERVICES, "api", "orders-api", "orders-worker", "orders-nightly", "web-cd"]
    for name in names:
        assert f"'{name}'" in text, name
    assert "seven services" in text
    assert len(names) - 1 == 7  # the rule is not a service
