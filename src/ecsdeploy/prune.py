"""--max-definitions: housekeeping after a successful deploy (or registration).

The family's oldest ACTIVE revisions beyond the N newest are deregistered, never: the revision
deployed, the one the service ran before (a rollback needs it), one that any service's PRIMARY
or ACTIVE deployment in the region runs (a family is often shared by staging and production),
one that a service of the same release ran or deploys (each one's `--revision previous`
needs its own), one that a scheduled task in the cluster runs (an EventBridge rule's target or
a Scheduler schedule: the lookup made beside the watch, reused), nor one newer than the
revision deployed (after --revision, a newer one may be another pipeline's). When a lookup of
the scheduled tasks failed, nothing is pruned (one may run any revision); when none was made
(--scheduled-tasks none, -d without -c), pruning goes on and names the revisions it could not
check. Pruning is housekeeping: an error leaves a warning, not a failed deploy.
"""

from __future__ import annotations

from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import EcsDeployError
from ecsdeploy.models import family_of, revision_number, short_name
from ecsdeploy.policy import Aborted, Interrupted
from ecsdeploy.result import DeployResult
from ecsdeploy.schedules import Lookup
from ecsdeploy.story import Phase, Story


def prune(
    story: Story,
    r: DeployResult,
    keep: int,
    release: frozenset[str] = frozenset(),
    scheduled: Lookup | None = None,
) -> None:
    """Deregister what `--max-definitions keep` allows; see the module's rules. `release`:
    the revisions the other services of a release ran before it, or deploy; `scheduled`:
    what the scheduled-task lookup found (None: none was made)."""
    assert r.new_task_definition
    story.phase = Phase.PRUNING
    ecs, reporter = story.ecs, story.reporter
    if story.policy.interrupted():  # after the verdict (moving the scheduled tasks): it stands
        reporter.warn(
            f"Not pruned (--max-definitions {keep}): a signal arrived after the deploy succeeded"
        )
        return
    if scheduled is not None and not scheduled.complete:
        reporter.warn(
            f"Not pruned (--max-definitions {keep}): the scheduled tasks could not all be "
            "looked for (see the warning above), and one may run a revision pruning would "
            "deregister"
        )
        return
    unchecked = "none was looked for" if scheduled is None else scheduled.skipped
    runs = {} if scheduled is None else scheduled.runs()
    deregistering = None  # the deregistration in flight, if a second signal cuts it
    try:
        arns = ecs.list_task_definitions(family_of(r.new_task_definition), sort="ASC")
        if len(arns) <= keep:
            return
        protected = {r.new_task_definition, r.old_task_definition, *release}
        in_use = revisions_in_use(ecs)
        deployed = revision_number(r.new_task_definition)
        for arn in arns:
            if arn in release and arn not in (r.new_task_definition, r.old_task_definition):
                reporter.info(f"Kept {short_name(arn)}: a service of this release runs or ran it")
            elif arn in in_use and arn not in protected:
                reporter.info(f"Kept {short_name(arn)}: {in_use[arn]} still runs it")
            elif short_name(arn) in runs and arn not in protected:
                reporter.info(
                    f"Kept {short_name(arn)}: scheduled task {runs[short_name(arn)]} runs it"
                )
            elif revision_number(arn) > deployed:
                reporter.info(
                    f"Kept {short_name(arn)}: newer than the revision deployed (another "
                    "pipeline may have registered it)"
                )
        candidates = [
            a
            for a in arns
            if a not in protected
            and a not in in_use
            and short_name(a) not in runs
            and revision_number(a) < deployed
        ]
        chosen = candidates[: len(arns) - keep]
        if chosen and unchecked:
            reporter.info(
                f"Scheduled tasks not checked before pruning ({unchecked}): a rule or schedule "
                f"that runs {', '.join(short_name(a) for a in chosen)} could no longer start it"
            )
        for arn in chosen:
            deregistering = arn
            # what a release's abort, which cannot wait for this call, says of it
            story.in_flight = f"{short_name(arn)} was being deregistered and may be INACTIVE"
            ecs.deregister_task_definition(arn)
            deregistering = story.in_flight = None
            r.deregistered.append(arn)
            reporter.info(f"Deregistered {short_name(arn)} (--max-definitions {keep})")
    except Interrupted:  # housekeeping after the verdict: a signal stops it, the verdict stands
        reporter.warn(
            f"Pruning stopped by a signal after the deploy succeeded: "
            f"{len(r.deregistered)} deregistered (--max-definitions {keep})"
        )
    except Aborted:  # a second signal: pruning stops at once, and the verdict still stands
        reporter.warn(
            f"Pruning stopped by a second signal after the deploy succeeded: "
            f"{len(r.deregistered)} deregistered (--max-definitions {keep})"
            + (
                f"; {short_name(deregistering)} was being deregistered and may be INACTIVE"
                if deregistering
                else ""
            )
        )
    except EcsDeployError as exc:
        message = f"Pruning stopped: {exc.message}"
        reporter.warn(message)


def revisions_in_use(ecs: EcsGateway) -> dict[str, str]:
    """Task-definition ARN -> the service deployment that runs it, over every service of
    every cluster in the region."""
    in_use: dict[str, str] = {}
    for cluster in ecs.list_clusters():
        cluster_name = short_name(cluster)
        for service in ecs.describe_services(cluster, ecs.list_services(cluster)):
            for d in service.deployments:
                if d.status in ("PRIMARY", "ACTIVE"):
                    in_use.setdefault(
                        d.task_definition,
                        f"deployment {d.id} of service {service.name} ({cluster_name})",
                    )
    return in_use
