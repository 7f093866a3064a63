"""Deployer in-process against the sandbox, for paths a subprocess cannot steer."""

from __future__ import annotations

import io
from typing import Any

from ecsdeploy.deploy import Deployer
from ecsdeploy.ecs import EcsGateway
from ecsdeploy.errors import AwsAccessError, ExitCode
from ecsdeploy.models import Service
from ecsdeploy.output import Reporter
from tests.conftest import broken_deploy, seed


class RefusesSecondUpdate(EcsGateway):
    """The deploy's UpdateService goes through; the rollback's is refused."""

    updates = 0

    def update_service(self, **params: Any) -> Service:
        self.updates += 1
        if self.updates > 1:
            raise AwsAccessError("UpdateService: access denied (AccessDeniedException: no)")
        return super().update_service(**params)


def test_failed_rollback_keeps_the_failure_code_and_says_why(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults(fail_images=("*:broken",))
    out, err = io.StringIO(), io.StringIO()
    deployer = Deployer(
        RefusesSecondUpdate(sandbox.client()), Reporter(out=out, err=err, tty=False)
    )
    result = deployer.deploy_service(broken_deploy(cluster))
    assert result.code is ExitCode.DEPLOY_FAILED  # not 21: nothing was rolled back
    assert result.rollback.as_dict() == {
        "task_definition": result.old_task_definition,
        "outcome": "error",
        "reason": "UpdateService: access denied (AccessDeniedException: no)",
    }
    assert "ERROR: Rollback failed: UpdateService: access denied" in err.getvalue()


def test_successful_rollback_exits_21(sandbox, cluster):
    seed(sandbox, cluster)
    sandbox.set_faults(fail_images=("*:broken",))
    deployer = Deployer(EcsGateway(sandbox.client()), Reporter(out=io.StringIO(), tty=False))
    result = deployer.deploy_service(broken_deploy(cluster))
    assert result.code is ExitCode.ROLLED_BACK
    assert result.rollback is not None
    assert result.rollback.as_dict()["outcome"] == "succeeded"
