"""The story of `-d` (no service): register a new revision of a task definition and, with
--run-task, run it as a one-off task; with --wait-for-success, wait for it through the
watcher's task wait (same pace, clock and deadline as a deploy) and judge its exit codes.
"""

from __future__ import annotations

from typing import Any

from ecsdeploy.config import DeployConfig
from ecsdeploy.errors import ExitCode, UsageError
from ecsdeploy.plan import PLACEHOLDER_ARN, Planner, new_revision_asked
from ecsdeploy.prune import prune
from ecsdeploy.result import DeployResult, Outcome
from ecsdeploy.story import Phase, Story
from ecsdeploy.watch import wait_for_tasks


def register_only(story: Story, cfg: DeployConfig, r: DeployResult) -> None:
    """Describe, plan, check, register (and run, and wait) in that order; nothing is written
    before every request has been checked."""
    assert cfg.task_definition
    ecs, reporter = story.ecs, story.reporter
    planner = Planner(ecs, reporter)
    for notice in cfg.notices:
        reporter.warn(notice)
    story.diagnose_with(cfg)
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
        run_params = run_task_params(cfg)
        ecs.check_request("RunTask", {**run_params, "taskDefinition": PLACEHOLDER_ARN}, UsageError)
    if plan is not None:
        story.preflight(cfg, containers, r)
    if cfg.dry_run:
        planner.dry_run(r, old_arn, plan, None, run_params)
        return
    if request is not None:
        story.phase = Phase.REGISTERING
        r.new_task_definition = story.register(request)
    r.reason = "registered"
    if run_params is not None:
        essential = {c["name"] for c in containers if c.get("essential", True)}
        story.phase = Phase.RUNNING_TASK
        run_params["taskDefinition"] = r.new_task_definition
        run_task(story, cfg, run_params, essential, r)
    elif cfg.max_definitions:
        prune(story, r, cfg.max_definitions)


def run_task_params(cfg: DeployConfig) -> dict[str, Any]:
    """RunTask's request from --run-task's options (the revision is filled in later)."""
    run = cfg.run_task
    assert run is not None
    params: dict[str, Any] = {}
    if cfg.cluster:
        params["cluster"] = cfg.cluster
    if run.launch_type:
        params["launchType"] = run.launch_type
    if run.platform_version:
        params["platformVersion"] = run.platform_version
    if run.network_configuration:
        params["networkConfiguration"] = dict(run.network_configuration)
    return params


def run_task(
    story: Story, cfg: DeployConfig, params: dict[str, Any], essential: set[str], r: DeployResult
) -> None:
    """RunTask; with --wait-for-success, succeed only if every essential container exits 0
    (a sidecar marked essential=false may exit as it likes)."""
    assert cfg.run_task is not None
    reporter, policy = story.reporter, story.policy
    tasks = story.ecs.run_task(**params)
    arns = [t.arn for t in tasks]
    reporter.info(f"Started task(s): {', '.join(arns)}")
    r.reason = "task started"
    if not cfg.run_task.wait_for_success:
        return
    story.phase = Phase.WAITING_FOR_TASK
    assert policy.deadline is not None
    waited = wait_for_tasks(
        story.ecs,
        cfg.cluster or "default",
        arns,
        deadline=policy.deadline,
        poll_interval=cfg.poll_interval,
        clock=story.clock,
        sleep=policy.sleep,
        interrupted=policy.interrupted,
    )
    if waited.outcome is Outcome.INTERRUPTED:
        r.code, r.outcome = policy.exit_code, Outcome.INTERRUPTED
        r.reason = "interrupted while waiting for the task"
        return
    if waited.outcome is Outcome.TIMED_OUT:
        r.code, r.outcome = ExitCode.DEPLOY_FAILED, Outcome.TIMED_OUT
        r.reason = f"timed out waiting for the task(s) to stop ({cfg.timeout:g}s)"
        return
    failures = []
    for task in waited.tasks:
        for container in task.containers:
            reporter.info(
                f"Task {task.id} container {container.name}: exit code {container.exit_code}"
                + (f" ({container.reason})" if container.reason else "")
            )
            if container.name in essential and container.exit_code != 0:
                failures.append(f"{container.name} exited {container.exit_code}")
        if task.stopped_reason and failures:
            reporter.info(f"Task {task.id} stopped: {task.stopped_reason}")
        if story.diagnoser is not None and any(c.failed for c in task.containers):
            diagnosis = story.diagnoser.task(task)
            r.diagnosis.append(diagnosis)
            reporter.diagnosis(diagnosis)
    r.stopped_tasks = waited.tasks
    if failures:
        r.code, r.outcome = ExitCode.DEPLOY_FAILED, Outcome.FAILED
        r.reason = "task failed: " + "; ".join(failures)
    else:
        r.reason = "task succeeded: every container exited 0"
