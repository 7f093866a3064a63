"""The pure half of a failure's diagnosis: where logs are, what of a log line may be shown,
which failures are the same; and the Diagnoser's decisions over fake readers (no AWS)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from ecsdeploy.changes import MASK
from ecsdeploy.diagnose import (
    MAX_DISTINCT_FAILURES,
    Diagnoser,
    LogPlace,
    TargetHealth,
    clean_line,
    log_place,
    mask_line,
    secret_values,
    signature,
)
from ecsdeploy.errors import AwsAccessError, NotFoundError
from ecsdeploy.models import Service, Task
from ecsdeploy.policy import RunPolicy


def awslogs(**options: str) -> dict[str, Any]:
    return {"name": "web", "logConfiguration": {"logDriver": "awslogs", "options": options}}


@pytest.mark.parametrize(
    ("container", "place"),
    [
        (
            awslogs(**{"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs"}),
            LogPlace("/ecs/web", "ecs/web/t1", "us-east-1"),
        ),
        (
            awslogs(
                **{
                    "awslogs-group": "/ecs/web",
                    "awslogs-stream-prefix": "app",
                    "awslogs-region": "eu-west-1",
                }
            ),
            LogPlace("/ecs/web", "app/web/t1", "eu-west-1"),
        ),
    ],
)
def test_awslogs_streams_are_named_as_ecs_names_them(container, place):
    assert log_place(container, "t1", "us-east-1") == place


@pytest.mark.parametrize(
    ("container", "says"),
    [
        (awslogs(**{"awslogs-group": "/ecs/web"}), "without awslogs-stream-prefix"),
        ({"name": "web", "logConfiguration": {"logDriver": "awsfirelens"}}, "FireLens"),
        (
            {
                "name": "web",
                "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "datadog"}},
            },
            "output plugin datadog",
        ),
        ({"name": "web", "logConfiguration": {"logDriver": "splunk"}}, "Splunk"),
        ({"name": "web", "logConfiguration": {"logDriver": "none"}}, "logging is off"),
        ({"name": "web", "logConfiguration": {"logDriver": "syslog"}}, "syslog log driver"),
        ({"name": "web"}, "no logConfiguration"),
    ],
)
def test_where_the_logs_are_not(container, says):
    place = log_place(container, "t1", "us-east-1")
    assert place.stream is None
    assert says in (place.note or "")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("bell\x07 and del\x7f", "bell\\x07 and del\\x7f"),
        ("tab\there", "tab here"),
        ("c1\x9bhidden", "c1\\x9bhidden"),
        ("line\u2028sep", "line\\u2028sep"),
        ("ok ünïcode", "ok ünïcode"),
        ("bidi \u202eright-to-left\u202c", "bidi \\u202eright-to-left\\u202c"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("tag\U000e0041", "tag\\U000e0041"),
    ],
)
def test_log_text_is_made_inert(raw, shown):
    assert clean_line(raw) == shown


def test_long_lines_are_cut():
    line = clean_line("x" * 10_000, width=50)
    assert len(line) == 50
    assert line.endswith("…")


def test_secret_values_of_the_environment_are_masked_in_log_lines():
    container = {
        "environment": [
            {"name": "DB_PASSWORD", "value": "hunter22"},
            {"name": "DATABASE_URL", "value": "postgres://app:pa55word@db/app"},
            {"name": "MODE", "value": "production"},
            {"name": "API_KEY", "value": "abc"},  # too short to mask safely
        ]
    }
    secrets = secret_values(container)
    assert secrets == ["hunter22", "pa55word"]
    line = "login app/hunter22 to postgres://app:pa55word@db/app in production"
    assert (
        mask_line(line, secrets)
        == f"login app/{MASK} to postgres://app:{MASK}@db/app in production"
    )


def task(task_id: str, exit_code: int | None = 1, reason: str | None = None, ips=()) -> Task:
    return Task.from_api(
        {
            "taskArn": f"arn:aws:ecs:us-east-1:1:task/c/{task_id}",
            "taskDefinitionArn": "arn:td/web:2",
            "lastStatus": "STOPPED",
            "stoppedReason": "Essential container in task exited",
            "stopCode": "EssentialContainerExited",
            "containers": [{"name": "web", "exitCode": exit_code, "reason": reason}],
            "attachments": [
                {"details": [{"name": "privateIPv4Address", "value": ip} for ip in ips]}
            ],
        }
    )


def test_identical_failures_have_one_signature():
    assert signature(task("a")) == signature(task("b"))
    assert signature(task("a")) != signature(task("b", exit_code=2))


class FakeLogs:
    def __init__(self, readers: FakeReaders) -> None:
        self.readers = readers

    def tail(self, group: str, stream: str, lines: int) -> list[str]:
        self.readers.reads.append(stream)
        if self.readers.logs_error is not None:
            raise self.readers.logs_error
        return [f"line {i}" for i in range(100)][-lines:]


class FakeElb:
    def __init__(self, readers: FakeReaders) -> None:
        self.readers = readers

    def target_health(self, target_group: str) -> list[TargetHealth]:
        return [
            TargetHealth(target_group, "10.0.0.7", 80, "unhealthy", "Target.Timeout", "timed out")
        ]


class FakeReaders:
    region = "us-east-1"

    def __init__(self, logs_error: Exception | None = None) -> None:
        self.reads: list[str] = []
        self.logs_error = logs_error

    def task_definition(self, arn: str, policy: RunPolicy) -> dict[str, Any]:
        spec = awslogs(**{"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs"})
        return {"containerDefinitions": [spec]}

    def logs(self, region: str, policy: RunPolicy) -> FakeLogs:
        return FakeLogs(self)

    def elb(self, policy: RunPolicy) -> FakeElb:
        return FakeElb(self)


def test_logs_of_at_most_three_distinct_failures_then_counted():
    readers = FakeReaders()
    diagnoser = Diagnoser(readers, RunPolicy(), log_lines=5)
    first = diagnoser.task(task("a"))
    assert first.containers[0].lines == ("line 95", "line 96", "line 97", "line 98", "line 99")
    assert diagnoser.task(task("b")).same_as == "a"  # identical: not read again
    for code in range(2, 2 + MAX_DISTINCT_FAILURES):
        diagnoser.task(task(f"t{code}", exit_code=code))
    assert len(readers.reads) == MAX_DISTINCT_FAILURES
    assert "distinct failures were shown" in (
        diagnoser.task(task("z", exit_code=99)).not_read or ""
    )


@pytest.mark.parametrize(
    ("error", "note"),
    [
        (
            AwsAccessError("GetLogEvents: access denied"),
            "logs not read: GetLogEvents: access denied",
        ),
        (NotFoundError("The specified log stream does not exist."), "no log stream to read"),
    ],
)
def test_a_read_that_fails_is_a_note_never_an_error(error, note):
    found = Diagnoser(FakeReaders(logs_error=error), RunPolicy()).task(task("a"))
    assert found.containers[0].lines == ()
    assert note in (found.containers[0].note or "")


def test_target_health_read_when_unhealthy_is_kept_for_the_task_that_stops_later():
    diagnoser = Diagnoser(FakeReaders(), RunPolicy())
    service = Service.from_api(
        {"serviceName": "web", "loadBalancers": [{"targetGroupArn": "arn:tg/web"}]}
    )
    diagnoser.read_targets(service)
    found = diagnoser.task(task("a", ips=("10.0.0.7",)), service)
    assert [t.describe() for t in found.targets] == [
        "target 10.0.0.7:80 unhealthy: Target.Timeout: timed out"
    ]


def test_zero_log_lines_reads_no_logs():
    readers = FakeReaders()
    found = Diagnoser(readers, RunPolicy(), log_lines=0).task(task("a"))
    assert readers.reads == []
    assert found.containers[0].note == "log lines are off (--log-lines 0)"


def test_the_report_indents_under_the_task():
    from ecsdeploy.output import Reporter

    out = io.StringIO()
    Reporter(out=out, tty=False).diagnosis(Diagnoser(FakeReaders(), RunPolicy(), 2).task(task("a")))
    assert out.getvalue().splitlines() == [
        "  container web: last 2 log lines of /ecs/web ecs/web/a (us-east-1):",
        "    | line 98",
        "    | line 99",
    ]
