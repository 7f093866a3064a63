"""The GitHub Action's entry point (`python -m ecsdeploy.action`, run by action.yml's deploy
step): the inputs arrive as environment variables, never in the step's script text, and
become one `ecs-deploy` command line.

- Our own inputs (kebab-case: `service-name`, `enable-rollback`, ...) are passed by action.yml
  as the options' own ECS_DEPLOY_<LONG NAME> variables, which the command reads itself.
- The original Action's inputs (snake_case: `service_name`, `enable_rollback`, ...) and its
  `<input>_cmd` companions, which held the flag to pass, arrive as ECS_DEPLOY_ACTION_<NAME>
  and become arguments here, so a workflow written for silinternational/ecs-deploy works when
  only its `uses:` changes. As that Action does, such a workflow gets `--min 100 --max 200`
  unless it sets them.
- `args` (ECS_DEPLOY_ACTION_ARGS) is split as a shell would split words: quotes honoured, no
  variable, command or glob expansion.

`arguments` is pure; `main` reads the environment and runs the command.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

from ecsdeploy.errors import ExitCode

PREFIX = "ECS_DEPLOY_ACTION_"

#: The original Action's value inputs, and the option each names.
LEGACY_VALUES = {
    "aws_access_key": "--aws-access-key",
    "aws_secret_key": "--aws-secret-key",
    "aws_assume_role": "--aws-assume-role",
    "service_name": "--service-name",
    "task_definition": "--task-definition",
    "desired_count": "--desired-count",
    "tag_env_var": "--tag-env-var",
    "tag_only": "--tag-only",
    "max_definitions": "--max-definitions",
}
#: The original Action's flag inputs ("true" or, with their `_cmd` input set, empty).
LEGACY_FLAGS = {
    "enable_rollback": "--enable-rollback",
    "use_latest_task_def": "--use-latest-task-def",
    "force_new_deployment": "--force-new-deployment",
    "run_task": "--run-task",
    "wait_for_success": "--wait-for-success",
    "skip_deployments_check": "--skip-deployments-check",
    "copy_task_definition_tags": "--copy-task-definition-tags",
}
#: Inputs both Actions name alike (cluster, image, region, profile, timeout, min, max): they
#: reach the command as its own ECS_DEPLOY_ variables; only their `_cmd` companions are read.
SHARED = ("cluster", "image", "region", "profile", "timeout", "min", "max", "verbose")
#: What the original Action passes when a workflow leaves them out (its inputs' defaults).
LEGACY_DEFAULTS = {"min": ("--min", "100"), "max": ("--max", "200")}

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class ActionInputError(ValueError):
    """An input that cannot become an argument (exit 3, as any usage error)."""

    code = ExitCode.USAGE


def legacy_inputs() -> list[str]:
    """Every original input name action.yml must declare (values, flags, `_cmd`s)."""
    names = [*LEGACY_VALUES, *LEGACY_FLAGS]
    return [*names, *(f"{n}_cmd" for n in [*names, *SHARED])]


def _flag_on(name: str, value: str, cmd: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    if word:
        raise ActionInputError(f"input {name} must be true or false")
    return bool(cmd.strip())


def arguments(environ: Mapping[str, str]) -> list[str]:
    """The command line the Action's inputs ask for. Pure."""

    def given(name: str) -> str:
        return environ.get(f"{PREFIX}{name.upper()}", "")

    argv: list[str] = []
    legacy = any(given(n) for n in legacy_inputs())
    for name, flag in LEGACY_VALUES.items():
        if given(name):
            argv += [flag, given(name)]
    for name, flag in LEGACY_FLAGS.items():
        if _flag_on(name, given(name), given(f"{name}_cmd")):
            argv.append(flag)
    if legacy:
        for name, (flag, default) in LEGACY_DEFAULTS.items():
            if not environ.get(f"ECS_DEPLOY_{name.upper()}"):
                argv += [flag, default]
    try:
        argv += shlex.split(given("args"), comments=False, posix=True)
    except ValueError as exc:
        raise ActionInputError(f"input args cannot be split into words: {exc}") from exc
    return argv


def main() -> None:
    """Run `ecs-deploy` with the Action's inputs."""
    from ecsdeploy.cli import main as cli_main
    from ecsdeploy.result import DeployResult

    try:
        argv = arguments(os.environ)
    except ActionInputError as exc:
        from ecsdeploy.output import Reporter

        Reporter().summary(DeployResult.failure(exc.code, str(exc)))
        raise SystemExit(int(exc.code)) from exc
    cli_main(argv)


if __name__ == "__main__":
    main()
