"""What the command line means, validated: the run's configuration (`DeployConfig`) and the
limits of each value (the files an option names are read by files.py, the strategy options'
rules and merge are strategy.py's, the CodeDeploy options' codedeployconfig.py's).
`build_config` applies the rules in named groups, in the original's order (the exit code of
the first broken rule is the run's, so the order is part of the contract). Nothing here makes
an AWS call: bad input changes nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ecsdeploy.changes import Changes
from ecsdeploy.errors import EcsDeployError, ExitCode, UsageError
from ecsdeploy.files import MAX_ENV_FILE_BYTES, read_regular_file, read_task_definition_file
from ecsdeploy.image import ImageRef, parse_image, parse_tag
from ecsdeploy.limits import DEFAULT_LOG_LINES
from ecsdeploy.strategy import StrategyOverrides, check_native_options, strategy_overrides

if TYPE_CHECKING:
    from ecsdeploy.aws import AwsSettings


def split_services(values: tuple[str, ...]) -> tuple[str, ...]:
    """`-n a -n b,c` -> (a, b, c), in order, each once (ECS names hold no commas)."""
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    return tuple(names)


@dataclass(frozen=True)
class RunTaskConfig:
    launch_type: str | None = None
    platform_version: str | None = None
    network_configuration: Mapping[str, Any] | None = None
    wait_for_success: bool = False
    #: For this run only (containerOverrides; nothing is registered for them).
    commands: tuple[tuple[str, tuple[str, ...]], ...] = ()
    environment: tuple[tuple[str, str, str], ...] = ()

    def overrides(self) -> dict[str, Any]:
        """RunTask's `overrides` for the command and environment overrides (may be empty)."""
        by_name: dict[str, dict[str, Any]] = {}
        for name, words in self.commands:
            by_name.setdefault(name, {"name": name})["command"] = list(words)
        for name, key, value in self.environment:
            entry = by_name.setdefault(name, {"name": name})
            entry.setdefault("environment", []).append({"name": key, "value": value})
        return {"containerOverrides": list(by_name.values())} if by_name else {}


@dataclass(frozen=True)
class DeployConfig:
    """Everything a deploy needs, validated and parsed (cli.py builds it)."""

    cluster: str | None = None
    service: str | None = None
    task_definition: str | None = None
    image: ImageRef | None = None
    #: Every -i after the first (the build's other images), each for its repository.
    extra_images: tuple[ImageRef, ...] = ()
    tag_only: str | None = None
    containers: tuple[str, ...] = ()
    timeout: float = 90.0
    desired_count: int | None = None
    min_percent: int | None = None
    max_percent: int | None = None
    max_definitions: int | None = None
    taskdef_file: tuple[dict[str, Any], list[dict[str, str]]] | None = None
    allow_family_change: bool = False
    enable_rollback: bool = False
    force_new_deployment: bool = False
    skip_deployments_check: bool = False
    use_latest_task_def: bool = False
    copy_task_definition_tags: bool = False
    poll_interval: float = 1.0
    max_failed_tasks: int | None = None
    run_task: RunTaskConfig | None = None
    strategy: StrategyOverrides = field(default_factory=StrategyOverrides)
    wait_until: str = "complete"  # or traffic-shifted (native strategies)
    on_pause: str = "wait"  # or continue, rollback, exit (native strategies)
    resume: str | None = None  # continue or rollback: act on the paused deployment
    changes: Changes = field(default_factory=Changes)
    dry_run: bool = False
    revision: str | None = None  # FAMILY:REV, an ARN, or "previous"
    notices: tuple[str, ...] = ()  # said at the start of the run (e.g. -i ignored with -to)
    reregister: bool = False  # -i ignore without -to: a new, identical revision
    #: --pre-deploy: the migration's settings (the container's command in `commands`);
    #: run once with the new revision before the service is updated.
    pre_deploy: RunTaskConfig | None = None
    #: auto (every rule target and schedule of the family in the cluster), none, or names.
    scheduled_tasks: str = "auto"
    #: --scheduled-tasks was given (a one-off task's default `none` moves none, but pruning
    #: still looks, so that it never deregisters a revision a scheduled task runs).
    scheduled_tasks_given: bool = False
    log_lines: int = DEFAULT_LOG_LINES  # of each failed container's log; 0: none
    preflight: bool = True  # check that images, secrets and log groups exist first
    services: tuple[str, ...] = ()  # every -n: more than one makes a release (release.py)
    atomic: bool = False
    #: A CODE_DEPLOY service: its CodeDeploy application and deployment group (both or
    #: neither: found by listing), and the AppSpec template (--codedeploy-appspec, parsed).
    codedeploy_application: str | None = None
    codedeploy_group: str | None = None
    codedeploy_appspec: dict[str, Any] | None = None
    #: --migrate-to-native: move the CODE_DEPLOY service onto ECS's controller (migration.py),
    #: with this role for ECS to change the load balancer.
    migrate_to_native: bool = False
    infrastructure_role_arn: str | None = None


def _fail(code: ExitCode, message: str) -> EcsDeployError:
    return EcsDeployError(message, code)


def build_config(opts: dict[str, Any]) -> tuple[DeployConfig, AwsSettings]:
    """Validate every option before any AWS call, rule group by rule group in the original's
    order: the first rule broken decides the exit code."""
    services: tuple[str, ...] = tuple(opts["service"] or ())
    given_images: tuple[str, ...] = tuple(opts["image"] or ())
    opts = {
        **opts,
        "service": services[0] if services else None,
        "image": given_images[0] if given_images else None,
    }
    notices: list[str] = []
    _check_target(opts, services)
    _check_names(opts, services)
    changes = build_changes(opts)
    if opts["migrate_to_native"] or opts["infrastructure_role_arn"]:
        from ecsdeploy.codedeployconfig import check_migration

        check_migration(opts, services, changes)
    _check_what_to_deploy(opts, changes)
    max_definitions = _max_definitions(opts["max_definitions"])
    _check_one_off_task_options(opts)
    image, tag_only, reregister, opts = _image(opts, notices)
    extra_images = _extra_images(given_images[1:], image, opts)
    _check_aws_access(opts)
    _check_combinations(opts)
    taskdef_file = None
    if opts["task_definition_file"]:
        taskdef_file = read_task_definition_file(opts["task_definition_file"])
    config = DeployConfig(
        cluster=opts["cluster"],
        service=opts["service"],
        task_definition=opts["task_definition"],
        image=image,
        extra_images=extra_images,
        tag_only=tag_only,
        containers=tuple(opts["containers"]),
        timeout=opts["timeout"],
        desired_count=opts["desired_count"],
        min_percent=opts["min_percent"],
        max_percent=opts["max_percent"],
        max_definitions=max_definitions,
        taskdef_file=taskdef_file,
        allow_family_change=opts["allow_family_change"],
        enable_rollback=opts["enable_rollback"],
        force_new_deployment=opts["force_new_deployment"],
        skip_deployments_check=opts["skip_deployments_check"],
        use_latest_task_def=opts["use_latest_task_def"],
        copy_task_definition_tags=opts["copy_task_definition_tags"],
        poll_interval=opts["poll_interval"],
        max_failed_tasks=opts["max_failed_tasks"],
        run_task=_run_task(opts),
        pre_deploy=_run_task(opts, pre_deploy=True),
        strategy=strategy_overrides(opts),
        wait_until=opts["wait_until"],
        on_pause=opts["on_pause"],
        resume=opts["resume"],
        changes=changes,
        dry_run=opts["dry_run"],
        revision=opts["revision"],
        notices=tuple(notices),
        reregister=reregister,
        log_lines=opts["log_lines"],
        scheduled_tasks=_scheduled_tasks(opts),
        scheduled_tasks_given=opts["scheduled_tasks"] is not None,
        preflight=not opts["no_preflight"],
        services=services,
        atomic=opts["atomic"],
        codedeploy_application=opts.get("codedeploy_application"),
        codedeploy_group=opts.get("codedeploy_group"),
        codedeploy_appspec=_codedeploy_appspec(opts, services),
        migrate_to_native=opts["migrate_to_native"],
        infrastructure_role_arn=opts["infrastructure_role_arn"],
    )
    return config, _aws_settings(opts)


def _codedeploy_appspec(opts: dict[str, Any], services: tuple[str, ...]) -> dict[str, Any] | None:
    """The CodeDeploy options, checked, and the AppSpec template read: their rules load only
    when one is given (a plain deploy never needs them)."""
    if not any(
        opts.get(key)
        for key in ("codedeploy_application", "codedeploy_group", "codedeploy_appspec")
    ):
        return None
    from ecsdeploy.codedeployconfig import codedeploy_appspec

    return codedeploy_appspec(opts, services)


# -- the rule groups, in the order build_config applies them ----------------------------------


def _check_target(opts: dict[str, Any], services: tuple[str, ...]) -> None:
    """What is deployed where: a service (with its cluster) or a task definition (5, 6, 7)."""
    service, taskdef_name, cluster = opts["service"], opts["task_definition"], opts["cluster"]
    _check_release_options(opts, services)
    if not service and not taskdef_name:
        raise _fail(
            ExitCode.NO_SERVICE_OR_TASK_DEFINITION,
            "One of -n/--service-name or -d/--task-definition is required",
        )
    if service and taskdef_name:
        raise _fail(
            ExitCode.SERVICE_AND_TASK_DEFINITION,
            "Give -n/--service-name or -d/--task-definition, not both",
        )
    if service and not cluster:
        raise _fail(ExitCode.SERVICE_WITHOUT_CLUSTER, "-n/--service-name needs -c/--cluster")
    check_native_options(opts)


#: A cluster, service or task-definition family name, by ECS's rule: up to 255 letters,
#: numbers, hyphens and underscores; or the resource's ARN (printable, no spaces).
_ECS_NAME = r"[A-Za-z0-9_-]{1,255}"
_NAME = re.compile(_ECS_NAME)
_ECS_ARN = re.compile(r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_/:.-]{1,1500}")


def _check_names(opts: dict[str, Any], services: tuple[str, ...]) -> None:
    """-c, -n and -d hold ECS names (or ARNs): anything else (a space, a newline, a dot)
    would only fail at AWS, or be printed where a name is expected. Exit 3, before any call."""
    given = [("-c/--cluster", opts["cluster"], _NAME)]
    given += [("-n/--service-name", name, _NAME) for name in services]
    given.append(("-d/--task-definition", opts["task_definition"], _REVISION))
    for option, value, shape in given:
        if value is None or shape.fullmatch(value) or _ECS_ARN.fullmatch(value):
            continue
        raise UsageError(
            f"{option} {value!a} is not an ECS name: up to 255 letters, numbers, hyphens "
            "and underscores (or the resource's ARN)"
        )


def _check_what_to_deploy(opts: dict[str, Any], changes: Changes) -> None:
    """Something to deploy: an image, a tag, a change, a revision, a restart, a resume (8)."""
    _check_revision_options(opts, changes)
    if (
        opts["image"] is None
        and not opts["tag_only"]
        and not opts["force_new_deployment"]
        and not opts["resume"]
        and not opts["revision"]
        and not opts["run_task"]  # runs the current revision as it is (overrides aside)
        and not opts["migrate_to_native"]
        and not changes.given
    ):
        raise _fail(
            ExitCode.NO_IMAGE,
            "-i/--image is required (or -to/--tag-only, --force-new-deployment, --revision, "
            "or a change such as --env)",
        )


def _max_definitions(value: str | None) -> int | None:
    """--max-definitions: a whole number (9)."""
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]+", value):  # str.isdigit() takes "²"
        raise _fail(
            ExitCode.MAX_DEFINITIONS_NOT_NUMERIC,
            f"--max-definitions must be a whole number, not {value!r}",
        )
    return int(value)


def _check_one_off_task_options(opts: dict[str, Any]) -> None:
    """The --run-task options need --run-task (or --pre-deploy, which runs one too), and
    --run-task needs -d, --pre-deploy -n (10, 11, 12, 3)."""
    if opts["pre_deploy"] and not opts["service"]:
        raise UsageError("--pre-deploy runs before a service moves: use it with -c and -n")
    if opts["pre_deploy"] and opts["resume"]:
        raise UsageError("--pre-deploy runs before a new deployment: drop --resume")
    if not opts["run_task"] and not opts["pre_deploy"]:
        for key, flag in (
            ("run_task_commands", "--run-task-command"),
            ("run_task_env", "--run-task-env"),
        ):
            if opts[key]:
                raise UsageError(f"{flag} is only valid with --run-task or --pre-deploy")
    if opts["run_task_commands"] and opts["pre_deploy"]:
        raise UsageError("--pre-deploy gives the migration's command: drop --run-task-command")
    if not opts["run_task"] and not opts["pre_deploy"]:
        for key, flag, code in (
            (
                "network_configuration",
                "--network-configuration",
                ExitCode.NETWORK_CONFIGURATION_WITHOUT_RUN_TASK,
            ),
            ("launch_type", "--launch-type", ExitCode.LAUNCH_TYPE_WITHOUT_RUN_TASK),
            ("platform_version", "--platform-version", ExitCode.PLATFORM_VERSION_WITHOUT_RUN_TASK),
        ):
            if opts[key]:
                raise _fail(code, f"{flag} is only valid with --run-task")
    if opts["wait_for_success"] and not opts["run_task"]:
        raise UsageError("--wait-for-success is only valid with --run-task")
    if opts["run_task"] and opts["service"]:
        raise UsageError("--run-task runs a task definition: use it with -d, not -n")


def _image(
    opts: dict[str, Any], notices: list[str]
) -> tuple[ImageRef | None, str | None, bool, dict[str, Any]]:
    """The image (13), -to, -i ignore, -e and --container: (image, tag, reregister, opts)."""
    image = tag_only = None
    if opts["tag_only"] and opts["image"] is not None:
        notices.append(
            "-i/--image is ignored with -to/--tag-only (as the bash ecs-deploy does): every "
            "container's image keeps its repository and gets the new tag"
        )
        opts = {**opts, "image": None}
    reregister = False
    if opts["image"] == "ignore" and not opts["tag_only"]:
        notices.append(
            "-i ignore without -to: registering an identical copy of the current revision and "
            "deploying it (as the bash ecs-deploy does); --force-new-deployment restarts the "
            "tasks without a new revision"
        )
        opts, reregister = {**opts, "image": None}, True
    if opts["image"] is not None:
        image = parse_image(opts["image"])
        if opts["tag_env_var"]:
            tag = os.environ.get(opts["tag_env_var"]) or "latest"
            image = image.with_tag(parse_tag(tag))
    if opts["tag_only"]:
        tag_only = parse_tag(opts["tag_only"])
    if opts["containers"] and not image:
        raise UsageError("--container needs -i/--image")
    return image, tag_only, reregister, opts


def _extra_images(
    given: tuple[str, ...], first: ImageRef | None, opts: dict[str, Any]
) -> tuple[ImageRef, ...]:
    """Every -i after the first: one image of the build each, for the containers of its
    repository; two of one repository (with different tags or digests) is a mistake."""
    if not given or first is None:
        if given and opts["tag_only"]:
            return ()  # -to: every -i is ignored, as the first one is (notice said)
        if given:
            raise UsageError("-i ignore redeploys what runs: give it alone, without other -i")
        return ()
    if opts["containers"]:
        raise UsageError("--container names the containers of one image: give a single -i")
    images = [first]
    for text in given:
        image = parse_image(text)
        if opts["tag_env_var"]:
            image = image.with_tag(parse_tag(os.environ.get(opts["tag_env_var"]) or "latest"))
        twin = next(
            (i for i in images if i.canonical_repository == image.canonical_repository), None
        )
        if twin is not None:
            if str(twin) == str(image):
                continue
            raise UsageError(
                f"-i {twin} and -i {image} name one repository twice: give each repository once"
            )
        images.append(image)
    return tuple(images[1:])


def _check_aws_access(opts: dict[str, Any]) -> None:
    """-k and -s come as a pair; a region is a region name."""
    if bool(opts["access_key"]) != bool(opts["secret_key"]):
        given, missing = (
            ("-k/--aws-access-key", "-s/--aws-secret-key")
            if opts["access_key"]
            else ("-s/--aws-secret-key", "-k/--aws-access-key")
        )
        raise UsageError(f"{given} needs {missing} as well (or neither, for the credential chain)")
    if opts["region"] is not None and not _REGION.fullmatch(opts["region"]):
        raise UsageError(
            f"-r/--region {opts['region']!r} is not a region name; use one like us-east-1"
        )


def _check_combinations(opts: dict[str, Any]) -> None:
    if opts["allow_family_change"] and not (opts["task_definition_file"] or opts["revision"]):
        raise UsageError(
            "--allow-family-change is only valid with --task-definition-file or --revision"
        )
    if opts["dry_run"] and opts["resume"]:
        raise UsageError("--dry-run cannot be used with --resume: resuming is its only action")


def _scheduled_tasks(opts: dict[str, Any]) -> str:
    """--scheduled-tasks, or its default: scheduled tasks follow a service deploy (or a
    registration), never a one-off task (-d with --run-task) unless asked; its revision is
    not one a service has run."""
    if opts["scheduled_tasks"] is not None:
        return _scheduled_names(str(opts["scheduled_tasks"]))
    return "none" if opts["run_task"] and not opts["service"] else "auto"


#: --scheduled-tasks's keywords, which stand alone (any case).
_SCHEDULED_KEYWORDS = ("auto", "none")


def _scheduled_names(value: str) -> str:
    """--scheduled-tasks's value, checked: `auto` or `none` alone (any case), or names. A
    value with no name in it (`""`, `","`) is an error, never a silent `none`. (An empty
    ECS_DEPLOY_SCHEDULED_TASKS is unset, as every empty variable is: the default.)"""
    names = [n.strip() for n in value.split(",") if n.strip()]
    keywords = [n for n in names if n.lower() in _SCHEDULED_KEYWORDS]
    if not names:
        raise UsageError(
            f"--scheduled-tasks {value!r} names no rule or schedule: pass none to turn the "
            "moves off, auto to move every one, or the names, comma-separated"
        )
    if keywords and len(names) > 1:
        raise UsageError(
            f"--scheduled-tasks {value!r}: {keywords[0]} stands alone; give auto, none, or "
            "the names of the rules or schedules, comma-separated"
        )
    return names[0].lower() if keywords else ",".join(names)


def _run_task(opts: dict[str, Any], *, pre_deploy: bool = False) -> RunTaskConfig | None:
    """--run-task's settings (or, with `pre_deploy`, --pre-deploy's migration): the one-off
    task's placement (--network-configuration parsed: JSON or shorthand), its overrides."""
    if not (opts["pre_deploy"] if pre_deploy else opts["run_task"]):
        return None
    from ecsdeploy.changes import parse_command, split_pair
    from ecsdeploy.netconfig import parse_network_configuration

    network = None
    if opts["network_configuration"]:
        network = parse_network_configuration(opts["network_configuration"])
    commands = tuple(
        (c, parse_command(v, "--run-task-command")) for c, v in opts["run_task_commands"]
    )
    if pre_deploy:
        container, command = opts["pre_deploy"]
        commands = ((container, parse_command(command, "--pre-deploy")),)
    return RunTaskConfig(
        launch_type=opts["launch_type"],
        platform_version=opts["platform_version"],
        network_configuration=network,
        wait_for_success=True if pre_deploy else opts["wait_for_success"],
        commands=commands,
        environment=tuple((c, *split_pair(v, "--run-task-env")) for c, v in opts["run_task_env"]),
    )


def _aws_settings(opts: dict[str, Any]) -> AwsSettings:
    from ecsdeploy.aws import AwsSettings

    return AwsSettings(
        region=opts["region"],
        profile=opts["profile"],
        access_key_id=opts["access_key"],
        secret_access_key=opts["secret_key"],
        assume_role_arn=opts["assume_role"],
    )


def _check_release_options(opts: dict[str, Any], services: tuple[str, ...]) -> None:
    """What a release of several services cannot take."""
    if opts["atomic"] and len(services) < 2:
        raise UsageError(
            "--atomic rolls a release of several services back as a whole: give -n twice or more"
        )
    if len(services) < 2:
        return
    if opts["atomic"] and opts["on_pause"] == "exit":
        raise UsageError(
            "--atomic cannot take --on-pause exit: a service left paused at a hook could not "
            "be rolled back with the release; use --on-pause wait, continue or rollback"
        )
    for key, flag in (
        ("resume", "--resume"),
        ("task_definition_file", "--task-definition-file"),
    ):
        if opts[key]:
            raise UsageError(f"{flag} acts on one service: give a single -n")
    if opts["revision"] not in (None, "previous"):
        raise UsageError(
            "--revision FAMILY:REV names one service's revision: give a single -n (or "
            "--revision previous, which each service resolves for itself)"
        )


def build_changes(opts: dict[str, Any]) -> Changes:
    """The change options, parsed and checked (each bad value: one line, exit 3). Env files
    are read here, before any AWS call."""
    from ecsdeploy.changes import (
        Changes,
        check_role_arn,
        check_value_from,
        parse_command,
        parse_env_file,
        split_pair,
    )

    env: list[tuple[str, str, str]] = []
    for container, path in opts["env_file"]:
        raw = read_regular_file(path, "--env-file", MAX_ENV_FILE_BYTES, UsageError)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            why = f"not UTF-8 text (byte {exc.start})"
            raise UsageError(f"Cannot read --env-file {path}: {why}") from exc
        env.extend((container, k, v) for k, v in parse_env_file(text, f"--env-file {path}"))
    env.extend((c, *split_pair(v, "--env")) for c, v in opts["env"])
    secrets = []
    for container, value in opts["secret"]:
        name, value_from = split_pair(value, "--secret", "NAME=VALUE_FROM")
        secrets.append((container, name, check_value_from(value_from)))
    return Changes(
        env=tuple(env),
        unset_env=tuple(opts["unset_env"]),
        secrets=tuple(secrets),
        unset_secrets=tuple(opts["unset_secret"]),
        command=tuple((c, parse_command(v)) for c, v in opts["commands"]),
        cpu=tuple(opts["cpu"]),
        memory=tuple(opts["memory"]),
        memory_reservation=tuple(opts["memory_reservation"]),
        docker_labels=tuple((c, *split_pair(v, "--docker-label")) for c, v in opts["docker_label"]),
        task_cpu=_checked(opts["task_cpu"], "--task-cpu", "cpu"),
        task_memory=_checked(opts["task_memory"], "--task-memory", "memory"),
        task_role=opts["task_role"] and check_role_arn(opts["task_role"], "--task-role"),
        execution_role=opts["execution_role"]
        and check_role_arn(opts["execution_role"], "--execution-role"),
    )


def _checked(value: str | None, option: str, kind: str) -> str | None:
    from ecsdeploy.changes import cpu_units, memory_mib

    if value is None:
        return None
    parse, example = (
        (cpu_units, "1024 or 1 vCPU") if kind == "cpu" else (memory_mib, "2048 or 2 GB")
    )
    if parse(value) is None or parse(value) == 0:
        raise UsageError(f"{option} must be a positive amount, e.g. {example}")
    return value.strip()


#: --revision: FAMILY, FAMILY:REVISION or a task-definition ARN (ECS's own rules for each).
_REVISION = re.compile(rf"{_ECS_NAME}(?::[1-9][0-9]{{0,9}})?")
_REVISION_ARN = re.compile(
    rf"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{{12}}:task-definition/{_ECS_NAME}:[1-9][0-9]{{0,9}}"
)


def _check_revision_options(opts: dict[str, Any], changes: Changes) -> None:
    """--revision deploys an existing revision as it is: nothing may change it."""
    if not opts["revision"]:
        return
    wanted = opts["revision"]
    if wanted != "previous" and not (
        _REVISION.fullmatch(wanted) or _REVISION_ARN.fullmatch(wanted)
    ):
        raise UsageError(
            "--revision takes FAMILY:REVISION (a revision number), FAMILY (its newest ACTIVE "
            "revision), a task-definition ARN, or previous"
        )
    if not opts["service"]:
        raise UsageError("--revision points a service at a revision: use it with -c and -n")
    conflicting = [
        flag
        for key, flag in (
            ("image", "-i/--image"),
            ("tag_only", "-to/--tag-only"),
            ("task_definition_file", "--task-definition-file"),
            ("use_latest_task_def", "--use-latest-task-def"),
            ("copy_task_definition_tags", "--copy-task-definition-tags"),
            ("containers", "--container"),
            ("resume", "--resume"),
        )
        if opts[key]
    ]
    if changes.given:
        conflicting.append("the change options (--env, --secret, ...)")
    if conflicting:
        raise UsageError(
            f"--revision deploys an existing revision as it is: drop {', '.join(conflicting)}"
        )


#: botocore's own rule for region names (it raises InvalidRegionError past it).
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?")
