"""What the user sees: terminal vs CI lines, JSON, GitHub outputs."""

from __future__ import annotations

import io
import json
import re

import pytest

from ecsdeploy.errors import ExitCode
from ecsdeploy.levels import Level
from ecsdeploy.models import Service, Task
from ecsdeploy.output import Reporter, summary_dict
from ecsdeploy.result import DeployResult, Outcome

SERVICE = Service.from_api(
    {
        "serviceName": "web",
        "status": "ACTIVE",
        "deployments": [
            {
                "id": "new",
                "status": "PRIMARY",
                "taskDefinition": "td:2",
                "desiredCount": 5000,
                "runningCount": 1234,
                "pendingCount": 500,
                "failedTasks": 0,
                "rolloutState": "IN_PROGRESS",
            },
            {"id": "old", "status": "ACTIVE", "taskDefinition": "td:1", "runningCount": 3766},
        ],
    }
)


def test_terminal_status_line_fits_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    out = io.StringIO()
    reporter = Reporter(out=out, tty=True)
    reporter.progress(SERVICE, SERVICE.deployments[0], 12.5)
    line = out.getvalue().split("\r")[-1]
    assert len(line) < 40
    assert line.endswith("…")


def test_ci_lines_are_timestamped_plain_text_printed_on_change():
    out = io.StringIO()
    reporter = Reporter(out=out, tty=False)
    for elapsed in (1.0, 2.0):
        reporter.progress(SERVICE, SERVICE.deployments[0], elapsed)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1  # unchanged progress is not repeated
    assert re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[1\.0s\] new 1234/5000 running, 500 "
        r"pending, 0 failed; old 3766 running; IN_PROGRESS$",
        lines[0],
    )
    assert "\x1b" not in out.getvalue()


def test_quiet_prints_no_progress():
    out = io.StringIO()
    Reporter(level=Level.QUIET, out=out, tty=False).progress(SERVICE, SERVICE.deployments[0], 1)
    assert out.getvalue() == ""


def test_github_outputs_are_one_line_each(tmp_path, monkeypatch):
    path = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(path))
    result = DeployResult(
        code=ExitCode.DEPLOY_FAILED,
        outcome=Outcome.FAILED,
        reason="two\nlines",
        cluster="c",
        service="web",
        old_task_definition="td:1",
        new_task_definition="td:2",
    )
    out = io.StringIO()
    Reporter(json_output=True, out=out, err=io.StringIO(), tty=False).summary(result)
    assert json.loads(out.getvalue())["reason"] == "two lines"  # as the ERROR line says it
    written = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert written["reason"] == "two lines"
    assert written["exit_code"] == "1"
    assert json.loads(written["counts"]) == {}


class BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_stream_is_dropped_quietly_and_the_rest_still_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "gh"))
    err = io.StringIO()
    reporter = Reporter(out=BrokenPipe(), err=err, tty=False)
    reporter.info("progress nobody reads")
    reporter.summary(
        DeployResult(ExitCode.ROLLED_BACK, Outcome.FAILED, "boom", cluster="c", service="web")
    )
    assert err.getvalue() == "ERROR: Deploy failed: boom\n"
    assert "exit_code=21" in (tmp_path / "gh").read_text()


def test_no_stdout_at_all_is_not_an_error():
    err = io.StringIO()
    Reporter(out=None, err=err, tty=None).info("nowhere to go")
    assert err.getvalue() == ""


def test_unwritable_github_output_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path))  # a directory
    err = io.StringIO()
    Reporter(out=io.StringIO(), err=err, tty=False).summary(
        DeployResult(ExitCode.OK, Outcome.SUCCEEDED, "done")
    )
    assert "WARNING: could not write GITHUB_OUTPUT (Is a directory)" in err.getvalue()


def test_the_summary_keeps_ten_stopped_tasks_and_the_total():
    task = Task.from_api({"taskArn": "arn:task/c/1", "lastStatus": "STOPPED"})
    result = DeployResult(
        ExitCode.DEPLOY_FAILED, Outcome.FAILED, "crash loop", stopped_tasks=[task] * 88
    )
    data = summary_dict(result)
    assert len(data["stopped_tasks"]) == 10
    assert data["stopped_tasks_total"] == 88


def test_a_release_on_a_terminal_shows_a_row_per_service():
    import io

    from ecsdeploy.output import ServiceReporter, StatusBoard

    out = io.StringIO()
    board = StatusBoard(out, ["web", "worker"])
    web, worker = (
        ServiceReporter(out=out, err=io.StringIO(), tty=True, prefix=name, board=board)
        for name in ("web", "worker")
    )
    web._show_status("[  0.2s] new 1/2 running")
    worker._show_status("[  0.2s] new 0/2 running")
    web.info("Service updated")
    text = out.getvalue()
    # each redraw first moves up over the rows drawn before and clears them
    assert "\x1b[2F\x1b[J" in text
    last = text.rsplit("\x1b[J", 1)[1]
    assert last == (
        "[web] Service updated\n"
        "web     [  0.2s] new 1/2 running\n"
        "worker  [  0.2s] new 0/2 running\n"
    )


def test_every_warning_is_in_the_summary_and_the_step_outputs(sandbox, cluster, tmp_path):
    """One way to warn, and it records: a warning said before the run began (a repeated
    option) and one said during it reach the JSON summary and GITHUB_OUTPUT's warnings=,
    with -q too, where no warning line is printed."""
    from tests.conftest import deploy, seed

    seed(sandbox, cluster, desired_count=1)
    outputs = tmp_path / "out"
    run = deploy(
        sandbox, cluster, "-i", "nginx:2", "-t", "5", "-t", "60", "--scheduled-tasks", "nope",
        "-q", "--output", "json", GITHUB_OUTPUT=str(outputs),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    warnings = json.loads(run.stdout)["warnings"]
    assert warnings[0] == "-t/--timeout was given more than once: the last value is used"
    assert warnings[1].startswith("--scheduled-tasks nope: no EventBridge rule or schedule")
    assert len(warnings) == 2, warnings
    assert run.stderr == ""
    step = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert json.loads(step["warnings"]) == warnings


def test_verbose_lines_and_service_events_show_untrusted_text_escaped_and_masked(
    sandbox, cluster, monkeypatch
):
    """-v's debug lines (the error code an AWS answer carried) and ECS's service events are
    untrusted text: an escape sequence, a bidi override or a zero-width character in them is
    shown escaped, a lone surrogate as U+FFFD, and a secret is still masked, as in an ERROR
    line or a log line. Each is one line."""
    from tests.conftest import SENTINEL_SECRET, deploy, seed

    raw = "\x1b[2J\u202e\u200b"
    seed(sandbox, cluster, desired_count=1)
    # a 5xx is retried: the deploy goes on, and -v has traced the failed call
    sandbox.scheduler.inject_error(
        "DescribeServices", 1, f"Odd{raw}{SENTINEL_SECRET}\ud800Code", "m", status=500
    )
    event = sandbox.scheduler.event
    monkeypatch.setattr(
        sandbox.scheduler,
        "event",
        lambda svc, message: event(svc, message.replace("has reached", f"has{raw}\nreached")),
    )
    run = deploy(sandbox, cluster, "-i", "nginx:2", "-v", own_process=True)
    assert run.code == 0, run.stderr
    said = run.stdout + run.stderr
    assert "debug: DescribeServices" in said
    assert "-> Odd\\x1b[2J\\u202e\\u200b****\ufffdCode" in said
    assert "event: (service web) has\\x1b[2J\\u202e\\u200b reached a steady state." in said
    for char in ("\x1b[2J", "\u202e", "\u200b", "\ud800", SENTINEL_SECRET):
        assert char not in said


def test_a_release_table_shows_an_aws_message_escaped(sandbox, cluster):
    """The release's table quotes each service's reason, an AWS message among them: escaped
    there as in the ERROR lines below it."""
    from tests.conftest import run_cli

    for name in ("api", "worker"):
        sandbox.seed_service(cluster, name, family=f"{cluster}-{name}", desired_count=1)
    sandbox.scheduler.inject_error(
        "RegisterTaskDefinition", 1, "InvalidParameterException", "bad\x1b[2J\u202eoutcome"
    )
    run = run_cli(sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2")
    assert run.code == 18, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith(("api ", "worker "))]
    assert len(rows) == 2, run.stdout
    for row in rows:
        assert row.endswith("InvalidParameterException: bad\\x1b[2J\\u202eoutcome")
    assert "\x1b" not in run.stdout + run.stderr
    assert "\u202e" not in run.stdout + run.stderr


#: AWS's text with what a terminal, a JSON reader or a step output could take for structure.
HOSTILE = "\x1b[31mRED\x07\x08\x7f\x9b2J \u202eevil \u200bz \ufeffbom \U000e0041 \r\nNEXT \u2028ls"
RAW = "\x1b\x07\x08\x7f\x9b\u202e\u200b\ufeff\U000e0041\r\n\u2028\x85"


@pytest.mark.parametrize("how", ["aws-error", "one-off"])
def test_an_aws_message_reads_the_same_in_text_json_and_step_outputs(
    sandbox, cluster, tmp_path, monkeypatch, how
):
    """A reason that quotes AWS's text (an error message, a task's stop reason) is escaped
    once, as a line shows it: the ERROR line, the JSON `reason` and the `reason=` step
    output carry the same string, with no raw control, invisible or separator character."""
    from tests.conftest import FAST, run_cli, seed

    seed(sandbox, cluster, desired_count=1)
    if how == "aws-error":
        sandbox.scheduler.inject_error("UpdateService", 1, "InvalidParameterException", HOSTILE)
        args: tuple[str, ...] = ("-n", "web", "-i", "nginx:2")
        code, begins = 18, "UpdateService failed: InvalidParameterException: \\x1b[31mRED"
    else:
        fail = sandbox.scheduler._fail_to_start
        monkeypatch.setattr(
            sandbox.scheduler, "_fail_to_start", lambda task, reason=None: fail(task, HOSTILE)
        )
        sandbox.set_faults(fail_images=("*:nopull",))
        args = ("-d", f"{cluster}-web", "-i", "nginx:nopull", "--run-task", "--wait-for-success")
        code, begins = 26, "The task did not start: \\x1b[31mRED"
    gh = tmp_path / "gh"
    gh.write_text("")
    run = run_cli(sandbox, "-c", cluster, *args, *FAST, "--output", "json", GITHUB_OUTPUT=str(gh))
    assert run.code == code, run.stderr
    said = run.stderr.splitlines()[-1].removeprefix("ERROR: ")
    assert said.startswith(begins)
    assert "\\x07\\x08\\x7f\\x9b2J \\u202eevil \\u200bz \\ufeffbom \\U000e0041" in said
    summary = json.loads(run.stdout)
    assert summary["reason"] == said
    written = dict(line.split("=", 1) for line in gh.read_text().splitlines())
    assert written["reason"] == said
    if how == "one-off":
        stopped = summary["stopped_tasks"][0]["stopped_reason"]
        assert said.endswith(stopped)
        assert json.loads(written["stopped_tasks"])[0]["stopped_reason"] == stopped
        assert summary["diagnosis"][0]["stopped_reason"] == stopped
    for value in _strings(summary):  # each string of the JSON summary, as it was decoded
        assert not set(value) & set(RAW), value
    for text in (run.stderr, gh.read_text()):
        assert not set(text) & set(RAW) - {"\n"}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
