"""Benchmark: a CODE_DEPLOY service's deploy through CodeDeploy, against the sandbox.

Prints, over several deploys: how long after CodeDeploy marked the deployment Succeeded the
command had exited (the figure to hold: within one poll interval), and the calls the command
made per poll while it followed the deployment (GetDeployment and GetDeploymentTarget; the
stopped-task reads only while the replacement task set is short of tasks).
Usage: python benchmarks/codedeploy.py [--deploys 5] [--poll-interval 1.0]
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter

from _common import run
from ecsdeploy.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deploys", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--step-delay", type=float, default=0.05)
    args = parser.parse_args()
    lags, per_poll, walls = [], [], []
    counts: Counter[str] = Counter()
    with Sandbox(step_delay=args.step_delay) as sandbox:
        sandbox.scheduler.minute = 0.1
        for n in range(args.deploys):
            cluster = f"cd{n}"
            sandbox.seed_codedeploy_service(cluster)
            result = run(
                sandbox,
                *("-c", cluster, "-n", "web", "-i", f"nginx:{n + 2}"),
                *("--poll-interval", str(args.poll_interval), "-t", "120"),
            )
            if result.code != 0:
                raise SystemExit(f"deploy {n} failed ({result.code}): {result.stderr}")
            after = result.calls[result.calls.index("CreateDeployment") + 1 :]
            polls = after.count("GetDeployment")
            counts.update(after)
            per_poll.append(len(after) / polls)
            deployment = next(
                d
                for d, times in sandbox.scheduler.timeline.items()
                if d.startswith("d-") and "succeeded" in times and d not in _seen
            )
            _seen.add(deployment)
            lags.append(result.ended - sandbox.scheduler.timeline[deployment]["succeeded"])
            walls.append(result.wall)
    print(f"CodeDeploy deploys: {args.deploys}, --poll-interval {args.poll_interval}")
    print(
        f"  Succeeded -> exit: median {statistics.median(lags):.2f} s, max {max(lags):.2f} s "
        f"(poll interval {args.poll_interval} s; within one poll: "
        f"{all(lag <= args.poll_interval for lag in lags)})"
    )
    print(
        f"  calls per poll while following: median {statistics.median(per_poll):.2f}, "
        f"max {max(per_poll):.2f} ({dict(counts)})"
    )
    print(f"  deploy wall time: median {statistics.median(walls):.1f} s")


_seen: set[str] = set()

if __name__ == "__main__":
    main()
