"""The rollout watcher: a function of (service state, clock). Never prints, never exits,
never changes anything in AWS.

Two judges, side by side: `assess` judges a ROLLING deploy from DescribeServices alone (one
call per poll whatever the service's size); `assess_service_deployment` judges a BLUE_GREEN,
LINEAR or CANARY deploy from the service deployment ECS keeps for it
(DescribeServiceDeployments, beside DescribeServices for events and task counts). One poll
loop drives either. Tasks are listed and described only to explain failures (paginated, at
most 100 ARNs a call).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Protocol

from ecsdeploy.errors import EcsDeployError
from ecsdeploy.models import (
    Deployment,
    HookDetail,
    Service,
    ServiceDeployment,
    ServiceEvent,
    Task,
    short_name,
)
from ecsdeploy.policy import Interrupted
from ecsdeploy.result import Outcome

DEFAULT_POLL_INTERVAL = 1.0
#: The first poll after the update comes this soon, and the wait grows by RAMP each poll up
#: to the interval: short rollouts and early failures (image pulls) show up in the first
#: seconds, while a long rollout still costs one call per interval.
FIRST_POLL = 0.25
RAMP = 1.5
#: When a rollout is about to finish (every new task running; no old task running), the
#: waits start again from this one and ramp up as before: the end is seen within a fraction
#: of a second, for a few more calls per deploy. Each sign resets the ramp once.
FINISHING_POLL = 0.1
MAX_STOPPED_TASKS_SHOWN = 10  # a crash-looping deployment stops tasks faster than anyone reads
JITTER = 0.1  # +-10% of the interval, so many CI jobs do not poll in lock-step
#: After one-off tasks stop, their last log lines can take seconds to become readable
#: (CloudWatch Logs ingestion): the logs are read again LOG_SETTLE seconds apart until two
#: reads in a row find nothing, for at most LOG_GRACE seconds.
LOG_SETTLE = 1.0
LOG_GRACE = 5.0


@dataclass
class Pacer:
    """The pace of every poll loop: the first poll soon, then each wait RAMP times the last
    up to the interval, jittered, never past the deadline; `hurry` starts the ramp again
    from FINISHING_POLL (the end of a rollout is near)."""

    interval: float
    rng: random.Random
    wait: float = 0.0

    def __post_init__(self) -> None:
        self.wait = min(FIRST_POLL, self.interval)

    def hurry(self) -> None:
        self.wait = min(FINISHING_POLL, self.interval)

    def pause(self, sleep: Callable[[float], object], now: float, deadline: float) -> None:
        jittered = self.wait * (1 + self.rng.uniform(-JITTER, JITTER))
        sleep(max(0.0, min(jittered, deadline - now)))
        self.wait = min(self.wait * RAMP, self.interval)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class WatchSettings:
    deadline: float  # a clock() value
    poll_interval: float = DEFAULT_POLL_INTERVAL
    max_failed_tasks: int | None = None
    skip_deployments_check: bool = False
    #: With skip_deployments_check: the revision has health checks, so the running task
    #: must also be HEALTHY (that needs a task-level look, so it is not decided in assess).
    require_healthy: bool = False
    #: Native strategies: "complete" (SUCCESSFUL, after bake time and clean-up) or
    #: "traffic-shifted" (production traffic all on the new revision, bake time begun).
    wait_until: str = "complete"
    #: Native strategies, a hook awaiting action: "wait" keeps waiting; anything else ends
    #: the wait as Outcome.PAUSED, for the deployer to act on.
    on_pause: str = "wait"
    #: Hooks already answered with ContinueServiceDeployment: ECS may show them awaiting
    #: action for a moment longer, and they must not be announced or answered twice.
    answered_hooks: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Target:
    """What we wait for: our deployment, and the revision it replaced (to spot a rollback)."""

    cluster: str
    service: str
    deployment_id: str
    previous_task_definition: str | None
    #: Native strategies: the service deployment our UpdateService started, followed by ARN.
    service_deployment_arn: str | None = None


@dataclass
class WatchResult:
    outcome: Outcome
    reason: str
    service: Service | None
    deployment: Deployment | None
    stopped_tasks: list[Task] = field(default_factory=list)
    polls: int = 0
    #: The AWS error that ended the wait (Outcome.ERROR); service/deployment are then the
    #: last state seen before it.
    error: EcsDeployError | None = None
    service_deployment: ServiceDeployment | None = None
    #: What was already shown, so that a wait resumed after acting on a pause repeats nothing.
    events_seen: set[str] = field(default_factory=set)
    tasks_seen: set[str] = field(default_factory=set)
    stage_shown: tuple[object, ...] | None = None


class Gateway(Protocol):
    def describe_service(self, cluster: str, service: str) -> Service: ...
    def list_tasks(self, cluster: str, **filters: str) -> list[str]: ...
    def describe_tasks(self, cluster: str, arns: list[str]) -> list[Task]: ...
    def describe_service_deployment(self, arn: str) -> ServiceDeployment: ...


class Observer(Protocol):
    """Where the watcher reports what it sees (output.py's reporter, or a test's list)."""

    def progress(
        self,
        service: Service,
        deployment: Deployment | None,
        elapsed: float,
        sd: ServiceDeployment | None = None,
    ) -> None: ...
    def service_event(self, event: ServiceEvent) -> None: ...
    def task_stopped(self, task: Task) -> None: ...
    def warn(self, message: str) -> None: ...
    def stage_changed(self, sd: ServiceDeployment) -> None: ...
    def paused(self, sd: ServiceDeployment, hook: HookDetail) -> None: ...


def assess(
    service: Service, target: Target, settings: WatchSettings, seen: Deployment | None = None
) -> Verdict | None:
    """The verdict on one DescribeServices snapshot; None means keep waiting. `seen` is our
    deployment as an earlier poll saw it (ECS may list it no more)."""
    if not service.is_active:
        return Verdict(Outcome.SERVICE_INACTIVE, f"the service is {service.status}")
    ours = service.deployment(target.deployment_id)
    primary = service.primary
    if ours is None or not ours.is_primary:
        previous = target.previous_task_definition
        if rolled_back_to_previous(service, target.deployment_id, previous) or (
            ours is not None and ours.rollout_failed
        ):
            return Verdict(
                Outcome.ROLLED_BACK_BY_ECS,
                ecs_rollback_reason(service, target.deployment_id, seen),
            )
        return Verdict(
            Outcome.SUPERSEDED,
            f"superseded by deployment {primary.id if primary else 'unknown'} "
            f"(revision {_revision(primary)}): another deploy started; it was left alone",
        )
    if ours.rollout_failed:
        return Verdict(
            Outcome.FAILED, f"rolloutState FAILED: {ours.rollout_state_reason or 'no reason given'}"
        )
    if settings.max_failed_tasks is not None and ours.failed_tasks >= settings.max_failed_tasks:
        return Verdict(
            Outcome.FAILED,
            f"{ours.failed_tasks} task(s) of the new deployment failed "
            f"(--max-failed-tasks {settings.max_failed_tasks})",
        )
    if ours.desired_count == 0:
        return Verdict(Outcome.SUCCEEDED, "desired count is 0: the new deployment is PRIMARY")
    if settings.skip_deployments_check and not settings.require_healthy and ours.running_count >= 1:
        return Verdict(Outcome.SUCCEEDED, "the new deployment has a running task")
    replaced = [d for d in service.others(ours.id) if d.status != "INACTIVE"]
    if ours.all_desired_running and not replaced and ours.rollout_completed:
        return Verdict(
            Outcome.SUCCEEDED, f"{ours.running_count}/{ours.desired_count} tasks running"
        )
    return None


def rolled_back_to_previous(service: Service, deployment_id: str, previous: str | None) -> bool:
    """The service's PRIMARY deployment is not ours but goes back to the revision the service
    ran before ours: ECS's rollback (its circuit breaker, an alarm), or one someone asked for."""
    primary = service.primary
    return (
        primary is not None
        and primary.id != deployment_id
        and previous is not None
        and primary.task_definition == previous
    )


#: ECS's event when a rolling deployment fails: "(service web) (deployment ecs-svc/1)
#: deployment failed: tasks failed to start."
_FAILED_EVENT = re.compile(r"\(deployment (?P<id>[^)\s]+)\) deployment failed: (?P<why>.+)")
_BREAKER = "circuit breaker:"


def ecs_rollback_reason(
    service: Service, deployment_id: str, seen: Deployment | None = None
) -> str:
    """Why ECS put the previous revision back, in the same words whichever poll caught it:
    from our deployment's rolloutStateReason while ECS still lists it (or as an earlier poll
    saw it), else from ECS's "deployment failed" event about it. The circuit breaker is
    named when either says so (its reason "ECS deployment circuit breaker: ...", or a
    failure event on a service whose circuit breaker is on); "the deployment was replaced"
    only when ECS said nothing about why."""
    to = f"rolled back by ECS to {_revision(service.primary)}"
    ours = service.deployment(deployment_id) or seen
    stated = ours.rollout_state_reason if ours is not None and ours.rollout_failed else None
    if stated and _BREAKER in stated.lower():
        cause = stated[stated.lower().rindex(_BREAKER) + len(_BREAKER) :]
        return f"{to}, triggered by the deployment circuit breaker: {_sentence(cause)}"
    if stated:
        return f"{to}: {_sentence(stated)}"
    event = next(
        (
            m
            for m in (_FAILED_EVENT.search(e.message) for e in service.events)
            if m is not None and m.group("id") == deployment_id
        ),
        None,
    )
    if event is not None:
        why = _sentence(event.group("why"))
        breaker = service.deployment_configuration.get("deploymentCircuitBreaker") or {}
        if breaker.get("enable") and "alarm" not in why.lower():
            return f"{to}, triggered by the deployment circuit breaker: {why}"
        return f"{to}: deployment failed: {why}"
    return f"{to}: the deployment was replaced"


def _sentence(text: str) -> str:
    """ECS's words without the full stop it ends them with (ours follow)."""
    return text.strip().rstrip(".")


#: Stages in which production traffic is all on the new revision and the bake time runs.
TRAFFIC_SHIFTED_STAGES = ("BAKE_TIME", "CLEAN_UP")


def assess_service_deployment(
    sd: ServiceDeployment, service: Service, target: Target, settings: WatchSettings
) -> Verdict | None:
    """The verdict on a native (BLUE_GREEN, LINEAR, CANARY) deployment, from its service
    deployment record and the service beside it; None means keep waiting. ECS's rollback
    happens inside the same record, so a rollback in progress is waited out to its end."""
    if not service.is_active:
        return Verdict(Outcome.SERVICE_INACTIVE, f"the service is {service.status}")
    stage = sd.lifecycle_stage or "no stage"
    if sd.status == "SUCCESSFUL":
        return Verdict(
            Outcome.SUCCEEDED,
            "service deployment SUCCESSFUL: production traffic on the new revision, bake "
            "time over, the old revision cleaned up",
        )
    if sd.status == "ROLLBACK_SUCCESSFUL":
        return Verdict(
            Outcome.ROLLED_BACK_BY_ECS,
            f"rolled back by ECS, triggered by {sd.rollback_trigger()}: "
            f"{sd.rollback_reason or sd.status_reason or 'no reason given'}",
        )
    if sd.status == "ROLLBACK_FAILED":
        return Verdict(
            Outcome.ROLLBACK_FAILED,
            f"ECS's rollback FAILED (triggered by {sd.rollback_trigger()}: "
            f"{sd.rollback_reason or 'no reason given'}; {sd.status_reason or 'no status reason'})"
            ": the service is in an unknown state and needs a person",
        )
    if sd.status == "STOPPED":
        current = service.current_service_deployment
        if current and current != sd.arn:
            return Verdict(
                Outcome.SUPERSEDED,
                f"superseded by service deployment {short_name(current)}: another "
                f"deploy started and ECS stopped ours ({sd.status_reason or 'no reason'}); "
                "it was left alone",
            )
        return Verdict(
            Outcome.FAILED,
            f"service deployment STOPPED at {stage}: {sd.status_reason or 'no reason given'}",
        )
    if sd.rolling_back or sd.status == "STOP_REQUESTED":
        return None  # ECS acts; its verdict comes with the record's final status
    ours = service.deployment(target.deployment_id)
    if (
        settings.max_failed_tasks is not None
        and ours is not None
        and ours.failed_tasks >= settings.max_failed_tasks
    ):
        return Verdict(
            Outcome.FAILED,
            f"{ours.failed_tasks} task(s) of the new revision failed at {stage} "
            f"(--max-failed-tasks {settings.max_failed_tasks})",
        )
    if settings.skip_deployments_check and ours is not None and ours.running_count >= 1:
        return Verdict(
            Outcome.SUCCEEDED,
            f"the new revision has a running task (at {stage}; ECS goes on with the deployment)",
        )
    if settings.wait_until == "traffic-shifted" and sd.lifecycle_stage in TRAFFIC_SHIFTED_STAGES:
        return Verdict(
            Outcome.SUCCEEDED,
            "production traffic is all on the new revision and the bake time has begun: "
            "ECS may still roll back until the bake time ends",
        )
    hook = awaiting_hook(sd, settings)
    if hook is not None and settings.on_pause != "wait":
        return Verdict(Outcome.PAUSED, paused_reason(sd, hook))
    return None


def awaiting_hook(sd: ServiceDeployment, settings: WatchSettings) -> HookDetail | None:
    """The first hook that awaits action and that we have not answered yet."""
    return next(
        (h for h in sd.hooks if h.awaiting_action and h.hook_id not in settings.answered_hooks),
        None,
    )


def paused_reason(sd: ServiceDeployment, hook: HookDetail) -> str:
    """`paused at STAGE: PAUSE hook H awaits approval; times out at T (then ACTION)`."""
    expires = (
        hook.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if hook.expires_at
        else "an unknown time"
    )
    return (
        f"paused at {sd.lifecycle_stage or 'an unknown stage'}: {hook.target_type} hook "
        f"{hook.hook_id} awaits approval; it times out at {expires} "
        f"(then {hook.timeout_action or 'ROLLBACK'})"
    )


def watch(
    ecs: Gateway,
    target: Target,
    settings: WatchSettings,
    observer: Observer,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], object],
    interrupted: Callable[[], bool] = lambda: False,
    seen_events: frozenset[str] = frozenset(),
    previous: WatchResult | None = None,
    rng: random.Random | None = None,
) -> WatchResult:
    """Poll until the deployment succeeds, fails, the deadline passes or we are interrupted.

    An AWS error that outlasts the gateway's retries ends the wait as Outcome.ERROR (the
    result keeps the last state seen); it is returned, not raised, so what follows (the
    rollback, the summary) still happens."""
    rng = rng or random.Random()
    started = clock()
    result = WatchResult(Outcome.TIMED_OUT, "", None, None)
    result.events_seen.update(seen_events)
    if previous is not None:  # a wait that goes on after acting on a pause
        result.events_seen.update(previous.events_seen)
        result.tasks_seen.update(previous.tasks_seen)
        result.stage_shown = previous.stage_shown
    failed_seen = running_seen = 0
    signs_seen: set[str] = set()
    hooks_announced = set(settings.answered_hooks)
    pacer = Pacer(settings.poll_interval, rng)
    while True:
        if interrupted():
            result.outcome, result.reason = Outcome.INTERRUPTED, "interrupted while waiting"
            return result
        sd = None
        try:
            service = ecs.describe_service(target.cluster, target.service)
            if target.service_deployment_arn:
                sd = ecs.describe_service_deployment(target.service_deployment_arn)
        except Interrupted:
            result.outcome, result.reason = Outcome.INTERRUPTED, "interrupted while waiting"
            return result
        except EcsDeployError as exc:
            result.outcome, result.error = Outcome.ERROR, exc
            result.reason = f"stopped waiting on an AWS error: {exc.message}"
            return result
        result.polls += 1
        # Once ECS lists our deployment no more (drained after a rollback), it is shown and
        # judged as the last poll saw it: the same failure reads the same however fast ECS
        # dropped it.
        ours = service.deployment(target.deployment_id) or result.deployment
        result.service, result.deployment = service, ours
        result.service_deployment = sd or result.service_deployment
        for event in reversed(service.events):  # ECS lists newest first
            if event.id not in result.events_seen:
                result.events_seen.add(event.id)
                observer.service_event(event)
        if sd is not None:
            now_shown = (sd.status, sd.lifecycle_stage, *sd.traffic.values())
            if now_shown != result.stage_shown:
                result.stage_shown = now_shown
                observer.stage_changed(sd)
            hook = awaiting_hook(sd, settings)
            if hook is not None and hook.hook_id not in hooks_announced:
                hooks_announced.add(hook.hook_id)
                observer.paused(sd, hook)
        observer.progress(service, ours, clock() - started, sd)
        if sd is not None:
            verdict = assess_service_deployment(sd, service, target, settings)
        else:
            verdict = assess(service, target, settings, seen=ours)
        if (
            verdict is None
            and sd is None
            and settings.skip_deployments_check
            and settings.require_healthy
            and ours is not None
            and ours.running_count >= 1
            and _has_healthy_task(ecs, target)
        ):
            verdict = Verdict(Outcome.SUCCEEDED, "the new deployment has a healthy running task")
        failed_now = ours.failed_tasks if ours else 0
        running_now = ours.running_count if ours else 0
        # Look at stopped tasks when ECS counts a failure, when running tasks vanish (an app
        # that crashes after RUNNING need not count as failed), or when the deploy failed.
        if (
            failed_now > failed_seen
            or running_now < running_seen
            or (verdict and verdict.outcome not in (Outcome.SUCCEEDED, Outcome.PAUSED))
        ):
            _explain_stopped(ecs, target, result, observer)
        failed_seen, running_seen = failed_now, running_now
        if verdict is not None:
            result.outcome, result.reason = verdict.outcome, verdict.reason
            return result
        now = clock()
        if now >= settings.deadline:
            result.outcome = Outcome.TIMED_OUT
            result.reason = _timeout_reason(service, ours, sd)
            _explain_stopped(ecs, target, result, observer)
            return result
        new_signs = _finishing_signs(service, ours, sd) - signs_seen
        if new_signs:
            signs_seen |= new_signs
            pacer.hurry()
        pacer.pause(sleep, now, settings.deadline)


class TaskReader(Protocol):
    def describe_tasks(self, cluster: str, arns: list[str]) -> list[Task]: ...


@dataclass(frozen=True)
class TaskWait:
    """How a wait for one-off tasks ended: SUCCEEDED (every task stopped: judge their exit
    codes), TIMED_OUT or INTERRUPTED, with the tasks as last described."""

    outcome: Outcome
    tasks: list[Task]


def wait_for_tasks(
    ecs: TaskReader,
    cluster: str,
    arns: list[str],
    *,
    deadline: float,
    poll_interval: float,
    clock: Callable[[], float],
    sleep: Callable[[float], object],
    interrupted: Callable[[], bool] = lambda: False,
    rng: random.Random | None = None,
    stream: Callable[[list[Task]], int] | None = None,
) -> TaskWait:
    """Poll one-off tasks (RunTask's) at the watcher's pace until every one has stopped;
    `stream` (a streams.LogStreamer: shows what the tasks logged since its last call, and
    says how many lines) is called at every poll, so what the tasks log shows within one poll
    of being written, and after they stopped until their last lines are read
    (`_read_to_the_end`)."""
    pacer = Pacer(poll_interval, rng or random.Random())
    while True:
        tasks = ecs.describe_tasks(cluster, arns)
        shown = stream(tasks) if stream is not None else 0
        if all(t.is_stopped for t in tasks):
            if stream is not None:
                _read_to_the_end(
                    stream, tasks, shown, deadline=deadline, clock=clock, sleep=sleep,
                    interrupted=interrupted,
                )  # fmt: skip
            return TaskWait(Outcome.SUCCEEDED, tasks)
        if interrupted():
            return TaskWait(Outcome.INTERRUPTED, tasks)
        now = clock()
        if now >= deadline:
            return TaskWait(Outcome.TIMED_OUT, tasks)
        pacer.pause(sleep, now, deadline)


def _read_to_the_end(
    stream: Callable[[list[Task]], int],
    tasks: list[Task],
    shown: int,
    *,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], object],
    interrupted: Callable[[], bool],
) -> None:
    """The stopped tasks' last lines: CloudWatch Logs makes what a container wrote as it
    exited readable up to seconds later, so the logs are read again LOG_SETTLE apart until
    two reads in a row find nothing (`shown`: what the read that saw the tasks stopped
    found), for at most LOG_GRACE, never past the deadline nor after a signal. Tasks whose
    containers never ran (none has an exit code) logged nothing: no wait."""
    if not any(c.exit_code is not None for t in tasks for c in t.containers):
        return
    end = min(clock() + LOG_GRACE, deadline)
    empty = 0 if shown else 1
    while empty < 2 and not interrupted() and clock() + LOG_SETTLE <= end:
        sleep(LOG_SETTLE)
        try:
            empty = 0 if stream(tasks) else empty + 1
        except Interrupted:  # a signal cut the read short: the tasks' verdict stands
            return


def _finishing_signs(
    service: Service, ours: Deployment | None, sd: ServiceDeployment | None
) -> set[str]:
    """What says the rollout is about to finish: all its new tasks run; no old task runs;
    a native deployment cleans up or rolls back (its end comes within a few steps)."""
    if sd is not None:
        signs = set()
        if sd.lifecycle_stage == "CLEAN_UP":
            signs.add("clean-up")
        if sd.rolling_back:
            signs.add("rolling back")
        return signs
    if ours is None or ours.desired_count == 0:
        return set()
    signs = set()
    if ours.all_desired_running:
        signs.add("new tasks running")
    if not any(d.running_count for d in service.others(ours.id)):
        signs.add("old tasks gone")
    return signs


def _explain_stopped(ecs: Gateway, target: Target, result: WatchResult, observer: Observer) -> None:
    """Record our deployment's newly stopped tasks and show the first few. An error here
    (or a signal) only leaves the explanation short: it never changes the verdict."""
    try:
        fresh = _new_stopped_tasks(ecs, target, result.tasks_seen)
    except EcsDeployError as exc:
        observer.warn(f"Could not explain stopped tasks: {exc.message}")
        return
    for task in fresh:
        result.stopped_tasks.append(task)
        if len(result.stopped_tasks) <= MAX_STOPPED_TASKS_SHOWN:
            observer.task_stopped(task)


def _new_stopped_tasks(ecs: Gateway, target: Target, seen: set[str]) -> list[Task]:
    """Stopped tasks of our deployment not reported yet (task calls happen only here)."""
    arns = [
        a
        for a in ecs.list_tasks(target.cluster, serviceName=target.service, desiredStatus="STOPPED")
        if a not in seen
    ]
    if not arns:
        return []
    fresh = []
    for task in ecs.describe_tasks(target.cluster, arns):
        seen.add(task.arn)
        if task.started_by == target.deployment_id and task.is_stopped and not _scaled_in(task):
            fresh.append(task)
    return fresh


def _scaled_in(task: Task) -> bool:
    """ECS stopped a healthy task on purpose (a rollback or clean-up drains its revision):
    that explains nothing about a failure."""
    return (task.stopped_reason or "").startswith("Scaling activity initiated by")


def _has_healthy_task(ecs: Gateway, target: Target) -> bool:
    """A running task of our deployment is HEALTHY (an error: not known yet, keep waiting)."""
    try:
        arns = ecs.list_tasks(target.cluster, serviceName=target.service, desiredStatus="RUNNING")
        tasks = ecs.describe_tasks(target.cluster, arns) if arns else []
    except EcsDeployError:
        return False
    return any(
        t.started_by == target.deployment_id and t.is_running and t.is_healthy for t in tasks
    )


def _timeout_reason(
    service: Service, ours: Deployment | None, sd: ServiceDeployment | None = None
) -> str:
    if sd is not None:
        traffic = sd.traffic
        return (
            f"timed out in stage {sd.lifecycle_stage or 'unknown'} (service deployment "
            f"{sd.status}; traffic on the new revision: test {_percent(traffic['test'])}, "
            f"production {_percent(traffic['production'])}"
            + (f"; {ours.running_count}/{ours.desired_count} new tasks running" if ours else "")
            + ")"
        )
    if ours is None:
        return "timed out waiting for the deployment"
    others = sum(d.running_count for d in service.deployments if d.id != ours.id)
    return (
        f"timed out: {ours.running_count}/{ours.desired_count} new tasks running, "
        f"{ours.pending_count} pending, {others} old still running, "
        f"rolloutState {ours.rollout_state or 'unknown'}"
    )


def _revision(deployment: Deployment | None) -> str:
    if deployment is None:
        return "an unknown revision"
    return short_name(deployment.task_definition)


def _percent(weight: float | None) -> str:
    return "unknown" if weight is None else f"{weight:g}%"
