"""`python -m ecsdeploy` runs the `ecs-deploy` command."""

from ecsdeploy.cli import main

if __name__ == "__main__":
    main()
