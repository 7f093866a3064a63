"""Benchmark: what a failure's diagnosis adds to its exit.

A service with the circuit breaker (and rollback) deploys an image whose container crashes
after logging (awslogs). The time from the sandbox marking the rollout FAILED to the command's
exit is measured with the diagnosis reading logs (--log-lines 20, the default) and with it
reading none (--log-lines 0), interleaved run by run. Target: the diagnosis adds <= 1 s.
Usage: python benchmarks/diagnosis.py [--runs 5] [--step-delay 0.1]
"""

from __future__ import annotations

import argparse

from _common import deployment_id, describe, median, run, seed
from ecsdeploy.sandbox import Sandbox

AWSLOGS = {
    "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/bench/web", "awslogs-stream-prefix": "ecs"},
    }
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--step-delay", type=float, default=0.1)
    args = parser.parse_args()
    delays: dict[str, list[float]] = {"--log-lines 20": [], "--log-lines 0": []}
    reads: dict[str, list[int]] = {k: [] for k in delays}
    with Sandbox(step_delay=args.step_delay) as sandbox:
        sandbox.client("logs").create_log_group(logGroupName="/bench/web")
        sandbox.set_faults(crash_images=("nginx:crash",))
        breaker = {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}
        for i in range(args.runs):
            for mode, values in delays.items():
                cluster = f"diag{i}{mode[-2:].strip()}"
                seed(sandbox, cluster, 2, deployment_configuration=breaker, container=AWSLOGS)
                lines = mode.split()[1]
                result = run(
                    sandbox, "-c", cluster, "-n", "web", "-i", "nginx:crash", "--log-lines", lines
                )
                if result.code != 15:
                    raise SystemExit(f"expected exit 15, got {result.code}: {result.stderr}")
                failed_at = sandbox.scheduler.timeline[deployment_id(result.stdout)]["failed"]
                values.append(result.ended - failed_at)
                reads[mode].append(result.calls.count("GetLogEvents"))
    print(
        f"diagnosis benchmark: {args.runs} crashing deploys each way (2 tasks, circuit breaker "
        f"with rollback, awslogs), sandbox step {args.step_delay} s"
    )
    for mode, values in delays.items():
        print(
            f"  FAILED -> exit, {mode}: {describe(values)}; GetLogEvents per run: "
            f"median {median(reads[mode]):.0f}"
        )
    added = median(delays["--log-lines 20"]) - median(delays["--log-lines 0"])
    print(f"  added by reading the logs: {added:+.3f} s at the median   (target <= 1 s)")


if __name__ == "__main__":
    main()
