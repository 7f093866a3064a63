"""The story of one deploy, in order: describe -> plan and check every request -> register ->
update -> watch -> rollback/prune.

Validation of the options happened before this (cli.py). Here nothing mutating runs before
every read that could refuse the deploy has run and every mutating request has passed
botocore's own validator. The run's policy stops the story between any two AWS calls when a
signal arrives, and whatever ends it, the result says where the run stood.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ecsdeploy.config import DeployConfig, merge_deployment_configuration
from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import (
    AwsError,
    EcsDeployError,
    ExitCode,
    UnsupportedServiceError,
    UsageError,
)
from ecsdeploy.models import (
    NATIVE_STRATEGIES,
    Deployment,
    HookDetail,
    Service,
    ServiceDeployment,
    ServiceEvent,
    Task,
    revision_number,
    rollout_counts,
)
from ecsdeploy.models import family_of as _family
from ecsdeploy.models import short_name as _short
from ecsdeploy.native import NativeRollout, record_service_deployment, resume_command
from ecsdeploy.output import Reporter, describe_counts
from ecsdeploy.plan import PLACEHOLDER_ARN, Planner
from ecsdeploy.policy import Aborted, Interrupted
from ecsdeploy.result import DeployResult, Outcome, Rollback
from ecsdeploy.watch import Target, WatchResult, WatchSettings, paused_reason, watch

#: Seconds the task reads that explain a failure (or check health) may retry: they are best
#: effort, and must not hold up a verdict until the deadline.
TASK_READ_BUDGET = 3.0


#: ECS already rolled back (or failed to), the service can no longer be updated, the service
#: now runs someone else's deployment, or the deployment waits for approval on purpose:
#: rolling back would undo what is not ours to undo.
_NO_ROLLBACK = {
    Outcome.ROLLED_BACK_BY_ECS,
    Outcome.ROLLBACK_FAILED,
    Outcome.ROLLED_BACK,
    Outcome.PAUSED,
    Outcome.SERVICE_INACTIVE,
    Outcome.SUPERSEDED,
}
_SIGNALLED = {ExitCode.INTERRUPTED, ExitCode.TERMINATED}
#: Verdicts after which the service runs its previous revision again (rolled back by ECS,
#: or by ECS at our request).
_BACK_ON_THE_OLD_REVISION = {Outcome.ROLLED_BACK, Outcome.ROLLED_BACK_BY_ECS}


@dataclass
class _Recorder:
    """The watcher's observer: shows what it sees, and keeps the latest counts (in the
    result, or the rollback's record) so that an abort still reports where a rollout stood."""

    reporter: Reporter
    result: DeployResult
    counts: dict[str, Any]
    #: How to approve a paused deployment from another job (said when one pauses).
    resume_hint: str = ""

    def progress(
        self,
        service: Service,
        deployment: Deployment | None,
        elapsed: float,
        sd: ServiceDeployment | None = None,
    ) -> None:
        self.counts.clear()
        self.counts.update(rollout_counts(service, deployment))
        record_service_deployment(self.result, sd)
        self.reporter.progress(service, deployment, elapsed, sd)

    def stage_changed(self, sd: ServiceDeployment) -> None:
        self.reporter.stage_changed(sd)

    def paused(self, sd: ServiceDeployment, hook: HookDetail) -> None:
        self.reporter.warn(f"Deployment {paused_reason(sd, hook)}{self.resume_hint}")

    def service_event(self, event: ServiceEvent) -> None:
        self.reporter.service_event(event)

    def task_stopped(self, task: Task) -> None:
        self.reporter.task_stopped(task)

    def warn(self, message: str) -> None:
        self.result.warnings.append(message)
        self.reporter.warn(message)


@dataclass
class _WatchedGateway:
    """What the watcher calls: DescribeServices as it is, task reads on a short budget."""

    ecs: EcsGateway

    def describe_service(self, cluster: str, service: str) -> Service:
        return self.ecs.describe_service(cluster, service)

    def describe_service_deployment(self, arn: str) -> ServiceDeployment:
        return self.ecs.describe_service_deployment(arn)

    def list_tasks(self, cluster: str, **filters: str) -> list[str]:
        with self.ecs.within(TASK_READ_BUDGET):
            return self.ecs.list_tasks(cluster, **filters)

    def describe_tasks(self, cluster: str, arns: list[str]) -> list[Task]:
        with self.ecs.within(TASK_READ_BUDGET):
            return self.ecs.describe_tasks(cluster, arns)


class Deployer:
    """Runs one deploy against a gateway; the gateway's policy holds the clock, the deadline
    and the signals."""

    def __init__(self, ecs: EcsGateway, reporter: Reporter) -> None:
        self.ecs = ecs
        self.reporter = reporter
        self.policy = ecs.policy
        self.clock = self.policy.clock
        self.stage = "starting"
        self.service_updated = False
        self.planner = Planner(ecs, reporter)
        self.result: DeployResult | None = None  # the run's, once one has begun

    # -- the frame every run shares --------------------------------------------------------

    def deploy_service(self, cfg: DeployConfig) -> DeployResult:
        """Roll a service onto a new revision (or force a new deployment) and wait."""
        result = self.result = DeployResult(
            ExitCode.OK, Outcome.SUCCEEDED, "", cluster=cfg.cluster, service=cfg.service
        )
        return self._run(result, cfg.timeout, lambda: self._deploy_service(cfg, result))

    def register_only(self, cfg: DeployConfig) -> DeployResult:
        """`-d` without `-n`: register a new revision (and run it with --run-task)."""
        result = self.result = DeployResult(ExitCode.OK, Outcome.SUCCEEDED, "", cluster=cfg.cluster)
        return self._run(result, cfg.timeout, lambda: self._register_only(cfg, result))

    def roll_back_release(self, cfg: DeployConfig, r: DeployResult, failed: str) -> None:
        """--atomic: this service succeeded but another of its release failed: put it back on
        the revision it ran before (with an UpdateService, since its deployment is over) and
        wait for that, with a fresh --timeout. A rollback that did not put it back is the
        service's outcome (it still runs the new revision), never its earlier success."""
        assert r.old_task_definition
        self.result = r
        self.stage = "rolling back with the release"
        try:
            self._roll_back(cfg, r, r.old_task_definition)
        except Aborted:
            self._stopped_by_signal(r, Outcome.ABORTED, "aborted by a second signal")
            return
        rollback = r.rollback or Rollback()
        if r.code == ExitCode.ROLLED_BACK:
            r.outcome = Outcome.ROLLED_BACK
            r.reason = f"rolled back with the release (--atomic): {failed} failed"
            self._put_back_configuration(cfg, r)
        elif rollback.outcome is Outcome.SKIPPED:
            r.code, r.outcome = ExitCode.DEPLOY_FAILED, Outcome.SUPERSEDED
            r.reason = f"not rolled back with the release (--atomic): {rollback.reason}"
        elif r.code == ExitCode.OK:
            r.code, r.outcome = ExitCode.ROLLBACK_FAILED, Outcome.ROLLBACK_FAILED
            why = rollback.reason or (rollback.outcome.value if rollback.outcome else "unknown")
            r.reason = (
                f"the release's rollback (--atomic, {failed} failed) did not take: {why}; the "
                f"service still runs {_short(r.new_task_definition or '')}"
            )

    def where_it_stood(self, outcome: Outcome, how: str) -> DeployResult | None:
        """The run's result as it stands, ended by a signal (a release's abort: this
        service's thread did not get to say so itself); None if no run began."""
        if self.result is None:
            return None
        if self.result.outcome is Outcome.ABORTED:
            return self.result
        self._stopped_by_signal(self.result, outcome, how)
        return self.result

    def _run(self, result: DeployResult, timeout: float, story: Callable[[], None]) -> DeployResult:
        """Run `story` within one deadline; whatever ends it, `result` says where it stood."""
        started = self.clock()
        self.policy.deadline = started + timeout
        try:
            story()
        except Interrupted:
            self._stopped_by_signal(result, Outcome.INTERRUPTED, "interrupted")
        except Aborted:
            self._stopped_by_signal(result, Outcome.ABORTED, "aborted by a second signal")
        except EcsDeployError as exc:
            result.code, result.outcome, result.reason = exc.code, Outcome.ERROR, exc.message
        result.duration = self.clock() - started
        return result

    def _stopped_by_signal(self, result: DeployResult, outcome: Outcome, how: str) -> None:
        result.code, result.outcome = self.policy.exit_code, outcome
        if self.stage == "pruning old revisions":
            state = f"the deploy had succeeded; {len(result.deregistered)} revision(s) pruned"
        elif result.deployment_id or self.service_updated:
            state = f"deployment {result.deployment_id or '(not known)'} goes on without us"
            if result.counts:
                state += f" ({describe_counts(result.counts)})"
        elif result.new_task_definition and result.new_task_definition != (
            result.old_task_definition
        ):
            state = (
                f"registered {result.new_task_definition}, but the service was not updated"
                if result.service
                else f"registered {result.new_task_definition}"
            )
        else:
            state = "nothing was changed"
        result.reason = f"{how} while {self.stage}: {state}"

    # -- services ------------------------------------------------------------------------

    def _deploy_service(self, cfg: DeployConfig, r: DeployResult) -> None:
        assert cfg.cluster
        assert cfg.service
        for notice in cfg.notices:
            self.reporter.warn(notice)
        if cfg.resume is not None:
            self._resume(cfg, r)
            return
        self.stage = "describing the service"
        service = self.ecs.describe_service(cfg.cluster, cfg.service)
        _check_deployable(service)
        old_arn = r.old_task_definition = r.new_task_definition = service.task_definition
        self.reporter.info(f"Current task definition: {old_arn}")
        self._note_deployments_in_progress(service)

        # Plan and check every mutating request before making the first one.
        self.stage = "preparing the new revision"
        conf = None
        if cfg.strategy.given:
            conf = merge_deployment_configuration(service.deployment_configuration, cfg.strategy)
            r.own_configuration = dict(service.deployment_configuration)
        r.strategy = str((conf or service.deployment_configuration).get("strategy") or "ROLLING")
        plan = request = containers = None
        target_arn = old_arn
        if cfg.revision is not None:
            target_arn, containers = self.planner.resolve_revision(cfg, service)
            if target_arn == old_arn and not cfg.force_new_deployment:
                outcome = Outcome.DRY_RUN if cfg.dry_run else Outcome.SUCCEEDED
                r.outcome, r.reason = outcome, f"already on {_short(old_arn)}"
                self.reporter.info(f"The service already runs {_short(old_arn)}: nothing to do")
                return
        elif _new_revision_asked(cfg):
            plan = self.planner.plan_revision(cfg, old_arn)
            request, containers = plan.request, plan.containers
        update = self._service_update(
            cfg, service, PLACEHOLDER_ARN if request else target_arn, conf
        )
        self.ecs.check_request("UpdateService", update, UsageError)
        if cfg.dry_run:
            self.planner.dry_run(r, old_arn, plan, update)
            return
        require_healthy = False
        if cfg.skip_deployments_check:
            if containers is None:
                containers = self.ecs.describe_task_definition(old_arn)[0]["containerDefinitions"]
            require_healthy = any(c.get("healthCheck") for c in containers)

        r.new_task_definition = target_arn
        if request is not None:
            self.stage = "registering the new revision"
            r.new_task_definition = self._register(request)
        update["taskDefinition"] = r.new_task_definition
        self.stage = "updating the service"
        updated = self._update_service(cfg, service, update, orphan=request is not None)
        self.service_updated = True
        r.deployment_id = deployment_id = self._deployment_to_follow(cfg, updated)
        self.reporter.info(
            f"Service updated: deployment {deployment_id} on {_short(r.new_task_definition)}"
        )
        target = Target(
            cfg.cluster,
            cfg.service,
            deployment_id,
            old_arn,
            self._service_deployment_to_follow(cfg, r, updated),
        )

        self.stage = "waiting for the deployment"
        settings = self._settings(cfg, require_healthy)
        if target.service_deployment_arn:
            result = self._native(cfg, r, seen=service.events).run(target, settings)
        else:
            result = self._watch(cfg, r, target, settings, seen=service.events)
        self._record_verdict(cfg, r, result)
        if result.outcome is Outcome.SUCCEEDED:
            if cfg.max_definitions:  # None or 0: off, as the original's default
                self._prune(r, cfg.max_definitions)
        elif cfg.enable_rollback and result.outcome not in _NO_ROLLBACK:
            if target.service_deployment_arn:
                self._roll_back_native(cfg, r, target, result)
            else:
                self._roll_back(cfg, r, old_arn)
        if result.outcome is Outcome.ERROR and r.code != ExitCode.ROLLED_BACK:
            # an answer to a hook failed: unless rolled back, the deployment still waits
            self._record_pause(cfg, r, result.service_deployment)
        if r.code == ExitCode.ROLLED_BACK or result.outcome in _BACK_ON_THE_OLD_REVISION:
            self._put_back_configuration(cfg, r)

    def _settings(self, cfg: DeployConfig, require_healthy: bool = False) -> WatchSettings:
        assert self.policy.deadline is not None
        return WatchSettings(
            deadline=self.policy.deadline,
            poll_interval=cfg.poll_interval,
            max_failed_tasks=cfg.max_failed_tasks,
            skip_deployments_check=cfg.skip_deployments_check,
            require_healthy=require_healthy,
            wait_until=cfg.wait_until,
            on_pause=cfg.on_pause,
        )

    def _native(
        self, cfg: DeployConfig, r: DeployResult, seen: tuple[ServiceEvent, ...] = ()
    ) -> NativeRollout:
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
            return self._watch(
                cfg, r, target, settings, seen=seen, previous=previous, resume_hint=hint
            )

        return NativeRollout(self.ecs, self.reporter, follow)

    def _service_deployment_to_follow(
        self, cfg: DeployConfig, r: DeployResult, updated: Service
    ) -> str | None:
        """For a native strategy, the service deployment our UpdateService started: the
        service's currentServiceDeployment in UpdateService's answer (or, if an older API
        left it out, read right after). Never one found by listing: it could be another's."""
        assert cfg.cluster
        assert cfg.service
        if updated.deployment_configuration:
            r.strategy = updated.strategy
        if r.strategy not in NATIVE_STRATEGIES:
            return None
        arn = updated.current_service_deployment
        if not arn:
            arn = self.ecs.describe_service(cfg.cluster, cfg.service).current_service_deployment
        if not arn:
            self.reporter.warn(
                f"ECS named no service deployment for this {r.strategy} deploy: following it "
                "by its tasks, as a rolling one"
            )
            return None
        r.service_deployment_arn = arn
        self.reporter.info(f"{r.strategy} deploy: following service deployment {_short(arn)}")
        return arn

    def _record_verdict(self, cfg: DeployConfig, r: DeployResult, result: WatchResult) -> None:
        r.outcome, r.reason = result.outcome, result.reason
        if result.service is not None:
            r.counts = rollout_counts(result.service, result.deployment)
        record_service_deployment(r, result.service_deployment)
        r.stopped_tasks = result.stopped_tasks
        if result.outcome is Outcome.ERROR and result.error is not None:
            r.code = result.error.code
        elif result.outcome is Outcome.INTERRUPTED:
            r.code = self.policy.exit_code
            self.reporter.warn(f"Interrupted while waiting: {describe_counts(r.counts)}")
        else:
            code = result.outcome.exit_code
            assert code is not None  # every verdict the watcher returns has its own
            r.code = code
        if result.outcome is Outcome.PAUSED:
            self._record_pause(cfg, r, result.service_deployment)

    @staticmethod
    def _record_pause(cfg: DeployConfig, r: DeployResult, sd: ServiceDeployment | None) -> None:
        """The deployment waits at a hook: say which, and how to answer it."""
        hook = sd.paused_hook if sd is not None else None
        if hook is not None:
            assert cfg.cluster
            assert cfg.service
            r.paused_hook = {
                "hook_id": hook.hook_id,
                "target_type": hook.target_type,
                "expires_at": hook.expires_at.isoformat() if hook.expires_at else None,
                "timeout_action": hook.timeout_action,
            }
            r.resume_command = resume_command(cfg.cluster, cfg.service)
            r.reason += (
                f"; approve with: {r.resume_command} (or "
                f"{resume_command(cfg.cluster, cfg.service, 'rollback')})"
            )

    def _resume(self, cfg: DeployConfig, r: DeployResult) -> None:
        """--resume continue|rollback: answer the hook the service's deployment waits at,
        then follow that deployment to its end."""
        assert cfg.cluster
        assert cfg.service
        assert cfg.resume is not None
        self.stage = "finding the paused deployment"
        native = self._native(cfg, r)
        service, sd = native.find_paused(cfg.cluster, cfg.service)
        native = self._native(cfg, r, seen=service.events)  # show only what happens next
        hook = sd.paused_hook
        assert hook is not None
        primary = service.primary
        r.strategy = service.strategy
        record_service_deployment(r, sd)
        r.deployment_id = primary.id if primary else None
        r.new_task_definition = primary.task_definition if primary else service.task_definition
        r.old_task_definition = next(
            (d.task_definition for d in service.deployments if d is not primary), None
        )
        action = cfg.resume.upper()
        self.reporter.info(
            f"Service deployment {sd.id} {paused_reason(sd, hook)}: "
            f"ContinueServiceDeployment {action}"
        )
        self.stage = "resuming the deployment"
        native.answer(sd.arn, hook.hook_id, action)
        self.service_updated = True
        target = Target(cfg.cluster, cfg.service, r.deployment_id or "", None, sd.arn)
        settings = replace(self._settings(cfg), answered_hooks=frozenset({hook.hook_id}))
        self.stage = "waiting for the deployment"
        if action == "ROLLBACK":
            settings = replace(settings, on_pause="wait", max_failed_tasks=None)
            result = native.run(target, settings, asked="--resume rollback")
        else:
            result = native.run(target, settings)
        self._record_verdict(cfg, r, result)
        if (
            action == "CONTINUE"
            and cfg.enable_rollback
            and result.outcome not in _NO_ROLLBACK
            and result.outcome is not Outcome.SUCCEEDED
        ):
            self._roll_back_native(cfg, r, target, result)

    def _roll_back_native(
        self, cfg: DeployConfig, r: DeployResult, target: Target, previous: WatchResult
    ) -> None:
        """--enable-rollback on a native strategy: ECS rolls back inside the deployment
        (never a second UpdateService), with a fresh deadline of --timeout."""
        self.policy.new_phase()
        self.policy.deadline = self.clock() + cfg.timeout
        self.stage = "rolling back"
        settings = WatchSettings(self.policy.deadline, poll_interval=cfg.poll_interval)
        rollback = self._native(cfg, r).roll_back(target, settings, r, previous)
        if rollback.outcome is Outcome.INTERRUPTED:
            r.code, r.outcome = self.policy.exit_code, Outcome.INTERRUPTED
            r.reason += f"; the rollback was {rollback.reason}"
        elif rollback.outcome is Outcome.ROLLED_BACK and r.code not in _SIGNALLED:
            r.code = ExitCode.ROLLED_BACK
        elif rollback.outcome is Outcome.ROLLBACK_FAILED:
            r.code = ExitCode.ROLLBACK_FAILED
            r.reason += f"; {rollback.reason}"

    def _note_deployments_in_progress(self, service: Service) -> None:
        """Say so when our deploy is about to replace one that has not finished."""
        d = service.primary
        if d is None or d.rollout_completed:
            return
        age = ""
        if d.created_at is not None:
            age = f", started {(datetime.now(UTC) - d.created_at).total_seconds():.0f}s ago"
        self.reporter.warn(
            f"Deployment {d.id} ({_short(d.task_definition)}{age}) is still in progress on "
            "the service; this deploy replaces it"
        )

    def _deployment_to_follow(self, cfg: DeployConfig, updated: Service) -> str:
        """The PRIMARY deployment UpdateService created (ECS lists it in its response)."""
        assert cfg.cluster
        assert cfg.service
        primary = updated.primary or self.ecs.describe_service(cfg.cluster, cfg.service).primary
        if primary is None:
            raise AwsError(
                f"UpdateService left service {cfg.service} with no PRIMARY deployment to follow"
            )
        return primary.id

    def _register(self, request: Mapping[str, Any]) -> str:
        arn = str(self.ecs.register_task_definition(request)["taskDefinitionArn"])
        self.reporter.info(f"Registered new task definition: {arn}")
        return arn

    def _update_service(
        self, cfg: DeployConfig, before: Service, update: dict[str, Any], *, orphan: bool
    ) -> Service:
        """UpdateService. When it fails, look whether it was applied all the same (a lost
        answer): follow it if so; otherwise deregister the revision registered for it
        (`orphan`), since nothing will ever run it."""
        try:
            return self.ecs.update_service(**update)
        except Interrupted:
            raise
        except EcsDeployError as exc:
            applied = self._applied_update(cfg, before, update["taskDefinition"])
            if applied is not None:
                self.reporter.warn(
                    f"UpdateService reported an error ({exc.message}), but the service shows "
                    "the update applied: following it"
                )
                return applied
            if orphan:
                self._deregister_orphan(update["taskDefinition"])
            raise

    def _applied_update(self, cfg: DeployConfig, before: Service, arn: str) -> Service | None:
        assert cfg.cluster
        assert cfg.service
        try:
            now = self.ecs.describe_service(cfg.cluster, cfg.service)
        except EcsDeployError:
            return None
        primary = now.primary
        known = {d.id for d in before.deployments}
        if primary is not None and primary.id not in known and primary.task_definition == arn:
            return now
        return None

    def _deregister_orphan(self, arn: str) -> None:
        try:
            self.ecs.deregister_task_definition(arn)
        except EcsDeployError as exc:
            self.reporter.warn(f"Could not deregister the unused revision {arn}: {exc.message}")
            return
        self.reporter.warn(f"Deregistered {_short(arn)}: the service was not updated to it")

    @staticmethod
    def _service_update(
        cfg: DeployConfig, service: Service, new_arn: str, conf: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        update: dict[str, Any] = {
            "cluster": cfg.cluster,
            "service": cfg.service,
            "taskDefinition": new_arn,
        }
        if cfg.force_new_deployment:
            update["forceNewDeployment"] = True
        if cfg.desired_count is not None:
            update["desiredCount"] = cfg.desired_count
        if conf is not None or cfg.min_percent is not None or cfg.max_percent is not None:
            # keep the circuit breaker, alarms, hooks: only what was asked for changes
            merged = dict(service.deployment_configuration if conf is None else conf)
            if cfg.min_percent is not None:
                merged["minimumHealthyPercent"] = cfg.min_percent
            if cfg.max_percent is not None:
                merged["maximumPercent"] = cfg.max_percent
            update["deploymentConfiguration"] = merged
        return update

    def _put_back_configuration(self, cfg: DeployConfig, r: DeployResult) -> None:
        """A rollback also undoes --strategy and its settings, which UpdateService stored on
        the service: the rollback's deployment (or ECS's own, for a native one) leaves them
        there. One UpdateService with the service's own deploymentConfiguration and nothing
        else, which starts no deployment."""
        own = r.own_configuration
        if not cfg.strategy.given or own is None or self.policy.interrupted():
            return
        assert cfg.cluster
        assert cfg.service
        try:
            # ECS keeps a member the request leaves out: name the strategy even when the
            # service's own configuration relied on the default (ROLLING)
            self.ecs.update_service(
                cluster=cfg.cluster,
                service=cfg.service,
                deploymentConfiguration={"strategy": "ROLLING", **own},
            )
        except EcsDeployError as exc:
            message = (
                "The service keeps the --strategy override: putting its own configuration "
                f"back failed ({exc.message})"
            )
            r.warnings.append(message)
            self.reporter.warn(message)
            return
        if r.rollback is not None:
            r.rollback = replace(r.rollback, configuration_restored=True)
        self.reporter.info(
            f"Put the service's own deployment configuration back (strategy "
            f"{own.get('strategy') or 'ROLLING'})"
        )

    def _watch(
        self,
        cfg: DeployConfig,
        r: DeployResult,
        target: Target,
        settings: WatchSettings,
        *,
        seen: tuple[ServiceEvent, ...] = (),
        previous: WatchResult | None = None,
        counts: dict[str, Any] | None = None,
        resume_hint: str = "",
    ) -> WatchResult:
        """Follow `target` until its verdict, through the policy's clock and sleep, showing
        nothing that `seen` events or a `previous` wait already showed."""
        return watch(
            _WatchedGateway(self.ecs),
            target,
            settings,
            _Recorder(self.reporter, r, r.counts if counts is None else counts, resume_hint),
            clock=self.clock,
            sleep=self.policy.sleep,
            interrupted=self.policy.interrupted,
            seen_events=frozenset(e.id for e in seen),
            previous=previous,
        )

    def _roll_back(self, cfg: DeployConfig, r: DeployResult, old_arn: str) -> None:
        """Point the service back at the previous revision and wait for it, with a fresh
        deadline of --timeout, only while the service still runs our deployment. A signal
        that led here does not stop the rollback; a new one does (report, stop waiting)."""
        assert cfg.cluster
        assert cfg.service
        self.policy.new_phase()
        self.policy.deadline = self.clock() + cfg.timeout
        self.stage = "rolling back"
        self.reporter.warn(f"Rolling back to {_short(old_arn)}")
        r.rollback = Rollback(task_definition=old_arn)
        try:
            before = self.ecs.describe_service(cfg.cluster, cfg.service)
            primary = before.primary
            if primary is None or primary.id != r.deployment_id:
                reason = (
                    f"superseded by deployment {primary.id if primary else 'unknown'} "
                    f"(revision {_short(primary.task_definition) if primary else 'unknown'}): "
                    "the service no longer runs ours, so it was left alone"
                )
                r.rollback = r.rollback.ended(Outcome.SKIPPED, reason)
                self.reporter.warn(f"Rollback skipped: {reason}")
                return
            update = {"cluster": cfg.cluster, "service": cfg.service, "taskDefinition": old_arn}
            updated = self._update_service(cfg, before, update, orphan=False)
            deployment_id = self._deployment_to_follow(cfg, updated)
            counts: dict[str, int] = {}  # filled in place while the rollback is watched
            r.rollback = replace(r.rollback, deployment_id=deployment_id, counts=counts)
            settings = WatchSettings(self.policy.deadline, poll_interval=cfg.poll_interval)
            result = self._watch(
                cfg,
                r,
                Target(cfg.cluster, cfg.service, deployment_id, r.new_task_definition),
                settings,
                seen=before.events,
                counts=counts,
            )
        except Interrupted as exc:
            r.rollback = r.rollback.ended(Outcome.INTERRUPTED, exc.message)
            r.code, r.outcome = self.policy.exit_code, Outcome.INTERRUPTED
            r.reason += f"; the rollback was {exc.message}"
            self.reporter.warn(f"Rollback {exc.message}")
            return
        except EcsDeployError as exc:  # report it beside the deploy's own failure
            r.rollback = r.rollback.ended(Outcome.ERROR, exc.message)
            self.reporter.error(f"Rollback failed: {exc.message}")
            return
        r.rollback = r.rollback.ended(result.outcome, result.reason)
        if result.outcome is Outcome.INTERRUPTED:
            r.code, r.outcome = self.policy.exit_code, Outcome.INTERRUPTED
            r.reason += (
                f"; the rollback to {_short(old_arn)} was interrupted: deployment "
                f"{deployment_id} goes on without us"
            )
            self.reporter.warn(
                f"Rollback interrupted: deployment {deployment_id} goes on without "
                f"us ({describe_counts(counts)})"
            )
            return
        self.reporter.info(f"Rollback {result.outcome.value}: {result.reason}")
        if result.outcome is Outcome.SUCCEEDED and r.code not in _SIGNALLED:
            r.code = ExitCode.ROLLED_BACK

    def _prune(self, r: DeployResult, keep: int) -> None:
        """Deregister the family's oldest ACTIVE revisions beyond `keep`; never the one just
        deployed, nor the previous one (a rollback needs it), nor one that any service's
        PRIMARY or ACTIVE deployment in the region still runs. Pruning is housekeeping: an
        error leaves a warning, not a failed deploy."""
        assert r.new_task_definition
        self.stage = "pruning old revisions"
        try:
            arns = self.ecs.list_task_definitions(_family(r.new_task_definition), sort="ASC")
            if len(arns) <= keep:
                return
            protected = {r.new_task_definition, r.old_task_definition}
            in_use = self._revisions_in_use()
            deployed = revision_number(r.new_task_definition)
            for arn in arns:
                if arn in in_use and arn not in protected:
                    self.reporter.info(f"Kept {_short(arn)}: {in_use[arn]} still runs it")
                elif revision_number(arn) > deployed:
                    self.reporter.info(
                        f"Kept {_short(arn)}: newer than the revision deployed (another "
                        "pipeline may have registered it)"
                    )
            candidates = [
                a
                for a in arns
                if a not in protected and a not in in_use and revision_number(a) < deployed
            ]
            for arn in candidates[: len(arns) - keep]:
                self.ecs.deregister_task_definition(arn)
                r.deregistered.append(arn)
                self.reporter.info(f"Deregistered {_short(arn)} (--max-definitions {keep})")
        except Interrupted:
            r.code, r.outcome = self.policy.exit_code, Outcome.INTERRUPTED
            r.reason = (
                f"{r.reason}; then interrupted while pruning old revisions "
                f"({len(r.deregistered)} deregistered)"
            )
            self.reporter.warn(f"Interrupted while pruning: {len(r.deregistered)} deregistered")
        except EcsDeployError as exc:
            message = f"Pruning stopped: {exc.message}"
            r.warnings.append(message)
            self.reporter.warn(message)

    def _revisions_in_use(self) -> dict[str, str]:
        """Task-definition ARN -> the service deployment that runs it, over every service of
        every cluster in the region (a family is often shared by staging and production)."""
        in_use: dict[str, str] = {}
        for cluster in self.ecs.list_clusters():
            cluster_name = _short(cluster)
            for service in self.ecs.describe_services(cluster, self.ecs.list_services(cluster)):
                for d in service.deployments:
                    if d.status in ("PRIMARY", "ACTIVE"):
                        in_use.setdefault(
                            d.task_definition,
                            f"deployment {d.id} of service {service.name} ({cluster_name})",
                        )
        return in_use

    # -- task definitions only -------------------------------------------------------------

    def _register_only(self, cfg: DeployConfig, r: DeployResult) -> None:
        assert cfg.task_definition
        for notice in cfg.notices:
            self.reporter.warn(notice)
        self.stage = "describing the task definition"
        current, _ = self.ecs.describe_task_definition(cfg.task_definition)
        old_arn = r.old_task_definition = r.new_task_definition = str(current["taskDefinitionArn"])
        containers = list(current.get("containerDefinitions", []))
        plan = request = None
        if _new_revision_asked(cfg):
            self.stage = "preparing the new revision"
            plan = self.planner.plan_revision(cfg, old_arn, current)
            request, containers = plan.request, plan.containers
        run_params = None
        if cfg.run_task is not None:
            run_params = self._run_task_params(cfg)
            self.ecs.check_request(
                "RunTask", {**run_params, "taskDefinition": PLACEHOLDER_ARN}, UsageError
            )
        if cfg.dry_run:
            self.planner.dry_run(r, old_arn, plan, None, run_params)
            return
        if request is not None:
            self.stage = "registering the new revision"
            r.new_task_definition = self._register(request)
        r.reason = "registered"
        if run_params is not None:
            essential = {c["name"] for c in containers if c.get("essential", True)}
            self.stage = "running the task"
            run_params["taskDefinition"] = r.new_task_definition
            self._run_task(cfg, run_params, essential, r)
        elif cfg.max_definitions:
            self._prune(r, cfg.max_definitions)

    @staticmethod
    def _run_task_params(cfg: DeployConfig) -> dict[str, Any]:
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

    def _run_task(
        self, cfg: DeployConfig, params: dict[str, Any], essential: set[str], r: DeployResult
    ) -> None:
        """RunTask; with --wait-for-success, succeed only if every essential container
        exits 0 (a sidecar marked essential=false may exit as it likes)."""
        assert cfg.run_task is not None
        tasks = self.ecs.run_task(**params)
        arns = [t.arn for t in tasks]
        self.reporter.info(f"Started task(s): {', '.join(arns)}")
        r.reason = "task started"
        if not cfg.run_task.wait_for_success:
            return
        cluster = cfg.cluster or "default"
        self.stage = "waiting for the task"
        while True:
            described = self.ecs.describe_tasks(cluster, arns)
            if all(t.is_stopped for t in described):
                break
            if self.policy.interrupted():
                r.code, r.outcome = self.policy.exit_code, Outcome.INTERRUPTED
                r.reason = "interrupted while waiting for the task"
                return
            if self.clock() >= (self.policy.deadline or 0):
                r.code, r.outcome = ExitCode.DEPLOY_FAILED, Outcome.TIMED_OUT
                r.reason = f"timed out waiting for the task(s) to stop ({cfg.timeout:g}s)"
                return
            self.policy.sleep(cfg.poll_interval)
        failures = []
        for task in described:
            for container in task.containers:
                self.reporter.info(
                    f"Task {task.id} container {container.name}: exit code "
                    f"{container.exit_code}"
                    + (f" ({container.reason})" if container.reason else "")
                )
                if container.name in essential and container.exit_code != 0:
                    failures.append(f"{container.name} exited {container.exit_code}")
            if task.stopped_reason and failures:
                self.reporter.info(f"Task {task.id} stopped: {task.stopped_reason}")
        r.stopped_tasks = described
        if failures:
            r.code, r.outcome = ExitCode.DEPLOY_FAILED, Outcome.FAILED
            r.reason = "task failed: " + "; ".join(failures)
        else:
            r.reason = "task succeeded: every container exited 0"


def _new_revision_asked(cfg: DeployConfig) -> bool:
    """An image, a tag, a change, or -i ignore (an identical copy) asks for a new revision."""
    return cfg.image is not None or cfg.tag_only is not None or cfg.changes.given or cfg.reregister


def _check_deployable(service: Service) -> None:
    if service.deployment_controller == "CODE_DEPLOY":
        raise UnsupportedServiceError(
            f"Service {service.name} uses the CODE_DEPLOY deployment controller: deploy it with "
            "CodeDeploy (aws deploy create-deployment) instead; nothing was changed"
        )
    if service.deployment_controller == "EXTERNAL":
        raise UnsupportedServiceError(
            f"Service {service.name} uses the EXTERNAL deployment controller: create a task set "
            "with your deployment tool instead; nothing was changed"
        )
    if not service.is_active:
        raise UnsupportedServiceError(
            f"Service {service.name} is {service.status}: only an ACTIVE service can be "
            "deployed; nothing was changed"
        )
