"""The local engine: stream a stored dataset in Arrow batches into the metrics pipeline.

Each Arrow batch becomes one :class:`Batch`, numbered as a partition (0, 1, ...) in storage
order, the same on every pass; :func:`~clustermetrics.metrics.evaluate_source` folds the
pipeline's partial statistics over them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator

import numpy as np
import pyarrow as pa

from ..documents import Prefetch
from ..metrics.clusterstats import work_check
from ..metrics.evaluate import Batch
from ..store.store import Store
from .columns import ArrowIds
from .columns import label_values as _values

# rows per batch read: DuckDB's memory for a small batch is reused, where fresh pages for
# 16,384 rows cost more than the read (bench_store); the batches run side by side
BATCH_ROWS = 4_096
# The pass cache of a process (every source's kept batches together) stays within the least of:
CACHE_CAP = 32 * 2**30  # a fixed cap: beyond it a second read costs little beside the work
AVAILABLE_SHARE = 2  # half of the memory available to the process (kept batches counted in)
ADDRESS_SHARE = 4  # a quarter of the address space left under its RLIMIT_AS, where one is set


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            value = f.read().strip()
    except OSError:
        return None
    return int(value) if value.isdigit() else None


def memory_bytes() -> int | None:
    """This machine's memory, or the container's limit where that is lower (cgroup v2);
    None where neither can be read."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    limit = _read_int("/sys/fs/cgroup/memory.max")  # "max" where there is no limit
    return total if limit is None else min(total, limit)


def available_bytes() -> int | None:
    """Memory that can be had now without swapping: the kernel's ``MemAvailable`` (free
    memory plus the page cache it can drop), or less where the container's limit (cgroup v2)
    leaves less; the free pages where there is no ``/proc/meminfo``; None where nothing can be
    read."""
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            return None
    limit, current = (_read_int(f"/sys/fs/cgroup/memory.{f}") for f in ("max", "current"))
    if limit is not None and current is not None:
        available = min(available, max(0, limit - current))
    return available


def address_room() -> int | None:
    """Bytes of address space this process may still map under its ``RLIMIT_AS`` (a server's
    job limit, ``ulimit -v``); None where no limit is set."""
    import resource  # POSIX only, like the limit itself

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return soft // 2  # unknown use: as if half were mapped already
    return max(0, soft - mapped)


def cache_limit(kept: int = 0, *, available: int | None, room: int | None,
                cap: int = CACHE_CAP) -> int:
    """The most bytes a process may keep in its pass cache, ``kept`` being kept already: the
    least of ``cap``, half of the memory available (``available``, plus ``kept``, which
    would be available again without it) and a quarter of the address space left under
    ``RLIMIT_AS`` (``room``, plus ``kept``). The rest is left to the call's own work (DuckDB's
    buffers, a batch being read, pass 2's arrays) and to everything else on the machine.
    Where the available memory cannot be read, 1 GiB.

    Examples
    --------
    >>> GiB = 2**30
    >>> cache_limit(available=20 * GiB, room=None) // GiB  # a 24 GiB machine, mostly free
    10
    >>> cache_limit(3 * GiB, available=2 * GiB, room=None) // GiB  # 3 GiB kept already
    2
    >>> cache_limit(available=20 * GiB, room=2 * GiB) // 2**20  # ulimit -v: 2 GiB unmapped
    512
    """
    limits = [cap, (available + kept) // AVAILABLE_SHARE if available is not None else 2**30]
    if room is not None:
        limits.append((room + kept) // ADDRESS_SHARE)
    return max(0, min(limits))


class CacheBudget:
    """Bytes of batches that sources may keep between passes, shared by every call in the
    process (a server runs several at once): a source keeps a pass only while the budget
    lets it, and gives the bytes back when it is dropped.

    ``limit=None`` sizes the budget to the machine each time a pass asks
    (:func:`cache_limit` of the memory available now and the address space left): the
    process-wide :data:`SHARED_CACHE`. A number is a fixed budget (``cache_mb``)."""

    def __init__(self, limit: int | None = None):
        self.fixed, self.used = limit, 0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        """The most bytes kept in all: the fixed budget, or the machine's rule now."""
        if self.fixed is not None:
            return self.fixed
        return cache_limit(self.used, available=available_bytes(), room=address_room())

    @limit.setter
    def limit(self, value: int) -> None:
        self.fixed = value

    def room(self) -> int:
        """Bytes that may be kept beyond those kept now."""
        return max(0, self.limit - self.used)

    def take(self, nbytes: int, limit: int | None = None) -> bool:
        """Keep ``nbytes`` more if they fit in ``limit`` (default: :attr:`limit`, read now)."""
        limit = self.limit if limit is None else limit
        with self._lock:
            if self.used + nbytes > limit:
                return False
            self.used += nbytes
            return True

    def give(self, nbytes: int) -> None:
        with self._lock:
            self.used -= nbytes


SHARED_CACHE = CacheBudget()


def _checked(batches: Iterable[Batch]) -> Iterator[Batch]:
    check = work_check.get()  # a server job's: work that reads the store stops at its cancel
    for batch in batches:
        if check is not None:
            check()
        yield batch


class StoreSource:
    """A dataset's vectors, labels and (optionally) ground truth as a source of batches.

    Documents without the vector are skipped (counted in ``n_without_vector``); the other
    rows come in storage order, the same on every pass, read by a background thread while
    the caller works on the batch before. When a whole pass fits in the cache budget (by
    default :data:`SHARED_CACHE`, shared by the process and sized to the memory available
    when the pass starts: see :func:`cache_limit`; ``cache_mb`` gives this source a budget
    of its own), its batches are kept and the next pass reuses them; otherwise every pass
    reads DuckDB again, so memory stays bounded.
    """

    def __init__(self, store: Store, dataset: str, vector_field: str, label_field: str | None,
                 truth_field: str | None = None, *, dim: int, batch_rows: int = BATCH_ROWS,
                 cache_mb: float | None = None):
        self.store, self.dataset, self.dim = store, dataset, dim
        self.budget = (SHARED_CACHE if cache_mb is None
                       else CacheBudget(int(cache_mb * 2**20)))
        self._held = [0]  # bytes taken from the budget, given back when the source is dropped
        weakref.finalize(self, _give_back, self.budget, self._held)
        self._open: weakref.WeakSet[Generator] = weakref.WeakSet()  # passes being read
        self._cache: list[Batch] | None = None
        self.has_labels = label_field is not None
        self.columns = ["_id", vector_field] + [f for f in (label_field, truth_field) if f]
        self.vector_field = vector_field
        self.batch_rows = batch_rows
        self.has_truth = truth_field is not None
        total, self.n_rows = store.field_count(dataset, vector_field)
        self.n_without_vector = total - self.n_rows

    def batches(self) -> Iterator[Batch]:
        """One pass: the kept batches, or DuckDB read again (keeping them if they fit)."""
        if self._cache is not None:
            return _checked(self._cache)
        read = self._read(keep=True)
        self._open.add(read)
        return _checked(read)

    def _read(self, *, keep: bool) -> Generator[Batch, None, None]:
        # the limit read once a pass; a pass whose vectors alone would not fit is not kept
        limit = self.budget.limit if keep else 0
        kept: list[Batch] | None = [] if keep and self._fits(limit) else None
        reader = self.store.reader(self.dataset, self.columns,
                                   not_null=self.vector_field,
                                   batch_size=self.batch_rows)
        converted = (self._convert(rb, p) for p, rb in enumerate(reader))  # numbered partitions
        with Prefetch(converted, depth=2) as prefetched:
            for batch in prefetched:
                if kept is not None:
                    kept = self._keep(kept, batch, limit)
                yield batch
        self._cache = kept

    def _fits(self, limit: int) -> bool:
        """Whether the pass's vectors (float32 at least) fit in the budget's room."""
        return self.budget.used + self.n_rows * self.dim * 4 <= limit

    def _keep(self, kept: list[Batch], batch: Batch, limit: int) -> list[Batch] | None:
        """Keep the batch for the next pass while the budget allows; else give all back."""
        nbytes = sum(_nbytes(a) for a in (batch.X, batch.labels, batch.truth, batch.ids))
        if self.budget.take(nbytes, limit):
            self._held[0] += nbytes
            kept.append(batch)
            return kept
        _give_back(self.budget, self._held)
        return None

    def close(self) -> None:
        """End every pass still open (its reader thread stopped and joined, so nothing reads
        the store after the call that made this source) and drop the kept batches."""
        for read in list(self._open):
            read.close()
        self._cache = None
        _give_back(self.budget, self._held)

    def __enter__(self) -> StoreSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def materialize(self, on_batch: Callable[[int], None] | None = None) -> Batch:
        """The whole source as one batch (read once, nothing kept besides it);
        ``on_batch(rows)`` after each batch read."""
        parts = []
        with contextlib.closing(self._read(keep=False)) as read:
            for part in read:
                parts.append(part)
                if on_batch:
                    on_batch(len(part.X))
        if not parts:
            return Batch(np.empty((0, self.dim), np.float32), np.empty(0), None, np.empty(0))
        return Batch(np.concatenate([p.X for p in parts]),
                     np.concatenate([p.labels for p in parts]) if self.has_labels else None,
                     np.concatenate([p.truth for p in parts]) if self.has_truth else None,
                     np.concatenate([p.ids for p in parts]))

    def _convert(self, rb: pa.RecordBatch, partition: int) -> Batch:
        X = rb.column(1).flatten().to_numpy(zero_copy_only=True).reshape(-1, self.dim)
        labels = _values(rb.column(2)) if self.has_labels else None
        truth = _values(rb.column(rb.num_columns - 1)) if self.has_truth else None
        return Batch(X, labels, truth, ArrowIds(rb.column(0)), partition)


def _give_back(budget: CacheBudget, held: list[int]) -> None:
    budget.give(held[0])
    held[0] = 0


def _nbytes(values) -> int:
    """An array's memory, each Python object in it (a string id or label) counted as 64 bytes
    (its 8-byte pointer and about 56 bytes of object)."""
    if values is None:
        return 0
    if isinstance(values, ArrowIds):
        return values.nbytes
    values = np.asarray(values)
    return values.nbytes + (56 * values.size if values.dtype == object else 0)
