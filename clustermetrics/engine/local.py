"""The local engine: stream a stored dataset in Arrow batches into the metrics pipeline.

Each Arrow batch becomes one :class:`Batch`, numbered as a partition (0, 1, ...) in storage
order, the same on every pass; :func:`~clustermetrics.metrics.evaluate_source` folds the
pipeline's partial statistics over them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa

from ..metrics.evaluate import Batch
from ..store.store import Store
from .columns import label_values as _values

BATCH_ROWS = 16_384  # small batches arrive sooner: measured faster than 65,536 in bench_store
CACHE_MB = 1024  # a pass that fits is kept for the next one instead of reading DuckDB again


class StoreSource:
    """A dataset's vectors, labels and (optionally) ground truth as a source of batches.

    Documents without the vector are skipped (counted in ``n_without_vector``); the other
    rows come in storage order, the same on every pass. When a whole pass fits in
    ``cache_mb``, its batches are kept and the next pass reuses them; larger datasets are read
    again, so memory stays bounded.
    """

    def __init__(self, store: Store, dataset: str, vector_field: str, label_field: str | None,
                 truth_field: str | None = None, *, dim: int, batch_rows: int = BATCH_ROWS,
                 cache_mb: float = CACHE_MB):
        self.store, self.dataset, self.dim = store, dataset, dim
        self.cache_bytes = cache_mb * 2**20
        self._cache: list[Batch] | None = None
        self.has_labels = label_field is not None
        self.columns = ["_id", vector_field] + [f for f in (label_field, truth_field) if f]
        self.vector_field = vector_field
        self.batch_rows = batch_rows
        self.has_truth = truth_field is not None
        total, self.n_rows = store.field_count(dataset, vector_field)
        self.n_without_vector = total - self.n_rows

    def batches(self) -> Iterator[Batch]:
        if self._cache is not None:
            yield from self._cache
            return
        kept: list[Batch] | None = []
        size = 0
        reader = self.store.reader(self.dataset, self.columns,
                                   not_null=self.vector_field,
                                   batch_size=self.batch_rows)
        for partition, rb in enumerate(reader):  # batches numbered as partitions
            batch = self._convert(rb, partition)
            size += rb.nbytes
            if kept is not None and size <= self.cache_bytes:
                kept.append(batch)
            else:
                kept = None
            yield batch
        self._cache = kept

    def materialize(self, on_batch: Callable[[int], None] | None = None) -> Batch:
        """The whole source as one batch; ``on_batch(rows)`` after each batch read."""
        parts = []
        for part in self.batches():
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

