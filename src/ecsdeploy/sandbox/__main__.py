"""`python -m ecsdeploy.sandbox`: the same as the `ecs-deploy-sandbox` console script."""

from ecsdeploy.sandbox.cli import main

if __name__ == "__main__":
    main(prog_name="python -m ecsdeploy.sandbox")
