"""Scheduled tasks follow the deploy: the EventBridge rules' ECS targets and the EventBridge
Scheduler schedules that run the service's revision in its cluster move to the new one, so the
nightly job does not go on running last month's image.

Found by the cluster's ARN (ListRuleNamesByTarget; ListSchedules, then GetSchedule only for
the schedules whose target is the cluster), while the rollout is watched; moved after the
deploy succeeded. A scheduled task of another family, or pinned to a revision that is not the
one the service ran, is left alone and named (it may be pinned on purpose); one that names a
family without a revision already follows its newest revision. Rewriting is pure
(`retarget_rule_target`, `schedule_update`): every other field of a target or a schedule is
kept (UpdateSchedule replaces the whole schedule, so the request carries all of it).

IAM actions: events:ListRuleNamesByTarget, events:ListTargetsByRule, events:PutTargets,
scheduler:ListSchedules, scheduler:GetSchedule, scheduler:UpdateSchedule (and iam:PassRole on
the targets' roles, as any PutTargets or UpdateSchedule needs).
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ecsdeploy.models import family_of, short_name

Kind = Literal["rule", "schedule"]
Status = Literal[
    "move", "moved", "pinned", "latest", "failed", "not moved", "moved back", "not moved back"
]


@dataclass(frozen=True)
class ScheduledTask:
    """One rule target or schedule that runs a task definition in the cluster."""

    kind: Kind
    name: str  # the rule's name, or GROUP/NAME of a schedule
    target: str | None  # the rule target's Id
    task_definition: str
    status: Status = "move"
    why: str = ""
    new_task_definition: str | None = None
    #: What a write needs: the rule's target, or the whole schedule (GetSchedule's answer).
    source: Mapping[str, Any] | None = None
    #: Not moved (failed, or a signal came first): the command that would move it.
    command: str | None = None
    #: Pinned to a revision that is INACTIVE (deregistered): it can no longer start tasks.
    inactive: bool = False

    def label(self) -> str:
        return (
            f"rule {self.name} (target {self.target})"
            if self.kind == "rule"
            else (f"schedule {self.name}")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "target": self.target,
            "old_task_definition": self.task_definition,
            "new_task_definition": self.new_task_definition,
            "status": self.status,
            "why": self.why,
            "command": self.command,
        }


@dataclass
class Lookup:
    """What the scheduled-task lookups of one cluster saw: `found`, every rule target and
    schedule that runs a task there (before any was decided on, whatever --scheduled-tasks
    selects: pruning keeps what they run); `decided`, the ones of the deploy, each with what
    happens to it; `complete`, False when a lookup failed (what it would have found is not
    known); `skipped`, why none was looked for (then nothing is known)."""

    decided: list[ScheduledTask] = field(default_factory=list)
    found: list[ScheduledTask] = field(default_factory=list)
    complete: bool = True
    skipped: str | None = None

    def runs(self) -> dict[str, str]:
        """Revision (family:revision) -> the scheduled task that runs it (its label)."""
        out: dict[str, str] = {}
        for task in self.found:
            out.setdefault(short_name(task.task_definition), task.label())
        return out


#: What `current` is, in decide's words, for a service deploy.
SERVICE_RAN = "the revision the service ran"


def decide(
    found: Iterable[ScheduledTask],
    family: str,
    current: str,
    new: str,
    selected: Sequence[str] | None = None,
    *,
    base: str = SERVICE_RAN,
    inactive: frozenset[str] = frozenset(),
) -> list[ScheduledTask]:
    """Which scheduled tasks move from `current` (`base`: the revision the service ran, or
    the one a registration started from) to `new`: the rest are left alone with the reason.
    `selected`: only these names (None: all). `inactive`: the family's revisions (short
    names) found INACTIVE: one pinned to them can no longer start tasks."""
    decided = []
    for task in found:
        if (
            selected is not None
            and task.name not in selected
            and task.name.split("/")[-1] not in selected
        ):
            continue
        runs = task.task_definition
        if family_of(runs) != family:
            why = f"runs family {family_of(runs)}, not {family}"
            decided.append(replace(task, status="pinned", why=why))
        elif ":" not in short_name(runs):
            why = f"names the family {family} without a revision: it runs the newest already"
            decided.append(replace(task, status="latest", why=why))
        elif short_name(runs) in inactive:
            why = (
                f"pinned to {short_name(runs)}, which is INACTIVE (deregistered): it can no "
                "longer start tasks; point it at an ACTIVE revision"
            )
            decided.append(replace(task, status="pinned", why=why, inactive=True))
        elif not _same_revision(runs, current):
            why = (
                f"pinned to {short_name(runs)}, not {short_name(current)} ({base}); it may be "
                "pinned on purpose"
            )
            decided.append(replace(task, status="pinned", why=why))
        else:
            decided.append(replace(task, status="move", new_task_definition=new))
    return decided


def _same_revision(a: str, b: str) -> bool:
    return short_name(a) == short_name(b)


def retarget_rule_target(target: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """The rule's target running `arn`, every other field kept. Pure."""
    new: dict[str, Any] = copy.deepcopy(dict(target))
    new["EcsParameters"]["TaskDefinitionArn"] = arn
    return new


def schedule_update(
    schedule: Mapping[str, Any], arn: str, accepted: Iterable[str]
) -> dict[str, Any]:
    """The UpdateSchedule request that keeps the whole schedule but its target's revision:
    every member of GetSchedule's answer that UpdateSchedule `accepted` takes. Pure."""
    request = {k: copy.deepcopy(v) for k, v in schedule.items() if k in set(accepted)}
    request["Target"]["EcsParameters"]["TaskDefinitionArn"] = arn
    return request


def move_command(task: ScheduledTask, arn: str, cli: str = "") -> str:
    """The AWS CLI command (with jq) that points the rule's target, or the schedule, at `arn`
    and keeps every other field, as ecs-deploy's own write would. It reads the target as it
    is when run, so no value of it (an override may hold a secret) is printed here. `cli`:
    the options each `aws` call takes (` --region R`, ...). Pure."""
    q = shlex.quote
    if task.kind == "rule":
        edit = (
            f'[.Targets[] | select(.Id == "{task.target}") | '
            f'.EcsParameters.TaskDefinitionArn = "{arn}"]'
        )
        return (
            f'aws events put-targets --rule {q(task.name)}{cli} --targets "$(aws events '
            f'list-targets-by-rule --rule {q(task.name)}{cli} | jq -c {q(edit)})"'
        )
    group, name = task.name.split("/", 1)
    edit = (
        "del(.Arn, .CreationDate, .LastModificationDate) | "
        f'.Target.EcsParameters.TaskDefinitionArn = "{arn}"'
    )
    return (
        f'aws scheduler update-schedule{cli} --cli-input-json "$(aws scheduler get-schedule '
        f'--group-name {q(group)} --name {q(name)}{cli} | jq -c {q(edit)})"'
    )


def rule_tasks(
    rule: str, targets: Iterable[Mapping[str, Any]], cluster_arn: str
) -> list[ScheduledTask]:
    """The ECS targets of one rule that run in the cluster."""
    return [
        ScheduledTask(
            "rule", rule, str(t.get("Id")), str(t["EcsParameters"]["TaskDefinitionArn"]), source=t
        )
        for t in targets
        if t.get("Arn") == cluster_arn and (t.get("EcsParameters") or {}).get("TaskDefinitionArn")
    ]


def schedule_task(schedule: Mapping[str, Any], cluster_arn: str) -> ScheduledTask | None:
    """A schedule (GetSchedule's answer) that runs a task in the cluster, or None."""
    target = schedule.get("Target") or {}
    runs = (target.get("EcsParameters") or {}).get("TaskDefinitionArn")
    if target.get("Arn") != cluster_arn or not runs:
        return None
    name = f"{schedule.get('GroupName') or 'default'}/{schedule.get('Name')}"
    return ScheduledTask("schedule", name, None, str(runs), source=schedule)
