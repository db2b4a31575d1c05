"""``watch --exec``: a command run for each event, with the event as JSON on its stdin and in
``FRAMEDIFF_EVENT``; bounded in time, in how many run at once and in how many wait."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..errors import OptionError, named
from ..options import number

__all__ = ["CommandRunner", "EVENT_ENV"]

EVENT_ENV = "FRAMEDIFF_EVENT"


class CommandRunner:
    """Runs a command for each event, with the event as JSON in the ``FRAMEDIFF_EVENT`` variable.

    The command line is split once, like a shell would split words, and run without a shell: nothing in
    an event (a zone name, a path) can ever be interpreted as shell syntax. Commands run in the background
    so a slow script does not stall the watch, and everything about them is bounded, whatever the hook
    does: at most ``max_running`` run at once; events wait in a queue of ``max_queue`` (when it is full
    the oldest waiting event is dropped, with one warning on stderr per burst of drops); a command still
    running after ``timeout`` seconds is stopped (SIGTERM to its process group, SIGKILL a second later);
    and :meth:`close` waits for all of them together, a few seconds at most.

    Args:
        command: The command line, e.g. ``"notify-send framediff"`` or ``"python hook.py --loud"``.
        timeout: Seconds a command may run before it is stopped.
        max_running: Commands running at once at most.
        max_queue: Events waiting for a free slot at most.
        labels: What the caller calls ``exec`` and ``exec_timeout`` in messages (a command line:
            ``{"exec": "--exec", "exec_timeout": "--exec-timeout"}``).

    Raises:
        OptionError: when the command is empty, cannot be parsed, or is not found, or the timeout is out
            of range.
    """

    # After SIGTERM, how long a command has to clean up before SIGKILL.
    KILL_GRACE = 1.0

    def __init__(
        self,
        command: str,
        timeout: float = 5.0,
        max_running: int = 4,
        max_queue: int = 16,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        # How messages name the command and its timeout (a command line: --exec, --exec-timeout).
        self.label, self.timeout_label = named("exec", labels), named("exec_timeout", labels)
        label = self.label
        try:
            self.argv = shlex.split(command)
        except ValueError as e:
            raise OptionError(f"{label} {command!r} cannot be parsed: {e}", "check the quotes") from None
        if not self.argv:
            raise OptionError(f"{label} needs a command", f'e.g. {label} "python hook.py"')
        if shutil.which(self.argv[0]) is None:
            raise OptionError(
                f"{label} command {self.argv[0]!r} not found", "give a full path or a program on PATH"
            )
        self.timeout = float(number(self.timeout_label, timeout, lo=0.1, hi=86400))
        self.max_running = max(1, int(max_running))
        self.max_queue = max(1, int(max_queue))
        self.started = 0
        self.failures = 0
        self.dropped = 0
        self.stopped = 0  # commands stopped for outliving the timeout (or still running at close)
        self._queue: deque[dict[str, str]] = deque()
        # Running commands and when each must end; then those sent SIGTERM and when they get SIGKILL.
        self._running: list[tuple[subprocess.Popen, float]] = []
        self._ending: list[tuple[subprocess.Popen, float]] = []
        self._warned_drop = False  # one warning per burst of drops: reset once the queue has emptied
        self._warned_stop = False
        self._closing = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None  # started with the first event

    def run(self, event: dict[str, Any]) -> None:
        """Queue the command for one event (returns at once; it starts as soon as a slot is free)."""
        env = dict(os.environ)
        env[EVENT_ENV] = json.dumps(event)
        env["FRAMEDIFF_EVENT_TYPE"] = str(event.get("event", ""))
        with self._cond:
            if self._closing:
                return
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self.dropped += 1
                if not self._warned_drop:
                    self._warned_drop = True
                    print(
                        f"warning: {self.label}: {self.max_running} commands still running and {self.max_queue} "
                        f"events waiting: dropping the oldest (a hook is slow; see {self.timeout_label})",
                        file=sys.stderr,
                    )
            self._queue.append(env)
            if self._thread is None:
                self._thread = threading.Thread(target=self._supervise, name="framediff-exec", daemon=True)
                self._thread.start()
            self._cond.notify()

    @property
    def waiting(self) -> int:
        """Events queued for a free slot."""
        with self._cond:
            return len(self._queue)

    @property
    def running(self) -> int:
        """Commands alive now (running, or stopped and not yet gone)."""
        with self._cond:
            return len(self._running) + len(self._ending)

    def _supervise(self) -> None:
        """The commands' own thread: starts queued ones, reaps finished ones, stops overdue ones."""
        with self._cond:
            while True:
                self._tick(time.monotonic())
                if self._closing and not (self._queue or self._running or self._ending):
                    return
                # Polling a handful of children ten times a second costs nothing; idle, it sleeps.
                busy = self._running or self._ending
                self._cond.wait(0.05 if busy else None)

    def _tick(self, now: float) -> None:
        """One round of the supervisor (called with the lock held)."""
        still: list[tuple[subprocess.Popen, float]] = []
        for p, deadline in self._running:
            if p.poll() is not None:
                continue
            if now < deadline:
                still.append((p, deadline))
                continue
            self._signal(p, signal.SIGTERM)
            self._ending.append((p, now + self.KILL_GRACE))
            self.stopped += 1
            if not self._warned_stop and not self._closing:
                self._warned_stop = True
                print(
                    f"warning: {self.label}: a command ran longer than {self.timeout:g} s and was stopped "
                    f"(raise {self.timeout_label} if it needs longer)",
                    file=sys.stderr,
                )
        self._running = still
        ending: list[tuple[subprocess.Popen, float]] = []
        for p, kill_at in self._ending:
            if now >= kill_at:
                # The whole group: a hook's own children (a shell's sleep) must not outlive it either.
                self._signal(p, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=1.0)
            elif p.poll() is None or self._group_alive(p):
                ending.append((p, kill_at))
        self._ending = ending
        while self._queue and len(self._running) + len(self._ending) < self.max_running:
            self._start(self._queue.popleft(), now)
        if not self._queue:
            self._warned_drop = False

    def _start(self, env: dict[str, str], now: float) -> None:
        try:
            # A session (and process group) of its own, so that a timeout stops the hook's children too.
            p = subprocess.Popen(  # noqa: S603 - argv from the user's own --exec, never a shell
                self.argv, env=env, stdin=subprocess.DEVNULL, close_fds=True, start_new_session=True
            )
        except OSError as e:
            self.failures += 1
            print(f"warning: {self.label} failed: {e}", file=sys.stderr)
            return
        self.started += 1
        self._running.append((p, now + self.timeout))

    @staticmethod
    def _signal(p: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)

    @staticmethod
    def _group_alive(p: subprocess.Popen) -> bool:
        try:
            os.killpg(p.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def close(self, timeout: float = 3.0) -> None:
        """Let running and waiting commands finish, all together, for ``timeout`` seconds at most (and
        never past their own timeout), then stop the rest; events still waiting then are not run."""
        end = time.monotonic() + timeout
        with self._cond:
            while (self._queue or self._running) and time.monotonic() < end:
                self._cond.wait(0.05)
            left = len(self._queue)
            self._queue.clear()
            self._closing = True
            now = time.monotonic()
            for p, _deadline in self._running:
                self._signal(p, signal.SIGTERM)
                self._ending.append((p, now + self.KILL_GRACE))
                self.stopped += 1
            self._running = []
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(self.KILL_GRACE + 2.0)
        if left or self.dropped:
            print(
                f"warning: {self.label}: {self.dropped + left} events not run (the command could not keep up)",
                file=sys.stderr,
            )
