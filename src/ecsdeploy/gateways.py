"""The small read-only gateways beside ecs.py: CloudWatch Logs and Elastic Load Balancing for
a failure's diagnosis; ECR, SSM Parameter Store and Secrets Manager (and Logs again) for the
preflight. Each is a `Gateway`, so each shares ECS's one retry, deadline and signal policy,
and its errors translate to the same one-line kinds (NotFoundError for "does not exist",
AwsAccessError for a refusal). None of them ever reads a secret's value.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ecsdeploy.ecs import EcsGateway, Gateway
from ecsdeploy.models import short_name
from ecsdeploy.policy import RunPolicy

if TYPE_CHECKING:
    from ecsdeploy.aws import Clients
    from ecsdeploy.diagnose import TargetHealth
    from ecsdeploy.quick import Prefetched


class LogsGateway(Gateway):
    def tail(self, group: str, stream: str, lines: int) -> list[str]:
        """The last `lines` messages of a log stream, oldest first (NotFoundError when the
        group or the stream does not exist)."""
        page = self.call(
            "GetLogEvents",
            logGroupName=group,
            logStreamName=stream,
            limit=max(1, min(lines, 10_000)),
            startFromHead=False,
        )
        return [str(e.get("message", "")) for e in page.get("events", [])][-lines:]

    def page(self, group: str, stream: str, token: str | None) -> tuple[list[str], str | None]:
        """The log events after `token` (from the stream's start when None), oldest first,
        and the forward token to read on from: ECS's awslogs streams, followed live."""
        params = {"nextToken": token} if token else {"startFromHead": True}
        page = self.call("GetLogEvents", logGroupName=group, logStreamName=stream, **params)
        messages = [str(e.get("message", "")) for e in page.get("events", [])]
        return messages, page.get("nextForwardToken")

    def group_exists(self, group: str) -> bool:
        from ecsdeploy import preflight  # the request its check makes

        token: str | None = None
        while True:
            page = self.call("DescribeLogGroups", **preflight.log_groups_request(group, token))
            if any(g.get("logGroupName") == group for g in page.get("logGroups", [])):
                return True
            token = page.get("nextToken")
            if not token:
                return False


class ElbGateway(Gateway):
    def target_health(self, target_group: str) -> list[TargetHealth]:
        from ecsdeploy.diagnose import TargetHealth  # loaded by the diagnosis that asks

        page = self.call("DescribeTargetHealth", TargetGroupArn=target_group)
        found = []
        for d in page.get("TargetHealthDescriptions", []):
            target, health = d.get("Target", {}), d.get("TargetHealth", {})
            found.append(
                TargetHealth(
                    target_group=target_group,
                    target=str(target.get("Id", "")),
                    port=target.get("Port"),
                    state=str(health.get("State", "")),
                    reason=health.get("Reason"),
                    description=health.get("Description"),
                )
            )
        return found


class EcrGateway(Gateway):
    def image_exists(
        self, registry: str, repository: str, tag: str | None, digest: str | None
    ) -> None:
        """Returns when the image exists; NotFoundError (repository or image) when not."""
        from ecsdeploy import preflight  # the request its check makes

        self.call("DescribeImages", **preflight.image_request(registry, repository, tag, digest))


class SsmGateway(Gateway):
    def missing_parameters(self, names: Sequence[str]) -> list[str]:
        """Which of these parameters (names or ARNs) do not exist. Names only: no value is
        decrypted (WithDecryption is false), and only the names are looked at."""
        from ecsdeploy import preflight  # the requests its check makes

        missing: list[str] = []
        for request in preflight.parameters_requests(names):
            page = self.call("GetParameters", **request)
            missing.extend(str(n) for n in page.get("InvalidParameters", []))
        return missing


class SecretsGateway(Gateway):
    def secret_exists(self, secret_id: str) -> None:
        """Returns when the secret exists (DescribeSecret: metadata, never the value)."""
        from ecsdeploy import preflight  # the request its check makes

        self.call("DescribeSecret", **preflight.secret_request(secret_id))


class StsGateway(Gateway):
    def caller(self) -> str:
        """Who the run's credentials are: the account and the identity's ARN (no secret)."""
        answer = self.call("GetCallerIdentity")
        return f"account {answer.get('Account')} as {answer.get('Arn')}"


_G = TypeVar("_G", bound=Gateway)
_R = TypeVar("_R")


class Answers:
    """Reads that answer per cluster, not per service (the scheduled tasks' lookups), made
    once a run: every story sharing the readers (a release's services, in their threads)
    gets a copy of the first answer; the others wait for it rather than ask again. An error
    is not kept: the next one asks."""

    def __init__(self) -> None:
        self._answers: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, read: Callable[[], _R]) -> _R:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._answers:
                self._answers[key] = read()
            return copy.deepcopy(self._answers[key])  # type: ignore[no-any-return]

    def forget(self, key: Hashable) -> None:
        """After our own write: the next read asks again."""
        with self._lock:
            self._answers.pop(key, None)


def once_a_run(read: Callable[..., _R]) -> Callable[..., _R]:
    """A gateway's read made once a run (by its arguments) through the readers' Answers."""

    @functools.wraps(read)
    def once(self: Any, *args: Any) -> _R:
        answers: Answers | None = getattr(self, "answers", None)
        if answers is None:
            return read(self, *args)
        return answers.get((read.__name__, *args), lambda: read(self, *args))

    return once


class AwsReaders:
    """The reads of a diagnosis and a preflight, through the run's clients (made when first
    needed, in the region a resource names), each gateway under the policy it is given."""

    def __init__(self, clients: Clients, on_call: Any = None) -> None:
        self.clients = clients
        self.on_call = on_call
        self.answers = Answers()  # the scheduled tasks' lookups: once a run, per cluster
        #: Reads sent ahead while botocore loaded (quick.py), for every gateway to take.
        self.prefetched: Prefetched | None = None

    @property
    def region(self) -> str:
        return self.clients.region

    @property
    def credential_secrets(self) -> tuple[str, ...]:
        """The run's own credentials (aws.credential_secrets): masked in every log line."""
        return self.clients.secrets

    def _gateway(self, kind: type[_G], service: str, region: str | None, policy: RunPolicy) -> _G:
        gateway = kind(self.clients.get(service, region), policy=policy)
        gateway.connected = True  # the run's first call already reached the endpoint
        gateway.on_call = self.on_call
        gateway.prefetched = self.prefetched
        return gateway

    def task_definition(self, arn: str, policy: RunPolicy) -> Mapping[str, Any]:
        return self._gateway(EcsGateway, "ecs", None, policy).describe_task_definition(arn)[0]

    def logs(self, region: str, policy: RunPolicy) -> LogsGateway:
        return self._gateway(LogsGateway, "logs", region, policy)

    def elb(self, policy: RunPolicy) -> ElbGateway:
        return self._gateway(ElbGateway, "elbv2", None, policy)

    def ecr(self, region: str, policy: RunPolicy) -> EcrGateway:
        return self._gateway(EcrGateway, "ecr", region, policy)

    def ssm(self, region: str, policy: RunPolicy) -> SsmGateway:
        return self._gateway(SsmGateway, "ssm", region, policy)

    def secrets(self, region: str, policy: RunPolicy) -> SecretsGateway:
        return self._gateway(SecretsGateway, "secretsmanager", region, policy)

    def listener_rules(self, policy: RunPolicy) -> ListenerRulesGateway:
        return self._gateway(ListenerRulesGateway, "elbv2", None, policy)

    def iam(self, policy: RunPolicy) -> IamGateway:
        return self._gateway(IamGateway, "iam", None, policy)

    def codedeploy(self, policy: RunPolicy) -> CodeDeployGateway:
        """CodeDeploy, for a CODE_DEPLOY service's deploy (codedeploy.py) and its migration
        (migration.py)."""
        return self._gateway(CodeDeployGateway, "codedeploy", None, policy)

    def events(self, policy: RunPolicy) -> EventsGateway:
        gateway = self._gateway(EventsGateway, "events", None, policy)
        gateway.answers = self.answers
        return gateway

    def scheduler(self, policy: RunPolicy) -> SchedulerGateway:
        gateway = self._gateway(SchedulerGateway, "scheduler", None, policy)
        gateway.answers = self.answers
        return gateway

    def sts(self, policy: RunPolicy) -> StsGateway:
        return self._gateway(StsGateway, "sts", None, policy)


class EventsGateway(Gateway):
    """EventBridge rules (their ECS targets)."""

    MUTATING = frozenset({"PutTargets"})
    answers: Answers | None = None

    @once_a_run
    def rule_names_by_target(self, target_arn: str) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            page = self.call(
                "ListRuleNamesByTarget",
                TargetArn=target_arn,
                **({"NextToken": token} if token else {}),
            )
            names.extend(str(n) for n in page.get("RuleNames", []))
            token = page.get("NextToken")
            if not token:
                return names

    @once_a_run
    def targets_by_rule(self, rule: str) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.call(
                "ListTargetsByRule", Rule=rule, **({"NextToken": token} if token else {})
            )
            targets.extend(page.get("Targets", []))
            token = page.get("NextToken")
            if not token:
                return targets

    def put_targets(self, rule: str, targets: list[dict[str, Any]]) -> None:
        from ecsdeploy.errors import AwsError

        try:
            answer = self.call("PutTargets", Rule=rule, Targets=targets)
        finally:  # the rule's targets are read again if asked again
            if self.answers is not None:
                self.answers.forget(("targets_by_rule", rule))
        if answer.get("FailedEntryCount"):
            failed = answer.get("FailedEntries") or []
            raise AwsError(
                "PutTargets refused: "
                + "; ".join(f"{f.get('TargetId')}: {f.get('ErrorMessage')}" for f in failed)
            )


class SchedulerGateway(Gateway):
    """EventBridge Scheduler schedules."""

    MUTATING = frozenset({"UpdateSchedule"})
    answers: Answers | None = None

    @once_a_run
    def schedules(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.call("ListSchedules", **({"NextToken": token} if token else {}))
            found.extend(page.get("Schedules", []))
            token = page.get("NextToken")
            if not token:
                return found

    @once_a_run
    def get_schedule(self, name: str, group: str) -> dict[str, Any]:
        answer = self.call("GetSchedule", Name=name, GroupName=group)
        return {k: v for k, v in answer.items() if k != "ResponseMetadata"}

    def update_schedule(self, request: Mapping[str, Any]) -> None:
        try:
            self.call("UpdateSchedule", **request)
        finally:  # the schedule is read again if asked again
            if self.answers is not None:
                key = ("get_schedule", request.get("Name"), request.get("GroupName") or "default")
                self.answers.forget(key)

    def update_fields(self) -> list[str]:
        model = self.client.meta.service_model
        return list(model.operation_model("UpdateSchedule").input_shape.members)


class ListenerRulesGateway(ElbGateway):
    """The load balancer's side of a migration to ECS's blue/green: target groups by name,
    a listener's rules, and the one write: a rule's actions (ModifyRule), or a listener's
    default rule's (ModifyListener)."""

    MUTATING = frozenset({"ModifyRule", "ModifyListener"})

    def target_group_arn(self, name: str) -> str | None:
        """The ARN of the target group called `name`; None when there is none."""
        from ecsdeploy.errors import NotFoundError

        try:
            page = self.call("DescribeTargetGroups", Names=[name])
        except NotFoundError:
            return None
        groups = page.get("TargetGroups") or []
        return str(groups[0]["TargetGroupArn"]) if groups else None

    def rules(self, listener: str) -> list[dict[str, Any]] | None:
        """Every rule of the listener (its default rule too); None when it does not exist."""
        from ecsdeploy.errors import NotFoundError

        found: list[dict[str, Any]] = []
        marker: str | None = None
        try:
            while True:
                page = self.call(
                    "DescribeRules", ListenerArn=listener, **({"Marker": marker} if marker else {})
                )
                found.extend(page.get("Rules") or [])
                marker = page.get("NextMarker")
                if not marker:
                    return found
        except NotFoundError:
            return None

    def change_rule(self, operation: str, request: Mapping[str, Any]) -> None:
        """ModifyRule or ModifyListener, as the change says."""
        if operation not in self.MUTATING:
            raise ValueError(operation)
        self.call(operation, **request)


class IamGateway(Gateway):
    def role(self, name: str) -> dict[str, Any] | None:
        """GetRole's Role (its trust policy), or None when there is no such role."""
        from ecsdeploy.errors import NotFoundError

        try:
            return dict(self.call("GetRole", RoleName=name).get("Role") or {})
        except NotFoundError:
            return None


#: CodeDeploy's deployment statuses that keep a deployment group busy (ListDeployments).
ACTIVE_DEPLOYMENT_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")


def names_service(group: Mapping[str, Any], cluster: str, service: str) -> bool:
    """Whether a deployment group's ecsServices name this service of this cluster (a name or
    an ARN: compared by short name)."""
    return any(
        s.get("serviceName") == service
        and short_name(str(s.get("clusterName", ""))) == short_name(cluster)
        for s in group.get("ecsServices") or []
    )


class CodeDeployGateway(Gateway):
    """CodeDeploy, for the services whose deployment controller is CODE_DEPLOY, in both of
    their stories: finding their deployment group and its active deployments (a deploy,
    codedeploy.py, and a migration, migration.py); creating, following, continuing and
    stopping a deployment (the deploy); a configuration's traffic routing (the migration)."""

    MUTATING = frozenset({"CreateDeployment", "StopDeployment", "ContinueDeployment"})

    def _listed(self, operation: str, key: str, **params: Any) -> list[str]:
        found: list[str] = []
        token: str | None = None
        while True:
            page = self.call(operation, **params, **({"nextToken": token} if token else {}))
            found.extend(str(n) for n in page.get(key) or [])
            token = page.get("nextToken")
            if not token:
                return found

    def ecs_applications(self) -> list[str]:
        """The applications whose compute platform is ECS (BatchGetApplications, 100 a call)."""
        names = self._listed("ListApplications", "applications")
        ecs: list[str] = []
        for start in range(0, len(names), 100):
            page = self.call("BatchGetApplications", applicationNames=names[start : start + 100])
            ecs.extend(
                str(a["applicationName"])
                for a in page.get("applicationsInfo") or []
                if a.get("computePlatform") == "ECS"
            )
        return ecs

    def deployment_groups(self, application: str) -> list[dict[str, Any]]:
        """Every group of one application (ListDeploymentGroups, then BatchGetDeploymentGroups,
        100 a call)."""
        names = self._listed(
            "ListDeploymentGroups", "deploymentGroups", applicationName=application
        )
        found: list[dict[str, Any]] = []
        for start in range(0, len(names), 100):
            page = self.call(
                "BatchGetDeploymentGroups",
                applicationName=application,
                deploymentGroupNames=names[start : start + 100],
            )
            found.extend(
                {**info, "applicationName": info.get("applicationName") or application}
                for info in page.get("deploymentGroupsInfo") or []
            )
        return found

    def deployment_group(self, application: str, group: str) -> dict[str, Any]:
        answer = self.call(
            "GetDeploymentGroup", applicationName=application, deploymentGroupName=group
        )
        info: dict[str, Any] = answer.get("deploymentGroupInfo") or {}
        return {**info, "applicationName": info.get("applicationName") or application}

    def group_of(
        self, cluster: str, service: str, application: str | None, group: str | None
    ) -> dict[str, Any]:
        """The one deployment group (its deploymentGroupInfo) whose ecsServices name the
        service: the one given (--codedeploy-application/--codedeploy-group), checked, or
        found among the ECS applications' groups. Raises, naming the options, when the one
        given does not name the service, when none does, or when several do."""
        from ecsdeploy.errors import NotFoundError, UsageError

        cluster = short_name(cluster)
        if application and group:
            info = self.deployment_group(application, group)
            if not names_service(info, cluster, service):
                raise UsageError(
                    f"CodeDeploy deployment group {group} of application {application} does "
                    f"not deploy service {service} of cluster {cluster}; check "
                    "--codedeploy-application and --codedeploy-group"
                )
            return info
        found = [
            info
            for app in self.ecs_applications()
            for info in self.deployment_groups(app)
            if names_service(info, cluster, service)
        ]
        if not found:
            raise NotFoundError(
                f"No CodeDeploy deployment group deploys service {service} of cluster "
                f"{cluster} (none of the ECS applications' groups names it in ecsServices); "
                "nothing was changed"
            )
        if len(found) > 1:
            listed = ", ".join(
                f"{g['applicationName']}/{g.get('deploymentGroupName')}" for g in found
            )
            raise UsageError(
                f"Several CodeDeploy deployment groups deploy service {service}: {listed}; "
                "choose one with --codedeploy-application and --codedeploy-group; nothing was "
                "changed"
            )
        return found[0]

    def active_deployments(
        self, application: str, group: str, statuses: Sequence[str] = ACTIVE_DEPLOYMENT_STATUSES
    ) -> list[str]:
        """The ids of the group's deployments in these statuses (ListDeployments)."""
        return self._listed(
            "ListDeployments",
            "deployments",
            applicationName=application,
            deploymentGroupName=group,
            includeOnlyStatuses=list(statuses),
        )

    def traffic_routing(self, config_name: str) -> dict[str, Any]:
        """A deployment configuration's trafficRoutingConfig (GetDeploymentConfig)."""
        info = self.call("GetDeploymentConfig", deploymentConfigName=config_name)
        return dict((info.get("deploymentConfigInfo") or {}).get("trafficRoutingConfig") or {})

    def create_deployment(self, request: Mapping[str, Any]) -> str:
        return str(self.call("CreateDeployment", **request)["deploymentId"])

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        info = self.call("GetDeployment", deploymentId=deployment_id).get("deploymentInfo")
        return dict(info or {})

    def ecs_target(self, deployment_id: str, target_id: str) -> dict[str, Any] | None:
        """The deployment's ECS target (lifecycle events, task sets); None before it has one."""
        from ecsdeploy.errors import AwsError

        try:
            answer = self.call(
                "GetDeploymentTarget", deploymentId=deployment_id, targetId=target_id
            )
        except AwsError as exc:
            if "DeploymentTargetDoesNotExist" in exc.message or "NotReady" in exc.message:
                return None
            raise
        target: dict[str, Any] = (answer.get("deploymentTarget") or {}).get("ecsTarget") or {}
        return target or None

    def stop_deployment(self, deployment_id: str, *, auto_rollback: bool) -> None:
        self.call("StopDeployment", deploymentId=deployment_id, autoRollbackEnabled=auto_rollback)

    def continue_deployment(self, deployment_id: str) -> None:
        self.call("ContinueDeployment", deploymentId=deployment_id, deploymentWaitType="READY_WAIT")

    def check_create(self, request: Mapping[str, Any], error: Any) -> None:
        """CreateDeployment's request, checked against botocore's CodeDeploy model."""
        from ecsdeploy.ecs import check_request

        check_request("CreateDeployment", request, error, self.client.meta.service_model)
