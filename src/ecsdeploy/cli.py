"""`ecs-deploy`: click options -> a validated DeployConfig -> one call into deploy.

Only this module turns an error into an exit code. boto3 is imported only once a deploy
runs, so `--help` and `--version` stay fast.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ecsdeploy import __version__
from ecsdeploy.errors import EcsDeployError, ExitCode, UsageError
from ecsdeploy.image import parse_image, parse_tag
from ecsdeploy.output import Level, Reporter

if TYPE_CHECKING:
    from ecsdeploy.aws import AwsSettings
    from ecsdeploy.deploy import DeployConfig

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _fail(code: ExitCode, message: str) -> EcsDeployError:
    return EcsDeployError(message, code)


@click.command(context_settings=CONTEXT)
@click.option(
    "-k",
    "--aws-access-key",
    "access_key",
    metavar="KEY",
    help="AWS access key id (default: the standard credential chain).",
)
@click.option(
    "-s", "--aws-secret-key", "secret_key", metavar="SECRET", help="AWS secret access key."
)
@click.option("-r", "--region", metavar="REGION", help="AWS region (default: AWS_DEFAULT_REGION).")
@click.option("-p", "--profile", metavar="NAME", help="AWS profile from ~/.aws/config.")
@click.option(
    "-a",
    "--aws-assume-role",
    "assume_role",
    metavar="ROLE_ARN",
    help="Assume this IAM role (STS) before deploying.",
)
@click.option(
    "--aws-instance-profile",
    is_flag=True,
    help="Use the instance profile (accepted for compatibility: the standard chain "
    "already uses it).",
)
@click.option("-c", "--cluster", metavar="NAME", help="ECS cluster of the service.")
@click.option("-n", "--service-name", "service", metavar="NAME", help="ECS service to deploy.")
@click.option(
    "-d",
    "--task-definition",
    "task_definition",
    metavar="TASKDEF",
    help="Task definition family, family:revision or ARN to update (without -n).",
)
@click.option(
    "-i",
    "--image",
    metavar="IMAGE",
    help="New image: [registry[:port]/][path/]name[:tag|@sha256:digest].",
)
@click.option(
    "-e",
    "--tag-env-var",
    metavar="VAR",
    help="Take the image tag from this environment variable (unset/empty: latest).",
)
@click.option(
    "-to",
    "--tag-only",
    metavar="TAG",
    help="Put TAG on every container's image, changing only the tag.",
)
@click.option(
    "--container",
    "containers",
    multiple=True,
    metavar="NAME",
    help="Put the image on this container (repeatable), whatever its repository.",
)
@click.option(
    "-D",
    "--desired-count",
    type=click.IntRange(min=0),
    metavar="N",
    help="Set the service's desired task count.",
)
@click.option(
    "-m",
    "--min",
    "min_percent",
    type=click.IntRange(min=0),
    metavar="PERCENT",
    help="minimumHealthyPercent for the rollout.",
)
@click.option(
    "-M",
    "--max",
    "max_percent",
    type=click.IntRange(min=100),
    metavar="PERCENT",
    help="maximumPercent for the rollout.",
)
@click.option(
    "-t",
    "--timeout",
    type=click.FloatRange(min=1),
    default=90,
    show_default=True,
    metavar="SECONDS",
    help="One deadline for the whole run, retries included.",
)
@click.option(
    "--max-definitions",
    metavar="N",
    help="After success, keep only the N newest ACTIVE revisions of the family.",
)
@click.option(
    "--task-definition-file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Base the new revision on this JSON file instead of the current one.",
)
@click.option(
    "--enable-rollback",
    is_flag=True,
    help="On failure, timeout or interrupt, put the previous revision back and wait for it.",
)
@click.option(
    "--force-new-deployment",
    is_flag=True,
    help="Start a new deployment (restart tasks); with no -i, no new revision.",
)
@click.option(
    "--skip-deployments-check",
    is_flag=True,
    help="Succeed once the new deployment has a running task.",
)
@click.option(
    "--use-latest-task-def",
    is_flag=True,
    help="Base the new revision on the family's newest revision, not the service's.",
)
@click.option("--run-task", is_flag=True, help="With -d: run the new revision as a one-off task.")
@click.option(
    "--launch-type",
    type=click.Choice(["EC2", "FARGATE", "EXTERNAL"]),
    help="Launch type for --run-task.",
)
@click.option(
    "--platform-version", metavar="VERSION", help="Fargate platform version for --run-task."
)
@click.option(
    "--network-configuration",
    metavar="CONFIG",
    help="awsvpc network configuration for --run-task (JSON or AWS CLI shorthand).",
)
@click.option(
    "--wait-for-success",
    is_flag=True,
    help="With --run-task: wait until the task stops; fail unless every essential "
    "container exits 0.",
)
@click.option(
    "--copy-task-definition-tags",
    is_flag=True,
    help="Copy the current revision's tags to the new one.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Steady-state seconds between polls (first polls ramp up from 0.25; jittered 10%).",
)
@click.option(
    "--max-failed-tasks",
    type=click.IntRange(min=1),
    metavar="N",
    help="Fail once N tasks of the new deployment have stopped.",
)
@click.option(
    "--output",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one summary object on stdout at the end.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Debug output (never shows credentials or secret values)."
)
@click.version_option(__version__, "--version", prog_name="ecs-deploy")
def command(**opts: Any) -> None:
    """Deploy a new image to an ECS service and wait until its new tasks run.

    \b
    ecs-deploy -c CLUSTER -n SERVICE -i IMAGE [-t TIMEOUT]
    ecs-deploy -d TASKDEF -i IMAGE [--run-task --wait-for-success]
    """
    reporter = Reporter(
        level=Level.QUIET if opts["quiet"] else Level.VERBOSE if opts["verbose"] else Level.NORMAL,
        json_output=opts["output_format"] == "json",
    )
    try:
        config, settings = build_config(opts)
        code = run(config, settings, reporter)
    except EcsDeployError as exc:
        reporter.error(exc.message)
        code = exc.code
    sys.exit(int(code))


def build_config(opts: dict[str, Any]) -> tuple[DeployConfig, AwsSettings]:
    """Validate every option, in the original's order, before any AWS call."""
    from ecsdeploy.aws import AwsSettings
    from ecsdeploy.deploy import DeployConfig, RunTaskConfig
    from ecsdeploy.taskdef import load_task_definition_file

    service, taskdef_name, cluster = opts["service"], opts["task_definition"], opts["cluster"]
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
    if opts["image"] is None and not opts["tag_only"] and not opts["force_new_deployment"]:
        raise _fail(
            ExitCode.NO_IMAGE,
            "-i/--image is required (or -to/--tag-only, or --force-new-deployment)",
        )
    max_definitions = None
    if opts["max_definitions"] is not None:
        if not re.fullmatch(r"[0-9]+", opts["max_definitions"]):  # str.isdigit() takes "²"
            raise _fail(
                ExitCode.MAX_DEFINITIONS_NOT_NUMERIC,
                f"--max-definitions must be a whole number, not {opts['max_definitions']!r}",
            )
        max_definitions = int(opts["max_definitions"])
    if not opts["run_task"]:
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
    if opts["run_task"] and service:
        raise UsageError("--run-task runs a task definition: use it with -d, not -n")

    image = tag_only = None
    if opts["image"] is not None:
        image = parse_image(opts["image"])
        if opts["tag_env_var"]:
            tag = os.environ.get(opts["tag_env_var"]) or "latest"
            image = image.with_tag(parse_tag(tag))
    if opts["tag_only"]:
        if opts["image"] is not None:
            raise UsageError("Give -i/--image or -to/--tag-only, not both")
        tag_only = parse_tag(opts["tag_only"])
    if opts["containers"] and not image:
        raise UsageError("--container needs -i/--image")

    taskdef_file = None
    if opts["task_definition_file"]:
        path = opts["task_definition_file"]
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            from ecsdeploy.errors import TaskDefinitionFileError

            raise TaskDefinitionFileError(f"Cannot read {path}: {exc.strerror}") from exc
        taskdef_file = load_task_definition_file(text, path)

    run_task = None
    if opts["run_task"]:
        network = None
        if opts["network_configuration"]:
            network = parse_network_configuration(opts["network_configuration"])
        run_task = RunTaskConfig(
            launch_type=opts["launch_type"],
            platform_version=opts["platform_version"],
            network_configuration=network,
            wait_for_success=opts["wait_for_success"],
        )

    config = DeployConfig(
        cluster=cluster,
        service=service,
        task_definition=taskdef_name,
        image=image,
        tag_only=tag_only,
        containers=tuple(opts["containers"]),
        timeout=opts["timeout"],
        desired_count=opts["desired_count"],
        min_percent=opts["min_percent"],
        max_percent=opts["max_percent"],
        max_definitions=max_definitions,
        taskdef_file=taskdef_file,
        enable_rollback=opts["enable_rollback"],
        force_new_deployment=opts["force_new_deployment"],
        skip_deployments_check=opts["skip_deployments_check"],
        use_latest_task_def=opts["use_latest_task_def"],
        copy_task_definition_tags=opts["copy_task_definition_tags"],
        poll_interval=opts["poll_interval"],
        max_failed_tasks=opts["max_failed_tasks"],
        run_task=run_task,
    )
    settings = AwsSettings(
        region=opts["region"],
        profile=opts["profile"],
        access_key_id=opts["access_key"],
        secret_access_key=opts["secret_key"],
        assume_role_arn=opts["assume_role"],
    )
    return config, settings


def run(config: DeployConfig, settings: AwsSettings, reporter: Reporter) -> ExitCode:
    """Build the client, run the deploy with signal handling, print the summary."""
    from ecsdeploy.aws import ecs_client
    from ecsdeploy.deploy import Deployer
    from ecsdeploy.ecs import EcsGateway

    reporter.debug(f"settings: {settings!r}")
    reporter.debug(
        f"config: cluster={config.cluster} service={config.service} "
        f"task_definition={config.task_definition} image={config.image}"
    )
    stop = threading.Event()
    received: list[int] = []
    restore = _install_signal_handlers(stop, received)
    try:
        gateway = EcsGateway(ecs_client(settings))
        gateway.on_call = lambda op, secs, error: reporter.debug(
            f"{op} {secs * 1000:.0f} ms" + (f" -> {error}" if error else "")
        )
        deployer = Deployer(
            gateway,
            reporter,
            sleep=stop.wait,
            interrupted=stop.is_set,
        )
        if config.service:
            result = deployer.deploy_service(config)
        else:
            result = deployer.register_only(config)
    finally:
        restore()
    if received and result.code == ExitCode.INTERRUPTED and received[0] == signal.SIGTERM:
        result.code = ExitCode.TERMINATED
    reporter.summary(result)
    return ExitCode(result.code)


def _install_signal_handlers(stop: threading.Event, received: list[int]) -> Callable[[], None]:
    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second signal: stop now, even during a rollback
            raise KeyboardInterrupt
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def parse_network_configuration(text: str) -> dict[str, Any]:
    """JSON, or the AWS CLI shorthand the original passes through, e.g.
    `awsvpcConfiguration={subnets=[subnet-1,subnet-2],securityGroups=[sg-1],assignPublicIp=ENABLED}`.
    """
    text = text.strip()
    try:
        value = json.loads(text) if text.startswith("{") else _parse_shorthand(text)
    except (ValueError, IndexError) as exc:
        raise UsageError(
            f"--network-configuration is neither JSON nor AWS CLI shorthand ({exc}); e.g. "
            "awsvpcConfiguration={subnets=[subnet-1],securityGroups=[sg-1]}"
        ) from exc
    if not isinstance(value, dict) or "awsvpcConfiguration" not in value:
        raise UsageError("--network-configuration needs an awsvpcConfiguration")
    return value


def _parse_shorthand(text: str) -> dict[str, Any]:
    value, rest = _shorthand_map(text, 0, top=True)
    if rest != len(text):
        raise ValueError(f"unexpected {text[rest:]!r}")
    return value


def _shorthand_map(text: str, i: int, top: bool = False) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    while i < len(text) and text[i] != "}":
        eq = text.index("=", i)
        key = text[i:eq].strip()
        value, i = _shorthand_value(text, eq + 1)
        out[key] = value
        if i < len(text) and text[i] == ",":
            i += 1
    if not top:
        i += 1  # the closing brace
    return out, i


def _shorthand_value(text: str, i: int) -> tuple[Any, int]:
    if text[i] == "{":
        return _shorthand_map(text, i + 1)
    if text[i] == "[":
        items: list[Any] = []
        i += 1
        while text[i] != "]":
            item, i = _shorthand_value(text, i)
            items.append(item)
            if text[i] == ",":
                i += 1
        return items, i + 1
    end = i
    while end < len(text) and text[end] not in ",]}":
        end += 1
    return text[i:end].strip(), end


def main(argv: list[str] | None = None) -> None:
    """Entry point; click's own usage errors exit 3 as the original's usage does."""
    try:
        command.main(args=argv, prog_name="ecs-deploy", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.USAGE))
    except click.Abort:
        sys.exit(int(ExitCode.INTERRUPTED))
