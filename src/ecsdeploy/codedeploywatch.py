"""Following one CodeDeploy deployment of a CODE_DEPLOY service (codedeploy.py starts it):
each poll reads the deployment and its ECS target through the run's policy and shows what
changed once (its status, each lifecycle event, the replacement task set's counts and traffic
weight, its stopped tasks with their diagnosis, its targets' health while Install waits on
them). Ready is a pause, answered as --on-pause says; a failure CodeDeploy rolls back is
followed into its rollback deployment; the verdict is the run's outcome and exit code.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ecsdeploy.config import DeployConfig
from ecsdeploy.errors import EcsDeployError, ExitCode
from ecsdeploy.gateways import CodeDeployGateway
from ecsdeploy.models import Service, Task
from ecsdeploy.policy import Interrupted
from ecsdeploy.result import DeployResult, Outcome, Rollback
from ecsdeploy.rollback import guarded
from ecsdeploy.story import Phase, Story, resume_command
from ecsdeploy.watch import FIRST_POLL, MAX_STOPPED_TASKS_SHOWN, Pacer

#: CodeDeploy's final deployment statuses.
FINAL = ("Succeeded", "Failed", "Stopped")
#: Lifecycle events of an ECS deployment, in AWS's order.
LIFECYCLE = (
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
)


#: Reads after a deployment ended before concluding that CodeDeploy does not roll it back.
ROLLBACK_NAMED_POLLS = 3


def _rolls_back(snap: Snapshot, event: str) -> bool:
    """The deployment's automatic rollback covers this end (DEPLOYMENT_FAILURE, or
    DEPLOYMENT_STOP_ON_REQUEST for a stop)."""
    conf = snap.info.get("autoRollbackConfiguration") or {}
    return bool(conf.get("enabled")) and any(event in str(e) for e in conf.get("events") or [])


@dataclass
class Snapshot:
    """What one poll read: the deployment and its ECS target."""

    info: Mapping[str, Any]
    target: Mapping[str, Any] | None

    @property
    def status(self) -> str:
        return str(self.info.get("status", ""))

    @property
    def events(self) -> list[tuple[str, str]]:
        found = {
            str(e.get("lifecycleEventName")): str(e.get("status"))
            for e in (self.target or {}).get("lifecycleEvents") or []
        }
        order = [n for n in LIFECYCLE if n in found] + [n for n in found if n not in LIFECYCLE]
        return [(n, found[n]) for n in order]

    def task_set(self, label: str) -> Mapping[str, Any] | None:
        return next(
            (
                ts
                for ts in (self.target or {}).get("taskSetsInfo") or []
                if ts.get("taskSetLabel") == label
            ),
            None,
        )

    @property
    def weights(self) -> dict[str, float]:
        return {
            str(ts.get("taskSetLabel", "")).lower(): float(ts.get("trafficWeight") or 0)
            for ts in (self.target or {}).get("taskSetsInfo") or []
        }

    @property
    def traffic_shifted(self) -> bool:
        """All production traffic on the replacement, the termination wait begun."""
        green = self.task_set("Green")
        return bool(
            self.info.get("instanceTerminationWaitTimeStarted")
            and green is not None
            and float(green.get("trafficWeight") or 0) >= 100
        )

    @property
    def error(self) -> str:
        error = self.info.get("errorInformation") or {}
        if not error:
            return ""
        return f"{error.get('code', 'error')}: {error.get('message', '')}".strip()

    @property
    def rollback_id(self) -> str | None:
        rollback = (self.info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
        return str(rollback) if rollback else None


@dataclass
class Progress:
    """What the polls of one deployment show, each change once (its status, each lifecycle
    event, the replacement task set's counts and traffic, its stopped tasks with their
    diagnosis, its targets' health), and what the summary records of it."""

    story: Story
    cfg: DeployConfig
    r: DeployResult
    #: The service, for its stopped tasks' diagnosis (None: no target health is read).
    service: Service | None = None
    shown_events: dict[str, str] = field(default_factory=dict)
    shown_sets: tuple[object, ...] | None = None
    shown_status: str = ""
    tasks_seen: set[str] = field(default_factory=set)
    #: Each replacement task set's target group ARNs (DescribeTaskSets, once a task set).
    target_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Replacement task sets whose targets were all seen healthy (no more reads).
    healthy_sets: set[str] = field(default_factory=set)
    #: Every replacement task set a poll showed (a failure looks at their stopped tasks).
    replacements: list[str] = field(default_factory=list)
    shown_targets: frozenset[tuple[str, str]] = frozenset()

    def show(self, snap: Snapshot, what: str) -> None:
        reporter = self.story.reporter
        for name, status in snap.events:
            if self.shown_events.get(name) != status and status != "Pending":
                self.shown_events[name] = status
                reporter.info(f"  lifecycle event {name}: {status}")
        green = snap.task_set("Green")
        if green is not None:
            if (green_id := str(green.get("identifer") or "")) not in self.replacements:
                self.replacements.append(green_id)
            shown = (
                green.get("runningCount"),
                green.get("pendingCount"),
                green.get("desiredCount"),
                green.get("trafficWeight"),
            )
            if shown != self.shown_sets:
                self.shown_sets = shown
                weights = snap.weights
                reporter.info(
                    f"  replacement task set {green.get('identifer', '?')}: "
                    f"{green.get('runningCount', 0)}/{green.get('desiredCount', 0)} running, "
                    f"{green.get('pendingCount', 0)} pending; production traffic "
                    f"{weights.get('green', 0):g}% replacement, "
                    f"{weights.get('blue', 0):g}% original"
                )
                if green.get("runningCount") != green.get("desiredCount"):
                    self.stopped_tasks(str(green.get("identifer") or ""))
            if dict(snap.events).get("Install") == "InProgress" and green.get("runningCount"):
                self.watch_targets(str(green.get("identifer") or ""))
        if snap.status != self.shown_status:
            self.shown_status = snap.status
            reporter.info(f"CodeDeploy {what} {snap.info.get('deploymentId')}: {snap.status}")

    def stopped_tasks(self, task_set_id: str) -> None:
        """The replacement's stopped tasks, each said once, with its diagnosis."""
        if not task_set_id:
            return
        assert self.cfg.cluster
        ecs = self.story.ecs
        try:
            with ecs.within(3.0):
                arns = ecs.list_tasks(
                    self.cfg.cluster, startedBy=task_set_id, desiredStatus="STOPPED"
                )
                new = [a for a in arns if a not in self.tasks_seen][:MAX_STOPPED_TASKS_SHOWN]
                tasks: list[Task] = ecs.describe_tasks(self.cfg.cluster, new) if new else []
        except Interrupted:
            raise
        except EcsDeployError:
            return
        service = self._replacement(task_set_id) if tasks else None
        for task in tasks:
            self.tasks_seen.add(task.arn)
            self.r.stopped_tasks.append(task)
            self.story.reporter.task_stopped(task)
            if self.story.diagnoser is not None:
                diagnosis = self.story.diagnoser.task(task, service)
                self.r.diagnosis.append(diagnosis)
                self.story.reporter.diagnosis(diagnosis)

    def last_look(self) -> None:
        """At a failure: the stopped tasks of every replacement task set seen, which ECS may
        have stopped between two polls (the counts of the last poll already back to 0)."""
        for task_set_id in self.replacements:
            self.stopped_tasks(task_set_id)

    def watch_targets(self, task_set_id: str) -> None:
        """While CodeDeploy installs the replacement (Install waits for its targets to be
        healthy), its target group's health is read each poll until every target is healthy:
        ECS deregisters a task's target when it stops it, so a stopped task's diagnosis finds
        its reason only in a read made before (as a rolling deploy reads on ECS's event)."""
        if not task_set_id or task_set_id in self.healthy_sets or self.story.diagnoser is None:
            return
        service = self._replacement(task_set_id)
        if service is None or not service.target_groups:
            return
        targets = self.story.diagnoser.read_targets(service)
        if targets and all(t.state == "healthy" for t in targets):
            self.healthy_sets.add(task_set_id)
        bad = frozenset((t.target, t.state) for t in targets if t.state != "healthy")
        if bad != self.shown_targets:
            self.shown_targets = bad
            self.story.reporter.targets(targets)
        if any(state == "unhealthy" for _, state in bad):
            # ECS replaces a task failing the health checks, maybe between two polls (the
            # counts unchanged): its stopped tasks are looked for while any is unhealthy
            self.stopped_tasks(task_set_id)

    def _replacement(self, task_set_id: str) -> Service | None:
        """The service as its replacement task set runs it: behind that task set's target
        group, whose health the diagnosis reads as a rolling deploy's does. CodeDeploy's
        ECS target names the target group only by name; ECS's task set (DescribeTaskSets)
        has its ARN, read once a task set. None when it cannot be read."""
        if self.service is None:
            return None
        if task_set_id not in self.target_groups:
            assert self.cfg.cluster
            ecs = self.story.ecs
            try:
                with ecs.within(3.0):
                    answer = ecs.call(
                        "DescribeTaskSets",
                        cluster=self.cfg.cluster,
                        service=self.service.name,
                        taskSets=[task_set_id],
                    )
            except Interrupted:
                raise
            except EcsDeployError:
                return None
            self.target_groups[task_set_id] = tuple(
                str(lb["targetGroupArn"])
                for ts in answer.get("taskSets") or []
                for lb in ts.get("loadBalancers") or []
                if lb.get("targetGroupArn")
            )
        return replace(self.service, target_groups=self.target_groups[task_set_id])

    def note(self, snap: Snapshot) -> None:
        """What the summary reports of the deployment."""
        data = self.r.codedeploy if self.r.codedeploy is not None else {}
        if snap.info.get("creator") == "codeDeployRollback":
            return
        data.update(
            deployment_id=snap.info.get("deploymentId"),
            status=snap.status,
            deployment_config=snap.info.get("deploymentConfigName"),
            lifecycle_events=[{"name": n, "status": s} for n, s in snap.events],
            traffic=snap.weights or None,
            error=snap.info.get("errorInformation") or None,
            rollback_deployment_id=snap.rollback_id,
        )
        self.r.codedeploy = data
        green = snap.task_set("Green")
        self.r.traffic = {"production": float(green.get("trafficWeight") or 0)} if green else None
        current = [n for n, s in snap.events if s not in ("Pending",)]
        self.r.lifecycle_stage = current[-1] if current else None
        if green is not None:
            self.r.counts = {
                "desired": int(green.get("desiredCount") or 0),
                "running": int(green.get("runningCount") or 0),
                "pending": int(green.get("pendingCount") or 0),
                "failed": len(self.r.stopped_tasks),
            }


@dataclass
class Follower:
    """Follows one CodeDeploy deployment through the run's policy to its verdict (its
    progress shown as it goes), answering Ready and following a rollback."""

    story: Story
    cd: CodeDeployGateway
    cfg: DeployConfig
    r: DeployResult
    target_id: str
    #: Deployments whose Ready wait we answered: CodeDeploy may show them Ready a moment
    #: longer, and they must not be answered twice.
    answered: set[str] = field(default_factory=set)
    #: The service, for its stopped tasks' diagnosis (None: no target health is read).
    service: Service | None = None
    progress: Progress = field(init=False)

    def __post_init__(self) -> None:
        self.progress = Progress(self.story, self.cfg, self.r, self.service)

    def read(self, deployment_id: str) -> Snapshot:
        info = self.cd.deployment(deployment_id)
        target = self.cd.ecs_target(deployment_id, self.target_id)
        return Snapshot(info, target)

    def follow(
        self, deployment_id: str, *, what: str = "deployment"
    ) -> tuple[Outcome, Snapshot | None]:
        """Poll until the deployment is final (or, for ours, traffic-shifted with
        --wait-until traffic-shifted, or Ready when --on-pause does not wait), the deadline
        passes (TIMED_OUT) or a signal arrives (INTERRUPTED)."""
        policy = self.story.policy
        pacer = Pacer(self.cfg.poll_interval, random.Random())
        hinted = False
        snap: Snapshot | None = None
        while True:
            if policy.interrupted():
                return Outcome.INTERRUPTED, snap
            try:
                snap = self.read(deployment_id)
                self.progress.show(snap, what)  # its task reads stop at a signal too
            except Interrupted:
                return Outcome.INTERRUPTED, snap
            self.progress.note(snap)
            if snap.status in FINAL:
                return (Outcome.SUCCEEDED if snap.status == "Succeeded" else Outcome.FAILED), snap
            if what == "deployment":
                if self.cfg.wait_until == "traffic-shifted" and snap.traffic_shifted:
                    return Outcome.SUCCEEDED, snap
                if snap.status == "Ready" and deployment_id not in self.answered:
                    if self.cfg.on_pause != "wait":
                        return Outcome.PAUSED, snap
                    if not hinted:
                        hinted = True
                        self.story.reporter.warn(
                            f"Deployment {deployment_id} is Ready, waiting to reroute traffic; "
                            f"waiting (--on-pause wait). Continue it from elsewhere with: "
                            f"{self.resume(self.cfg)}"
                        )
            now = self.story.clock()
            deadline = policy.deadline
            if deadline is not None and now >= deadline:
                return Outcome.TIMED_OUT, snap
            pacer.pause(policy.sleep, now, deadline if deadline is not None else now + 3600)

    def follow_to_the_end(self, deployment_id: str, *, asked: str = "") -> None:
        """Follow our deployment to its verdict, answering Ready as --on-pause says; then its
        rollback (CodeDeploy's, or the one --enable-rollback asks for)."""
        story, cd, r = self.story, self.cd, self.r
        while True:
            outcome, snap = self.follow(deployment_id)
            if outcome is Outcome.PAUSED and self.cfg.on_pause in ("continue", "rollback"):
                if self.cfg.on_pause == "continue":
                    story.reporter.info(
                        f"--on-pause continue: ContinueDeployment READY_WAIT on {deployment_id}"
                    )
                    cd.continue_deployment(deployment_id)
                    self.answered.add(deployment_id)
                    continue
                story.reporter.warn(
                    f"--on-pause rollback: StopDeployment with rollback on {deployment_id}"
                )
                cd.stop_deployment(deployment_id, auto_rollback=True)
                self.answered.add(deployment_id)
                asked = "--on-pause rollback"
                r.rollback = Rollback(deployment_id=None, requested_with="StopDeployment")
                self.cfg = replace(self.cfg, on_pause="wait")
                continue
            break
        self.verdict(deployment_id, outcome, snap, asked=asked)

    def verdict(
        self, deployment_id: str, outcome: Outcome, snap: Snapshot | None, *, asked: str
    ) -> None:
        """The run's outcome from the deployment's end (and its rollback's)."""
        story, r = self.story, self.r
        if snap is not None:
            status = snap.status
        elif (known := r.codedeploy or {}).get("deployment_id") == deployment_id:
            status = f"{known.get('status')} (its last known status)"
        else:
            status = "not yet read"
        if outcome is Outcome.SUCCEEDED:
            r.outcome, r.code = Outcome.SUCCEEDED, ExitCode.OK
            if status == "Succeeded":
                r.reason = f"CodeDeploy deployment {deployment_id} Succeeded"
            else:
                r.reason = (
                    "all production traffic is on the replacement task set and the "
                    "termination wait has begun (--wait-until traffic-shifted); CodeDeploy may "
                    f"still roll back deployment {deployment_id} until the wait ends"
                )
                story.reporter.warn(r.reason)
            return
        if outcome is Outcome.PAUSED:  # --on-pause exit
            r.outcome, r.code = Outcome.PAUSED, ExitCode.PAUSED
            r.resume_command = self.resume(self.cfg)
            r.reason = (
                f"CodeDeploy deployment {deployment_id} is Ready, waiting to reroute traffic; "
                f"continue with: {r.resume_command} (or "
                f"{resume_command(self.cfg.cluster or '', self.cfg.service or '', 'rollback')})"
            )
            return
        if outcome in (Outcome.TIMED_OUT, Outcome.INTERRUPTED):
            if outcome is Outcome.TIMED_OUT:
                r.outcome, r.code = Outcome.TIMED_OUT, ExitCode.DEPLOY_FAILED
                r.reason = (
                    f"--timeout reached: CodeDeploy deployment {deployment_id} is {status}"
                    + (f" at {r.lifecycle_stage}" if r.lifecycle_stage else "")
                )
            else:
                r.outcome, r.code = Outcome.INTERRUPTED, story.policy.exit_code
                r.reason = (
                    f"interrupted while waiting: CodeDeploy deployment {deployment_id} is {status}"
                )
            if self.cfg.enable_rollback:
                self.stop_and_roll_back(deployment_id)
            else:
                r.reason += "; it goes on without us"
            return
        # Failed or Stopped
        assert snap is not None
        with contextlib.suppress(Interrupted):  # the verdict is reached: a signal keeps it
            self.progress.last_look()
        why = snap.error or status
        stopped = status == "Stopped"
        expected = bool(asked) or _rolls_back(snap, "STOP" if stopped else "FAILURE")
        rollback_id = snap.rollback_id or (self.rollback_named(deployment_id) if expected else None)
        if rollback_id is None:
            r.outcome, r.code = Outcome.FAILED, ExitCode.DEPLOY_FAILED
            r.reason = f"CodeDeploy deployment {deployment_id} {status} ({why}), not rolled back"
            return
        r.rollback = Rollback(
            deployment_id=rollback_id,
            requested_with=r.rollback.requested_with if r.rollback else "CodeDeploy",
        )
        ended = self.follow_rollback(rollback_id)
        self.refresh(deployment_id)
        if ended == "Succeeded":
            if asked:
                r.outcome, r.code = Outcome.ROLLED_BACK, ExitCode.ROLLED_BACK
                r.reason = f"rolled back as asked ({asked}) by deployment {rollback_id}"
            elif stopped:
                r.outcome, r.code = Outcome.FAILED, ExitCode.DEPLOY_FAILED
                r.reason = (
                    f"CodeDeploy deployment {deployment_id} was stopped ({why}) and rolled back "
                    f"by deployment {rollback_id}"
                )
            else:
                r.outcome, r.code = Outcome.ROLLED_BACK_BY_ECS, ExitCode.ROLLED_BACK_BY_ECS
                r.reason = (
                    f"CodeDeploy deployment {deployment_id} Failed ({why}) and CodeDeploy rolled "
                    f"it back: rollback deployment {rollback_id} Succeeded"
                )
        elif ended in {"Failed", "Stopped"}:
            r.outcome, r.code = Outcome.ROLLBACK_FAILED, ExitCode.ROLLBACK_FAILED
            r.reason = (
                f"CodeDeploy deployment {deployment_id} {status} ({why}) and its rollback "
                f"deployment {rollback_id} {ended}: the service needs a person"
            )
        else:  # the wait for the rollback ended first (deadline or signal)
            r.outcome = Outcome.INTERRUPTED if ended == "interrupted" else Outcome.TIMED_OUT
            r.code = story.policy.exit_code if ended == "interrupted" else ExitCode.DEPLOY_FAILED
            r.reason = (
                f"CodeDeploy deployment {deployment_id} {status} ({why}); its rollback deployment "
                f"{rollback_id} was still running when the wait ended ({ended})"
            )

    def follow_rollback(self, rollback_id: str) -> str:
        """Follow a rollback deployment to its end: its final status, or timed out/interrupted."""
        story, cfg, r = self.story, self.cfg, self.r
        story.reporter.warn(f"CodeDeploy rolls back with deployment {rollback_id}: following it")
        if story.policy.interrupted() or (
            story.policy.deadline is not None and story.clock() >= story.policy.deadline
        ):
            story.new_phase(Phase.ROLLING_BACK, cfg.timeout)
        story.phase = Phase.ROLLING_BACK
        outcome, snap = self.follow(rollback_id, what="rollback deployment")
        assert r.rollback is not None
        ended = snap.status if snap is not None and snap.status in FINAL else outcome.value
        outcome_of = {
            "Succeeded": Outcome.ROLLED_BACK,
            "Failed": Outcome.ROLLBACK_FAILED,
            "Stopped": Outcome.ROLLBACK_FAILED,
        }.get(ended, outcome)
        reason = f"rollback deployment {rollback_id} {ended}"
        if snap is not None and snap.error:
            reason += f" ({snap.error})"
        r.rollback = r.rollback.ended(outcome_of, reason)
        story.reporter.info(f"Rollback: {reason}")
        return ended

    def stop_and_roll_back(self, deployment_id: str) -> None:
        """--enable-rollback after a timeout or a signal: StopDeployment with rollback, then
        follow the rollback deployment; 21 once it succeeded, 22 if it failed."""
        story, cd, cfg, r = self.story, self.cd, self.cfg, self.r
        story.new_phase(Phase.ROLLING_BACK, cfg.timeout)
        r.rollback = Rollback(requested_with="StopDeployment")

        def steps() -> None:
            story.reporter.warn(f"Rolling back: StopDeployment with rollback on {deployment_id}")
            try:
                cd.stop_deployment(deployment_id, auto_rollback=True)
            except Interrupted:
                raise
            except EcsDeployError as exc:
                if "AlreadyCompleted" not in exc.message:
                    raise
            rollback_id = self.rollback_named(deployment_id)
            if rollback_id is None:
                assert r.rollback is not None
                r.rollback = r.rollback.ended(
                    Outcome.SKIPPED, f"deployment {deployment_id} ended without a rollback"
                )
                return
            assert r.rollback is not None
            r.rollback = replace(r.rollback, deployment_id=rollback_id)
            self.follow_rollback(rollback_id)

        guarded(story, r, steps)
        self.refresh(deployment_id)
        rollback = r.rollback
        assert rollback is not None
        if rollback.outcome is Outcome.ROLLED_BACK:
            if r.outcome is not Outcome.INTERRUPTED:
                r.outcome, r.code = Outcome.ROLLED_BACK, ExitCode.ROLLED_BACK
            r.reason += f"; stopped and rolled back ({rollback.reason})"
        elif rollback.outcome is Outcome.ROLLBACK_FAILED:
            r.code = ExitCode.ROLLBACK_FAILED
            r.reason += f"; {rollback.reason}: the service needs a person"
        else:
            r.reason += f"; the rollback: {rollback.reason}"

    def refresh(self, deployment_id: str) -> None:
        """Read our deployment once more after its rollback, so that the summary reports
        how it ended (Stopped, its rollback deployment, the traffic), not how it stood when
        the rollback began. Best effort: a failed read leaves the last one."""
        if self.story.policy.interrupted():
            return
        try:
            self.progress.note(self.read(deployment_id))
        except EcsDeployError:
            return

    def rollback_named(self, deployment_id: str) -> str | None:
        """The rollback deployment CodeDeploy names in `rollbackInfo`, once it has one: it
        may end the deployment a moment before it names it, so a few more reads (at most
        ROLLBACK_NAMED_POLLS after the end, never past the deadline) before concluding
        there is none."""
        policy, after_end = self.story.policy, 0
        while after_end < ROLLBACK_NAMED_POLLS:
            snap = self.read(deployment_id)
            if snap.rollback_id:
                return snap.rollback_id
            after_end += snap.status in FINAL
            if policy.deadline is not None and self.story.clock() >= policy.deadline:
                return None
            policy.sleep(min(FIRST_POLL, self.cfg.poll_interval))
        return None

    @staticmethod
    def resume(cfg: DeployConfig) -> str:
        assert cfg.cluster
        assert cfg.service
        return resume_command(cfg.cluster, cfg.service)
