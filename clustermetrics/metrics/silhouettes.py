"""Silhouette coefficient (Rousseeuw 1987), exact and fast.

For sample i in cluster A, ``a(i)`` is its mean distance to the other members of A, ``b(i)`` the
smallest mean distance to the members of another cluster, and ``s(i) = (b - a) / max(a, b)``;
the score is the mean of ``s`` over samples. Everything here reduces to one quantity: the
per-sample per-cluster distance sums ``S[i, c] = sum_{j in c} d(x_i, x_j)``, from which
:func:`silhouette_from_sums` takes a, b, s and the nearest other cluster. The backends differ only
in how they get S:

- ``cosine`` and ``sqeuclidean``: from per-cluster sums (:class:`ClusterStats`) in O(n k d) time,
  no pairwise distances at all: ``S[i, c] = n_c - <x_i/|x_i|, sum_{j in c} x_j/|x_j|>`` and
  ``S[i, c] = n_c |x_i - mean_c|^2 + m2_c``. Two passes over X in cache-sized blocks of rows,
  each block one GEMM in X's precision, accumulated in float64; float32 rows of tight clusters
  are scored again in float64 (see :class:`_LinearBasis`).
- ``euclidean`` and any metric of ``scipy.spatial.distance.cdist``: blocked pairwise distances,
  each pair of rows computed once (the matrix is symmetric), euclidean by one GEMM per tile in
  the input's precision (float32 stays float32) on centred data with the squared norms folded
  in, pairs too close for that recomputed from the rows (identical vectors at exactly 0), reduced
  to cluster sums by products with the blocks' one-hot matrices and accumulated in float64 (see
  :class:`_Kernel`). Memory is bounded by ``working_memory`` whatever n; singleton clusters take
  no column of S, only each row's nearest singleton.
- ``precomputed``: X is the square matrix of distances itself (dense, memory-mapped or
  scipy.sparse, where an entry left out is a distance of 0, as in scikit-learn); blocks of rows,
  checked while they are read, are reduced to S by a product with the one-hot matrix, so a
  memory-mapped matrix larger than memory is read once within ``working_memory``.
- sampled (``sample_size=m``): m samples drawn stratified by cluster, each scored exactly against
  the full data (O(m n d)), the score estimated with its 95% confidence interval.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from .. import threads
from ..errors import InvalidInputError
from ._validation import (
    check_centred_squares,
    check_cluster_count,
    check_positive_int_or_none,
    check_same_length,
    check_shape,
    check_str_option,
    check_vectors,
    describe_rows,
    nonfinite_sentence,
)
from .clusterstats import (
    BLOCK_BYTES,
    CHUNK_BYTES,
    ClusterStats,
    kernel_threads,
    limit_kernel_threads,
    own_centroid_sq,
    parallel_map,
    representable,
    single_threaded_blas,
)
from .equality import ValueEquality
from .labels import Labels, encode_labels
from .sampling import MIN_PER_CLUSTER as MIN_PER_CLUSTER
from .sampling import estimate_from_moments, stratified_rows

WORKING_MEMORY_MB = 512
ROW_CHUNK_BYTES = 4 * 2**20  # one chunk of a distance block, reduced while in cache
LINEAR_METRICS = ("cosine", "sqeuclidean")
SNAP = 1e-12  # relative size below which a cluster-sum mean distance is rounding noise
SNAP32 = 64 * float(np.finfo(np.float32).eps)  # the same for float32 GEMMs
TIGHT = 0.05  # float32: rows with max(a, b) below this share of their magnitudes: float64
PRECISE = 1e-4  # float64 squared euclidean: the same, redone from the rows' own deviations
LINEAR_PART_ROWS = 65536  # rows per task of the linear silhouette (its S is part x k)
_ALIASES = {"l2": "euclidean", "l1": "cityblock", "manhattan": "cityblock"}
# cdist metrics that need no statistics of the whole data (seuclidean would take its variances
# from each block, so it is not offered)
_CDIST_METRICS = {"braycurtis", "canberra", "chebyshev", "cityblock", "correlation", "euclidean",
                  "jensenshannon", "minkowski", "sqeuclidean", "cosine"}
PRECOMPUTED = "precomputed"
METRICS = tuple(sorted(_CDIST_METRICS | set(_ALIASES) | {PRECOMPUTED}))


def resolve_metric(metric: str, func: str = "silhouette") -> str:
    """The canonical name of a metric, or scikit-learn's InvalidParameterError sentence."""
    check_str_option(metric, METRICS, param="metric", func=func)
    return _ALIASES.get(metric, metric)


@dataclass(eq=False)
class SilhouetteResult(ValueEquality):
    """Silhouette score with its per-sample and per-cluster detail.

    ``score`` is the mean silhouette (exact) or the stratified estimate (sampled), ``ci`` the 95%
    confidence interval ``(low, high)`` when sampled and None when exact. Per scored sample:
    ``sample_index`` (row in the input), ``values`` (s), ``a``, ``b``, ``labels`` and ``nearest``
    (the closest other cluster).
    """

    score: float
    ci: tuple[float, float] | None
    method: str
    metric: str
    n_samples: int
    sample_index: np.ndarray
    values: np.ndarray
    a: np.ndarray
    b: np.ndarray
    labels: np.ndarray
    nearest: np.ndarray
    cluster_sizes: dict = field(repr=False, default_factory=dict)

    @property
    def n_scored(self) -> int:
        return len(self.values)

    @property
    def per_cluster(self) -> pd.DataFrame:
        """One row per cluster: ``size``, ``scored``, ``silhouette`` (the mean over the
        cluster's scored samples), ``min``, ``q25``, ``median``, ``q75``, ``max``, and the
        ``nearest`` other cluster (the most common); the same columns as
        :attr:`ClusterMetrics.per_cluster <clustermetrics.ClusterMetrics>`."""
        df = pd.DataFrame({"cluster": self.labels, "s": self.values, "nearest": self.nearest})
        g = df.groupby("cluster", sort=False)
        table = g["s"].describe()[["count", "mean", "min", "25%", "50%", "75%", "max"]]
        table.columns = ["scored", "silhouette", "min", "q25", "median", "q75", "max"]
        table["scored"] = table["scored"].astype(int)
        table["nearest"] = g["nearest"].agg(lambda x: x.mode().iloc[0])
        table.insert(0, "size", [self.cluster_sizes.get(c, 0) for c in table.index])
        with contextlib.suppress(TypeError):
            table = table.sort_index()
        table.index.name = "cluster"
        return table

    def __float__(self) -> float:
        return self.score


def silhouette_from_sums(sums: np.ndarray, own: np.ndarray, counts: np.ndarray,
                         columns: np.ndarray | None = None, near=None):
    """a, b, s and the nearest other cluster from distance sums ``sums[i, j]`` to the members of
    cluster ``columns[j]`` (default: every cluster in order; self included, at distance 0).

    Clusters without a column are singletons: ``near = (distance, cluster)`` gives each row's
    nearest of them, so that many singletons (noise="singletons") need no column each.
    Singletons score 0 (Rousseeuw's convention, as scikit-learn).
    """
    rows = np.arange(len(own))
    columns = np.arange(len(counts)) if columns is None else columns
    column_of = np.full(len(counts), -1)
    column_of[columns] = np.arange(len(columns))
    own_n, own_col = counts[own], column_of[own]
    has = own_col >= 0
    a = np.zeros(len(own))
    with np.errstate(divide="ignore", invalid="ignore"):
        a[has] = sums[rows[has], own_col[has]] / (own_n[has] - 1)
        other = sums / counts[columns]
    a[own_n == 1] = 0.0
    other[rows[has], own_col[has]] = np.inf
    j = np.argmin(other, axis=1)  # some cluster has two rows: check_cluster_count saw to it
    b, nearest = other[rows, j], columns[j]
    if near is not None:
        closer = near[0] < b
        b, nearest = np.where(closer, near[0], b), np.where(closer, near[1], nearest)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (b - a) / np.maximum(a, b)
    s[(own_n == 1) | ~np.isfinite(s)] = 0.0
    return s, a, b, nearest


# -- S from cluster sums (cosine, sqeuclidean) --------------------------------------------------

def linear_silhouette(X: np.ndarray, codes: np.ndarray, stats: ClusterStats, metric: str, *,
                      centroid_sq: bool = False):
    """s, a, b, nearest for rows of X (codes >= 0, indexing ``stats``) against all the data,
    from cluster statistics: one pass over X in blocks of rows that stay in cache, each block
    one GEMM in X's precision against the k cluster means. Parts of the rows run on all cores;
    memory is O(part * k), never O(n * k), and X is never copied.

    ``centroid_sq=True`` (statistics with moments) adds a fifth array: each row's squared
    distance to its cluster's centroid, from the same GEMM (k more columns for cosine), what
    Davies-Bouldin sums."""
    basis = _LinearBasis(stats, metric, centroids=centroid_sq)
    n = len(X)
    if not n:
        return tuple(np.empty(0, dtype)
                     for dtype in (float, float, float, np.int64, float)[:4 + centroid_sq])
    workers = kernel_threads()
    rows = int(min(LINEAR_PART_ROWS, max(4096, -(-n // (4 * workers)))))
    tasks = [(i, min(i + rows, n)) for i in range(0, n, rows)]
    with single_threaded_blas():  # small GEMMs: see ClusterStats
        parts = list(_parallel(tasks, lambda t: basis.silhouette(X[t[0]:t[1]],
                                                                 codes[t[0]:t[1]])))
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


class _LinearBasis:
    """What ``S[i, c]`` needs from the cluster statistics, prepared once.

    A mean distance within ``snap`` of zero, relative to the magnitudes it was computed from,
    is rounding noise of the formula and counts as 0: identical points then score 0 or 1, as
    with pairwise distances, instead of noise. Float32 input runs its GEMM in float32; a row
    whose a and b are both small against the magnitudes in its formula (a tight cluster, where
    float32 rounding would show) is scored again in float64. With ``centroids`` the same GEMM
    also gives each row's squared distance to its centroid (:func:`own_centroid_sq`).
    """

    def __init__(self, stats: ClusterStats, metric: str, *, centroids: bool = False):
        self.metric = metric
        self.counts = stats.counts
        self.with_centroids = centroids
        self.centroid_sq: np.ndarray | None = None
        k = len(stats.counts)
        counts = np.maximum(stats.counts, 1).astype(np.float64)
        if centroids:
            assert stats.mean is not None and stats.with_moments, "centroids need the moments"
        if metric == "cosine":
            assert stats.unit_sum is not None, "cosine needs the unit-vector sums"
            basis = stats.unit_sum / counts[:, None]  # mean unit vector of each cluster
            self.basis_sq = self.spread = np.zeros(k)
            if centroids:  # raw centroids as k more columns of the same GEMM
                assert stats.mean is not None
                self.centroids = stats.mean
                self.centroid_sq = np.einsum("ij,ij->i", stats.mean, stats.mean)
                basis = np.vstack([basis, stats.mean])
        else:
            assert stats.mean is not None, "squared euclidean needs the moments"
            # a centre both precisions hold exactly: centred rows and centroids agree
            self.center = representable(stats.global_mean(), np.float32)
            basis = stats.mean - self.center
            self.centroids = stats.mean  # raw, for rows redone (the basis is centred)
            self.basis_sq = np.einsum("ij,ij->i", basis, basis)
            self.centroid_sq = self.basis_sq  # the centroids in the GEMM's (centred) frame
            self.m2 = stats.m2
            self.spread = stats.m2 / counts
        exact = np.ascontiguousarray(basis.T)
        self.basis: dict[np.dtype, np.ndarray] = {np.dtype(np.float64): exact,
                                                  np.dtype(np.float32): exact.astype(np.float32)}

    def silhouette(self, X: np.ndarray, codes: np.ndarray):
        """s, a, b, nearest (and with centroids the squared distance to its own) for rows X
        with cluster indices ``codes``."""
        n, k = len(X), len(self.counts)
        sums, scale = np.empty((n, k)), np.empty(n)
        own_sq = np.empty(n) if self.with_centroids else None
        step = max(1, BLOCK_BYTES // (X.dtype.itemsize * max(X.shape[1], 1)))
        for i in range(0, n, step):
            self.sums(X[i:i + step], codes[i:i + step], sums[i:i + step], scale[i:i + step],
                      None if own_sq is None else own_sq[i:i + step])
        s, a, b, nearest = silhouette_from_sums(sums, codes, self.counts)
        if self.metric == "cosine":  # distances of at most 2: float64 rounding is harmless
            magnitude, limit = scale, (TIGHT if X.dtype != np.float64 else 0.0)
        else:  # the magnitudes in the formula for a and for b
            column = self.basis_sq + self.spread
            magnitude = scale + np.maximum(column[codes], column[nearest])
            limit = TIGHT if X.dtype != np.float64 else PRECISE
        redo = np.flatnonzero(np.maximum(a, b) < limit * magnitude)
        if len(redo):
            again = self.exact_sums(X[redo], codes[redo])
            s[redo], a[redo], b[redo], nearest[redo] = silhouette_from_sums(
                again, codes[redo], self.counts)
        return (s, a, b, nearest) if own_sq is None else (s, a, b, nearest, own_sq)

    def exact_sums(self, x: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """``S`` for rows whose a and b are small against the magnitudes of the formula, in
        float64: cosine by the same formula; squared euclidean from each row's own deviations
        from every cluster mean, ``n_c |x - mean_c|^2 + m2_c``, with no centre whose distance
        could swamp theirs (one far outlier moves the centre far from every other row)."""
        k = len(self.counts)
        out = np.empty((len(x), k))
        if self.metric == "cosine":
            self.sums(x.astype(np.float64), codes, out, np.empty(len(x)))
            return out
        step = max(1, CHUNK_BYTES // (8 * k * max(x.shape[1], 1)))
        for i in range(0, len(x), step):
            dev = x[i:i + step, None, :].astype(np.float64) - self.centroids[None]
            out[i:i + step] = np.einsum("ijk,ijk->ij", dev, dev)
        out *= self.counts
        out += self.m2
        return out

    def sums(self, x: np.ndarray, codes: np.ndarray, out: np.ndarray, scale: np.ndarray,
             own_sq: np.ndarray | None = None):
        """``S`` for a block of rows into ``out``, each row's magnitude into ``scale`` (and
        its squared distance to its centroid into ``own_sq``); the (rows x k) arithmetic runs
        in place in ``out``."""
        basis = self.basis.get(x.dtype)
        if basis is None:
            x, basis = x.astype(np.float64), self.basis[np.dtype(np.float64)]
        snap = SNAP if x.dtype == np.float64 else SNAP32
        k, rows = len(self.counts), np.arange(len(x))
        if self.metric == "cosine":
            sq = np.einsum("ij,ij->i", x, x).astype(np.float64)
            norms = np.sqrt(sq)
            prod = x @ basis
            if own_sq is not None:
                dots = prod[rows, k + codes].astype(np.float64)
                assert self.centroid_sq is not None
                own_sq[:] = own_centroid_sq(x, codes, self.centroids, dots, sq, self.centroid_sq)
            np.divide(prod[:, :k], norms[:, None], out=out)  # mean cosine similarity
            np.subtract(1.0, out, out=out)  # mean distance
            out[out <= snap] = 0.0
            scale[:] = 1.0
        else:
            raw, x = x, x - self.center.astype(x.dtype)
            sq = np.einsum("ij,ij->i", x, x).astype(np.float64)[:, None]
            prod = x @ basis
            if own_sq is not None:
                dots = prod[rows, codes].astype(np.float64)
                own_sq[:] = own_centroid_sq(raw, codes, self.centroids, dots, sq[:, 0],
                                            self.basis_sq)
            np.multiply(prod, -2.0, out=out)
            out += sq
            out += self.basis_sq + self.spread  # mean squared distance
            size = sq + (self.basis_sq + self.spread)
            out[out <= snap * size] = 0.0
            scale[:] = sq[:, 0]  # the row's part of the magnitudes (see silhouette)
        out *= self.counts


# -- S from blocked pairwise distances -----------------------------------------------------------

@dataclass(eq=False)
class _Block:
    """Rows of X prepared for the kernel: ``raw`` (the rows as given), ``onehot`` (their
    column of sums, in the kernel's dtype) and, for euclidean, ``left = [-2 x, |x|^2, 1]`` and
    ``right = [x, 1, |x|^2]`` of the centred rows, so that one GEMM ``left_a @ right_b.T``
    gives the squared distances with the norms already added."""

    ids: np.ndarray
    raw: np.ndarray
    onehot: np.ndarray
    sq: np.ndarray | None = None  # float64 squared norms of the centred rows
    left: np.ndarray | None = None
    right: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


class _Kernel:
    """Distance tiles between row blocks of X, reduced to cluster sums while in cache.

    Clusters of two or more rows get a column of distance sums (``columns``); a singleton
    cluster's sum is one distance, so singletons are followed by each row's nearest singleton
    instead: memory O(n * clusters of two or more), whatever the number of singletons.

    Euclidean tiles come from one GEMM in the input's precision on centred data (shift
    invariance keeps the norms trick accurate far from the origin), with the squared norms
    folded into the product. An entry below ``tau * (|x_i|^2 + |x_j|^2)``, where the trick's
    rounding error could matter (identical or nearly identical vectors, and every negative
    rounding), is recomputed directly from the difference of the two rows: identical vectors
    are at distance exactly 0. Rows are screened by their minimum, a read-only pass that also
    replaces clamping negatives at 0. Then the square root, and the products with the one-hot
    matrices; nothing else touches the tile.
    """

    def __init__(self, X: np.ndarray, codes: np.ndarray, counts: np.ndarray, metric: str,
                 metric_kwds: dict | None = None):
        self.X, self.metric, self.metric_kwds = X, metric, metric_kwds or {}
        self.columns = np.flatnonzero(counts >= 2)
        self.k = len(self.columns)
        column_of = np.full(len(counts), -1)
        column_of[self.columns] = np.arange(self.k)
        self.column = column_of[codes]  # -1 for rows of singletons
        # the GEMM path is the plain euclidean distance; weights (w=...) go through cdist
        self.euclidean = metric == "euclidean" and not self.metric_kwds
        self.dtype = X.dtype if self.euclidean else np.dtype(np.float64)
        # distances are shift-invariant: centring keeps the norms trick accurate in float32
        self.center = (X.mean(axis=0, dtype=np.float64).astype(self.dtype)
                       if self.euclidean else None)
        # bound on the GEMM's rounding relative to |x_i|^2 + |x_j|^2 (sum of d + 2 terms);
        # in float64 also every pair closer than 1e-3 of the norms, for 1e-10 accuracy
        unit = float(np.finfo(self.dtype).eps) / 2
        self.tau = max(4 * (X.shape[1] + 2) * unit, 1e-6 if self.dtype == np.float64 else 0.0)

    def block(self, rows) -> _Block:
        raw = self.X[rows]
        ids = _row_ids(rows)
        col = self.column[ids]
        onehot = np.zeros((len(ids), self.k), dtype=self.dtype)
        grouped = np.flatnonzero(col >= 0)
        onehot[grouped, col[grouped]] = 1
        if not self.euclidean:
            return _Block(ids, raw.astype(np.float64, copy=False), onehot)
        m, d = raw.shape
        right = np.empty((m, d + 2), dtype=self.dtype)
        left = np.empty((m, d + 2), dtype=self.dtype)
        x = right[:, :d]
        assert self.center is not None
        np.subtract(raw, self.center, out=x)
        sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        right[:, d], right[:, d + 1] = 1, sq
        np.multiply(x, -2, out=left[:, :d])
        left[:, d], left[:, d + 1] = sq, 1
        return _Block(ids, raw, onehot, sq, left, right)

    def distances(self, a: _Block, rs: slice, b: _Block, cs: slice, hit=None) -> np.ndarray:
        """The tile of distances between rows ``rs`` of a and rows ``cs`` of b; ``hit``
        (rows, columns of the tile) marks each row's distance to itself, set to 0."""
        if not self.euclidean:
            dist = cdist(a.raw[rs], b.raw[cs], metric=self.metric, **self.metric_kwds)
            if self.metric in ("cosine", "correlation"):  # 1 - u.v/(|u||v|) of equal vectors
                dist[dist < 8 * np.finfo(np.float64).eps] = 0.0
        else:
            assert a.left is not None and b.right is not None
            dist = np.matmul(a.left[rs], b.right[cs].T)  # |x_i|^2 + |x_j|^2 - 2 x_i.x_j
            if hit is not None:  # not a close pair to recompute
                dist[hit] = np.inf
            self._recompute_close(dist, a, rs, b, cs)
            np.sqrt(dist, out=dist)
        if hit is not None:
            dist[hit] = 0
        return dist

    def _recompute_close(self, D, a: _Block, rs: slice, b: _Block, cs: slice) -> None:
        assert a.sq is not None and b.sq is not None
        sqa, sqb = a.sq[rs], b.sq[cs]
        if not len(sqb):
            return
        rows = np.flatnonzero(D.min(axis=1) < self.tau * (sqa + sqb.max()))
        if not len(rows):
            return
        i, j = np.nonzero(D[rows] < self.tau * (sqa[rows, None] + sqb))
        i = rows[i]
        ra, rb = a.raw[rs], b.raw[cs]
        step = max(1, CHUNK_BYTES // (8 * ra.shape[1]))
        for p in range(0, len(i), step):  # exact: float64 differences of the rows as given
            diff = ra[i[p:p + step]].astype(np.float64)
            diff -= rb[j[p:p + step]]
            D[i[p:p + step], j[p:p + step]] = np.einsum("ij,ij->i", diff, diff)

    def pair(self, rows_a, rows_b, *, symmetric: bool, self_cols=None):
        """:meth:`pair_blocks` for two sets of rows (slices or indices): ``(part for a, part
        for b, or None unless symmetric)``."""
        a = self.block(rows_a)
        if symmetric:
            return self.pair_blocks(a, self.block(rows_b))
        return self.pair_blocks(a, self.block(rows_b), self_cols=np.full(len(a), -1)
                                if self_cols is None else self_cols)[0], None

    def pair_blocks(self, a: _Block, b: _Block | None, *, self_cols=None):
        """Cluster sums of distances and nearest singletons: ``(part for a, part for b)``.

        ``b is None``: a against itself, each pair of its rows computed once (the upper
        triangle, by row chunks: a chunk's square is computed whole and feeds its rows; the
        rest also feeds the columns). Else every row of a against every row of b, and the
        same tiles also give b's sums against a (each pair of blocks computed once), unless
        ``self_cols`` is given (sampled rows against all: for each row of a its column in b,
        or -1), where b's part is not wanted.
        """
        same = b is None
        b = a if b is None else b
        part_a = _Part(np.zeros((len(a), self.k)), len(a))
        part_b = None if same or self_cols is not None else _Part(np.zeros((len(b), self.k)),
                                                                  len(b))
        single_a = np.flatnonzero(self.column[a.ids] < 0)
        single_b = np.flatnonzero(self.column[b.ids] < 0)
        step = max(64, ROW_CHUNK_BYTES // (max(len(b), 1) * self.dtype.itemsize))
        for r0 in range(0, len(a), step):
            r1 = min(r0 + step, len(a))
            c0 = r0 if same else 0
            hit_rows = hit_cols = None
            if same:  # each row's distance to itself, in the chunk's square
                hit_rows = np.arange(r1 - r0)
                hit_cols = hit_rows
            elif self_cols is not None:
                hit_rows = np.flatnonzero(self_cols[r0:r1] >= 0)
                hit_cols = self_cols[r0:r1][hit_rows]
            hit = None if hit_rows is None else (hit_rows, hit_cols)
            D = self.distances(a, slice(r0, r1), b, slice(c0, len(b)), hit)
            part_a.sums[r0:r1] += D @ b.onehot[c0:]
            if same and r1 < len(b):  # the rest of the triangle, for the later rows
                part_a.sums[r1:] += (a.onehot[r0:r1].T @ D[:, r1 - c0:]).T
            elif part_b is not None:
                part_b.sums += (a.onehot[r0:r1].T @ D).T
            if not (len(single_a) or len(single_b)):
                continue
            if hit_rows is not None:  # a singleton is not its own nearest singleton
                D[hit_rows, hit_cols] = np.inf
            cols = single_b[single_b >= c0] - c0
            if len(cols):  # a's rows against b's singletons
                sub = D[:, cols]
                j = np.argmin(sub, axis=1)
                part_a.closer(slice(r0, r1), sub[np.arange(r1 - r0), j], b.ids[cols[j] + c0])
            rows = single_a[(single_a >= r0) & (single_a < r1)]
            if len(rows) and (same or part_b is not None):  # the columns against a's singletons
                first = r1 - c0 if same else 0
                sub = D[rows - r0, first:]
                if sub.shape[1]:
                    i = np.argmin(sub, axis=0)
                    target = part_a if part_b is None else part_b
                    where = slice(r1, len(b)) if same else slice(None)
                    target.closer(where, sub[i, np.arange(sub.shape[1])], a.ids[rows[i]])
        return part_a, part_b


_Blocks = _Kernel  # the name the engines' sampled pass knows it by


class _Part:
    """Distance sums to the clusters with columns and the nearest singleton, for some rows."""

    def __init__(self, sums: np.ndarray, n: int):
        self.sums = sums
        self.near = np.full(n, np.inf)  # distance to the nearest singleton
        self.near_row = np.full(n, -1)  # and its row

    def closer(self, where: slice, dist, row) -> None:
        near, near_row = self.near[where], self.near_row[where]  # views, updated in place
        better = dist < near
        near[better], near_row[better] = dist[better], row[better]

    def add(self, where, other: _Part) -> None:
        self.sums[where] += other.sums
        self.closer(where, other.near, other.near_row)

    def result(self, codes: np.ndarray, columns: np.ndarray):
        """(sums, columns, near) as :func:`silhouette_from_sums` takes them."""
        return self.sums, columns, (self.near, codes[np.maximum(self.near_row, 0)])


def _row_ids(rows) -> np.ndarray:
    return np.arange(rows.start, rows.stop) if isinstance(rows, slice) else np.asarray(rows)


def _block_size(n: int, d: int, itemsize: int, working_memory: float | None) -> int:
    """Rows per block: each thread holds two prepared blocks (each twice the rows, for the
    GEMM's two operands); 2048 rows keeps GEMMs fast."""
    budget = (working_memory or WORKING_MEMORY_MB) * 2**20
    per_row = 4 * kernel_threads() * (d + 2) * itemsize
    return int(max(16, min(n, 2048, budget // per_row)))


_parallel = parallel_map  # the name the engines' sampled pass knows it by


def pairwise_sums(X: np.ndarray, codes: np.ndarray, counts: np.ndarray, metric: str,
                  working_memory: float | None = None, progress=None,
                  metric_kwds: dict | None = None):
    """Exact ``S[i, c]`` for all rows, each pair of rows computed once; returns
    ``(sums, columns, near)`` for :func:`silhouette_from_sums`.

    A task is one block of rows against itself and every later block: the block is prepared
    once per task and each later one once, so preparing costs about half as many passes as
    one per pair of blocks.
    """
    n = len(X)
    kernel = _Kernel(X, codes, counts, metric, metric_kwds)
    step = _block_size(n, X.shape[1], kernel.dtype.itemsize, working_memory)
    edges = [slice(i, min(i + step, n)) for i in range(0, n, step)]
    n_pairs = len(edges) * (len(edges) + 1) // 2

    def run(i):
        a = kernel.block(edges[i])
        out = [(edges[i], kernel.pair_blocks(a, None)[0])]
        for e in edges[i + 1:]:
            part_a, part_b = kernel.pair_blocks(a, kernel.block(e))
            out += [(edges[i], part_a), (e, part_b)]
        return out

    total = _Part(np.zeros((n, kernel.k)), n)
    tasks = list(range(len(edges)))
    for i, parts in zip(tasks, _parallel(tasks, run), strict=True):
        for where, part in parts:
            total.add(where, part)
        if progress:
            progress((len(edges) - i) / n_pairs)
    return total.result(codes, kernel.columns)


def sample_sums(X: np.ndarray, codes: np.ndarray, counts: np.ndarray, metric: str,
                rows: np.ndarray, working_memory: float | None = None, progress=None,
                metric_kwds: dict | None = None):
    """Exact ``S[i, c]`` for the chosen ``rows`` against every row of X (O(m n d)); returns
    ``(sums, columns, near)`` for :func:`silhouette_from_sums`."""
    n = len(X)
    kernel = _Kernel(X, codes, counts, metric, metric_kwds)
    step = _block_size(n, X.shape[1], kernel.dtype.itemsize, working_memory)
    groups = max(1, min(kernel_threads(), -(-n // step)))  # split the columns for threads
    bounds = np.linspace(0, n, groups + 1).astype(int)
    tasks = [(r0, int(bounds[g]), int(bounds[g + 1]))
             for r0 in range(0, len(rows), step) for g in range(groups)]

    def run(task):
        r0, lo, hi = task
        chunk = rows[r0:r0 + step]
        a = kernel.block(chunk)
        part = _Part(np.zeros((len(chunk), kernel.k)), len(chunk))
        for j0 in range(lo, hi, step):
            j1 = min(j0 + step, hi)
            inside = (chunk >= j0) & (chunk < j1)  # a sample's distance to itself is 0
            part.add(slice(None), kernel.pair_blocks(
                a, kernel.block(slice(j0, j1)), self_cols=np.where(inside, chunk - j0, -1))[0])
        return part

    total = _Part(np.zeros((len(rows), kernel.k)), len(rows))
    for (r0, _, _), part in zip(tasks, _parallel(tasks, run), strict=True):
        total.add(slice(r0, r0 + len(part.sums)), part)
        if progress:
            progress(1 / len(tasks))
    return total.result(codes, kernel.columns)


# -- sampling ---------------------------------------------------------------------------------

def stratified_sample(codes: np.ndarray, counts: np.ndarray, sample_size: int, rng,
                      categories: np.ndarray | None = None):
    """Rows drawn without replacement per cluster: proportional allocation, but at least
    ``MIN_PER_CLUSTER`` (or the whole cluster) each, so small clusters are never lost. The
    rule is :mod:`.sampling`'s, shared with the engines: the same seed, the same rows."""
    categories = np.arange(len(counts)) if categories is None else categories
    return stratified_rows(codes, counts, categories, sample_size, rng)


def stratified_estimate(s: np.ndarray, own: np.ndarray, counts: np.ndarray):
    """Stratified mean of s and its 95% interval (finite-population corrected)."""
    k = len(counts)
    scored = np.bincount(own, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(own, weights=s, minlength=k) / scored
        var = np.bincount(own, weights=(s - mean[own]) ** 2, minlength=k) / (scored - 1)
    return estimate_from_moments(scored, mean, var, counts)


def _rng(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    return np.random.default_rng(random_state)


# -- S from a precomputed distance matrix ---------------------------------------------------

def check_distance_matrix(X, *, func: str = "silhouette"):
    """X as a square matrix of distances: a dense array (a memory-mapped one stays mapped and
    is not copied or converted) or a CSR matrix (other sparse formats are converted, as by
    scikit-learn). Shape and diagonal are checked here (scikit-learn's sentences); finiteness
    and signs while the blocks are read, so that a large matrix is read once."""
    if sp.issparse(X):
        D = sp.csr_array(X)
    else:
        D = np.asarray(X)
        if D.dtype.kind == "O":
            D = D.astype(np.float64)
    check_shape(D, min_samples=1)
    if D.shape[0] != D.shape[1]:
        raise InvalidInputError(
            "Precomputed metric requires shape (n_queries, n_indexed). Got "
            f"({D.shape[0]}, {D.shape[1]}) for {D.shape[0]} indexed. With "
            "metric='precomputed', X is the square matrix of distances between the samples; "
            f"got shape {D.shape}."
        )
    return D


def check_zero_diagonal(D) -> None:
    """scikit-learn's rule: each self-distance within 100 machine epsilons of 0 (exactly 0 for
    integers)."""
    diag = D.diagonal()
    if D.dtype.kind == "f":
        bad = np.flatnonzero(np.abs(diag) > np.finfo(D.dtype).eps * 100)
    else:
        bad = np.flatnonzero(diag != 0)
    if len(bad):
        raise InvalidInputError(
            "The precomputed distance matrix contains non-zero elements on the diagonal. Use "
            f"np.fill_diagonal(X, 0). A sample's distance to itself is not 0 in "
            f"{describe_rows(bad)}."
        )


def _check_distance_block(B, rows: np.ndarray) -> None:
    """Finite and non-negative entries in a block of rows (scikit-learn's sentences)."""
    if sp.issparse(B):
        data = B.data
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            bad = np.unique(np.repeat(np.arange(B.shape[0]), np.diff(B.indptr))[
                ~np.isfinite(data)])
            sentence = nonfinite_sentence(data, np.arange(len(data)))
            raise InvalidInputError(f"{sentence} X has NaN or infinite distances in "
                                    f"{describe_rows(rows[bad])}.")
        if data.size and data.min() < 0:
            bad = np.unique(np.repeat(np.arange(B.shape[0]), np.diff(B.indptr))[data < 0])
            raise InvalidInputError(_NEGATIVE + f" X has negative distances in "
                                    f"{describe_rows(rows[bad])}.")
        return
    if B.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(B.sum(axis=1)))  # suspects; see nonfinite_rows
        bad = bad[~np.isfinite(B[bad]).all(axis=1)]
        if len(bad):
            raise InvalidInputError(f"{nonfinite_sentence(B, bad)} X has NaN or infinite "
                                    f"distances in {describe_rows(rows[bad])}.")
    if B.size and B.min() < 0:
        bad = np.flatnonzero(B.min(axis=1) < 0)
        raise InvalidInputError(_NEGATIVE + f" X has negative distances in "
                                f"{describe_rows(rows[bad])}.")


# scikit-learn's sentence, its double space included
_NEGATIVE = ("Negative values in data passed to `pairwise_distances`. Precomputed distance  need "
             "to have non-negative values.")


def precomputed_sums(D, codes: np.ndarray, counts: np.ndarray, rows: np.ndarray,
                     working_memory: float | None = None, progress=None):
    """Exact ``S[i, c]`` for ``rows`` of a square distance matrix ``D`` (columns: every sample;
    ``codes`` < 0 for samples left out); returns ``(sums, columns, near)`` for
    :func:`silhouette_from_sums`.

    Blocks of rows are read (a slice of a memory-mapped array reads just those rows), checked,
    converted to float64 and reduced by one product with the one-hot matrix of the clusters of
    two or more samples; singleton clusters keep each row's nearest one instead. Entries left
    out of a sparse matrix are distances of 0, as in scikit-learn.
    """
    n = D.shape[0]
    columns = np.flatnonzero(counts >= 2)
    column_of = np.full(len(counts), -1)
    column_of[columns] = np.arange(len(columns))
    valid = codes >= 0
    col = np.where(valid, column_of[np.maximum(codes, 0)], -1)
    onehot = np.zeros((n, len(columns)))
    grouped = np.flatnonzero(col >= 0)
    onehot[grouped, col[grouped]] = 1.0
    singles = np.flatnonzero(valid & (col < 0))  # members of singleton clusters
    single_pos = np.full(n, -1)
    single_pos[singles] = np.arange(len(singles))

    workers = max(1, min(kernel_threads(), 4))
    budget = (working_memory or WORKING_MEMORY_MB) * 2**20
    step = int(max(1, min(len(rows), budget // (3 * workers * 8 * max(n, 1)))))
    contiguous = len(rows) == n and (n == 0 or rows[-1] == n - 1)  # all rows, in order
    tasks = [(r0, min(r0 + step, len(rows))) for r0 in range(0, len(rows), step)]

    def run(task):
        r0, r1 = task
        ids = rows[r0:r1]
        B = D[r0:r1] if contiguous else D[ids]
        _check_distance_block(B, ids)
        if sp.issparse(B):
            B = B.astype(np.float64)
            part = _Part(np.asarray(B @ onehot), len(ids))
            dense_singles = B[:, singles].toarray() if len(singles) else None
        else:
            B = B.astype(np.float64, copy=False)
            part = _Part(B @ onehot, len(ids))
            dense_singles = B[:, singles] if len(singles) else None
        if dense_singles is not None:
            own = single_pos[ids]
            mine = np.flatnonzero(own >= 0)
            dense_singles[mine, own[mine]] = np.inf  # a singleton is not its own neighbour
            j = np.argmin(dense_singles, axis=1)
            part.closer(slice(None), dense_singles[np.arange(len(ids)), j], singles[j])
        return part

    total = _Part(np.zeros((len(rows), len(columns))), len(rows))
    for (r0, r1), part in zip(tasks, _parallel(tasks, run), strict=True):
        total.add(slice(r0, r1), part)
        if progress:
            progress(1 / len(tasks))
    return total.result(codes, columns)


# -- public API -------------------------------------------------------------------------------

def silhouette(X, labels, *, metric: str = "euclidean", sample_size: int | None = None,
               random_state=None, noise_label=None, noise: str | None = None,
               working_memory: float | None = None, progress=None,
               **kwds) -> SilhouetteResult:
    """Silhouette score with confidence interval, per-sample values and a per-cluster table.

    Parameters
    ----------
    X : array of shape (n_samples, n_features), or (n_samples, n_samples) if
        ``metric="precomputed"``
        Vectors (numpy, list of lists, DataFrame, scipy.sparse: made dense), or with
        ``metric="precomputed"`` the square matrix of distances between the samples: dense,
        memory-mapped (read in blocks of rows, never copied whole) or scipy.sparse (an entry
        left out is a distance of 0), non-negative, with zeros on the diagonal.
    labels : array-like of shape (n_samples,); ints or strings. Missing labels (None, NaN, "")
        are left out. ``noise_label`` (e.g. -1) follows ``noise``: "exclude" (default),
        "cluster" (scikit-learn's behaviour) or "singletons".
    metric : "euclidean" (default), "cosine", "sqeuclidean", "manhattan", "precomputed" or any
        ``scipy.spatial.distance.cdist`` metric.
    sample_size : int, optional
        Score a stratified sample of this many samples, each against the FULL data, and report
        the estimate with a 95% interval. Unlike scikit-learn, which computes the silhouette of
        the subsample alone, this keeps every cluster (at least 5 points each) and gives an
        unbiased estimate of the full-data score. Ignored for cosine and sqeuclidean, whose
        exact computation is already linear in n.
    random_state : int, numpy Generator or RandomState, optional
        Seed of the sample drawn with ``sample_size``.
    noise_label : int or str, optional
        The label that marks noise (e.g. -1); what happens to it is set by ``noise``.
    noise : {"exclude", "cluster", "singletons"}, optional
        "exclude" (default): noise is left out and counted; "cluster": one more cluster
        (scikit-learn's behaviour); "singletons": each noise point its own cluster.
    working_memory : float, optional
        MiB for the blocks of pairwise distances (default 512).
    progress : callable, optional
        Called with the fraction of the pairwise work just done (blocked and sampled paths).
    **kwds
        As in scikit-learn: ``n_jobs`` (threads of the pairwise kernels; -1 or None: every
        core) and keyword arguments of the distance function (``p`` of "minkowski", ``w``
        weights, ...), passed to ``scipy.spatial.distance.cdist``. With these, "euclidean",
        "cosine" and "sqeuclidean" use the blocked pairwise path instead of their fast
        ones. Ignored with ``metric="precomputed"``, as scikit-learn ignores them.

    Returns
    -------
    SilhouetteResult
        ``score`` in [-1, 1]; higher is better.

    References
    ----------
    .. [1] P. J. Rousseeuw, "Silhouettes: a graphical aid to the interpretation and validation
       of cluster analysis", Journal of Computational and Applied Mathematics, 20, 53-65, 1987.
       https://doi.org/10.1016/0377-0427(87)90125-7

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from sklearn.datasets import load_iris
    >>> X, _ = load_iris(return_X_y=True)
    >>> labels = KMeans(3, n_init=1, random_state=0).fit_predict(X)
    >>> res = silhouette(X, labels, sample_size=60, random_state=0)
    >>> res.method
    'sampled (60 of 150, stratified, scored against all)'
    >>> round(res.score, 4), [round(v, 2) for v in res.ci]
    (0.5321, [0.51, 0.56])
    """
    return _silhouette(X, labels, func="silhouette", metric=metric, sample_size=sample_size,
                       random_state=random_state, noise_label=noise_label, noise=noise,
                       working_memory=working_memory, progress=progress, **kwds)


def _silhouette(X, labels, *, func: str, metric, sample_size=None, random_state=None,
                noise_label=None, noise=None, working_memory=None,
                progress=None, **kwds) -> SilhouetteResult:
    n_jobs = kwds.pop("n_jobs", None)
    threads = _check_n_jobs(n_jobs, func)
    with limit_kernel_threads(threads) if threads else contextlib.nullcontext():
        return _silhouette_on(X, labels, func=func, metric=metric, sample_size=sample_size,
                              random_state=random_state, noise_label=noise_label,
                              noise=noise, working_memory=working_memory, progress=progress,
                              metric_kwds=kwds)


def _check_n_jobs(n_jobs, func: str) -> int | None:
    """Threads for scikit-learn's ``n_jobs``: None or -1 every core, -2 all but one, ..."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InvalidInputError(f"{func}: n_jobs must be a nonzero integer or None (-1: every "
                                f"core); got {n_jobs!r}.")
    cores = threads.cores()
    return int(n_jobs) if n_jobs > 0 else max(1, cores + 1 + int(n_jobs))


def _check_metric_kwds(X: np.ndarray, metric: str, kwds: dict, func: str) -> None:
    """The distance function's keywords, tried on one row before any work: a wrong one is
    named with what the metric takes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cdist(X[:1].astype(np.float64), X[:1].astype(np.float64), metric=metric, **kwds)
    except TypeError:  # scipy's message shows the row: not repeated here
        given = ", ".join(sorted(kwds))
        raise InvalidInputError(
            f"{func}: the {metric!r} distance takes no keyword {given}. Extra keywords go to "
            "scipy.spatial.distance.cdist, as scikit-learn passes them to its distance "
            "function: give only the ones this metric takes (p for 'minkowski', w for "
            "weights), or drop them.") from None
    except (ValueError, RuntimeWarning) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in kwds.items())
        raise InvalidInputError(f"{func}: the {metric!r} distance refused {given}: "
                                f"{exc}") from None


def _silhouette_on(X, labels, *, func: str, metric, sample_size, random_state, noise_label,
                   noise, working_memory, progress, metric_kwds: dict) -> SilhouetteResult:
    metric = resolve_metric(metric, func)
    check_positive_int_or_none(sample_size, param="sample_size", func=func)
    if metric == PRECOMPUTED:
        X = check_distance_matrix(X, func=func)
    else:  # the linear pass 1 finds NaN and inf itself, with no pass of its own
        X = check_vectors(X, min_samples=1, finite=metric not in LINEAR_METRICS or
                          bool(metric_kwds))
        if metric_kwds:
            _check_metric_kwds(X, metric, metric_kwds, func)
        if metric == "euclidean":
            check_centred_squares(X)
    enc = labels if isinstance(labels, Labels) else encode_labels(
        labels, noise_label=noise_label, noise=noise)
    check_same_length(X, len(enc.codes))
    if metric == PRECOMPUTED:
        check_zero_diagonal(X)
    keep = enc.valid
    index = np.flatnonzero(keep)
    counts = np.bincount(enc.codes[index], minlength=enc.k)
    check_cluster_count(int(np.count_nonzero(counts)), len(index))

    sampled = ((metric not in LINEAR_METRICS or bool(metric_kwds)) and sample_size is not None
               and sample_size < len(index))
    if sampled:
        chosen, _ = stratified_sample(enc.codes[index], counts, int(sample_size),
                                      _rng(random_state), enc.categories)
        method = f"sampled ({len(chosen)} of {len(index)}, stratified, scored against all)"
    else:
        chosen = np.arange(len(index))
    if metric == PRECOMPUTED:  # rows and columns keep their place: left-out samples count nowhere
        sums, columns, near = precomputed_sums(X, enc.codes, counts, index[chosen],
                                               working_memory, progress)
        parts = silhouette_from_sums(sums, enc.codes[index[chosen]], counts, columns, near)
        if not sampled:
            method = "exact (precomputed distances)"
        return assemble(index[chosen], enc.codes[index[chosen]], parts, counts,
                        enc.categories, metric, method)

    Xv, codes = (X, enc.codes) if len(index) == len(X) else (X[index], enc.codes[index])
    if metric in LINEAR_METRICS and not metric_kwds:
        stats = ClusterStats.from_batch(Xv, Labels(codes, enc.categories),
                                        unit_sums=metric == "cosine",
                                        moments=metric != "cosine")
        parts = linear_silhouette(Xv, codes, stats, metric)
        method = "exact (cluster sums, O(n·k·d))"
    elif sampled:
        sums, columns, near = sample_sums(Xv, codes, counts, metric, chosen, working_memory,
                                          progress, metric_kwds)
        parts = silhouette_from_sums(sums, codes[chosen], counts, columns, near)
    else:
        sums, columns, near = pairwise_sums(Xv, codes, counts, metric, working_memory, progress,
                                            metric_kwds)
        parts = silhouette_from_sums(sums, codes, counts, columns, near)
        method = "exact (blocked pairwise)"
    return assemble(index[chosen], codes[chosen], parts, counts, enc.categories, metric, method)


def assemble(sample_index, own, parts, counts, categories, metric, method) -> SilhouetteResult:
    """A SilhouetteResult from the scored samples: the mean when all were scored, else the
    stratified estimate with its interval."""
    s, a, b, nearest = parts
    if len(s) < counts.sum():
        score, ci = stratified_estimate(s, own, counts)
    else:
        score, ci = float(np.mean(s)), None
    return SilhouetteResult(
        score=score, ci=ci, method=method, metric=metric, n_samples=int(counts.sum()),
        sample_index=sample_index, values=s, a=a, b=b, labels=categories[own],
        nearest=categories[nearest],
        cluster_sizes={c: int(n) for c, n in zip(categories, counts, strict=True) if n})


def silhouette_score(X, labels, *, metric: str = "euclidean", sample_size: int | None = None,
                     random_state=None, **kwargs) -> float:
    """Mean silhouette coefficient over all samples.

    For sample i, ``a`` is its mean distance to the other members of its cluster, ``b`` the
    smallest mean distance to the members of another cluster, and ``s = (b - a) / max(a, b)``
    (0 for a sample alone in its cluster); the score is the mean of ``s``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, n_samples)
        Vectors (numpy array, list of lists, DataFrame, scipy.sparse: made dense), or with
        ``metric="precomputed"`` the square matrix of distances between the samples (dense,
        memory-mapped or scipy.sparse, where an entry left out is a distance of 0),
        non-negative, with zeros on the diagonal.
    labels : array-like of shape (n_samples,)
        Cluster label of each sample: ints or strings. Missing labels (None, NaN, "") are left
        out.
    metric : str, default="euclidean"
        "euclidean", "cosine", "sqeuclidean", "manhattan", "precomputed" or the name of any
        ``scipy.spatial.distance.cdist`` metric.
    sample_size : int, default=None
        Score a sample of this many samples, drawn stratified by cluster and each scored against
        the FULL data, and return the estimate of the full-data score. Ignored for "cosine" and
        "sqeuclidean", whose exact computation is already linear in n.
    random_state : int, numpy Generator or RandomState, default=None
        Seed of the sample drawn with ``sample_size``.
    **kwargs
        ``noise_label``, ``noise``, ``working_memory`` and ``progress``, as in
        :func:`silhouette`; as in scikit-learn, ``n_jobs`` and the keyword arguments of the
        distance function (``p`` for "minkowski", ``w`` weights), passed to
        ``scipy.spatial.distance.cdist``.

    Returns
    -------
    score : float
        In [-1, 1]; 1 is dense, well separated clusters, about 0 overlapping clusters, negative
        samples closer to another cluster than to their own.

    Raises
    ------
    InvalidInputError
        If there are fewer than 2 clusters or as many clusters as samples (scikit-learn's rule).

    Notes
    -----
    Same value as ``sklearn.metrics.silhouette_score`` when exact (``metric="precomputed"``
    included). With ``sample_size``, scikit-learn computes the silhouette of the subsample alone,
    which loses small clusters and can fail on them; here at least 5 points (or the whole cluster)
    come from each cluster and are scored against all the data (see :func:`silhouette` for the
    confidence interval). Identical vectors are at distance exactly 0, so a point whose
    cluster-mates are its duplicates scores 1.0 (scikit-learn: 0.99999998 under euclidean).
    ``metric`` is a name: callables are not accepted. Samples whose label is missing (None, NaN,
    "") are left out; scikit-learn stops with
    "Input contains NaN". For float32 input under ``metric="cosine"`` per-sample values stay within
    1e-5 of the float64 computation, where scikit-learn's float32 ones can differ by ~1e-4.

    References
    ----------
    .. [1] P. J. Rousseeuw, "Silhouettes: a graphical aid to the interpretation and validation
       of cluster analysis", Journal of Computational and Applied Mathematics, 20, 53-65, 1987.
       https://doi.org/10.1016/0377-0427(87)90125-7

    Examples
    --------
    >>> import numpy as np
    >>> from clustermetrics import silhouette_score
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]])
    >>> round(silhouette_score(X, [0, 0, 0, 1, 1, 1]), 4)
    0.9196
    """
    return _silhouette(X, labels, func="silhouette_score", metric=metric,
                       sample_size=sample_size, random_state=random_state, **kwargs).score


def silhouette_samples(X, labels, *, metric: str = "euclidean", **kwargs) -> np.ndarray:
    """Silhouette coefficient of every sample.

    For sample i, ``a`` is its mean distance to the other members of its cluster, ``b`` the
    smallest mean distance to the members of another cluster, and ``s = (b - a) / max(a, b)``
    (0 for a sample alone in its cluster).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, n_samples)
        Vectors (numpy array, list of lists, DataFrame, scipy.sparse: made dense), or with
        ``metric="precomputed"`` the square matrix of distances between the samples (dense,
        memory-mapped or scipy.sparse, where an entry left out is a distance of 0),
        non-negative, with zeros on the diagonal.
    labels : array-like of shape (n_samples,)
        Cluster label of each sample: ints or strings. Missing labels (None, NaN, "") are left
        out.
    metric : str, default="euclidean"
        "euclidean", "cosine", "sqeuclidean", "manhattan", "precomputed" or the name of any
        ``scipy.spatial.distance.cdist`` metric.
    **kwargs
        ``noise_label``, ``noise``, ``working_memory`` and ``progress``, as in
        :func:`silhouette`; as in scikit-learn, ``n_jobs`` and the keyword arguments of the
        distance function (``p`` for "minkowski", ``w`` weights), passed to
        ``scipy.spatial.distance.cdist``.

    Returns
    -------
    silhouette : ndarray of shape (n_samples,)
        Each value in [-1, 1], higher is better; NaN where the label is missing or noise (left
        out).

    Raises
    ------
    InvalidInputError
        If there are fewer than 2 clusters or as many clusters as samples (scikit-learn's rule).

    Notes
    -----
    Same values as ``sklearn.metrics.silhouette_samples`` (``metric="precomputed"`` and sparse X
    included), except for the NaN of samples left out. Identical vectors are at distance exactly 0,
    so a point whose cluster-mates are its duplicates scores 1.0 (scikit-learn: 0.99999998 under
    euclidean). ``metric`` is a name: callables are not accepted. Samples whose label is missing
    (None, NaN, "") are left out;
    scikit-learn stops with "Input contains NaN". For float32 input under ``metric="cosine"``
    per-sample values stay within 1e-5 of the float64 computation, where scikit-learn's float32 ones
    can differ by ~1e-4.

    References
    ----------
    .. [1] P. J. Rousseeuw, "Silhouettes: a graphical aid to the interpretation and validation
       of cluster analysis", Journal of Computational and Applied Mathematics, 20, 53-65, 1987.
       https://doi.org/10.1016/0377-0427(87)90125-7

    Examples
    --------
    >>> import numpy as np
    >>> from clustermetrics import silhouette_samples
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]])
    >>> np.round(silhouette_samples(X, [0, 0, 0, 1, 1, None]), 3)
    array([0.931, 0.913, 0.913, 0.927, 0.931,   nan])
    """
    res = _silhouette(X, labels, func="silhouette_samples", metric=metric, **kwargs)
    out = np.full(X.shape[0] if hasattr(X, "shape") else len(X), np.nan)
    out[res.sample_index] = res.values
    return out
