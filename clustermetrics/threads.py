"""One thread budget for fits, metrics and the server's jobs: never more threads than cores.

Three kinds of threads run our work: scikit-learn's OpenMP loops (k-means), BLAS (OpenBLAS
under NumPy and SciPy) and our own kernel threads
(:func:`~clustermetrics.metrics.clusterstats.parallel_map`). Left at their defaults each takes
every CPU the machine has (``os.cpu_count()``, which ignores a container's CPU quota), and
BLAS's idle threads spin beside OpenMP's. The budget:

- :func:`cores`: the cores this process may use: its CPU affinity capped by its cgroup CPU
  quota, or ``CLUSTERMETRICS_THREADS`` when that holds a number.
- The kernel threads are :func:`cores` (a server job, a Dask task or ``n_jobs`` may cap them),
  with BLAS on one thread inside each (:func:`blas`).
- :func:`fit_threads`: a fit runs OpenMP on :func:`cores`, and BLAS on one thread for the
  models whose work is OpenMP loops (``OPENMP_MODELS``: scikit-learn sets BLAS to 1 inside
  those loops itself, and BLAS threads from their initialisation would only spin beside them);
  on :func:`cores` for the others.
- :func:`share`: what each of ``parts`` pieces of work running at once gets: a server with W
  job workers gives each fit's worker process ``cores // W``.
- :func:`blas`: OpenBLAS's thread count is one setting for the whole process (OpenMP's is each
  thread's own), so limits asked for on several threads at once are shared: the lowest of
  them holds while any runs, and each library's own setting comes back when the last ends.
  threadpoolctl's context restores what it found when it started, so two overlapping ones on
  two threads would leave the limit of whichever ended last, or lift one still running.
- OpenBLAS (0.3.30 and 0.3.31, as NumPy's and SciPy's wheels ship it) takes a new setting only
  from the thread that set it first and ignores the others'. Importing clustermetrics in the
  main thread makes that thread the one (it sets each loaded library to its own setting), so
  the limits of calls made from the main thread hold. A server sets BLAS to one thread in its
  main thread at start: its jobs' threads cannot raise it.

Limits only lower a library's thread count from what it is when they start, so a user's own
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``threadpool_limits`` around a call stay in
force. ``CLUSTERMETRICS_THREADS=off`` turns the budget off, for measuring against: the kernel
threads take ``os.cpu_count()`` (still with BLAS on one thread each) and fits keep the
libraries' defaults.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

ENV = "CLUSTERMETRICS_THREADS"  # a number: the budget's cores; "off": no budget
QUOTA_S = 10.0  # the cgroup quota is read again after this long
# models whose fit is OpenMP loops (BLAS is set to 1 inside them by scikit-learn): BLAS 1
OPENMP_MODELS = frozenset({"KMeans", "MiniBatchKMeans", "BisectingKMeans"})


def enabled() -> bool:
    """False when ``CLUSTERMETRICS_THREADS=off``: no budget, every pool at its default."""
    return os.environ.get(ENV, "").strip().lower() != "off"


def _fixed() -> int | None:
    """The cores ``CLUSTERMETRICS_THREADS`` gives (None: unset, ``auto`` or ``off``)."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("", "auto", "off"):
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        from .errors import InvalidParameterError
        raise InvalidParameterError(
            f"{ENV}={value!r} in the environment: give a number of cores >= 1, 'auto' (the "
            "cores this process may use) or 'off' (no budget).")
    return n


def cpu_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """The cgroup CPU quota in cores (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), None if
    there is none."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open(os.path.join(root, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota_us = int(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period_us = int(f.read())
        return None if quota_us <= 0 else quota_us / period_us
    return None


def usable_cores(affinity: int | None, quota: float | None) -> int:
    """The cores of an affinity set (None: ``os.cpu_count()``) capped by a CPU quota (rounded
    up: 1.5 cores of quota run 2 threads).

    >>> usable_cores(8, None), usable_cores(8, 2.0), usable_cores(8, 1.5), usable_cores(2, 4.0)
    (8, 2, 2, 2)
    """
    n = affinity or os.cpu_count() or 1
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


_quota: tuple[float, float | None] = (-math.inf, None)  # (when read, the quota)


def cores() -> int:
    """The cores this process may use: ``CLUSTERMETRICS_THREADS`` when it is a number, else its
    CPU affinity capped by its cgroup quota (read again every ``QUOTA_S``); with the budget
    off, ``os.cpu_count()``."""
    global _quota
    if not enabled():
        return os.cpu_count() or 1
    fixed = _fixed()
    if fixed is not None:
        return fixed
    if time.monotonic() - _quota[0] > QUOTA_S:
        _quota = (time.monotonic(), cpu_quota())
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return usable_cores(len(affinity) if affinity else None, _quota[1])


def share(parts: int, total: int | None = None) -> int:
    """Threads for each of ``parts`` pieces of work run at once on ``total`` cores (default
    :func:`cores`): ``max(1, total // parts)``.

    >>> share(2, total=8), share(3, total=8), share(4, total=2)
    (4, 2, 1)
    """
    total = cores() if total is None else total
    return max(1, total // max(1, parts))


# -- BLAS and OpenMP limits ---------------------------------------------------------------------

_scan: tuple[int, Any] = (-1, None)  # (modules loaded when scanned, the controller)
_scan_lock = threading.Lock()


def _controller() -> Any:
    """threadpoolctl's view of the loaded libraries (a scan costs milliseconds), scanned again
    after an import: a native library arrives with one."""
    global _scan
    with _scan_lock:
        if _scan[0] != len(sys.modules):
            from threadpoolctl import ThreadpoolController
            _scan = (len(sys.modules), ThreadpoolController())
        return _scan[1]


class _SharedBlas:
    """One BLAS limit for the process, shared by the holds on every thread: the lowest asked
    for while any is held, each library's own setting back when the last ends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: Counter[int] = Counter()
        self.saved: list[tuple[Any, int]] = []  # (library controller, its threads before)

    def _apply(self) -> None:
        n = min(self.active)
        for lib, before in self.saved:
            lib.set_num_threads(max(1, min(n, before)))

    def enter(self, n: int) -> None:
        with self.lock:
            # a library loaded while a limit is held joins it with its own setting
            known = {lib.filepath for lib, _ in self.saved}
            self.saved += [(lib, lib.num_threads) for lib in
                           _controller().select(user_api="blas").lib_controllers
                           if lib.filepath not in known]
            self.active[n] += 1
            try:
                self._apply()
            except BaseException:
                self._drop(n)
                raise

    def exit(self, n: int) -> None:
        with self.lock:
            self._drop(n)

    def _drop(self, n: int) -> None:
        """Let go of one hold of ``n`` (the lock held)."""
        self.active[n] -= 1
        if self.active[n] <= 0:
            del self.active[n]
        if self.active:
            self._apply()
            return
        saved, self.saved = self.saved, []
        for lib, before in saved:
            lib.set_num_threads(before)

    def limits(self) -> list[int]:
        """The limits held now (one entry per hold)."""
        with self.lock:
            return sorted(self.active.elements())


_blas = _SharedBlas()


def _forget_after_fork() -> None:
    """In a forked child no other thread runs: nothing is held, and a lock may be."""
    global _blas, _scan_lock
    _blas, _scan_lock = _SharedBlas(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def claim_blas() -> None:
    """Make this thread, if it is the main thread, the one OpenBLAS takes its settings from
    (each loaded library set to its own setting: nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for lib in _controller().select(user_api="blas").lib_controllers:
        lib.set_num_threads(lib.num_threads)


@contextlib.contextmanager
def blas(n: int) -> Iterator[None]:
    """BLAS on at most ``n`` threads inside (each library no higher than it was), shared with
    the other threads' holds (see the module's docstring)."""
    n = max(1, int(n))
    _blas.enter(n)
    try:
        yield
    finally:
        _blas.exit(n)


@contextlib.contextmanager
def openmp(n: int) -> Iterator[None]:
    """OpenMP on at most ``n`` threads in this thread's parallel regions (OpenMP's setting is
    the calling thread's own), no higher than it is."""
    saved = [(lib, lib.num_threads)
             for lib in _controller().select(user_api="openmp").lib_controllers]
    for lib, before in saved:
        lib.set_num_threads(max(1, min(int(n), before)))
    try:
        yield
    finally:
        for lib, before in saved:
            lib.set_num_threads(before)


def fit_split(model: str | type, n: int) -> tuple[int, int]:
    """(OpenMP threads, BLAS threads) of a fit of ``model`` (a class, whose bases count too,
    or a class name) on ``n`` cores.

    >>> fit_split("KMeans", 4), fit_split("GaussianMixture", 4)
    ((4, 1), (4, 4))
    """
    names = {model} if isinstance(model, str) else {c.__name__ for c in model.__mro__}
    return n, 1 if names & OPENMP_MODELS else n


@contextlib.contextmanager
def fit_threads(model: str | type, n: int | None = None) -> Iterator[tuple[int, int]]:
    """A fit of ``model`` (its class or class name) inside, on ``n`` cores (default
    :func:`cores`): OpenMP and BLAS as :func:`fit_split` gives. Nothing with the budget off."""
    if not enabled():
        yield (0, 0)
        return
    omp, blas_n = fit_split(model, cores() if n is None else n)
    with openmp(omp), blas(blas_n):
        yield omp, blas_n


__all__ = ["ENV", "OPENMP_MODELS", "blas", "claim_blas", "cores", "cpu_quota", "enabled",
           "fit_split", "fit_threads", "openmp", "share", "usable_cores"]
