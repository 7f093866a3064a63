"""`make demo` runs end to end (scripts/demo.sh, with a faster sandbox): every step's exit code
is the one the script expects, or it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_runs_end_to_end():
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "DEMO_STEP_DELAY": "0.02",  # as the suite's own sandbox
        "DEMO_MINUTE": "0.2",
        "ECS_DEPLOY_POLL_INTERVAL": "0.2",  # every deploy of the demo polls faster
    }
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(ROOT / "scripts" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "KeyError: 'DATABASE_URL'" in done.stdout
    assert "refused by the preflight" in done.stdout
    assert "lifecycle event AllowTraffic: Succeeded" in done.stdout  # the CodeDeploy step
    assert "Migrated: service web-cd now uses ECS's deployment controller" in done.stdout
    assert "demo-secret-value" not in done.stdout + done.stderr
    assert "Demo finished" in done.stdout
