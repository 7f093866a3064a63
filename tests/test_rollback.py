"""`settle`: what a rollback's record makes of the run's exit code, for rolling and native
rollbacks alike (through the command, test_deploy, test_native and test_release cover each)."""

from __future__ import annotations

import signal

import pytest

from ecsdeploy.errors import ExitCode
from ecsdeploy.result import DeployResult, Outcome, Rollback
from ecsdeploy.rollback import settle
from tests.test_story import story

ROLLING = Rollback(task_definition="arn:td/web:1", deployment_id="ecs-svc/2")
NATIVE = Rollback(service_deployment_arn="arn:sd/1")


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (ROLLING.ended(Outcome.SUCCEEDED, "done"), ExitCode.ROLLED_BACK),
        (ROLLING.ended(Outcome.TIMED_OUT, "slow"), ExitCode.DEPLOY_FAILED),
        (ROLLING.ended(Outcome.SKIPPED, "superseded"), ExitCode.DEPLOY_FAILED),
        (ROLLING.ended(Outcome.ERROR, "denied"), ExitCode.DEPLOY_FAILED),
        (NATIVE.ended(Outcome.ROLLED_BACK, "done"), ExitCode.ROLLED_BACK),
        (NATIVE.ended(Outcome.SUCCEEDED, "it finished anyway"), ExitCode.DEPLOY_FAILED),
        (NATIVE.ended(Outcome.ROLLBACK_FAILED, "ECS failed"), ExitCode.ROLLBACK_FAILED),
    ],
)
def test_the_code_a_rollback_leaves(record, code):
    r = DeployResult(ExitCode.DEPLOY_FAILED, Outcome.FAILED, "boom", rollback=record)
    settle(story(), r)
    assert r.code is code


def test_a_rollback_after_a_signal_keeps_the_signal_code():
    s = story()
    s.policy.on_signal(signal.SIGTERM)
    r = DeployResult(
        ExitCode.TERMINATED, Outcome.INTERRUPTED, "x", rollback=ROLLING.ended(Outcome.SUCCEEDED, "")
    )
    settle(s, r)
    assert r.code is ExitCode.TERMINATED


@pytest.mark.parametrize(
    ("record", "tail"),
    [
        (
            ROLLING.ended(Outcome.INTERRUPTED, "interrupted while waiting"),
            "; the rollback to web:1 was interrupted: deployment ecs-svc/2 goes on without us",
        ),
        (
            Rollback(task_definition="arn:td/web:1").ended(
                Outcome.INTERRUPTED, "interrupted before UpdateService"
            ),
            "; the rollback was interrupted before UpdateService",
        ),
        (
            NATIVE.ended(Outcome.INTERRUPTED, "interrupted while waiting"),
            "; the rollback was interrupted while waiting",
        ),
    ],
)
def test_an_interrupted_rollback_says_what_goes_on(record, tail):
    s = story()
    s.policy.on_signal(signal.SIGINT)
    r = DeployResult(ExitCode.DEPLOY_FAILED, Outcome.FAILED, "boom", rollback=record)
    settle(s, r)
    assert r.code is ExitCode.INTERRUPTED
    assert r.outcome is Outcome.INTERRUPTED
    assert r.reason == "boom" + tail


def test_the_record_reports_only_what_it_has():
    assert ROLLING.ended(Outcome.SKIPPED, "x").as_dict() == {
        "task_definition": "arn:td/web:1",
        "deployment_id": "ecs-svc/2",
        "outcome": "skipped",
        "reason": "x",
    }
