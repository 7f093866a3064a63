"""ecs-deploy: blue/green (rolling) deployments for Amazon ECS services."""

__version__ = "0.1.0"
