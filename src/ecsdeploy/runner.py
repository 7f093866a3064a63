"""From a checked configuration to a result: the clients, a deploy's first reads (sent
while botocore loads, quick.py), and the story that runs (a deploy, a release of several
services, a migration, a registration alone)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecsdeploy.errors import EcsDeployError
from ecsdeploy.levels import Level

if TYPE_CHECKING:
    from ecsdeploy.aws import AwsSettings, Clients
    from ecsdeploy.config import DeployConfig
    from ecsdeploy.gateways import AwsReaders
    from ecsdeploy.output import Reporter
    from ecsdeploy.policy import RunPolicy
    from ecsdeploy.quick import Prefetched
    from ecsdeploy.result import DeployResult, ReleaseResult


def run(
    config: DeployConfig, settings: AwsSettings, reporter: Reporter, policy: RunPolicy
) -> DeployResult | ReleaseResult:
    """Build the clients and run the deploy (or the release of several services) under the
    run's policy."""
    from dataclasses import replace

    from ecsdeploy.aws import clients
    from ecsdeploy.ecs import EcsGateway, FirstRead
    from ecsdeploy.gateways import AwsReaders
    from ecsdeploy.masking import hide_values

    reporter.debug(f"settings: {settings!r}")
    reporter.debug(
        f"config: cluster={config.cluster} service={','.join(config.services) or None} "
        f"task_definition={config.task_definition} image={config.image}"
    )
    prefetched = _first_reads(config, settings, policy)
    if prefetched is not None:
        reporter.debug(
            "first reads: sent ahead, while botocore loads (ECS_DEPLOY_QUICK_READS=0: not)"
        )
    made = clients(settings)
    hide_values(made.secrets)  # the identity's own keys: never shown, whoever prints them

    def on_call(op: str, secs: float, error: str | None) -> None:
        reporter.debug(f"{op} {secs * 1000:.0f} ms" + (f" -> {error}" if error else ""))

    readers = AwsReaders(made, on_call)
    readers.prefetched = prefetched
    if reporter.level >= Level.VERBOSE:
        reporter.debug(_access_used(made, readers, policy))
    if len(config.services) > 1:
        from ecsdeploy.release import Release  # a single deploy does not pay for it

        configs = [
            replace(config, service=name, enable_rollback=config.enable_rollback or config.atomic)
            for name in config.services
        ]
        release = Release(
            made.get("ecs"),
            policy,
            reporter,
            configs,
            atomic=config.atomic,
            on_call=on_call,
            readers=readers,
        )
        return release.run()
    gateway = EcsGateway(made.get("ecs"), policy=policy)
    gateway.on_call = on_call
    gateway.prefetched = prefetched
    if config.cluster and config.service and not config.migrate_to_native:
        # A deploy's first request leaves now, and the story loads while it is answered.
        policy.deadline = policy.clock() + config.timeout  # the story's own, set again there
        FirstRead(gateway, config.cluster, config.service)
    from ecsdeploy.deploy import Deployer

    if config.migrate_to_native:
        from ecsdeploy.migration import migrate  # only a migration pays for it

        return migrate(gateway, reporter, readers, config)
    deployer = Deployer(gateway, reporter, readers)
    if config.service:
        return deployer.deploy_service(config)
    return deployer.register_only(config)


def _first_reads(
    config: DeployConfig, settings: AwsSettings, policy: RunPolicy
) -> Prefetched | None:
    """A deploy's first reads (the service, its revision, the preflight's), sent now, while
    botocore loads (quick.py); None when botocore must send them."""
    if not (config.cluster and config.service) or config.migrate_to_native:
        return None
    if len(config.services) > 1:
        return None
    from ecsdeploy.quick import start

    swapping = config.image is not None or config.tag_only is not None
    other_base = bool(config.taskdef_file or config.use_latest_task_def or config.revision)
    images = [str(i) for i in (config.image, *config.extra_images)] if config.image else []
    return start(
        settings,
        policy,
        config.cluster,
        config.service,
        images if config.preflight else [],
        # the running revision is the new one's base (not a file's, the family's newest or
        # another revision): what it names is what the preflight will check
        checks=config.preflight and swapping and not other_base,
        tags=config.copy_task_definition_tags,
    )


def _access_used(made: Clients, readers: AwsReaders, policy: RunPolicy) -> str:
    """-v: the region, endpoint and account the run actually uses (the options may name none
    of them: they come from the environment and the profile)."""
    try:
        sts = readers.sts(policy.budget(3.0))
        # the run's first call (the readers assume one was answered): an endpoint that
        # cannot be reached gives up after FIRST_CONNECT_ATTEMPTS, not the whole budget
        sts.connected = False
        who = sts.caller()
    except EcsDeployError as exc:
        who = f"account not known ({exc.message})"
    return f"using region {made.region}, endpoint {made.get('ecs').meta.endpoint_url}, {who}"
