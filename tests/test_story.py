"""The frame every story shares: what a report says at each phase when a signal ends a run,
and one deadline for the whole story. A gateway with no client: nothing here calls AWS."""

from __future__ import annotations

import io
import signal

import pytest

from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import ExitCode, NotFoundError
from ecsdeploy.output import Reporter
from ecsdeploy.policy import Interrupted, RunPolicy
from ecsdeploy.result import DeployResult, Outcome
from ecsdeploy.story import Phase, Story


def story(now: list[float] | None = None) -> Story:
    clock = now or [100.0]
    policy = RunPolicy(clock=lambda: clock[0], sleep=lambda s: None)
    return Story(EcsGateway(None, policy=policy), Reporter(out=io.StringIO(), tty=False))


def result(**fields: object) -> DeployResult:
    return DeployResult(ExitCode.OK, Outcome.SUCCEEDED, "", service="web", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("phase", "fields", "says"),
    [
        (Phase.DESCRIBING_SERVICE, {}, "while describing the service: nothing was changed"),
        (
            Phase.UPDATING,
            {"old_task_definition": "td:1", "new_task_definition": "td:2"},
            "while updating the service: registered td:2, but the service was not updated",
        ),
        (
            Phase.WAITING,
            {"deployment_id": "ecs-svc/1", "counts": {"desired": 2, "running": 1}},
            "deployment ecs-svc/1 goes on without us (new 1/2 running",
        ),
        (Phase.PRUNING, {"deregistered": ["a", "b"]}, "the deploy had succeeded; 2 revision(s)"),
    ],
)
def test_a_signal_reports_where_the_run_stood(phase, fields, says):
    s = story()
    s.policy.on_signal(signal.SIGTERM)
    r = result(**fields)
    s.phase = phase
    s.stopped_by_signal(r, Outcome.INTERRUPTED, "interrupted")
    assert r.code is ExitCode.TERMINATED
    assert r.outcome is Outcome.INTERRUPTED
    assert says in r.reason


def test_run_gives_one_deadline_and_turns_what_ends_the_story_into_the_result():
    now = [10.0]
    s = story(now)
    r = result()

    def body() -> None:
        assert s.policy.deadline == 40.0
        now[0] = 12.5
        raise NotFoundError("Service web not found")

    assert s.run(r, 30.0, body) is r
    assert (r.code, r.outcome, r.reason) == (
        ExitCode.NOT_FOUND,
        Outcome.ERROR,
        "Service web not found",
    )
    assert r.duration == 2.5


def test_an_interrupt_inside_the_story_names_the_phase():
    s = story()
    r = result()

    def body() -> None:
        s.phase = Phase.REGISTERING
        raise Interrupted("interrupted before RegisterTaskDefinition")

    s.policy.on_signal(signal.SIGINT)
    s.run(r, 30.0, body)
    assert r.code is ExitCode.INTERRUPTED
    assert r.reason == "interrupted while registering the new revision: nothing was changed"


def test_a_new_phase_has_a_fresh_deadline_and_forgets_earlier_signals():
    now = [5.0]
    s = story(now)
    s.policy.on_signal(signal.SIGTERM)
    s.new_phase(Phase.ROLLING_BACK, 90.0)
    assert s.policy.deadline == 95.0
    assert not s.policy.interrupted()
    assert s.phase is Phase.ROLLING_BACK
