"""Pruning's rules, on the sandbox through the story itself (no command line)."""

from __future__ import annotations

import io

from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import ExitCode
from ecsdeploy.output import Reporter
from ecsdeploy.prune import prune, revisions_in_use
from ecsdeploy.result import DeployResult, Outcome
from ecsdeploy.schedules import Lookup, ScheduledTask
from ecsdeploy.story import Phase, Story


def register(sandbox, family: str, count: int) -> list[str]:
    ecs = sandbox.client()
    return [
        ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": "w", "image": f"nginx:{i}", "memory": 64}]
        )["taskDefinition"]["taskDefinitionArn"]
        for i in range(count)
    ]


def test_prune_keeps_the_newest_the_previous_and_anything_newer(sandbox, cluster):
    arns = register(sandbox, f"{cluster}-p", 6)  # :1 .. :6
    out = io.StringIO()
    story = Story(EcsGateway(sandbox.client()), Reporter(out=out, tty=False))
    r = DeployResult(
        ExitCode.OK, Outcome.SUCCEEDED, "deployed",
        old_task_definition=arns[2], new_task_definition=arns[3],  # :3 -> :4; :5 and :6 newer
    )  # fmt: skip
    prune(story, r, 2)
    assert story.phase is Phase.PRUNING
    assert r.deregistered == arns[:2]  # :1 and :2; :3 (previous), :4 (deployed), :5, :6 kept
    assert "newer than the revision deployed" in out.getvalue()


def test_revisions_in_use_name_the_deployment_that_runs_them(sandbox, cluster):
    sandbox.seed_service(cluster, "api", desired_count=1, family=f"{cluster}-api")
    in_use = revisions_in_use(EcsGateway(sandbox.client()))
    mine = {arn: who for arn, who in in_use.items() if f"{cluster}-api" in arn}
    assert len(mine) == 1
    assert f"of service api ({cluster})" in next(iter(mine.values()))


def _story(sandbox) -> tuple[Story, io.StringIO]:
    out = io.StringIO()
    return Story(EcsGateway(sandbox.client()), Reporter(out=out, tty=False)), out


def test_prune_keeps_what_a_scheduled_task_runs_and_nothing_when_the_lookup_failed(
    sandbox, cluster
):
    arns = register(sandbox, f"{cluster}-s", 4)  # :1 .. :4; :3 -> :4 deployed
    pinned = ScheduledTask("rule", "nightly", "job", arns[0])  # runs :1
    r = DeployResult(
        ExitCode.OK, Outcome.SUCCEEDED, "deployed",
        old_task_definition=arns[2], new_task_definition=arns[3],
    )  # fmt: skip
    story, out = _story(sandbox)
    prune(story, r, 1, scheduled=Lookup(complete=False))
    assert r.deregistered == []
    assert "Not pruned (--max-definitions 1): the scheduled tasks could not all" in out.getvalue()
    story, out = _story(sandbox)
    prune(story, r, 1, scheduled=Lookup(found=[pinned]))
    assert r.deregistered == [arns[1]]  # :1 kept, a rule runs it
    assert f"Kept {cluster}-s:1: scheduled task rule nightly (target job) runs it" in (
        out.getvalue()
    )
