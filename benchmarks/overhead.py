"""Benchmark 1: a successful deploy's wall time minus the sandbox's own rollout time.

Rollout time is measured inside the sandbox, from the UpdateService call that created the
deployment to the step that marked it COMPLETED. Default settings (no --poll-interval).

--preflight: the revision names what the preflight checks (an ECR image, an SSM parameter, a
Secrets Manager secret, an awslogs group), and each deploy runs twice, interleaved: with the
preflight and with --no-preflight; both overheads and their difference are printed
(target: the preflight adds <= 0.15 s).
--ab ARGS: each deploy runs twice, interleaved, as it is and with ARGS added (e.g.
--ab "--scheduled-tasks none": what looking for scheduled tasks during the watch costs).
Usage: python benchmarks/overhead.py [--runs 5] [--step-delay 0.1] [--tasks 2] [--preflight]
                                     [--ab ARGS]
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
    parser.add_argument("--preflight", action="store_true")
    parser.add_argument("--ab", metavar="ARGS")
    args = parser.parse_args()
    if args.preflight:
        preflight(args)
        return
    if args.ab:
        compare(args, args.ab.split())
        return
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


def compare(args: argparse.Namespace, extra: list[str]) -> None:
    """Interleaved A/B: the same deploys as they are, and with `extra` arguments."""
    overheads: dict[str, list[float]] = {"as it is": [], " ".join(extra): []}
    with Sandbox(step_delay=args.step_delay) as sandbox:
        seed(sandbox, "bench", args.tasks)
        tag = 2
        for _ in range(args.runs):
            for mode, values in overheads.items():
                more = () if mode == "as it is" else tuple(extra)
                result = run(sandbox, "-c", "bench", "-n", "web", "-i", f"nginx:{tag}", *more)
                tag += 1
                if result.code != 0:
                    raise SystemExit(f"deploy failed: {result.stderr}")
                times = sandbox.scheduler.timeline[deployment_id(result.stdout)]
                values.append(result.wall - (times["completed"] - times["created"]))
    print(f"overhead A/B: {args.runs} deploys each way, sandbox step {args.step_delay} s")
    for mode, values in overheads.items():
        print(f"  overhead, {mode}: {describe(values)}")
    first, second = overheads.values()
    print(f"  difference: {median(first) - median(second):+.3f} s at the median")


def preflight(args: argparse.Namespace) -> None:
    """Interleaved A/B: the same deploys with and without the preflight."""
    overheads: dict[str, list[float]] = {"with preflight": [], "--no-preflight": []}
    checks: list[int] = []
    with Sandbox(step_delay=args.step_delay) as sandbox:
        repo = "bench/web"
        sandbox.client("ecr").create_repository(repositoryName=repo)
        sandbox.client("logs").create_log_group(logGroupName="/bench/web")
        sandbox.client("ssm").put_parameter(Name="/bench/db", Value="x", Type="SecureString")
        secret = sandbox.client("secretsmanager").create_secret(Name="bench-key", SecretString="s")
        registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
        container = {
            "secrets": [
                {"name": "DB", "valueFrom": "/bench/db"},
                {"name": "KEY", "valueFrom": secret["ARN"]},
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/bench/web", "awslogs-stream-prefix": "ecs"},
            },
        }
        seed(sandbox, "bench", args.tasks, image=f"{registry}/{repo}:1", container=container)
        for i in range(args.runs):
            for mode, values in overheads.items():
                tag = f"{i}-{'a' if mode.startswith('with') else 'b'}"
                push(sandbox, repo, tag)
                extra = () if mode.startswith("with") else ("--no-preflight",)
                image = f"{registry}/{repo}:{tag}"
                result = run(sandbox, "-c", "bench", "-n", "web", "-i", image, *extra)
                if result.code != 0:
                    raise SystemExit(f"deploy failed: {result.stderr}")
                times = sandbox.scheduler.timeline[deployment_id(result.stdout)]
                values.append(result.wall - (times["completed"] - times["created"]))
                if not extra:
                    checks.append(sum(result.calls.count(op) for op in PREFLIGHT_CALLS))
    print(
        f"preflight overhead benchmark: {args.runs} deploys each way of {args.tasks} tasks, "
        f"sandbox step {args.step_delay} s; the revision names an ECR image, an SSM parameter, "
        "a Secrets Manager secret and a log group"
    )
    for mode, values in overheads.items():
        print(f"  overhead, {mode}: {describe(values)}")
    added = median(overheads["with preflight"]) - median(overheads["--no-preflight"])
    print(f"  preflight calls per deploy: median {median(checks):.0f}")
    print(f"  added by the preflight: {added:+.3f} s at the median   (target <= 0.15 s)")


PREFLIGHT_CALLS = ("DescribeImages", "GetParameters", "DescribeSecret", "DescribeLogGroups")


def push(sandbox: Sandbox, repository: str, tag: str) -> None:
    import hashlib
    import json

    digest = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
    sandbox.client("ecr").put_image(
        repositoryName=repository,
        imageTag=tag,
        imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
        imageManifest=json.dumps({"schemaVersion": 2, "config": {"digest": digest}, "layers": []}),
    )


if __name__ == "__main__":
    main()
