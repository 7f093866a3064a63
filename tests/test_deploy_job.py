"""The whole deploy job, through the real command against the sandbox: one-off tasks (logs
streamed in order across pages, the container's exit code, overrides that register nothing, a
task that cannot be placed), migrations before the service moves (passes, fails, is
interrupted), scheduled tasks that follow the deploy (moved, pinned ones left alone and named,
moved back by --atomic, --dry-run; each lookup on its own, warnings in the summary, a signal
after the verdict, none for a one-off task unless asked, names that match nothing), several
-i, and one registration for services of one family."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from ecsdeploy.gateways import LogsGateway
from tests.conftest import FAST, run_cli, start_cli

LOGS = {
    "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/job", "awslogs-stream-prefix": "ecs"},
    }
}
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def logs(sandbox) -> None:
    """The log group every service of this module logs to (a missing one stops its tasks)."""
    client = sandbox.client("logs")
    if not client.describe_log_groups(logGroupNamePrefix="/job")["logGroups"]:
        client.create_log_group(logGroupName="/job")


#: A one-off task's log that keeps it running (about 8 s in the sandbox): long enough for a
#: signal, a timeout or a refused read to land while it runs.
LONG_LOG = tuple(f"long step {i}" for i in range(400))


def _deny(sandbox, operation: str) -> None:
    """Every call of `operation` refused (AccessDenied) until the faults are reset."""
    sandbox.scheduler.inject(
        operation, "error", code="AccessDeniedException", message="no", count=None
    )


def service(sandbox, cluster, name: str = "web", **kwargs: Any) -> None:
    kwargs.setdefault("desired_count", 1)
    kwargs.setdefault("family", f"{cluster}-{name}")
    kwargs.setdefault("container", LOGS)
    sandbox.seed_service(cluster, name, **kwargs)


def revision(sandbox, cluster, name: str = "web") -> str:
    svc = sandbox.client().describe_services(cluster=cluster, services=[name])["services"][0]
    return str(svc["taskDefinition"].rsplit("/", 1)[1])


def said(run) -> str:
    return run.stdout + run.stderr


# -- one-off tasks --------------------------------------------------------------------------


def test_run_task_streams_logs_in_order_with_no_line_twice_across_pages(
    sandbox, cluster, logs, monkeypatch
):
    """Pages of 2 events: every line once, in order, each prefixed with its container."""
    original = LogsGateway.page

    def small_pages(self, group, stream, token):  # type: ignore[no-untyped-def]
        params = {"nextToken": token} if token else {"startFromHead": True}
        page = self.call(
            "GetLogEvents", logGroupName=group, logStreamName=stream, limit=2, **params
        )
        return [e["message"] for e in page["events"]], page.get("nextForwardToken")

    monkeypatch.setattr(LogsGateway, "page", small_pages)
    lines = tuple(f"step {i:02d}" for i in range(9))
    sandbox.set_faults(task_log=lines)
    service(sandbox, cluster)
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success",
        "--run-task-command", "web", "python -m job", *FAST,
    )  # fmt: skip
    monkeypatch.setattr(LogsGateway, "page", original)
    assert run.code == 0, said(run)
    streamed = [line.split("web | ", 1)[1] for line in said(run).splitlines() if "web | " in line]
    assert [s for s in streamed if s.startswith("step")] == list(lines)
    assert "RegisterTaskDefinition" not in run.calls  # an override registers nothing
    assert run.calls.count("GetLogEvents") > len(lines) // 2


@pytest.mark.parametrize(("code", "exit_code"), [(3, 67), (63, 127), (64, 1), (255, 1)])
def test_the_containers_exit_code_is_carried_in_ours(sandbox, cluster, logs, code, exit_code):
    service(sandbox, cluster)
    sandbox.set_faults(exit_codes=(("web", code),))
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success",
        *FAST, "--output", "json",
    )  # fmt: skip
    assert run.code == exit_code, run.stderr
    assert json.loads(run.stdout)["task_exit_code"] == code


@pytest.mark.parametrize(
    ("line", "shown", "env"),
    [
        ("half a pair \ud800 of surrogates", "half a pair \ufffd of surrogates", {}),
        ("naïve → ascii", "na?ve ? ascii", {"PYTHONIOENCODING": "ascii"}),
    ],
    ids=["lone-surrogate", "ascii-terminal"],
)
def test_a_line_stdout_cannot_encode_loses_nothing_after_it(sandbox, cluster, line, shown, env):
    """The line is written with replacement characters; the lines after it, the exit codes
    and the verdict line still reach stdout (only a closed stream stops output)."""
    service(sandbox, cluster)
    sandbox.set_faults(task_log=("before", line, "after"))
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success",
        *FAST, own_process=True, **env,
    )  # fmt: skip
    assert run.code == 0, said(run)
    assert f"web | {shown}" in run.stdout
    assert "web | after" in run.stdout
    assert "container web: exit code 0" in run.stdout
    assert "Deploy succeeded: task succeeded" in run.stdout


@pytest.mark.parametrize("how", ["run-task", "pre-deploy"])
def test_the_last_lines_readable_only_after_the_task_stopped_are_shown(sandbox, cluster, how):
    """CloudWatch makes what a container wrote as it exited readable a moment after the
    task STOPPED: the logs are read again after the stop, until they are quiet."""
    service(sandbox, cluster)
    sandbox.set_faults(
        task_log=("migrating",), late_log=("done: 42 rows", "bye"), late_log_after=0.15
    )
    where = (
        ("-d", f"{cluster}-web", "--run-task", "--wait-for-success")
        if how == "run-task"
        else ("-n", "web", "-i", "nginx:2", "--pre-deploy", "web", "migrate")
    )
    run = run_cli(sandbox, "-c", cluster, *where, *FAST)
    assert run.code == 0, said(run)
    streamed = [line.split("web | ", 1)[1] for line in said(run).splitlines() if "web | " in line]
    assert streamed[-3:] == ["migrating", "done: 42 rows", "bye"]


def test_a_task_that_cannot_be_placed_is_an_error_at_once(sandbox, cluster):
    service(sandbox, cluster)
    sandbox.scheduler.inject(
        "RunTask", "error", code="ClientException", message="No Container Instances were found"
    )
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success",
        *FAST, "-t", "60",
    )  # fmt: skip
    assert run.code == 18, run.stderr
    sandbox.set_faults(fail_images=("*:gone",))
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "-i", "nginx:gone", "--run-task",
        "--wait-for-success", *FAST, "-t", "60",
    )  # fmt: skip
    assert run.code == 26, run.stderr
    assert "The task did not start: CannotPullContainerError" in said(run)


def test_an_access_denied_names_the_action_aws_names(sandbox, cluster):
    """RunTask refused for the role it passes: the action to grant is iam:PassRole (the one
    AWS names), not ecs:RunTask."""
    service(sandbox, cluster)
    sandbox.scheduler.inject_error(
        "RunTask", 1, "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:user/ci is not authorized to perform: iam:PassRole on "
        f"resource: arn:aws:iam::{ACCOUNT}:role/app",
    )  # fmt: skip
    run = run_cli(sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", *FAST)
    assert run.code == 16, run.stderr
    assert "the role needs iam:PassRole: see docs/iam.md" in run.stderr
    assert "ecs:RunTask" not in run.stderr


@pytest.mark.parametrize("named", ["family", "revision", "arn"])
def test_a_dry_run_shows_the_revision_the_task_would_run(sandbox, cluster, tmp_path, named):
    """-d FAMILY runs its latest ACTIVE revision, -d FAMILY:N and an ARN the one named: the
    printed RunTask request, JSON `requests` and the step output say which."""
    service(sandbox, cluster)
    assert run_cli(sandbox, "-d", f"{cluster}-web", "-i", "nginx:2").code == 0  # :2 is latest
    arn = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{cluster}-web"
    given, expected = {
        "family": (f"{cluster}-web", f"{arn}:2"),
        "revision": (f"{cluster}-web:1", f"{arn}:1"),
        "arn": (f"{arn}:1", f"{arn}:1"),
    }[named]
    gh = tmp_path / "gh"
    text = run_cli(sandbox, "-c", cluster, "-d", given, "--run-task", "--dry-run")
    assert text.code == 0, text.stderr
    assert f'"taskDefinition": "{expected}"' in text.stdout
    run = run_cli(
        sandbox, "-c", cluster, "-d", given, "--run-task", "--dry-run", "--output", "json",
        GITHUB_OUTPUT=str(gh),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["requests"]["RunTask"]["taskDefinition"] == expected
    assert json.loads(step_output(gh)["requests"])["RunTask"]["taskDefinition"] == expected
    assert "(none" not in text.stdout + run.stdout + gh.read_text()


@pytest.mark.parametrize("stop_denied", [False, True], ids=["stopped", "stop-denied"])
def test_a_task_that_cannot_be_followed_is_stopped(sandbox, cluster, stop_denied):
    """DescribeTasks denied after RunTask: nothing would report the task's end, so it is
    stopped as a timed-out one is; if StopTask is denied too, the error says how to stop it."""
    service(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    _deny(sandbox, "DescribeTasks")
    if stop_denied:
        _deny(sandbox, "StopTask")
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success",
        *FAST, "--output", "json",
    )  # fmt: skip
    sandbox.reset_faults()
    assert run.code == 16, run.stderr
    reason = json.loads(run.stdout)["reason"]
    assert reason.startswith("DescribeTasks: access denied")
    arn = said(run).split("Started task(s): ", 1)[1].split()[0]
    (task,) = sandbox.client().describe_tasks(cluster=cluster, tasks=[arn])["tasks"]
    if stop_denied:
        assert "the task could not be followed: it could not be stopped" in reason
        assert f"aws ecs stop-task --cluster {cluster} --task {arn.rsplit('/', 1)[1]}" in reason
        assert task["desiredStatus"] == "RUNNING"
    else:
        assert reason.endswith("the task could not be followed: it was stopped")
        assert task["desiredStatus"] == "STOPPED"


@pytest.mark.parametrize("stop_denied", [False, True], ids=["stopped", "stop-denied"])
def test_a_one_off_task_that_times_out_is_stopped(sandbox, cluster, stop_denied):
    """--wait-for-success reaching --timeout: the task is stopped (as a timed-out migration
    is) and one line says so, naming it; exit 1, outcome timed_out. If StopTask is refused,
    the run says the task is still running and gives the command that stops it."""
    service(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    if stop_denied:
        _deny(sandbox, "StopTask")
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success",
        *FAST, "-t", "1", "--output", "json",
    )  # fmt: skip
    arn = said(run).split("Started task(s): ", 1)[1].split()[0]
    (task,) = sandbox.client().describe_tasks(cluster=cluster, tasks=[arn])["tasks"]
    sandbox.reset_faults()  # (its 400 lines would keep it running 8 s more)
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "timed_out"
    assert summary["exit_code"] == 1
    reason = summary["reason"]
    assert reason.startswith("timed out waiting for the task to stop (1s)")
    task_id = arn.rsplit("/", 1)[1]
    command = f"aws ecs stop-task --cluster {cluster} --task {task_id} --region us-east-1"
    if stop_denied:
        assert task["desiredStatus"] == "RUNNING"
        assert "it could not be stopped and may still be running" in reason
        assert command in reason
        (line,) = [x for x in run.stderr.splitlines() if "Could not stop the task" in x]
        assert f"Could not stop the task {arn} (" in line
        assert line.endswith(f"it may still be running; to stop it: {command}")
    else:
        assert task["desiredStatus"] == "STOPPED"
        assert reason.endswith(": it was stopped")
        assert "StopTask" in run.applied
        (line,) = [x for x in run.stderr.splitlines() if "Stopped the task" in x]
        assert line.endswith(f"Stopped the task {arn}: the run timed out")


def test_a_signal_while_stop_task_is_retried_says_it_was_tried(sandbox, cluster):
    """At --timeout, StopTask throttled again and again, then SIGINT between two attempts:
    the retries stop, and the warning says StopTask was tried (and why it failed), not that
    the run was interrupted before it."""
    service(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    sandbox.scheduler.inject(
        "StopTask", "error", code="ThrottlingException", message="Rate exceeded", count=None
    )
    started = start_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success",
        *FAST, "-t", "1", "--output", "json",
    )  # fmt: skip
    started.wait_for_call(sandbox, "StopTask", nth=2)  # throttled twice: backing off
    started.signal(signal.SIGINT)
    run = started.finish(sandbox)
    sandbox.reset_faults()
    assert run.code == 1, run.stderr  # the verdict (timed out) was reached before the signal
    (line,) = [x for x in run.stderr.splitlines() if "Could not stop the task" in x]
    assert "(interrupted while retrying StopTask (last error: " in line
    assert "Rate exceeded" in line
    assert "interrupted before StopTask" not in said(run)
    assert json.loads(run.stdout)["outcome"] == "timed_out"


def test_the_stop_task_command_acts_where_the_run_did(sandbox, cluster, tmp_path):
    """-p/--profile: the command that stops a task by hand names the run's region and that
    profile, or it would look for the task elsewhere (or as someone else)."""
    service(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    _deny(sandbox, "StopTask")
    config = tmp_path / "config"
    config.write_text("[profile deployer]\nregion = us-east-1\n")
    creds = tmp_path / "credentials"
    creds.write_text("[deployer]\naws_access_key_id = a\naws_secret_access_key = b\n")
    run = run_cli(
        sandbox, "-p", "deployer", "-c", cluster, "-d", f"{cluster}-web", "--run-task",
        "--wait-for-success", *FAST, "-t", "1", "--output", "json",
        AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(creds),
    )  # fmt: skip
    sandbox.reset_faults()
    assert run.code == 1, run.stderr
    arn = said(run).split("Started task(s): ", 1)[1].split()[0]
    command = (
        f"aws ecs stop-task --cluster {cluster} --task {arn.rsplit('/', 1)[1]} "
        "--region us-east-1 --profile deployer"
    )
    assert json.loads(run.stdout)["reason"].endswith(command)
    assert run.stderr.count(command) == 2  # the warning, and the summary


def test_overrides_name_containers_that_exist(sandbox, cluster):
    service(sandbox, cluster)
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", "--run-task-env",
        "worker", "MODE=once", *FAST,
    )  # fmt: skip
    assert run.code == 14, run.stderr
    assert run.mutating_calls == []


# -- migrations -----------------------------------------------------------------------------


def test_a_migration_that_passes_then_the_service_moves(sandbox, cluster, logs):
    service(sandbox, cluster)
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--pre-deploy", "web",
        "python manage.py migrate", *FAST, "--output", "json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "RunTask", "UpdateService"]
    assert "web |   Applying orders.0001_initial... OK" in run.stderr
    assert "Migration succeeded: updating the service" in run.stderr
    assert revision(sandbox, cluster) == f"{cluster}-web:2"


def test_a_migration_that_fails_changes_no_service(sandbox, cluster, logs):
    service(sandbox, cluster)
    sandbox.set_faults(exit_codes=(("web", 2),))
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", "--enable-rollback", *FAST, "--output", "json",
    )  # fmt: skip
    assert run.code == 27, run.stderr
    assert "UpdateService" not in run.calls
    summary = json.loads(run.stdout)
    assert summary["task_exit_code"] == 2
    assert summary["rollback"] is None  # nothing to undo
    assert "no service was changed" in summary["reason"]
    assert revision(sandbox, cluster) == f"{cluster}-web:1"


def test_a_migration_that_cannot_start_changes_no_service(sandbox, cluster):
    service(sandbox, cluster)
    sandbox.set_faults(fail_images=("*:gone",))
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:gone", "--pre-deploy", "web",
        "migrate", *FAST,
    )  # fmt: skip
    assert run.code == 26, run.stderr
    assert "UpdateService" not in run.calls


def test_a_signal_during_the_migration_stops_it_and_changes_no_service(sandbox, cluster, logs):
    service(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", *FAST, "-t", "60",
    )  # fmt: skip
    started.wait_for_call(sandbox, "RunTask")
    started.wait_for_call(sandbox, "DescribeTasks", nth=2)
    started.signal(signal.SIGTERM)
    run = started.finish(sandbox)
    assert run.code == 143, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "RunTask", "StopTask"]
    assert "Stopped the migration" in said(run)
    assert revision(sandbox, cluster) == f"{cluster}-web:1"


#: The two ways to start a one-off task: a task of its own, and a deploy's migration.
ONE_OFF = {
    "task": ("--run-task", "--wait-for-success"),
    "migration": ("-n", "web", "-i", "nginx:2", "--pre-deploy", "web", "migrate"),
}


def _one_off(cluster: str, what: str) -> tuple[str, ...]:
    first = ("-d", f"{cluster}-web") if what == "task" else ()
    return ("-c", cluster, *first, *ONE_OFF[what], *FAST, "-t", "60", "--output", "json")


def _one_offs(sandbox, cluster) -> list[dict[str, Any]]:
    ecs = sandbox.client()
    arns = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
    arns += ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if not t.get("group", "").startswith("service:")]


@pytest.mark.parametrize("what", ["task", "migration"])
@pytest.mark.parametrize("stop", ["answered", "held"])
def test_two_signals_while_a_one_off_task_runs_stop_it_or_name_it(sandbox, cluster, what, stop):
    """SIGTERM then SIGINT while the task is followed (its DescribeTasks held, so the first
    is still pending when the second comes): the run aborts at once, but the StopTask a
    cancel owes is still sent, bounded to 2 s. The summary names the task: stopped, or (its
    StopTask held past the bound) still running, with the command that stops it."""
    service(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    sandbox.scheduler.inject("DescribeTasks", "hold", count=None)
    if stop == "held":
        sandbox.scheduler.inject("StopTask", "hold", count=None)
    started = start_cli(sandbox, *_one_off(cluster, what))
    try:
        started.wait_for_call(sandbox, "DescribeTasks")
        started.signal(signal.SIGTERM)
        started.wait_delivered(signal.SIGTERM)  # two signals, not one merged by the kernel
        started.signal(signal.SIGINT)
        run = started.finish(sandbox)
    finally:
        sandbox.scheduler.release("DescribeTasks")
    (task,) = _one_offs(sandbox, cluster)  # read before a held StopTask goes through
    sandbox.scheduler.release("StopTask")
    assert run.code == 143, run.stderr
    assert "Traceback" not in run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "aborted"
    reason = summary["reason"]
    assert "nothing was changed" not in reason
    arn = task["taskArn"]
    command = (
        f"aws ecs stop-task --cluster {cluster} --task {arn.rsplit('/', 1)[1]} --region us-east-1"
    )
    if what == "migration":
        assert ", but the service was not updated; the migration " in reason
        assert revision(sandbox, cluster) == f"{cluster}-web:1"
    if stop == "answered":
        assert reason.endswith(f"the {what} {arn} was stopped")
        assert task["desiredStatus"] == "STOPPED"
        assert f"Stopped the {what} {arn}: the run was aborted" in run.stderr
    else:
        assert reason.endswith(f"the {what} {arn} may still be running: {command}")
        (line,) = [x for x in run.stderr.splitlines() if f"Could not stop the {what}" in x]
        assert "(no answer within 2s)" in line
        assert line.endswith(f"to stop it: {command}")
    assert "StopTask" in run.calls


def test_two_signals_while_a_releases_migration_runs_stop_it_and_name_it(sandbox, cluster):
    """A release's migration (run once, before any service moves), SIGTERM then SIGINT while
    it is followed: the release aborts, the migration is stopped, and each service's reason
    names it; no service moved."""
    api_and_worker(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    sandbox.scheduler.inject("DescribeTasks", "hold", count=None)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", *FAST, "-t", "60", "--output", "json",
    )  # fmt: skip
    try:
        started.wait_for_call(sandbox, "DescribeTasks")
        started.signal(signal.SIGTERM)
        started.wait_delivered(signal.SIGTERM)
        started.signal(signal.SIGINT)
        run = started.finish(sandbox)
    finally:
        sandbox.scheduler.release("DescribeTasks")
    (task,) = _one_offs(sandbox, cluster)
    assert run.code == 143, run.stderr
    assert task["desiredStatus"] == "STOPPED"
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "aborted", summary["reason"]
    for each in summary["services"]:
        assert each["reason"].endswith(f"the migration {task['taskArn']} was stopped")
        assert "nothing was changed" not in each["reason"]
    assert "UpdateService" not in run.calls


@pytest.mark.parametrize("what", ["task", "migration"])
def test_two_signals_while_run_task_is_in_flight_say_how_to_find_the_task(sandbox, cluster, what):
    """RunTask held (ECS starts the task; its answer never reaches the run), two signals:
    the abort cannot name the task, so it says one may have started and how to find it by
    the startedBy the run gave it."""
    service(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    sandbox.scheduler.inject("RunTask", "hold", count=None)
    started = start_cli(sandbox, *_one_off(cluster, what))
    try:
        started.wait_for_call(sandbox, "RunTask")
        started.signal(signal.SIGINT)
        started.wait_delivered(signal.SIGINT)
        started.signal(signal.SIGTERM)
        run = started.finish(sandbox)
    finally:
        sandbox.scheduler.release("RunTask")
    assert run.code == 130, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "aborted"
    reason = summary["reason"]
    assert "nothing was changed" not in reason
    assert f"RunTask was in flight, so the {what} may have started" in reason
    started_by = reason.split("--started-by ", 1)[1].split()[0]
    assert f"aws ecs list-tasks --cluster {cluster} --started-by {started_by} --region" in reason
    assert f"aws ecs stop-task --cluster {cluster} --task TASK_ID --region us-east-1" in reason
    # the command finds the task the held RunTask started (once released, it completes on
    # the sandbox's own thread: wait for that, not for the machine's speed)
    deadline = time.monotonic() + 30
    ecs = sandbox.client()
    while not (found := ecs.list_tasks(cluster=cluster, startedBy=started_by)["taskArns"]):
        assert time.monotonic() < deadline, "the released RunTask never started its task"
        time.sleep(0.05)
    assert len(found) == 1


def test_a_signal_while_run_task_is_in_flight_stops_the_task(sandbox, cluster):
    """--run-task without --wait-for-success, SIGINT while RunTask is in flight: the task it
    started is stopped (the call a cancel owes), and the run is interrupted, not a success."""
    service(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    sandbox.scheduler.inject("RunTask", "hold")
    started = start_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "--run-task", *FAST, "--output", "json"
    )
    try:
        started.wait_for_call(sandbox, "RunTask")
        started.signal(signal.SIGINT)
        started.wait_delivered(signal.SIGINT)
    finally:
        sandbox.scheduler.release("RunTask")
    run = started.finish(sandbox)
    assert run.code == 130, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "interrupted"
    assert summary["reason"] == "interrupted while starting the task: it was stopped"
    assert run.applied == ["RunTask", "StopTask"]
    (task,) = _one_offs(sandbox, cluster)
    assert task["desiredStatus"] == "STOPPED"


def test_a_release_migrates_once_with_one_revision_for_a_shared_family(sandbox, cluster, logs):
    family = f"{cluster}-app"
    service(sandbox, cluster, "api", family=family)
    ecs = sandbox.client()
    ecs.create_service(
        cluster=cluster, serviceName="worker", taskDefinition=f"{family}:1", desiredCount=1
    )
    run = run_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", "--max-definitions", "1", *FAST, "--output", "json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.applied.count("RegisterTaskDefinition") == 1  # one revision for the family
    assert run.applied.count("RunTask") == 1  # the migration, once
    assert (
        revision(sandbox, cluster, "api") == revision(sandbox, cluster, "worker") == f"{family}:2"
    )
    assert run.applied.index("RunTask") < run.applied.index("UpdateService")
    assert "Migration succeeded: updating the services api, worker" in run.stderr


def api_and_worker(sandbox, cluster, **worker: Any) -> None:
    """api (nginx, in the /job log group) and worker, of families of their own."""
    service(sandbox, cluster, "api")
    service(sandbox, cluster, "worker", **worker)


def test_a_release_checks_every_service_before_it_registers_or_migrates(sandbox, cluster):
    """worker has no container of the image's repository (14): the migration never runs,
    nothing is registered, no service moves."""
    api_and_worker(sandbox, cluster, image="redis:7")
    run = run_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", *FAST, "--output", "json",
    )  # fmt: skip
    assert run.code == 14, run.stderr
    assert run.mutating_calls == []
    assert "No container's image repository matches nginx" in run.stderr
    by_name = {s["service"]: s for s in json.loads(run.stdout)["services"]}
    assert "worker" in by_name["api"]["reason"]  # api did not move, and says why
    assert revision(sandbox, cluster, "api") == f"{cluster}-api:1"


def test_a_release_runs_every_preflight_before_it_registers_or_migrates(sandbox, cluster):
    """worker logs to a log group that is gone (preflight, 25): nothing is written."""
    logs = sandbox.client("logs")
    logs.create_log_group(logGroupName=f"/{cluster}/gone")
    gone = {"logConfiguration": {"logDriver": "awslogs", "options": {
        "awslogs-group": f"/{cluster}/gone", "awslogs-stream-prefix": "ecs"}}}  # fmt: skip
    api_and_worker(sandbox, cluster, container=gone)
    logs.delete_log_group(logGroupName=f"/{cluster}/gone")
    run = run_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", *FAST,
    )  # fmt: skip
    assert run.code == 25, run.stderr
    assert f"/{cluster}/gone" in run.stderr
    assert run.mutating_calls == []


def test_a_release_checks_the_migrations_container_before_it_registers(sandbox, cluster):
    api_and_worker(sandbox, cluster)
    run = run_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "nosuch",
        "migrate", *FAST,
    )  # fmt: skip
    assert run.code == 14, run.stderr
    assert "No container named nosuch" in run.stderr
    assert run.mutating_calls == []  # "nothing was registered or run" is true


def test_a_release_dry_run_exits_as_the_real_run_and_lists_the_migration(sandbox, cluster):
    api_and_worker(sandbox, cluster)
    bad = run_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "nosuch",
        "migrate", "--dry-run", *FAST,
    )  # fmt: skip
    assert bad.code == 14, bad.stderr
    assert bad.mutating_calls == []
    dry = run_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", "--dry-run", *FAST, "--output", "json",
    )  # fmt: skip
    assert dry.code == 0, dry.stderr
    assert dry.mutating_calls == []
    api, worker = json.loads(dry.stdout)["services"]
    run_task = api["requests"]["RunTask"]  # the migration runs once, with the first service
    assert run_task["overrides"]["containerOverrides"][0]["command"] == ["migrate"]
    assert run_task["startedBy"] == "ecs-deploy/pre-deploy"
    assert "RunTask" not in worker["requests"]


def test_a_release_reads_the_same_in_a_dry_run_and_a_real_run(sandbox, cluster):
    """A check that fails stops the release in both (2 of 2 services did not deploy)."""
    api_and_worker(sandbox, cluster)
    args = ("-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "nosuch", "m")
    dry = run_cli(sandbox, *args, "--dry-run", *FAST)
    real = run_cli(sandbox, *args, *FAST)
    assert dry.code == real.code == 14, dry.stderr
    for run in (dry, real):
        assert "Release failed: 2 of 2 services did not deploy" in run.stderr
        assert "worker: error: not deployed: api failed its checks" in run.stderr


def test_a_release_interrupted_during_its_migration_reads_interrupted(sandbox, cluster, logs):
    api_and_worker(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", *FAST, "-t", "60",
    )  # fmt: skip
    started.wait_for_call(sandbox, "RunTask")
    started.wait_for_call(sandbox, "DescribeTasks", nth=2)
    started.signal(signal.SIGTERM)
    run = started.finish(sandbox)
    assert run.code == 143, run.stderr
    assert "Stopped the migration" in said(run)
    assert "Release interrupted: interrupted: api (interrupted), worker (interrupted)" in (
        run.stderr
    )
    assert "UpdateService" not in run.calls


def test_a_migration_that_times_out_is_stopped(sandbox, cluster, logs):
    service(sandbox, cluster)
    sandbox.set_faults(task_log=LONG_LOG)
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", *FAST, "-t", "1", "--output", "json",
    )  # fmt: skip
    assert run.code == 1, run.stderr
    assert run.applied == ["RegisterTaskDefinition", "RunTask", "StopTask"]
    assert "Stopped the migration" in run.stderr
    reason = json.loads(run.stdout)["reason"]
    assert "timed out waiting for the migration" in reason
    assert "it was stopped; no service was changed" in reason
    assert revision(sandbox, cluster) == f"{cluster}-web:1"


def test_pre_deploy_onto_the_revision_the_service_runs_says_the_migration_is_not_run(
    sandbox, cluster, logs
):
    service(sandbox, cluster)
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "--revision", f"{cluster}-web:1", "--pre-deploy",
        "web", "migrate", *FAST,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.mutating_calls == []
    assert "the migration (--pre-deploy) was not run" in said(run)


# -- scheduled tasks ------------------------------------------------------------------------


def rule_and_schedule(sandbox, cluster: str, runs: str, name: str = "nightly") -> None:
    cluster_arn = f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{cluster}"
    arn = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{runs}"
    events = sandbox.client("events")
    events.put_rule(Name=f"{cluster}-{name}", ScheduleExpression="cron(0 3 * * ? *)")
    events.put_targets(
        Rule=f"{cluster}-{name}",
        Targets=[
            {
                "Id": "job",
                "Arn": cluster_arn,
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/events",
                "Input": '{"containerOverrides": []}',
                "EcsParameters": {"TaskDefinitionArn": arn, "TaskCount": 1},
            }
        ],
    )
    sandbox.client("scheduler").create_schedule(
        Name=f"{cluster}-{name}",
        ScheduleExpression="rate(1 hour)",
        Description="kept as it is",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": cluster_arn,
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
            "EcsParameters": {"TaskDefinitionArn": arn, "TaskCount": 1},
        },
    )


def scheduled_revisions(sandbox, cluster: str, name: str = "nightly") -> tuple[str, str]:
    target = sandbox.client("events").list_targets_by_rule(Rule=f"{cluster}-{name}")["Targets"][0]
    schedule = sandbox.client("scheduler").get_schedule(Name=f"{cluster}-{name}")
    assert target["Input"] == '{"containerOverrides": []}'  # every other field kept
    assert schedule["Description"] == "kept as it is"
    return (
        target["EcsParameters"]["TaskDefinitionArn"].rsplit("/", 1)[1],
        schedule["Target"]["EcsParameters"]["TaskDefinitionArn"].rsplit("/", 1)[1],
    )


def test_a_second_signal_while_a_scheduled_task_moves_keeps_the_success(sandbox, cluster):
    """Two SIGINTs while the rule's PutTargets is in flight, after the rollout COMPLETED: the
    moves stop at once (the one cut short may have moved; the schedule was not), nothing is
    pruned, and the deploy still succeeded (exit 0); each one not moved has its command."""
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    sandbox.scheduler.inject("PutTargets", "hold")
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--max-definitions", "1", *FAST,
        "--output", "json",
    )  # fmt: skip
    try:
        started.wait_for_call(sandbox, "PutTargets")
        started.signal(signal.SIGINT)
        started.wait_delivered(signal.SIGINT)  # two signals, not one merged by the kernel
        started.signal(signal.SIGINT)
        run = started.finish(sandbox)
    finally:
        sandbox.scheduler.release("PutTargets")
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "succeeded", summary["reason"]
    rule, schedule = sorted(summary["scheduled_tasks"], key=lambda t: t["kind"])
    assert (rule["status"], rule["why"]) == (
        "not moved",
        "a second signal cut its move short: it may have moved",
    )
    assert rule["command"].startswith(f"aws events put-targets --rule {cluster}-nightly --region")
    assert rule["command"].count(" --region us-east-1") == 2  # each call, where the run was
    assert schedule["status"] == "not moved"
    assert schedule["command"].startswith("aws scheduler update-schedule --region us-east-1 ")
    assert any(w.startswith("Not pruned") for w in summary["warnings"]), summary["warnings"]
    assert "UpdateSchedule" not in run.calls
    assert "DeregisterTaskDefinition" not in run.calls


def test_scheduled_tasks_follow_a_successful_deploy(sandbox, cluster):
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:7", "pinned")
    rule_and_schedule(sandbox, cluster, "someone-else:1", "other")
    run = run_cli(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", *FAST, "--output", "json")
    assert run.code == 0, run.stderr
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-web:2",) * 2
    assert scheduled_revisions(sandbox, cluster, "pinned") == (f"{cluster}-web:7",) * 2
    assert scheduled_revisions(sandbox, cluster, "other") == ("someone-else:1",) * 2
    statuses = {
        (t["kind"], t["name"]): t["status"] for t in json.loads(run.stdout)["scheduled_tasks"]
    }
    assert statuses[("rule", f"{cluster}-nightly")] == "moved"
    assert statuses[("schedule", f"default/{cluster}-nightly")] == "moved"
    assert statuses[("rule", f"{cluster}-pinned")] == "pinned"
    assert f"rule {cluster}-nightly (target job): {cluster}-web:1 -> {cluster}-web:2" in run.stderr
    # the lookups ran while the rollout was watched, before the verdict
    assert run.calls.index("ListRuleNamesByTarget") < run.calls.index("PutTargets")


def test_dry_run_lists_what_would_move_and_none_moves_nothing(sandbox, cluster):
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    dry = run_cli(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--dry-run", *FAST)
    assert dry.code == 0, dry.stderr
    assert f"Scheduled task rule {cluster}-nightly (target job) will move" in said(dry)
    none = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--scheduled-tasks", "none", *FAST
    )
    assert none.code == 0, none.stderr
    assert "ListRuleNamesByTarget" not in none.calls
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-web:1",) * 2


def test_an_atomic_rollback_moves_scheduled_tasks_back(sandbox, cluster):
    breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
    service(sandbox, cluster, "api", deployment_configuration=breaker)
    service(sandbox, cluster, "worker", deployment_configuration=breaker)
    rule_and_schedule(sandbox, cluster, f"{cluster}-api:1")
    sandbox.set_faults("worker", fail_images=("*:2",))
    run = run_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--atomic", *FAST, "-t", "30"
    )
    assert run.code != 0, run.stderr
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-api:1",) * 2
    assert run.applied.count("PutTargets") == 2  # moved with api, then back with it


def test_scheduled_tasks_follow_a_registration_without_a_service(sandbox, cluster):
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    run = run_cli(sandbox, "-c", cluster, "-d", f"{cluster}-web", "-i", "nginx:2")
    assert run.code == 0, run.stderr
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-web:2",) * 2


def test_a_registration_denied_its_cluster_warns_and_says_how_to_stop_looking(sandbox, cluster):
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    sandbox.scheduler.inject(
        "DescribeClusters", "error", code="AccessDeniedException", message="no"
    )
    run = run_cli(
        sandbox, "-c", cluster, "-d", f"{cluster}-web", "-i", "nginx:2", "--output", "json"
    )
    assert run.code == 0, run.stderr
    (warning,) = json.loads(run.stdout)["warnings"]
    assert warning.startswith("Scheduled tasks not looked for: DescribeClusters: access denied")
    assert warning.endswith("pass --scheduled-tasks none to not look")
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-web:1",) * 2


def step_output(path) -> dict[str, str]:
    """The GITHUB_OUTPUT file as key -> value (one line each)."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


@pytest.mark.parametrize(
    ("denied", "after", "what"),
    [
        ("GET /schedules", ("web:2", "web:1"), "EventBridge Scheduler schedules"),
        ("ListRuleNamesByTarget", ("web:1", "web:2"), "EventBridge rules"),
    ],
    ids=["ListSchedules", "ListRuleNamesByTarget"],
)
def test_each_lookup_stands_on_its_own(sandbox, cluster, tmp_path, denied, after, what):
    """A role allowed EventBridge but not EventBridge Scheduler (or the other way round):
    what the other lookup found moves, and what could not be looked at is one warning, in
    the JSON summary and the step outputs too."""
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    sandbox.scheduler.inject(denied, "error", code="AccessDeniedException", message="no")
    outputs = tmp_path / "out"
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", *FAST, "--output", "json",
        GITHUB_OUTPUT=str(outputs),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert scheduled_revisions(sandbox, cluster) == tuple(f"{cluster}-{r}" for r in after)
    warnings = json.loads(run.stdout)["warnings"]
    assert len(warnings) == 1, warnings
    assert f"Scheduled tasks not looked for in {what}" in warnings[0]
    assert "--scheduled-tasks none" in warnings[0]
    action = "scheduler:ListSchedules" if denied.startswith("GET") else f"events:{denied}"
    assert f"the role needs {action}: see docs/iam.md" in warnings[0]  # the IAM action to grant
    assert json.loads(step_output(outputs)["warnings"]) == warnings


def test_a_scheduled_task_that_cannot_be_moved_is_a_warning_in_the_summary(
    sandbox, cluster, tmp_path
):
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    sandbox.scheduler.inject("PutTargets", "error", code="AccessDeniedException", message="no")
    outputs = tmp_path / "out"
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", *FAST, "--output", "json",
        GITHUB_OUTPUT=str(outputs),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-web:1", f"{cluster}-web:2")
    summary = json.loads(run.stdout)
    (warning,) = summary["warnings"]
    assert f"Scheduled task rule {cluster}-nightly (target job) not moved" in warning
    assert "--scheduled-tasks none" in warning
    assert f"aws events put-targets --rule {cluster}-nightly" in warning
    assert json.loads(step_output(outputs)["warnings"]) == summary["warnings"]
    rule = next(t for t in summary["scheduled_tasks"] if t["kind"] == "rule")
    assert rule["status"] == "failed"
    assert rule["command"].startswith("aws events put-targets")


def test_a_signal_while_scheduled_tasks_move_leaves_the_success_standing(sandbox, cluster):
    """The rollout COMPLETED; then, while PutTargets is throttled, SIGTERM: the deploy still
    succeeded (exit 0); what was not moved is named with the command that moves it, and
    nothing more is done (no UpdateSchedule, no pruning)."""
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    sandbox.scheduler.throttle("PutTargets", 1000)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--max-definitions", "1",
        *FAST, "--output", "json",
    )  # fmt: skip
    started.wait_for_call(sandbox, "PutTargets")
    started.signal(signal.SIGTERM)
    run = started.finish(sandbox)
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "succeeded"
    assert run.applied == ["RegisterTaskDefinition", "UpdateService"]
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-web:1",) * 2
    statuses = {t["kind"]: (t["status"], t["command"]) for t in summary["scheduled_tasks"]}
    assert statuses["rule"][0] == statuses["schedule"][0] == "not moved"
    assert statuses["rule"][1].startswith(f"aws events put-targets --rule {cluster}-nightly")
    assert statuses["schedule"][1].startswith("aws scheduler update-schedule")
    assert f"{cluster}-web:2" in statuses["schedule"][1]
    assert any("Not pruned" in w for w in summary["warnings"])


def test_a_one_off_task_moves_no_scheduled_task_unless_asked(sandbox, cluster):
    """-d with --run-task: the revision is not one a service has run; the family's
    scheduled tasks stay where they are, unless --scheduled-tasks says otherwise."""
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    one_off = ("-c", cluster, "-d", f"{cluster}-web", "-i", "nginx:2", "--run-task", *FAST)
    run = run_cli(sandbox, *one_off)
    assert run.code == 0, run.stderr
    assert "ListRuleNamesByTarget" not in run.calls
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-web:1",) * 2
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:2", "asked")  # on the family's newest
    asked = run_cli(
        sandbox, *one_off, "--wait-for-success", "--scheduled-tasks", f"{cluster}-asked"
    )
    assert asked.code == 0, asked.stderr
    assert scheduled_revisions(sandbox, cluster, "asked") == (f"{cluster}-web:3",) * 2
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-web:1",) * 2  # not asked


def test_pinned_scheduled_tasks_are_named_in_the_text_output(sandbox, cluster):
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:7", "pinned")
    rule_and_schedule(sandbox, cluster, "someone-else:1", "other")
    run = run_cli(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", *FAST)
    assert run.code == 0, run.stderr
    assert f"rule {cluster}-pinned (target job) left alone: pinned to {cluster}-web:7" in run.stdout
    assert f"schedule default/{cluster}-other left alone: runs family someone-else" in run.stdout


def test_a_scheduled_task_name_that_matches_nothing_is_a_warning(sandbox, cluster):
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--scheduled-tasks",
        f"{cluster}-nightly,{cluster}-nigthly", *FAST, "--output", "json",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert scheduled_revisions(sandbox, cluster) == (f"{cluster}-web:2",) * 2
    (warning,) = json.loads(run.stdout)["warnings"]
    assert warning.startswith(f"--scheduled-tasks {cluster}-nigthly: no EventBridge rule")


# -- every image of the build ---------------------------------------------------------------

SIDECAR = {"name": "log", "image": "fluent/fluent-bit:2", "memory": 64, "essential": False}


def test_every_image_of_the_build_in_one_revision(sandbox, cluster):
    service(sandbox, cluster, extra_containers=[SIDECAR], container={})
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "-i", "fluent/fluent-bit:3", *FAST
    )
    assert run.code == 0, run.stderr
    assert run.applied.count("RegisterTaskDefinition") == 1
    td = sandbox.client().describe_task_definition(taskDefinition=f"{cluster}-web:2")
    images = {c["name"]: c["image"] for c in td["taskDefinition"]["containerDefinitions"]}
    assert images == {"web": "nginx:2", "log": "fluent/fluent-bit:3"}


@pytest.mark.parametrize(
    ("images", "code", "message"),
    [
        (("nginx:2", "redis:7"), 14, "No container's image repository matches redis"),
        (("nginx:2", "nginx:3"), 3, "name one repository twice"),
    ],
)
def test_several_images_that_cannot_all_go(sandbox, cluster, images, code, message):
    service(sandbox, cluster, container={})
    args = [a for image in images for a in ("-i", image)]
    run = run_cli(sandbox, "-c", cluster, "-n", "web", *args, *FAST)
    assert run.code == code, run.stderr
    assert message in run.stderr
    assert run.mutating_calls == []


# -- a release: a signal after every service's verdict ---------------------------------------


@pytest.mark.parametrize(
    ("operation", "where"),
    [("PutTargets", "scheduled tasks move"), ("ListClusters", "pruning")],
    ids=["moving-scheduled-tasks", "pruning"],
)
def test_a_signal_after_every_services_verdict_leaves_the_release_succeeded(
    sandbox, cluster, operation, where
):
    """Both services COMPLETED and migrated; SIGTERM while they move their scheduled tasks
    (or prune): the release still succeeded (exit 0). What was not moved is named with the
    command that moves it; pruning stopped with a warning."""
    api_and_worker(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-api:1", "api-nightly")
    rule_and_schedule(sandbox, cluster, f"{cluster}-worker:1", "worker-nightly")
    # each service's call after its own verdict is held: once both are held, both are done
    sandbox.scheduler.inject(operation, "hold", count=2)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", "--max-definitions", "1", *FAST, "--output", "json",
    )  # fmt: skip
    started.wait_for_call(sandbox, operation, nth=2)
    started.signal(signal.SIGTERM)
    started.wait_delivered(signal.SIGTERM)  # it comes while both calls are under way
    sandbox.scheduler.release(operation)
    run = started.finish(sandbox)
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "succeeded", summary["reason"]
    assert [s["outcome"] for s in summary["services"]] == ["succeeded", "succeeded"]
    warnings = [w for s in summary["services"] for w in s["warnings"]]
    if where == "pruning":
        assert sum("Pruning stopped by a signal" in w for w in warnings) == 2, warnings
        return
    for name, service_summary in zip(("api", "worker"), summary["services"], strict=True):
        # the rule's PutTargets was under way: it moved; the schedule's never began
        assert scheduled_revisions(sandbox, cluster, f"{name}-nightly") == (
            f"{cluster}-{name}:2",
            f"{cluster}-{name}:1",
        )
        (schedule,) = (
            t
            for t in service_summary["scheduled_tasks"]
            if t["name"] == f"default/{cluster}-{name}-nightly"
        )
        assert schedule["status"] == "not moved"
        assert schedule["command"].startswith("aws scheduler update-schedule")
    assert sum("Not pruned" in w for w in warnings) == 2, warnings


@pytest.mark.parametrize(
    ("operation", "where"),
    [("PutTargets", "scheduled tasks move"), ("ListClusters", "pruning")],
    ids=["moving-scheduled-tasks", "pruning"],
)
def test_a_second_signal_after_every_services_verdict_leaves_the_release_succeeded(
    sandbox, cluster, operation, where
):
    """Both services COMPLETED; two SIGTERMs while each one's call after its verdict is in
    flight: the second stops the rest at once, and the release still succeeded (exit 0)."""
    api_and_worker(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-api:1", "api-nightly")
    rule_and_schedule(sandbox, cluster, f"{cluster}-worker:1", "worker-nightly")
    sandbox.scheduler.inject(operation, "hold", count=2)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--pre-deploy", "web",
        "migrate", "--max-definitions", "1", *FAST, "--output", "json",
    )  # fmt: skip
    try:
        started.wait_for_call(sandbox, operation, nth=2)
        started.signal(signal.SIGTERM)
        started.wait_delivered(signal.SIGTERM)  # two signals, not one merged by the kernel
        started.signal(signal.SIGTERM)
        run = started.finish(sandbox)
    finally:
        sandbox.scheduler.release(operation)
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "succeeded", summary["reason"]
    assert [s["outcome"] for s in summary["services"]] == ["succeeded", "succeeded"]
    assert [s["exit_code"] for s in summary["services"]] == [0, 0]
    warnings = [w for s in summary["services"] for w in s["warnings"]]
    assert sum("second signal" in w for w in warnings) == 2, warnings
    assert run.calls.count(operation) == 2  # nothing after the held calls


def test_a_second_signal_while_a_release_prunes_names_the_revision_being_deregistered(
    sandbox, cluster
):
    """Both services COMPLETED; two SIGTERMs while each one's DeregisterTaskDefinition is
    held: the release still succeeded, and each service's warning names the revision whose
    deregistration was cut short (it may be INACTIVE), as a single deploy's does."""
    api_and_worker(sandbox, cluster)
    ecs = sandbox.client()
    for name in ("api", "worker"):
        family = f"{cluster}-{name}"
        td = ecs.describe_task_definition(taskDefinition=f"{family}:1")["taskDefinition"]
        for _ in range(2):  # :2 and :3, older than the one the release registers
            ecs.register_task_definition(
                family=family, containerDefinitions=td["containerDefinitions"]
            )
    sandbox.scheduler.inject("DeregisterTaskDefinition", "hold", count=2)
    started = start_cli(
        sandbox, "-c", cluster, "-n", "api,worker", "-i", "nginx:2", "--max-definitions", "1",
        "--scheduled-tasks", "none", *FAST, "--output", "json",
    )  # fmt: skip
    try:
        started.wait_for_call(sandbox, "DeregisterTaskDefinition", nth=2)
        started.signal(signal.SIGTERM)
        started.wait_delivered(signal.SIGTERM)  # two signals, not one merged by the kernel
        started.signal(signal.SIGTERM)
        run = started.finish(sandbox)
    finally:
        sandbox.scheduler.release("DeregisterTaskDefinition")
    assert run.code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "succeeded", summary["reason"]
    for name in ("api", "worker"):
        (warning,) = [w for w in summary["warnings"] if w.startswith(f"{name}: A second signal")]
        assert f"; {cluster}-{name}:2 was being deregistered and may be INACTIVE" in warning


def test_scheduled_tasks_keywords_in_any_case_and_an_empty_variable_is_the_default(
    sandbox, cluster
):
    service(sandbox, cluster)
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1")
    none = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", "--scheduled-tasks", "NONE", *FAST
    )
    assert none.code == 0, none.stderr
    assert "ListRuleNamesByTarget" not in none.calls
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:2", "later")
    empty = run_cli(  # a CI template's unset variable: auto, as if not given
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:3", *FAST, ECS_DEPLOY_SCHEDULED_TASKS=""
    )
    assert empty.code == 0, empty.stderr
    assert scheduled_revisions(sandbox, cluster, "later") == (f"{cluster}-web:3",) * 2


# -- pruning keeps what the scheduled tasks run ---------------------------------------------


def status_of(sandbox, revision: str) -> str:
    described = sandbox.client().describe_task_definition(taskDefinition=revision)
    return str(described["taskDefinition"]["status"])


def pinned_to_the_first(sandbox, cluster) -> None:
    """web runs web:2 (web:1 before it); a rule and a schedule are pinned to web:1."""
    service(sandbox, cluster)
    assert run_cli(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2", *FAST).code == 0
    rule_and_schedule(sandbox, cluster, f"{cluster}-web:1", "pinned")


def test_pruning_keeps_the_revision_a_pinned_scheduled_task_runs(sandbox, cluster):
    pinned_to_the_first(sandbox, cluster)
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:3", "--max-definitions", "1", *FAST
    )
    assert run.code == 0, said(run)
    assert status_of(sandbox, f"{cluster}-web:1") == "ACTIVE"
    assert "DeregisterTaskDefinition" not in run.applied
    assert (
        f"Kept {cluster}-web:1: scheduled task rule {cluster}-pinned (target job) runs it"
        in said(run)
    )


def test_pruning_is_skipped_when_the_scheduled_tasks_could_not_be_looked_for(sandbox, cluster):
    pinned_to_the_first(sandbox, cluster)
    sandbox.scheduler.inject(
        "ListRuleNamesByTarget", "error", code="AccessDeniedException", message="no"
    )
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:3", "--max-definitions", "1", *FAST,
        "--output", "json",
    )  # fmt: skip
    assert run.code == 0, said(run)
    assert status_of(sandbox, f"{cluster}-web:1") == "ACTIVE"
    warnings = json.loads(run.stdout)["warnings"]
    assert any(w.startswith("Not pruned (--max-definitions 1): the scheduled") for w in warnings)


def test_pruning_without_looking_names_the_revisions_it_could_not_check(sandbox, cluster):
    pinned_to_the_first(sandbox, cluster)
    run = run_cli(
        sandbox, "-c", cluster, "-n", "web", "-i", "nginx:3", "--max-definitions", "1",
        "--scheduled-tasks", "none", *FAST,
    )  # fmt: skip
    assert run.code == 0, said(run)
    assert status_of(sandbox, f"{cluster}-web:1") == "INACTIVE"  # as asked
    assert (
        "Scheduled tasks not checked before pruning (--scheduled-tasks none): a rule or "
        f"schedule that runs {cluster}-web:1 could no longer start it"
    ) in said(run)


def test_a_scheduled_task_pinned_to_an_inactive_revision_is_a_warning(sandbox, cluster):
    pinned_to_the_first(sandbox, cluster)
    sandbox.client().deregister_task_definition(taskDefinition=f"{cluster}-web:1")
    run = run_cli(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:3", *FAST, "--output", "json")
    assert run.code == 0, said(run)
    warnings = json.loads(run.stdout)["warnings"]
    assert (
        f"Scheduled task rule {cluster}-pinned (target job) left alone: pinned to "
        f"{cluster}-web:1, which is INACTIVE (deregistered): it can no longer start tasks"
    ) in "\n".join(warnings)


def test_a_one_off_task_prunes_once_it_succeeded_and_says_what_its_base_was(sandbox, cluster):
    """-d … --run-task --max-definitions N prunes the family (docs/migrating.md), after the
    task succeeded; a scheduled task left alone is named against the revision the new one
    was registered from (there is no service)."""
    pinned_to_the_first(sandbox, cluster)
    one_off = ("-c", cluster, "-d", f"{cluster}-web", "--run-task", "--wait-for-success", *FAST)
    asked = run_cli(sandbox, *one_off, "-i", "nginx:3", "--scheduled-tasks", "auto")
    assert asked.code == 0, said(asked)
    assert (
        f"pinned to {cluster}-web:1, not {cluster}-web:2 (the revision the new one was "
        "registered from)"
    ) in said(asked)
    assert run_cli(sandbox, "-d", f"{cluster}-web", "-i", "nginx:4").code == 0  # web:4
    pruned = run_cli(sandbox, *one_off, "-i", "nginx:5", "--max-definitions", "1")
    assert pruned.code == 0, said(pruned)
    # web:1 a rule runs, web:2 the service, web:4 the new one's base: web:3 goes
    assert status_of(sandbox, f"{cluster}-web:3") == "INACTIVE"
    assert status_of(sandbox, f"{cluster}-web:1") == "ACTIVE"  # looked for, to prune
    assert "PutTargets" not in pruned.applied  # but a one-off moves none unless asked
    assert f"Deregistered {cluster}-web:3 (--max-definitions 1)" in said(pruned)
    assert pruned.applied.index("RunTask") < pruned.applied.index("DeregisterTaskDefinition")
    sandbox.set_faults(exit_codes=(("web", 3),))
    failed = run_cli(sandbox, *one_off, "-i", "nginx:6", "--max-definitions", "1")
    assert failed.code == 67, said(failed)
    assert "DeregisterTaskDefinition" not in failed.applied  # a failed task prunes nothing
