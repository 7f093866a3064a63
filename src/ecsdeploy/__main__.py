"""`python -m ecsdeploy` and the `ecs-deploy` console script.

The signal handlers go in before anything heavy is imported (click, boto3): a CI job
cancelled during start-up ends with its exit code and one line, never a traceback.
"""

from ecsdeploy.policy import Aborted, RunPolicy, install_signal_handlers


def main() -> None:
    policy = RunPolicy()
    install_signal_handlers(policy)
    try:
        from ecsdeploy.cli import main as cli_main
    except Aborted:  # two signals before the command could even load
        raise SystemExit(int(policy.exit_code)) from None
    cli_main(policy=policy)


if __name__ == "__main__":
    main()
