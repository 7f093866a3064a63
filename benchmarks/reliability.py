"""Benchmark 5: how fast a deploy ends in a known state under what CI does to it.

Measures, each over --runs deploys against an in-process sandbox, default settings:
  1. SIGTERM while waiting on a rollout -> exit 143 (time from the signal to the exit).
  2. SIGTERM during a throttling burst before anything was registered -> exit 143, and the
     mutating calls made after the signal (must be 0).
  3. An endpoint nothing listens on -> exit 18, with the default -t 90 (wall time).
  4. Two signals 0.2 s apart while a call is held -> exit 143 "aborted" (signal to exit).
Usage: python benchmarks/reliability.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import time

from _common import EXE, child_env, describe, seed
from ecsdeploy.sandbox import Sandbox
from ecsdeploy.sandbox.server import MUTATING


def _start(sandbox: Sandbox, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [EXE, *args],
        env={**child_env(sandbox), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(sandbox: Sandbox, start: int, operation: str, count: int = 1) -> None:
    deadline = time.monotonic() + 30
    while sandbox.requests[start:].count(operation) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"never saw {operation}")
        time.sleep(0.005)


def _signal_and_time(proc: subprocess.Popen[str], *sigs: int, gap: float = 0.0) -> float:
    signalled = time.monotonic()
    for i, sig in enumerate(sigs):
        if i:
            time.sleep(gap)
        proc.send_signal(sig)
    proc.communicate(timeout=60)
    return time.monotonic() - signalled


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    waits, bursts, aborts, unreachable = [], [], [], []
    codes: dict[str, set[int]] = {"wait": set(), "burst": set(), "abort": set(), "down": set()}
    after_signal_mutations = 0
    with Sandbox(step_delay=0.1) as sandbox:
        for i in range(args.runs):
            cluster = f"rel{i}"
            seed(sandbox, cluster, 2)
            sandbox.set_faults("web", stall=True)

            start = len(sandbox.requests)
            proc = _start(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:2")
            _wait_for(sandbox, start, "DescribeServices", 3)  # polling a stalled rollout
            waits.append(_signal_and_time(proc, signal.SIGTERM))
            codes["wait"].add(proc.returncode)

            sandbox.scheduler.inject(
                "DescribeTaskDefinition", "error", code="ThrottlingException", count=None,
                seconds=60,
            )  # fmt: skip
            start = len(sandbox.requests)
            proc = _start(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:3")
            _wait_for(sandbox, start, "DescribeTaskDefinition", 2)
            signalled_at = len(sandbox.requests)
            bursts.append(_signal_and_time(proc, signal.SIGTERM))
            after_signal_mutations += sum(
                1 for op in sandbox.requests[signalled_at:] if op in MUTATING
            )
            codes["burst"].add(proc.returncode)
            sandbox.reset_faults()

            sandbox.scheduler.inject("DescribeServices", "delay", delay=5.0)
            start = len(sandbox.requests)
            proc = _start(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:4", "--output", "json")
            _wait_for(sandbox, start, "DescribeServices")
            time.sleep(0.1)
            aborts.append(_signal_and_time(proc, signal.SIGTERM, signal.SIGTERM, gap=0.2))
            codes["abort"].add(proc.returncode)
            sandbox.reset_faults()

            started = time.monotonic()
            proc = _start(
                sandbox, "-c", cluster, "-n", "web", "-i", "nginx:5",
                AWS_ENDPOINT_URL="http://127.0.0.1:9",
            )  # fmt: skip
            out, _ = proc.communicate(timeout=120)
            unreachable.append(time.monotonic() - started)
            codes["down"].add(proc.returncode)
            assert out == "" or json.loads(out)  # nothing half-written

    print(f"reliability benchmark: {args.runs} runs of each, sandbox step 0.1 s, defaults")
    print(f"  SIGTERM while waiting -> exit {sorted(codes['wait'])}: {describe(waits)}")
    print(
        f"  SIGTERM in a throttling burst, before register -> exit {sorted(codes['burst'])}: "
        f"{describe(bursts)}; mutating calls after the signal: {after_signal_mutations}"
    )
    print(
        f"  two SIGTERMs 0.2 s apart during a held call -> exit {sorted(codes['abort'])}: "
        f"{describe(aborts)} (includes the 0.2 s gap)"
    )
    print(
        f"  unreachable endpoint, -t 90 -> exit {sorted(codes['down'])}: {describe(unreachable)}"
        f" ({90 / max(unreachable):.0f}x sooner than the timeout)"
    )


if __name__ == "__main__":
    main()
