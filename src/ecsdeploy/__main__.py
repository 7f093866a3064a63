"""`python -m ecsdeploy` and the `ecs-deploy` console script.

A CI job cancelled during start-up must end with its exit code and one line, never a
traceback. So the very first thing this module does is record SIGINT/SIGTERM, through
`_signal` (the C half of `signal`, which costs no `enum` import): the handlers are in place
a few milliseconds after the interpreter starts, before click or boto3 load. `main()` then
hands what they recorded to the run's policy. The only window left is the interpreter's own
start-up (site.py), before any code of ours can run.

Python runs a handler once for any number of the same signal that arrived before it could
run (a starved process on a busy runner): two quick Ctrl-Cs would count as one. So the C
half also writes each signal's number to a pipe (`set_wakeup_fd`), and the handlers count
the signals there.
"""

import _signal  # type: ignore[import-not-found]  # typeshed has no stub for the C half
import os

_EARLY: list[int] = []
_WAKE_READ, _wake_write = os.pipe()
os.set_blocking(_WAKE_READ, False)
os.set_blocking(_wake_write, False)


_CALLS: list[int] = []  # the handler's calls not yet recorded (see _record)
_HANDLING = [False]


def _record(signum: int, _frame: object) -> None:
    """Every signal in the pipe (policy.delivered's rule, without importing it here). A call
    inside a running one (a signal between two of its bytecodes) leaves its signal to the
    outer call, which reads the pipe again: the order stays the order of arrival
    (RunPolicy.on_signal)."""
    _CALLS.append(signum)
    if _HANDLING[0]:
        return
    _HANDLING[0] = True
    while _CALLS:
        calls = _CALLS[:]
        del _CALLS[: len(calls)]
        try:
            seen = os.read(_WAKE_READ, 64)
        except OSError:  # empty (nothing written: see below)
            seen = b""
        # none in the pipe: the signal came before the pipe was set up; count it itself
        _EARLY.extend([s for s in seen if s in (_signal.SIGINT, _signal.SIGTERM)] or calls)
    _HANDLING[0] = False


_signal.set_wakeup_fd(_wake_write, warn_on_full_buffer=False)  # before a handler can run
for _sig in (_signal.SIGINT, _signal.SIGTERM):
    _signal.signal(_sig, _record)
# A SIGINT in the interpreter's own start-up can raise its KeyboardInterrupt where CPython
# prints it and carries on ("Failed checking if argv[0] is an import path entry"): the run
# would go on after the cancel. CPython keeps what it printed in sys.last_value.
if isinstance(getattr(__import__("sys"), "last_value", None), KeyboardInterrupt):
    _EARLY.append(_signal.SIGINT)


def main() -> None:
    import sys

    if sys.argv[1:] == ["--version"]:  # what click prints, without loading click or the command
        from ecsdeploy import __version__

        try:  # a closed or broken stdout (`| head`, `>&-`) changes nothing: exit 0 as click
            sys.stdout.write(f"ecs-deploy, version {__version__}\n")
            sys.stdout.flush()
        except (AttributeError, OSError, ValueError):
            pass
        os._exit(0)
    from ecsdeploy.policy import Aborted, RunPolicy, install_signal_handlers

    policy = RunPolicy()
    install_signal_handlers(policy, wakeup=_WAKE_READ)
    try:
        for signum in list(_EARLY):  # what came before the policy existed
            policy.record(signum)
        from ecsdeploy.cli import main as cli_main

        policy.raise_if_aborted()  # asked for while the command was being imported
    except Aborted:  # two signals before the command could even load; later ones are
        from ecsdeploy.cli import report_abort  # only recorded, so this import completes

        report_abort(policy)
    cli_main(policy=policy, fast_exit=True)


if __name__ == "__main__":
    main()
