"""The story of one service deploy, in order: describe -> plan and check every request ->
register -> update -> watch -> rollback or prune.

Validation of the options happened before this (config.py). Here nothing mutating runs before
every read that could refuse the deploy has run and every mutating request has passed
botocore's own validator. The run's policy stops the story between any two AWS calls when a
signal arrives, and whatever ends it, the result says where the run stood (story.py).

The other stories live beside this one: resume (native.py), the rollbacks (rollback.py),
pruning (prune.py), register-only and one-off tasks (register.py). `Deployer` is the facade
the command and a release call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ecsdeploy.config import DeployConfig, merge_deployment_configuration
from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import ExitCode, UnsupportedServiceError, UsageError
from ecsdeploy.gateways import AwsReaders
from ecsdeploy.models import Service, short_name
from ecsdeploy.models import short_name as _short
from ecsdeploy.native import native_rollout, resume, service_deployment_to_follow
from ecsdeploy.output import Reporter
from ecsdeploy.plan import PLACEHOLDER_ARN, Planner, new_revision_asked
from ecsdeploy.policy import RunPolicy
from ecsdeploy.prune import prune
from ecsdeploy.register import check_overrides, one_off_params, register_only, run_one_off
from ecsdeploy.result import DeployResult, Outcome
from ecsdeploy.rollback import (
    put_back_configuration,
    roll_back_native,
    roll_back_release,
    roll_back_rolling,
)
from ecsdeploy.scheduled import find_scheduled, move_scheduled, show_scheduled
from ecsdeploy.schedules import ScheduledTask
from ecsdeploy.story import NO_ROLLBACK, Phase, Story, record_pause
from ecsdeploy.watch import Target

#: Verdicts after which the service runs its previous revision again (rolled back by ECS,
#: or by ECS at our request).
_BACK_ON_THE_OLD_REVISION = {Outcome.ROLLED_BACK, Outcome.ROLLED_BACK_BY_ECS}


class Deployer:
    """Runs one deploy against a gateway; the gateway's policy holds the clock, the deadline
    and the signals."""

    def __init__(
        self, ecs: EcsGateway, reporter: Reporter, readers: AwsReaders | None = None
    ) -> None:
        self.story = Story(ecs, reporter, readers)

    @property
    def policy(self) -> RunPolicy:
        return self.story.policy

    def deploy_service(self, cfg: DeployConfig) -> DeployResult:
        """Roll a service onto a new revision (or force a new deployment) and wait."""
        r = DeployResult(
            ExitCode.OK, Outcome.SUCCEEDED, "", cluster=cfg.cluster, service=cfg.service
        )
        return self.story.run(r, cfg.timeout, lambda: deploy_service(self.story, cfg, r))

    def register_only(self, cfg: DeployConfig) -> DeployResult:
        """`-d` without `-n`: register a new revision (and run it with --run-task)."""
        r = DeployResult(ExitCode.OK, Outcome.SUCCEEDED, "", cluster=cfg.cluster)
        return self.story.run(r, cfg.timeout, lambda: register_only(self.story, cfg, r))

    def roll_back_release(self, cfg: DeployConfig, r: DeployResult, failed: str) -> None:
        """--atomic: put this service, which succeeded, back with the failed release."""
        roll_back_release(self.story, cfg, r, failed)

    def where_it_stood(self, outcome: Outcome, how: str) -> DeployResult | None:
        return self.story.where_it_stood(outcome, how)


def deploy_service(story: Story, cfg: DeployConfig, r: DeployResult) -> None:
    """The service deploy, top to bottom."""
    assert cfg.cluster
    assert cfg.service
    ecs, reporter = story.ecs, story.reporter
    planner = Planner(ecs, reporter)
    story.begin(cfg)
    if cfg.resume is not None:
        resume(story, cfg, r)
        return
    story.phase = Phase.DESCRIBING_SERVICE
    service = ecs.describe_service(cfg.cluster, cfg.service)
    _check_deployable(service)
    old_arn = r.old_task_definition = r.new_task_definition = service.task_definition
    reporter.info(f"Current task definition: {old_arn}")

    # Plan and check every mutating request before making the first one.
    story.phase = Phase.PREPARING
    conf = None
    if cfg.strategy.given:
        conf = merge_deployment_configuration(service.deployment_configuration, cfg.strategy)
        r.own_configuration = dict(service.deployment_configuration)
    r.strategy = str((conf or service.deployment_configuration).get("strategy") or "ROLLING")
    plan = request = containers = None
    target_arn = old_arn
    if cfg.revision is not None:
        target_arn, containers = planner.resolve_revision(cfg, service)
        if target_arn == old_arn and not cfg.force_new_deployment:
            outcome = Outcome.DRY_RUN if cfg.dry_run else Outcome.SUCCEEDED
            r.outcome, r.reason = outcome, f"already on {_short(old_arn)}"
            reporter.info(f"The service already runs {_short(old_arn)}: nothing to do")
            return
    elif new_revision_asked(cfg):
        plan = planner.plan_revision(cfg, old_arn)
        request, containers = plan.request, plan.containers
    update = _service_update(cfg, service, PLACEHOLDER_ARN if request else target_arn, conf)
    ecs.check_request("UpdateService", update, UsageError)
    if containers is not None:  # a new revision, or another existing one
        story.preflight(cfg, containers, r)
    migration = None
    if cfg.pre_deploy is not None:
        if containers is None:
            containers = ecs.describe_task_definition(target_arn)[0]["containerDefinitions"]
        check_overrides(cfg.pre_deploy, containers)
        migration = one_off_params(cfg.pre_deploy, cfg.cluster, service.placement)
        migration["startedBy"] = "ecs-deploy/pre-deploy"
        ecs.check_request("RunTask", {**migration, "taskDefinition": PLACEHOLDER_ARN}, UsageError)
    cluster_arn = _cluster_arn(service, cfg.cluster)
    if cfg.dry_run:
        planner.dry_run(r, old_arn, plan, update, migration)
        r.scheduled_tasks = find_scheduled(story, cfg, cluster_arn, old_arn, "<the new revision>")
        show_scheduled(story, r.scheduled_tasks)
        return
    require_healthy = False
    if cfg.skip_deployments_check:
        if containers is None:
            containers = ecs.describe_task_definition(old_arn)[0]["containerDefinitions"]
        require_healthy = any(c.get("healthCheck") for c in containers)

    # The writes: register, update.
    r.new_task_definition = target_arn
    if request is not None:
        story.phase = Phase.REGISTERING
        r.new_task_definition = story.register(request)
    update["taskDefinition"] = r.new_task_definition
    if migration is not None and containers is not None:
        migration["taskDefinition"] = r.new_task_definition
        if not _migrate(story, cfg, migration, containers, r):
            return  # no service was changed
    story.phase = Phase.UPDATING
    _note_deployments_in_progress(reporter, service)
    updated = story.update_service(cfg, service, update, orphan=request is not None)
    story.service_updated = True
    r.deployment_id = deployment_id = story.deployment_to_follow(cfg, updated)
    reporter.info(f"Service updated: deployment {deployment_id} on {_short(r.new_task_definition)}")
    target = Target(
        cfg.cluster,
        cfg.service,
        deployment_id,
        old_arn,
        service_deployment_to_follow(story, cfg, r, updated),
    )

    # Watch it to its verdict (the scheduled tasks are looked for meanwhile); then roll back,
    # or move the scheduled tasks and prune.
    story.phase = Phase.WAITING
    scheduled = _in_background(
        lambda: find_scheduled(story, cfg, cluster_arn, old_arn, str(r.new_task_definition))
    )
    settings = story.settings(cfg, require_healthy)
    rollout = native_rollout(story, cfg, r, seen=service.events)
    if target.service_deployment_arn:
        result = rollout.run(target, settings)
    else:
        result = story.watch(r, target, settings, seen=service.events)
    story.record_verdict(cfg, r, result)
    if result.outcome is Outcome.SUCCEEDED:
        if r.new_task_definition != old_arn:
            move_scheduled(story, scheduled.result(), r)
        if cfg.max_definitions:  # None or 0: off, as the original's default
            prune(story, r, cfg.max_definitions)
    elif cfg.enable_rollback and result.outcome not in NO_ROLLBACK:
        if target.service_deployment_arn:
            roll_back_native(story, cfg, r, rollout, target=target, previous=result)
        else:
            roll_back_rolling(story, cfg, r, old_arn, seen=result.deployment)
    if result.outcome is Outcome.ERROR and r.code != ExitCode.ROLLED_BACK:
        # an answer to a hook failed: unless rolled back, the deployment still waits
        record_pause(cfg, r, result.service_deployment)
    if r.code == ExitCode.ROLLED_BACK or r.outcome in _BACK_ON_THE_OLD_REVISION:
        put_back_configuration(story, cfg, r)


def prepare_release(
    story: Story, configs: Sequence[DeployConfig], services: Sequence[Service], r: DeployResult
) -> dict[str, str]:
    """Before a release's services move: one new revision for the services of one family
    that run one revision (registered once, each service then pointed at it), and
    --pre-deploy's migration, once, with the first service's new revision. Returns the
    revision each such service deploys; a failed migration (or any error) fails `r`."""
    cfg = configs[0]
    planner = Planner(story.ecs, story.reporter)
    groups: dict[str, list[Service]] = {}
    for service in services:
        groups.setdefault(service.task_definition, []).append(service)
    shared: dict[str, str] = {}
    first = services[0]
    for current, group in groups.items():
        if len(group) < 2 and not (cfg.pre_deploy is not None and first in group):
            continue
        names = ", ".join(s.name for s in group)
        story.reporter.info(
            f"Services {names} run {short_name(current)}: one new revision for them"
        )
        story.phase = Phase.PREPARING
        plan = planner.plan_revision(replace(cfg, service=group[0].name), current)
        story.preflight(cfg, plan.containers, r)
        story.phase = Phase.REGISTERING
        arn = story.register(plan.request)
        shared.update((s.name, arn) for s in group)
        if cfg.pre_deploy is not None and first in group:
            migration = one_off_params(cfg.pre_deploy, cfg.cluster, first.placement)
            migration["startedBy"] = "ecs-deploy/pre-deploy"
            migration["taskDefinition"] = arn
            check_overrides(cfg.pre_deploy, plan.containers)
            moving = [c.service for c in configs if c.service]
            if not _migrate(story, cfg, migration, plan.containers, r, services=moving):
                return shared
    return shared


def _cluster_arn(service: Service, cluster: str) -> str:
    """The cluster's ARN, from the service's (arn:aws:ecs:REGION:ACCOUNT:service/...)."""
    if cluster.startswith("arn:"):
        return cluster
    return ":".join(service.arn.split(":")[:5]) + f":cluster/{cluster}"


def _in_background(work: Callable[[], list[ScheduledTask]]) -> Future[list[ScheduledTask]]:
    """Run `work` beside the rollout's watch (its reads cost the deploy no time)."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(work)
    pool.shutdown(wait=False)
    return future


def _migrate(
    story: Story,
    cfg: DeployConfig,
    params: dict[str, Any],
    containers: Sequence[Mapping[str, Any]],
    r: DeployResult,
    *,
    services: Sequence[str] = (),
) -> bool:
    """--pre-deploy: the new revision's one-off migration task, followed to its end (logs
    streamed); True when it exited 0 and the service (a release's `services`) may move."""
    story.phase = Phase.MIGRATING
    ended = run_one_off(story, cfg, params, containers, r, wait=True, what="migration")
    if ended is None:  # interrupted (the task was stopped) or timed out: r says which
        r.reason += "; no service was changed"
        return False
    if ended.failures:
        r.code, r.outcome = ExitCode.MIGRATION_FAILED, Outcome.FAILED
        r.reason = f"migration failed ({'; '.join(ended.failures)}): no service was changed"
        return False
    moving = f"services {', '.join(services)}" if len(services) > 1 else "service"
    story.reporter.info(f"Migration succeeded: updating the {moving}")
    return True


def _service_update(
    cfg: DeployConfig, service: Service, new_arn: str, conf: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The UpdateService request: the revision, and only what was asked for besides."""
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


def _note_deployments_in_progress(reporter: Reporter, service: Service) -> None:
    """Say so, as our UpdateService is sent, when it replaces a deployment that has not
    finished (not before: a check that refuses the deploy replaces nothing)."""
    d = service.primary
    if d is None or d.rollout_completed:
        return
    age = ""
    if d.created_at is not None:
        age = f", started {(datetime.now(UTC) - d.created_at).total_seconds():.0f}s ago"
    reporter.warn(
        f"Deployment {d.id} ({_short(d.task_definition)}{age}) is still in progress on "
        "the service; this deploy replaces it"
    )


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
