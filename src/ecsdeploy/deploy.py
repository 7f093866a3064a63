"""The story of one deploy, in order: describe -> rewrite -> register -> update -> watch ->
rollback/prune. Validation happened before this (cli.py): nothing here is called with bad
input, and nothing mutating runs before every read that could refuse the deploy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecsdeploy import taskdef
from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import AwsError, EcsDeployError, ExitCode, UnsupportedServiceError
from ecsdeploy.image import ImageRef
from ecsdeploy.models import Service, Task, rollout_counts
from ecsdeploy.output import Reporter, describe_counts
from ecsdeploy.watch import Outcome, Target, WatchResult, WatchSettings, watch


@dataclass(frozen=True)
class RunTaskConfig:
    launch_type: str | None = None
    platform_version: str | None = None
    network_configuration: Mapping[str, Any] | None = None
    wait_for_success: bool = False


@dataclass(frozen=True)
class DeployConfig:
    """Everything a deploy needs, validated and parsed (cli.py builds it)."""

    cluster: str | None = None
    service: str | None = None
    task_definition: str | None = None
    image: ImageRef | None = None
    tag_only: str | None = None
    containers: tuple[str, ...] = ()
    timeout: float = 90.0
    desired_count: int | None = None
    min_percent: int | None = None
    max_percent: int | None = None
    max_definitions: int | None = None
    taskdef_file: tuple[dict[str, Any], list[dict[str, str]]] | None = None
    enable_rollback: bool = False
    force_new_deployment: bool = False
    skip_deployments_check: bool = False
    use_latest_task_def: bool = False
    copy_task_definition_tags: bool = False
    poll_interval: float = 1.0
    max_failed_tasks: int | None = None
    run_task: RunTaskConfig | None = None


@dataclass
class DeployResult:
    code: ExitCode
    outcome: str
    reason: str
    cluster: str | None
    service: str | None
    old_task_definition: str | None
    new_task_definition: str | None
    deployment_id: str | None = None
    duration: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    rollback: dict[str, Any] | None = None
    deregistered: list[str] = field(default_factory=list)
    stopped_tasks: list[Task] = field(default_factory=list)


_OUTCOME_CODES = {
    Outcome.SUCCEEDED: ExitCode.OK,
    Outcome.FAILED: ExitCode.DEPLOY_FAILED,
    Outcome.TIMED_OUT: ExitCode.DEPLOY_FAILED,
    Outcome.ROLLED_BACK_BY_ECS: ExitCode.ROLLED_BACK_BY_ECS,
    Outcome.SERVICE_INACTIVE: ExitCode.UNSUPPORTED_SERVICE,
    Outcome.INTERRUPTED: ExitCode.INTERRUPTED,
}


#: ECS already rolled back, or the service can no longer be updated.
_NO_ROLLBACK = {Outcome.ROLLED_BACK_BY_ECS, Outcome.SERVICE_INACTIVE}


class Deployer:
    """Runs one deploy against a gateway; clock and sleep are injected for the watcher."""

    def __init__(
        self,
        ecs: EcsGateway,
        reporter: Reporter,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        interrupted: Callable[[], bool] = lambda: False,
        rollback_sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.ecs = ecs
        self.rollback_sleep = rollback_sleep
        self.reporter = reporter
        self.clock = clock
        self.sleep = sleep
        self.interrupted = interrupted

    # -- services ------------------------------------------------------------------------

    def deploy_service(self, cfg: DeployConfig) -> DeployResult:
        """Roll a service onto a new revision (or force a new deployment) and wait."""
        assert cfg.cluster
        assert cfg.service
        started = self.clock()
        deadline = started + cfg.timeout
        self.ecs.deadline = deadline
        service = self.ecs.describe_service(cfg.cluster, cfg.service)
        _check_deployable(service)
        old_arn = service.task_definition
        self.reporter.info(f"Current task definition: {old_arn}")

        new_arn = old_arn
        containers: list[dict[str, Any]] | None = None
        if cfg.image is not None or cfg.tag_only is not None:
            new_arn, containers = self._register_revision(cfg, old_arn)
        require_healthy = False
        if cfg.skip_deployments_check:
            if containers is None:
                containers = self.ecs.describe_task_definition(old_arn)[0]["containerDefinitions"]
            require_healthy = any(c.get("healthCheck") for c in containers)
        update = self._service_update(cfg, service, new_arn)
        updated = self.ecs.update_service(**update)
        deployment_id = self._deployment_to_follow(cfg, updated)
        self.reporter.info(f"Service updated: deployment {deployment_id} on {_short(new_arn)}")

        result = self._watch(
            cfg, deployment_id, old_arn, deadline, service, require_healthy=require_healthy
        )
        outcome = DeployResult(
            code=_OUTCOME_CODES[result.outcome],
            outcome=result.outcome.value,
            reason=result.reason,
            cluster=cfg.cluster,
            service=cfg.service,
            old_task_definition=old_arn,
            new_task_definition=new_arn,
            deployment_id=deployment_id,
            counts=rollout_counts(result.service, result.deployment),
            stopped_tasks=result.stopped_tasks,
        )
        if result.outcome is Outcome.INTERRUPTED:
            self.reporter.warn(f"Interrupted while waiting: {describe_counts(outcome.counts)}")
        if result.outcome is Outcome.SUCCEEDED:
            if cfg.max_definitions:  # None or 0: off, as the original's default
                outcome.deregistered = self._prune(new_arn, old_arn, cfg.max_definitions)
        elif cfg.enable_rollback and result.outcome not in _NO_ROLLBACK:
            outcome.rollback = self._roll_back(cfg, old_arn, new_arn)
            rolled_back = outcome.rollback["outcome"] == Outcome.SUCCEEDED.value
            if outcome.code is ExitCode.DEPLOY_FAILED and rolled_back:
                outcome.code = ExitCode.ROLLED_BACK
        outcome.duration = self.clock() - started
        return outcome

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

    def _register_revision(
        self, cfg: DeployConfig, current_arn: str
    ) -> tuple[str, list[dict[str, Any]]]:
        """Register the new revision; returns its ARN and container definitions."""
        if cfg.taskdef_file is not None:
            base, tags = cfg.taskdef_file
            self.reporter.info("Base task definition: from --task-definition-file")
        else:
            source = current_arn
            if cfg.use_latest_task_def:
                family = _family(current_arn)
                source = self.ecs.latest_task_definition(family) or current_arn
                self.reporter.info(f"Base task definition: the family's newest, {_short(source)}")
            base, tags = self.ecs.describe_task_definition(
                source, with_tags=cfg.copy_task_definition_tags
            )
        containers = base.get("containerDefinitions", [])
        if cfg.tag_only is not None:
            new_containers = taskdef.retag_all(containers, cfg.tag_only)
        else:
            assert cfg.image is not None
            new_containers = taskdef.swap_image(containers, cfg.image, cfg.containers)
        for old, new in zip(containers, new_containers, strict=True):
            if old.get("image") != new.get("image"):
                self.reporter.info(
                    f"Container {new.get('name')}: {old.get('image')} -> {new['image']}"
                )
        request = taskdef.registration_request(
            {**base, "containerDefinitions": new_containers},
            self.ecs.registration_fields(),
            tags if cfg.copy_task_definition_tags or cfg.taskdef_file is not None else (),
        )
        registered = self.ecs.register_task_definition(request)
        arn = str(registered["taskDefinitionArn"])
        self.reporter.info(f"Registered new task definition: {arn}")
        return arn, new_containers

    @staticmethod
    def _service_update(cfg: DeployConfig, service: Service, new_arn: str) -> dict[str, Any]:
        update: dict[str, Any] = {
            "cluster": cfg.cluster,
            "service": cfg.service,
            "taskDefinition": new_arn,
        }
        if cfg.force_new_deployment:
            update["forceNewDeployment"] = True
        if cfg.desired_count is not None:
            update["desiredCount"] = cfg.desired_count
        if cfg.min_percent is not None or cfg.max_percent is not None:
            conf = dict(service.deployment_configuration)  # keep the circuit breaker etc.
            if cfg.min_percent is not None:
                conf["minimumHealthyPercent"] = cfg.min_percent
            if cfg.max_percent is not None:
                conf["maximumPercent"] = cfg.max_percent
            update["deploymentConfiguration"] = conf
        return update

    def _watch(
        self,
        cfg: DeployConfig,
        deployment_id: str,
        previous_arn: str | None,
        deadline: float,
        before: Service,
        *,
        require_healthy: bool,
    ) -> WatchResult:
        assert cfg.cluster
        assert cfg.service
        return watch(
            self.ecs,
            Target(cfg.cluster, cfg.service, deployment_id, previous_arn),
            WatchSettings(
                deadline=deadline,
                poll_interval=cfg.poll_interval,
                max_failed_tasks=cfg.max_failed_tasks,
                skip_deployments_check=cfg.skip_deployments_check,
                require_healthy=require_healthy,
            ),
            self.reporter,
            clock=self.clock,
            sleep=self.sleep,
            interrupted=self.interrupted,
            seen_events=frozenset(e.id for e in before.events),
        )

    def _roll_back(self, cfg: DeployConfig, old_arn: str, new_arn: str) -> dict[str, Any]:
        """Point the service back at the previous revision and wait for it to settle, with a
        fresh deadline of --timeout. Its waits are real sleeps: an interrupt already stopped
        the deploy's wait, and this one must still not poll in a tight loop."""
        assert cfg.cluster
        assert cfg.service
        self.reporter.warn(f"Rolling back to {_short(old_arn)}")
        self.ecs.deadline = self.clock() + cfg.timeout
        try:
            before = self.ecs.describe_service(cfg.cluster, cfg.service)
            updated = self.ecs.update_service(
                cluster=cfg.cluster, service=cfg.service, taskDefinition=old_arn
            )
            deployment_id = self._deployment_to_follow(cfg, updated)
            result = watch(
                self.ecs,
                Target(cfg.cluster, cfg.service, deployment_id, new_arn),
                WatchSettings(deadline=self.ecs.deadline, poll_interval=cfg.poll_interval),
                self.reporter,
                clock=self.clock,
                sleep=self.rollback_sleep,
                seen_events=frozenset(e.id for e in before.events),
            )
        except EcsDeployError as exc:  # report it beside the deploy's own failure
            self.reporter.error(f"Rollback failed: {exc.message}")
            return {"task_definition": old_arn, "outcome": "error", "reason": exc.message}
        self.reporter.info(f"Rollback {result.outcome.value}: {result.reason}")
        return {
            "task_definition": old_arn,
            "deployment_id": deployment_id,
            "outcome": result.outcome.value,
            "reason": result.reason,
        }

    def _prune(self, new_arn: str, old_arn: str, keep: int) -> list[str]:
        """Deregister the family's oldest ACTIVE revisions beyond `keep`; never the one the
        service runs nor the previous one (a rollback needs it)."""
        arns = self.ecs.list_task_definitions(_family(new_arn), sort="ASC")
        protected = {new_arn, old_arn}
        excess = len(arns) - keep
        doomed = [a for a in arns if a not in protected][: max(0, excess)]
        for arn in doomed:
            self.ecs.deregister_task_definition(arn)
            self.reporter.info(f"Deregistered {_short(arn)} (--max-definitions {keep})")
        return doomed

    # -- task definitions only -------------------------------------------------------------

    def register_only(self, cfg: DeployConfig) -> DeployResult:
        """`-d` without `-n`: register a new revision (and run it with --run-task)."""
        assert cfg.task_definition
        started = self.clock()
        self.ecs.deadline = started + cfg.timeout
        current, _ = self.ecs.describe_task_definition(cfg.task_definition)
        old_arn = str(current["taskDefinitionArn"])
        new_arn, containers = old_arn, list(current.get("containerDefinitions", []))
        if cfg.image is not None or cfg.tag_only is not None:
            new_arn, containers = self._register_revision(cfg, old_arn)
        result = DeployResult(
            code=ExitCode.OK,
            outcome=Outcome.SUCCEEDED.value,
            reason="registered",
            cluster=cfg.cluster,
            service=None,
            old_task_definition=old_arn,
            new_task_definition=new_arn,
        )
        if cfg.run_task is not None:
            essential = {c["name"] for c in containers if c.get("essential", True)}
            self._run_task(cfg, new_arn, essential, result)
        elif cfg.max_definitions:
            result.deregistered = self._prune(new_arn, old_arn, cfg.max_definitions)
        result.duration = self.clock() - started
        return result

    def _run_task(
        self, cfg: DeployConfig, arn: str, essential: set[str], result: DeployResult
    ) -> None:
        """RunTask; with --wait-for-success, succeed only if every essential container
        exits 0 (a sidecar marked essential=false may exit as it likes)."""
        run = cfg.run_task
        assert run is not None
        params: dict[str, Any] = {"taskDefinition": arn}
        if cfg.cluster:
            params["cluster"] = cfg.cluster
        if run.launch_type:
            params["launchType"] = run.launch_type
        if run.platform_version:
            params["platformVersion"] = run.platform_version
        if run.network_configuration:
            params["networkConfiguration"] = dict(run.network_configuration)
        tasks = self.ecs.run_task(**params)
        arns = [t.arn for t in tasks]
        self.reporter.info(f"Started task(s): {', '.join(arns)}")
        result.reason = "task started"
        if not run.wait_for_success:
            return
        cluster = cfg.cluster or "default"
        while True:
            described = self.ecs.describe_tasks(cluster, arns)
            if all(t.is_stopped for t in described):
                break
            if self.interrupted():
                result.code, result.outcome = ExitCode.INTERRUPTED, Outcome.INTERRUPTED.value
                result.reason = "interrupted while waiting for the task"
                return
            if self.clock() >= (self.ecs.deadline or 0):
                result.code, result.outcome = ExitCode.DEPLOY_FAILED, Outcome.TIMED_OUT.value
                result.reason = f"timed out waiting for the task(s) to stop ({cfg.timeout:g}s)"
                return
            self.sleep(cfg.poll_interval)
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
        result.stopped_tasks = described
        if failures:
            result.code, result.outcome = ExitCode.DEPLOY_FAILED, Outcome.FAILED.value
            result.reason = "task failed: " + "; ".join(failures)
        else:
            result.reason = "task succeeded: every container exited 0"


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


def _family(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]
