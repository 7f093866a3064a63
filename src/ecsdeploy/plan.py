"""Planning a new revision, before anything is written: the base definition, the image swap
and the change options applied, the request checked against botocore's model, and what it
changes from the current revision shown field by field; or, with --revision, the existing
revision to deploy instead; and --dry-run's report of what would have been sent. Reads only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecsdeploy import taskdef
from ecsdeploy.changes import apply_changes, describe_changes, masked, unified_diff
from ecsdeploy.ecs import EcsGateway, InvalidRequestError
from ecsdeploy.errors import (
    EcsDeployError,
    ExitCode,
    NotFoundError,
    RevisionError,
    TaskDefinitionFileError,
)
from ecsdeploy.masking import hide_secrets_in
from ecsdeploy.models import Service, revision_number
from ecsdeploy.models import family_of as _family
from ecsdeploy.models import short_name as _short
from ecsdeploy.output import Reporter
from ecsdeploy.policy import Interrupted
from ecsdeploy.result import DeployResult, Outcome

if TYPE_CHECKING:
    from ecsdeploy.config import DeployConfig

#: Stands in for the new revision's ARN while requests are checked before registering it.
PLACEHOLDER_ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/placeholder:1"


@dataclass(frozen=True)
class Plan:
    """A new revision, planned: its request, its containers, and the current revision's
    request it is compared with."""

    request: dict[str, Any]
    containers: list[dict[str, Any]]
    old_request: dict[str, Any]


@dataclass(frozen=True)
class Target:
    """The revision a deploy moves a service to: an existing one (--revision's, or the one
    it runs, for a restart), or a new one to register (`plan`, planned from the current)."""

    arn: str  # the existing revision (the current one when a new one is planned)
    plan: Plan | None = None
    containers: list[dict[str, Any]] | None = None  # None: the current revision's, unread


class Planner:
    """Plans revisions for one deploy (the deployer's reads before its first write)."""

    def __init__(self, ecs: EcsGateway, reporter: Reporter) -> None:
        self.ecs = ecs
        self.reporter = reporter

    def target(self, cfg: DeployConfig, service: Service, r: DeployResult) -> Target | None:
        """What the deploy moves the service to (a rolling or native deploy's, deploy.py;
        a CODE_DEPLOY service's, codedeploy.py). None when --revision names the revision it
        already runs and nothing forces a new deployment: `r` and the output say so. Reads
        only."""
        current = service.task_definition
        if cfg.revision is not None:
            arn, containers = self.resolve_revision(cfg, service)
            if arn == current and not cfg.force_new_deployment:
                r.outcome = Outcome.DRY_RUN if cfg.dry_run else Outcome.SUCCEEDED
                r.reason = f"already on {_short(current)}"
                # a migration belongs to a move: with none, it is not run (and that is said)
                skipped = "; the migration (--pre-deploy) was not run" if cfg.pre_deploy else ""
                self.reporter.info(
                    f"The service already runs {_short(current)}: nothing to do{skipped}"
                )
                return None
            return Target(arn, None, containers)
        if new_revision_asked(cfg):
            plan = self.plan_revision(cfg, current)
            return Target(current, plan, plan.containers)
        return Target(current)

    def plan_revision(
        self, cfg: DeployConfig, current_arn: str, current: Mapping[str, Any] | None = None
    ) -> Plan:
        """The RegisterTaskDefinition request for the new revision (image swap, then the
        change options), checked against the API model, and what it changes from the current
        revision, which is shown field by field. Reads only."""
        fields = self.ecs.registration_fields()
        if cfg.taskdef_file is not None:
            base, tags = cfg.taskdef_file
            family = _family(current_arn)
            if base.get("family") != family and not cfg.allow_family_change:
                raise TaskDefinitionFileError(
                    f"--task-definition-file is of family {base.get('family')!r}, but "
                    f"{cfg.service or cfg.task_definition} uses {family!r}; pass "
                    "--allow-family-change if that is intended"
                )
            self.reporter.info("Base task definition: from --task-definition-file")
            if current is None:  # the diff is against what runs now, not the file
                current = self.ecs.describe_task_definition(current_arn)[0]
        elif current is not None and not cfg.use_latest_task_def:
            base, tags = dict(current), []
            if cfg.copy_task_definition_tags:
                base, tags = self.ecs.describe_task_definition(current_arn, with_tags=True)
        else:
            source = current_arn
            if cfg.use_latest_task_def:
                source = self.ecs.latest_task_definition(_family(current_arn)) or current_arn
                self.reporter.info(f"Base task definition: the family's newest, {_short(source)}")
            base, tags = self.ecs.describe_task_definition(
                source, with_tags=cfg.copy_task_definition_tags
            )
            if source != current_arn:
                current = self.ecs.describe_task_definition(current_arn)[0]
        containers = base.get("containerDefinitions", [])
        if cfg.tag_only is not None:
            containers = taskdef.retag_all(containers, cfg.tag_only)
        elif cfg.image is not None:
            for image in (cfg.image, *cfg.extra_images):
                containers = taskdef.swap_image(containers, image, cfg.containers)
        new = apply_changes({**base, "containerDefinitions": containers}, cfg.changes)
        request = taskdef.registration_request(
            new, fields, tags if cfg.copy_task_definition_tags or cfg.taskdef_file else ()
        )
        invalid = TaskDefinitionFileError if cfg.taskdef_file is not None else InvalidRequestError
        self.ecs.check_request("RegisterTaskDefinition", request, invalid)
        hide_secrets_in(request)  # a value the options or the file added, masked from now on
        old_request = taskdef.registration_request(current or base, fields)
        self.show_changes(_short(current_arn), old_request, request)
        return Plan(request, new.get("containerDefinitions", []), old_request)

    def dry_run(
        self,
        r: DeployResult,
        current_arn: str,
        plan: Plan | None,
        update: Mapping[str, Any] | None,
        run_task: Mapping[str, Any] | None = None,
    ) -> None:
        """--dry-run: every read and check has run; show what would be written, write
        nothing."""
        r.outcome, r.code = Outcome.DRY_RUN, ExitCode.OK
        r.reason = "nothing was registered, updated or run"
        self.reporter.info("Dry run: what would be sent (nothing is)")
        new_label = "(none: no new revision)"
        if plan is not None:
            new_label = f"{_family(current_arn)}:<next> (would be registered)"
            r.diff = unified_diff(
                plan.old_request, plan.request, f"{_short(current_arn)} (current)", new_label
            )
            self.reporter.block(r.diff or ["(the new revision would be identical)"])
        requests = []
        if update is not None:
            shown = dict(update)
            if plan is not None:
                shown["taskDefinition"] = new_label.split(" ", 1)[0]
            requests.append(("UpdateService", shown))
        if run_task is not None:  # on the new revision, else on the one the run would use
            ran = new_label.split(" ")[0] if plan is not None else None
            ran = ran or (update or {}).get("taskDefinition") or current_arn
            requests.append(("RunTask", {**run_task, "taskDefinition": ran}))
        for operation, request in requests:
            hide_secrets_in(request)  # a one-run override's value: masked wherever it is quoted
            shown = masked(request)  # a one-run override's value, as any other value
            r.requests[operation] = shown
            self.reporter.info(f"{operation} request that would be sent:")
            self.reporter.block(json.dumps(shown, indent=2, sort_keys=True).splitlines())

    def resolve_revision(
        self, cfg: DeployConfig, service: Service
    ) -> tuple[str, list[dict[str, Any]]]:
        """--revision: the existing revision to point the service at (and its containers).
        Another family (without --allow-family-change) or an INACTIVE revision is refused."""
        assert cfg.revision is not None
        current = service.task_definition
        family = _family(current)
        wanted = cfg.revision
        if wanted == "previous":
            wanted = self.previous_revision(cfg, service)
        try:
            td, _ = self.ecs.describe_task_definition(wanted)
        except NotFoundError as exc:
            raise NotFoundError(
                f"--revision {wanted}: no such task definition ({exc.message}); nothing was changed"
            ) from exc
        arn = str(td["taskDefinitionArn"])
        if td.get("status") == "INACTIVE":
            raise RevisionError(
                f"--revision {_short(arn)} is INACTIVE (deregistered): ECS cannot start new "
                "tasks from it; nothing was changed"
            )
        if td.get("family") != family and not cfg.allow_family_change:
            raise RevisionError(
                f"--revision {_short(arn)} is of family {td.get('family')!r}, but the service "
                f"runs {family!r}; pass --allow-family-change if that is intended; nothing "
                "was changed"
            )
        self.reporter.info(f"Deploying the existing revision {_short(arn)}")
        fields = self.ecs.registration_fields()
        if arn != current:
            old = self.ecs.describe_task_definition(current)[0]
            self.show_changes(
                _short(current),
                taskdef.registration_request(old, fields),
                taskdef.registration_request(td, fields),
                f" to {_short(arn)}",
            )
        return arn, list(td.get("containerDefinitions", []))

    def previous_revision(self, cfg: DeployConfig, service: Service) -> str:
        """--revision previous: the revision the service ran before its current one, by
        ECS's record of its service deployments (the newest SUCCESSFUL one that put another
        revision in place), so that services sharing a family each go back to their own.
        Where that record names none (a service created on its revision, a history that
        cannot be read): the family's newest ACTIVE revision older than the current one."""
        assert cfg.cluster
        current = service.task_definition
        try:
            ran = self.ecs.revisions_it_ran(cfg.cluster, service.name)
        except Interrupted:
            raise
        except EcsDeployError as exc:
            self.reporter.info(f"--revision previous: deployment history not read ({exc.message})")
            ran = []
        for arn in ran:
            if arn != current:
                self.reporter.info(
                    f"--revision previous: the service ran {_short(arn)} before {_short(current)}"
                )
                return arn
        family, number = _family(current), revision_number(current)
        older = [
            arn
            for arn in self.ecs.list_task_definitions(family, sort="DESC")
            if revision_number(arn) < number
        ]
        if not older:
            raise RevisionError(
                f"--revision previous: no ACTIVE revision of {family} before "
                f"{_short(current)}; nothing was changed"
            )
        self.reporter.info(
            "--revision previous: no earlier revision in the service's deployment history; "
            f"the family's newest before {_short(current)}"
        )
        return older[0]

    def show_changes(
        self, current: str, old: Mapping[str, Any], new: Mapping[str, Any], what: str = ""
    ) -> None:
        lines = describe_changes(old, new)
        if not lines:
            self.reporter.info(
                f"No change to the task definition from {current}"
                + (what or ": the new revision is identical (ECS pulls its images again)")
            )
            return
        self.reporter.info(f"Changes from {current}{what}:")
        for line in lines:
            self.reporter.info(f"  {line}")


def new_revision_asked(cfg: DeployConfig) -> bool:
    """An image, a tag, a change, or -i ignore (an identical copy) asks for a new revision."""
    return cfg.image is not None or cfg.tag_only is not None or cfg.changes.given or cfg.reregister
