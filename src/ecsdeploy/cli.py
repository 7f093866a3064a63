"""`ecs-deploy`: click options -> a validated DeployConfig -> one call into deploy.

Only this module turns an error into an exit code, and every way a run can end (bad input,
an AWS error, a signal, an abort) goes through one summary: the ERROR line, the JSON object
and the GitHub step outputs. boto3 is imported only once a deploy runs, so `--help` and
`--version` stay fast.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ecsdeploy import __version__
from ecsdeploy.errors import EcsDeployError, ExitCode, TaskDefinitionFileError, UsageError
from ecsdeploy.image import parse_image, parse_tag
from ecsdeploy.models import (
    CANARY_PERCENT_RANGE,
    LINEAR_STEP_PERCENT_RANGE,
    MAX_BAKE_MINUTES,
    STRATEGIES,
)
from ecsdeploy.output import Level, Reporter, hide
from ecsdeploy.policy import Aborted, RunPolicy, install_signal_handlers
from ecsdeploy.result import DeployResult, Outcome, ReleaseResult

if TYPE_CHECKING:
    from ecsdeploy.aws import AwsSettings
    from ecsdeploy.changes import Changes
    from ecsdeploy.deploy import DeployConfig

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Every option can also come from ECS_DEPLOY_<ITS LONG NAME> (--cluster: ECS_DEPLOY_CLUSTER,
#: --service-name: ECS_DEPLOY_SERVICE_NAME); a value on the command line wins. Set per option
#: rather than with click's auto_envvar_prefix, whose names follow the Python parameter names
#: and which would also read ECS_DEPLOY_VERSION (a name CI files use for pinning a version).
ENVVAR_PREFIX = "ECS_DEPLOY"
INT32_MAX = 2**31 - 1  # ECS's integer fields are 32-bit
MAX_TIMEOUT = 7 * 24 * 3600.0  # a week: longer is a typo, and sleeps cannot take any float
MAX_POLL_INTERVAL = 300.0


def _split_services(values: tuple[str, ...]) -> tuple[str, ...]:
    """`-n a -n b,c` -> (a, b, c), in order, each once (ECS names hold no commas)."""
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    return tuple(names)


class FiniteFloat(click.FloatRange):
    """A float in range that is a real number: `nan` passes every comparison, and `inf`
    would wait forever."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if _is_non_finite(value):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(value, param, ctx)


class TenthPercent(FiniteFloat):
    """A percentage in ECS's range that is a multiple of 0.1 (canaryPercent, stepPercent)."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__(min=low, max=high)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isclose(number * 10, round(number * 10), abs_tol=1e-6):
            self.fail(f"{value!r} is not a multiple of 0.1", param, ctx)
        return round(number, 1)


def _is_non_finite(value: Any) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


_F = TypeVar("_F", bound=Callable[..., Any])


class PairedOption(click.Option):
    """A repeatable CONTAINER VALUE option: from its ECS_DEPLOY_ variable, the words must
    make whole pairs (click would drop a dangling word, deploying `GREETING=hello` for
    `web GREETING=hello world`)."""

    def value_from_envvar(self, ctx: click.Context) -> Any:
        raw = self.resolve_envvar_value(ctx)
        if raw is not None:
            words = self.type.split_envvar_value(raw)
            if len(words) % self.nargs:
                raise click.BadParameter(
                    f"{self.envvar} holds {len(words)} words, which do not make whole "
                    "CONTAINER VALUE pairs (a value cannot hold a space there: give it on the "
                    "command line, or in an --env-file)",
                    ctx=ctx,
                    param=self,
                )
        return super().value_from_envvar(ctx)


def container_option(
    flag: str,
    metavar: str,
    text: str,
    value_type: Any = None,
    *,
    name: str | None = None,
) -> Callable[[_F], _F]:
    """A repeatable change option that names its container: `FLAG CONTAINER VALUE`."""
    return click.option(
        flag,
        *([name] if name else []),
        cls=PairedOption,
        nargs=2,
        multiple=True,
        type=(str, value_type or str),
        metavar=f"CONTAINER {metavar}",
        help=f"{text} Repeatable.",
    )


def _fail(code: ExitCode, message: str) -> EcsDeployError:
    return EcsDeployError(message, code)


#: --help's sections, in order, and the options of each (by parameter name). The docs test
#: checks that every option is in one.
HELP_SECTIONS: dict[str, tuple[str, ...]] = {
    "AWS access": (
        "access_key",
        "secret_key",
        "region",
        "profile",
        "assume_role",
        "aws_instance_profile",
    ),
    "What to deploy": (
        "cluster",
        "service",
        "task_definition",
        "image",
        "revision",
        "dry_run",
        "tag_env_var",
        "tag_only",
        "containers",
        "task_definition_file",
        "allow_family_change",
        "use_latest_task_def",
        "copy_task_definition_tags",
        "force_new_deployment",
        "max_definitions",
    ),
    "Changes to the task definition": (
        "env",
        "unset_env",
        "env_file",
        "secret",
        "unset_secret",
        "commands",
        "cpu",
        "memory",
        "memory_reservation",
        "docker_label",
        "task_cpu",
        "task_memory",
        "task_role",
        "execution_role",
    ),
    "How it rolls out": (
        "atomic",
        "desired_count",
        "min_percent",
        "max_percent",
        "timeout",
        "enable_rollback",
        "skip_deployments_check",
        "poll_interval",
        "max_failed_tasks",
    ),
    "Native strategies (blue/green, linear, canary)": (
        "strategy",
        "bake_time",
        "canary_percent",
        "canary_bake_time",
        "linear_step_percent",
        "linear_step_bake_time",
        "wait_until",
        "on_pause",
        "resume",
    ),
    "One-off tasks (-d)": (
        "run_task",
        "launch_type",
        "platform_version",
        "network_configuration",
        "wait_for_success",
    ),
    "Output": ("output_format", "quiet", "verbose", "version", "help"),
}


class SectionedCommand(click.Command):
    """--help with the options grouped into HELP_SECTIONS (click's own formatter)."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = {
            p.name: record
            for p in self.get_params(ctx)
            if p.name and (record := p.get_help_record(ctx)) is not None
        }
        for title, names in HELP_SECTIONS.items():
            rows = [records.pop(n) for n in names if n in records]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        if records:  # an option not given a section still shows
            with formatter.section("Other options"):
                formatter.write_dl(list(records.values()))


@click.command(cls=SectionedCommand, context_settings=CONTEXT)
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
@click.option(
    "-n",
    "--service-name",
    "service",
    multiple=True,
    callback=lambda _ctx, _param, value: _split_services(value),
    metavar="NAME",
    help="ECS service to deploy; repeat it (or NAME,NAME) to release several at once.",
)
@click.option(
    "--atomic",
    is_flag=True,
    help="With several services: if any fails, roll every one of them back.",
)
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
    type=click.IntRange(min=0, max=INT32_MAX),
    metavar="N",
    help="Set the service's desired task count.",
)
@click.option(
    "-m",
    "--min",
    "min_percent",
    type=click.IntRange(min=0, max=INT32_MAX),
    metavar="PERCENT",
    help="minimumHealthyPercent for the rollout.",
)
@click.option(
    "-M",
    "--max",
    "max_percent",
    type=click.IntRange(min=100, max=INT32_MAX),
    metavar="PERCENT",
    help="maximumPercent for the rollout.",
)
@click.option(
    "-t",
    "--timeout",
    type=FiniteFloat(min=1, max=MAX_TIMEOUT),
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
    metavar="FILE",
    help="Base the new revision on this JSON file instead of the current one.",
)
@click.option(
    "--allow-family-change",
    is_flag=True,
    help="Let --task-definition-file register into another family than the service's.",
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
    type=FiniteFloat(min=0.1, max=MAX_POLL_INTERVAL),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Steady-state seconds between polls (first polls ramp up from 0.25; jittered 10%).",
)
@click.option(
    "--max-failed-tasks",
    type=click.IntRange(min=1, max=INT32_MAX),
    metavar="N",
    help="Fail once N tasks of the new deployment have stopped.",
)
@container_option("--env", "NAME=VALUE", "Set an environment variable in a container.")
@container_option("--unset-env", "NAME", "Remove an environment variable from a container.")
@container_option("--env-file", "PATH", "Set a container's environment from a dotenv file.")
@container_option(
    "--secret", "NAME=VALUE_FROM", "Set a secret from an SSM parameter or Secrets Manager ARN."
)
@container_option("--unset-secret", "NAME", "Remove a secret from a container.")
@container_option(
    "--command",
    "CMD",
    "Replace a container's command: shell-like words or a JSON array.",
    name="commands",
)
@container_option("--cpu", "UNITS", "A container's CPU units.", click.IntRange(0, INT32_MAX))
@container_option(
    "--memory", "MIB", "A container's hard memory limit, MiB.", click.IntRange(6, INT32_MAX)
)
@container_option(
    "--memory-reservation",
    "MIB",
    "A container's soft memory limit, MiB.",
    click.IntRange(6, INT32_MAX),
)
@container_option("--docker-label", "NAME=VALUE", "Set a Docker label on a container.")
@click.option("--task-cpu", metavar="UNITS", help="Task CPU: units (1024) or vCPU (1 vCPU).")
@click.option("--task-memory", metavar="MIB", help="Task memory: MiB (2048) or GB (2 GB).")
@click.option("--task-role", metavar="ARN", help="The task's IAM role (taskRoleArn).")
@click.option(
    "--execution-role", metavar="ARN", help="The task execution IAM role (executionRoleArn)."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="All reads, no writes: print the task-definition diff and the UpdateService "
    "request that would be sent, and exit 0.",
)
@click.option(
    "--revision",
    metavar="FAMILY:REV|FAMILY|ARN|previous",
    help="With -c and -n and no -i: point the service at this existing revision (previous: "
    "the ACTIVE revision before the one it runs; FAMILY: its newest ACTIVE one) and watch it; "
    "nothing is registered.",
)
@click.option(
    "--strategy",
    type=click.Choice(["rolling", "blue-green", "linear", "canary"]),
    help="Deployment strategy for this deploy, merged into the service's "
    "deploymentConfiguration, where ECS keeps it afterwards (a rollback puts the service's "
    "own back); default: the service's own.",
)
@click.option(
    "--bake-time",
    type=click.IntRange(min=0, max=MAX_BAKE_MINUTES),
    metavar="MINUTES",
    help="bakeTimeInMinutes: blue and green both run this long after the traffic shift "
    "(blue-green, linear, canary).",
)
@click.option(
    "--canary-percent",
    type=TenthPercent(*CANARY_PERCENT_RANGE),
    metavar="P",
    help="Share of production traffic the canary gets first (0.1-100, in steps of 0.1).",
)
@click.option(
    "--canary-bake-time",
    type=click.IntRange(min=0, max=MAX_BAKE_MINUTES),
    metavar="MINUTES",
    help="Minutes at the canary share before the rest of the traffic moves.",
)
@click.option(
    "--linear-step-percent",
    type=TenthPercent(*LINEAR_STEP_PERCENT_RANGE),
    metavar="P",
    help="Share of production traffic each linear step moves (3-100, in steps of 0.1).",
)
@click.option(
    "--linear-step-bake-time",
    type=click.IntRange(min=0, max=MAX_BAKE_MINUTES),
    metavar="MINUTES",
    help="Minutes between linear steps.",
)
@click.option(
    "--wait-until",
    type=click.Choice(["complete", "traffic-shifted"]),
    default="complete",
    show_default=True,
    help="Native strategies: succeed once the deployment is SUCCESSFUL (complete), or once "
    "production traffic is all on the new revision and the bake time has begun.",
)
@click.option(
    "--on-pause",
    type=click.Choice(["wait", "continue", "rollback", "exit"]),
    default="wait",
    show_default=True,
    help="Native strategies, a PAUSE hook awaiting action: keep waiting, continue, roll "
    "back, or exit 23 at once (awaiting approval).",
)
@click.option(
    "--resume",
    type=click.Choice(["continue", "rollback"]),
    help="With -c and -n and no -i: continue or roll back the deployment paused at a "
    "lifecycle hook, and follow it to its end.",
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
def command(**opts: Any) -> dict[str, Any]:
    """Deploy a new image to an ECS service and wait until its new tasks run.

    \b
    ecs-deploy -c CLUSTER -n SERVICE -i IMAGE [-t TIMEOUT]
    ecs-deploy -c CLUSTER -n SERVICE --resume continue|rollback
    ecs-deploy -d TASKDEF -i IMAGE [--run-task --wait-for-success]
    """
    return opts  # main() runs it: a parse error must reach the same summary as any failure


def build_config(opts: dict[str, Any]) -> tuple[DeployConfig, AwsSettings]:
    """Validate every option, in the original's order, before any AWS call."""
    from ecsdeploy.aws import AwsSettings
    from ecsdeploy.deploy import DeployConfig, RunTaskConfig
    from ecsdeploy.native import StrategyOverrides, merge_deployment_configuration
    from ecsdeploy.netconfig import parse_network_configuration

    services: tuple[str, ...] = tuple(opts["service"] or ())
    opts = {**opts, "service": services[0] if services else None}
    service, taskdef_name, cluster = opts["service"], opts["task_definition"], opts["cluster"]
    notices: list[str] = []
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
    _check_native_options(opts)
    changes = build_changes(opts)
    _check_revision_options(opts, changes)
    if (
        opts["image"] is None
        and not opts["tag_only"]
        and not opts["force_new_deployment"]
        and not opts["resume"]
        and not opts["revision"]
        and not changes.given
    ):
        raise _fail(
            ExitCode.NO_IMAGE,
            "-i/--image is required (or -to/--tag-only, --force-new-deployment, --revision, "
            "or a change such as --env)",
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
    if opts["allow_family_change"] and not (opts["task_definition_file"] or opts["revision"]):
        raise UsageError(
            "--allow-family-change is only valid with --task-definition-file or --revision"
        )
    if opts["dry_run"] and opts["resume"]:
        raise UsageError("--dry-run cannot be used with --resume: resuming is its only action")

    taskdef_file = None
    if opts["task_definition_file"]:
        taskdef_file = read_task_definition_file(opts["task_definition_file"])

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

    overrides = StrategyOverrides(
        strategy=STRATEGIES[opts["strategy"]] if opts["strategy"] else None,
        bake_time=opts["bake_time"],
        canary_percent=opts["canary_percent"],
        canary_bake_time=opts["canary_bake_time"],
        linear_step_percent=opts["linear_step_percent"],
        linear_step_bake_time=opts["linear_step_bake_time"],
    )
    if overrides.strategy:  # against the service's own strategy: checked once it is read
        merge_deployment_configuration({}, overrides)
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
        allow_family_change=opts["allow_family_change"],
        enable_rollback=opts["enable_rollback"],
        force_new_deployment=opts["force_new_deployment"],
        skip_deployments_check=opts["skip_deployments_check"],
        use_latest_task_def=opts["use_latest_task_def"],
        copy_task_definition_tags=opts["copy_task_definition_tags"],
        poll_interval=opts["poll_interval"],
        max_failed_tasks=opts["max_failed_tasks"],
        run_task=run_task,
        strategy=overrides,
        wait_until=opts["wait_until"],
        on_pause=opts["on_pause"],
        resume=opts["resume"],
        changes=changes,
        dry_run=opts["dry_run"],
        revision=opts["revision"],
        notices=tuple(notices),
        reregister=reregister,
        services=services,
        atomic=opts["atomic"],
    )
    settings = AwsSettings(
        region=opts["region"],
        profile=opts["profile"],
        access_key_id=opts["access_key"],
        secret_access_key=opts["secret_key"],
        assume_role_arn=opts["assume_role"],
    )
    return config, settings


#: Options that shape a new deployment: --resume acts on one already paused, so none apply.
_NOT_WITH_RESUME = {
    "image": "-i/--image",
    "tag_only": "-to/--tag-only",
    "force_new_deployment": "--force-new-deployment",
    "task_definition_file": "--task-definition-file",
    "desired_count": "-D/--desired-count",
    "min_percent": "-m/--min",
    "max_percent": "-M/--max",
    "use_latest_task_def": "--use-latest-task-def",
    "strategy": "--strategy",
    "bake_time": "--bake-time",
    "canary_percent": "--canary-percent",
    "canary_bake_time": "--canary-bake-time",
    "linear_step_percent": "--linear-step-percent",
    "linear_step_bake_time": "--linear-step-bake-time",
}
#: Options that only a service deploy (-n) can use.
_SERVICE_ONLY = {
    "strategy": "--strategy",
    "bake_time": "--bake-time",
    "canary_percent": "--canary-percent",
    "canary_bake_time": "--canary-bake-time",
    "linear_step_percent": "--linear-step-percent",
    "linear_step_bake_time": "--linear-step-bake-time",
    "resume": "--resume",
}


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


def _check_native_options(opts: dict[str, Any]) -> None:
    """--resume stands alone; the strategy options need a service."""
    if not opts["service"]:
        for key, flag in _SERVICE_ONLY.items():
            if opts[key] is not None:
                raise UsageError(f"{flag} acts on a service: use it with -c and -n, not -d")
        for key, flag, default in (
            ("wait_until", "--wait-until", "complete"),
            ("on_pause", "--on-pause", "wait"),
        ):
            if opts[key] != default:
                raise UsageError(f"{flag} acts on a service: use it with -c and -n, not -d")
    if opts["resume"]:
        for key, flag in _NOT_WITH_RESUME.items():
            if opts[key] not in (None, False):
                raise UsageError(
                    f"--resume acts on the deployment already paused on the service: drop "
                    f"{flag} (start a new deploy without --resume instead)"
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
_FAMILY = r"[A-Za-z0-9_-]{1,255}"
_REVISION = re.compile(rf"{_FAMILY}(?::[1-9][0-9]{{0,9}})?")
_REVISION_ARN = re.compile(
    rf"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{{12}}:task-definition/{_FAMILY}:[1-9][0-9]{{0,9}}"
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


def read_task_definition_file(path: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Read, parse and check --task-definition-file against botocore's model: every way it
    can be wrong (unreadable, a directory, not UTF-8, not JSON, unknown fields, wrong types)
    is one line and exit 20, before any AWS call."""
    from ecsdeploy.changes import check_resources
    from ecsdeploy.ecs import check_request, ecs_model, request_fields
    from ecsdeploy.taskdef import load_task_definition_file, registration_request

    raw = read_regular_file(
        path, "--task-definition-file", MAX_TASK_DEFINITION_FILE_BYTES, TaskDefinitionFileError
    )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaskDefinitionFileError(
            f"--task-definition-file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    accepted = request_fields("RegisterTaskDefinition")
    known = {*accepted, *ecs_model().shape_for("TaskDefinition").members}
    taskdef, tags = load_task_definition_file(text, path, known_fields=known)
    check_request(
        "RegisterTaskDefinition",
        registration_request(taskdef, accepted, tags),
        TaskDefinitionFileError,
    )
    try:
        check_resources(taskdef)
    except UsageError as exc:
        raise TaskDefinitionFileError(f"--task-definition-file {path}: {exc.message}") from exc
    return taskdef, tags


#: Larger files are refused before they are read whole: an env file or a task definition
#: this size is a mistake (ECS takes at most 64 KiB of task definition).
MAX_ENV_FILE_BYTES = 1024 * 1024
MAX_TASK_DEFINITION_FILE_BYTES = 1024 * 1024


def read_regular_file(path: str, option: str, limit: int, error: type[EcsDeployError]) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. A FIFO, a device (/dev/zero) or
    a directory is refused without blocking or reading: opened non-blocking, checked with
    fstat, and read only up to the limit."""
    import stat

    def cannot(why: str) -> EcsDeployError:
        return error(f"Cannot read {option} {path}: {why}")

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise cannot(exc.strerror or str(exc)) from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise cannot("Is a directory")
        if not stat.S_ISREG(mode):
            raise cannot("not a regular file (a FIFO or a device); give a file's path")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise cannot(exc.strerror or str(exc)) from exc
    finally:
        os.close(fd)
    if len(raw) > limit:
        raise cannot(f"larger than {limit // 1024} KiB; is it the right file?")
    return raw


def run(
    config: DeployConfig, settings: AwsSettings, reporter: Reporter, policy: RunPolicy
) -> DeployResult | ReleaseResult:
    """Build the client and run the deploy (or the release of several services) under the
    run's policy."""
    from dataclasses import replace

    from ecsdeploy.aws import ecs_client
    from ecsdeploy.deploy import Deployer
    from ecsdeploy.ecs import EcsGateway

    reporter.debug(f"settings: {settings!r}")
    reporter.debug(
        f"config: cluster={config.cluster} service={','.join(config.services) or None} "
        f"task_definition={config.task_definition} image={config.image}"
    )
    client = ecs_client(settings)

    def on_call(op: str, secs: float, error: str | None) -> None:
        reporter.debug(f"{op} {secs * 1000:.0f} ms" + (f" -> {error}" if error else ""))

    if len(config.services) > 1:
        from ecsdeploy.release import Release  # a single deploy does not pay for it

        configs = [
            replace(config, service=name, enable_rollback=config.enable_rollback or config.atomic)
            for name in config.services
        ]
        release = Release(client, policy, reporter, configs, atomic=config.atomic, on_call=on_call)
        return release.run()
    gateway = EcsGateway(client, policy=policy)
    gateway.on_call = on_call
    deployer = Deployer(gateway, reporter)
    if config.service:
        return deployer.deploy_service(config)
    return deployer.register_only(config)


@dataclass
class ArgScan:
    """What can be read off the raw arguments before click parses them: how to report a
    parse error, and which single-value options were given more than once."""

    json_output: bool = False
    level: Level = Level.NORMAL
    repeated: list[str] = field(default_factory=list)


def _options_by_name() -> dict[str, click.Option]:
    return {name: p for p in command.params if isinstance(p, click.Option) for name in p.opts}


@dataclass(frozen=True)
class _Word:
    """One step of the arguments: an option with the words it takes, or a lone argument."""

    text: str
    option: click.Option | None = None
    values: tuple[str, ...] = ()
    inline: str | None = None  # `--opt=value`

    @property
    def value(self) -> str | None:
        return self.inline if self.inline is not None else (self.values or (None,))[0]


def _walk(args: Sequence[str]) -> Iterator[_Word]:
    """The arguments as click will read them: `--opt value`, `--opt=value`, flags, lone
    arguments; `--` ends the options."""
    by_name = {n: p for p in command.params if isinstance(p, click.Option) for n in p.opts}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            yield from (_Word(rest) for rest in args[i - 1 :])
            return
        name, sep, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        option = by_name.get(name)
        if option is None:
            yield _Word(arg)
        elif sep:
            yield _Word(arg, option, inline=inline)
        elif option.is_flag:
            yield _Word(arg, option)
        else:
            count = max(1, option.nargs)
            yield _Word(arg, option, tuple(args[i : i + count]))
            i += count


def drop_empty_arguments(args: Sequence[str]) -> list[str]:
    """Every empty argument that stands where an option would, dropped, as the bash
    ecs-deploy skips them (its GitHub Action passes one for each input left unset); an empty
    option value (`-to ''`) stays the option's value."""
    kept: list[str] = []
    for word in _walk(args):
        if word.option is not None or word.text != "":
            kept.extend((word.text, *word.values))
    return kept


def _env_flag(name: str) -> bool:
    return click.types.BoolParamType.str_to_bool(os.environ.get(name, "")) is True


def scan_args(args: Sequence[str]) -> ArgScan:
    """What the raw arguments (and the ECS_DEPLOY_OUTPUT, _QUIET and _VERBOSE variables,
    which the command line overrides) say before click parses them."""
    scan, seen = ArgScan(), dict[str, int]()
    scan.json_output = os.environ.get(f"{ENVVAR_PREFIX}_OUTPUT") == "json"
    if _env_flag(f"{ENVVAR_PREFIX}_QUIET"):
        scan.level = Level.QUIET
    elif _env_flag(f"{ENVVAR_PREFIX}_VERBOSE"):
        scan.level = Level.VERBOSE
    for word in _walk(args):
        option = word.option
        if option is None:
            continue
        if option.name == "output_format":
            scan.json_output = word.value == "json"
        elif option.name == "quiet":
            scan.level = Level.QUIET
        elif option.name == "verbose" and scan.level is not Level.QUIET:
            scan.level = Level.VERBOSE
        if not option.multiple and option.name:
            seen[option.name] = seen.get(option.name, 0) + 1
            if seen[option.name] == 2:
                scan.repeated.append("/".join(option.opts))
    return scan


def argument_pairs(args: Sequence[str], environ: Mapping[str, str]) -> set[str]:
    """Every `NAME=VALUE` word of the arguments and of the ECS_DEPLOY_ variables: no output
    may quote one (its value may be a secret; `output.hide` masks them everywhere)."""
    words = [*args]
    for key, value in environ.items():
        if key.startswith(f"{ENVVAR_PREFIX}_"):
            words.extend(value.split())
    pairs = set()
    for word in words:
        name, sep, value = word.partition("=")
        if sep and name and value:
            pairs.add(word)
    return pairs


def execute(
    opts: dict[str, Any], reporter: Reporter, policy: RunPolicy
) -> DeployResult | ReleaseResult:
    """Validate and deploy; every failure becomes a result (its exit code is the result's)."""
    try:
        config, settings = build_config(opts)
        return run(config, settings, reporter, policy)
    except EcsDeployError as exc:
        result = DeployResult.failure(exc.code, exc.message)
    except Aborted:
        result = _aborted_at_start_up(policy)
    result.cluster = opts.get("cluster")
    result.service = ",".join(opts.get("service") or ()) or None
    return result


def _aborted_at_start_up(policy: RunPolicy) -> DeployResult:
    return DeployResult(
        policy.exit_code, Outcome.ABORTED.value, "aborted during start-up: nothing was changed"
    )


def _reporter_for(opts: dict[str, Any], scanned: Reporter) -> Reporter:
    """The reporter the parsed options ask for: the arguments' pre-scan cannot see the
    ECS_DEPLOY_OUTPUT_FORMAT, _QUIET and _VERBOSE environment variables."""
    level = Level.QUIET if opts["quiet"] else Level.VERBOSE if opts["verbose"] else Level.NORMAL
    json_output = opts["output_format"] == "json"
    if (level, json_output) == (scanned.level, scanned.json_output):
        return scanned
    return Reporter(level=level, json_output=json_output)


def envvar_name(param: click.Parameter) -> str | None:
    """The environment variable an option can come from (None for --help and --version)."""
    longs = [o for o in param.opts if o.startswith("--")]
    if not isinstance(param, click.Option) or not longs or longs[0] in ("--help", "--version"):
        return None
    return f"{ENVVAR_PREFIX}_{longs[0][2:].upper().replace('-', '_')}"


for _param in command.params:
    _param.envvar = envvar_name(_param)


def report_abort(policy: RunPolicy, argv: Sequence[str] | None = None) -> None:
    """Two signals before the command loaded: write the summary and exit."""
    scan = scan_args(list(sys.argv[1:] if argv is None else argv))
    policy.finishing = True
    Reporter(level=scan.level, json_output=scan.json_output).summary(_aborted_at_start_up(policy))
    _exit(int(policy.exit_code))


def main(
    argv: Sequence[str] | None = None, policy: RunPolicy | None = None, *, fast_exit: bool = False
) -> None:
    """Entry point (`__main__.main` installs the signal handlers first and passes its policy,
    and asks for `fast_exit`; see `_exit`).

    click's own usage errors exit 3, as the original's usage does."""
    if policy is None:
        policy = RunPolicy()
        install_signal_handlers(policy)
    args = drop_empty_arguments(sys.argv[1:] if argv is None else argv)
    hide(argument_pairs(args, os.environ))
    scan = scan_args(args)
    reporter = Reporter(level=scan.level, json_output=scan.json_output)
    result: DeployResult | ReleaseResult
    try:
        for name in scan.repeated:
            reporter.warn(f"{name} was given more than once: the last value is used")
        try:
            opts = command.main(args=args, prog_name="ecs-deploy", standalone_mode=False)
        except click.ClickException as exc:
            result = DeployResult.failure(
                ExitCode.USAGE, f"{exc.format_message().rstrip('.')}; see ecs-deploy --help"
            )
        else:
            if not isinstance(opts, dict):  # --help or --version: click printed it
                _exit(int(opts or 0), fast=fast_exit)
            reporter = _reporter_for(opts, reporter)
            result = execute(opts, reporter, policy)
    except Aborted:
        result = _aborted_at_start_up(policy)
    policy.finishing = True
    if isinstance(result, ReleaseResult):
        reporter.release_summary(result)
    else:
        reporter.summary(result)
    _exit(int(result.code), fast=fast_exit)


def _exit(code: int, *, fast: bool = False) -> None:
    """Exit with `code` even when stdout or stderr is gone (`| head`, `>&-`): point a broken
    stream at /dev/null first, so Python's last flush cannot turn the exit into 120.

    `fast` (the console script) ends the process without the interpreter's teardown, which
    costs about 0.1 s once boto3 is loaded: by now every line is flushed and GITHUB_OUTPUT
    is closed, and nothing of ours runs at exit."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    if fast:
        os._exit(code)
    sys.exit(code)
