"""The fault matrix: each fault a CI runner meets (a throttling burst that outlasts the
retries, 5xx, a dropped connection, AccessDenied, SIGINT, SIGTERM) at each phase of a deploy
(describe, register, update, wait, explain, rollback, prune), through the real command
against the sandbox. Each case checks the exit code, the service's final revision, that no
revision or deployment was made twice, and that the summary (JSON on stdout, GitHub step
outputs) was written and valid. A fault runs the command in this process (`run_cli`); a
signal needs a process of its own, and so does a fault lifted when the command says it is
rolling back (the test reads that as it is written). Faults and signals are timed by what
the command did (its calls, its output), never by seconds."""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ecsdeploy import story
from tests.conftest import FAST, Run, run_cli, seed, start_cli

#: Faults that last: as long as the rollback (or the deploy's deadline) needs to see them.
LASTING = {"count": None, "seconds": 60}
#: A fault that lasts through the deploy's wait (its reads retried up to the deadline), and
#: is lifted once the command says it is rolling back: the rollback's reads then succeed,
#: however fast or slow the machine ran the wait.
THROUGH_THE_WAIT = {"count": None, "seconds": 60}
ROLLING_BACK = "Rolling back to"
FAULTS: dict[str, dict[str, Any]] = {
    "throttle": {"kind": "error", "code": "ThrottlingException", "message": "Rate exceeded"},
    "5xx": {"kind": "error", "code": "InternalError", "message": "oops", "status": 500},
    "reset": {"kind": "drop"},
    "denied": {"kind": "error", "code": "AccessDeniedException", "message": "not allowed"},
}
#: Seconds the reads that explain a failure retry (the product's is 3): a lasting fault
#: outlasts either, and the verdict stands either way.
EXPLAIN_BUDGET = 0.5
SIGNALS = {"SIGINT": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143)}


@dataclass(frozen=True)
class Expect:
    code: int | str  # a number, or "signal" for the signal's own code
    revision: int  # the service's task-definition revision at the end
    active: int  # ACTIVE revisions of the family at the end
    updates: int  # UpdateService calls the command made
    registers: int = 1  # RegisterTaskDefinition calls the command made


@dataclass(frozen=True)
class Phase:
    operation: str  # the call the fault hits
    args: tuple[str, ...]
    skip: int = 0  # calls of `operation` let through first
    faults: dict[str, Any] = field(default_factory=dict)  # sandbox fault knobs
    seed: dict[str, Any] = field(default_factory=dict)
    extra_revisions: int = 0


BROKEN = ("-i", "nginx:broken")
GOOD = ("-i", "nginx:2")
BREAKER = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
PHASES = {
    "describe": Phase("DescribeServices", (*GOOD, "-t", "1")),
    "register": Phase("RegisterTaskDefinition", (*GOOD, "-t", "1")),
    "update": Phase("UpdateService", (*GOOD, "-t", "1")),
    # The new image never starts (stall_images): the wait cannot succeed; a fault lasting
    # through it ends it on the error at the deadline, and the rollback to the old image (a
    # fresh -t) succeeds once the fault is lifted
    "wait": Phase(
        "DescribeServices", (*GOOD, "-t", "2"), skip=1, faults={"stall_images": ("nginx:2",)}
    ),
    "explain": Phase(
        "ListTasks",
        (*BROKEN, "-t", "30"),
        faults={"fail_images": ("*:broken",)},
        seed={"deployment_configuration": BREAKER},
    ),
    # The broken image never starts: the deploy times out at -t, the rollback's own -t
    # outlasted by a lasting fault
    "rollback": Phase(
        "UpdateService", (*BROKEN, "-t", "1"), skip=1, faults={"fail_images": ("*:broken",)}
    ),
    "prune": Phase(
        "DeregisterTaskDefinition", (*GOOD, "-t", "4", "--max-definitions", "1"), extra_revisions=3
    ),
}

# What each fault at each phase must end in. A lasting fault outlasts the retries; a single
# one is not retried (a write after a 5xx or a dropped connection, or AccessDenied).
FAULT_CASES = {
    # Nothing was changed: the deploy never got past its first read.
    ("describe", "throttle"): (LASTING, Expect(18, 1, 1, 0, 0)),
    ("describe", "5xx"): (LASTING, Expect(18, 1, 1, 0, 0)),
    ("describe", "reset"): (LASTING, Expect(18, 1, 1, 0, 0)),
    ("describe", "denied"): ({}, Expect(16, 1, 1, 0, 0)),
    # RegisterTaskDefinition refused: no revision, no update.
    ("register", "throttle"): (LASTING, Expect(18, 1, 1, 0, 0)),
    ("register", "5xx"): ({}, Expect(18, 1, 1, 0, 0)),
    ("register", "reset"): ({}, Expect(18, 1, 1, 0, 0)),
    ("register", "denied"): ({}, Expect(16, 1, 1, 0, 0)),
    # UpdateService refused: the revision registered for it is deregistered again.
    ("update", "throttle"): (LASTING, Expect(18, 1, 1, 0)),
    ("update", "5xx"): ({}, Expect(18, 1, 1, 0)),
    ("update", "reset"): ({}, Expect(18, 1, 1, 0)),
    ("update", "denied"): ({}, Expect(16, 1, 1, 0)),
    # The wait ends on the error, the rollback still runs and succeeds: exit 21.
    ("wait", "throttle"): (THROUGH_THE_WAIT, Expect(21, 1, 2, 2)),
    ("wait", "5xx"): (THROUGH_THE_WAIT, Expect(21, 1, 2, 2)),
    ("wait", "reset"): (THROUGH_THE_WAIT, Expect(21, 1, 2, 2)),
    ("wait", "denied"): ({}, Expect(21, 1, 2, 2)),
    # Explaining stopped tasks fails: the verdict (ECS rolled back) stands, exit 15.
    ("explain", "throttle"): (LASTING, Expect(15, 1, 2, 1)),
    ("explain", "5xx"): (LASTING, Expect(15, 1, 2, 1)),
    ("explain", "reset"): (LASTING, Expect(15, 1, 2, 1)),
    ("explain", "denied"): (LASTING, Expect(15, 1, 2, 1)),
    # The rollback's UpdateService refused (so only the deploy's took effect): the deploy's
    # own failure (1) is the exit code.
    ("rollback", "throttle"): (LASTING, Expect(1, 2, 2, 1)),
    ("rollback", "5xx"): ({}, Expect(1, 2, 2, 1)),
    ("rollback", "reset"): ({}, Expect(1, 2, 2, 1)),
    ("rollback", "denied"): ({}, Expect(1, 2, 2, 1)),
    # Pruning is housekeeping: the deploy succeeded, the warning says what was not pruned.
    ("prune", "throttle"): (LASTING, Expect(0, 5, 5, 1)),
    ("prune", "5xx"): ({}, Expect(0, 5, 5, 1)),
    ("prune", "reset"): ({}, Expect(0, 5, 5, 1)),
    ("prune", "denied"): ({}, Expect(0, 5, 5, 1)),
}

# A signal while the phase's call is in flight (the sandbox holds it until the signal was
# delivered): the call completes, nothing after it starts except the rollback the deploy
# asked for.
SIGNAL_CASES = {
    "describe": Expect("signal", 1, 1, 0, 0),
    "register": Expect("signal", 1, 2, 0),  # registered, named in the report, not deployed
    "update": Expect("signal", 1, 2, 2),  # updated, then rolled back (--enable-rollback)
    "wait": Expect("signal", 1, 2, 2),
    "explain": Expect("signal", 1, 2, 2),
    "rollback": Expect("signal", 1, 2, 2),  # the rollback is started, not waited for
    # After the verdict: one deregistered, then no more calls, and the success stands.
    "prune": Expect(0, 5, 4, 1),
}
SIGNAL_PHASE_OVERRIDES = {
    # Without the circuit breaker, the deploy is still undecided when the signal comes.
    "explain": Phase("ListTasks", (*BROKEN, "-t", "30"), faults={"fail_images": ("*:broken",)}),
}


def _arrange(sandbox: Any, cluster: str, phase: Phase) -> None:
    seed(sandbox, cluster, **phase.seed)
    ecs = sandbox.client()
    base = ecs.describe_task_definition(taskDefinition=f"{cluster}-web:1")["taskDefinition"]
    for _ in range(phase.extra_revisions):
        ecs.register_task_definition(
            family=base["family"], containerDefinitions=base["containerDefinitions"]
        )
    if phase.faults:
        sandbox.set_faults("web", **phase.faults)


def _command(cluster: str, phase: Phase) -> tuple[str, ...]:
    return ("-c", cluster, "-n", "web", *FAST, "--enable-rollback", "--output", "json", *phase.args)


def _check(sandbox: Any, cluster: str, run: Run, expect: Expect, code: int, gh: Path) -> None:
    summary = json.loads(run.stdout)  # exactly one JSON object on stdout
    context = f"reason: {summary['reason']}\nstderr: {run.stderr[-3000:]}\ncalls: {run.calls}"
    assert run.code == code, context
    assert summary["exit_code"] == code, context
    outputs = dict(line.split("=", 1) for line in gh.read_text().splitlines())
    assert outputs["exit_code"] == str(code)
    assert outputs["outcome"] == summary["outcome"]
    assert "Traceback" not in run.stderr
    sandbox.reset_faults()  # look at the final state through a healthy API
    ecs = sandbox.client()
    svc = ecs.describe_services(cluster=cluster, services=["web"])["services"][0]
    assert svc["taskDefinition"].endswith(f"{cluster}-web:{expect.revision}"), context
    active = ecs.list_task_definitions(familyPrefix=f"{cluster}-web", status="ACTIVE")
    assert len(active["taskDefinitionArns"]) == expect.active, context
    # No revision or deployment made twice: count the calls that took effect.
    assert run.applied.count("UpdateService") == expect.updates, context
    assert run.applied.count("RegisterTaskDefinition") == expect.registers, context


@pytest.mark.parametrize(("phase_name", "fault_name"), list(FAULT_CASES))
def test_aws_fault_at_each_phase(sandbox, cluster, tmp_path, monkeypatch, phase_name, fault_name):
    phase = PHASES[phase_name]
    lasting, expect = FAULT_CASES[(phase_name, fault_name)]
    if phase_name == "explain":  # the explaining reads give up sooner: the verdict is the same
        monkeypatch.setattr(story, "TASK_READ_BUDGET", EXPLAIN_BUDGET)
    _arrange(sandbox, cluster, phase)
    sandbox.scheduler.inject(
        phase.operation, skip=phase.skip, **FAULTS[fault_name], **{"count": 1, **lasting}
    )
    gh = tmp_path / "gh"
    if lasting is THROUGH_THE_WAIT:  # a process of its own, for the test to see it say so
        started = start_cli(sandbox, *_command(cluster, phase), GITHUB_OUTPUT=str(gh))
        started.wait_for_output(ROLLING_BACK)
        sandbox.scheduler.lift(phase.operation)
        run = started.finish(sandbox)
        assert "stopped waiting on an AWS error" in json.loads(run.stdout)["reason"]
    else:
        run = run_cli(sandbox, *_command(cluster, phase), GITHUB_OUTPUT=str(gh))
    _check(sandbox, cluster, run, expect, int(expect.code), gh)
    if phase_name == "update":
        assert "the service was not updated to it" in run.stdout + run.stderr
    if phase_name == "explain":
        assert "Could not explain stopped tasks" in run.stderr
    if phase_name == "prune":
        assert "Pruning stopped" in run.stderr
        assert json.loads(run.stdout)["warnings"]


@pytest.mark.parametrize("phase_name", list(SIGNAL_CASES))
@pytest.mark.parametrize("signal_name", list(SIGNALS))
def test_signal_at_each_phase(sandbox, cluster, tmp_path, phase_name, signal_name):
    phase = SIGNAL_PHASE_OVERRIDES.get(phase_name, PHASES[phase_name])
    sig, code = SIGNALS[signal_name]
    _arrange(sandbox, cluster, phase)
    sandbox.scheduler.inject(phase.operation, "hold", skip=phase.skip)
    gh = tmp_path / "gh"
    started = start_cli(sandbox, *_command(cluster, phase), GITHUB_OUTPUT=str(gh))
    started.wait_for_call(sandbox, phase.operation, phase.skip + 1)
    started.signal(sig)
    started.wait_delivered(sig)
    sandbox.scheduler.release(phase.operation)
    run = started.finish(sandbox)
    expect = SIGNAL_CASES[phase_name]
    _check(sandbox, cluster, run, expect, code if expect.code == "signal" else 0, gh)
    summary = json.loads(run.stdout)
    if phase_name == "prune":  # a signal never changes a verdict already reached
        assert summary["outcome"] == "succeeded", run.stdout
        assert "Pruning stopped by a signal after the deploy succeeded" in run.stderr
        assert any("Pruning stopped by a signal" in w for w in summary["warnings"])
        return
    assert summary["outcome"] == "interrupted", run.stdout
    if phase_name == "register":  # the revision it registered is named
        assert summary["reason"].endswith(
            f"registered {summary['new_task_definition']}, but the service was not updated"
        )
        assert summary["new_task_definition"].endswith(f"{cluster}-web:2")


@pytest.mark.parametrize("signal_name", list(SIGNALS))
def test_a_second_signal_while_pruning_keeps_the_success(sandbox, cluster, tmp_path, signal_name):
    """Two signals while a deregistration is in flight, after the deploy succeeded: the
    second stops pruning at once, and the verdict stands (exit 0, succeeded), as after one."""
    sig, _ = SIGNALS[signal_name]
    phase = PHASES["prune"]
    _arrange(sandbox, cluster, phase)
    sandbox.scheduler.inject("DeregisterTaskDefinition", "hold")
    gh = tmp_path / "gh"
    started = start_cli(sandbox, *_command(cluster, phase), GITHUB_OUTPUT=str(gh))
    try:
        started.wait_for_call(sandbox, "DeregisterTaskDefinition")
        started.signal(sig)
        started.wait_delivered(sig)  # two signals, not one merged by the kernel
        started.signal(sig)  # the first is still pending inside the held call
        run = started.finish(sandbox)
    finally:
        sandbox.scheduler.release("DeregisterTaskDefinition")
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "succeeded", summary["reason"]
    assert summary["exit_code"] == 0
    outputs = dict(line.split("=", 1) for line in gh.read_text().splitlines())
    assert (outputs["outcome"], outputs["exit_code"]) == ("succeeded", "0")
    (warning,) = [w for w in summary["warnings"] if "Pruning stopped" in w]
    assert warning.startswith("Pruning stopped by a second signal after the deploy succeeded")
    assert warning in run.stderr
    assert run.calls.count("DeregisterTaskDefinition") == 1  # stopped at once


@pytest.mark.parametrize(
    ("phase_name", "expect"),
    [
        ("update", Expect(0, 2, 2, 1)),  # the update was applied: it is followed, not redone
        ("rollback", Expect(21, 1, 2, 2)),  # the rollback was applied: it is followed too
    ],
)
def test_lost_answer_to_an_update_is_followed_not_repeated(
    sandbox, cluster, tmp_path, phase_name, expect
):
    phase = PHASES[phase_name]
    if phase_name == "rollback":  # the rollback followed must finish within its -t
        phase = replace(phase, args=(*BROKEN, "-t", "2"))
    _arrange(sandbox, cluster, phase)
    sandbox.scheduler.inject(phase.operation, "drop", after=True, skip=phase.skip)
    gh = tmp_path / "gh"
    run = run_cli(sandbox, *_command(cluster, phase), GITHUB_OUTPUT=str(gh))
    _check(sandbox, cluster, run, expect, int(expect.code), gh)
    assert "shows the update applied: following it" in run.stderr
