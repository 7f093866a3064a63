"""`python -m ecsdeploy` and the `ecs-deploy` console script.

A CI job cancelled during start-up must end with its exit code and one line, never a
traceback. So the very first thing this module does is record SIGINT/SIGTERM, through
`_signal` (the C half of `signal`, which costs no `enum` import): the handlers are in place
a few milliseconds after the interpreter starts, before click or boto3 load. `main()` then
hands what they recorded to the run's policy. The only window left is the interpreter's own
start-up (site.py), before any code of ours can run.
"""

import _signal  # type: ignore[import-not-found]  # typeshed has no stub for the C half

_EARLY: list[int] = []


def _record(signum: int, _frame: object) -> None:
    _EARLY.append(signum)


for _sig in (_signal.SIGINT, _signal.SIGTERM):
    _signal.signal(_sig, _record)


def main() -> None:
    import sys

    if sys.argv[1:] == ["--version"]:  # what click prints, without loading click or the command
        import os

        from ecsdeploy import __version__

        try:  # a closed or broken stdout (`| head`, `>&-`) changes nothing: exit 0 as click
            sys.stdout.write(f"ecs-deploy, version {__version__}\n")
            sys.stdout.flush()
        except (AttributeError, OSError, ValueError):
            pass
        os._exit(0)
    from ecsdeploy.policy import Aborted, RunPolicy, install_signal_handlers

    policy = RunPolicy()
    install_signal_handlers(policy)
    try:
        for signum in list(_EARLY):  # what came before the policy existed
            policy.on_signal(signum)
        from ecsdeploy.cli import main as cli_main
    except Aborted:  # two signals before the command could even load; later ones are
        from ecsdeploy.cli import report_abort  # only recorded, so this import completes

        report_abort(policy)
    cli_main(policy=policy, fast_exit=True)


if __name__ == "__main__":
    main()
