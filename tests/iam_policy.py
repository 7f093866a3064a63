"""docs/iam-policy.json against the calls ecs-deploy makes: the sandbox records each call of
the tool (by its user agent) with the service it was signed for, which is its IAM prefix."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

POLICY_PATH = Path(__file__).resolve().parent.parent / "docs" / "iam-policy.json"

#: EventBridge Scheduler is a REST API: the sandbox logs its calls as METHOD PATH.
_REST = [
    ("scheduler", r"GET /schedules/?", "ListSchedules"),
    ("scheduler", r"GET /schedules/[^/]+", "GetSchedule"),
    ("scheduler", r"PUT /schedules/[^/]+", "UpdateSchedule"),
]


def policy() -> dict[str, Any]:
    return dict(json.loads(POLICY_PATH.read_text()))


def action(service: str, operation: str) -> str:
    """The IAM action of one call: `service:Operation`."""
    for prefix, pattern, name in _REST:
        if service == prefix and re.fullmatch(pattern, operation):
            return f"{service}:{name}"
    return f"{service}:{operation}"


def allowed_actions(document: dict[str, Any]) -> list[str]:
    actions: list[str] = []
    for statement in document["Statement"]:
        if statement["Effect"] == "Allow":
            named = statement["Action"]
            actions.extend([named] if isinstance(named, str) else named)
    return actions


def not_allowed(
    calls: Iterable[tuple[str, str]], document: dict[str, Any] | None = None
) -> list[str]:
    """The IAM actions of `calls` that the policy does not allow (sorted)."""
    granted = [a.lower() for a in allowed_actions(document or policy())]
    wanted = {action(service, op) for service, op in calls}
    return sorted(a for a in wanted if not any(fnmatch.fnmatchcase(a.lower(), g) for g in granted))
