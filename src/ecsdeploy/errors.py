"""The exit-code table and the error classes that carry each code.

Codes 1, 3 and 5-13 are the bash ecs-deploy's (3.10.22) and keep their meaning, so a CI
script that branches on them keeps working. Codes from 14 on are ours, for failure kinds
the original did not tell apart (it crashed, printed a jq error or reported success).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    #: The deploy failed or did not finish before --timeout (the original's code for both).
    DEPLOY_FAILED = 1
    #: Unknown option, missing option value or malformed value (the original's usage exit).
    USAGE = 3
    #: Neither --service-name nor --task-definition was given.
    NO_SERVICE_OR_TASK_DEFINITION = 5
    #: Both --service-name and --task-definition were given.
    SERVICE_AND_TASK_DEFINITION = 6
    #: --service-name was given without --cluster.
    SERVICE_WITHOUT_CLUSTER = 7
    #: --image was not given and neither was --force-new-deployment (nor --tag-only).
    NO_IMAGE = 8
    #: --max-definitions is not a whole number.
    MAX_DEFINITIONS_NOT_NUMERIC = 9
    #: --network-configuration without --run-task.
    NETWORK_CONFIGURATION_WITHOUT_RUN_TASK = 10
    #: --launch-type without --run-task.
    LAUNCH_TYPE_WITHOUT_RUN_TASK = 11
    #: --platform-version without --run-task.
    PLATFORM_VERSION_WITHOUT_RUN_TASK = 12
    #: The image reference could not be parsed.
    BAD_IMAGE = 13
    #: No container's image repository matches the new image (the original silently
    #: registered an identical revision); nothing was registered.
    NO_MATCHING_CONTAINER = 14
    #: ECS rolled the deploy back: its circuit breaker, a CloudWatch alarm, a failed
    #: lifecycle hook (native strategies), or a rollback someone else asked for.
    ROLLED_BACK_BY_ECS = 15
    #: AWS refused the credentials or the call (access denied, invalid or expired keys).
    AWS_ACCESS_DENIED = 16
    #: The cluster, service or task definition does not exist.
    NOT_FOUND = 17
    #: Any other AWS error (the endpoint unreachable, a bad request after validation).
    AWS_ERROR = 18
    #: The service has the EXTERNAL deployment controller (CODE_DEPLOY services are deployed
    #: through CodeDeploy), or it is DRAINING/INACTIVE: nothing was changed.
    UNSUPPORTED_SERVICE = 19
    #: --task-definition-file is unreadable or not a task definition.
    BAD_TASK_DEFINITION_FILE = 20
    #: ecs-deploy rolled the deploy back and the previous revision runs again: the deploy
    #: failed with --enable-rollback, or --on-pause rollback / --resume rollback asked for it.
    ROLLED_BACK = 21
    #: A native (blue/green, linear, canary) deployment's rollback FAILED: the service is in
    #: an unknown state and needs a person.
    ROLLBACK_FAILED = 22
    #: A native deployment waits at a PAUSE lifecycle hook and --on-pause exit returned:
    #: it awaits approval (`--resume continue` or `--resume rollback`).
    PAUSED = 23
    #: --revision names a revision of another family (without --allow-family-change) or an
    #: INACTIVE one, or `previous` finds no ACTIVE revision before the current one.
    BAD_REVISION = 24
    #: The preflight found that something the new revision names does not exist (an ECR
    #: image, an SSM parameter or Secrets Manager secret, a log group); nothing registered.
    PREFLIGHT_FAILED = 25
    #: A one-off task (--run-task, or --pre-deploy's migration) could not be placed or started:
    #: RunTask placed no task (RESOURCE:MEMORY, ...), or it stopped before its containers ran.
    TASK_NOT_STARTED = 26
    #: --pre-deploy: the migration task failed (its own exit code is in the summary, and in
    #: 64 + code where that fits); no service was changed.
    MIGRATION_FAILED = 27
    #: A CODE_DEPLOY service: its CodeDeploy deployment group already has an active
    #: deployment (named in the message), or one started between our check and our
    #: CreateDeployment; nothing was registered (or the revision registered was deregistered).
    DEPLOYMENT_IN_PROGRESS = 28
    #: --run-task --wait-for-success: the task's essential container exited 1 to 63; the
    #: command exits 64 + that code (65 to 127). Codes above 63 exit 1 (the summary has it).
    TASK_EXIT_BASE = 64
    #: Interrupted by SIGINT while waiting (128 + 2, the shell convention).
    INTERRUPTED = 130
    #: Terminated by SIGTERM while waiting (128 + 15).
    TERMINATED = 143

    @classmethod
    def _missing_(cls, value: object) -> ExitCode | None:
        """64 + a one-off task's own exit code (65 to 127) is a code too, made on demand."""
        if isinstance(value, int) and cls.TASK_EXIT_BASE < value < 128:
            member = int.__new__(cls, value)
            member._name_ = f"TASK_EXITED_{value - cls.TASK_EXIT_BASE}"
            member._value_ = value
            return member
        return None


class EcsDeployError(Exception):
    """An error with the exit code the command ends with; `cli.py` alone turns it into an exit."""

    code: ExitCode = ExitCode.DEPLOY_FAILED

    def __init__(self, message: str, code: ExitCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(EcsDeployError):
    """Bad command-line input, found before any AWS call."""

    code = ExitCode.USAGE


class ImageError(UsageError):
    code = ExitCode.BAD_IMAGE


class NoMatchingContainerError(EcsDeployError):
    code = ExitCode.NO_MATCHING_CONTAINER


class TaskDefinitionFileError(EcsDeployError):
    code = ExitCode.BAD_TASK_DEFINITION_FILE


class AwsAccessError(EcsDeployError):
    code = ExitCode.AWS_ACCESS_DENIED


class NotFoundError(EcsDeployError):
    code = ExitCode.NOT_FOUND


class AwsError(EcsDeployError):
    code = ExitCode.AWS_ERROR


class UnsupportedServiceError(EcsDeployError):
    code = ExitCode.UNSUPPORTED_SERVICE


class RevisionError(EcsDeployError):
    code = ExitCode.BAD_REVISION


class PreflightError(EcsDeployError):
    code = ExitCode.PREFLIGHT_FAILED


class TaskNotStartedError(EcsDeployError):
    code = ExitCode.TASK_NOT_STARTED


class DeploymentInProgressError(EcsDeployError):
    code = ExitCode.DEPLOYMENT_IN_PROGRESS
