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
from .columns import label_values as _values

BATCH_ROWS = 16_384  # small batches arrive sooner: measured faster than 65,536 in bench_store
CACHE_SHARE = 4  # the pass cache of a process: at most this fraction (1/4) of the memory


def memory_bytes() -> int | None:
    """This machine's memory, or the container's limit where that is lower (cgroup v2);
    None where neither can be read."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


class CacheBudget:
    """Bytes of batches that sources may keep between passes, shared by every call in the
    process (a server runs several at once): a source keeps a pass only while the budget
    lets it, and gives the bytes back when it is dropped."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self._lock = threading.Lock()

    def take(self, nbytes: int) -> bool:
        with self._lock:
            if self.used + nbytes > self.limit:
                return False
            self.used += nbytes
            return True

    def give(self, nbytes: int) -> None:
        with self._lock:
            self.used -= nbytes


_memory = memory_bytes()
SHARED_CACHE = CacheBudget(_memory // CACHE_SHARE if _memory else 2**30)


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
    default :data:`SHARED_CACHE`, a quarter of the memory shared by the process; ``cache_mb``
    gives this source a budget of its own), its batches are kept and the next pass reuses
    them; otherwise every pass reads DuckDB again, so memory stays bounded.
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
        kept: list[Batch] | None = [] if keep else None
        reader = self.store.reader(self.dataset, self.columns,
                                   not_null=self.vector_field,
                                   batch_size=self.batch_rows)
        converted = (self._convert(rb, p) for p, rb in enumerate(reader))  # numbered partitions
        with Prefetch(converted, depth=2) as prefetched:
            for batch in prefetched:
                if kept is not None:
                    kept = self._keep(kept, batch)
                yield batch
        self._cache = kept

    def _keep(self, kept: list[Batch], batch: Batch) -> list[Batch] | None:
        """Keep the batch for the next pass while the budget allows; else give all back."""
        nbytes = sum(_nbytes(a) for a in (batch.X, batch.labels, batch.truth, batch.ids))
        if self.budget.take(nbytes):
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
        return Batch(X, labels, truth, rb.column(0).to_numpy(zero_copy_only=False), partition)


def _give_back(budget: CacheBudget, held: list[int]) -> None:
    budget.give(held[0])
    held[0] = 0


def _nbytes(values) -> int:
    """An array's memory, each Python object in it (a string id or label) counted as 64 bytes
    (its 8-byte pointer and about 56 bytes of object)."""
    if values is None:
        return 0
    values = np.asarray(values)
    return values.nbytes + (56 * values.size if values.dtype == object else 0)
