"""The run's policy: what a signal stops, when a second one aborts, what a new phase resets."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from ecsdeploy.policy import Aborted, Interrupted, RunPolicy


def test_first_signal_interrupts_and_a_second_pending_one_aborts():
    policy = RunPolicy()
    policy.on_signal(signal.SIGTERM)
    assert policy.interrupted()
    with pytest.raises(Interrupted, match="interrupted before RegisterTaskDefinition"):
        policy.check("RegisterTaskDefinition")
    with pytest.raises(Aborted):
        policy.on_signal(signal.SIGTERM)
    policy.on_signal(signal.SIGINT)  # after the abort, later signals are only recorded
    assert policy.exit_code == 143  # by the first signal
    assert policy.signals == [signal.SIGTERM, signal.SIGTERM, signal.SIGINT]


def test_a_new_phase_runs_despite_earlier_signals_and_stops_on_a_new_one():
    policy = RunPolicy()
    policy.on_signal(signal.SIGINT)
    policy.new_phase()  # the rollback the signal asked for
    assert not policy.interrupted()
    policy.check("UpdateService")  # allowed
    policy.on_signal(signal.SIGINT)  # one signal in the new phase: honoured, no abort
    assert policy.interrupted()
    assert policy.exit_code == 130


def test_no_abort_while_the_summary_is_written():
    policy = RunPolicy()
    policy.on_signal(signal.SIGINT)
    policy.finishing = True
    policy.on_signal(signal.SIGINT)  # no Aborted
    assert len(policy.signals) == 2


def test_sleep_returns_at_once_on_a_signal():
    policy = RunPolicy()
    policy.on_signal(signal.SIGINT)
    started = time.monotonic()
    policy.sleep(30)
    assert time.monotonic() - started < 5  # (a wakeable sleep; 30 s if it were not)


def test_sleep_can_be_faked_and_remaining_follows_the_clock():
    now = [100.0]
    slept: list[float] = []
    policy = RunPolicy(deadline=110.0, clock=lambda: now[0], sleep=slept.append)
    policy.sleep(2)
    assert slept == [2]
    assert policy.remaining() == 10.0
    assert RunPolicy().remaining() is None


def test_two_signals_before_the_command_loads_still_write_the_summary(tmp_path):
    """Drives the entry module as the console script does, with two signals recorded by
    its early handlers before main() runs."""
    proc, gh = _entry(
        tmp_path,
        "import signal, ecsdeploy.__main__ as m\n"
        "m._EARLY.extend([signal.SIGTERM, signal.SIGTERM])\n",
    )
    assert proc.returncode == 143, proc.stderr
    assert '"outcome": "aborted"' in proc.stdout
    assert "outcome=aborted" in gh.read_text()
    assert "Traceback" not in proc.stderr


def test_signals_python_ran_one_handler_for_are_each_counted():
    """Two SIGTERMs that came before Python could run its handler (a starved process) make
    one handler call; the wakeup pipe holds both, so the second still aborts."""
    import os

    read, write = os.pipe()
    os.set_blocking(read, False)
    policy = RunPolicy()
    policy.wakeup = read
    os.write(write, bytes([signal.SIGTERM, signal.SIGTERM]))
    with pytest.raises(Aborted):
        policy.on_signal(signal.SIGTERM)
    assert policy.signals == [signal.SIGTERM, signal.SIGTERM]
    os.close(read)
    os.close(write)


def test_a_signal_whose_byte_is_not_in_the_pipe_is_still_counted():
    """A signal that came before the pipe was set up (early in the interpreter's start-up:
    Python ran our handler for it later) has no byte: it counts itself, never lost."""
    import os

    read, write = os.pipe()
    os.set_blocking(read, False)
    policy = RunPolicy()
    policy.wakeup = read
    policy.on_signal(signal.SIGINT)  # nothing in the pipe
    assert policy.signals == [signal.SIGINT]
    assert policy.interrupted()
    os.write(write, bytes([signal.SIGTERM, 99]))  # another handler's signal is not ours
    with pytest.raises(Aborted):
        policy.on_signal(signal.SIGTERM)
    assert policy.signals == [signal.SIGINT, signal.SIGTERM]
    os.close(read)
    os.close(write)


def test_an_abort_during_an_import_waits_for_the_import_to_finish(tmp_path):
    """A second signal that arrives while a module is being imported is honoured at the next
    check, not in the middle of the module (which would leave it half made for the summary,
    as a signal in `import click` at start-up did)."""
    import subprocess
    import sys

    (tmp_path / "slow_module.py").write_text(
        "import os, signal\n"
        "os.kill(os.getpid(), signal.SIGTERM)  # the second signal, in the middle of the import\n"
        "for _ in range(10000):\n"
        "    pass  # bytecode after it: where Python runs the handler\n"
        "COMPLETE = True\n"
    )
    code = (
        "import signal, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from ecsdeploy.policy import Aborted, RunPolicy, install_signal_handlers\n"
        "policy = RunPolicy()\n"
        "install_signal_handlers(policy)\n"
        "policy.on_signal(signal.SIGTERM)  # the first: pending\n"
        "import slow_module\n"
        "print('imported', slow_module.COMPLETE, len(policy.signals))\n"
        "try:\n"
        "    policy.check('DescribeServices')\n"
        "except Aborted:\n"
        "    print('aborted at the check')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["imported True 2", "aborted at the check"]


def test_a_signal_that_lands_inside_the_wake_events_own_lock_does_not_hang():
    """The handler may run while the interrupted code holds the wake event's lock (inside its
    `set`, `wait` or `clear`); it must not wait for that lock (it would wait forever): it
    records the signal, and the sleepers are woken once the lock is free."""
    import subprocess
    import sys

    code = (
        "import os, signal\n"
        "from ecsdeploy.policy import RunPolicy, install_signal_handlers\n"
        "policy = RunPolicy()\n"
        "install_signal_handlers(policy)\n"
        "with policy._wake._cond:  # as if interrupted inside Event.set/wait/clear\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    for _ in range(10000):\n"
        "        pass  # the handler runs here\n"
        "    print('recorded', len(policy.signals))\n"
        "print('woken', policy._wake.wait(30))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["recorded 1", "woken True"]


def test_a_sigint_cpython_swallowed_in_its_own_start_up_still_stops_the_run(tmp_path):
    """A SIGINT in the interpreter's start-up can land where CPython prints the
    KeyboardInterrupt and carries on running the script (seen under load: "Failed checking
    if argv[0] is an import path entry"). CPython leaves it in sys.last_value: the run takes
    it as the cancel it was, before any AWS call."""
    proc, _ = _entry(
        tmp_path,
        "import sys\nsys.last_type, sys.last_value = KeyboardInterrupt, KeyboardInterrupt()\n",
    )
    assert proc.returncode == 130, proc.stderr
    assert '"outcome": "interrupted"' in proc.stdout
    assert "Traceback" not in proc.stderr


def test_a_signal_inside_the_handler_is_counted_after_the_one_it_interrupted():
    """Python runs a handler between any two bytecodes, the handler's own too: a SIGTERM
    that comes while the SIGINT's handler runs calls it again inside. It counts second, as
    it came (130, the first signal's code), and, as a second signal, aborts."""
    import os

    read, write = os.pipe()
    os.set_blocking(read, False)
    policy = RunPolicy()
    policy.wakeup = read
    pending = policy._pending
    nested: list[int] = []

    def interrupted_here() -> bool:  # where the SIGTERM lands: inside the SIGINT's record
        if not nested:
            nested.append(signal.SIGTERM)
            os.write(write, bytes([signal.SIGTERM]))
            policy.on_signal(signal.SIGTERM)
        return pending()

    policy._pending = interrupted_here  # type: ignore[method-assign]
    os.write(write, bytes([signal.SIGINT]))
    with pytest.raises(Aborted):
        policy.on_signal(signal.SIGINT)
    assert policy.signals == [signal.SIGINT, signal.SIGTERM]
    assert policy.exit_code == 130
    os.close(read)
    os.close(write)


def test_a_signal_inside_the_early_handler_is_counted_after_the_one_it_interrupted(tmp_path):
    """The same in the entry module's own handler (before the policy exists): a SIGTERM
    inside the SIGINT's handler counts second, and the run aborts with 130."""
    proc, _ = _entry(
        tmp_path,
        "import os, ecsdeploy.__main__ as m\n"
        "class Early(list):\n"
        "    nested = False\n"
        "    def extend(self, items):\n"
        "        if not Early.nested:\n"
        "            Early.nested = True\n"
        "            os.write(m._wake_write, bytes([15]))\n"
        "            m._record(15, None)\n"
        "        super().extend(items)\n"
        "m._EARLY = Early()\n"
        "os.write(m._wake_write, bytes([2]))\n"
        "m._record(2, None)\n",
    )
    assert proc.returncode == 130, proc.stderr
    assert '"outcome": "aborted"' in proc.stdout
    assert "Traceback" not in proc.stderr


def _entry(tmp_path: Any, prelude: str) -> tuple[Any, Any]:
    """Run `prelude`, then the entry module's main() as the console script does, for a
    deploy whose endpoint answers nothing (not cancelled, it would fail to connect: exit
    18); the process and its GITHUB_OUTPUT file."""
    import os
    import subprocess
    import sys

    gh = tmp_path / "gh"
    code = (
        f"{prelude}"
        "import sys, ecsdeploy.__main__ as m\n"
        "sys.argv = ['ecs-deploy', '-c', 'x', '-n', 'web', '-i', 'nginx', '--output', 'json']\n"
        "m.main()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    nowhere = {  # not cancelled, the run would fail to connect here: exit 18
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
    }
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **nowhere, "GITHUB_OUTPUT": str(gh)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc, gh
