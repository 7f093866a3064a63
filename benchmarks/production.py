"""Benchmark: a production-like deploy, side by side with fabfuel's `ecs deploy`.

The service's revision names what a real one does: an image in the sandbox's ECR (each run
pushes a new tag), an awslogs group, a Secrets Manager secret and an SSM parameter, all
existing. Every AWS request the sandbox serves takes `--latency` seconds more (0.06: a real
region as a CI runner sees it; concurrent requests overlap). Runs alternate between
`ecs-deploy -c bench -n web -i IMAGE` (preflight on, default settings) and fabfuel's
`ecs deploy bench web -i web IMAGE` (its defaults), and the medians and their ratios print:

- start -> UpdateService: from the process start to the UpdateService request's arrival;
- overhead: wall time minus ECS's own rollout (UpdateService to COMPLETED, in the sandbox);
- first AWS request: from the process start to the first request's arrival;
- requests per deploy, and the process's CPU time (user + system: what a busy machine makes
  everything else wait for); and `--version` / `--help` of each, with no AWS.

fabfuel's tool (PyPI `ecs-deploy` FABFUEL_VERSION) is installed into a scratch virtualenv,
.bench-venv/ (gitignored; bench-only, never a dependency of ours), on first use: pip needs
the package index then. It reaches the sandbox through AWS_ENDPOINT_URL, which boto3 honours
since 1.28. Each run's request log (times after the process started) is printed with -v.

Usage: python benchmarks/production.py [--runs 9] [--latency 0 0.06] [--step-delay 0.1]
                                       [--only-ours] [-v]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import EXE, child_env, median
from ecsdeploy.sandbox import Sandbox

FABFUEL_VERSION = "1.17.0"
BENCH_VENV = Path(__file__).resolve().parent.parent / ".bench-venv"
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
REPO = "bench/web"


@dataclass
class Figures:
    to_update: list[float] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)
    first_request: list[float] = field(default_factory=list)
    requests: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # the child's user + system time


def fabfuel_exe() -> str:
    """fabfuel's `ecs`, installed into .bench-venv from the package index if it is not yet."""
    exe = BENCH_VENV / "bin" / "ecs"
    if not exe.exists():
        print(f"installing fabfuel's ecs-deploy {FABFUEL_VERSION} into {BENCH_VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run(
            [
                str(BENCH_VENV / "bin" / "pip"),
                "install",
                "--quiet",
                f"ecs-deploy=={FABFUEL_VERSION}",
            ],
            check=True,
        )
    return str(exe)


def push(sandbox: Sandbox, tag: str) -> str:
    digest = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
    sandbox.client("ecr").put_image(
        repositoryName=REPO,
        imageTag=tag,
        imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
        imageManifest=json.dumps({"schemaVersion": 2, "config": {"digest": digest}, "layers": []}),
    )
    return f"{REGISTRY}/{REPO}:{tag}"


def seed_production(sandbox: Sandbox, cluster: str) -> None:
    """Service `web` of `cluster`: an ECR image, awslogs, a secret and a parameter."""
    sandbox.client("ecr").create_repository(repositoryName=REPO)
    sandbox.client("logs").create_log_group(logGroupName="/bench/web")
    sandbox.client("ssm").put_parameter(Name="/bench/db-url", Value="x", Type="SecureString")
    secret = sandbox.client("secretsmanager").create_secret(Name="bench-key", SecretString="s")
    container = {
        "secrets": [
            {"name": "DB_URL", "valueFrom": "/bench/db-url"},
            {"name": "API_KEY", "valueFrom": secret["ARN"]},
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/bench/web",
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "ecs",
            },
        },
    }
    sandbox.seed_service(
        cluster,
        "web",
        push(sandbox, "0"),
        2,
        family=f"{cluster}-web",
        container=container,
        deployment_configuration={
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
        timeout=600,
    )


def deploy_once(
    sandbox: Sandbox, argv: list[str], figures: Figures, verbose: bool, src: str | None = None
) -> None:
    env = child_env(sandbox)
    if src:  # another checkout's ecsdeploy (e.g. the main branch's, as "before")
        env["PYTHONPATH"] = src
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    ended = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures.cpu.append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    mine = [(t - started, op) for t, op in sandbox.arrivals if started <= t <= ended]
    updates = [t for t, op in mine if op == "UpdateService"]
    created = [
        times
        for times in sandbox.scheduler.timeline.values()
        if started <= times["created"] <= ended and "completed" in times
    ]
    if len(updates) != 1 or len(created) != 1:
        raise SystemExit(f"{argv[0]}: expected one UpdateService and one rollout: {mine}")
    rollout = created[0]["completed"] - created[0]["created"]
    figures.wall.append(ended - started)
    figures.overhead.append(ended - started - rollout)
    figures.to_update.append(updates[0])
    figures.first_request.append(mine[0][0])
    figures.requests.append(len(mine))
    if verbose:
        print(f"  {Path(argv[0]).name}: wall {ended - started:.3f} s, rollout {rollout:.3f} s")
        for t, op in mine:
            print(f"    {t:6.3f} {op}")


def timed(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.monotonic() - started)
    return median(times)


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def row(
    name: str, ours: list[float], theirs: list[float], before: list[float], unit: str = "s"
) -> str:
    fmt = "{:.3f} s" if unit == "s" else "{:.0f}"
    a, b = median(ours), median(theirs) if theirs else 0.0
    cells = [fmt.format(a), fmt.format(b) if theirs else "-", ratio(a, b) if theirs else "-"]
    if before:
        c = median(before)
        cells += [fmt.format(c), ratio(c, b) if theirs else "-"]
    return f"| {name} | {' | '.join(cells)} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.06])
    parser.add_argument("--step-delay", type=float, default=0.1)
    parser.add_argument("--only-ours", action="store_true", help="no fabfuel (no package index)")
    parser.add_argument(
        "--before",
        metavar="SRC",
        help="also run the ecsdeploy package of this src/ directory (e.g. an export of the main "
        "branch) as a third contestant, alternating",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    fabfuel = None if args.only_ours else fabfuel_exe()
    botocore = [
        timed([sys.executable, "-c", "import botocore.session"], args.runs),
        timed([sys.executable, "-c", "pass"], args.runs),
    ]
    print(
        f"python -c 'import botocore.session': {botocore[0]:.3f} s "
        f"(python -c pass: {botocore[1]:.3f} s), median of {args.runs}"
    )
    for flag in ("--version", "--help"):
        ours = timed([EXE, flag], args.runs)
        theirs = timed([fabfuel, flag], args.runs) if fabfuel else 0.0
        print(f"{flag}: ours {ours:.3f} s, fabfuel's {theirs:.3f} s ({ratio(ours, theirs)})")
        if args.before:
            before = timed(["env", f"PYTHONPATH={args.before}", EXE, flag], args.runs)
            print(f"{flag}: before {before:.3f} s (includes env(1)'s own start)")
    with Sandbox(step_delay=args.step_delay) as sandbox:
        seed_production(sandbox, "bench")
        tag = 1
        for latency in args.latency:
            sandbox.latency = latency
            ours, theirs, before = Figures(), Figures(), Figures()
            for _ in range(args.runs):
                image = push(sandbox, str(tag))
                deploy_once(
                    sandbox, [EXE, "-c", "bench", "-n", "web", "-i", image], ours, args.verbose
                )
                tag += 1
                if args.before:
                    image = push(sandbox, str(tag))
                    argv = [EXE, "-c", "bench", "-n", "web", "-i", image]
                    deploy_once(sandbox, argv, before, args.verbose, src=args.before)
                    tag += 1
                if fabfuel:
                    image = push(sandbox, str(tag))
                    argv = [fabfuel, "deploy", "bench", "web", "-i", "web", image]
                    deploy_once(sandbox, argv, theirs, args.verbose)
                    tag += 1
            print(
                f"\nproduction-like deploy, {latency * 1000:.0f} ms per AWS request, "
                f"{args.runs} runs alternating, medians (sandbox step {args.step_delay} s):"
            )
            more = " before | before/fabfuel |" if args.before else ""
            print("| | ours | fabfuel | ours/fabfuel |" + more)
            print("| --- | --- | --- | --- |" + (" --- | --- |" if args.before else ""))
            print(
                row(
                    "start -> UpdateService sent",
                    ours.to_update,
                    theirs.to_update,
                    before.to_update,
                )
            )
            print(
                row(
                    "overhead (wall - ECS's own rollout)",
                    ours.overhead,
                    theirs.overhead,
                    before.overhead,
                )
            )
            print(
                row(
                    "first AWS request after the process starts",
                    ours.first_request,
                    theirs.first_request,
                    before.first_request,
                )
            )
            print(row("wall", ours.wall, theirs.wall, before.wall))
            print(row("CPU time of the process (user + system)", ours.cpu, theirs.cpu, before.cpu))
            print(
                row(
                    "requests per deploy", ours.requests, theirs.requests, before.requests, unit="n"
                )
            )


if __name__ == "__main__":
    main()
