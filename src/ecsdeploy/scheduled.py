"""Scheduled tasks follow the deploy (the rules of what moves are in schedules.py): found
while the rollout is watched, moved after the deploy succeeded, moved back by a release's
rollback, listed by a dry run. Every read and write goes through the run's readers
(gateways.EventsGateway, SchedulerGateway) on a budget of its own, within --timeout. The two
lookups (rules, schedules) stand each on its own; an AWS error is a warning (recorded in the
summary) and leaves the scheduled tasks it concerns as they were. The verdict comes first: a
signal once it is reached stops the lookups and moves, never changes it, and each scheduled
task not moved is named with the command that would move it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from ecsdeploy import schedules
from ecsdeploy.config import DeployConfig
from ecsdeploy.errors import AwsAccessError, EcsDeployError
from ecsdeploy.gateways import AwsReaders
from ecsdeploy.models import family_of, short_name
from ecsdeploy.policy import Aborted, Interrupted, RunPolicy
from ecsdeploy.result import DeployResult
from ecsdeploy.schedules import Lookup, ScheduledTask, Status
from ecsdeploy.story import Phase, Story

#: Seconds the scheduled tasks' reads and writes may retry (throttling), within --timeout.
SCHEDULED_BUDGET = 10.0


def _rules(readers: AwsReaders, policy: RunPolicy, cluster_arn: str) -> Iterator[ScheduledTask]:
    events = readers.events(policy)
    for rule in events.rule_names_by_target(cluster_arn):
        yield from schedules.rule_tasks(rule, events.targets_by_rule(rule), cluster_arn)


def _schedules(readers: AwsReaders, policy: RunPolicy, cluster_arn: str) -> Iterator[ScheduledTask]:
    scheduler = readers.scheduler(policy)
    for summary in scheduler.schedules():
        if (summary.get("Target") or {}).get("Arn") == cluster_arn:
            full = scheduler.get_schedule(summary["Name"], summary.get("GroupName") or "default")
            if task := schedules.schedule_task(full, cluster_arn):
                yield task


#: The two lookups, each with what it looks at and the IAM actions it needs.
_LOOKUPS: tuple[tuple[str, str, Callable[..., Iterator[ScheduledTask]]], ...] = (
    ("EventBridge rules", "events:ListRuleNamesByTarget and events:ListTargetsByRule", _rules),
    (
        "EventBridge Scheduler schedules",
        "scheduler:ListSchedules and scheduler:GetSchedule",
        _schedules,
    ),
)


def find_scheduled(
    story: Story,
    cfg: DeployConfig,
    cluster_arn: str,
    current: str,
    new: str,
    *,
    base: str = schedules.SERVICE_RAN,
) -> Lookup:
    """The rule targets and schedules that run in the cluster, and which of the family's
    move from `current` (`base` says what it is) to `new`. The rules and the schedules are
    looked up each on its own: what one lookup finds is decided on even when the other
    fails; what could not be looked at is one warning, and none of it is touched. A name of
    --scheduled-tasks that matches nothing found is a warning too. One pinned to a revision
    of the family that is INACTIVE is a warning when named. Read-only."""
    if cfg.scheduled_tasks == "none":
        return Lookup(skipped="--scheduled-tasks none")
    if story.readers is None:
        return Lookup(skipped="no EventBridge reads in this run")
    policy = story.policy.budget(SCHEDULED_BUDGET)
    found: list[ScheduledTask] = []
    unseen: list[tuple[str, str, EcsDeployError]] = []
    for what, actions, look in _LOOKUPS:
        try:
            found.extend(list(look(story.readers, policy, cluster_arn)))  # all or none
        except Interrupted:
            raise
        except EcsDeployError as exc:
            unseen.append((what, actions, exc))
    if unseen:
        story.reporter.warn(_not_looked_for(unseen))
    selected = None
    if cfg.scheduled_tasks != "auto":
        selected = [n.strip() for n in cfg.scheduled_tasks.split(",") if n.strip()]
        named = {t.name for t in found} | {t.name.split("/")[-1] for t in found}
        if unmatched := [n for n in selected if n not in named]:
            cluster = cluster_arn.rsplit("/", 1)[-1]
            story.reporter.warn(
                f"--scheduled-tasks {', '.join(unmatched)}: no EventBridge rule or schedule "
                f"of that name was found running tasks in cluster {cluster}; nothing was "
                "moved for it"
            )
    family = family_of(current)
    inactive = _inactive(story, found, family, current)
    decided = schedules.decide(found, family, current, new, selected, base=base, inactive=inactive)
    return Lookup(decided, found, complete=not unseen)


def _inactive(
    story: Story, found: list[ScheduledTask], family: str, current: str
) -> frozenset[str]:
    """The revisions of `family`, other than `current`, that scheduled tasks are pinned to
    and that are INACTIVE (one DescribeTaskDefinition each; one that cannot be read is taken
    as it is)."""
    pinned = {
        short_name(t.task_definition)
        for t in found
        if family_of(t.task_definition) == family
        and ":" in short_name(t.task_definition)
        and short_name(t.task_definition) != short_name(current)
    }
    inactive = set()
    for revision in sorted(pinned):
        try:
            described, _ = story.ecs.describe_task_definition(revision)
        except Interrupted:
            raise
        except EcsDeployError:
            continue
        if described.get("status") == "INACTIVE":
            inactive.add(revision)
    return frozenset(inactive)


def _not_looked_for(unseen: list[tuple[str, str, EcsDeployError]]) -> str:
    where = " and ".join(f"{what} ({exc.message})" for what, _, exc in unseen)
    message = f"Scheduled tasks not looked for in {where}: any there keep their revisions"
    if denied := [actions for _, actions, exc in unseen if isinstance(exc, AwsAccessError)]:
        message += f"; allow {' and '.join(denied)}, or pass --scheduled-tasks none to not look"
    return message


def follow_revision(story: Story, r: DeployResult, find: Callable[[], Lookup]) -> Lookup | None:
    """After the verdict (a successful deploy or registration): the scheduled tasks `find`
    decided on move; what it found (pruning keeps what they run), or None when a signal
    stopped the lookup. A signal now stops the lookup or the moves, and leaves the verdict
    as it is (a second one too)."""
    story.phase = Phase.MOVING_SCHEDULED
    try:
        lookup = find()
    except (Interrupted, Aborted) as exc:
        which = "a second signal" if isinstance(exc, Aborted) else "a signal"
        story.reporter.warn(
            f"Scheduled tasks not looked for: {which} arrived after the deploy succeeded; "
            "they keep their revisions"
        )
        return None
    move_scheduled(story, lookup.decided, r)
    return lookup


def move_scheduled(
    story: Story, tasks: list[ScheduledTask], r: DeployResult, *, back: bool = False
) -> None:
    """Move the scheduled tasks decided to move (or, `back`, the moved ones back): one
    PutTargets per rule, one UpdateSchedule per schedule; those left alone are named. A
    failure is a warning; a signal stops the moves still to come. Each one not moved is
    named with the command that would move it."""
    if story.readers is None:
        return
    policy = story.policy.budget(SCHEDULED_BUDGET)
    done: list[ScheduledTask] = []
    signalled = False
    for task in tasks:
        want = "moved" if back else "move"
        if task.status != want or task.source is None:
            if not back and task.status in ("pinned", "latest"):
                _say_left_alone(story, task)
            done.append(task)
            continue
        old, new = (
            (str(task.new_task_definition), task.task_definition)
            if back
            else (task.task_definition, str(task.new_task_definition))
        )
        if not signalled:
            try:
                _write(story.readers, policy, task, new)
            except Interrupted:
                signalled = True
            except Aborted:  # a second signal: after the verdict, it stops the moves alone
                if back:
                    raise  # a rollback's: the abort is the release's to report
                signalled = True
                done.append(_not_moved(story, task, old, new, None, back=back, cut=True))
                continue
            except EcsDeployError as exc:
                done.append(_not_moved(story, task, old, new, exc, back=back))
                continue
        if signalled:
            done.append(_not_moved(story, task, old, new, None, back=back))
            continue
        story.reporter.info(
            f"Scheduled task {task.label()}: {short_name(old)} -> {short_name(new)}"
        )
        done.append(replace(task, status="moved back" if back else "moved"))
    r.scheduled_tasks = done


def _write(readers: AwsReaders, policy: RunPolicy, task: ScheduledTask, arn: str) -> None:
    assert task.source is not None
    if task.kind == "rule":
        readers.events(policy).put_targets(
            task.name, [schedules.retarget_rule_target(task.source, arn)]
        )
    else:
        scheduler = readers.scheduler(policy)
        scheduler.update_schedule(
            schedules.schedule_update(task.source, arn, scheduler.update_fields())
        )


def _not_moved(
    story: Story,
    task: ScheduledTask,
    old: str,
    new: str,
    error: EcsDeployError | None,
    *,
    back: bool,
    cut: bool = False,
) -> ScheduledTask:
    """Say that `task` still runs `old`, why, and the command that would move it to `new`;
    `cut`: a second signal cut its write short, and whether it took effect is not known."""
    command = schedules.move_command(task, new, story.aws_cli_args())
    if cut:
        why = "a second signal cut its move short: it may have moved"
    elif error is None:
        why = "a signal arrived before it was moved"
    else:
        why = error.message
        if isinstance(error, AwsAccessError):
            action = "events:PutTargets" if task.kind == "rule" else "scheduler:UpdateSchedule"
            why += f"; allow {action}, or pass --scheduled-tasks none to leave them be"
    story.reporter.warn(
        f"Scheduled task {task.label()} not {'moved back' if back else 'moved'} ({why}): it "
        f"{'may still run' if cut else 'still runs'} {short_name(old)}; to move it to "
        f"{short_name(new)}: {command}"
    )
    status: Status = "failed" if error else ("not moved back" if back else "not moved")
    return replace(task, status=status, why=why, command=command)


def show_scheduled(story: Story, tasks: list[ScheduledTask]) -> None:
    for task in tasks:
        if task.status == "move":
            story.reporter.info(
                f"Scheduled task {task.label()} will move: {short_name(task.task_definition)} "
                f"-> {short_name(task.new_task_definition or '')}"
            )
        else:
            _say_left_alone(story, task)


def _say_left_alone(story: Story, task: ScheduledTask) -> None:
    """Name a scheduled task left alone, and why: a warning when it can no longer start."""
    say = story.reporter.warn if task.inactive else story.reporter.info
    say(f"Scheduled task {task.label()} left alone: {task.why}")
