"""Benchmark: the whole deploy job's two figures.

1. Log latency: a one-off task (`-d --run-task --wait-for-success`) logs a line a sandbox step;
   each line's arrival on the command's stdout is compared with the moment the sandbox wrote
   it (its CloudWatch Logs timestamp). Target: within one poll interval (default 1 s).
2. Migration cost: the same deploy with and without `--pre-deploy`, interleaved; what the
   migration adds beyond its own run time (RunTask -> its task stopped, in the sandbox).
   Target: at most 0.5 s.
Usage: python benchmarks/deploy_job.py [--runs 5] [--step-delay 0.1]
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time

from _common import EXE, child_env, describe, median, run, seed
from ecsdeploy.sandbox import Sandbox
from ecsdeploy.watch import DEFAULT_POLL_INTERVAL

LOGS = {
    "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/bench/job", "awslogs-stream-prefix": "ecs"},
    }
}


def latency(sandbox: Sandbox, runs: int) -> list[float]:
    delays: list[float] = []
    lines = tuple(f"line {i:02d}" for i in range(8))
    sandbox.set_faults(task_log=lines)
    for _ in range(runs):
        arrived: dict[str, float] = {}
        proc = subprocess.Popen(
            [EXE, "-c", "bench", "-d", "bench-web", "--run-task", "--wait-for-success"],
            env=child_env(sandbox),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None

        def read(stream=proc.stdout, arrived=arrived) -> None:
            for text in stream:
                if "web | line" in text:
                    arrived[text.split("web | ", 1)[1].strip()] = time.time()

        reader = threading.Thread(target=read)
        reader.start()
        proc.wait(timeout=120)
        reader.join()
        logs = sandbox.client("logs")
        stream = logs.describe_log_streams(
            logGroupName="/bench/job", orderBy="LastEventTime", descending=True
        )["logStreams"][0]["logStreamName"]
        events = logs.get_log_events(
            logGroupName="/bench/job", logStreamName=stream, startFromHead=True
        )["events"]
        for event in events:
            if event["message"] in arrived:
                delays.append(arrived[event["message"]] - event["timestamp"] / 1000)
    return delays


def migration(sandbox: Sandbox, runs: int) -> tuple[list[float], list[float], list[float]]:
    sandbox.set_faults(task_log=("Applying 0001... OK", "Applying 0002... OK"))
    plain, migrated, own = [], [], []
    for i in range(runs):
        result = run(sandbox, "-c", "bench", "-n", "web", "-i", f"nginx:{2 * i + 2}")
        plain.append(result.wall)
        before = len(sandbox.scheduler.tasks)
        result = run(
            sandbox, "-c", "bench", "-n", "web", "-i", f"nginx:{2 * i + 3}", "--pre-deploy",
            "web", "migrate",
        )  # fmt: skip
        if result.code != 0:
            raise SystemExit(f"deploy failed: {result.stderr}")
        migrated.append(result.wall)
        task = next(t for t in list(sandbox.scheduler.tasks.values())[before:] if t["_one_off"])
        own.append((task["stoppedAt"] - task["createdAt"]).total_seconds())
    return plain, migrated, own


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--step-delay", type=float, default=0.1)
    args = parser.parse_args()
    with Sandbox(step_delay=args.step_delay) as sandbox:
        sandbox.client("logs").create_log_group(logGroupName="/bench/job")
        seed(sandbox, "bench", 1, container=LOGS)
        delays = latency(sandbox, args.runs)
        plain, migrated, own = migration(sandbox, args.runs)
    print(f"deploy job benchmark: sandbox step {args.step_delay} s, {args.runs} runs each")
    print(
        f"  log line written -> on stdout: {describe(delays)}   (target <= one poll interval, "
        f"{DEFAULT_POLL_INTERVAL} s; worst {max(delays) / DEFAULT_POLL_INTERVAL:.2f} of it)"
    )
    added = [m - p - o for m, p, o in zip(migrated, plain, own, strict=True)]
    print(f"  deploy without --pre-deploy: {describe(plain)}")
    print(f"  deploy with --pre-deploy:    {describe(migrated)}")
    print(f"  the migration task's own run time: {describe(own)}")
    print(
        f"  added beyond the migration's own run time: median {median(added):+.3f} s "
        f"(min {min(added):+.3f}, max {max(added):+.3f})   (target <= 0.5 s)"
    )


if __name__ == "__main__":
    main()
