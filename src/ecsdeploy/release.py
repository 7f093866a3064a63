"""A release: several services of one cluster deployed in one run, in parallel, watched
together, judged each and as a whole.

Each service is one deploy, told by `deploy.Deployer` as for a single service (its swap,
registration, update, watch, verdict and rollback), in a thread of its own with a policy of
its own (the run's signals, its own rollback phase). What they share is the reading: every
DescribeServices call of every service goes through one `DescribeBatcher`, which gathers the
services that want to be read at about the same moment and reads them ten a call (the API's
limit), so the first read of 20 services and each poll of them costs 2 calls, not 20.

`--atomic`: when any service fails, every service of the release is put back on the revision
it ran before, the successful ones included, and the release waits for all of them.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ecsdeploy.changes import Changes
from ecsdeploy.config import DeployConfig
from ecsdeploy.deploy import Deployer, prepare_release
from ecsdeploy.ecs import DESCRIBE_SERVICES_LIMIT, EcsGateway, service_not_found
from ecsdeploy.errors import EcsDeployError, ExitCode, NotFoundError
from ecsdeploy.gateways import AwsReaders
from ecsdeploy.models import Service
from ecsdeploy.output import Level, Reporter, ServiceReporter, StatusBoard
from ecsdeploy.plan import new_revision_asked
from ecsdeploy.policy import Aborted, RunPolicy
from ecsdeploy.result import DeployResult, Outcome, ReleaseResult, Rollback
from ecsdeploy.story import Story

#: How long a service that wants to be read waits for the others of its poll round.
GATHER_WINDOW = 0.15
#: After an abort, how long the services' threads get to record where they stood (each
#: stops at its next check; one held in a slow call is reported from what it knew).
ABORT_GRACE = 0.5


@dataclass
class _Slot:
    result: Service | None = None
    error: BaseException | None = None
    done: bool = False


class DescribeBatcher:
    """DescribeServices for the services of a release, gathered: a read waits (at most
    GATHER_WINDOW) until every service still deploying has asked, then one of them reads
    them all, ten a call, and hands each its answer."""

    def __init__(self, names: Sequence[str], window: float = GATHER_WINDOW) -> None:
        self.active = set(names)
        self.window = window
        self.cond = threading.Condition()
        self.waiting: dict[str, list[_Slot]] = {}
        self.reading = False
        self.calls = 0  # DescribeServices calls made (the benchmark reports them)
        self.rounds = 0  # reads of several services at once

    def finished(self, name: str) -> None:
        """`name` reads no more: the others stop waiting for it."""
        with self.cond:
            self.active.discard(name)
            self.cond.notify_all()

    def describe(self, ecs: EcsGateway, cluster: str, name: str) -> Service:
        slot = _Slot()
        until = time.monotonic() + self.window
        with self.cond:
            self.waiting.setdefault(name, []).append(slot)
            self.cond.notify_all()
            while not slot.done:
                everyone = self.active <= set(self.waiting)
                if not self.reading and (everyone or time.monotonic() >= until):
                    batch, self.waiting, self.reading = self.waiting, {}, True
                    self.cond.release()
                    try:
                        self._read(ecs, cluster, batch)
                    finally:
                        self.cond.acquire()
                        self.reading = False
                        self.cond.notify_all()
                    continue
                self.cond.wait(max(0.005, until - time.monotonic()))
        if slot.error is not None:
            raise slot.error
        assert slot.result is not None
        return slot.result

    def _read(self, ecs: EcsGateway, cluster: str, batch: dict[str, list[_Slot]]) -> None:
        names = sorted(batch)
        found: dict[str, Service] = {}
        error: BaseException | None = None
        try:
            for start in range(0, len(names), DESCRIBE_SERVICES_LIMIT):
                self.calls += 1
                for svc in ecs.describe_services(
                    cluster, names[start : start + DESCRIBE_SERVICES_LIMIT]
                ):
                    found[svc.name] = svc
            self.rounds += 1
        except (EcsDeployError, Aborted) as exc:
            error = exc
        with self.cond:
            for name, slots in batch.items():
                for slot in slots:
                    if error is not None:
                        slot.error = error
                    elif name in found:
                        slot.result = found[name]
                    else:
                        slot.error = NotFoundError(service_not_found(ecs, cluster, name))
                    slot.done = True
            self.cond.notify_all()


@dataclass
class Release:
    """Deploys `configs` (one per service, same cluster) in parallel."""

    client: Any
    policy: RunPolicy
    reporter: Reporter
    configs: Sequence[DeployConfig]
    atomic: bool = False
    on_call: Callable[[str, float, str | None], None] | None = None
    readers: AwsReaders | None = None  # a failed task's diagnosis reads through these
    prepare_calls: int = 0  # DescribeServices calls of the shared step (prepare)
    lock: threading.Lock = field(default_factory=threading.Lock)
    aborted: bool = False
    board: StatusBoard | None = None
    batcher: DescribeBatcher = field(default_factory=lambda: DescribeBatcher([]))

    def run(self) -> ReleaseResult:
        started = time.monotonic()
        names = [c.service or "" for c in self.configs]
        prepared = self._prepare(names)
        if isinstance(prepared, DeployResult):  # the shared step failed: no service moved
            return ReleaseResult.of(
                self.configs[0].cluster,
                [replace(prepared, service=name) for name in names],
                duration=time.monotonic() - started,
                signal_code=self.policy.exit_code if self.policy.interrupted() else None,
            )
        self.configs = [_deploy_shared(c, prepared) for c in self.configs]
        batcher = self.batcher = DescribeBatcher(names)
        if self.reporter.tty and self.reporter.level >= Level.NORMAL:
            human = self.reporter.err if self.reporter.json_output else self.reporter.out
            self.board = StatusBoard(human, names)
        deployers = [self._deployer(name) for name in names]
        results: list[DeployResult | None] = [None] * len(self.configs)

        def one(i: int, cfg: DeployConfig) -> None:
            try:
                results[i] = deployers[i].deploy_service(cfg)
            except BaseException as exc:  # a thread must end in a result
                results[i] = _never_ran(names[i], f"stopped: {type(exc).__name__}: {exc}")
            finally:
                deployers[i].policy.live = False
                batcher.finished(names[i])

        try:
            self._in_threads([functools.partial(one, i, c) for i, c in enumerate(self.configs)])
        except Aborted:
            self.aborted = True
        if self.board is not None:
            self.board.close()
            self.board = None  # rollbacks and the summary print plain lines below it
        final = [
            r or d.where_it_stood(Outcome.ABORTED, "aborted by a second signal") or _never_ran(n)
            for r, d, n in zip(results, deployers, names, strict=True)
        ]
        signalled = self.policy.interrupted()
        if self.atomic and not signalled and any(r.code != ExitCode.OK for r in final):
            try:
                self._roll_back_all(final)
            except Aborted:
                self.aborted = True
        release = ReleaseResult.of(
            self.configs[0].cluster,
            final,
            duration=time.monotonic() - started,
            aborted_code=self.policy.exit_code if self.aborted else None,
            signal_code=self.policy.exit_code if signalled else None,
        )
        release.describe_calls = batcher.calls + self.prepare_calls  # the shared step's too
        release.read_rounds = batcher.rounds + (1 if self.prepare_calls else 0)
        return release

    def _prepare(self, names: list[str]) -> dict[str, str] | DeployResult:
        """One registration per shared family, and the migration, before any service moves
        (deploy.prepare_release); the services' revisions, or the failed result."""
        cfg = self.configs[0]
        if cfg.dry_run or not (new_revision_asked(cfg) or cfg.pre_deploy is not None):
            return {}
        story = Story(EcsGateway(self.client, policy=self.policy), self.reporter, self.readers)
        story.ecs.on_call = self.on_call
        r = DeployResult(ExitCode.OK, Outcome.SUCCEEDED, "", cluster=cfg.cluster)
        shared: dict[str, str] = {}

        def body() -> None:
            assert cfg.cluster
            services = story.ecs.describe_services(cfg.cluster, names)
            by_name = {s.name: s for s in services}
            missing = [n for n in names if n not in by_name]
            if missing:
                return  # each missing service fails alone, in its own story
            shared.update(prepare_release(story, self.configs, [by_name[n] for n in names], r))

        story.run(r, cfg.timeout, body)
        self.prepare_calls = story.ecs.calls.count("DescribeServices")
        if r.code != ExitCode.OK:
            r.reason = f"before any service moved: {r.reason}"
            return r
        return shared

    def _roll_back_all(self, results: list[DeployResult]) -> None:
        """--atomic: put every service that succeeded back on the revision it ran before
        (the failed ones were rolled back by their own deploy), and wait for them all. Never
        after a signal: a cancelled release makes no call it did not owe before the signal."""
        jobs: list[Callable[[], None]] = []
        deployers: list[Deployer] = []
        batcher = DescribeBatcher([])
        failed = ", ".join(r.service or "?" for r in results if r.code != ExitCode.OK)
        for cfg, r in zip(self.configs, results, strict=True):
            if not (r.code == ExitCode.OK and r.deployment_id and r.old_task_definition):
                continue
            batcher.active.add(cfg.service or "")
            deployer = self._deployer(cfg.service or "", batcher)
            deployers.append(deployer)

            def back(cfg: DeployConfig = cfg, r: DeployResult = r, d: Deployer = deployer) -> None:
                try:
                    d.roll_back_release(cfg, r, failed)
                except BaseException as exc:  # a thread must end in a result
                    r.rollback = Rollback(
                        outcome=Outcome.ERROR, reason=f"{type(exc).__name__}: {exc}"
                    )
                finally:
                    d.policy.live = False
                    batcher.finished(cfg.service or "")

            jobs.append(back)
        if jobs:
            self.reporter.warn(
                f"--atomic: a service failed; rolling back {len(jobs)} service(s) of the release"
            )
            self._in_threads(jobs)

    def _deployer(self, name: str, batcher: DescribeBatcher | None = None) -> Deployer:
        gateway = EcsGateway(
            self.client, policy=self.policy.child(), reader=batcher or self.batcher
        )
        gateway.on_call = self.on_call
        reporter = ServiceReporter(
            level=self.reporter.level,
            json_output=self.reporter.json_output,
            out=self.reporter.out,
            err=self.reporter.err,
            tty=self.board is not None,
            prefix=name,
            lock=self.lock,
            board=self.board,
        )
        return Deployer(gateway, reporter, self.readers)

    def _in_threads(self, jobs: Sequence[Callable[[], None]]) -> None:
        """Run the jobs, each in a thread, until all end. On an abort (a second signal, which
        the handler raises here, in the main thread), every thread stops at its next check:
        give them ABORT_GRACE to record where they stood, then raise it on."""
        threads = [threading.Thread(target=job, daemon=True) for job in jobs]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.1)  # short joins: a signal handler runs in this thread meanwhile
        except Aborted:
            until = time.monotonic() + ABORT_GRACE
            for t in threads:
                t.join(max(0.0, until - time.monotonic()))
            raise


def _deploy_shared(cfg: DeployConfig, shared: dict[str, str]) -> DeployConfig:
    """A service whose revision the release registered (or whose migration ran) deploys that
    revision as it is; pruning and the scheduled tasks, once per family, are the first
    service's."""
    arn = shared.get(cfg.service or "")
    cfg = replace(cfg, pre_deploy=None)
    if arn is None:
        return cfg
    first = min(n for n, a in shared.items() if a == arn)
    return replace(
        cfg,
        revision=arn,
        image=None,
        extra_images=(),
        tag_only=None,
        changes=Changes(),
        reregister=False,
        taskdef_file=None,
        use_latest_task_def=False,
        copy_task_definition_tags=False,
        preflight=False,  # checked when it was registered
        # the family's pruning and its scheduled tasks: once, with the first service
        max_definitions=cfg.max_definitions if cfg.service == first else None,
        scheduled_tasks=cfg.scheduled_tasks if cfg.service == first else "none",
    )


def _never_ran(name: str, why: str = "the deploy did not run") -> DeployResult:
    return replace(DeployResult.failure(ExitCode.DEPLOY_FAILED, why), service=name)
