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
from ecsdeploy.taskdef import MAX_NESTING, json_problem

SERVICE_TYPE = "AWS::ECS::Service"
#: CodeDeploy's limit on a deployment's description.
MAX_DESCRIPTION = 1000


def parse_template(text: str, source: str, limit: int) -> dict[str, Any]:
    """An AppSpec template from JSON, or YAML when PyYAML is installed; UsageError naming
    `source` when it is neither, is not plain JSON data (YAML aliases, dates, keys that are
    not strings, nesting deeper than MAX_NESTING), serialises to more than `limit` bytes, or
    has no AWS::ECS::Service resource."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise UsageError(f"{source} nests deeper than {MAX_NESTING} levels") from None
    except json.JSONDecodeError as json_error:
        data = _parse_yaml(text, source, json_error)
    except ValueError as exc:  # a number of more than 4,300 digits
        raise UsageError(f"{source} is not an AppSpec: {str(exc).splitlines()[0]}") from None
    problem = json_problem(data)
    if problem:
        raise UsageError(f"{source} {problem}")
    if len(json.dumps(data, separators=(",", ":"))) > limit:
        raise UsageError(f"{source} is larger than {limit // 1024} KiB once parsed, as JSON")
    if not isinstance(data, dict):
        raise UsageError(f"{source} is not an AppSpec: expected a mapping with Resources")
    target_service(data, source)
    return data


def _parse_yaml(text: str, source: str, json_error: json.JSONDecodeError) -> Any:
    """The YAML document, composed by a safe loader that refuses aliases (one anchor named
    many times expands a few hundred bytes into gigabytes) and nesting deeper than
    MAX_NESTING, before anything is built."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError(
            f"{source} is not JSON ({json_error.msg}, line {json_error.lineno}); YAML "
            "needs PyYAML (pip install pyyaml), or give the AppSpec as JSON"
        ) from None

    class Refused(Exception):
        pass

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            where = f"line {event.start_mark.line + 1}"
            if isinstance(event, yaml.AliasEvent):
                raise Refused(
                    f"uses a YAML alias (*{event.anchor}, {where}); write the value out in full"
                )
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise Refused(f"nests deeper than {MAX_NESTING} levels ({where})")
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    loader = Loader(text)
    try:
        return loader.get_single_data()
    except Refused as exc:
        raise UsageError(f"{source} {exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f", line {where.line + 1}" if where is not None else ""
        raise UsageError(f"{source} is neither JSON nor YAML{line}") from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise UsageError(f"{source} is not a YAML AppSpec ({type(exc).__name__})") from None
    finally:
        loader.dispose()


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


def load_balancer_problem(
    template: Mapping[str, Any] | None,
    container: str | None,
    port: int | None,
    containers: Sequence[Mapping[str, Any]] | None,
) -> str | None:
    """What is wrong with the container and port CodeDeploy will route to, or None: the
    template's LoadBalancerInfo must name the service's load balancer's container and port
    (CodeDeploy registers the replacement's targets there, and the service's target groups
    are set), and the new revision (`containers`, when known) must have that container with
    that port mapped."""
    given = target_service(template).get("LoadBalancerInfo") if template else None
    if given is not None:
        if not isinstance(given, Mapping):
            return "the template's LoadBalancerInfo is not a mapping"
        named = (given.get("ContainerName"), given.get("ContainerPort"))
        if container is not None and named != (container, port):
            return (
                f"the template's LoadBalancerInfo names container {named[0]} port {named[1]}, "
                f"but the service's load balancer routes to container {container} port {port}: "
                "drop LoadBalancerInfo from the template (the service's is used) or correct it"
            )
    if container is None or port is None or containers is None:
        return None
    found = [c for c in containers if c.get("name") == container]
    if not found:
        return (
            f"the new revision has no container {container}, which the service's load "
            "balancer routes to"
        )
    ports = {m.get("containerPort") for m in found[0].get("portMappings") or []}
    if port not in ports:
        return (
            f"container {container} of the new revision does not map port {port}, which the "
            "service's load balancer routes to"
        )
    return None


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


def without_userinfo(url: str) -> str:
    """`url` without the `user:password@` a CI may put in it (Jenkins' BUILD_URL can)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.rpartition('@')[2]}{slash}{path}"


def ci_run(env: Mapping[str, str]) -> str | None:
    """The CI run this deploy comes from, where the CI says so (never its credentials)."""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = without_userinfo(env.get("GITHUB_SERVER_URL") or "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    for name in ("CI_JOB_URL", "BUILD_URL", "CIRCLE_BUILD_URL", "BITBUCKET_BUILD_URL"):
        if env.get(name):
            return without_userinfo(env[name])
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
