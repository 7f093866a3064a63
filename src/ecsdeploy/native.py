"""ECS's own BLUE_GREEN, LINEAR and CANARY deployments: acting on a deployment that ECS runs
stage by stage (answering a PAUSE hook as --on-pause says, rolling back with
StopServiceDeployment or ContinueServiceDeployment), the service deployment a deploy follows,
and the --resume story (answer a paused deployment from another job, follow it to its end).

Judging such a deployment is the watcher's (`watch.assess_service_deployment`); the service
deploy that starts one is deploy.py's. Nothing here ever sends a second UpdateService: a
native deployment is rolled back inside its own service deployment, as ECS does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ecsdeploy.config import DeployConfig
from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import EcsDeployError, NotFoundError
from ecsdeploy.models import (
    NATIVE_STRATEGIES,
    Service,
    ServiceDeployment,
    ServiceEvent,
    short_name,
)
from ecsdeploy.output import Reporter
from ecsdeploy.policy import Interrupted
from ecsdeploy.result import DeployResult, Outcome, Rollback
from ecsdeploy.rollback import roll_back_native
from ecsdeploy.story import NO_ROLLBACK, Phase, Story, resume_command
from ecsdeploy.watch import Target, WatchResult, WatchSettings, awaiting_hook, paused_reason

#: Follow a target with settings, going on from what an earlier wait had shown.
Follow = Callable[[Target, WatchSettings, WatchResult | None], WatchResult]


@dataclass
class NativeRollout:
    """Acts on one native deployment: answers its PAUSE hooks as --on-pause says, rolls it
    back inside its own service deployment, or resumes one that waits for approval."""

    ecs: EcsGateway
    reporter: Reporter
    follow: Follow

    def run(self, target: Target, settings: WatchSettings, *, asked: str = "") -> WatchResult:
        """Follow the deployment to its verdict. With --on-pause continue/rollback each pause
        is answered as it comes and the wait goes on; `asked` names a rollback we already
        requested (its ROLLBACK_SUCCESSFUL is then ours: Outcome.ROLLED_BACK)."""
        previous: WatchResult | None = None
        while True:
            result = self.follow(target, settings, previous)
            sd = result.service_deployment
            hook = awaiting_hook(sd, settings) if sd is not None else None
            if result.outcome is Outcome.PAUSED and hook is not None and sd is not None:
                action = settings.on_pause.upper()
                if action not in ("CONTINUE", "ROLLBACK"):
                    return result  # --on-pause exit: the deployer reports it
                self.reporter.info(
                    f"--on-pause {settings.on_pause}: ContinueServiceDeployment {action} "
                    f"for hook {hook.hook_id} at {sd.lifecycle_stage}"
                )
                try:
                    self.answer(sd.arn, hook.hook_id, action)
                except Interrupted:
                    raise
                except EcsDeployError as exc:  # the deployment still waits: judge it so
                    result.outcome, result.error = Outcome.ERROR, exc
                    result.reason = (
                        f"ContinueServiceDeployment {action} for hook {hook.hook_id} failed "
                        f"({exc.message}); the deployment still waits at {sd.lifecycle_stage}"
                    )
                    return result
                settings = replace(
                    settings, answered_hooks=settings.answered_hooks | {hook.hook_id}
                )
                if action == "ROLLBACK":
                    asked, settings = "--on-pause rollback", replace(settings, on_pause="wait")
                previous = result
                continue
            if asked and result.outcome is Outcome.ROLLED_BACK_BY_ECS:
                result.outcome = Outcome.ROLLED_BACK
                result.reason = f"rolled back as asked ({asked}): {result.reason}"
            return result

    def roll_back(
        self, target: Target, settings: WatchSettings, r: DeployResult, previous: WatchResult
    ) -> Rollback:
        """--enable-rollback for a native deployment: StopServiceDeployment(ROLLBACK), or
        ContinueServiceDeployment(ROLLBACK) when it waits at a hook, then wait for ECS's
        rollback to end. Only while the service still runs our deployment. `r.rollback` says
        where it stands at each step (an abort reports it); an interrupt or an AWS error is
        raised, for rollback.guarded to record."""
        arn = target.service_deployment_arn
        assert arn is not None
        r.rollback = Rollback(service_deployment_arn=arn)

        def ended(outcome: Outcome, reason: str) -> Rollback:
            assert r.rollback is not None
            r.rollback = r.rollback.ended(outcome, reason)
            return r.rollback

        service = self.ecs.describe_service(target.cluster, target.service)
        if skipped := self._cannot_roll_back(service, arn):
            self.reporter.warn(f"Rollback skipped: {skipped}")
            return ended(Outcome.SKIPPED, skipped)
        sd = self.ecs.describe_service_deployment(arn)
        hook = awaiting_hook(sd, settings)
        if sd.is_final:
            reason = f"the service deployment is already {sd.status}: nothing to roll back"
            self.reporter.warn(f"Rollback skipped: {reason}")
            return ended(Outcome.SKIPPED, reason)
        if sd.rolling_back:
            self.reporter.warn(f"ECS is already rolling back ({sd.status}): waiting for it")
            requested_with = "ECS"
        elif hook is not None:
            self.reporter.warn(
                f"Rolling back: ContinueServiceDeployment ROLLBACK for hook {hook.hook_id}"
            )
            self.answer(arn, hook.hook_id, "ROLLBACK")
            requested_with = "ContinueServiceDeployment"
        else:
            self.reporter.warn(f"Rolling back: StopServiceDeployment ROLLBACK on {sd.id}")
            self.stop(arn)
            requested_with = "StopServiceDeployment"
        r.rollback = replace(r.rollback, requested_with=requested_with)
        answered = settings.answered_hooks | ({hook.hook_id} if hook else set())
        settings = replace(settings, on_pause="wait", answered_hooks=frozenset(answered))
        result = self.follow(target, settings, previous)
        outcome, reason = result.outcome, result.reason
        if outcome is Outcome.ROLLED_BACK_BY_ECS:  # the rollback we asked for completed
            outcome = Outcome.ROLLED_BACK
            reason = "ROLLBACK_SUCCESSFUL: the previous revision serves all traffic again"
        self.reporter.info(f"Rollback {outcome.value.replace('_', ' ')}: {reason}")
        return ended(outcome, reason)

    def answer(self, arn: str, hook_id: str, action: str) -> None:
        """ContinueServiceDeployment; when its answer is lost (or it fails), the record says
        whether it took: the hook no longer awaits action, or the rollback began. ECS may
        show the hook awaiting for a moment after it took, so it is then sent once more:
        the same answer to the same hook cannot do anything else."""

        def took(now: ServiceDeployment) -> bool:
            waiting = any(h.hook_id == hook_id and h.awaiting_action for h in now.hooks)
            return not waiting or (action == "ROLLBACK" and now.rolling_back)

        self._act(
            "ContinueServiceDeployment",
            arn,
            lambda: self.ecs.continue_service_deployment(arn, hook_id, action),
            took,
            repeatable=True,
        )

    def stop(self, arn: str) -> None:
        """StopServiceDeployment with ROLLBACK; a lost answer is checked as in `answer`."""
        self._act(
            "StopServiceDeployment",
            arn,
            lambda: self.ecs.stop_service_deployment(arn, "ROLLBACK"),
            lambda now: now.rolling_back or now.status.startswith("ROLLBACK_"),
        )

    def _act(
        self,
        operation: str,
        arn: str,
        call: Callable[[], None],
        took: Callable[[ServiceDeployment], bool],
        *,
        repeatable: bool = False,
    ) -> None:
        attempts = 2 if repeatable else 1
        for attempt in range(1, attempts + 1):
            try:
                call()
                return
            except Interrupted:
                raise
            except EcsDeployError as exc:
                if self._taken(arn, took):
                    self.reporter.warn(
                        f"{operation} reported an error ({exc.message}), but the service "
                        "deployment shows it taken: following it"
                    )
                    return
                if attempt == attempts:
                    raise

    def _taken(self, arn: str, took: Callable[[ServiceDeployment], bool]) -> bool:
        try:
            return took(self.ecs.describe_service_deployment(arn))
        except EcsDeployError:
            return False

    def find_paused(
        self, cluster: str, service_name: str, service: Service | None = None
    ) -> tuple[Service, ServiceDeployment]:
        """--resume: the service's current deployment, which must await action at a hook
        (`service`: as just described, else described here)."""
        service = service or self.ecs.describe_service(cluster, service_name)
        if service.strategy not in NATIVE_STRATEGIES:
            raise NotFoundError(
                f"Service {service_name} uses the {service.strategy} strategy: it has no "
                "deployment paused at a lifecycle hook to resume; nothing was changed"
            )
        arn = service.current_service_deployment
        if not arn:
            raise NotFoundError(
                f"Service {service_name} has no current service deployment to resume; "
                "nothing was changed"
            )
        sd = self.ecs.describe_service_deployment(arn)
        if sd.is_final or sd.paused_hook is None:
            raise NotFoundError(
                f"No deployment of service {service_name} awaits approval: service deployment "
                f"{sd.id} is {sd.status} at {sd.lifecycle_stage or 'no stage'}; nothing was "
                "changed"
            )
        return service, sd

    @staticmethod
    def _cannot_roll_back(service: Service, arn: str) -> str | None:
        current = service.current_service_deployment
        if current and current != arn:
            return (
                f"superseded by service deployment {short_name(current)}: the service "
                "no longer runs ours, so it was left alone"
            )
        return None


# -- the stories: following our deployment, resuming a paused one ----------------------------


def native_rollout(
    story: Story, cfg: DeployConfig, r: DeployResult, seen: tuple[ServiceEvent, ...] = ()
) -> NativeRollout:
    """A NativeRollout that follows through the story's watcher, showing nothing of `seen`."""
    assert cfg.cluster
    assert cfg.service
    hint = ""
    if cfg.on_pause == "wait":
        hint = (
            f"; waiting (--on-pause wait). Approve from elsewhere with: "
            f"{resume_command(cfg.cluster, cfg.service)}"
        )

    def follow(
        target: Target, settings: WatchSettings, previous: WatchResult | None
    ) -> WatchResult:
        return story.watch(r, target, settings, seen=seen, previous=previous, resume_hint=hint)

    return NativeRollout(story.ecs, story.reporter, follow)


def service_deployment_to_follow(
    story: Story, cfg: DeployConfig, r: DeployResult, updated: Service
) -> str | None:
    """For a native strategy, the service deployment our UpdateService started: the service's
    currentServiceDeployment in UpdateService's answer (or, if an older API left it out, read
    right after). Never one found by listing: it could be another's."""
    assert cfg.cluster
    assert cfg.service
    if updated.deployment_configuration:
        r.strategy = updated.strategy
    if r.strategy not in NATIVE_STRATEGIES:
        return None
    arn = updated.current_service_deployment
    if not arn:
        arn = story.ecs.describe_service(cfg.cluster, cfg.service).current_service_deployment
    if not arn:
        story.reporter.warn(
            f"ECS named no service deployment for this {r.strategy} deploy: following it "
            "by its tasks, as a rolling one"
        )
        return None
    r.service_deployment_arn = arn
    story.reporter.info(f"{r.strategy} deploy: following service deployment {short_name(arn)}")
    return arn


def resume(
    story: Story, cfg: DeployConfig, r: DeployResult, described: Service | None = None
) -> None:
    """--resume continue|rollback: answer the hook the service's deployment waits at, then
    follow that deployment to its end."""
    assert cfg.cluster
    assert cfg.service
    assert cfg.resume is not None
    story.phase = Phase.FINDING_PAUSED
    service, sd = native_rollout(story, cfg, r).find_paused(cfg.cluster, cfg.service, described)
    rollout = native_rollout(story, cfg, r, seen=service.events)  # only what happens next
    hook = sd.paused_hook
    assert hook is not None
    primary = service.primary
    r.strategy = service.strategy
    r.note_service_deployment(sd)
    r.deployment_id = primary.id if primary else None
    r.new_task_definition = primary.task_definition if primary else service.task_definition
    r.old_task_definition = next(
        (d.task_definition for d in service.deployments if d is not primary), None
    )
    action = cfg.resume.upper()
    story.reporter.info(
        f"Service deployment {sd.id} {paused_reason(sd, hook)}: ContinueServiceDeployment {action}"
    )
    story.phase = Phase.RESUMING
    rollout.answer(sd.arn, hook.hook_id, action)
    story.service_updated = True
    target = Target(cfg.cluster, cfg.service, r.deployment_id or "", None, sd.arn)
    settings = replace(story.settings(cfg), answered_hooks=frozenset({hook.hook_id}))
    story.phase = Phase.WAITING
    if action == "ROLLBACK":
        settings = replace(settings, on_pause="wait", max_failed_tasks=None)
        result = rollout.run(target, settings, asked="--resume rollback")
    else:
        result = rollout.run(target, settings)
    story.record_verdict(cfg, r, result)
    if (
        action == "CONTINUE"
        and cfg.enable_rollback
        and result.outcome not in NO_ROLLBACK
        and result.outcome is not Outcome.SUCCEEDED
    ):
        roll_back_native(story, cfg, r, rollout, target=target, previous=result)
