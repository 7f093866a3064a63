"""Benchmark 2: time from the sandbox setting rolloutState FAILED to `ecs-deploy` exiting.

The service has the deployment circuit breaker (with rollback); the new image cannot be
pulled. Default settings. Target: <= the poll interval (1 s by default) + 0.5 s.
Usage: python benchmarks/failure_detection.py [--runs 5] [--step-delay 0.1]
"""

from __future__ import annotations

import argparse

from _common import deployment_id, describe, run, seed
from ecsdeploy.sandbox import Sandbox
from ecsdeploy.watch import DEFAULT_POLL_INTERVAL


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--step-delay", type=float, default=0.1)
    args = parser.parse_args()
    delays, codes = [], []
    with Sandbox(step_delay=args.step_delay) as sandbox:
        for i in range(args.runs):
            cluster = f"fail{i}"
            seed(
                sandbox,
                cluster,
                2,
                deployment_configuration={
                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}
                },
            )
            sandbox.set_faults("web", fail_images=("*:broken",))
            result = run(sandbox, "-c", cluster, "-n", "web", "-i", "nginx:broken")
            failed_at = sandbox.scheduler.timeline[deployment_id(result.stdout)]["failed"]
            delays.append(result.ended - failed_at)
            codes.append(result.code)
    print(
        f"failure detection benchmark: {args.runs} failing deploys, circuit breaker with "
        f"rollback, sandbox step {args.step_delay} s, default poll interval "
        f"{DEFAULT_POLL_INTERVAL} s"
    )
    print(f"  exit codes: {sorted(set(codes))} (15 = rolled back by ECS)")
    print(f"  FAILED -> exit: {describe(delays)}   (target <= {DEFAULT_POLL_INTERVAL + 0.5:.1f} s)")


if __name__ == "__main__":
    main()
