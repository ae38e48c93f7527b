"""Representatives: per cluster, the documents closest to and furthest from its centroid.

Two passes over the vectors and no pairwise distances: pass 1 is the metrics' own first pass
(:class:`~clustermetrics.metrics.passes.ClusterPass`: the noise policy, the checks, the
cluster means), pass 2 measures each document against its own cluster's centroid in blocks
of rows and keeps a running top ``n`` per cluster (O(k n) state, whatever the size).
"""

from __future__ import annotations

from functools import reduce

import numpy as np

from ..errors import InvalidInputError
from ..metrics.evaluate import Batch, Source
from ..metrics.passes import ClusterPass, ClusterSummary, PassOptions
from ..metrics.silhouettes import resolve_metric

CENTROID_METRICS = ("euclidean", "sqeuclidean", "cosine")
BLOCK_ROWS = 2048  # rows whose differences to their centroids stay in cache


def check_metric(metric: str) -> str:
    """A metric with which "distance to the centroid" means something: euclidean, squared
    euclidean (the centroid is the mean) or cosine (the centroid is the mean direction)."""
    resolved = resolve_metric(metric, func="representatives")
    if resolved not in CENTROID_METRICS:  # named as the caller gave it (not its alias)
        raise InvalidInputError(
            f"Representatives measure each document's distance to its cluster's centroid, so "
            f"metric must be one of {', '.join(CENTROID_METRICS)}; got {metric!r}.")
    return resolved


def check_n(n, name: str = "n") -> int:
    """A positive integer number of items per cluster."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInputError(f"{name} must be a positive integer; got {n!r}.")
    return int(n)


def first_pass(source: Source, options: PassOptions) -> ClusterSummary:
    """Pass 1 of the metrics over the source: counts, means (unit sums for cosine); the
    ground truth, if the batches have it, is not needed here."""
    return reduce(ClusterPass.merge, (ClusterPass.from_batch(Batch(b.X, b.labels, None, b.ids,
                                                                   b.partition), options)
                                      for b in source.batches()),
                  ClusterPass.empty(options)).finish()


def centres(summary: ClusterSummary, metric: str) -> np.ndarray:
    """Each cluster's centroid: the mean, or for cosine the unit mean direction."""
    stats = summary.stats
    if metric == "cosine":
        assert stats.unit_sum is not None
        norms = np.linalg.norm(stats.unit_sum, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(norms > 0, stats.unit_sum / norms, 0.0)
    assert stats.mean is not None
    return np.asarray(stats.mean, dtype=np.float64)


def distances_to_centres(X: np.ndarray, codes: np.ndarray, C: np.ndarray,
                         metric: str) -> np.ndarray:
    """Each row's distance to its own centroid ``C[codes]``, in blocks of rows: from the
    differences themselves (no cancellation, unlike ``|x|^2 - 2 x.c + |c|^2``), in X's
    precision. Cosine is ``1 - cos = |x/|x| - c|^2 / 2`` with ``c`` the unit centroid."""
    X = np.asarray(X)
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    Cd = C.astype(dtype, copy=False)
    out = np.empty(len(X), dtype=np.float64)
    for i in range(0, len(X), BLOCK_ROWS):
        x = np.asarray(X[i:i + BLOCK_ROWS], dtype=dtype)
        if metric == "cosine":
            x = x / np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
        diff = x - Cd[codes[i:i + BLOCK_ROWS]]
        out[i:i + BLOCK_ROWS] = np.einsum("ij,ij->i", diff, diff)
    if metric == "cosine":
        out *= 0.5
    elif metric == "euclidean":
        np.sqrt(out, out=out)
    return out


class RunningTop:
    """The ``n`` smallest keys per cluster seen so far, ties broken by the global row (so
    the answer is the one sorting everything would give); O(k n) state."""

    def __init__(self, n: int):
        self.n = n
        self.codes = np.empty(0, np.int64)
        self.keys = np.empty(0, np.float64)
        self.rows = np.empty(0, np.int64)
        self.ids = np.empty(0, object)

    def add(self, codes, keys, rows, ids) -> None:
        codes = np.concatenate([self.codes, codes])
        keys = np.concatenate([self.keys, keys])
        rows = np.concatenate([self.rows, rows])
        ids = np.concatenate([self.ids, np.asarray(ids, dtype=object)])
        order = np.lexsort((rows, keys, codes))
        codes = codes[order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        rank = np.arange(len(codes)) - np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
        keep = order[rank < self.n]
        self.codes, self.keys, self.rows, self.ids = (
            codes[rank < self.n], keys[keep], rows[keep], ids[keep])

    def ranked(self):
        """(codes, rank from 1, keys, ids) sorted by cluster then key."""
        starts = np.flatnonzero(np.r_[True, self.codes[1:] != self.codes[:-1]]) \
            if len(self.codes) else np.empty(0, np.int64)
        rank = np.arange(len(self.codes)) - np.repeat(
            starts, np.diff(np.r_[starts, len(self.codes)])) + 1
        return self.codes, rank, self.keys, self.ids


def representatives(source: Source, *, n: int = 5, which: tuple[str, ...] = ("closest",
                    "furthest"), metric: str = "euclidean", noise_label=None,
                    noise: str | None = None) -> tuple[ClusterSummary, dict]:
    """Per cluster the ``n`` documents closest to its centroid and the ``n`` furthest.

    Parameters
    ----------
    source : Source
        Batches with X, labels and ids (see :func:`~clustermetrics.metrics.evaluate_source`).
    n : int, default 5
    which : tuple of {"closest", "furthest"}
    metric : {"euclidean", "sqeuclidean", "cosine"}
    noise_label, noise
        As for :func:`clustermetrics.evaluate`: noise is left out by default.

    Returns
    -------
    (ClusterSummary, dict)
        Pass 1's summary, and for each of ``which`` the tuple ``(cluster labels, rank, distance,
        ids)`` of the kept documents, sorted by cluster then rank.
    """
    metric = check_metric(metric)
    n = check_n(n)
    options = PassOptions.make(metric="cosine" if metric == "cosine" else "euclidean",
                               noise_label=noise_label, noise=noise, detail=False)
    summary = first_pass(source, options)
    C = centres(summary, metric)
    tops = {w: RunningTop(n) for w in which}
    for batch in source.batches():
        codes = summary.encode(batch)
        rows = np.flatnonzero(codes >= 0)
        X = np.asarray(batch.X)
        d = distances_to_centres(X if len(rows) == len(X) else X[rows], codes[rows], C, metric)
        ids = (np.asarray(batch.ids, dtype=object)[rows] if batch.ids is not None
               else rows.astype(object))
        glob = rows + summary.start(batch.partition)
        for w, top in tops.items():
            top.add(codes[rows], d if w == "closest" else -d, glob, ids)
    out = {}
    for w, top in tops.items():
        codes, rank, keys, ids = top.ranked()
        out[w] = (summary.categories[codes], rank, keys if w == "closest" else -keys, ids)
    return summary, out
