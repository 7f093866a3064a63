"""Benchmark 4: wall time of `ecs-deploy --help` and `--version` (target <= 150 ms each).

Usage: python benchmarks/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import subprocess
import time

from _common import EXE, describe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    for flag in ("--help", "--version"):
        times = []
        for _ in range(args.runs):
            started = time.monotonic()
            subprocess.run([EXE, flag], capture_output=True, check=True)
            times.append(time.monotonic() - started)
        print(f"ecs-deploy {flag:<9}: {describe(times)}   (target <= 0.150 s)")
    imported = subprocess.run(
        [
            EXE.replace("ecs-deploy", "python"),
            "-c",
            "import sys, ecsdeploy.cli; print('botocore' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"botocore imported by the CLI module: {imported}")


if __name__ == "__main__":
    main()
