"""A CODE_DEPLOY service's deploy: CodeDeploy runs the blue/green deployment, we start it and
follow it, with the same clock, policy and outcome vocabulary as every other deploy.

In order: find the CodeDeploy application and deployment group whose ecsServices name the
service (or take --codedeploy-application/--codedeploy-group); refuse, before anything is
registered, when the group already has an active deployment (exit 28); plan and register the
new revision as any deploy does; CreateDeployment with an AppSpec (appspec.py) naming it; then
follow the deployment (codedeploywatch.py): its status, each lifecycle event as it changes,
the replacement task set's counts and traffic weight, its stopped tasks with their diagnosis.
Ready (waiting to reroute traffic, deploymentReadyOption STOP_DEPLOYMENT) is a pause, answered
as --on-pause says, or later with --resume. A failure CodeDeploy rolls back is followed into
its rollback deployment (a deployment of its own): 15 once it succeeded, 22 if it failed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ecsdeploy import appspec
from ecsdeploy.codedeploywatch import Follower
from ecsdeploy.config import DeployConfig
from ecsdeploy.errors import (
    AwsError,
    DeploymentInProgressError,
    EcsDeployError,
    NotFoundError,
    UsageError,
)
from ecsdeploy.gateways import CodeDeployGateway
from ecsdeploy.models import Service, short_name
from ecsdeploy.plan import PLACEHOLDER_ARN, Planner
from ecsdeploy.policy import Interrupted
from ecsdeploy.result import DeployResult, Rollback
from ecsdeploy.story import Phase, Story


@dataclass(frozen=True)
class Group:
    """The CodeDeploy deployment group that deploys the service."""

    application: str
    name: str
    info: Mapping[str, Any]

    @property
    def config(self) -> str:
        return str(self.info.get("deploymentConfigName") or "CodeDeployDefault.ECSAllAtOnce")

    @property
    def ready_wait(self) -> bool:
        """Traffic moves only once someone continues the deployment (STOP_DEPLOYMENT)."""
        option = (self.info.get("blueGreenDeploymentConfiguration") or {}).get(
            "deploymentReadyOption"
        ) or {}
        return option.get("actionOnTimeout") == "STOP_DEPLOYMENT"


# -- finding the group --------------------------------------------------------------------


def find_group(cd: CodeDeployGateway, cfg: DeployConfig) -> Group:
    """The deployment group whose ecsServices name the service: the one given, or found."""
    assert cfg.cluster
    assert cfg.service
    info = cd.group_of(cfg.cluster, cfg.service, cfg.codedeploy_application, cfg.codedeploy_group)
    return Group(str(info["applicationName"]), str(info.get("deploymentGroupName")), info)


def check_idle(cd: CodeDeployGateway, group: Group, cli: str = "") -> None:
    """Refuse when the group already runs a deployment (CodeDeploy allows one at a time)."""
    active = cd.active_deployments(group.application, group.name)
    if active:
        raise DeploymentInProgressError(
            f"CodeDeploy deployment {active[0]} is still active in deployment group "
            f"{group.name} (application {group.application}): wait for it to end, or stop "
            f"it (aws deploy stop-deployment --deployment-id {active[0]}{cli}); nothing was "
            "registered"
        )


def _follower(
    story: Story, cd: CodeDeployGateway, cfg: DeployConfig, r: DeployResult, service: Service
) -> Follower:
    assert cfg.cluster
    assert cfg.service
    target = f"{short_name(cfg.cluster)}:{cfg.service}"
    return Follower(story, cd, cfg, r, target, service=service)


def _gateway(story: Story) -> CodeDeployGateway:
    if story.readers is None:
        raise AwsError("CodeDeploy needs the run's AWS clients; none were given")
    return story.readers.codedeploy(story.policy)


# -- the stories ---------------------------------------------------------------------------


def deploy(story: Story, cfg: DeployConfig, r: DeployResult, service: Service) -> None:
    """Deploy a CODE_DEPLOY service through CodeDeploy, top to bottom."""
    assert cfg.cluster
    assert cfg.service
    reporter = story.reporter
    cd = _gateway(story)
    r.strategy = "CODE_DEPLOY"
    old_arn = r.old_task_definition = r.new_task_definition = service.task_definition
    reporter.info(f"Current task definition: {old_arn}")
    story.phase = Phase.PREPARING
    _refuse_options(cfg)
    group = find_group(cd, cfg)
    r.codedeploy = {
        "application": group.application,
        "deployment_group": group.name,
        "deployment_config": group.config,
    }
    reporter.info(
        f"CODE_DEPLOY service: CodeDeploy application {group.application}, deployment group "
        f"{group.name} ({group.config})"
    )
    check_idle(cd, group, story.aws_cli_args())

    planner = Planner(story.ecs, reporter)
    target = planner.target(cfg, service, r)
    if target is None:
        return
    plan, containers, target_arn = target.plan, target.containers, target.arn
    lb = service.load_balancers[0] if service.load_balancers else {}
    container, port = lb.get("containerName"), lb.get("containerPort")
    problem = appspec.load_balancer_problem(cfg.codedeploy_appspec, container, port, containers)
    if problem:
        raise UsageError(f"{problem}; nothing was registered")
    images = [str(i) for i in (cfg.image, *cfg.extra_images) if i is not None]

    def request_for(arn: str) -> dict[str, Any]:
        spec = appspec.build(cfg.codedeploy_appspec, arn, container, port)
        return {
            "applicationName": group.application,
            "deploymentGroupName": group.name,
            "revision": appspec.revision(spec),
            "description": appspec.description(
                images, cfg.service or "", short_name(arn), os.environ
            ),
        }

    shown_arn = f"{old_arn.rsplit(':', 1)[0]}:<next>" if plan is not None else target_arn
    cd.check_create(request_for(PLACEHOLDER_ARN if plan is not None else target_arn), UsageError)
    if containers is not None:
        story.preflight(cfg, containers, r)
    if cfg.dry_run:
        planner.dry_run(r, old_arn, plan, None)
        shown = request_for(shown_arn)
        r.requests["CreateDeployment"] = shown
        reporter.info("CreateDeployment request that would be sent:")
        reporter.block(json.dumps(shown, indent=2, sort_keys=True).splitlines())
        r.reason = "nothing was registered or deployed"
        return

    r.new_task_definition = target_arn
    if plan is not None:
        story.phase = Phase.REGISTERING
        r.new_task_definition = story.register(plan.request)
    story.phase = Phase.UPDATING
    request = request_for(r.new_task_definition)
    deployment_id = _create(story, cd, group, request, orphan=plan is not None)
    story.service_updated = True
    r.deployment_id = deployment_id
    r.codedeploy["deployment_id"] = deployment_id
    reporter.info(
        f"CodeDeploy deployment {deployment_id} created: {short_name(r.new_task_definition)} "
        f"({request['description']})"
    )
    story.phase = Phase.WAITING
    _follower(story, cd, cfg, r, service).follow_to_the_end(deployment_id)


def _refuse_options(cfg: DeployConfig) -> None:
    """Options CodeDeploy's deployment has no room for: refused before anything happens."""
    refused = [
        flag
        for flag, given in (
            ("--strategy and the other strategy options", cfg.strategy.given),
            ("-D/--desired-count", cfg.desired_count is not None),
            ("-m/--min and -M/--max", cfg.min_percent is not None or cfg.max_percent is not None),
            ("--pre-deploy", cfg.pre_deploy is not None),
            ("--atomic (its rollback is an UpdateService)", cfg.atomic),
        )
        if given
    ]
    if refused:
        raise UsageError(
            f"A CODE_DEPLOY service is deployed by CodeDeploy, which does not take "
            f"{', '.join(refused)}; drop them (the deployment group's configuration applies)"
        )


def _create(
    story: Story,
    cd: CodeDeployGateway,
    group: Group,
    request: Mapping[str, Any],
    *,
    orphan: bool,
) -> str:
    """CreateDeployment. When it fails, look whether it was carried out all the same (a lost
    answer: an active deployment of the group with our AppSpec) and follow that one if so;
    otherwise the revision registered for it is deregistered (nothing will ever run it), and
    a refusal because another deployment started in between exits 28 naming it."""
    try:
        return cd.create_deployment(request)
    except Interrupted:
        raise
    except EcsDeployError as exc:
        taken = _created_all_the_same(cd, group, request)
        if taken is not None:
            story.reporter.warn(
                f"CreateDeployment reported an error ({exc.message}), but deployment {taken} "
                "has our AppSpec: following it"
            )
            return taken
        registered = story.result.new_task_definition if story.result else None
        gone = ""
        if (
            orphan
            and registered
            and story.deregister_orphan(registered, "CodeDeploy did not deploy it")
        ):
            gone = f"; {short_name(registered)} was deregistered"
        if "DeploymentLimitExceeded" in exc.message:
            raise DeploymentInProgressError(
                f"CodeDeploy refused the deployment: {exc.message.split(': ', 2)[-1]}{gone}"
            ) from exc
        if gone:
            raise type(exc)(f"{exc.message}{gone}", exc.code) from exc
        raise


def _created_all_the_same(
    cd: CodeDeployGateway, group: Group, request: Mapping[str, Any]
) -> str | None:
    """The group's active deployment whose AppSpec is ours, if CreateDeployment took."""
    ours = request["revision"]["appSpecContent"]["sha256"]
    try:
        for deployment_id in cd.active_deployments(group.application, group.name):
            info = cd.deployment(deployment_id)
            sent = ((info.get("revision") or {}).get("appSpecContent") or {}).get("sha256")
            content = ((info.get("revision") or {}).get("appSpecContent") or {}).get("content")
            if sent == ours or content == request["revision"]["appSpecContent"]["content"]:
                return deployment_id
    except Interrupted:
        raise
    except EcsDeployError:
        return None
    return None


def resume(story: Story, cfg: DeployConfig, r: DeployResult, service: Service) -> None:
    """--resume continue|rollback on a CODE_DEPLOY service: the group's deployment that is
    Ready, continued (ContinueDeployment READY_WAIT) or stopped with rollback, then
    followed to its end."""
    assert cfg.cluster
    assert cfg.service
    assert cfg.resume is not None
    cd = _gateway(story)
    r.strategy = "CODE_DEPLOY"
    story.phase = Phase.FINDING_PAUSED
    group = find_group(cd, cfg)
    ready = cd.active_deployments(group.application, group.name, ("Ready",))
    if not ready:
        raise NotFoundError(
            f"No CodeDeploy deployment of service {cfg.service} is Ready, waiting to reroute "
            f"traffic (deployment group {group.name}); nothing was changed"
        )
    deployment_id = ready[0]
    r.deployment_id = deployment_id
    r.old_task_definition = r.new_task_definition = service.task_definition
    r.codedeploy = {
        "application": group.application,
        "deployment_group": group.name,
        "deployment_id": deployment_id,
    }
    story.phase = Phase.RESUMING
    asked = ""
    if cfg.resume == "continue":
        story.reporter.info(f"Deployment {deployment_id} is Ready: ContinueDeployment READY_WAIT")
        cd.continue_deployment(deployment_id)
    else:
        story.reporter.warn(f"Deployment {deployment_id} is Ready: StopDeployment with rollback")
        cd.stop_deployment(deployment_id, auto_rollback=True)
        r.rollback = Rollback(requested_with="StopDeployment")
        asked = "--resume rollback"
    story.service_updated = True
    story.phase = Phase.WAITING
    follower = _follower(story, cd, replace(cfg, on_pause="wait"), r, service)
    follower.answered.add(deployment_id)
    follower.follow_to_the_end(deployment_id, asked=asked)
