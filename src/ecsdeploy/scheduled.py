"""Scheduled tasks follow the deploy (the rules of what moves are in schedules.py): found
while the rollout is watched, moved after the deploy succeeded, moved back by a release's
rollback, listed by a dry run. Every read and write goes through the run's readers
(gateways.EventsGateway, SchedulerGateway) on a budget of its own, within --timeout; an AWS
error is a warning and leaves the scheduled tasks as they were.
"""

from __future__ import annotations

from dataclasses import replace

from ecsdeploy import schedules
from ecsdeploy.config import DeployConfig
from ecsdeploy.errors import EcsDeployError
from ecsdeploy.models import family_of, short_name
from ecsdeploy.policy import Interrupted
from ecsdeploy.result import DeployResult
from ecsdeploy.schedules import ScheduledTask
from ecsdeploy.story import Story

#: Seconds the scheduled tasks' reads and writes may retry (throttling), within --timeout.
SCHEDULED_BUDGET = 10.0


def find_scheduled(
    story: Story, cfg: DeployConfig, cluster_arn: str, current: str, new: str
) -> list[ScheduledTask]:
    """The rule targets and schedules of the family that run in the cluster, and which
    of them move from `current` to `new`; an AWS error (AccessDenied, ...) is one warning
    and no scheduled task is touched. Read-only."""
    if cfg.scheduled_tasks == "none" or story.readers is None:
        return []
    policy = story.policy.budget(SCHEDULED_BUDGET)
    found: list[ScheduledTask] = []
    try:
        events = story.readers.events(policy)
        for rule in events.rule_names_by_target(cluster_arn):
            found.extend(schedules.rule_tasks(rule, events.targets_by_rule(rule), cluster_arn))
        scheduler = story.readers.scheduler(policy)
        for summary in scheduler.schedules():
            if (summary.get("Target") or {}).get("Arn") == cluster_arn:
                full = scheduler.get_schedule(
                    summary["Name"], summary.get("GroupName") or "default"
                )
                if task := schedules.schedule_task(full, cluster_arn):
                    found.append(task)
    except Interrupted:
        raise
    except EcsDeployError as exc:
        story.reporter.warn(
            f"Scheduled tasks not looked for ({exc.message}): they keep their revisions; "
            "if this role is not meant to move them, pass --scheduled-tasks none"
        )
        return []
    selected = None if cfg.scheduled_tasks == "auto" else cfg.scheduled_tasks.split(",")
    return schedules.decide(found, family_of(current), current, new, selected)


def move_scheduled(
    story: Story, tasks: list[ScheduledTask], r: DeployResult, *, back: bool = False
) -> None:
    """Move the scheduled tasks decided to move (or, `back`, the moved ones back): one
    PutTargets per rule, one UpdateSchedule per schedule. A failure is a warning."""
    if story.readers is None:
        return
    policy = story.policy.budget(SCHEDULED_BUDGET)
    done: list[ScheduledTask] = []
    for task in tasks:
        want = "moved" if back else "move"
        if task.status != want or task.source is None:
            done.append(task)
            continue
        arn = task.task_definition if back else str(task.new_task_definition)
        try:
            if task.kind == "rule":
                story.readers.events(policy).put_targets(
                    task.name, [schedules.retarget_rule_target(task.source, arn)]
                )
            else:
                scheduler = story.readers.scheduler(policy)
                scheduler.update_schedule(
                    schedules.schedule_update(task.source, arn, scheduler.update_fields())
                )
        except Interrupted:
            raise
        except EcsDeployError as exc:
            story.reporter.warn(f"Scheduled task {task.label()} not moved: {exc.message}")
            done.append(replace(task, status="failed", why=exc.message))
            continue
        old, new = (
            (task.new_task_definition, task.task_definition)
            if back
            else (task.task_definition, task.new_task_definition)
        )
        story.reporter.info(
            f"Scheduled task {task.label()}: {short_name(old or '')} -> {short_name(new or '')}"
        )
        done.append(replace(task, status="moved back" if back else "moved"))
    r.scheduled_tasks = done


def show_scheduled(story: Story, tasks: list[ScheduledTask]) -> None:
    for task in tasks:
        if task.status == "move":
            story.reporter.info(
                f"Scheduled task {task.label()} will move: {short_name(task.task_definition)} "
                f"-> {short_name(task.new_task_definition or '')}"
            )
        else:
            story.reporter.info(f"Scheduled task {task.label()} left alone: {task.why}")
