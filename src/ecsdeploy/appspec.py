"""CodeDeploy's AppSpec for an ECS deployment, and the rest of a CreateDeployment request:
pure functions from data to data (the template's text is read by config.py).

An ECS AppSpec names one `AWS::ECS::Service` resource whose `TaskDefinition` is the new
revision and whose `LoadBalancerInfo` names the container and port the load balancer routes
to; a template (`--codedeploy-appspec`) may add hooks, a network configuration, capacity
providers or a platform version, and its TaskDefinition is always replaced.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ecsdeploy.errors import UsageError

SERVICE_TYPE = "AWS::ECS::Service"
#: CodeDeploy's limit on a deployment's description.
MAX_DESCRIPTION = 1000


def parse_template(text: str, source: str) -> dict[str, Any]:
    """An AppSpec template from JSON, or YAML when PyYAML is installed; UsageError naming
    `source` when it is neither, or has no AWS::ECS::Service resource."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as json_error:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise UsageError(
                f"{source} is not JSON ({json_error.msg}, line {json_error.lineno}); YAML "
                "needs PyYAML (pip install pyyaml), or give the AppSpec as JSON"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f", line {where.line + 1}" if where is not None else ""
            raise UsageError(f"{source} is neither JSON nor YAML{line}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source} is not an AppSpec: expected a mapping with Resources")
    target_service(data, source)
    return data


def target_service(appspec: Mapping[str, Any], source: str = "the AppSpec") -> dict[str, Any]:
    """The properties of the AppSpec's one AWS::ECS::Service resource."""
    found = []
    for resource in appspec.get("Resources") or []:
        if not isinstance(resource, Mapping):
            continue
        for body in resource.values():
            if isinstance(body, Mapping) and body.get("Type") == SERVICE_TYPE:
                found.append(body)
    if len(found) != 1:
        raise UsageError(
            f"{source} must have exactly one Resources entry of Type {SERVICE_TYPE} "
            f"(found {len(found)})"
        )
    props = found[0].get("Properties")
    if props is not None and not isinstance(props, Mapping):
        raise UsageError(f"{source}: the {SERVICE_TYPE} resource's Properties is not a mapping")
    return dict(props or {})


def build(
    template: Mapping[str, Any] | None,
    task_definition: str,
    container: str | None,
    port: int | None,
) -> dict[str, Any]:
    """The AppSpec: the template (or a bare one) with TaskDefinition replaced, and the
    service's container and port as LoadBalancerInfo unless the template names its own."""
    appspec = copy.deepcopy(dict(template)) if template else {}
    appspec.setdefault("version", 0.0)
    if not appspec.get("Resources"):
        appspec["Resources"] = [{"TargetService": {"Type": SERVICE_TYPE, "Properties": {}}}]
    for resource in appspec["Resources"]:
        for body in resource.values():
            if isinstance(body, dict) and body.get("Type") == SERVICE_TYPE:
                props = body.setdefault("Properties", {})
                props["TaskDefinition"] = task_definition
                if container and port is not None and "LoadBalancerInfo" not in props:
                    props["LoadBalancerInfo"] = {"ContainerName": container, "ContainerPort": port}
    return appspec


def revision(appspec: Mapping[str, Any]) -> dict[str, Any]:
    """CreateDeployment's `revision`: the AppSpec as content, with its SHA-256."""
    content = json.dumps(appspec, sort_keys=True)
    return {
        "revisionType": "AppSpecContent",
        "appSpecContent": {
            "content": content,
            "sha256": hashlib.sha256(content.encode()).hexdigest(),
        },
    }


def ci_run(env: Mapping[str, str]) -> str | None:
    """The CI run this deploy comes from, where the CI says so."""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    for name in ("CI_JOB_URL", "BUILD_URL", "CIRCLE_BUILD_URL", "BITBUCKET_BUILD_URL"):
        if env.get(name):
            return env[name]
    if env.get("CODEBUILD_BUILD_ARN"):
        return env["CODEBUILD_BUILD_ARN"]
    return None


def description(
    images: Sequence[str], service: str, revision_name: str, env: Mapping[str, str]
) -> str:
    """Who deployed what: `ecs-deploy: web -> app:42 (image ...), by <CI run>`."""
    what = f"ecs-deploy: {service} -> {revision_name}"
    if images:
        what += f" (image {', '.join(images)})"
    by = ci_run(env) or env.get("USER") or None
    if by:
        what += f", by {by}"
    return what[:MAX_DESCRIPTION]
