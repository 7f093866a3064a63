"""What the CodeDeploy options mean, validated: --codedeploy-application and
--codedeploy-group (both or neither), the AppSpec template (--codedeploy-appspec, read and
parsed here) and --migrate-to-native with its --infrastructure-role-arn. Loaded by config.py
only when one of them is given; nothing here makes an AWS call.
"""

from __future__ import annotations

from typing import Any

from ecsdeploy.changes import Changes
from ecsdeploy.errors import UsageError
from ecsdeploy.files import read_regular_file
from ecsdeploy.strategy import STRATEGY_OPTIONS

#: An AppSpec template is a few KB; this bounds what is read.
MAX_APPSPEC_BYTES = 256 * 1024


def codedeploy_appspec(opts: dict[str, Any], services: tuple[str, ...]) -> dict[str, Any] | None:
    """--codedeploy-application/--codedeploy-group go together, with a service; the AppSpec
    template is read and parsed here, before any AWS call."""
    app, group, path = (
        opts.get("codedeploy_application"),
        opts.get("codedeploy_group"),
        opts.get("codedeploy_appspec"),
    )
    if bool(app) != bool(group):
        raise UsageError(
            "--codedeploy-application and --codedeploy-group go together: give both, or "
            "neither (the group that deploys the service is then looked up)"
        )
    if app or path:
        _one_service("--codedeploy-application" if app else "--codedeploy-appspec", opts, services)
    if not path:
        return None
    if opts["resume"]:
        raise UsageError(
            "--resume acts on the deployment already waiting: drop --codedeploy-appspec"
        )
    from ecsdeploy.appspec import parse_template

    raw = read_regular_file(path, "--codedeploy-appspec", MAX_APPSPEC_BYTES, UsageError)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"Cannot read --codedeploy-appspec {path}: not UTF-8 text (byte {exc.start})"
        ) from exc
    return parse_template(text, f"--codedeploy-appspec {path}", MAX_APPSPEC_BYTES)


def _one_service(flag: str, opts: dict[str, Any], services: tuple[str, ...]) -> None:
    """An option that acts on exactly one service (-c and a single -n)."""
    if not opts["service"]:
        raise UsageError(f"{flag} acts on a service: use it with -c and -n")
    if len(services) > 1:
        raise UsageError(f"{flag} acts on one service: give a single -n")


#: What --migrate-to-native cannot take: it changes the controller and its configuration
#: only (migrate, then deploy).
_NOT_WITH_MIGRATION = {
    "image": "-i/--image",
    "force_new_deployment": "--force-new-deployment",
    "tag_only": "-to/--tag-only",
    "revision": "--revision",
    "resume": "--resume",
    "task_definition_file": "--task-definition-file",
    "use_latest_task_def": "--use-latest-task-def",
    "pre_deploy": "--pre-deploy",
    "desired_count": "-D/--desired-count",
    "min_percent": "-m/--min",
    "max_percent": "-M/--max",
    "max_definitions": "--max-definitions",
    "codedeploy_appspec": "--codedeploy-appspec",
}


def check_migration(opts: dict[str, Any], services: tuple[str, ...], changes: Changes) -> None:
    """--migrate-to-native moves one service's controller and nothing else; it needs the
    infrastructure role, which nothing else takes."""
    role = opts["infrastructure_role_arn"]
    if not opts["migrate_to_native"]:
        if role:
            raise UsageError("--infrastructure-role-arn is only valid with --migrate-to-native")
        return
    _one_service("--migrate-to-native", opts, services)
    given = [
        flag for key, flag in _NOT_WITH_MIGRATION.items() if opts.get(key) not in (None, False)
    ]
    if changes.given:
        given.append("the change options (--env, --secret, ...)")
    if given:
        raise UsageError(
            f"--migrate-to-native changes the deployment controller only: drop "
            f"{', '.join(given)} (migrate, then deploy)"
        )
    if not role:
        raise UsageError(
            "--migrate-to-native needs --infrastructure-role-arn ARN: the role ECS assumes to "
            "shift traffic on the load balancer"
        )
    from ecsdeploy.changes import check_role_arn

    check_role_arn(role, "--infrastructure-role-arn")
    if opts["strategy"] == "rolling":
        raise UsageError(
            "--migrate-to-native moves the service to ECS's blue/green, linear or canary "
            "deployments: drop --strategy rolling (or pass blue-green, linear or canary)"
        )
    steps = {
        "canary": ("canary_percent", "canary_bake_time"),
        "linear": ("linear_step_percent", "linear_step_bake_time"),
    }.get(opts["strategy"] or "", ())
    missing = [STRATEGY_OPTIONS[key] for key in steps if opts.get(key) is None]
    if missing:
        raise UsageError(
            f"--migrate-to-native --strategy {opts['strategy']} replaces the deployment "
            f"group's configuration, so it needs {' and '.join(missing)}; to keep the group's "
            f"own {opts['strategy']} steps, drop --strategy"
        )
