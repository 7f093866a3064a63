"""`ecs-deploy`: click options -> a validated DeployConfig (config.py) -> one call into a story.

Only this module turns an error into an exit code, and every way a run can end (bad input,
an AWS error, a signal, an abort) goes through one summary: the ERROR line, the JSON object
and the GitHub step outputs. boto3 is imported only once a deploy runs, so `--help` and
`--version` stay fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ecsdeploy import __version__
from ecsdeploy.argv import ENVVAR_PREFIX, argument_pairs, drop_empty_arguments, scan_args
from ecsdeploy.errors import EcsDeployError, ExitCode
from ecsdeploy.levels import Level
from ecsdeploy.limits import (
    CANARY_PERCENT_RANGE,
    DEFAULT_LOG_LINES,
    INT32_MAX,
    LINEAR_STEP_PERCENT_RANGE,
    MAX_BAKE_MINUTES,
    MAX_POLL_INTERVAL,
    MAX_TIMEOUT,
)
from ecsdeploy.options import Seconds, TenthPercent, container_option
from ecsdeploy.policy import Aborted, RunPolicy, install_signal_handlers

if TYPE_CHECKING:  # what a run needs, imported once it runs: `--help` needs none of it
    from ecsdeploy.argv import ArgScan
    from ecsdeploy.output import Reporter
    from ecsdeploy.result import DeployResult, ReleaseResult

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Every option can also come from ECS_DEPLOY_<ITS LONG NAME> (--cluster: ECS_DEPLOY_CLUSTER,
#: --service-name: ECS_DEPLOY_SERVICE_NAME); a value on the command line wins. Set per option
#: rather than with click's auto_envvar_prefix, whose names follow the Python parameter names
#: and which would also read ECS_DEPLOY_VERSION (a name CI files use for pinning a version).


_F = TypeVar("_F", bound=Callable[..., Any])

#: What `ecs-deploy` given no arguments at all prints before its error.
USAGE = [
    "Usage:",
    "  ecs-deploy -c CLUSTER -n SERVICE -i IMAGE [-t SECONDS] [options]  deploy a service",
    "  ecs-deploy -c CLUSTER -n SERVICE --force-new-deployment           restart its tasks",
    "  ecs-deploy -c CLUSTER -n SERVICE --resume continue|rollback       answer a paused deploy",
    "  ecs-deploy -d TASKDEF -i IMAGE                                    register a revision only",
    "  ecs-deploy -c CLUSTER -d TASKDEF --run-task --wait-for-success    run a one-off task",
]


#: Each option's --help section, by the option (filled by `section`).
_SECTION: dict[click.Parameter, str] = {}


def _split_services(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from ecsdeploy.config import split_services

    return split_services(value)


def section(title: str, *options: Callable[[_F], _F]) -> Callable[[_F], _F]:
    """Options that --help shows under `title`, in this order: a section is declared once,
    with its options, and no table repeats their names."""

    def apply(f: _F) -> _F:
        for option in reversed(options):
            f = option(f)
        params: list[click.Parameter] = getattr(f, "__click_params__", [])
        for param in params[-len(options) :]:
            _SECTION[param] = title
        return f

    return apply


def help_section(param: click.Parameter) -> str | None:
    return _SECTION.get(param)


class SectionedCommand(click.Command):
    """--help with the options grouped by their sections, in the order declared (click's own
    formatter)."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(help_section(param) or "Other options", []).append(record)
        for title, rows in sections.items():
            with formatter.section(title):
                formatter.write_dl(rows)


@click.command(cls=SectionedCommand, context_settings=CONTEXT, add_help_option=False)
@section(
    "AWS access",
    click.option(
        "-k",
        "--aws-access-key",
        "access_key",
        metavar="KEY",
        help="AWS access key id (default: the standard credential chain).",
    ),
    click.option(
        "-s", "--aws-secret-key", "secret_key", metavar="SECRET", help="AWS secret access key."
    ),
    click.option(
        "-r", "--region", metavar="REGION", help="AWS region (default: AWS_DEFAULT_REGION)."
    ),
    click.option("-p", "--profile", metavar="NAME", help="AWS profile from ~/.aws/config."),
    click.option(
        "-a",
        "--aws-assume-role",
        "assume_role",
        metavar="ROLE_ARN",
        help="Assume this IAM role (STS) before deploying.",
    ),
    click.option(
        "--aws-instance-profile",
        is_flag=True,
        help="Use the instance profile (accepted for compatibility: the standard chain "
        "already uses it).",
    ),
)
@section(
    "What to deploy",
    click.option("-c", "--cluster", metavar="NAME", help="ECS cluster of the service."),
    click.option(
        "-n",
        "--service-name",
        "service",
        multiple=True,
        callback=_split_services,
        metavar="NAME",
        help="ECS service to deploy; repeat it (or NAME,NAME) to release several at once.",
    ),
    click.option(
        "-d",
        "--task-definition",
        "task_definition",
        metavar="TASKDEF",
        help="Task definition family, family:revision or ARN to update (without -n).",
    ),
    click.option(
        "-i",
        "--image",
        metavar="IMAGE",
        multiple=True,
        help="New image: [registry[:port]/][path/]name[:tag|@sha256:digest]. Repeat it for "
        "every image of the build: each goes to the containers of its repository.",
    ),
    click.option(
        "--revision",
        metavar="FAMILY:REV|FAMILY|ARN|previous",
        help="With -c and -n and no -i: point the service at this existing revision (previous: "
        "the ACTIVE revision before the one it runs; FAMILY: its newest ACTIVE one) and watch it; "
        "nothing is registered.",
    ),
    click.option(
        "--dry-run",
        is_flag=True,
        help="All reads, no writes: print the task-definition diff and the UpdateService "
        "request that would be sent, and exit 0.",
    ),
    click.option(
        "-e",
        "--tag-env-var",
        metavar="VAR",
        help="Take the image tag from this environment variable (unset/empty: latest).",
    ),
    click.option(
        "-to",
        "--tag-only",
        metavar="TAG",
        help="Put TAG on every container's image, changing only the tag.",
    ),
    click.option(
        "--container",
        "containers",
        multiple=True,
        metavar="NAME",
        help="Put the image on this container (repeatable), whatever its repository.",
    ),
    click.option(
        "--task-definition-file",
        metavar="FILE",
        help="Base the new revision on this JSON file instead of the current one.",
    ),
    click.option(
        "--allow-family-change",
        is_flag=True,
        help="Let --task-definition-file register into another family than the service's.",
    ),
    click.option(
        "--use-latest-task-def",
        is_flag=True,
        help="Base the new revision on the family's newest revision, not the service's.",
    ),
    click.option(
        "--copy-task-definition-tags",
        is_flag=True,
        help="Copy the current revision's tags to the new one.",
    ),
    click.option(
        "--force-new-deployment",
        is_flag=True,
        help="Start a new deployment (restart tasks); with no -i, no new revision.",
    ),
    click.option(
        "--max-definitions",
        metavar="N",
        help="After success, keep only the N newest ACTIVE revisions of the family.",
    ),
)
@section(
    "Changes to the task definition",
    container_option("--env", "NAME=VALUE", "Set an environment variable in a container."),
    container_option("--unset-env", "NAME", "Remove an environment variable from a container."),
    container_option("--env-file", "PATH", "Set a container's environment from a dotenv file."),
    container_option(
        "--secret", "NAME=VALUE_FROM", "Set a secret from an SSM parameter or Secrets Manager ARN."
    ),
    container_option("--unset-secret", "NAME", "Remove a secret from a container."),
    container_option(
        "--command",
        "CMD",
        "Replace a container's command: shell-like words or a JSON array.",
        name="commands",
    ),
    container_option("--cpu", "UNITS", "A container's CPU units.", click.IntRange(0, INT32_MAX)),
    container_option(
        "--memory", "MIB", "A container's hard memory limit, MiB.", click.IntRange(6, INT32_MAX)
    ),
    container_option(
        "--memory-reservation",
        "MIB",
        "A container's soft memory limit, MiB.",
        click.IntRange(6, INT32_MAX),
    ),
    container_option("--docker-label", "NAME=VALUE", "Set a Docker label on a container."),
    click.option("--task-cpu", metavar="UNITS", help="Task CPU: units (1024) or vCPU (1 vCPU)."),
    click.option("--task-memory", metavar="MIB", help="Task memory: MiB (2048) or GB (2 GB)."),
    click.option("--task-role", metavar="ARN", help="The task's IAM role (taskRoleArn)."),
    click.option(
        "--execution-role", metavar="ARN", help="The task execution IAM role (executionRoleArn)."
    ),
)
@section(
    "How it rolls out",
    click.option(
        "--atomic",
        is_flag=True,
        help="With several services: if any fails, roll every one of them back.",
    ),
    click.option(
        "-D",
        "--desired-count",
        type=click.IntRange(min=0, max=INT32_MAX),
        metavar="N",
        help="Set the service's desired task count.",
    ),
    click.option(
        "-m",
        "--min",
        "min_percent",
        type=click.IntRange(min=0, max=INT32_MAX),
        metavar="PERCENT",
        help="minimumHealthyPercent for the rollout.",
    ),
    click.option(
        "-M",
        "--max",
        "max_percent",
        type=click.IntRange(min=100, max=INT32_MAX),
        metavar="PERCENT",
        help="maximumPercent for the rollout.",
    ),
    click.option(
        "-t",
        "--timeout",
        type=Seconds(min=1, max=MAX_TIMEOUT),
        default=90,
        show_default=True,
        metavar="SECONDS",
        help="One deadline for the whole run, retries included.",
    ),
    click.option(
        "--enable-rollback",
        is_flag=True,
        help="On failure, timeout or interrupt, put the previous revision back and wait for it.",
    ),
    click.option(
        "--skip-deployments-check",
        is_flag=True,
        help="Succeed once the new deployment has a running task.",
    ),
    click.option(
        "--poll-interval",
        type=Seconds(min=0.1, max=MAX_POLL_INTERVAL),
        default=1.0,
        show_default=True,
        metavar="SECONDS",
        help="Steady-state seconds between polls (first polls ramp up from 0.25; jittered 10%).",
    ),
    click.option(
        "--max-failed-tasks",
        type=click.IntRange(min=1, max=INT32_MAX),
        metavar="N",
        help="Fail once N tasks of the new deployment have stopped.",
    ),
)
@section(
    "Native strategies (blue/green, linear, canary)",
    click.option(
        "--strategy",
        type=click.Choice(["rolling", "blue-green", "linear", "canary"]),
        help="Deployment strategy for this deploy, merged into the service's "
        "deploymentConfiguration, where ECS keeps it afterwards (a rollback puts the service's "
        "own back); default: the service's own.",
    ),
    click.option(
        "--bake-time",
        type=click.IntRange(min=0, max=MAX_BAKE_MINUTES),
        metavar="MINUTES",
        help="bakeTimeInMinutes: blue and green both run this long after the traffic shift "
        "(blue-green, linear, canary).",
    ),
    click.option(
        "--canary-percent",
        type=TenthPercent(*CANARY_PERCENT_RANGE),
        metavar="P",
        help="Share of production traffic the canary gets first (0.1-100, in steps of 0.1).",
    ),
    click.option(
        "--canary-bake-time",
        type=click.IntRange(min=0, max=MAX_BAKE_MINUTES),
        metavar="MINUTES",
        help="Minutes at the canary share before the rest of the traffic moves.",
    ),
    click.option(
        "--linear-step-percent",
        type=TenthPercent(*LINEAR_STEP_PERCENT_RANGE),
        metavar="P",
        help="Share of production traffic each linear step moves (3-100, in steps of 0.1).",
    ),
    click.option(
        "--linear-step-bake-time",
        type=click.IntRange(min=0, max=MAX_BAKE_MINUTES),
        metavar="MINUTES",
        help="Minutes between linear steps.",
    ),
    click.option(
        "--wait-until",
        type=click.Choice(["complete", "traffic-shifted"]),
        default="complete",
        show_default=True,
        help="Native strategies and CODE_DEPLOY services: succeed once the deployment is "
        "SUCCESSFUL (complete), or once production traffic is all on the new revision and the "
        "bake time (CodeDeploy: the termination wait) has begun.",
    ),
    click.option(
        "--on-pause",
        type=click.Choice(["wait", "continue", "rollback", "exit"]),
        default="wait",
        show_default=True,
        help="Native strategies, a PAUSE hook awaiting action (CODE_DEPLOY: a deployment Ready "
        "to reroute traffic): keep waiting, continue, roll back, or exit 23 at once.",
    ),
    click.option(
        "--resume",
        type=click.Choice(["continue", "rollback"]),
        help="With -c and -n and no -i: continue or roll back the deployment paused at a "
        "lifecycle hook (CODE_DEPLOY: Ready), and follow it to its end.",
    ),
)
@section(
    "CodeDeploy (CODE_DEPLOY services)",
    click.option(
        "--codedeploy-application",
        metavar="APP",
        help="The CodeDeploy application of a CODE_DEPLOY service (with --codedeploy-group); "
        "default: the one whose deployment group's ecsServices names the service.",
    ),
    click.option(
        "--codedeploy-group",
        metavar="GROUP",
        help="The CodeDeploy deployment group of a CODE_DEPLOY service (with "
        "--codedeploy-application).",
    ),
    click.option(
        "--codedeploy-appspec",
        metavar="FILE",
        help="AppSpec template for a CODE_DEPLOY service's deployment (JSON; YAML when PyYAML "
        "is installed): hooks, network configuration, ...; its TaskDefinition is replaced.",
    ),
    click.option(
        "--migrate-to-native",
        is_flag=True,
        help="With -c and -n and no -i: move the CODE_DEPLOY service in place onto ECS's own "
        "blue/green (its CodeDeploy group's strategy, bake time, alarms and load balancer; "
        "the strategy options override), after checking every prerequisite.",
    ),
    click.option(
        "--infrastructure-role-arn",
        metavar="ARN",
        help="With --migrate-to-native: the role ECS assumes to shift traffic on the load "
        "balancer (advancedConfiguration.roleArn).",
    ),
)
@section(
    "One-off tasks (-d)",
    click.option(
        "--run-task", is_flag=True, help="With -d: run the new revision as a one-off task."
    ),
    click.option(
        "--launch-type",
        type=click.Choice(["EC2", "FARGATE", "EXTERNAL"]),
        help="Launch type for --run-task.",
    ),
    click.option(
        "--platform-version", metavar="VERSION", help="Fargate platform version for --run-task."
    ),
    click.option(
        "--network-configuration",
        metavar="CONFIG",
        help="awsvpc network configuration for --run-task (JSON or AWS CLI shorthand).",
    ),
    click.option(
        "--wait-for-success",
        is_flag=True,
        help="With --run-task: wait until the task stops, streaming its logs; fail unless "
        "every essential container exits 0 (exit 64 + its code).",
    ),
    container_option(
        "--run-task-command",
        "CMD",
        "With --run-task: run this command in the container instead of its own (shell-like "
        "words or a JSON array), for this run only: no revision is registered for it.",
        name="run_task_commands",
    ),
    container_option(
        "--run-task-env",
        "NAME=VALUE",
        "With --run-task or --pre-deploy: set an environment variable for this run only.",
        name="run_task_env",
    ),
    click.option(
        "--scheduled-tasks",
        default=None,
        show_default="auto; none for a one-off task (-d with --run-task)",
        metavar="auto|none|NAME,...",
        help="After a successful deploy, move the family's scheduled tasks in the cluster "
        "(EventBridge rules' ECS targets, EventBridge Scheduler schedules) from the revision "
        "the service ran to the new one: all of them, none, or these rule/schedule names. "
        "A one-off task moves them only when this is given.",
    ),
    click.option(
        "--pre-deploy",
        nargs=2,
        metavar="CONTAINER CMD",
        help="With -c and -n: after registering the new revision, run it once as a one-off "
        "task with this command in CONTAINER (in the service's network and launch type), "
        "streaming its logs; update the service only when it exits 0.",
    ),
)
@section(
    "Why it failed, and what would",
    click.option(
        "--log-lines",
        type=click.IntRange(min=0, max=10_000),
        default=DEFAULT_LOG_LINES,
        show_default=True,
        metavar="N",
        help="For each failed container, print the last N lines of its log (awslogs); 0: off.",
    ),
    click.option(
        "--no-preflight",
        is_flag=True,
        help="Skip the checks, before anything is registered, that every ECR image, secret "
        "and log group the new revision names exists.",
    ),
)
@section(
    "Output",
    click.option(
        "--output",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="json: one summary object on stdout at the end.",
    ),
    click.option("-q", "--quiet", is_flag=True, help="Print errors only."),
    click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Debug output (never shows credentials or secret values).",
    ),
    click.version_option(__version__, "--version", prog_name="ecs-deploy"),
    click.help_option("-h", "--help"),
)
def command(**opts: Any) -> dict[str, Any]:
    """Deploy a new image to an ECS service and wait until its new tasks run.

    \b
    ecs-deploy -c CLUSTER -n SERVICE -i IMAGE [-t TIMEOUT]
    ecs-deploy -c CLUSTER -n SERVICE --resume continue|rollback
    ecs-deploy -c CLUSTER -n SERVICE --migrate-to-native --infrastructure-role-arn ARN
    ecs-deploy -d TASKDEF -i IMAGE [--run-task --wait-for-success]
    """
    return opts  # main() runs it: a parse error must reach the same summary as any failure


def execute(
    opts: dict[str, Any], reporter: Reporter, policy: RunPolicy
) -> DeployResult | ReleaseResult:
    """Validate and deploy; every failure becomes a result (its exit code is the result's)."""
    from ecsdeploy.config import build_config
    from ecsdeploy.result import DeployResult
    from ecsdeploy.runner import run

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
    from ecsdeploy.result import DeployResult, Outcome

    return DeployResult(
        policy.exit_code, Outcome.ABORTED, "aborted during start-up: nothing was changed"
    )


def _reporter_for(opts: dict[str, Any], scanned: Reporter) -> Reporter:
    """The reporter the parsed options ask for: the arguments' pre-scan cannot see the
    ECS_DEPLOY_OUTPUT_FORMAT, _QUIET and _VERBOSE environment variables."""
    from ecsdeploy.output import Reporter

    level = Level.QUIET if opts["quiet"] else Level.VERBOSE if opts["verbose"] else Level.NORMAL
    json_output = opts["output_format"] == "json"
    if (level, json_output) == (scanned.level, scanned.json_output):
        return scanned
    return Reporter(level=level, json_output=json_output, warnings=scanned.warnings)


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
    scan = scan_args(command.params, list(sys.argv[1:] if argv is None else argv))
    policy.finishing = True
    _scanned_reporter(scan).summary(_aborted_at_start_up(policy))
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
    args = drop_empty_arguments(command.params, sys.argv[1:] if argv is None else argv)
    scan = scan_args(command.params, args)
    # The output (and the results, models, diagnosis it speaks of) loads once something is to
    # be said: `--help` and `--version` are click's to print, and load none of it.
    reporter: Reporter | None = None
    result: DeployResult | ReleaseResult
    try:
        if scan.repeated:
            reporter = _scanned_reporter(scan, args)
            for name in scan.repeated:
                reporter.warn(f"{name} was given more than once: the last value is used")
        try:
            opts = command.main(args=args, prog_name="ecs-deploy", standalone_mode=False)
        except click.ClickException as exc:
            from ecsdeploy.result import DeployResult

            reporter = reporter or _scanned_reporter(scan, args)
            message = exc.format_message().rstrip(".")
            result = DeployResult.failure(
                ExitCode.USAGE, f"{message}{_usage_hint(message, args)}; see ecs-deploy --help"
            )
        else:
            if not isinstance(opts, dict):  # --help or --version: click printed it
                _exit(int(opts or 0), fast=fast_exit)
            reporter = _reporter_for(opts, reporter or _scanned_reporter(scan, args))
            result = execute(opts, reporter, policy)
            if not args and result.code == ExitCode.NO_SERVICE_OR_TASK_DEFINITION:
                reporter.usage(USAGE)
                result.reason += "; see ecs-deploy --help for every option"
    except Aborted:
        result = _aborted_at_start_up(policy)
    from ecsdeploy.result import ReleaseResult

    reporter = reporter or _scanned_reporter(scan, args)
    policy.finishing = True
    if isinstance(result, ReleaseResult):
        reporter.release_summary(result)
    else:
        reporter.summary(result)
    _exit(int(result.code), fast=fast_exit)


def _scanned_reporter(scan: ArgScan, args: Sequence[str] | None = None) -> Reporter:
    """The reporter the raw arguments ask for, every `NAME=VALUE` word of them (and of the
    ECS_DEPLOY_ variables) masked in all it will write."""
    from ecsdeploy.aws import endpoint_passwords
    from ecsdeploy.masking import hide, hide_url_passwords
    from ecsdeploy.output import Reporter

    if args is not None:
        hide(argument_pairs(args, os.environ))
        hide_url_passwords(endpoint_passwords())  # an endpoint's password: never shown either
    return Reporter(level=scan.level, json_output=scan.json_output)


def _usage_hint(message: str, args: Sequence[str]) -> str:
    """What a usage error most likely means, for the habits other tools teach: fabfuel's
    `-e CONTAINER NAME VALUE` sets a variable, where -e here is the bash tool's."""
    if "unexpected extra argument" in message and any(
        a in ("-e", "--tag-env-var") or a.startswith("--tag-env-var=") for a in args
    ):
        return (
            " (-e is --tag-env-var, as in the bash tool: the image tag from variable VAR; to "
            "set an environment variable use --env CONTAINER NAME=VALUE)"
        )
    return ""


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
