"""The deployment strategy options (--strategy, --bake-time, the canary and linear steps) and
--resume: what they override in the service's deploymentConfiguration, the merge that keeps
every other member, and the rules they follow on the command line. Pure: no AWS call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecsdeploy.errors import UsageError
from ecsdeploy.models import NATIVE_STRATEGIES, STRATEGIES


@dataclass(frozen=True)
class StrategyOverrides:
    """Per-deploy changes to the service's deploymentConfiguration (None: keep)."""

    strategy: str | None = None  # the API's spelling
    bake_time: int | None = None
    canary_percent: float | None = None
    canary_bake_time: int | None = None
    linear_step_percent: float | None = None
    linear_step_bake_time: int | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in vars(self).values())


def merge_deployment_configuration(
    current: Mapping[str, Any], overrides: StrategyOverrides
) -> dict[str, Any]:
    """The service's deploymentConfiguration with the overrides merged in: every other member
    kept (circuit breaker, alarms, hooks). An override that the resulting strategy does not
    use is refused (UsageError, before any call that changes anything)."""
    merged = dict(current)
    strategy = overrides.strategy or str(current.get("strategy") or "ROLLING")
    flag = {v: k for k, v in STRATEGIES.items()}
    needs = [
        ("--bake-time", overrides.bake_time, NATIVE_STRATEGIES),
        ("--canary-percent", overrides.canary_percent, ("CANARY",)),
        ("--canary-bake-time", overrides.canary_bake_time, ("CANARY",)),
        ("--linear-step-percent", overrides.linear_step_percent, ("LINEAR",)),
        ("--linear-step-bake-time", overrides.linear_step_bake_time, ("LINEAR",)),
    ]
    for name, value, strategies in needs:
        if value is not None and strategy not in strategies:
            wanted = " or ".join(f"--strategy {flag[s]}" for s in strategies)
            source = "--strategy" if overrides.strategy else "the service's strategy"
            raise UsageError(
                f"{name} applies to {wanted}, but {source} is {strategy}; "
                f"pass {wanted.split(' or ')[0]} with it; nothing was changed"
            )
    if overrides.strategy is not None:
        merged["strategy"] = overrides.strategy
    if overrides.bake_time is not None:
        merged["bakeTimeInMinutes"] = overrides.bake_time
    _merge_member(
        merged,
        "canaryConfiguration",
        canaryPercent=overrides.canary_percent,
        canaryBakeTimeInMinutes=overrides.canary_bake_time,
    )
    _merge_member(
        merged,
        "linearConfiguration",
        stepPercent=overrides.linear_step_percent,
        stepBakeTimeInMinutes=overrides.linear_step_bake_time,
    )
    return merged


def _merge_member(conf: dict[str, Any], member: str, **values: Any) -> None:
    """Set the given (not None) fields of one member structure, keeping its others."""
    given = {k: v for k, v in values.items() if v is not None}
    if given:
        conf[member] = {**(conf.get(member) or {}), **given}


#: The strategy overrides, by parameter name.
STRATEGY_OPTIONS = {
    "strategy": "--strategy",
    "bake_time": "--bake-time",
    "canary_percent": "--canary-percent",
    "canary_bake_time": "--canary-bake-time",
    "linear_step_percent": "--linear-step-percent",
    "linear_step_bake_time": "--linear-step-bake-time",
}
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
    **STRATEGY_OPTIONS,
}
#: Options that only a service deploy (-n) can use.
_SERVICE_ONLY = {**STRATEGY_OPTIONS, "resume": "--resume"}


def strategy_overrides(opts: dict[str, Any]) -> StrategyOverrides:
    """The strategy overrides, checked against the strategy given (against the service's
    own, once it is read)."""
    overrides = StrategyOverrides(
        strategy=STRATEGIES[opts["strategy"]] if opts["strategy"] else None,
        bake_time=opts["bake_time"],
        canary_percent=opts["canary_percent"],
        canary_bake_time=opts["canary_bake_time"],
        linear_step_percent=opts["linear_step_percent"],
        linear_step_bake_time=opts["linear_step_bake_time"],
    )
    if overrides.strategy:
        merge_deployment_configuration({}, overrides)
    return overrides


def check_native_options(opts: dict[str, Any]) -> None:
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
