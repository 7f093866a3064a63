"""One policy for a whole run: its deadline, cancellation by signal, and sleeps that a signal
cuts short. The gateway consults it before every AWS call and between retries, and the
watcher and the rollback wait through it, so no phase decides alone whether to go on.

The contract with CI (which sends SIGTERM when a job is cancelled):

- The first signal stops what is still to come: no AWS call starts after it, in any phase.
- A phase that must run despite it (the rollback a signal asked for) opens a new phase with
  `new_phase()`; only signals after that interrupt it.
- A further signal while one is still pending raises `Aborted` at once, wherever the run is;
  the deployer catches it, reports the state it knew and writes the summary.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable

from ecsdeploy.errors import EcsDeployError, ExitCode

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(EcsDeployError):
    """Raised instead of making an AWS call once a signal has arrived."""

    code = ExitCode.INTERRUPTED


class Aborted(BaseException):  # like KeyboardInterrupt: a BaseException, not an error
    """A second signal while the first was still pending: stop at once."""


class RunPolicy:
    """The deadline (a `clock()` value, or None) and the signals received."""

    def __init__(
        self,
        *,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.deadline = deadline
        self.clock = clock
        self.signals: list[int] = []
        #: While set, a further signal is recorded but does not abort: the summary is being
        #: written and must not be cut in half.
        self.finishing = False
        self._baseline = 0
        self._wake = threading.Event()
        #: Held while the wake event is set for a signal or cleared for a new phase (never
        #: by a signal handler: see `_woken`).
        self._wake_lock = threading.Lock()
        self._sleep = sleep
        #: Shared by a run and its children: the abort (set when a signal raised Aborted),
        #: and the children whose services are still running.
        self._aborted = [False]
        self._children: list[RunPolicy] = []
        self.live = True
        #: The read end of the signal wakeup pipe (see `install_signal_handlers`), or None.
        self.wakeup: int | None = None
        #: The write end of the pipe a signal wakes the sleepers through (see `_woken`).
        self.notify: int | None = None
        #: The handler's calls not yet recorded, and whether one is running (see on_signal).
        self._calls: list[int] = []
        self._handling = False

    def child(self) -> RunPolicy:
        """A policy for one service of a release: the run's signals (shared), with a deadline
        and phases of its own, so that one service's rollback phase does not change another's.
        A signal aborts the run only while a running service has one pending in its own phase,
        as a single deploy's would; an abort reaches every service at its next check."""
        child = RunPolicy(deadline=self.deadline, clock=self.clock, sleep=self._sleep)
        child.signals = self.signals
        child._wake, child._wake_lock = self._wake, self._wake_lock
        child._baseline = self._baseline
        child._aborted = self._aborted
        self._children.append(child)
        return child

    def budget(self, seconds: float) -> RunPolicy:
        """This policy for best-effort work of at most `seconds` (a failure's diagnosis, a
        preflight): its signals and phase, a deadline of its own that never passes this
        one's. Not a release child: it never decides whether a signal aborts the run."""
        view = RunPolicy(clock=self.clock, sleep=self._sleep)
        limit = self.clock() + seconds
        view.deadline = limit if self.deadline is None else min(self.deadline, limit)
        view.signals, view._wake, view._baseline = self.signals, self._wake, self._baseline
        view._wake_lock = self._wake_lock
        view._aborted = self._aborted
        return view

    # -- signals -------------------------------------------------------------------------

    def on_signal(self, signum: int, _frame: object = None) -> None:
        """The signal handler (see `install_signal_handlers`): each signal that arrived
        since the last call, in order.

        Python runs a handler between any two bytecodes, this one's own too: a signal that
        comes while it runs calls it again inside itself. That inner call only leaves its
        signal to the outer one, which reads the pipe again once it has recorded what it
        read: recorded inside, a later SIGTERM would be counted before the SIGINT whose
        handler it interrupted (exit 143, not 130)."""
        self._calls.append(signum)
        if self._handling:
            return
        self._handling = True
        try:
            while self._calls:
                calls, self._calls = self._calls, []
                for each in delivered(self.wakeup, calls):
                    self.record(each, _frame)
        finally:
            self._handling = False

    def record(self, signum: int, frame: object = None) -> None:
        """One signal: recorded, and an abort if one was already pending. An abort that
        comes while a module is being imported is raised at the next `check` instead (an
        import takes milliseconds): raised in the middle, it would leave that module half
        made for the summary that must still be written."""
        pending = self._pending()
        self.signals.append(signum)
        self._woken()
        if pending and not self.finishing:
            self.finishing = True  # one abort; later signals are only recorded
            self._aborted[0] = True
            if not _importing(frame):
                raise Aborted(signum)

    def _woken(self) -> None:
        """Wake whoever sleeps through this policy. From a signal handler, never by setting
        the event itself: `Event.set` takes a lock that the interrupted code may hold (inside
        its own `set`, `wait` or `clear`), and the handler would wait for it forever. The
        handler writes a byte to a pipe instead, and a thread of its own sets the event."""
        if self.notify is None:
            self._wake.set()  # no handler installed: called as a function (tests)
            return
        with contextlib.suppress(OSError):  # full: a wake is already on its way
            os.write(self.notify, b"\0")

    def wake_if_pending(self) -> None:
        """The waker thread's step: set the event if a signal is still to be honoured (not
        if a new phase began meanwhile: that phase must not wake at once)."""
        with self._wake_lock:
            if self._pending() or self._aborted[0]:
                self._wake.set()

    def raise_if_aborted(self) -> None:
        """Raise the abort a second signal asked for while an import ran, if it did."""
        if self._aborted[0]:
            raise Aborted(self.signals[-1] if self.signals else 0)

    def _pending(self) -> bool:
        """A signal not yet honoured: in this phase, or, for a release, in the current phase
        of a service still running."""
        live = [c for c in self._children if c.live]
        if live:
            return any(c.interrupted() for c in live)
        return self.interrupted()

    def interrupted(self) -> bool:
        """A signal arrived in the current phase (or the run was aborted)."""
        return len(self.signals) > self._baseline or self._aborted[0]

    def new_phase(self) -> None:
        """Start a phase that earlier signals do not stop (the rollback they asked for)."""
        with self._wake_lock:
            self._baseline = len(self.signals)
            self._wake.clear()

    def check(self, what: str) -> None:
        """Raise Interrupted if a signal arrived in this phase; `what` is about to happen.
        Raise Aborted if the run was aborted (a release's other threads learn it here)."""
        self.raise_if_aborted()
        if self.interrupted():
            raise Interrupted(f"interrupted before {what}")

    @property
    def exit_code(self) -> ExitCode:
        """130 for SIGINT, 143 for SIGTERM (by the first signal), as shells report them."""
        if self.signals and self.signals[0] == signal.SIGTERM:
            return ExitCode.TERMINATED
        return ExitCode.INTERRUPTED

    # -- time ----------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Sleep, returning early when a signal arrives (a fake sleep in tests)."""
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._wake.wait(max(0.0, seconds))

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()


def _importing(frame: object) -> bool:
    """The interrupted code runs inside an import (importlib's frames are on its stack)."""
    current = frame
    while current is not None:
        code = getattr(current, "f_code", None)
        if code is not None and code.co_filename.startswith("<frozen importlib"):
            return True
        current = getattr(current, "f_back", None)
    return False


def delivered(wakeup: int | None, signum: int | list[int]) -> list[int]:
    """The signals that arrived since a handler last ran, read from the wakeup pipe (one byte
    each, written as each arrives), or the handler's own (`signum`: one, or the calls it
    stands for) without a pipe. Python calls a handler once however many of its signal came
    before it could run; the pipe has them all. An empty pipe counts the handler's own: the
    signal came before the pipe was set up (in the interpreter's start-up), or its byte was
    read by the handler of another signal, which already counted two (one more changes
    nothing: the second already aborts)."""
    own = [signum] if isinstance(signum, int) else signum
    if wakeup is None:
        return own
    seen = b""
    while True:
        try:
            chunk = os.read(wakeup, 64)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:  # a closed pipe: count the signal itself
            return own
        if not chunk:
            break
        seen += chunk
    return [s for s in seen if s in SIGNALS] or own


def _start_waker(policy: RunPolicy) -> int:
    """A daemon thread that wakes `policy`'s sleepers for each byte its handler writes to
    the returned pipe (see RunPolicy._woken)."""
    read, write = os.pipe()
    os.set_blocking(write, False)

    def wake() -> None:
        while os.read(read, 64):
            policy.wake_if_pending()

    threading.Thread(target=wake, name="signal-waker", daemon=True).start()
    return write


def install_signal_handlers(policy: RunPolicy, *, wakeup: int | None = None) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to `policy`; returns a function that restores the old ones.
    `wakeup` is the read end of the pipe `signal.set_wakeup_fd` writes to (`__main__`'s)."""
    policy.wakeup = wakeup
    policy.notify = _start_waker(policy)
    previous = {s: signal.signal(s, policy.on_signal) for s in SIGNALS}

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)

    return restore
