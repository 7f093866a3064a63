"""What the preflight reads off a revision (pure), and how a check answers (fake readers)."""

from __future__ import annotations

from typing import Any

import pytest

from ecsdeploy.errors import AwsAccessError, NotFoundError, PreflightError
from ecsdeploy.policy import RunPolicy
from ecsdeploy.preflight import check_image, needs, run, verdict

ECR = "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/web"
SSM_ARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"


def test_needs_reads_images_secrets_and_log_groups():
    found = needs(
        [
            {
                "image": f"{ECR}:1.4.2",
                "secrets": [
                    {"name": "A", "valueFrom": SSM_ARN},
                    {"name": "B", "valueFrom": f"{SECRET_ARN}:password::"},
                    {"name": "C", "valueFrom": "plain-name"},
                ],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1"},
                },
            },
            {"image": f"{ECR}@sha256:{'a' * 64}"},
            {"image": "nginx:1.27"},
            {
                "image": "nginx:1.27",
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/made", "awslogs-create-group": "true"},
                },
            },
        ],
        "us-east-1",
    )
    assert [(i.region, i.repository, i.tag, i.digest) for i in found.images] == [
        ("us-west-2", "team/web", "1.4.2", None),
        ("us-west-2", "team/web", None, f"sha256:{'a' * 64}"),
    ]
    assert found.other_registries == ["nginx:1.27"]
    assert found.parameters == {"eu-west-1": [SSM_ARN], "us-east-1": ["plain-name"]}
    assert found.secrets == {SECRET_ARN: "us-east-1"}
    assert list(found.log_groups) == [("eu-west-1", "/ecs/web")]  # /made is created by ECS


def test_nothing_to_check_makes_no_call():
    found = needs([{"image": "nginx:1"}], "us-east-1")
    assert found.empty
    assert run(object(), RunPolicy(), found) == []  # type: ignore[arg-type]


class Ecr:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def image_exists(self, *args: Any) -> None:
        if self.error:
            raise self.error


class Readers:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def ecr(self, region: str, policy: RunPolicy) -> Ecr:
        return Ecr(self.error)


@pytest.mark.parametrize(
    ("error", "status", "why"),
    [
        (None, "ok", ""),
        (NotFoundError("tag 9 not in team/web"), "missing", "tag 9 not in team/web"),
        (
            AwsAccessError("DescribeImages: access denied"),
            "skipped",
            "ecr:DescribeImages was refused",
        ),
    ],
)
def test_a_check_is_ok_missing_or_skipped(error, status, why):
    ref = needs([{"image": f"{ECR}:9"}], "us-east-1").images[0]
    [check] = check_image(Readers(error), RunPolicy(), ref)  # type: ignore[arg-type]
    assert check.status == status
    assert why in check.why


def test_only_a_definite_absence_fails_the_run():
    ref = needs([{"image": f"{ECR}:9"}], "us-east-1").images[0]
    verdict(check_image(Readers(AwsAccessError("no")), RunPolicy(), ref))  # type: ignore[arg-type]
    with pytest.raises(PreflightError, match=r"1 thing\(s\) the new revision needs do not exist"):
        verdict(check_image(Readers(NotFoundError("gone")), RunPolicy(), ref))  # type: ignore[arg-type]
