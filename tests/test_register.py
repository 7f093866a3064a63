"""One-off tasks: the wait for them runs at the watcher's pace on a fake clock (no real
sleeping), and register-only through the sandbox with its prune."""

from __future__ import annotations

import random

from ecsdeploy.models import Task
from ecsdeploy.result import Outcome
from ecsdeploy.watch import FIRST_POLL, wait_for_tasks
from tests.conftest import run_cli, seed


class Tasks:
    """DescribeTasks answers: running until `stop_after` polls, then stopped."""

    def __init__(self, stop_after: int) -> None:
        self.polls = 0
        self.stop_after = stop_after

    def describe_tasks(self, cluster: str, arns: list[str]) -> list[Task]:
        self.polls += 1
        status = "STOPPED" if self.polls > self.stop_after else "RUNNING"
        return [Task.from_api({"taskArn": a, "lastStatus": status}) for a in arns]


def waiter(tasks: Tasks, deadline: float = 60.0, interrupted=lambda: False):
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    waited = wait_for_tasks(
        tasks, "c", ["arn:task/c/1"], deadline=deadline, poll_interval=1.0,
        clock=lambda: now[0], sleep=sleep, interrupted=interrupted, rng=random.Random(1),
    )  # fmt: skip
    return waited, sleeps


def test_the_wait_ramps_up_like_the_watcher_and_ends_when_every_task_stopped():
    waited, sleeps = waiter(Tasks(stop_after=5))
    assert waited.outcome is Outcome.SUCCEEDED
    assert [t.is_stopped for t in waited.tasks] == [True]
    assert abs(sleeps[0] - FIRST_POLL) <= FIRST_POLL * 0.1
    assert sleeps == sorted(sleeps)
    assert max(sleeps) <= 1.1


def test_the_wait_ends_at_the_deadline():
    waited, sleeps = waiter(Tasks(stop_after=10_000), deadline=5.0)
    assert waited.outcome is Outcome.TIMED_OUT
    assert sum(sleeps) <= 5.0 + 1e-9


def test_the_wait_ends_on_a_signal():
    waited, _ = waiter(Tasks(stop_after=10_000), interrupted=lambda: True)
    assert waited.outcome is Outcome.INTERRUPTED


def test_register_only_prunes_with_max_definitions(sandbox, cluster):
    seed(sandbox, cluster)
    family = f"{cluster}-web"
    for tag in ("2", "3"):
        assert run_cli(sandbox, "-d", family, "-i", f"nginx:{tag}").code == 0
    run = run_cli(sandbox, "-d", family, "-i", "nginx:4", "--max-definitions", "2")
    assert run.code == 0, run.stderr
    arns = sandbox.client().list_task_definitions(familyPrefix=family, status="ACTIVE")
    # :2 goes; :1 stays (the seeded service runs it), :3 is the previous, :4 the new one
    assert [a.rsplit(":", 1)[1] for a in arns["taskDefinitionArns"]] == ["1", "3", "4"]
