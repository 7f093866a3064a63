"""The story of one service deploy, in order: describe -> plan and check every request
(`plan_service`) -> register -> migrate -> update, watch, then rollback or prune
(`move_service`). A release takes the same steps in passes: every service planned, then
its registrations and the migration (`prepare_release`), then every service moved.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ecsdeploy.config import DeployConfig
from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import ExitCode, UnsupportedServiceError, UsageError
from ecsdeploy.gateways import AwsReaders
from ecsdeploy.models import NATIVE_STRATEGIES, Service
from ecsdeploy.models import short_name as _short
from ecsdeploy.output import Reporter
from ecsdeploy.plan import PLACEHOLDER_ARN, Plan, Planner
from ecsdeploy.policy import Interrupted, RunPolicy
from ecsdeploy.result import DeployResult, Outcome
from ecsdeploy.story import NO_ROLLBACK, Phase, Story, record_pause
from ecsdeploy.strategy import merge_deployment_configuration
from ecsdeploy.watch import Target

if TYPE_CHECKING:
    from ecsdeploy.schedules import Lookup

# The other stories (native, rollback, prune, register, scheduled) are imported where they
# are needed: a rolling deploy that succeeds loads none of native's or rollback's code.

#: Verdicts after which the service runs its previous revision again (rolled back by ECS,
#: or by ECS at our request).
_BACK_ON_THE_OLD_REVISION = {Outcome.ROLLED_BACK, Outcome.ROLLED_BACK_BY_ECS}
#: A release's registrations made at once (the gateway retries one that is throttled).
REGISTER_AT_ONCE = 5


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

    def plan_service(self, cfg: DeployConfig) -> tuple[DeployResult, ServicePlan | None]:
        """A release's first pass: describe the service and plan and check its deploy,
        writing nothing (a dry run shows it); the plan, when there is one to carry out."""
        r = DeployResult(
            ExitCode.OK, Outcome.SUCCEEDED, "", cluster=cfg.cluster, service=cfg.service
        )
        planned: list[ServicePlan] = []

        def body() -> None:
            assert cfg.cluster
            assert cfg.service
            self.story.begin(cfg)
            self.story.phase = Phase.DESCRIBING_SERVICE
            self.story.preflight_early(cfg)
            service = self.story.ecs.describe_service(cfg.cluster, cfg.service)
            r.stops_release = service.deployment_controller == "CODE_DEPLOY"
            found = plan_service(self.story, cfg, service, r)
            if found is not None and cfg.dry_run:
                show_dry_run(self.story, cfg, found, r)
            elif found is not None:
                planned.append(found)

        self.story.run(r, cfg.timeout, body)
        return r, (planned[0] if planned and r.code == ExitCode.OK else None)

    def move_service(self, cfg: DeployConfig, planned: ServicePlan, r: DeployResult) -> None:
        """A release's last pass: the service onto the revision planned (and registered)."""
        self.story.run(r, cfg.timeout, lambda: move_service(self.story, cfg, planned, r))

    def register_only(self, cfg: DeployConfig) -> DeployResult:
        """`-d` without `-n`: register a new revision (and run it with --run-task)."""
        from ecsdeploy.register import register_only

        r = DeployResult(ExitCode.OK, Outcome.SUCCEEDED, "", cluster=cfg.cluster)
        return self.story.run(r, cfg.timeout, lambda: register_only(self.story, cfg, r))

    def roll_back_release(self, cfg: DeployConfig, r: DeployResult, failed: str) -> None:
        """--atomic: put this service, which succeeded, back with the failed release."""
        from ecsdeploy.rollback import roll_back_release

        roll_back_release(self.story, cfg, r, failed)

    def where_it_stood(self, outcome: Outcome, how: str) -> DeployResult | None:
        return self.story.where_it_stood(outcome, how)


@dataclass
class ServicePlan:
    """One service's deploy, planned and checked: every request it will send, none sent
    yet. `plan`: the new revision to register (None: `target` exists, or a release
    registered it); `migration`: --pre-deploy's RunTask request (its revision filled in
    when known)."""

    service: Service
    old_arn: str
    target: str
    update: dict[str, Any]
    cluster_arn: str
    plan: Plan | None = None
    containers: list[dict[str, Any]] | None = None
    migration: dict[str, Any] | None = None
    require_healthy: bool = False
    #: The revision was registered for this service alone (deregistered if never used).
    own_revision: bool = False
    #: A release's: the revisions its services ran before it or deploy (pruning keeps them).
    release_revisions: frozenset[str] = frozenset()


def deploy_service(story: Story, cfg: DeployConfig, r: DeployResult) -> None:
    """The service deploy, top to bottom."""
    assert cfg.cluster
    assert cfg.service
    story.begin(cfg)
    story.phase = Phase.DESCRIBING_SERVICE
    story.preflight_early(cfg)
    service = story.ecs.describe_service(cfg.cluster, cfg.service)
    if _through_codedeploy(story, cfg, r, service):
        return
    if cfg.resume is not None:
        from ecsdeploy.native import resume

        resume(story, cfg, r, service)
        return
    planned = plan_service(story, cfg, service, r)
    if planned is None:
        return  # nothing to do (r says so)
    if cfg.dry_run:
        show_dry_run(story, cfg, planned, r)
        return
    if planned.plan is not None:
        story.phase = Phase.REGISTERING
        r.new_task_definition = planned.target = story.register(planned.plan.request)
        planned.plan, planned.own_revision = None, True
    if planned.migration is not None:
        planned.migration["taskDefinition"] = planned.target
        assert planned.containers is not None
        if not _migrate(story, cfg, planned.migration, planned.containers, r):
            return  # no service was changed
    move_service(story, cfg, planned, r)


def plan_service(
    story: Story, cfg: DeployConfig, service: Service, r: DeployResult
) -> ServicePlan | None:
    """Plan and check every mutating request of the deploy (the new revision, the update,
    the preflight, the migration) before any is made; reads only. None when the service
    already runs the revision asked for (`r` says so)."""
    assert cfg.cluster
    ecs, reporter = story.ecs, story.reporter
    planner = Planner(ecs, reporter)
    _check_deployable(service)
    old_arn = r.old_task_definition = r.new_task_definition = service.task_definition
    reporter.info(f"Current task definition: {old_arn}")
    story.phase = Phase.PREPARING
    conf = None
    if cfg.strategy.given:
        conf = merge_deployment_configuration(service.deployment_configuration, cfg.strategy)
        r.own_configuration = dict(service.deployment_configuration)
    r.strategy = str((conf or service.deployment_configuration).get("strategy") or "ROLLING")
    target = planner.target(cfg, service, r)
    if target is None:
        return None
    plan, containers, target_arn = target.plan, target.containers, target.arn
    update = _service_update(cfg, service, PLACEHOLDER_ARN if plan else target_arn, conf)
    ecs.check_request("UpdateService", update, UsageError)
    if containers is not None:  # a new revision, or another existing one
        story.preflight(cfg, containers, r)
    migration = None
    if cfg.pre_deploy is not None:
        from ecsdeploy.register import check_overrides, one_off_params

        if containers is None:
            containers = ecs.describe_task_definition(target_arn)[0]["containerDefinitions"]
        check_overrides(cfg.pre_deploy, containers)
        migration = one_off_params(cfg.pre_deploy, cfg.cluster, service.placement)
        migration["startedBy"] = "ecs-deploy/pre-deploy"
        ecs.check_request("RunTask", {**migration, "taskDefinition": PLACEHOLDER_ARN}, UsageError)
    require_healthy = False
    if cfg.skip_deployments_check and not cfg.dry_run:
        if containers is None:
            containers = ecs.describe_task_definition(old_arn)[0]["containerDefinitions"]
        require_healthy = any(c.get("healthCheck") for c in containers)
    return ServicePlan(
        service,
        old_arn,
        target_arn,
        update,
        _cluster_arn(service, cfg.cluster),
        plan=plan,
        containers=containers,
        migration=migration,
        require_healthy=require_healthy,
    )


def show_dry_run(story: Story, cfg: DeployConfig, planned: ServicePlan, r: DeployResult) -> None:
    """--dry-run: every read and check has run; show what would be sent (the scheduled
    tasks that would move too), send nothing."""
    from ecsdeploy.scheduled import find_scheduled, show_scheduled

    Planner(story.ecs, story.reporter).dry_run(
        r, planned.old_arn, planned.plan, planned.update, planned.migration
    )
    r.scheduled_tasks = find_scheduled(
        story, cfg, planned.cluster_arn, planned.old_arn, "<the new revision>"
    ).decided
    show_scheduled(story, r.scheduled_tasks)


def move_service(story: Story, cfg: DeployConfig, planned: ServicePlan, r: DeployResult) -> None:
    """The service onto its planned revision (registered by now): update, watch to the
    verdict; then roll back, or move the scheduled tasks and prune."""
    assert cfg.cluster
    assert cfg.service
    assert planned.plan is None  # registered
    reporter, service, old_arn = story.reporter, planned.service, planned.old_arn
    r.new_task_definition = planned.target
    update = planned.update
    update["taskDefinition"] = planned.target
    story.phase = Phase.UPDATING
    _note_deployments_in_progress(reporter, service)
    updated = story.update_service(cfg, service, update, orphan=planned.own_revision)
    story.service_updated = True
    r.deployment_id = deployment_id = story.deployment_to_follow(cfg, updated)
    reporter.info(f"Service updated: deployment {deployment_id} on {_short(r.new_task_definition)}")
    target = Target(
        cfg.cluster,
        cfg.service,
        deployment_id,
        old_arn,
        _service_deployment_to_follow(story, cfg, r, updated),
    )

    # Watch it to its verdict (the scheduled tasks are looked for meanwhile); then roll back,
    # or move the scheduled tasks and prune.
    story.phase = Phase.WAITING

    def look_for_scheduled() -> Lookup:
        from ecsdeploy.scheduled import find_scheduled  # off the main thread

        return find_scheduled(story, cfg, planned.cluster_arn, old_arn, str(r.new_task_definition))

    scheduled = _in_background(look_for_scheduled)
    settings = story.settings(cfg, planned.require_healthy)
    if target.service_deployment_arn:
        from ecsdeploy.native import native_rollout

        rollout = native_rollout(story, cfg, r, seen=service.events)
        result = rollout.run(target, settings)
    else:
        result = story.watch(r, target, settings, seen=service.events)
    story.record_verdict(cfg, r, result)
    if result.outcome is Outcome.SUCCEEDED:
        found = None
        if r.new_task_definition != old_arn:
            from ecsdeploy.scheduled import follow_revision

            found = follow_revision(story, r, scheduled.result)
        elif cfg.max_definitions:
            found = _found(scheduled)
        if cfg.max_definitions:  # None or 0: off, as the original's default
            from ecsdeploy.prune import prune

            prune(story, r, cfg.max_definitions, planned.release_revisions, found)
    elif cfg.enable_rollback and result.outcome not in NO_ROLLBACK:
        from ecsdeploy.rollback import roll_back_native, roll_back_rolling

        if target.service_deployment_arn:
            roll_back_native(story, cfg, r, rollout, target=target, previous=result)
        else:
            roll_back_rolling(story, cfg, r, old_arn, seen=result.deployment)
    if result.outcome is Outcome.ERROR and r.code != ExitCode.ROLLED_BACK:
        # an answer to a hook failed: unless rolled back, the deployment still waits
        record_pause(cfg, r, result.service_deployment)
    if r.code == ExitCode.ROLLED_BACK or r.outcome in _BACK_ON_THE_OLD_REVISION:
        from ecsdeploy.rollback import put_back_configuration

        put_back_configuration(story, cfg, r)


def prepare_release(
    story: Story, cfg: DeployConfig, plans: Sequence[ServicePlan], r: DeployResult
) -> bool:
    """A release's writes before any service moves, once every service is planned and
    checked: one new revision for the services that run one revision (registered once, each
    then pointed at it), then --pre-deploy's migration, once (the first service's plan
    carries it). False when the migration did not succeed (`r` says why)."""
    groups: dict[str, list[ServicePlan]] = {}
    for planned in plans:
        if planned.plan is not None:
            groups.setdefault(planned.old_arn, []).append(planned)
    for current, group in groups.items():
        if len(group) > 1:
            names = ", ".join(p.service.name for p in group)
            story.reporter.info(
                f"Services {names} run {_short(current)}: one new revision for them"
            )
    story.phase = Phase.REGISTERING

    def register(group: list[ServicePlan]) -> str:
        assert group[0].plan is not None
        return story.register(group[0].plan.request)

    if groups:  # side by side, as the services move: 20 services wait for no 20 round trips
        with ThreadPoolExecutor(max_workers=min(len(groups), REGISTER_AT_ONCE)) as pool:
            arns = list(pool.map(register, groups.values()))
        for arn, group in zip(arns, groups.values(), strict=True):
            r.new_task_definition = arn
            for planned in group:
                planned.target, planned.plan, planned.own_revision = arn, None, len(group) == 1
    ran_or_runs = frozenset({p.old_arn for p in plans} | {p.target for p in plans})
    for planned in plans:
        planned.release_revisions = ran_or_runs
        if planned.migration is not None:
            planned.migration["taskDefinition"] = planned.target
            assert planned.containers is not None
            moving = [p.service.name for p in plans]
            if not _migrate(story, cfg, planned.migration, planned.containers, r, services=moving):
                return False
            planned.migration = None
    return True


def _cluster_arn(service: Service, cluster: str) -> str:
    """The cluster's ARN, from the service's (arn:aws:ecs:REGION:ACCOUNT:service/...)."""
    if cluster.startswith("arn:"):
        return cluster
    return ":".join(service.arn.split(":")[:5]) + f":cluster/{cluster}"


def _service_deployment_to_follow(
    story: Story, cfg: DeployConfig, r: DeployResult, updated: Service
) -> str | None:
    """native.py's, for a native strategy; a rolling deploy does not load native.py."""
    if (updated.strategy if updated.deployment_configuration else r.strategy) in NATIVE_STRATEGIES:
        from ecsdeploy.native import service_deployment_to_follow

        return service_deployment_to_follow(story, cfg, r, updated)
    if updated.deployment_configuration:
        r.strategy = updated.strategy
    return None


def _found(scheduled: Future[Lookup]) -> Lookup | None:
    """The scheduled-task lookup's findings (pruning keeps what they run); None when a
    signal stopped it."""
    try:
        return scheduled.result()
    except Interrupted:
        return None


def _in_background(work: Callable[[], Lookup]) -> Future[Lookup]:
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
    from ecsdeploy.register import run_one_off

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


def _through_codedeploy(story: Story, cfg: DeployConfig, r: DeployResult, service: Service) -> bool:
    """A CODE_DEPLOY service is deployed (or resumed) through CodeDeploy (codedeploy.py);
    True when it was. The --codedeploy-* options on any other service are refused."""
    if service.deployment_controller == "CODE_DEPLOY" and service.is_active:
        from ecsdeploy import codedeploy  # only a CODE_DEPLOY service pays for it

        if cfg.resume is not None:
            codedeploy.resume(story, cfg, r, service)
        else:
            codedeploy.deploy(story, cfg, r, service)
        return True
    if cfg.codedeploy_application or cfg.codedeploy_appspec is not None:
        raise UsageError(
            f"Service {service.name} uses the {service.deployment_controller} deployment "
            "controller, not CODE_DEPLOY: drop the --codedeploy-* options; nothing was changed"
        )
    return False


def _check_deployable(service: Service) -> None:
    if service.deployment_controller == "CODE_DEPLOY":
        raise UnsupportedServiceError(
            f"Service {service.name} uses the CODE_DEPLOY deployment controller: a release of "
            "several services does not deploy it; deploy it alone (-n once, through "
            "CodeDeploy), and the others without it; nothing was changed"
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
