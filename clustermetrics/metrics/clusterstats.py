"""Per-cluster moments: the mergeable statistic behind Calinski-Harabasz, Davies-Bouldin's
centroids and the linear-time cosine and squared-euclidean silhouettes.

For each cluster c it keeps the count ``n_c``, the mean vector ``mean_c``, ``m2_c`` (the sum of
squared distances of members to ``mean_c``) and, for cosine, ``unit_sum_c`` (the sum of the
members' unit vectors). Batches merge with Chan et al.'s pairwise update, which stays accurate
where ``sum ||x||^2 - n ||mean||^2`` would cancel. Memory is O(k * d), never O(n).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidInputError
from ._validation import describe_rows
from .labels import Labels, align

CHUNK_BYTES = 8 * 2**20  # float64 working copy per chunk: small enough to stay in cache


class ClusterStats:
    """Counts, means, within-cluster squared deviations (and unit-vector sums) per cluster."""

    def __init__(self, *, unit_sums: bool = False):
        self.with_unit_sums = unit_sums
        self.categories = np.empty(0, dtype=object)
        self.counts: np.ndarray = np.zeros(0, dtype=np.int64)
        self.mean: np.ndarray | None = None  # (k, d) float64
        self.m2: np.ndarray = np.zeros(0)
        self.unit_sum: np.ndarray | None = None

    @property
    def d(self) -> int | None:
        return None if self.mean is None else self.mean.shape[1]

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def k(self) -> int:
        return int(np.count_nonzero(self.counts))

    def update(self, X: np.ndarray, labels: Labels, *, row_offset: int = 0,
               row_ids=None) -> ClusterStats:
        """Add a batch: ``X`` (n, d) checked vectors and their encoded labels."""
        merged = self.merge(self.from_batch(X, labels, unit_sums=self.with_unit_sums,
                                            row_offset=row_offset, row_ids=row_ids))
        self.__dict__.update(merged.__dict__)
        return self

    @classmethod
    def from_batch(cls, X, labels: Labels, *, unit_sums=False, row_offset=0, row_ids=None,
                   chunk_rows: int | None = None):
        """Statistics of one batch, computed in row chunks of bounded float64 memory."""
        step = chunk_rows or max(1, CHUNK_BYTES // (8 * X.shape[1]))
        out = cls(unit_sums=unit_sums)
        for i in range(0, len(X), step):
            part = Labels(labels.codes[i:i + step], labels.categories)
            ids = None if row_ids is None else row_ids[i:i + step]
            out = out.merge(cls._from_chunk(X[i:i + step], part, unit_sums, row_offset + i, ids))
        if out.mean is None:  # no rows at all
            out = cls._from_chunk(X[:0], labels, unit_sums, row_offset, row_ids)
        return out

    @classmethod
    def _from_chunk(cls, X, labels: Labels, unit_sums, row_offset, row_ids):
        out = cls(unit_sums=unit_sums)
        k, keep = labels.k, labels.valid
        codes = labels.codes[keep]
        x = (X[keep] if not keep.all() else X).astype(np.float64)  # our own copy
        out.categories = labels.categories
        out.counts = np.bincount(codes, minlength=k).astype(np.int64)
        cols = np.arange(len(codes))
        onehot = sp.csr_array((np.ones(len(codes)), (codes, cols)), shape=(k, len(codes)))
        with np.errstate(invalid="ignore", divide="ignore"):
            out.mean = np.nan_to_num((onehot @ x) / out.counts[:, None])
        if unit_sums:
            norms = np.sqrt(np.einsum("ij,ij->i", x, x))
            zero = norms == 0
            if zero.any():
                rows = np.flatnonzero(keep)[zero]
                raise InvalidInputError(
                    "Cosine distance is undefined for zero vectors: "
                    f"{describe_rows(rows, row_offset, row_ids)} are all zeros. "
                    "Drop them or use metric='euclidean'."
                )
            scaled = sp.csr_array((1.0 / norms, (codes, cols)), shape=(k, len(codes)))
            out.unit_sum = scaled @ x
        x -= out.mean[codes]
        out.m2 = np.bincount(codes, weights=np.einsum("ij,ij->i", x, x), minlength=k)
        return out

    def merge(self, other: ClusterStats) -> ClusterStats:
        """A new statistic over both inputs' samples (Chan, Golub & LeVeque 1979)."""
        if other.mean is None:
            return self._copy()
        if self.mean is None:
            return other._copy()
        if self.d != other.d:
            raise InvalidInputError(
                f"Vectors differ in dimension between batches: {self.d} != {other.d}."
            )
        cats, ia, ib = align(self.categories, other.categories)
        k, d = len(cats), self.mean.shape[1]
        out = ClusterStats(unit_sums=self.with_unit_sums)
        out.categories = cats
        na, nb = np.zeros(k), np.zeros(k)
        ma, mb = np.zeros((k, d)), np.zeros((k, d))
        m2a, m2b = np.zeros(k), np.zeros(k)
        na[ia], ma[ia], m2a[ia] = self.counts, self.mean, self.m2
        nb[ib], mb[ib], m2b[ib] = other.counts, other.mean, other.m2
        n = na + nb
        delta = mb - ma
        with np.errstate(invalid="ignore", divide="ignore"):
            wb = np.where(n > 0, nb / n, 0.0)
        out.counts = n.astype(np.int64)
        out.mean = ma + delta * wb[:, None]
        out.m2 = m2a + m2b + np.einsum("ij,ij->i", delta, delta) * na * wb
        if self.with_unit_sums:
            out.unit_sum = np.zeros((k, d))
            out.unit_sum[ia] += self.unit_sum
            out.unit_sum[ib] += other.unit_sum
        return out

    def _copy(self) -> ClusterStats:
        out = ClusterStats(unit_sums=self.with_unit_sums)
        out.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v)
                             for k, v in self.__dict__.items()})
        return out

    def nonempty(self) -> ClusterStats:
        """The same statistic without clusters of zero count."""
        return self.take(np.flatnonzero(self.counts > 0))

    def take(self, index: np.ndarray) -> ClusterStats:
        """The statistic of the clusters at ``index``, in that order."""
        out = self._copy()
        if self.mean is None:
            raise ValueError("A statistic of no rows has no clusters to take.")
        out.categories, out.counts, out.mean, out.m2 = (
            self.categories[index], self.counts[index], self.mean[index], self.m2[index])
        if self.unit_sum is not None:
            out.unit_sum = self.unit_sum[index]
        return out

    def global_mean(self) -> np.ndarray:
        if self.mean is None:
            raise ValueError("A statistic of no rows has no mean.")
        return (self.counts[:, None] * self.mean).sum(axis=0) / self.n

    def codes_for(self, labels: Labels) -> np.ndarray:
        """Map a batch's codes onto this statistic's cluster indices (negative codes kept)."""
        if labels.categories is self.categories or (
                len(labels.categories) == len(self.categories)
                and np.array_equal(labels.categories, self.categories)):
            return labels.codes
        cats, ia, ib = align(self.categories, labels.categories)
        if len(cats) != len(self.categories):
            raise InvalidInputError("Batch has clusters that the statistics have not seen.")
        lookup = np.empty(len(ib) + 2, dtype=np.int64)
        pos = np.empty(len(cats), dtype=np.int64)
        pos[ia] = np.arange(len(ia))
        lookup[: len(ib)] = pos[ib]
        lookup[-2:] = [-2, -1]  # NOISE, MISSING keep their meaning
        return lookup[labels.codes]
