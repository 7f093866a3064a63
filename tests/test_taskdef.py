import json

import boto3
import pytest

from ecsdeploy import taskdef
from ecsdeploy.errors import ExitCode, NoMatchingContainerError, TaskDefinitionFileError
from ecsdeploy.image import parse_image

FIELDS = list(
    boto3.session.Session(region_name="us-east-1")
    .client("ecs", aws_access_key_id="x", aws_secret_access_key="x")
    .meta.service_model.operation_model("RegisterTaskDefinition")
    .input_shape.members
)

DESCRIBED = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:3",
    "family": "web",
    "revision": 3,
    "status": "ACTIVE",
    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
    "compatibilities": ["EC2"],
    "registeredAt": "2026-01-01T00:00:00Z",
    "registeredBy": "arn:aws:iam::1:user/x",
    "containerDefinitions": [
        {"name": "web", "image": "repo/web:1", "memory": 128},
        {"name": "sidecar", "image": "envoy:1.2", "memory": 64},
    ],
    "pidMode": "host",
    "ipcMode": "host",
    "inferenceAccelerators": [{"deviceName": "d", "deviceType": "eia2.medium"}],
    "cpu": "256",
    "memory": "512",
    "networkMode": "bridge",
    "enableFaultInjection": True,
}


def test_registration_keeps_every_accepted_field_and_drops_read_only_ones():
    request = taskdef.registration_request(DESCRIBED, FIELDS)
    for kept in (
        "pidMode",
        "ipcMode",
        "inferenceAccelerators",
        "cpu",
        "memory",
        "enableFaultInjection",
    ):
        assert request[kept] == DESCRIBED[kept]
    for dropped in (
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ):
        assert dropped not in request


def test_registration_does_not_mutate_input():
    before = json.dumps(DESCRIBED, sort_keys=True)
    request = taskdef.registration_request(DESCRIBED, FIELDS, tags=[{"key": "a", "value": "b"}])
    request["containerDefinitions"][0]["image"] = "changed"
    assert json.dumps(DESCRIBED, sort_keys=True) == before
    assert request["tags"] == [{"key": "a", "value": "b"}]


def test_swap_changes_only_matching_repository():
    new = taskdef.swap_image(DESCRIBED["containerDefinitions"], parse_image("repo/web:2"))
    assert [c["image"] for c in new] == ["repo/web:2", "envoy:1.2"]
    assert DESCRIBED["containerDefinitions"][0]["image"] == "repo/web:1"


def test_swap_by_container_name_changes_repository():
    new = taskdef.swap_image(
        DESCRIBED["containerDefinitions"], parse_image("other/web:9"), names=("web",)
    )
    assert [c["image"] for c in new] == ["other/web:9", "envoy:1.2"]


def test_no_matching_container_lists_containers():
    with pytest.raises(NoMatchingContainerError) as info:
        taskdef.swap_image(DESCRIBED["containerDefinitions"], parse_image("nope/x:1"))
    assert info.value.code == ExitCode.NO_MATCHING_CONTAINER
    assert "web=repo/web:1, sidecar=envoy:1.2" in info.value.message


def test_unknown_container_name_is_an_error():
    with pytest.raises(NoMatchingContainerError, match="No container named api"):
        taskdef.swap_image(DESCRIBED["containerDefinitions"], parse_image("x:1"), names=("api",))


def test_retag_all_keeps_registry_port_and_replaces_digest():
    containers = [
        {"name": "a", "image": "reg.example.com:5000/app"},
        {"name": "b", "image": "reg.example.com:5000/side@sha256:" + "b" * 64},
    ]
    assert [c["image"] for c in taskdef.retag_all(containers, "v7")] == [
        "reg.example.com:5000/app:v7",
        "reg.example.com:5000/side:v7",
    ]


def test_file_accepts_describe_output_and_bare_definition():
    bare = {"family": "web", "containerDefinitions": [{"name": "w", "image": "x:1"}]}
    td, tags = taskdef.load_task_definition_file(json.dumps(bare), "f.json")
    assert td["family"] == "web"
    assert tags == []
    wrapped = {"taskDefinition": bare, "tags": [{"key": "k", "value": "v"}]}
    td, tags = taskdef.load_task_definition_file(json.dumps(wrapped), "f.json")
    assert td["family"] == "web"
    assert tags == [{"key": "k", "value": "v"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "must hold a JSON object"),
        ('{"containerDefinitions": []}', "'family' is missing"),
        ('{"family": "x", "containerDefinitions": []}', "'containerDefinitions' is empty"),
    ],
)
def test_file_errors(text, message):
    with pytest.raises(TaskDefinitionFileError, match=message):
        taskdef.load_task_definition_file(text, "f.json")
