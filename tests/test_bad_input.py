"""Bad input, through the real command: one ERROR line that says what is wrong, the
documented exit code, the summary still written (JSON on stdout, GitHub step outputs), and
not one mutating call. Rows marked `needs_service` are refused after reads (a family
mismatch, a missing container, a missing resource); all others before any AWS call."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ecsdeploy.ecs import FIRST_CONNECT_ATTEMPTS
from tests.conftest import run_cli, seed

ENV_VALUE_OF_WRONG_TYPE = 987654321  # must never be echoed back


def _td(**extra: object) -> dict[str, object]:
    return {
        "family": "{family}",
        "containerDefinitions": [{"name": "web", "image": "nginx:1", "memory": 128}],
        **extra,
    }


FILES: dict[str, bytes] = {
    "not-json": b"{nope",
    "bad-env": b"A=1\nthis is not a pair\n",
    "good-env": b"A=1\n",
    "array": b"[1, 2]",
    "not-utf8": b'{"family": "\xff\xfe"}',
    "no-family": json.dumps({"containerDefinitions": [{"image": "x"}]}).encode(),
    "no-containers": json.dumps({"family": "x", "containerDefinitions": []}).encode(),
    "container-no-image": json.dumps(
        {"family": "x", "containerDefinitions": [{"name": "web"}]}
    ).encode(),
    "unknown-field": json.dumps(_td(cpuu="256")).encode(),
    "wrapper-unknown-field": json.dumps({"taskDefinition": _td(), "extra": 1}).encode(),
    "cpu-not-a-string": json.dumps(_td(cpu=256)).encode(),
    "env-value-not-a-string": json.dumps(
        _td(
            containerDefinitions=[
                {
                    "name": "web",
                    "image": "nginx:1",
                    "environment": [{"name": "DB_PASSWORD", "value": ENV_VALUE_OF_WRONG_TYPE}],
                }
            ]
        )
    ).encode(),
    "unknown-container-field": json.dumps(
        _td(containerDefinitions=[{"name": "web", "image": "nginx:1", "portMapings": []}])
    ).encode(),
    "tags-not-a-list": json.dumps({"taskDefinition": _td(), "tags": "team=web"}).encode(),
    "other-family": json.dumps(_td(family="someone-else")).encode(),
    "huge-cpu": json.dumps(_td(cpu="9" * 400)).encode(),
    "huge": b"A=1\n" * 300_000,  # 1.2 MB
    "deep-json": b"[" * 200_000,
    "deep-object": b'{"a":' * 100 + b"1" + b"}" * 100,
    "long-number": json.dumps(_td()).encode()[:-1] + b', "x": ' + b"9" * 5000 + b"}",
    # AppSpec templates (issue 23): "billion laughs", YAML types JSON has not, deep nesting
    "yaml-laughs": b"a: &a [x, x, x, x, x, x, x, x, x]\n"
    + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n".encode()
        for i in range(8)
    ),
    "yaml-date": b"version: 0.0\nResources:\n- S: {Type: AWS::ECS::Service}\nwhen: 2024-01-01\n",
    "yaml-int-key": b"version: 0.0\nResources:\n- S: {Type: AWS::ECS::Service}\n1: one\n",
    "yaml-deep": b"[" * 10_000,
    "yaml-set": b"version: 0.0\nx: !!set {a, b}\n",
    # 105 KB of YAML, 5,000 items, that JSON's \u escapes make 315 KB (as wide as 100,000
    # one-letter items, which PyYAML took 3 s of CPU to read)
    "yaml-wide": b"version: 0.0\nx: [" + "éééééééééé,".encode() * 5_000 + "é]\n".encode(),
}


@dataclass(frozen=True)
class Bad:
    args: tuple[str, ...]
    code: int
    message: str
    env: dict[str, str] = field(default_factory=dict)
    needs_service: bool = False


S = ("-c", "{cluster}", "-n", "web")  # a real service
X = ("-c", "x", "-n", "web")  # refused before any call, so the names do not matter
RUN = ("-d", "job", "-i", "job", "--run-task", "--network-configuration")

CASES = [
    # The original's own checks, with its codes.
    Bad(("-c", "x", "-i", "nginx"), 5, "One of -n/--service-name or -d/--task-definition"),
    Bad((*X, "-d", "web", "-i", "nginx"), 6, "not both"),
    Bad(("-n", "web", "-i", "nginx"), 7, "-n/--service-name needs -c/--cluster"),
    Bad(X, 8, "-i/--image is required"),
    Bad((*X, "-i", "nginx", "--max-definitions", "abc"), 9, "must be a whole number"),
    Bad((*X, "-i", "nginx", "--max-definitions", "\u00b2"), 9, "must be a whole number"),
    Bad((*X, "-i", "nginx", "--max-definitions", "-1"), 9, "must be a whole number"),
    Bad((*X, "-i", "nginx", "--max-definitions", "1.5"), 9, "must be a whole number"),
    Bad(("-d", "web", "-i", "nginx", "--network-configuration", "{}"), 10, "only valid with"),
    Bad(("-d", "web", "-i", "nginx", "--launch-type", "FARGATE"), 11, "only valid with"),
    Bad(("-d", "web", "-i", "nginx", "--platform-version", "1.4.0"), 12, "only valid with"),
    # Images and tags.
    Bad((*X, "-i", "_something:tag123"), 13, "Unable to parse image name"),
    Bad((*X, "-i", "domain.com:abc/repo/image"), 13, "not a registry host"),
    Bad((*X, "-i", "/something"), 13, "Unable to parse image name"),
    Bad((*X, "-i", ""), 13, "Unable to parse image name"),
    Bad((*X, "-i", "nginx:"), 13, "is not a valid tag"),
    Bad((*X, "-i", "nginx@sha256:xyz"), 13, "is not a digest"),
    Bad((*X, "-i", "nginx:1 2"), 13, "'1 2' is not a valid tag"),
    Bad((*X, "-i", " nginx"), 13, "it is empty or has spaces"),
    Bad((*X, "-i", "repo//name"), 13, "not a valid repository name component"),
    Bad((*X, "-to", "bad/tag"), 13, "Unable to parse tag 'bad/tag'"),
    # Habits of the bash tool's README and of fabfuel's, each answered with the fix.
    Bad((*X, "-i", "repo:`git describe`"), 13, 'in double quotes: -i "repo:$(git describe)"'),
    Bad((*X, "-i", "nginx", "-t", "5m"), 3, "'5m' is not a number of seconds (e.g. 300 for"),
    Bad(
        (*X, "-e", "web", "LOG=1"),
        3,
        "(-e is --tag-env-var, as in the bash tool: the image tag from variable VAR; to set an "
        "environment variable use --env CONTAINER NAME=VALUE)",
    ),
    Bad((*X, "-i", "nginx", "-r", "eu-west-9x"), 3, "'eu-west-9x' is not a region name"),
    Bad((*X, "-i", "nginx", "-r", "eu-west-1a"), 3, "'eu-west-1a' is not a region name"),  # a zone
    Bad((*X, "-to", ""), 8, "-i/--image is required"),  # an empty -to is no -to, as in bash
    Bad((*X, "-i", "nginx", "-e", "TAG"), 13, "Unable to parse tag", {"TAG": "a b"}),
    # Usage: click's parser and our option rules.
    Bad(("--no-such-option",), 3, "No such option '--no-such-option'"),
    Bad(("-c",), 3, "requires an argument"),
    Bad((*X, "-to", "v1", "--container", "web"), 3, "--container needs -i/--image"),
    Bad((*X, "-i", "nginx", "--wait-for-success"), 3, "only valid with --run-task"),
    Bad((*X, "-i", "nginx", "--run-task"), 3, "use it with -d, not -n"),
    Bad((*X, "-i", "nginx", "--allow-family-change"), 3, "only valid with --task-definition-f"),
    Bad((*X, "-i", "nginx", "-k", "AKIA0000BADPAIR"), 3, "-k/--aws-access-key needs -s"),
    Bad((*X, "-i", "nginx", "-s", "only-a-secret-0000"), 3, "-s/--aws-secret-key needs -k"),
    Bad((*X, "-i", "nginx", "-r", "us east"), 3, "is not a region name"),
    Bad((*X, "-i", "nginx", "-r", ""), 3, "is not a region name"),
    Bad((*X, "-i", "nginx", "--launch-type", "WINDOWS"), 3, "'WINDOWS' is not one of"),
    Bad((*X, "-i", "nginx", "--output", "yaml"), 3, "'yaml' is not one of"),
    # Numbers: finite, in range, of the right kind.
    Bad((*X, "-i", "nginx", "-D", "-1"), 3, "-1 is not in the range 0<=x<="),
    Bad((*X, "-i", "nginx", "-D", "99999999999"), 3, "is not in the range"),
    Bad((*X, "-i", "nginx", "-D", "two"), 3, "'two' is not a valid integer"),
    Bad((*X, "-i", "nginx", "-m", "-5"), 3, "is not in the range"),
    Bad((*X, "-i", "nginx", "-M", "50"), 3, "is not in the range"),
    Bad((*X, "-i", "nginx", "-t", "soon"), 3, "'soon' is not a number of seconds"),
    Bad((*X, "-i", "nginx", "-t", "nan"), 3, "'nan' is not a finite number"),
    Bad((*X, "-i", "nginx", "-t", "inf"), 3, "'inf' is not a finite number"),
    Bad((*X, "-i", "nginx", "-t", "-inf"), 3, "'-inf' is not a finite number"),
    Bad((*X, "-i", "nginx", "-t", "0"), 3, "is not in the range"),
    Bad((*X, "-i", "nginx", "-t", "1e12"), 3, "is not in the range"),
    Bad((*X, "-i", "nginx", "--poll-interval", "nan"), 3, "is not a finite number"),
    Bad((*X, "-i", "nginx", "--poll-interval", "0"), 3, "is not in the range"),
    Bad((*X, "-i", "nginx", "--max-failed-tasks", "0"), 3, "is not in the range"),
    # --network-configuration: parsed in linear time, checked against botocore's model.
    Bad((*RUN, "subnets=["), 3, "neither JSON nor AWS CLI shorthand"),
    Bad((*RUN, "awsvpcConfiguration={subnets=[subnet-1}"), 3, "expected ']' at character"),
    Bad((*RUN, "awsvpcConfiguration="), 3, "a value is missing"),
    Bad((*RUN, "awsvpcConfiguration={subnets=[a],"), 3, "a key is missing"),
    Bad((*RUN, '{"awsvpcConfiguration":'), 3, "neither JSON nor AWS CLI shorthand"),
    Bad((*RUN, '{"subnets": []}'), 3, "needs an awsvpcConfiguration"),
    Bad((*RUN, '{"awsvpcConfiguration":"x"}'), 3, "awsvpcConfiguration: expected dict"),
    Bad((*RUN, '{"awsvpcConfiguration":{"subnets":["s"],"bogus":1}}'), 3, "unknown field 'bogus'"),
    Bad((*RUN, "awsvpcConfiguration={subnets=subnet-1}"), 3, "subnets: expected list"),
    # The environment.
    Bad((*X, "-i", "nginx"), 3, "is not a region name", {"AWS_DEFAULT_REGION": "bad region!"}),
    Bad((*X, "-i", "nginx"), 3, "is not an http(s) URL", {"AWS_ENDPOINT_URL_ECS": "nonsense"}),
    Bad(
        (*X, "-i", "nginx"),
        3,
        "is not an http(s) URL",
        {"AWS_ENDPOINT_URL_ECS": "http://127.0.0.1:abc"},
    ),
    Bad((*X, "-i", "nginx"), 3, "is not an http(s) URL", {"AWS_ENDPOINT_URL_ECS": "ftp://h"}),
    # A malformed endpoint is refused before any call: it would reach a web page, not the API.
    Bad((*X, "-i", "nginx"), 3, "holds a space", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566/ x"}),
    Bad((*X, "-i", "nginx"), 3, "is not an http(s) URL", {"AWS_ENDPOINT_URL_ECS": "127.0.0.1:1"}),
    Bad((*X, "-i", "nginx"), 3, "has a path", {"AWS_ENDPOINT_URL_ECS": "http://127.0.0.1:1/x"}),
    Bad((*X, "-i", "nginx"), 3, "has a path", {"AWS_ENDPOINT_URL_ECS": "http://127.0.0.1:1?a"}),
    # ECS names: letters, numbers, hyphens, underscores (or an ARN); never a second line.
    Bad(
        ("-c", "demo\noutcome=succeeded", "-n", "web", "-i", "nginx:1.27"),
        3,
        "-c/--cluster 'demo\\noutcome=",  # (the rest is a NAME=VALUE word: masked)
    ),
    Bad(("-c", "x", "-n", "web app", "-i", "nginx"), 3, "-n/--service-name 'web app' is not"),
    Bad(("-c", "x", "-n", "a,b\x1b[2J", "-i", "nginx"), 3, "'b\\x1b[2J' is not an ECS name"),
    Bad(("-d", "api\r", "-i", "nginx"), 3, "-d/--task-definition 'api\\r' is not an ECS"),
    Bad(("-d", "api:0", "-i", "nginx"), 3, "-d/--task-definition 'api:0' is not an ECS"),
    # --task-definition-file: every way it can be wrong is exit 20.
    Bad((*X, "-i", "nginx", "--task-definition-file", "{missing}"), 20, "Cannot read"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{dir}"), 20, "Is a directory"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{file:not-utf8}"), 20, "is not UTF-8"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{file:not-json}"), 20, "not valid JSON"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{file:array}"), 20, "a JSON object"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{file:no-family}"), 20, "'family'"),
    Bad(
        (*X, "-i", "nginx", "--task-definition-file", "{file:no-containers}"),
        20,
        "'containerDefinitions' is empty",
    ),
    Bad(
        (*X, "-i", "nginx", "--task-definition-file", "{file:container-no-image}"),
        20,
        "needs an 'image'",
    ),
    Bad(
        (*X, "-i", "nginx", "--task-definition-file", "{file:unknown-field}"),
        20,
        "unknown field(s) 'cpuu'",
    ),
    Bad(
        (*X, "-i", "nginx", "--task-definition-file", "{file:wrapper-unknown-field}"),
        20,
        "unknown field(s) 'extra'",
    ),
    Bad(
        (*X, "-i", "nginx", "--task-definition-file", "{file:cpu-not-a-string}"),
        20,
        "cpu: expected str, not int",
    ),
    Bad(
        (*X, "-i", "nginx", "--task-definition-file", "{file:env-value-not-a-string}"),
        20,
        "containerDefinitions[0].environment[0].value: expected str, not int",
    ),
    Bad(
        (*X, "-i", "nginx", "--task-definition-file", "{file:unknown-container-field}"),
        20,
        "unknown field 'portMapings'",
    ),
    Bad(
        (*X, "-i", "nginx", "--task-definition-file", "{file:tags-not-a-list}"),
        20,
        "'tags' must be a list",
    ),
    # Refused after reads, before any write.
    Bad(
        (*S, "-i", "nginx", "--task-definition-file", "{file:other-family}"),
        20,
        "pass --allow-family-change if that is intended",
        needs_service=True,
    ),
    Bad((*S, "-i", "nginx", "--container", "nosuch"), 14, "No container named nosuch", {}, True),
    Bad((*S, "-i", "other/repo:1"), 14, "No container's image repository matches", {}, True),
    Bad(("-c", "nowhere", "-n", "web", "-i", "nginx"), 17, "Cluster nowhere not found"),
    Bad(("-c", "{cluster}", "-n", "missing", "-i", "nginx"), 17, "Service missing not found"),
    Bad(("-d", "no-such-family", "-i", "nginx"), 17, "DescribeTaskDefinition"),
    # changes at deploy time (issue 9): refused before any AWS call, or after the reads
    Bad(
        (*S, "--env", "nosuch", "A=1"),
        14,
        "No container named nosuch in the task definition (it has: web)",
        {},
        True,
    ),
    Bad((*S, "--unset-env", "nosuch", "A"), 14, "No container named nosuch", {}, True),
    Bad((*S, "--secret", "nosuch", "A=/app/a"), 14, "No container named nosuch", {}, True),
    Bad((*S, "--unset-secret", "nosuch", "A"), 14, "No container named nosuch", {}, True),
    Bad((*S, "--command", "nosuch", "ls"), 14, "No container named nosuch", {}, True),
    Bad((*S, "--cpu", "nosuch", "1"), 14, "No container named nosuch", {}, True),
    Bad((*S, "--memory", "nosuch", "64"), 14, "No container named nosuch", {}, True),
    Bad((*S, "--memory-reservation", "x", "64"), 14, "No container named x", {}, True),
    Bad((*S, "--docker-label", "nosuch", "a=b"), 14, "No container named nosuch", {}, True),
    Bad((*S, "--env-file", "nosuch", "{file:good-env}"), 14, "No container named", {}, True),
    Bad((*X, "--unset-secret", "web"), 3, "'--unset-secret' requires 2 arguments"),
    Bad((*X, "--env", "web", "A"), 3, "the second argument has no '='"),
    Bad((*X, "--env", "web", "=1"), 3, "the name before '=' is empty"),
    Bad((*X, "--env", "web"), 3, "'--env' requires 2 arguments"),
    Bad((*X, "--docker-label", "web", "x"), 3, "--docker-label takes CONTAINER NAME=VALUE"),
    Bad((*X, "--secret", "web", "A=not valid!"), 3, "SSM parameter name or ARN"),
    Bad((*X, "--secret", "web", "A=arn:aws:s3:::bucket"), 3, "Secrets Manager secret ARN"),
    Bad((*X, "--command", "web", "[1, 2]"), 3, "a JSON array of strings is expected"),
    Bad((*X, "--command", "web", "[oops"), 3, "not a JSON array"),
    Bad((*X, "--command", "web", "echo 'unclosed"), 3, "cannot split the command"),
    Bad((*X, "--command", "web", " "), 3, "the command is empty"),
    Bad((*X, "--cpu", "web", "-1"), 3, "'--cpu'"),
    Bad((*X, "--memory", "web", "4"), 3, "'--memory'"),
    Bad((*X, "--memory-reservation", "web", "lots"), 3, "'--memory-reservation'"),
    Bad((*X, "--task-cpu", "lots"), 3, "--task-cpu must be a positive amount"),
    Bad((*X, "--task-memory", "0"), 3, "--task-memory must be a positive amount"),
    Bad((*X, "--task-role", "admin"), 3, "--task-role must be an IAM role ARN"),
    Bad((*X, "--execution-role", "arn:aws:iam::1:role/x"), 3, "must be an IAM role ARN"),
    Bad((*X, "--env-file", "web", "{missing}"), 3, "Cannot read --env-file"),
    Bad((*X, "--env-file", "web", "{file:bad-env}"), 3, "line 2: expected NAME=VALUE"),
    Bad(
        (*S, "--memory", "web", "100", "--memory-reservation", "web", "200"),
        3,
        "memoryReservation 200 MiB is above its memory limit 100 MiB",
        needs_service=True,
    ),
    Bad((*S, "--dry-run", "--resume", "continue"), 3, "--dry-run cannot be used with --resume"),
    # --revision
    Bad((*S, "--revision", "previous"), 24, "no ACTIVE revision of", {}, True),
    Bad(
        (*S, "--revision", "{cluster}-web:99"), 17, "--revision {cluster}-web:99: no such", {}, True
    ),
    Bad((*X, "--revision", "web:1", "-i", "nginx"), 3, "drop -i/--image"),
    Bad((*X, "--revision", "web:1", "--env", "web", "A=1"), 3, "drop the change options"),
    Bad(("-d", "web", "--revision", "previous"), 3, "use it with -c and -n"),
    Bad((*X, "--revision", "web:abc"), 3, "--revision takes FAMILY:REVISION"),
    Bad((*X, "--revision", "web:0"), 3, "--revision takes FAMILY:REVISION"),
    Bad((*X, "--revision", "arn:aws:ecs:us-east-1:1:task-definition/x:1"), 3, "--revision takes"),
    # numbers too large for any float, files that are not files (issue 14)
    Bad((*X, "--task-cpu", "9" * 400), 3, "--task-cpu must be a positive amount"),
    Bad((*X, "--task-memory", "1" + "0" * 400), 3, "--task-memory must be a positive amount"),
    Bad((*X, "--task-cpu", "256.4"), 3, "--task-cpu must be a positive amount"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{file:huge-cpu}"), 20, "Task cpu '999"),
    Bad((*X, "--env-file", "web", "/dev/zero"), 3, "not a regular file"),
    Bad((*X, "--env-file", "web", "{fifo}"), 3, "not a regular file"),
    Bad((*X, "--env-file", "web", "{file:huge}"), 3, "larger than 1024 KiB"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "/dev/zero"), 20, "not a regular file"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{fifo}"), 20, "not a regular file"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{file:huge}"), 20, "larger than"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{file:deep-json}"), 20, "nests deeper"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{file:deep-object}"), 20, "nests deeper"),
    Bad((*X, "-i", "nginx", "--task-definition-file", "{file:long-number}"), 20, "digits"),
    # --codedeploy-appspec: plain JSON data only, however the YAML is written (issue 23)
    Bad((*X, "-i", "nginx", "--codedeploy-appspec", "{file:yaml-laughs}"), 3, "YAML alias"),
    Bad((*X, "-i", "nginx", "--codedeploy-appspec", "{file:yaml-date}"), 3, "date value"),
    Bad((*X, "-i", "nginx", "--codedeploy-appspec", "{file:yaml-int-key}"), 3, "not a string (1)"),
    Bad((*X, "-i", "nginx", "--codedeploy-appspec", "{file:yaml-deep}"), 3, "nests deeper"),
    Bad((*X, "-i", "nginx", "--codedeploy-appspec", "{file:deep-json}"), 3, "nests deeper"),
    Bad((*X, "-i", "nginx", "--codedeploy-appspec", "{file:deep-object}"), 3, "nests deeper"),
    Bad((*X, "-i", "nginx", "--codedeploy-appspec", "{file:yaml-set}"), 3, "set value"),
    Bad((*X, "-i", "nginx", "--codedeploy-appspec", "{file:yaml-wide}"), 3, "once parsed"),
    # --scheduled-tasks with no name is no silent `none`; auto and none stand alone
    *(
        Bad((*X, "-i", "nginx", "--scheduled-tasks", value), 3, "pass none to turn the moves")
        for value in (",", "", ",,", " ")
    ),
    *(
        Bad((*X, "-i", "nginx", "--scheduled-tasks", value), 3, "stands alone")
        for value in ("auto,none", "nightly,None", "AUTO,nightly")
    ),
    Bad((*X, "-i", "nginx"), 3, "names no rule", {"ECS_DEPLOY_SCHEDULED_TASKS": ","}),
    # multi-value options from their variables: whole CONTAINER VALUE pairs or nothing
    Bad((*X, "-i", "nginx"), 3, "ECS_DEPLOY_ENV holds 3 words", {"ECS_DEPLOY_ENV": "web A=1 web"}),
    Bad(
        (*X, "-i", "nginx"),
        3,
        "ECS_DEPLOY_ENV holds 3 words",
        {"ECS_DEPLOY_ENV": "web GREETING=hello world"},
    ),
    Bad(
        (*X, "-i", "nginx"),
        3,
        "ECS_DEPLOY_UNSET_ENV holds 1 words",
        {"ECS_DEPLOY_UNSET_ENV": "web"},
    ),
]


def _id(case: Bad) -> str:
    return " ".join(case.args)[:60] + (f" {case.env}" if case.env else "")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_is_one_line_with_its_code_and_changes_nothing(sandbox, cluster, tmp_path, case):
    if case.needs_service or "{cluster}" in " ".join(case.args):
        seed(sandbox, cluster, desired_count=1)
    args = [_fill(a, cluster, tmp_path) for a in case.args]
    gh = tmp_path / "gh"
    run = run_cli(sandbox, "--output", "json", *args, GITHUB_OUTPUT=str(gh), **case.env)
    assert run.code == case.code, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, run.stderr
    assert case.message.replace("{cluster}", cluster) in errors[0]
    assert "Traceback" not in run.stderr
    assert str(ENV_VALUE_OF_WRONG_TYPE) not in run.stderr + run.stdout
    if "--output" not in case.args:  # (a row that overrides it prints text)
        summary = json.loads(run.stdout)
        assert (summary["exit_code"], summary["outcome"]) == (case.code, "error")
    assert f"exit_code={case.code}" in gh.read_text().splitlines()
    assert run.applied == []
    assert run.mutating_calls == []
    if not case.needs_service and "{cluster}" not in " ".join(case.args) and case.code != 17:
        assert run.calls == []  # refused before any AWS call at all


def test_the_table_is_at_least_sixty_rows():
    assert len(CASES) >= 60


def _fill(arg: str, cluster: str, tmp_path: Path) -> str:
    if arg == "{missing}":
        return str(tmp_path / "missing.json")
    if arg == "{dir}":
        return str(tmp_path)
    if arg == "{fifo}":  # nothing ever writes to it: opening it for reading would block
        path = tmp_path / "fifo"
        os.mkfifo(path)
        return str(path)
    if arg.startswith("{file:"):
        path = tmp_path / "td.json"
        path.write_bytes(FILES[arg[6:-1]].replace(b"{family}", f"{cluster}-web".encode()))
        return str(path)
    return arg.replace("{cluster}", cluster)


def test_every_region_botocore_knows_is_shaped_like_one():
    """The shape refused at once (exit 3) never refuses a region AWS has."""
    import botocore.session

    from ecsdeploy.aws import REGION

    session = botocore.session.get_session()
    known = {
        region
        for partition in session.get_available_partitions()
        for service in ("ecs", "sts", "logs")
        for region in session.get_available_regions(service, partition_name=partition)
    }
    assert "us-east-1" in known
    assert [r for r in sorted(known) if not REGION.fullmatch(r)] == []


@pytest.fixture
def web_page() -> Iterator[str]:
    """An endpoint that is a web server, not AWS: every request gets an HTML 404 page."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<!doctype html>\n<html><body><h1>Not Found</h1></body></html>\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("where", ["web page", "nothing listening"])
def test_an_endpoints_password_and_a_web_page_are_never_printed(sandbox, tmp_path, web_page, where):
    """AWS_ENDPOINT_URL with a password in it (a proxy's): masked in the error, the JSON
    reason, the step outputs and -v's line; an HTML page for an answer is summarised, never
    printed."""
    host = web_page if where == "web page" else "127.0.0.1:1"
    gh = tmp_path / "gh"
    run = run_cli(
        sandbox, "-c", "x", "-n", "web", "-i", "nginx", "-v", "--output", "json",
        GITHUB_OUTPUT=str(gh), AWS_ENDPOINT_URL=f"http://user:pw1234567@{host}",
    )  # fmt: skip
    assert run.code == 18, run.stderr
    (error,) = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
    if where == "web page":
        assert error == (
            "ERROR: DescribeServices failed: HTTP 404 from the endpoint (an HTML page: is "
            "AWS_ENDPOINT_URL right?)"
        )
    else:
        assert "Could not connect to the endpoint URL" in error
        assert "user:****@127.0.0.1:1" in error
        # -v's identity check is the run's first call: tried twice, not for its whole budget
        tries = re.findall(r"debug: GetCallerIdentity \d+ ms", run.stderr)
        assert len(tries) == FIRST_CONNECT_ATTEMPTS, run.stderr
    assert f"endpoint http://user:****@{host}" in run.stderr  # -v
    for said in (run.stdout, run.stderr, gh.read_text()):
        assert "pw1234567" not in said
        assert "<html" not in said.lower()
        assert "doctype" not in said.lower()


def test_a_short_endpoint_password_is_masked_in_the_url(sandbox):
    run = run_cli(
        sandbox, "-c", "x", "-n", "web", "-i", "nginx", AWS_ENDPOINT_URL="http://u:pw@127.0.0.1:1"
    )
    assert run.code == 18, run.stderr
    assert "u:****@127.0.0.1:1" in run.stderr
    assert ":pw@" not in run.stderr


def test_an_error_is_one_line_whatever_aws_said(sandbox, cluster):
    """A bidi override or an escape sequence in an AWS message is shown escaped."""
    seed(sandbox, cluster, desired_count=1)
    sandbox.scheduler.inject_error(
        "DescribeServices", 1, "InvalidParameterException", "bad\u202eoutcome: fine \x1b[2J"
    )
    run = run_cli(sandbox, "-c", cluster, "-n", "web", "-i", "nginx")
    assert run.code == 18, run.stderr
    (error,) = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
    assert "bad\\u202eoutcome: fine \\x1b[2J" in error
    assert "\x1b" not in run.stderr
    assert "\u202e" not in run.stderr
