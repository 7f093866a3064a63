"""--migrate-to-native: the story of moving a CODE_DEPLOY service, in place, onto ECS's own
blue/green. Read what the mapping needs (the service, its CodeDeploy deployment group and
configuration, the load balancer's rules, the infrastructure role), let migrate.py plan
and check it, print the plan; then, unless a check failed or it is a dry run, send the
listener-rule changes and the UpdateService, and say what changed and how to go back.

The CodeDeploy application and deployment group are left as they are.
"""

from __future__ import annotations

import json
from typing import Any

from ecsdeploy.config import DeployConfig
from ecsdeploy.ecs import EcsGateway, check_request
from ecsdeploy.errors import (
    AwsAccessError,
    EcsDeployError,
    ExitCode,
    NotFoundError,
    UnsupportedServiceError,
)
from ecsdeploy.gateways import ACTIVE_DEPLOYMENT_STATUSES, AwsReaders, CodeDeployGateway
from ecsdeploy.migrate import Plan, parse_hooks, plan, routing_of
from ecsdeploy.migratechecks import ROLE_NEEDS, Found, RuleChange, foreign_role
from ecsdeploy.models import Service, short_name
from ecsdeploy.output import Reporter
from ecsdeploy.policy import Interrupted
from ecsdeploy.result import DeployResult, Outcome
from ecsdeploy.story import Phase, Story

#: Seconds a read that only adds to the plan (a custom configuration, the last AppSpec, the
#: role) may retry: its failure is a warning, and must not use up the run's deadline.
BEST_EFFORT_READ = 5.0


def migrate(
    ecs: EcsGateway, reporter: Reporter, readers: AwsReaders, cfg: DeployConfig
) -> DeployResult:
    """Run the migration under one deadline (--timeout); the result says how it ended."""
    r = DeployResult(ExitCode.OK, Outcome.SUCCEEDED, "", cluster=cfg.cluster, service=cfg.service)
    r.what = "Migration"
    story = Story(ecs, reporter, readers)
    return story.run(r, cfg.timeout, lambda: migrate_to_native(story, cfg, r))


def migrate_to_native(story: Story, cfg: DeployConfig, r: DeployResult) -> None:
    """The migration, top to bottom."""
    assert cfg.cluster
    assert cfg.service
    assert cfg.infrastructure_role_arn
    assert story.readers is not None
    ecs, reporter = story.ecs, story.reporter
    story.begin(cfg)

    story.phase = Phase.DESCRIBING_SERVICE
    raw = _describe(ecs, cfg.cluster, cfg.service)
    service = Service.from_api(raw)
    r.old_task_definition = r.new_task_definition = service.task_definition or None
    if service.deployment_controller == "ECS":
        r.reason = f"service {cfg.service} already uses the ECS deployment controller"
        r.strategy = service.strategy
        reporter.info(f"Service {cfg.service} already uses ECS's controller: nothing to migrate")
        return
    if service.deployment_controller != "CODE_DEPLOY":
        raise UnsupportedServiceError(
            f"Service {cfg.service} uses the {service.deployment_controller} deployment "
            "controller: --migrate-to-native moves CODE_DEPLOY services only; nothing was changed"
        )

    story.phase = Phase.CHECKING_MIGRATION
    found, config_name = _read(story, cfg, raw)
    application = str(found.group["applicationName"])
    name = str(found.group["deploymentGroupName"])
    elb = story.readers.listener_rules(story.policy)
    the_plan = plan(found)
    r.strategy = str(the_plan.update["deploymentConfiguration"].get("strategy"))
    r.requests = the_plan.requests
    _show(reporter, cfg, the_plan, config_name)
    if the_plan.problems:
        for problem in the_plan.problems:
            reporter.warn(f"Check failed: {problem}")
        raise UnsupportedServiceError(
            f"Service {cfg.service} cannot be migrated yet ({len(the_plan.problems)} check(s) "
            f"failed): {'; '.join(the_plan.problems)}; nothing was changed"
        )
    ecs.check_request("UpdateService", the_plan.update)
    for change in the_plan.rule_changes:
        check_request(change.operation, change.request, model=elb.client.meta.service_model)
    if cfg.dry_run:
        r.outcome, r.code = Outcome.DRY_RUN, ExitCode.OK
        r.reason = "nothing was changed"
        reporter.info("Dry run: the requests that would be sent, in order (nothing is)")
        for operation, request in _in_order(the_plan):
            reporter.info(f"{operation} request that would be sent:")
            reporter.block(json.dumps(request, indent=2, sort_keys=True).splitlines())
        return

    # The writes: the rules first (traffic-neutral), then the service.
    story.phase = Phase.MIGRATING_CONTROLLER
    unchanged = f"service {cfg.service} was not changed (it still uses CODE_DEPLOY)"
    for change in the_plan.rule_changes:
        story.state_on_signal = (
            f"{change.operation} was being sent: the {_which(the_plan, change)} may now also "
            f"name the idle target group at weight 0 (no request goes there); {unchanged}"
        )
        elb.change_rule(change.operation, change.request)
        story.state_on_signal = (
            "the listener rules now also name the idle target group at weight 0 (no request "
            f"goes there); {unchanged}"
        )
        reporter.info(
            f"The {_which(the_plan, change)} now forwards to both target groups (the idle one "
            f"at weight 0: no request goes elsewhere; {change.operation})"
        )
    conf = the_plan.update["deploymentConfiguration"]
    applied = (
        f"the UpdateService was applied: service {cfg.service} now uses ECS's controller "
        f"({conf['strategy']}); CodeDeploy application {application} and group {name} are "
        "left in place (to go back, see --migrate-to-native in docs/guides/codedeploy.md)"
    )
    before = story.state_on_signal
    story.state_on_signal = (
        "the UpdateService was being sent and its answer did not arrive: whether service "
        f"{cfg.service} now uses ECS's controller is unknown (aws ecs describe-services "
        f"--cluster {cfg.cluster} --services {cfg.service}{story.aws_cli_args()} shows "
        "its deploymentController); run the same command again: it says which"
    )
    try:
        ecs.update_service(**the_plan.update)
    except Interrupted:
        story.state_on_signal = before  # refused before it was sent
        raise
    except EcsDeployError as exc:
        if not _moved(ecs, cfg):
            if the_plan.rule_changes:
                exc.args = (
                    f"{exc.message}; the listener rules now also name the idle target group at "
                    "weight 0 (no request goes there); the service was not changed",
                )
            raise
        reporter.warn(
            f"UpdateService reported an error ({exc.message}), but the service "
            "shows the new controller: it was applied"
        )
    story.service_updated = True
    story.state_on_signal = applied
    # A signal that arrived while UpdateService was on the wire: the update is applied (it
    # cannot be taken back from here); the run still ends as the signal asked, saying so.
    story.policy.check("reporting the migration")
    r.reason = (
        f"service {cfg.service} now uses ECS's controller with the {conf['strategy']} "
        f"strategy; CodeDeploy application {application} and group {name} are left in place"
    )
    reporter.info(
        f"Migrated: service {cfg.service} now uses ECS's deployment controller "
        f"({conf['strategy']}, bake time {conf.get('bakeTimeInMinutes', 0)} min); its next "
        f"deploy (-i) is ECS's own {conf['strategy']} deployment"
    )
    reporter.info(
        f"CodeDeploy application {application} and deployment group {name} are left in "
        "place: delete them once you no longer need the way back"
    )
    reporter.info("To go back to CodeDeploy, with no deployment in progress:")
    reporter.block(
        [
            f"aws ecs update-service{story.aws_cli_args()} --cli-input-json '"
            + json.dumps(the_plan.back, sort_keys=True)
            + "'"
        ]
    )


def _read(story: Story, cfg: DeployConfig, raw: dict[str, Any]) -> tuple[Found, str]:
    """Everything the mapping needs, read: the service's CodeDeploy deployment group, its
    traffic routing, deployments in progress and last AppSpec's hooks; the target groups and
    listener rules; the infrastructure role. Returns it, and the configuration's name."""
    assert cfg.cluster
    assert cfg.service
    assert cfg.infrastructure_role_arn
    assert story.readers is not None
    reporter, readers, policy = story.reporter, story.readers, story.policy
    codedeploy = readers.codedeploy(policy)
    group = codedeploy.group_of(
        cfg.cluster, cfg.service, cfg.codedeploy_application, cfg.codedeploy_group
    )
    application, name = str(group["applicationName"]), str(group["deploymentGroupName"])
    reporter.info(f"CodeDeploy application {application}, deployment group {name}")
    config_name = str(group.get("deploymentConfigName") or "CodeDeployDefault.ECSAllAtOnce")
    routing = routing_of(config_name)
    if routing is None:
        try:
            with codedeploy.within(BEST_EFFORT_READ):
                routing = codedeploy.traffic_routing(config_name)
        except Interrupted:
            raise
        except EcsDeployError as exc:
            reporter.warn(f"Could not read deployment configuration {config_name}: {exc.message}")
    active = _active(codedeploy, application, name)
    hooks = _hooks(codedeploy, group, reporter)
    elb = readers.listener_rules(policy)
    pairs = (group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or []
    target_groups: dict[str, str] = {}
    rules: dict[str, Any] = {}
    for pair in pairs:
        for tg in pair.get("targetGroups") or []:
            arn = elb.target_group_arn(str(tg.get("name")))
            if arn is not None:
                target_groups[str(tg.get("name"))] = arn
        for route in ("prodTrafficRoute", "testTrafficRoute"):
            for listener in (pair.get(route) or {}).get("listenerArns") or []:
                rules[listener] = elb.rules(listener)
    rules = {k: v for k, v in rules.items() if v is not None}
    role: dict[str, Any] | None = None
    role_checked = True
    if not foreign_role(cfg.infrastructure_role_arn, str(raw.get("serviceArn") or "")):
        # (GetRole reads by name, in our own account: never for another account's ARN)
        role, role_checked = _role(readers, story, cfg.infrastructure_role_arn)
    found = Found(
        cluster=cfg.cluster,
        service=raw,
        group=group,
        role_arn=cfg.infrastructure_role_arn,
        routing=routing,
        target_groups=target_groups,
        rules=rules,
        role=role,
        role_checked=role_checked,
        active_deployments=active,
        hooks=hooks,
        overrides=cfg.strategy,
        cli=story.aws_cli_args(),
    )
    return found, config_name


def _describe(ecs: EcsGateway, cluster: str, name: str) -> dict[str, Any]:
    """DescribeServices' service as AWS returns it (with its task sets)."""
    try:
        response = ecs.call("DescribeServices", cluster=cluster, services=[name])
    except NotFoundError as exc:
        raise NotFoundError(
            f"Cluster {cluster} not found; check -c/--cluster ({exc.message})"
        ) from exc
    services = response.get("services") or []
    if not services:
        raise NotFoundError(
            f"Service {name} not found in cluster {cluster}; check -n/--service-name and "
            "-c/--cluster"
        )
    return dict(services[0])


def _active(codedeploy: CodeDeployGateway, application: str, group: str) -> list[tuple[str, str]]:
    """The group's active deployments, each with its status where it can be read (a check
    that fails names them)."""
    found = []
    for deployment_id in codedeploy.active_deployments(application, group):
        try:
            with codedeploy.within(BEST_EFFORT_READ):
                status = str(codedeploy.deployment(deployment_id).get("status") or "InProgress")
        except (Interrupted, AwsAccessError):
            raise
        except EcsDeployError:
            status = "in progress"  # listed as such; its own status could not be read
        if status in ACTIVE_DEPLOYMENT_STATUSES or status == "in progress":  # else it just ended
            found.append((deployment_id, status))
    return found


def _hooks(
    codedeploy: CodeDeployGateway, group: dict[str, Any], reporter: Reporter
) -> list[tuple[str, str]]:
    """The lifecycle hooks of the AppSpec the group deployed last (best effort)."""
    last = group.get("lastSuccessfulDeployment") or group.get("lastAttemptedDeployment") or {}
    deployment_id = last.get("deploymentId")
    if not deployment_id:
        return []
    try:
        with codedeploy.within(BEST_EFFORT_READ):
            revision = codedeploy.deployment(str(deployment_id)).get("revision") or {}
    except Interrupted:
        raise
    except EcsDeployError as exc:
        reporter.warn(f"Could not read deployment {deployment_id}'s AppSpec: {exc.message}")
        return []
    content = (revision.get("appSpecContent") or revision.get("string") or {}).get("content")
    if not content:
        where = revision.get("s3Location") or {}
        if where:
            reporter.warn(
                f"The last deployment's AppSpec is in s3://{where.get('bucket')}/"
                f"{where.get('key')}: its lifecycle hooks were not read (ECS does not carry "
                "them: see the stages below)"
            )
        return []
    return parse_hooks(str(content))


def _role(readers: AwsReaders, story: Story, arn: str) -> tuple[dict[str, Any] | None, bool]:
    """GetRole: (the role or None, whether it could be read at all)."""
    iam = readers.iam(story.policy)
    try:
        with iam.within(BEST_EFFORT_READ):
            return iam.role(short_name(arn)), True
    except Interrupted:
        raise
    except EcsDeployError as exc:
        story.reporter.warn(
            f"Could not check role {arn} (iam:GetRole: {exc.message}); it must {ROLE_NEEDS}"
        )
        return None, False


def _moved(ecs: EcsGateway, cfg: DeployConfig) -> bool:
    """Whether an UpdateService that reported an error took effect all the same."""
    assert cfg.cluster
    assert cfg.service
    try:
        return ecs.describe_one_service(cfg.cluster, cfg.service).deployment_controller == "ECS"
    except EcsDeployError:
        return False


def _tg(arn: str) -> str:
    """A target group's name, from its ARN (…:targetgroup/NAME/ID)."""
    parts = arn.split("/")
    return parts[-2] if len(parts) >= 3 else arn


def _which(the_plan: Plan, change: RuleChange) -> str:
    """Which listener rule a change is for, in words."""
    for balancer in the_plan.update.get("loadBalancers") or []:
        advanced = balancer.get("advancedConfiguration") or {}
        if advanced.get("testListenerRule") == change.rule:
            return "test listener's rule"
    return "production listener's rule"


def _in_order(the_plan: Plan) -> list[tuple[str, dict[str, Any]]]:
    changes = [(c.operation, c.request) for c in the_plan.rule_changes]
    return [*changes, ("UpdateService", the_plan.update)]


def _show(reporter: Reporter, cfg: DeployConfig, the_plan: Plan, config_name: str) -> None:
    """The plan, in words: the strategy and where each setting came from, the rules, what
    is not carried."""
    conf = the_plan.update["deploymentConfiguration"]
    steps = ""
    if conf.get("canaryConfiguration"):
        c = conf["canaryConfiguration"]
        steps = f", {c['canaryPercent']:g}% then the rest after {c['canaryBakeTimeInMinutes']} min"
    if conf.get("linearConfiguration"):
        c = conf["linearConfiguration"]
        steps = f", {c['stepPercent']:g}% every {c['stepBakeTimeInMinutes']} min"
    source = "the options given" if cfg.strategy.given else config_name
    reporter.info(
        f"Plan: deploymentController ECS, strategy {conf['strategy']}{steps}, bake time "
        f"{conf.get('bakeTimeInMinutes', 0)} min (from {source} and the group's termination wait)"
    )
    for balancer in the_plan.update.get("loadBalancers") or []:
        advanced = balancer["advancedConfiguration"]
        reporter.info(
            f"  production target group {_tg(balancer['targetGroupArn'])}, alternate "
            f"{_tg(advanced['alternateTargetGroupArn'])}, container "
            f"{balancer['containerName']}:{balancer['containerPort']}"
        )
        reporter.info(f"  productionListenerRule {advanced['productionListenerRule']}")
        if advanced.get("testListenerRule"):
            reporter.info(f"  testListenerRule {advanced['testListenerRule']}")
    if conf.get("alarms"):
        a = conf["alarms"]
        reporter.info(
            f"  alarms {', '.join(a['alarmNames'])} (rollback: {str(a['rollback']).lower()})"
        )
    if conf.get("deploymentCircuitBreaker"):
        reporter.info("  automatic rollback on failure: the deployment circuit breaker")
    for change in the_plan.rule_changes:
        reporter.info(
            f"  {_which(the_plan, change)}: add the idle target group at weight 0 (ECS needs "
            "both target groups on its rules; no request goes elsewhere)"
        )
    for hook in the_plan.hooks:
        where = f"ECS's {hook.stage} stage" if hook.stage else "no ECS stage"
        reporter.warn(
            f"CodeDeploy hook {hook.event} ({hook.function}) is not carried: ECS's hooks have "
            f"another contract; its moment is {where}"
        )
    for note in the_plan.notes:
        reporter.info(f"  {note}")
