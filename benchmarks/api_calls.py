"""Benchmark 3: API calls per poll cycle while a deploy waits, at 10, 1,000 and 5,000 tasks.

Counts, from the sandbox's request log, every call `ecs-deploy` made after UpdateService,
divided by its DescribeServices polls. A healthy rollout: the steady state should be one
call per poll at every size. Also checks that the 5,000-task service deploys correctly.
Usage: python benchmarks/api_calls.py [--sizes 10,1000,5000] [--step-delay 0.2]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from _common import run, seed
from ecsdeploy.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,1000,5000")
    parser.add_argument("--step-delay", type=float, default=0.2)
    args = parser.parse_args()
    print("API calls per poll cycle (steady state, after UpdateService):")
    for size in (int(s) for s in args.sizes.split(",")):
        with Sandbox(step_delay=args.step_delay) as sandbox:
            started = time.monotonic()
            # maximumPercent 110: the rollout goes in 10% batches, so the watcher polls
            # through many cycles of a rollout in progress, as on a real large service
            seed(
                sandbox,
                f"n{size}",
                size,
                deployment_configuration={"minimumHealthyPercent": 100, "maximumPercent": 110},
            )
            seeded = time.monotonic() - started
            result = run(sandbox, "-c", f"n{size}", "-n", "web", "-i", "nginx:2", "-t", "600")
            if result.code != 0:
                raise SystemExit(f"{size} tasks: deploy failed: {result.stderr}")
            after = [  # the scheduled tasks' lookup is once per deploy, not per poll
                c
                for c in result.calls[result.calls.index("UpdateService") + 1 :]
                if c != "ListRuleNamesByTarget" and not c.startswith("GET /schedules")
            ]
            counts = Counter(after)
            polls = counts["DescribeServices"]
            print(
                f"  {size:>5} tasks: {len(after) / polls:.2f} calls/poll over {polls} polls "
                f"({dict(counts)}); deploy {result.wall:.1f} s, exit {result.code}, "
                f"'{size}/{size} tasks running' in output: "
                f"{f'{size}/{size} tasks running' in result.stdout} "
                f"(seeding took {seeded:.1f} s)"
            )


if __name__ == "__main__":
    main()
