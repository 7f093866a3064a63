"""A release: several services of one cluster deployed in one run, in parallel, watched
together, judged each and as a whole.

In passes, each begun once the one before it is done: every service is described, planned and
checked (reads only; a dry run ends here); then the new revisions are registered (one for the
services that run one revision) and --pre-deploy's migration runs, once; then the services
move. With --pre-deploy or --atomic, a release moves every service or none: one failed check
stops it before its first write. Without them, a service that fails its checks fails alone.

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

from ecsdeploy.config import DeployConfig
from ecsdeploy.deploy import Deployer, ServicePlan, prepare_release
from ecsdeploy.ecs import DESCRIBE_SERVICES_LIMIT, EcsGateway, service_not_found
from ecsdeploy.errors import EcsDeployError, ExitCode, NotFoundError
from ecsdeploy.gateways import AwsReaders
from ecsdeploy.levels import Level
from ecsdeploy.models import Service, family_of
from ecsdeploy.output import Reporter, ServiceReporter, StatusBoard
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
    lock: threading.Lock = field(default_factory=threading.Lock)
    aborted: bool = False
    board: StatusBoard | None = None
    batcher: DescribeBatcher = field(default_factory=lambda: DescribeBatcher([]))

    def run(self) -> ReleaseResult:
        """Plan and check every service (reads only; a dry run ends here), then register,
        then migrate, then move the services, each pass once the one before it is done."""
        started = time.monotonic()
        names = [c.service or "" for c in self.configs]
        # the migration runs once, with the first service's revision
        self.configs = [self.configs[0], *(replace(c, pre_deploy=None) for c in self.configs[1:])]
        batcher = self.batcher = DescribeBatcher(names)
        if self.reporter.tty and self.reporter.level >= Level.NORMAL:
            human = self.reporter.err if self.reporter.json_output else self.reporter.out
            self.board = StatusBoard(human, names)
        deployers = [self._deployer(name) for name in names]
        results: list[DeployResult | None] = [None] * len(self.configs)
        plans: list[ServicePlan | None] = [None] * len(self.configs)
        moved: set[int] = set()  # the services whose move has ended

        def plan(i: int, cfg: DeployConfig) -> None:
            try:
                results[i], plans[i] = deployers[i].plan_service(cfg)
            except BaseException as exc:  # a thread must end in a result
                results[i] = _never_ran(names[i], f"stopped: {type(exc).__name__}: {exc}")
            finally:
                if plans[i] is None:
                    deployers[i].policy.live = False
                    batcher.finished(names[i])

        def move(i: int, cfg: DeployConfig, planned: ServicePlan) -> None:
            r, results[i] = results[i], None  # until it ends, where_it_stood says
            assert r is not None
            try:
                deployers[i].move_service(cfg, planned, r)
                results[i] = r
            except BaseException as exc:  # a thread must end in a result
                results[i] = _never_ran(names[i], f"stopped: {type(exc).__name__}: {exc}")
            finally:
                moved.add(i)
                deployers[i].policy.live = False
                batcher.finished(names[i])

        try:
            self._in_threads([functools.partial(plan, i, c) for i, c in enumerate(self.configs)])
            if self.policy.interrupted():  # planned, not moved: they say where they stood
                for i in (i for i, p in enumerate(plans) if p is not None):
                    results[i] = deployers[i].where_it_stood(Outcome.INTERRUPTED, "interrupted")
                plans = [None] * len(plans)
            moving = self._checked(names, results, plans)
            if moving and self._prepare([p for _, p in moving], results, names):
                movers = _movers(self.configs, moving)
                self._in_threads([functools.partial(move, i, *m) for i, m in movers])
        except Aborted:
            self.aborted = True
            for i in (i for i, p in enumerate(plans) if p is not None and i not in moved):
                results[i] = None  # planned, not moved: where_it_stood says where it stood
        if self.board is not None:
            self.board.close()
            self.board = None  # rollbacks and the summary print plain lines below it
        final = [
            r or d.where_it_stood(Outcome.ABORTED, "aborted by a second signal") or _never_ran(n)
            for r, d, n in zip(results, deployers, names, strict=True)
        ]
        if self.aborted and not any(r.outcome in _STOPPED for r in final):
            self.aborted = False  # it came once every service had its verdict: they stand
        # any signal of the run: stopping a migration opened a phase of its own since
        signalled = bool(self.policy.signals)
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
        release.describe_calls = batcher.calls
        release.read_rounds = batcher.rounds
        return release

    def _checked(
        self,
        names: list[str],
        results: list[DeployResult | None],
        plans: list[ServicePlan | None],
    ) -> list[tuple[int, ServicePlan]]:
        """The services to move, once every one is planned and checked. A failed check
        stops the whole release when it migrates or is --atomic (all or none): then nothing
        moves, and each service that passed says why it did not (in a dry run too, so that
        it reads as the real run would)."""
        cfg = self.configs[0]
        failed = [r for r in results if r is not None and r.code != ExitCode.OK]
        moving = [(i, p) for i, p in enumerate(plans) if p is not None]
        why = "--pre-deploy" if cfg.pre_deploy is not None else "--atomic" if self.atomic else ""
        stopping = [r for r in failed if r.stops_release]
        if not (failed and (why or stopping)):
            return moving
        codes = {r.code for r in failed}
        code = failed[0].code if len(codes) == 1 else ExitCode.DEPLOY_FAILED
        which = ", ".join(r.service or "?" for r in failed)
        if stopping:
            cd = ", ".join(r.service or "?" for r in stopping)
            code = stopping[0].code
            reason = (
                f"not deployed: {cd} uses the CODE_DEPLOY controller, which a release does not "
                f"deploy; deploy {cd} alone (-n once) and the others without it; nothing was "
                "registered or run"
            )
        else:
            reason = (
                f"not deployed: {which} failed its checks, and a release with {why} moves "
                "every service or none; nothing was registered or run"
            )
        # the services that would move: planned, or in a dry run, shown with their requests
        dry = [
            i for i, r in enumerate(results) if r and r.outcome is Outcome.DRY_RUN and r.requests
        ]
        for i in sorted({i for i, _ in moving} | set(dry)):
            results[i] = DeployResult(
                code, Outcome.ERROR, reason, cluster=cfg.cluster, service=names[i]
            )
            plans[i] = None
        return []

    def _prepare(
        self,
        plans: list[ServicePlan],
        results: list[DeployResult | None],
        names: list[str],
    ) -> bool:
        """The release's writes before any service moves (deploy.prepare_release): its new
        revisions, registered, and the migration. False, with each service's result saying
        why, when they failed."""
        cfg = self.configs[0]
        story = Story(EcsGateway(self.client, policy=self.policy), self.reporter, self.readers)
        story.ecs.on_call = self.on_call
        r = DeployResult(ExitCode.OK, Outcome.SUCCEEDED, "", cluster=cfg.cluster)
        ok: list[bool] = []
        story.run(r, cfg.timeout, lambda: ok.append(prepare_release(story, cfg, plans, r)))
        if r.code == ExitCode.OK and ok == [True]:
            return True
        if r.outcome is Outcome.ABORTED:  # (the story ended it and said where it stood)
            self.aborted = True
        r.reason = f"before any service moved: {r.reason}"
        by_name = {p.service.name: p for p in plans}
        for i, name in enumerate(names):
            if name in by_name:
                planned = by_name[name]
                new = planned.target if planned.target != planned.old_arn else None
                results[i] = replace(
                    r, service=name, old_task_definition=planned.old_arn, new_task_definition=new
                )
        return False

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


def _movers(
    configs: Sequence[DeployConfig], moving: Sequence[tuple[int, ServicePlan]]
) -> list[tuple[int, tuple[DeployConfig, ServicePlan]]]:
    """Each moving service's config and plan. Pruning is once a family, with its first
    service; the scheduled tasks, once a revision, with the first service deployed to it."""
    pruned: set[str] = set()
    scheduled: set[str] = set()
    out = []
    for i, planned in moving:
        cfg = configs[i]
        family = family_of(planned.target)
        cfg = replace(
            cfg,
            pre_deploy=None,  # run by now
            max_definitions=cfg.max_definitions if family not in pruned else None,
            scheduled_tasks=cfg.scheduled_tasks if planned.target not in scheduled else "none",
        )
        pruned.add(family)
        scheduled.add(planned.target)
        out.append((i, (cfg, planned)))
    return out


#: The outcomes of a service that a signal stopped before its verdict.
_STOPPED = (Outcome.INTERRUPTED, Outcome.ABORTED)


def _never_ran(name: str, why: str = "the deploy did not run") -> DeployResult:
    return replace(DeployResult.failure(ExitCode.DEPLOY_FAILED, why), service=name)
