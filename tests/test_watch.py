"""The watcher against scripted snapshots and a fake clock: no real sleeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from ecsdeploy.models import Deployment, HookDetail, Service, ServiceDeployment, ServiceEvent, Task
from ecsdeploy.watch import (
    FINISHING_POLL,
    RAMP,
    Outcome,
    Target,
    WatchSettings,
    assess,
    assess_service_deployment,
    watch,
)

OLD, NEW = "arn:td/web:1", "arn:td/web:2"
TARGET = Target("c", "web", "new", OLD)


def dep(
    id_: str,
    status: str,
    td: str,
    desired: int = 2,
    running: int = 0,
    pending: int = 0,
    failed: int = 0,
    state: str | None = "IN_PROGRESS",
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id_,
        "status": status,
        "taskDefinition": td,
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": pending,
        "failedTasks": failed,
        "rolloutState": state,
        "rolloutStateReason": reason,
    }


def svc(
    *deployments: dict[str, Any], status: str = "ACTIVE", events: tuple[str, ...] = ()
) -> Service:
    return Service.from_api(
        {
            "serviceName": "web",
            "status": status,
            "taskDefinition": deployments[0]["taskDefinition"],
            "deployments": list(deployments),
            "events": [{"id": e, "message": f"message {e}"} for e in events],
        }
    )


SETTINGS = WatchSettings(deadline=100.0)


@pytest.mark.parametrize(
    ("service", "settings", "outcome", "reason"),
    [
        (
            svc(dep("new", "PRIMARY", NEW), dep("old", "ACTIVE", OLD, running=2)),
            SETTINGS,
            None,
            None,
        ),
        (
            svc(dep("new", "PRIMARY", NEW, running=2, state="COMPLETED")),
            SETTINGS,
            Outcome.SUCCEEDED,
            "2/2 tasks running",
        ),
        # all running but the old deployment is not gone yet: keep waiting
        (
            svc(dep("new", "PRIMARY", NEW, running=2), dep("old", "ACTIVE", OLD, running=1)),
            SETTINGS,
            None,
            None,
        ),
        # an INACTIVE deployment ("completely replaced") left in the list does not hold us up
        (
            svc(
                dep("new", "PRIMARY", NEW, running=2, state="COMPLETED"),
                dep("old", "INACTIVE", OLD, state="COMPLETED"),
            ),
            SETTINGS,
            Outcome.SUCCEEDED,
            None,
        ),
        # ECS reports no rolloutState: counts alone decide
        (svc(dep("new", "PRIMARY", NEW, running=2, state=None)), SETTINGS, Outcome.SUCCEEDED, None),
        (
            svc(dep("new", "PRIMARY", NEW, failed=3, state="FAILED", reason="circuit breaker")),
            SETTINGS,
            Outcome.FAILED,
            "rolloutState FAILED: circuit breaker",
        ),
        (
            svc(
                dep("rb", "PRIMARY", OLD),
                dep("new", "ACTIVE", NEW, state="FAILED", reason="tasks failed"),
            ),
            SETTINGS,
            Outcome.ROLLED_BACK_BY_ECS,
            "rolled back by ECS to web:1: tasks failed",
        ),
        (
            svc(dep("rb", "PRIMARY", OLD, running=2, state="COMPLETED")),
            SETTINGS,
            Outcome.ROLLED_BACK_BY_ECS,
            "rolled back by ECS to web:1",
        ),
        (
            svc(dep("other", "PRIMARY", "arn:td/web:3"), dep("new", "ACTIVE", NEW)),
            SETTINGS,
            Outcome.SUPERSEDED,
            "superseded by deployment other (revision web:3)",
        ),
        (
            svc(dep("new", "PRIMARY", NEW), status="DRAINING"),
            SETTINGS,
            Outcome.SERVICE_INACTIVE,
            "the service is DRAINING",
        ),
        (
            svc(dep("new", "PRIMARY", NEW, failed=2)),
            WatchSettings(100.0, max_failed_tasks=2),
            Outcome.FAILED,
            "--max-failed-tasks 2",
        ),
        (
            svc(dep("new", "PRIMARY", NEW, desired=0)),
            SETTINGS,
            Outcome.SUCCEEDED,
            "desired count is 0",
        ),
        (
            svc(dep("new", "PRIMARY", NEW, running=1), dep("old", "ACTIVE", OLD, running=2)),
            WatchSettings(100.0, skip_deployments_check=True),
            Outcome.SUCCEEDED,
            "running task",
        ),
    ],
)
def test_assess(service, settings, outcome, reason):
    verdict = assess(service, TARGET, settings)
    if outcome is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert verdict.outcome is outcome
        if reason:
            assert reason in verdict.reason


BREAKER_ON = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
FAILED_EVENT = "(service web) (deployment new) deployment failed: tasks failed to start."
BY_THE_BREAKER = (
    "rolled back by ECS to web:1, triggered by the deployment circuit breaker: "
    "tasks failed to start"
)


def rolled_back(*deployments: dict[str, Any], events: tuple[str, ...] = ()) -> Service:
    """A snapshot after ECS's circuit breaker put web:1 back (PRIMARY), with its events."""
    return Service.from_api(
        {
            "serviceName": "web",
            "status": "ACTIVE",
            "taskDefinition": OLD,
            "deployments": [dep("rb", "PRIMARY", OLD), *deployments],
            "events": [{"id": str(i), "message": m} for i, m in enumerate(events)],
            "deploymentConfiguration": BREAKER_ON,
        }
    )


FAILED_NEW = dep(
    "new", "ACTIVE", NEW, failed=3, state="FAILED",
    reason="ECS deployment circuit breaker: tasks failed to start.",
)  # fmt: skip


@pytest.mark.parametrize(
    ("service", "seen"),
    [
        (rolled_back(FAILED_NEW), None),  # the poll caught our deployment FAILED
        (rolled_back(events=(FAILED_EVENT,)), None),  # ECS dropped it: its event says why
        (rolled_back(), Deployment.from_api(FAILED_NEW)),  # an earlier poll saw it FAILED
    ],
)
def test_an_ecs_rollback_reads_the_same_whichever_poll_caught_it(service, seen):
    verdict = assess(service, TARGET, SETTINGS, seen=seen)
    assert verdict is not None
    assert verdict.outcome is Outcome.ROLLED_BACK_BY_ECS
    assert verdict.reason == BY_THE_BREAKER


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ((), "rolled back by ECS to web:1: the deployment was replaced"),
        (
            ("(service web) (deployment other) deployment failed: tasks failed to start.",),
            "rolled back by ECS to web:1: the deployment was replaced",  # not ours
        ),
        (
            ("(service web) (deployment new) deployment failed: alarm 5xx detected.",),
            "rolled back by ECS to web:1: deployment failed: alarm 5xx detected",
        ),
    ],
)
def test_an_ecs_rollback_names_only_what_ecs_said(events, reason):
    verdict = assess(rolled_back(events=events), TARGET, SETTINGS)
    assert verdict is not None
    assert verdict.reason == reason


def test_a_deployment_that_ecs_drops_is_shown_as_last_seen():
    """ECS lists our failed deployment no more once its rollback drained it: the status and
    the counts stay those last seen, never `new 0/0 ...; unknown`."""
    failing = svc(dep("new", "PRIMARY", NEW, failed=2), dep("old", "ACTIVE", OLD, running=2))
    gone = rolled_back(events=(FAILED_EVENT,))
    shown: list[Deployment | None] = []

    class Shown(Seen):
        def progress(self, service, deployment, elapsed, sd=None):  # type: ignore[no-untyped-def]
            shown.append(deployment)

    clock = FakeClock()
    result = watch(
        Script([failing, gone]), TARGET, SETTINGS, Shown(), clock=clock, sleep=clock.sleep
    )
    assert result.outcome is Outcome.ROLLED_BACK_BY_ECS
    assert result.reason == BY_THE_BREAKER
    assert [d.id if d else None for d in shown] == ["new", "new"]
    assert result.deployment is not None
    assert result.deployment.failed_tasks == 2


@dataclass
class FakeClock:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Script:
    """A gateway that serves one snapshot per poll and records the calls."""

    snapshots: list[Service]
    stopped: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    records: list[ServiceDeployment] = field(default_factory=list)

    def describe_service_deployment(self, arn: str) -> ServiceDeployment:
        self.calls.append("DescribeServiceDeployments")
        return self.records.pop(0) if len(self.records) > 1 else self.records[0]

    def describe_service(self, cluster: str, service: str) -> Service:
        self.calls.append("DescribeServices")
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]

    def list_tasks(self, cluster: str, **filters: str) -> list[str]:
        self.calls.append("ListTasks")
        return [t["taskArn"] for t in self.stopped]

    def describe_tasks(self, cluster: str, arns: list[str]) -> list[Task]:
        self.calls.append("DescribeTasks")
        return [Task.from_api(t) for t in self.stopped if t["taskArn"] in arns]


@dataclass
class Seen:
    events: list[ServiceEvent] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    progress_calls: int = 0

    stages: list[tuple[str, str | None]] = field(default_factory=list)
    pauses: list[str] = field(default_factory=list)

    def progress(
        self,
        service: Service,
        deployment: Deployment | None,
        elapsed: float,
        sd: ServiceDeployment | None = None,
    ) -> None:
        self.progress_calls += 1

    def stage_changed(self, sd: ServiceDeployment) -> None:
        self.stages.append((sd.status, sd.lifecycle_stage))

    def paused(self, sd: ServiceDeployment, hook: HookDetail) -> None:
        self.pauses.append(hook.hook_id)

    def service_event(self, event: ServiceEvent) -> None:
        self.events.append(event)

    def task_stopped(self, task: Task) -> None:
        self.tasks.append(task)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def test_steady_state_costs_one_call_per_poll_and_streams_new_events_once():
    rolling = svc(
        dep("new", "PRIMARY", NEW, running=1),
        dep("old", "ACTIVE", OLD, running=1),
        events=("e2", "e1"),
    )
    done = svc(dep("new", "PRIMARY", NEW, running=2, state="COMPLETED"), events=("e3", "e2", "e1"))
    gateway, seen, clock = Script([rolling, rolling, rolling, done]), Seen(), FakeClock()
    result = watch(
        gateway,
        TARGET,
        WatchSettings(deadline=60, poll_interval=2),
        seen,
        clock=clock,
        sleep=clock.sleep,
        seen_events=frozenset({"e1"}),
    )
    assert result.outcome is Outcome.SUCCEEDED
    assert gateway.calls == ["DescribeServices"] * 4
    assert [e.id for e in seen.events] == ["e2", "e3"]
    # the first waits ramp up from FIRST_POLL; never past the interval (+10% jitter)
    assert clock.sleeps[0] == pytest.approx(0.25, rel=0.11)
    assert all(s <= 2.2 for s in clock.sleeps)
    assert all(b >= a * 1.2 for a, b in zip(clock.sleeps, clock.sleeps[1:], strict=False))


def test_polls_come_sooner_once_the_rollout_is_about_to_finish():
    """All new tasks running, then no old task running: each sign restarts the ramp from
    FINISHING_POLL once, so the end is seen at once; a long wait on either costs no more."""
    halfway = svc(dep("new", "PRIMARY", NEW, running=1), dep("old", "ACTIVE", OLD, running=2))
    new_up = svc(dep("new", "PRIMARY", NEW, running=2), dep("old", "ACTIVE", OLD, running=2))
    old_gone = svc(dep("new", "PRIMARY", NEW, running=2), dep("old", "ACTIVE", OLD, running=0))
    done = svc(dep("new", "PRIMARY", NEW, running=2, state="COMPLETED"))
    script = [halfway] * 6 + [new_up] * 6 + [old_gone] * 6 + [done]
    polls = len(script)
    clock = FakeClock()
    result = watch(
        Script(script),
        TARGET,
        WatchSettings(deadline=120, poll_interval=2),
        Seen(),
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.outcome is Outcome.SUCCEEDED
    # polls 1-6 ramp toward the interval; poll 7 sees every new task running, poll 13 sees
    # the old ones gone: the wait after each restarts at FINISHING_POLL
    assert clock.sleeps[5] > 1.0
    assert clock.sleeps[6] == pytest.approx(FINISHING_POLL, rel=0.11)
    assert clock.sleeps[7] == pytest.approx(FINISHING_POLL * RAMP, rel=0.11)
    assert clock.sleeps[12] == pytest.approx(FINISHING_POLL, rel=0.11)
    assert len(clock.sleeps) == polls - 1  # still one DescribeServices a poll


def test_polls_settle_at_the_interval():
    rolling = svc(dep("new", "PRIMARY", NEW), dep("old", "ACTIVE", OLD, running=2))
    clock = FakeClock()
    watch(
        Script([rolling]),
        TARGET,
        WatchSettings(deadline=30, poll_interval=2),
        Seen(),
        clock=clock,
        sleep=clock.sleep,
    )
    assert all(1.8 <= s <= 2.2 for s in clock.sleeps[6:-1])


def test_deadline_is_not_overrun_by_more_than_one_interval():
    rolling = svc(dep("new", "PRIMARY", NEW), dep("old", "ACTIVE", OLD, running=2))
    clock = FakeClock()
    result = watch(
        Script([rolling]),
        TARGET,
        WatchSettings(deadline=10, poll_interval=3),
        Seen(),
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.outcome is Outcome.TIMED_OUT
    assert 10 <= clock.now <= 13
    assert "0/2 new tasks running" in result.reason


def test_stopped_tasks_of_our_deployment_are_explained():
    failing = svc(dep("new", "PRIMARY", NEW, failed=1), dep("old", "ACTIVE", OLD, running=2))
    gateway = Script(
        [failing],
        stopped=[
            {
                "taskArn": "arn:task/c/t1",
                "startedBy": "new",
                "lastStatus": "STOPPED",
                "stoppedReason": "CannotPullContainerError: nope",
                "stopCode": "TaskFailedToStart",
                "containers": [
                    {"name": "web", "exitCode": None, "reason": "CannotPullContainerError"}
                ],
            },
            {"taskArn": "arn:task/c/t0", "startedBy": "old", "lastStatus": "STOPPED"},
        ],
    )
    seen, clock = Seen(), FakeClock()
    result = watch(
        gateway,
        TARGET,
        WatchSettings(deadline=5, poll_interval=1, max_failed_tasks=1),
        seen,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.outcome is Outcome.FAILED
    assert [t.id for t in seen.tasks] == ["t1"]
    assert seen.tasks[0].stop_code == "TaskFailedToStart"


def test_interrupt_stops_waiting():
    rolling = svc(dep("new", "PRIMARY", NEW), dep("old", "ACTIVE", OLD, running=2))
    clock = FakeClock()
    flags = iter([False, False, True])
    result = watch(
        Script([rolling]),
        TARGET,
        WatchSettings(deadline=60),
        Seen(),
        clock=clock,
        sleep=clock.sleep,
        interrupted=lambda: next(flags),
    )
    assert result.outcome is Outcome.INTERRUPTED
    assert result.polls == 2


def test_tasks_that_vanish_without_counting_as_failed_are_explained():
    up = svc(dep("new", "PRIMARY", NEW, running=2), dep("old", "ACTIVE", OLD, running=1))
    down = svc(dep("new", "PRIMARY", NEW, running=1), dep("old", "ACTIVE", OLD, running=1))
    crashed = {
        "taskArn": "arn:task/c/t9",
        "startedBy": "new",
        "lastStatus": "STOPPED",
        "stoppedReason": "Essential container in task exited",
        "containers": [{"name": "web", "exitCode": 1}],
    }
    gateway = Script([up, down, down], stopped=[crashed])
    seen, clock = Seen(), FakeClock()
    watch(
        gateway,
        TARGET,
        WatchSettings(deadline=3, poll_interval=1),
        seen,
        clock=clock,
        sleep=clock.sleep,
    )
    assert [t.id for t in seen.tasks] == ["t9"]
    assert seen.tasks[0].containers[0].exit_code == 1
    assert gateway.calls[:3] == ["DescribeServices", "DescribeServices", "ListTasks"]


# -- native strategies: the service deployment is the source of truth ------------------------

SD_ARN = "arn:aws:ecs:us-east-1:1:service-deployment/c/web/sd1"
NATIVE = Target("c", "web", "new", OLD, SD_ARN)
BLUE_GREEN = svc(dep("new", "PRIMARY", NEW, running=2), dep("old", "ACTIVE", OLD, running=2))


def record(
    status: str = "IN_PROGRESS",
    stage: str | None = "SCALE_UP",
    production: float = 0.0,
    hooks: tuple[dict[str, Any], ...] = (),
    **extra: Any,
) -> ServiceDeployment:
    return ServiceDeployment.from_api(
        {
            "serviceDeploymentArn": SD_ARN,
            "status": status,
            "lifecycleStage": stage,
            "targetServiceRevision": {
                "arn": "rev2",
                "requestedProductionTrafficWeight": production,
                "requestedTestTrafficWeight": 100.0 if production else 0.0,
            },
            "lifecycleHookDetails": list(hooks),
            "deploymentConfiguration": {"strategy": "BLUE_GREEN"},
            **extra,
        }
    )


PAUSE_HOOK = {"hookId": "h1", "targetType": "PAUSE", "status": "AWAITING_ACTION"}


@pytest.mark.parametrize(
    ("sd", "service", "settings", "outcome", "reason"),
    [
        (record(), BLUE_GREEN, SETTINGS, None, None),
        (record("SUCCESSFUL", "CLEAN_UP", 100.0), BLUE_GREEN, SETTINGS, Outcome.SUCCEEDED, None),
        # production traffic moved, bake time running: complete waits, traffic-shifted ends
        (record(stage="BAKE_TIME", production=100.0), BLUE_GREEN, SETTINGS, None, None),
        (
            record(stage="BAKE_TIME", production=100.0),
            BLUE_GREEN,
            WatchSettings(100.0, wait_until="traffic-shifted"),
            Outcome.SUCCEEDED,
            "ECS may still roll back",
        ),
        (
            record(stage="PRODUCTION_TRAFFIC_SHIFT", production=50.0),
            BLUE_GREEN,
            WatchSettings(100.0, wait_until="traffic-shifted"),
            None,
            None,
        ),
        (
            record(
                "ROLLBACK_SUCCESSFUL",
                rollback={"reason": "tasks failed to start"},
                deploymentCircuitBreaker={"status": "TRIGGERED"},
            ),
            BLUE_GREEN,
            SETTINGS,
            Outcome.ROLLED_BACK_BY_ECS,
            "triggered by the deployment circuit breaker: tasks failed to start",
        ),
        (
            record(
                "ROLLBACK_SUCCESSFUL",
                rollback={"reason": "alarm"},
                alarms={"status": "TRIGGERED", "triggeredAlarmNames": ["5xx"]},
            ),
            BLUE_GREEN,
            SETTINGS,
            Outcome.ROLLED_BACK_BY_ECS,
            "CloudWatch alarm 5xx",
        ),
        (
            record(
                "ROLLBACK_FAILED",
                rollback={"reason": "hook"},
                hooks=({"hookId": "h9", "targetType": "AWS_LAMBDA", "status": "FAILED"},),
            ),
            BLUE_GREEN,
            SETTINGS,
            Outcome.ROLLBACK_FAILED,
            "needs a person",
        ),
        # ECS is rolling back: wait for its verdict, whatever the task counts say
        (record("ROLLBACK_IN_PROGRESS"), BLUE_GREEN, SETTINGS, None, None),
        (
            record("STOPPED", statusReason="stopped by the circuit breaker"),
            BLUE_GREEN,
            SETTINGS,
            Outcome.FAILED,
            "STOPPED at SCALE_UP: stopped by the circuit breaker",
        ),
        (
            record("STOPPED", statusReason="a new deployment started"),
            Service.from_api(
                {"status": "ACTIVE", "currentServiceDeployment": SD_ARN.replace("sd1", "sd2")}
            ),
            SETTINGS,
            Outcome.SUPERSEDED,
            "superseded by service deployment sd2",
        ),
        (record(hooks=(PAUSE_HOOK,)), BLUE_GREEN, SETTINGS, None, None),  # --on-pause wait
        (
            record(hooks=(PAUSE_HOOK,)),
            BLUE_GREEN,
            WatchSettings(100.0, on_pause="exit"),
            Outcome.PAUSED,
            "PAUSE hook h1 awaits approval",
        ),
        (
            record(hooks=(PAUSE_HOOK,)),
            BLUE_GREEN,
            WatchSettings(100.0, on_pause="continue", answered_hooks=frozenset({"h1"})),
            None,
            None,
        ),
        (
            record(),
            svc(dep("new", "PRIMARY", NEW, failed=2)),
            WatchSettings(100.0, max_failed_tasks=2),
            Outcome.FAILED,
            "--max-failed-tasks 2",
        ),
        (
            record(),
            svc(dep("new", "PRIMARY", NEW), status="DRAINING"),
            SETTINGS,
            Outcome.SERVICE_INACTIVE,
            None,
        ),
    ],
)
def test_assess_service_deployment(sd, service, settings, outcome, reason):
    verdict = assess_service_deployment(sd, service, NATIVE, settings)
    if outcome is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert verdict.outcome is outcome
        if reason:
            assert reason in verdict.reason


def test_native_watch_follows_the_record_and_says_each_stage_and_pause_once():
    records = [
        record(stage="SCALE_UP"),
        record(stage="SCALE_UP"),
        record(stage="POST_TEST_TRAFFIC_SHIFT", hooks=(PAUSE_HOOK,)),
        record(stage="POST_TEST_TRAFFIC_SHIFT", hooks=(PAUSE_HOOK,)),
        record(stage="PRODUCTION_TRAFFIC_SHIFT", production=25.0),
        record(stage="PRODUCTION_TRAFFIC_SHIFT", production=50.0),
        record("SUCCESSFUL", "CLEAN_UP", 100.0),
    ]
    gateway, seen, clock = Script([BLUE_GREEN], records=records), Seen(), FakeClock()
    result = watch(gateway, NATIVE, SETTINGS, seen, clock=clock, sleep=clock.sleep)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.polls == 7
    # two reads a poll: the record, and the service (events, task counts)
    assert gateway.calls == ["DescribeServices", "DescribeServiceDeployments"] * 7
    assert seen.stages == [
        ("IN_PROGRESS", "SCALE_UP"),
        ("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT"),
        ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT"),
        ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT"),  # each linear/canary step is shown
        ("SUCCESSFUL", "CLEAN_UP"),
    ]
    assert seen.pauses == ["h1"]


def test_native_watch_times_out_naming_the_stage():
    gateway = Script([BLUE_GREEN], records=[record(stage="BAKE_TIME", production=100.0)])
    clock = FakeClock()
    result = watch(
        gateway, NATIVE, WatchSettings(deadline=5.0), Seen(), clock=clock, sleep=clock.sleep
    )
    assert result.outcome is Outcome.TIMED_OUT
    assert "timed out in stage BAKE_TIME" in result.reason
    assert "production 100%" in result.reason
