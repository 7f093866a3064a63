"""Run every benchmark and print its figures (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in (
    "startup.py",
    "overhead.py",
    "overhead.py --preflight",
    "production.py",
    "failure_detection.py",
    "diagnosis.py",
    "deploy_job.py",
    "api_calls.py",
    "reliability.py",
    "codedeploy.py",
):
    print(f"$ python benchmarks/{script}", flush=True)
    name, *options = script.split()
    subprocess.run([sys.executable, str(HERE / name), *options], check=True)
    print(flush=True)
