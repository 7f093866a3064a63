"""A local ECS on 127.0.0.1: moto's server plus a scheduler that does what ECS's service
scheduler does (moto alone starts no tasks and never creates deployments).

Use `Sandbox` as a context manager in tests, or the `ecs-deploy-sandbox` command.
"""

from ecsdeploy.sandbox.scheduler import Faults, Scheduler
from ecsdeploy.sandbox.server import Sandbox

__all__ = ["Faults", "Sandbox", "Scheduler"]
