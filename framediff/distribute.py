"""Where the work of many files runs: this process's threads, local processes, or a Dask cluster.

``framediff index``, ``dupes`` and ``dedup`` over a library hand each file (or pair of files) to an
executor in the :mod:`concurrent.futures` sense and collect the results as they come; this module makes
the executors that are not a plain thread pool:

- :func:`process_pool`: ``N`` local processes (``dedup`` of a folder of videos, whose encoder and analysis
  hold the GIL between frames);
- :class:`Cluster`: a ``dask.distributed`` cluster, either one already running (``tcp://HOST:8786``, started
  with ``dask scheduler`` and ``dask worker``) or one of ``N`` local worker processes (``local:N``). The
  tasks run on the workers, which read the files themselves (the files must lie on storage every worker
  sees under the same paths); results come back to this process, the only one that writes the index.

A worker that dies takes only its unfinished tasks with it: the scheduler gives them to another worker
(every task here is a pure function of the file's bytes, so doing one twice gives the same result), and
results already received are already in the index. Dask is an optional extra (``framediff[cluster]``).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import FramediffError, OptionError

__all__ = [
    "CLUSTER_HINT",
    "Cluster",
    "ClusterError",
    "ClusterExecutor",
    "ClusterSpec",
    "TaskKilledError",
    "call_with_settings",
    "current_settings",
    "parse_cluster",
    "process_pool",
    "work_pool",
]

CLUSTER_HINT = "pip install 'framediff[cluster]'"
# How long to wait for a scheduler to answer, and for a scheduler to have a worker: a wrong address
# should fail in seconds, not hang.
CONNECT_SECONDS = 10.0
WORKER_WAIT_SECONDS = 60.0
# A task whose worker dies is given to another one; after this many deaths of workers running it (Dask's
# default of distributed.scheduler.allowed-failures, a setting of the scheduler), it is the task that kills
# them: a file that crashes the decoder, or a picture too big for the workers' memory limit.
ALLOWED_FAILURES = 3


class ClusterError(FramediffError):
    """The cluster cannot be reached or used (no scheduler there, no workers, another framediff on them)."""


class TaskKilledError(ClusterError):
    """A task's workers died :data:`ALLOWED_FAILURES` times running it (a file that crashes the reader)."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where a cluster is: a scheduler's address, or a number of local worker processes.

    Attributes:
        address: The scheduler (``tcp://HOST:PORT``); ``None`` for a local cluster.
        local: Worker processes of a local cluster (``None`` with an address).
    """

    address: str | None = None
    local: int | None = None

    def __str__(self) -> str:
        return self.address if self.address is not None else f"local:{self.local}"


def parse_cluster(text: str) -> ClusterSpec:
    """Read ``--cluster``: ``tcp://HOST:PORT`` (``tls://``, ``ws://``, ``wss://`` too) or ``local:N``.

    Args:
        text: What was given.

    Returns:
        The :class:`ClusterSpec`.

    Raises:
        OptionError: when it is neither form (checked before anything is imported or started).
    """
    text = text.strip()
    m = re.fullmatch(r"local:(\d+)", text)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise OptionError(
                f"cluster {text}: a local cluster needs at least 1 worker", "give local:N with N >= 1", setting="cluster"
            )
        return ClusterSpec(local=n)
    parts = urlsplit(text)
    if parts.scheme in ("tcp", "tls", "ws", "wss") and parts.hostname:
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None:
            raise OptionError(
                f"cluster {text}: no port", "give the scheduler as tcp://HOST:PORT; dask scheduler listens on 8786",
                setting="cluster",
            )
        return ClusterSpec(address=text)
    raise OptionError(
        f"cluster {text!r} is not a scheduler address", "give tcp://HOST:PORT, or local:N for N local worker processes",
        setting="cluster",
    )


def current_settings() -> dict[str, Any]:
    """The process-wide settings a task must see wherever it runs (the picture size limit)."""
    from .media.images import max_pixels

    return {"max_pixels": max_pixels()}


def call_with_settings(settings: dict[str, Any], fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` with the settings :func:`current_settings` took in the calling process.

    Args:
        settings: From :func:`current_settings`.
        fn: The task.
        *args: Its arguments.

    Returns:
        What ``fn`` returns.
    """
    from .media.images import set_max_pixels

    set_max_pixels(settings["max_pixels"])
    return fn(*args)


class ClusterExecutor(cf.Executor):
    """A :class:`concurrent.futures.Executor` whose tasks run on a Dask cluster.

    Each :meth:`submit` becomes one Dask task (not pure: the same file submitted twice is read twice, which
    costs nothing here and spares hashing the arguments); its result is fetched to this process as soon as
    it is done, so a worker dying afterwards loses nothing. A task whose worker died is redone by the
    scheduler elsewhere; only after the scheduler's allowed failures (:data:`ALLOWED_FAILURES` by default)
    does its future fail, with a :class:`TaskKilledError`.

    Args:
        client: A connected ``distributed.Client``.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._settings = current_settings()
        self._running: dict[cf.Future, Any] = {}
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:  # type: ignore[override]
        """Run ``fn(*args)`` on a worker (keyword arguments are not supported)."""
        if kwargs:
            raise TypeError("ClusterExecutor.submit takes positional arguments only")
        if self._shutdown:
            raise RuntimeError("cannot submit to a shut-down executor")
        result: cf.Future = cf.Future()
        task = self._client.submit(call_with_settings, self._settings, fn, *args, pure=False)
        # What the task is about, for the error when it kills its workers: a path, or a clip's input.
        first = args[0] if args else None
        what = first if isinstance(first, str) else getattr(first, "input", None) or getattr(fn, "__name__", "a task")
        with self._lock:
            self._running[result] = task

        def cancelled(f: cf.Future) -> None:
            if f.cancelled():
                task.cancel()
                # As an executor's worker does on picking up a cancelled future: wait() counts it done.
                _start(f)

        result.add_done_callback(cancelled)
        # Dask runs the callback on a thread of its own, where fetching the result may block.
        task.add_done_callback(lambda t: self._deliver(t, result, what))
        return result

    def _deliver(self, task: Any, result: cf.Future, what: str) -> None:
        with self._lock:
            self._running.pop(result, None)
        if result.cancelled():
            return
        try:
            value = task.result()
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            if type(e).__name__ == "KilledWorker":
                e = TaskKilledError(
                    f"{what}: the workers kept dying running it", "see the workers' logs: a crash, or their memory limit"
                )
            elif type(e).__name__ == "CancelledError" and not result.done():
                result.cancel()  # its callback above tells the waiters
                return
            if _start(result):
                result.set_exception(e)
            return
        if _start(result):
            result.set_result(value)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking tasks; with ``cancel_futures`` (or ``wait=False``) cancel those not done."""
        self._shutdown = True
        with self._lock:
            running = list(self._running)
        if cancel_futures or not wait:
            for f in running:
                f.cancel()
        elif wait:
            cf.wait(running)


_STARTING = threading.Lock()


def _start(f: cf.Future) -> bool:
    """``f.set_running_or_notify_cancel()`` once, whichever of the cancelling caller and the result's
    delivery comes first (the second one finds it done, or cancelled and notified)."""
    with _STARTING:
        if f.done() and not f.cancelled():
            return False
        try:
            return f.set_running_or_notify_cancel()
        except RuntimeError:  # already cancelled and notified
            return False


class Cluster:
    """A Dask cluster to run framediff's tasks on, for the length of a ``with`` block.

    Args:
        spec: A :class:`ClusterSpec` or the text :func:`parse_cluster` reads.
        connect_seconds: How long to wait for the scheduler to answer.

    Raises:
        OptionError: when ``spec`` is malformed, or Dask is not installed (naming ``framediff[cluster]``).
        ClusterError: when the scheduler cannot be reached, has no worker, or its workers run another
            framediff (from ``__enter__``).
    """

    def __init__(self, spec: ClusterSpec | str, connect_seconds: float = CONNECT_SECONDS) -> None:
        self.spec = parse_cluster(spec) if isinstance(spec, str) else spec
        self.connect_seconds = connect_seconds
        self.client: Any = None
        self._local: Any = None
        import_distributed()

    def __enter__(self) -> Cluster:
        import distributed

        try:
            if self.spec.local is not None:
                self._local = distributed.LocalCluster(
                    n_workers=self.spec.local, threads_per_worker=1, processes=True, dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )  # fmt: skip
                self.client = distributed.Client(self._local, set_as_default=False)
            else:
                self._reachable(self.spec.address or "")
                self.client = distributed.Client(
                    self.spec.address, timeout=self.connect_seconds, set_as_default=False
                )
            self._check_workers()
        except BaseException:
            self.close()
            raise
        return self

    def _reachable(self, address: str) -> None:
        """Refuse at once an address nothing listens on (Dask itself retries until its timeout)."""
        parts = urlsplit(address)
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=self.connect_seconds).close()
        except OSError as e:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address} ({e.strerror or e})",
                "start one there with 'dask scheduler', or give --cluster local:N",
            ) from None

    def _check_workers(self) -> None:
        """Wait for a worker, and refuse workers that run another framediff (their fingerprints would differ)."""
        from . import __version__

        try:
            self.client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
        except (TimeoutError, OSError):
            raise ClusterError(
                f"the Dask scheduler at {self.spec} has no worker after {WORKER_WAIT_SECONDS:.0f} s",
                f"start workers with 'dask worker {self.spec}'",
            ) from None
        try:
            versions = self.client.run(worker_version)
        except Exception as e:  # noqa: BLE001 - a worker without framediff cannot even run the check
            raise ClusterError(
                f"the workers of {self.spec} cannot run framediff ({type(e).__name__}: {e})",
                f"install framediff {__version__} on every worker",
            ) from None
        other = {w: v for w, v in versions.items() if v != __version__}
        if other:
            worker, version = next(iter(other.items()))
            raise ClusterError(
                f"worker {worker} runs framediff {version}, this is {__version__}",
                f"install framediff {__version__} on every worker",
            )

    @property
    def threads(self) -> int:
        """Tasks the workers run at once (their threads, all together)."""
        return max(1, sum(self.client.nthreads().values()))

    def executor(self) -> ClusterExecutor:
        """An executor whose tasks run on this cluster's workers."""
        return ClusterExecutor(self.client)

    def close(self) -> None:
        """Disconnect (and stop a local cluster); safe to call twice."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._local is not None:
            self._local.close()
            self._local = None

    def __exit__(self, *exc: object) -> None:
        self.close()


def worker_version() -> str:
    """The framediff version a worker runs (run on each worker by :class:`Cluster`)."""
    from . import __version__

    return __version__


def import_distributed() -> Any:
    """``dask.distributed``, or the one-line error that says how to install it.

    Raises:
        OptionError: when it is not installed.
    """
    try:
        import distributed
    except ImportError:
        raise OptionError(
            "running on a Dask cluster needs dask.distributed, which is not installed", CLUSTER_HINT
        ) from None
    return distributed


def process_pool(jobs: int) -> cf.ProcessPoolExecutor:
    """``jobs`` local worker processes, started fresh (not forked from a process with threads running).

    Args:
        jobs: Processes.

    Returns:
        The executor; its tasks must be importable functions with picklable arguments.
    """
    return cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


@contextmanager
def work_pool(cluster: str | ClusterSpec | Cluster | None, jobs: int) -> Iterator[tuple[cf.Executor | None, int]]:
    """The executor a run hands its tasks to, and how many run at once.

    Args:
        cluster: A cluster (see :func:`parse_cluster`; or a :class:`Cluster` already connected, which is
            left open), or ``None`` for this process's threads.
        jobs: Threads when there is no cluster.

    Yields:
        ``(executor, parallel)``: ``(None, jobs)`` without a cluster (the caller makes its own thread pool),
        else the cluster's executor and its workers' threads.
    """
    if cluster is None:
        yield None, jobs
        return
    with nullcontext(cluster) if isinstance(cluster, Cluster) else Cluster(cluster) as c:
        pool = c.executor()
        try:
            yield pool, c.threads
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
