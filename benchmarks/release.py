"""Benchmark: 20 services released in one run against 1 service, same sandbox step.

Target: wall-time ratio <= 1.5. Also prints the DescribeServices calls per poll round of the
release (from its JSON summary: calls / rounds; ten services a call, so 2 for 20), and the
requests per run and per service.
Usage: python benchmarks/release.py [--services 20] [--runs 3] [--step-delay 0.2]
"""

from __future__ import annotations

import argparse
import json

from _common import describe, median, run
from ecsdeploy.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--step-delay", type=float, default=0.2)
    args = parser.parse_args()
    names = [f"svc{i:02d}" for i in range(args.services)]
    one, many, per_round, calls_one, calls_many = [], [], [], [], []
    all_one: list[float] = []
    all_many: list[float] = []
    scheduled: list[float] = []
    with Sandbox(step_delay=args.step_delay) as sandbox:
        for name in names:
            sandbox.seed_service("bench", name, family=f"bench-{name}", desired_count=1)
        for i in range(args.runs):
            single = run(sandbox, "-c", "bench", "-n", names[0], "-i", f"nginx:{i + 2}")
            if single.code != 0:
                raise SystemExit(f"single deploy failed: {single.stderr}")
            release = run(
                sandbox,
                "-c",
                "bench",
                "-n",
                ",".join(names),
                "-i",
                f"nginx:{i + 100}",
                "--output",
                "json",
            )
            if release.code != 0:
                raise SystemExit(f"release failed: {release.stderr[-2000:]}")
            summary = json.loads(release.stdout)
            one.append(single.wall)
            many.append(release.wall)
            calls_one.append(single.calls.count("DescribeServices"))
            calls_many.append(release.calls.count("DescribeServices"))
            all_one.append(len(single.calls))
            all_many.append(len(release.calls))
            scheduled.append(sum(release.calls.count(op) for op in SCHEDULED_LOOKUPS))
            per_round.append(summary["describe_services_calls"] / max(1, summary["read_rounds"]))
    ratio = median(many) / median(one)
    print(f"release benchmark: {args.services} services vs 1, sandbox step {args.step_delay} s")
    print(f"  1 service:    {describe(one)}")
    print(f"  {args.services} services:  {describe(many)}")
    print(f"  wall-time ratio: {ratio:.2f}   (target <= 1.5)")
    print(
        f"  DescribeServices calls per poll round: {median(per_round):.2f} "
        f"(ten services a call: {-(-args.services // 10)} expected)"
    )
    print(
        f"  DescribeServices calls per run: 1 service {median(calls_one):.0f}, "
        f"{args.services} services {median(calls_many):.0f}"
    )
    print(
        f"  requests per run: 1 service {median(all_one):.0f}, {args.services} services "
        f"{median(all_many):.0f} ({median(all_many) / args.services:.1f} per service); the "
        f"scheduled tasks' lookups: {median(scheduled):.0f} for the whole release (once per "
        "cluster)"
    )


#: The scheduled tasks' lookups (ListSchedules is a REST call: the sandbox logs its path).
SCHEDULED_LOOKUPS = ("ListRuleNamesByTarget", "GET /schedules")


if __name__ == "__main__":
    main()
