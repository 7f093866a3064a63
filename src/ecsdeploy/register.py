"""The story of `-d` (no service): register a new revision of a task definition and, with
--run-task, run it as a one-off task; with --wait-for-success, wait for it through the
watcher's task wait (same pace, clock and deadline as a deploy) and judge its exit codes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ecsdeploy import taskdef
from ecsdeploy.config import DeployConfig, RunTaskConfig
from ecsdeploy.errors import (
    EcsDeployError,
    ExitCode,
    NoMatchingContainerError,
    TaskNotStartedError,
    UsageError,
)
from ecsdeploy.masking import redact
from ecsdeploy.plan import PLACEHOLDER_ARN, Planner, new_revision_asked
from ecsdeploy.policy import Aborted, Interrupted
from ecsdeploy.prune import prune
from ecsdeploy.result import DeployResult, Outcome
from ecsdeploy.scheduled import find_scheduled, follow_revision
from ecsdeploy.schedules import Lookup
from ecsdeploy.story import Phase, Story
from ecsdeploy.streams import LogStreamer
from ecsdeploy.watch import TaskWait, wait_for_tasks

#: Seconds a one-off task (or migration) that reached --timeout is given to be stopped
#: (StopTask).
STOP_BUDGET = 10.0


def register_only(story: Story, cfg: DeployConfig, r: DeployResult) -> None:
    """Describe, plan, check, register (and run, and wait) in that order; nothing is written
    before every request has been checked."""
    assert cfg.task_definition
    ecs, reporter = story.ecs, story.reporter
    planner = Planner(ecs, reporter)
    story.begin(cfg)
    story.phase = Phase.DESCRIBING_TASK_DEFINITION
    current, _ = ecs.describe_task_definition(cfg.task_definition)
    old_arn = r.old_task_definition = r.new_task_definition = str(current["taskDefinitionArn"])
    containers = list(current.get("containerDefinitions", []))
    plan = request = None
    if new_revision_asked(cfg):
        story.phase = Phase.PREPARING
        plan = planner.plan_revision(cfg, old_arn, current)
        request, containers = plan.request, plan.containers
    run_params = None
    if cfg.run_task is not None:
        check_overrides(cfg.run_task, containers)
        run_params = run_task_params(cfg)
        ecs.check_request("RunTask", {**run_params, "taskDefinition": PLACEHOLDER_ARN}, UsageError)
    if plan is not None:
        story.preflight(cfg, containers, r)
    if cfg.dry_run:
        planner.dry_run(r, old_arn, plan, None, run_params)
        return
    cluster_arn = None
    found: Lookup | None = None  # what pruning knows of the scheduled tasks
    if not cfg.cluster:
        found = Lookup(skipped="no cluster (-c) to look in")
    elif cfg.scheduled_tasks == "none" and (cfg.scheduled_tasks_given or not cfg.max_definitions):
        found = Lookup(skipped="--scheduled-tasks none")
    looks = plan is not None or bool(cfg.max_definitions)  # to move them, or to prune
    if looks and found is None and cfg.cluster and story.readers:
        try:  # -d with -c: that cluster's scheduled tasks of the family follow the revision
            cluster_arn = ecs.cluster_arn(cfg.cluster)
        except EcsDeployError as exc:
            found = Lookup(complete=False)
            reporter.warn(
                f"Scheduled tasks not looked for: {exc.message}; they keep their revisions"
                + (
                    "; pass --scheduled-tasks none to not look"
                    if exc.code == ExitCode.AWS_ACCESS_DENIED
                    else ""
                )
            )
    if request is not None:
        story.phase = Phase.REGISTERING
        r.new_task_definition = story.register(request)
    r.reason = "registered"
    if run_params is not None:
        story.phase = Phase.RUNNING_TASK
        run_params["taskDefinition"] = r.new_task_definition
        run_task(story, cfg, run_params, containers, r)
    if r.code != ExitCode.OK:
        return  # a one-off task that failed: nothing follows it, nothing is pruned
    story.settled = True  # registered (and run): what follows is housekeeping
    if cluster_arn is not None:
        new_arn = r.new_task_definition

        looking = cfg if cfg.scheduled_tasks != "none" else replace(cfg, scheduled_tasks="auto")

        def find() -> Lookup:
            return find_scheduled(
                story, looking, cluster_arn, old_arn, new_arn, base=REGISTERED_FROM
            )

        if new_arn != old_arn and cfg.scheduled_tasks != "none":
            found = follow_revision(story, r, find)
        elif cfg.max_definitions:  # to prune only: a one-off task moves none unless asked
            try:
                found = find()
            except Interrupted:
                found = None
    if cfg.max_definitions:  # after a one-off task too, once it started (or succeeded)
        prune(story, r, cfg.max_definitions, scheduled=found)


#: What the scheduled tasks that move ran, in a registration's words (decide's `base`).
REGISTERED_FROM = "the revision the new one was registered from"


def run_task_params(cfg: DeployConfig) -> dict[str, Any]:
    """RunTask's request from --run-task's options (the revision is filled in later)."""
    assert cfg.run_task is not None
    return one_off_params(cfg.run_task, cfg.cluster)


def one_off_params(
    run: RunTaskConfig, cluster: str | None, placement: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """RunTask's request for a one-off task: where it runs (a service's `placement`, for a
    migration, with the options' values over it) and its overrides for this run only."""
    params: dict[str, Any] = dict(placement or {})
    if cluster:
        params["cluster"] = cluster
    if run.launch_type:
        params.pop("capacityProviderStrategy", None)  # ECS takes one or the other
        params["launchType"] = run.launch_type
    if run.platform_version:
        params["platformVersion"] = run.platform_version
    if run.network_configuration:
        params["networkConfiguration"] = dict(run.network_configuration)
    if overrides := run.overrides():
        params["overrides"] = overrides
    return params


def check_overrides(run: RunTaskConfig, containers: Sequence[Mapping[str, Any]]) -> None:
    """Every container an override names is in the revision (exit 14 otherwise)."""
    have = [str(c.get("name")) for c in containers]
    named = {n for n, _ in run.commands} | {n for n, _, _ in run.environment}
    missing = sorted(named - set(have))
    if missing:
        raise NoMatchingContainerError(
            f"No container named {', '.join(missing)} in the task definition (it has: "
            f"{', '.join(have)}); nothing was registered or run"
        )


def run_task(
    story: Story,
    cfg: DeployConfig,
    params: dict[str, Any],
    containers: Sequence[Mapping[str, Any]],
    r: DeployResult,
) -> None:
    """--run-task (with --wait-for-success: wait, streaming its logs, and succeed only if
    every essential container exits 0; a sidecar marked essential=false may exit as it
    likes). The essential container's own exit code N shows as exit 64 + N (N <= 63)."""
    assert cfg.run_task is not None
    ended = run_one_off(
        story, cfg, params, containers, r, wait=cfg.run_task.wait_for_success, what="task"
    )
    if ended is None or ended.failures == []:
        return
    code = ended.exit_code
    r.code = (
        ExitCode(ExitCode.TASK_EXIT_BASE + code)
        if code and 0 < code < 64
        else ExitCode.DEPLOY_FAILED
    )
    r.outcome = Outcome.FAILED
    r.reason = "task failed: " + "; ".join(ended.failures)


@dataclass(frozen=True)
class OneOff:
    """How a one-off task ended: the failures of its essential containers (empty: every one
    exited 0) and the first one's exit code."""

    failures: list[str]
    exit_code: int | None


def run_one_off(
    story: Story,
    cfg: DeployConfig,
    params: dict[str, Any],
    containers: Sequence[Mapping[str, Any]],
    r: DeployResult,
    *,
    wait: bool,
    what: str,
) -> OneOff | None:
    """RunTask, and with `wait`, follow the task to its end on the watcher's task wait,
    streaming its containers' logs; None when not waited for (or interrupted, timed out:
    `r` says so). A task that cannot be placed or that stops before its containers ran is
    TaskNotStartedError, never a wait until --timeout. On a signal the task is stopped.
    `containers`: the revision's container definitions (which are essential; where they
    log)."""
    reporter = story.reporter
    cluster = params.get("cluster") or "default"
    # startedBy: what finds the task if a second signal cuts RunTask's answer short
    params = {"startedBy": f"ecs-deploy-{os.urandom(6).hex()}", **params}
    try:
        tasks = story.ecs.run_task(**params)
    except Aborted:  # its answer is lost: a task may have started all the same
        cli = story.aws_cli_args()
        story.tasks_on_signal = (
            f"RunTask was in flight, so the {what} may have started: find it with aws ecs "
            f"list-tasks --cluster {cluster} --started-by {params['startedBy']}{cli}, and stop "
            f"it with aws ecs stop-task --cluster {cluster} --task TASK_ID{cli}"
        )
        raise
    arns = [t.arn for t in tasks]
    reporter.info(f"Started {'task(s)' if what == 'task' else 'the ' + what}: {', '.join(arns)}")
    r.reason = f"{what} started"
    try:
        return _follow(
            story, cfg, params, containers, r, cluster=cluster, arns=arns, wait=wait, what=what
        )
    except Aborted:  # a second signal: the run ends at once, but the stop is still owed
        ended = {t.arn for t in r.stopped_tasks}  # seen STOPPED (the abort came after)
        if left := [a for a in arns if a not in ended]:
            story.tasks_on_signal = _stop_on_abort(story, cluster, left, what)
        raise


def _follow(
    story: Story,
    cfg: DeployConfig,
    params: dict[str, Any],
    containers: Sequence[Mapping[str, Any]],
    r: DeployResult,
    *,
    cluster: str,
    arns: list[str],
    wait: bool,
    what: str,
) -> OneOff | None:
    """`run_one_off` once the tasks `arns` started: wait for them (with `wait`), or stop
    them if a signal came while RunTask was in flight."""
    reporter, policy = story.reporter, story.policy
    if not wait:
        if policy.interrupted():  # the signal came while RunTask was in flight
            said = _stop_after_signal(story, cluster, arns, what)
            r.code, r.outcome = policy.exit_code, Outcome.INTERRUPTED
            r.reason = f"interrupted while starting the {what}: {said}"
        return None
    story.phase = Phase.WAITING_FOR_TASK
    assert policy.deadline is not None
    essential = {str(c["name"]) for c in containers if c.get("essential", True)}
    # what its lines are masked by: each container's own environment and its overrides
    ran = taskdef.masked_by(containers, params.get("overrides"))
    stream = None
    if story.readers is not None and cfg.log_lines:
        stream = LogStreamer(
            story.readers,
            policy,
            ran,
            reporter.task_log,
            reporter.warn,
            story.readers.credential_secrets,
            redact,
        )
    try:
        waited = wait_for_tasks(
            story.ecs,
            cluster,
            arns,
            deadline=policy.deadline,
            poll_interval=cfg.poll_interval,
            clock=story.clock,
            sleep=policy.sleep,
            interrupted=policy.interrupted,
            stream=stream if stream is not None and stream.follows_any() else None,
        )
    except Interrupted:  # a signal cut a read (of the tasks, or of their logs) short
        waited = TaskWait(Outcome.INTERRUPTED, [])
    except EcsDeployError as exc:  # it cannot be followed (DescribeTasks denied, ...)
        _stop_unobserved(story, cluster, arns, what, exc)
        raise
    if waited.outcome is Outcome.INTERRUPTED:
        said = _stop_after_signal(story, cluster, arns, what)
        r.code, r.outcome = policy.exit_code, Outcome.INTERRUPTED
        r.reason = f"interrupted while waiting for the {what}: {said}"
        return None
    if waited.outcome is Outcome.TIMED_OUT:  # no verdict will ever come: it must not go on alone
        r.code, r.outcome = ExitCode.DEPLOY_FAILED, Outcome.TIMED_OUT
        r.reason = f"timed out waiting for the {what} to stop ({cfg.timeout:g}s)"
        story.settled, story.phase = True, Phase.STOPPING_TASK
        policy.new_phase()  # the stop is owed: a signal as the wait ended does not skip it
        policy.deadline = story.clock() + STOP_BUDGET
        r.reason += ": " + _stopped(story, cluster, arns, what, "timed out")
        return None
    failures: list[str] = []
    exit_code: int | None = None
    r.stopped_tasks = waited.tasks
    for task in waited.tasks:
        for container in task.containers:
            ended = (
                "no exit code"  # it never ran, or ECS lost it
                if container.exit_code is None
                else f"exit code {container.exit_code}"
            )
            reporter.info(
                f"Task {task.id} container {container.name}: {ended}"
                + (f" ({container.reason})" if container.reason else "")
            )
            if container.name in essential and container.exit_code != 0:
                failures.append(
                    f"{container.name} exited {container.exit_code}"
                    if container.exit_code is not None
                    else f"{container.name} stopped with no exit code"
                )
                if exit_code is None and container.exit_code is not None:
                    exit_code = container.exit_code
        if task.stopped_reason and failures:
            reporter.info(f"Task {task.id} stopped: {task.stopped_reason}")
        if story.diagnoser is not None and any(c.failed for c in task.containers):
            diagnosis = story.diagnoser.task(task, containers=ran)
            r.diagnosis.append(diagnosis)
            if stream is None:  # streamed: its lines are on the screen already
                reporter.diagnosis(diagnosis)
        if task.stop_code == "TaskFailedToStart" or (
            failures and all(c.exit_code is None for c in task.containers)
        ):
            raise TaskNotStartedError(
                f"The {what} did not start: {task.stopped_reason or 'no reason given'}"
            )
    r.task_exit_code = exit_code if failures else 0
    if not failures:
        r.reason = f"{what} succeeded: every container exited 0"
    return OneOff(failures, exit_code)


def _stop_after_signal(story: Story, cluster: str, arns: list[str], what: str) -> str:
    """A signal while a one-off task runs: stop it (the one call a cancel owes), and say so;
    what the result's reason says of it."""
    story.policy.new_phase()
    return _stopped(story, cluster, arns, what, "was interrupted")


def _stop_unobserved(
    story: Story, cluster: str, arns: list[str], what: str, exc: EcsDeployError
) -> None:
    """A task we can no longer watch is stopped, as one that timed out is (nothing would
    report its end); `exc`'s message then says so, or how to stop it by hand."""
    story.policy.deadline = max(story.policy.deadline or 0.0, story.clock() + STOP_BUDGET)
    said = _stopped(story, cluster, arns, what, "could not follow it")
    exc.args = (f"{exc.message}; the {what} could not be followed: {said}", *exc.args[1:])


def _stopped(story: Story, cluster: str, arns: list[str], what: str, why: str) -> str:
    """Stop the tasks (`_stop`); what the result's reason says of them."""
    left = _stop(story, cluster, arns, what, why)
    if not left:
        return "it was stopped"
    cli = story.aws_cli_args()
    commands = "; ".join(stop_command(cluster, arn, cli) for arn in left)
    return f"it could not be stopped and may still be running: {commands}"


def stop_command(cluster: str, arn: str, cli: str = "") -> str:
    """The AWS CLI command that stops the task `arn` by hand (`cli`: Story.aws_cli_args)."""
    return f"aws ecs stop-task --cluster {cluster} --task {arn.rsplit('/', 1)[-1]}{cli}"


def _stop(story: Story, cluster: str, arns: list[str], what: str, why: str) -> list[str]:
    """StopTask for each task, each said in one line; the ones that could not be stopped
    (refused, throttled beyond the retries, cut short by a signal), each a warning that says
    it may still be running and how to stop it."""
    left = []
    for arn in arns:
        try:
            story.ecs.stop_task(cluster, arn, f"ecs-deploy {why} while the {what} ran")
        except (EcsDeployError, Aborted) as exc:
            said = (
                exc.message
                if isinstance(exc, EcsDeployError)
                else "a second signal cut the StopTask in flight short"
            )
            story.reporter.warn(
                f"Could not stop the {what} {arn} ({said}): it may still be running; to stop "
                f"it: {stop_command(cluster, arn, story.aws_cli_args())}"
            )
            left.append(arn)
            continue
        story.reporter.warn(f"Stopped the {what} {arn}: the run {why}")
    return left


#: Seconds the StopTask of a one-off task still running when a second signal aborted the run
#: is given, in all: the abort means "stop now", and a call that hangs is left behind.
ABORT_STOP_BUDGET = 2.0


def _stop_on_abort(story: Story, cluster: str, arns: list[str], what: str) -> str:
    """A second signal while the one-off tasks `arns` run: the run stops at once, but the
    StopTask a cancel owes is still sent, outside the aborted policy and bounded to
    ABORT_STOP_BUDGET seconds; what the abort's summary says of them (each also a warning):
    stopped, or how to stop it."""
    from ecsdeploy.ecs import EcsGateway
    from ecsdeploy.policy import RunPolicy

    policy = RunPolicy(deadline=story.clock() + ABORT_STOP_BUDGET, clock=story.clock)
    gateway = EcsGateway(story.ecs.client, policy=policy)
    gateway.on_call = story.ecs.on_call
    answers: dict[str, str | None] = {}  # each task's: None when stopped, else why not

    def stop() -> None:
        for arn in arns:
            try:
                gateway.stop_task(cluster, arn, f"ecs-deploy was aborted while the {what} ran")
                answers[arn] = None
            except Exception as exc:  # whatever it was, the warning says how to stop it
                answers[arn] = (
                    exc.message if isinstance(exc, EcsDeployError) else type(exc).__name__
                )

    worker = threading.Thread(target=stop, name="stop-on-abort", daemon=True)
    worker.start()
    worker.join(ABORT_STOP_BUDGET)
    cli = story.aws_cli_args()
    said = []
    for arn in arns:
        if arn in answers and answers[arn] is None:
            story.reporter.warn(f"Stopped the {what} {arn}: the run was aborted")
            said.append(f"the {what} {arn} was stopped")
            continue
        why = answers.get(arn) or f"no answer within {ABORT_STOP_BUDGET:g}s"
        command = stop_command(cluster, arn, cli)
        story.reporter.warn(
            f"Could not stop the {what} {arn} after the abort ({why}): it may still be "
            f"running; to stop it: {command}"
        )
        said.append(f"the {what} {arn} may still be running: {command}")
    return "; ".join(said)
