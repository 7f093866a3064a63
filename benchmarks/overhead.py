"""Benchmark 1: a successful deploy's wall time minus the sandbox's own rollout time.

Rollout time is measured inside the sandbox, from the UpdateService call that created the
deployment to the step that marked it COMPLETED. Default settings (no --poll-interval).
Usage: python benchmarks/overhead.py [--runs 5] [--step-delay 0.1] [--tasks 2]
"""

from __future__ import annotations

import argparse

from _common import deployment_id, describe, median, run, seed
from ecsdeploy.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--step-delay", type=float, default=0.1)
    parser.add_argument("--tasks", type=int, default=2)
    args = parser.parse_args()
    overheads, rollouts, walls, calls, before, after = [], [], [], [], [], []
    with Sandbox(step_delay=args.step_delay) as sandbox:
        seed(sandbox, "bench", args.tasks)
        for i in range(args.runs):
            result = run(sandbox, "-c", "bench", "-n", "web", "-i", f"nginx:{i + 2}")
            if result.code != 0:
                raise SystemExit(f"deploy failed: {result.stderr}")
            times = sandbox.scheduler.timeline[deployment_id(result.stdout)]
            rollout = times["completed"] - times["created"]
            walls.append(result.wall)
            rollouts.append(rollout)
            overheads.append(result.wall - rollout)
            calls.append(len(result.calls))
            before.append(times["created"] - (result.ended - result.wall))
            after.append(result.ended - times["completed"])
    print(
        f"overhead benchmark: {args.runs} deploys of {args.tasks} tasks, "
        f"sandbox step {args.step_delay} s, default settings"
    )
    print(f"  wall time:      {describe(walls)}")
    print(f"  rollout time:   {describe(rollouts)}")
    print(f"  overhead:       {describe(overheads)}   (target <= 0.8 s; <= 0.5 s at step 0.2)")
    print(f"    start -> UpdateService: {describe(before)}")
    print(f"    rollout complete -> exit: {describe(after)}")
    print(
        f"  API calls per deploy: median {median(calls):.0f} (min {min(calls)}, max {max(calls)})"
    )


if __name__ == "__main__":
    main()
