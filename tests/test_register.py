"""One-off tasks: the wait for them runs at the watcher's pace on a fake clock (no real
sleeping), and register-only through the sandbox with its prune."""

from __future__ import annotations

import random

from ecsdeploy.models import Task
from ecsdeploy.result import Outcome
from ecsdeploy.watch import FIRST_POLL, LOG_GRACE, LOG_SETTLE, wait_for_tasks
from tests.conftest import run_cli, seed


class Tasks:
    """DescribeTasks answers: running until `stop_after` polls, then stopped."""

    def __init__(self, stop_after: int) -> None:
        self.polls = 0
        self.stop_after = stop_after

    def describe_tasks(self, cluster: str, arns: list[str]) -> list[Task]:
        self.polls += 1
        stopped = self.polls > self.stop_after
        container = {"name": "web", "exitCode": 0 if stopped else None}
        return [
            Task.from_api(
                {
                    "taskArn": a,
                    "lastStatus": "STOPPED" if stopped else "RUNNING",
                    "containers": [container],
                }
            )
            for a in arns
        ]


class Stream:
    """A log streamer whose reads find these numbers of lines, then none."""

    def __init__(self, found: list[int]) -> None:
        self.found = found
        self.reads: list[float] = []  # the clock at each read

    def __call__(self, tasks: list[Task]) -> int:
        self.reads.append(self.now[0])
        return self.found.pop(0) if self.found else 0


def waiter(tasks: Tasks, deadline: float = 60.0, interrupted=lambda: False, stream=None):
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    if stream is not None:
        stream.now = now
    waited = wait_for_tasks(
        tasks, "c", ["arn:task/c/1"], deadline=deadline, poll_interval=1.0,
        clock=lambda: now[0], sleep=sleep, interrupted=interrupted, rng=random.Random(1),
        stream=stream,
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


def test_after_the_tasks_stop_their_logs_are_read_until_two_reads_find_nothing():
    """CloudWatch makes the last lines readable up to seconds after the task stopped: read
    again LOG_SETTLE apart until two reads in a row are empty (not twice back to back)."""
    stream = Stream([0, 0, 2, 0, 3])  # two polls while it runs; at the stop: 0 (then late)
    waited, sleeps = waiter(Tasks(stop_after=2), stream=stream)
    assert waited.outcome is Outcome.SUCCEEDED
    stopped_at = stream.reads[2]
    after = [round(t - stopped_at, 6) for t in stream.reads[2:]]
    # at the stop: 2 lines; 1 s later: none; 1 s later: 3 late ones; then two empty reads
    assert after == [0.0, LOG_SETTLE, 2 * LOG_SETTLE, 3 * LOG_SETTLE, 4 * LOG_SETTLE]
    assert sleeps[-4:] == [LOG_SETTLE] * 4


def test_the_read_after_the_stop_ends_at_the_grace_period_or_the_deadline():
    stream = Stream([1] * 100)  # a task whose lines keep coming
    waiter(Tasks(stop_after=0), stream=stream)
    assert len(stream.reads) == 1 + int(LOG_GRACE / LOG_SETTLE)
    assert stream.reads[-1] - stream.reads[0] <= LOG_GRACE
    quiet = Stream([])
    waiter(Tasks(stop_after=0), stream=quiet)
    assert quiet.reads == [0.0, LOG_SETTLE]  # empty at the stop, empty a second later
    near = Stream([1] * 100)
    waiter(Tasks(stop_after=0), stream=near, deadline=1.5)
    assert len(near.reads) == 2  # never past --timeout


def test_the_read_after_the_stop_ends_on_a_signal():
    stream = Stream([1] * 100)
    waited, _ = waiter(Tasks(stop_after=0), stream=stream, interrupted=lambda: True)
    assert waited.outcome is Outcome.SUCCEEDED  # the tasks stopped: that verdict stands
    assert len(stream.reads) == 1


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
