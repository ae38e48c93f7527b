"""Silhouette coefficient (Rousseeuw 1987), exact and fast.

For sample i in cluster A, ``a(i)`` is its mean distance to the other members of A, ``b(i)`` the
smallest mean distance to the members of another cluster, and ``s(i) = (b - a) / max(a, b)``;
the score is the mean of ``s`` over samples. Everything here reduces to one quantity: the
per-sample per-cluster distance sums ``S[i, c] = sum_{j in c} d(x_i, x_j)``, from which
:func:`silhouette_from_sums` takes a, b, s and the nearest other cluster. The backends differ only
in how they get S:

- ``cosine`` and ``sqeuclidean``: from per-cluster sums (:class:`ClusterStats`) in O(n k d) time,
  no pairwise distances at all: ``S[i, c] = n_c - <x_i/|x_i|, sum_{j in c} x_j/|x_j|>`` and
  ``S[i, c] = n_c |x_i - mean_c|^2 + m2_c``.
- ``euclidean`` and any metric of ``scipy.spatial.distance.cdist``: blocked pairwise distances,
  each pair of blocks computed once (the matrix is symmetric), euclidean by squared norms and one
  GEMM per block in the input's precision (float32 stays float32) after centring the data,
  reduced to cluster sums by a product with the block's one-hot matrix and accumulated in
  float64. Memory is bounded by ``working_memory`` whatever n; singleton clusters take no
  column of S, only each row's nearest singleton.
- ``precomputed``: X is the square matrix of distances itself (dense, memory-mapped or
  scipy.sparse, where an entry left out is a distance of 0, as in scikit-learn); blocks of rows,
  checked while they are read, are reduced to S by a product with the one-hot matrix, so a
  memory-mapped matrix larger than memory is read once within ``working_memory``.
- sampled (``sample_size=m``): m samples drawn stratified by cluster, each scored exactly against
  the full data (O(m n d)), the score estimated with its 95% confidence interval.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from threadpoolctl import threadpool_limits

from ..errors import InvalidInputError
from ._validation import (check_cluster_count, check_positive_int_or_none, check_same_length,
                          check_shape, check_str_option, check_vectors, describe_rows,
                          nonfinite_sentence)
from .clusterstats import CHUNK_BYTES, ClusterStats
from .labels import Labels, encode_labels
from .sampling import MIN_PER_CLUSTER as MIN_PER_CLUSTER
from .sampling import estimate_from_moments, stratified_rows

WORKING_MEMORY_MB = 512
ROW_CHUNK_BYTES = 4 * 2**20  # one chunk of a distance block, reduced while in cache
LINEAR_METRICS = ("cosine", "sqeuclidean")
SNAP = 1e-12  # relative size below which a cluster-sum mean distance is rounding noise
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
class SilhouetteResult:
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
        """One row per cluster: size, scored, mean, min, quartiles, max, nearest cluster."""
        df = pd.DataFrame({"cluster": self.labels, "s": self.values, "nearest": self.nearest})
        g = df.groupby("cluster", sort=False)
        table = g["s"].describe()[["count", "mean", "min", "25%", "50%", "75%", "max"]]
        table.columns = ["scored", "mean", "min", "q25", "median", "q75", "max"]
        table["scored"] = table["scored"].astype(int)
        table["nearest"] = g["nearest"].agg(lambda x: x.mode().iloc[0])
        table.insert(0, "size", [self.cluster_sizes.get(c, 0) for c in table.index])
        try:
            table = table.sort_index()
        except TypeError:
            pass
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

def linear_silhouette(X: np.ndarray, codes: np.ndarray, stats: ClusterStats, metric: str):
    """s, a, b, nearest for rows of X (codes >= 0, indexing ``stats``) against all the data,
    from cluster statistics in cache-sized row chunks: memory O(chunk * k), never O(n * k)."""
    k, d = len(stats.counts), X.shape[1]
    step = max(1, CHUNK_BYTES // (8 * (k + d)))
    basis = _LinearBasis(stats, metric)
    parts = [silhouette_from_sums(basis.sums(X[i:i + step]), codes[i:i + step], stats.counts)
             for i in range(0, len(X), step)]
    if not parts:
        return tuple(np.empty(0, dtype) for dtype in (float, float, float, np.int64))
    return tuple(np.concatenate(p) for p in zip(*parts))


class _LinearBasis:
    """What ``S[i, c]`` needs from the cluster statistics, prepared once.

    A mean distance within ``SNAP`` of zero, relative to the magnitudes it was computed from,
    is rounding noise of the formula and counts as 0: identical points then score 0, as with
    pairwise distances, instead of +-1 from the sign of the noise.
    """

    def __init__(self, stats: ClusterStats, metric: str):
        self.metric = metric
        self.counts = stats.counts.astype(np.float64)
        if metric == "cosine":
            self.basis = stats.unit_sum
        else:
            self.center = stats.global_mean()
            self.basis = stats.mean - self.center
            self.basis_sq = np.einsum("ij,ij->i", self.basis, self.basis)
            self.spread = stats.m2 / self.counts

    def sums(self, X: np.ndarray) -> np.ndarray:
        x = X.astype(np.float64)
        if self.metric == "cosine":
            x /= np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
            mean = 1.0 - (x @ self.basis.T) / self.counts
            scale = 1.0
        else:
            x -= self.center
            x_sq = np.einsum("ij,ij->i", x, x)[:, None]
            mean = x_sq - 2 * (x @ self.basis.T) + self.basis_sq + self.spread
            scale = x_sq + self.basis_sq + self.spread
        mean[mean <= SNAP * scale] = 0.0
        return self.counts * mean


# -- S from blocked pairwise distances -----------------------------------------------------------

class _Blocks:
    """Row blocks of X prepared for one distance kernel (centred rows and squared norms).

    Clusters of two or more rows get a column of distance sums (``columns``); a singleton
    cluster's sum is one distance, so singletons are followed by each row's nearest singleton
    instead: memory O(n * clusters of two or more), whatever the number of singletons.
    """

    def __init__(self, X: np.ndarray, codes: np.ndarray, counts: np.ndarray, metric: str):
        self.X, self.metric = X, metric
        self.columns = np.flatnonzero(counts >= 2)
        self.k = len(self.columns)
        column_of = np.full(len(counts), -1)
        column_of[self.columns] = np.arange(self.k)
        self.column = column_of[codes]  # -1 for rows of singletons
        self.dtype = X.dtype if metric == "euclidean" else np.float64
        # distances are shift-invariant: centring keeps the norms trick accurate in float32
        self.center = (X.mean(axis=0, dtype=np.float64).astype(self.dtype)
                       if metric == "euclidean" else None)

    def prepare(self, rows):
        x = self.X[rows]
        if self.metric == "euclidean":
            x = x - self.center
            sq = np.einsum("ij,ij->i", x, x, dtype=np.float64).astype(self.dtype)
            return x, sq, self.onehot(rows)
        return x, None, self.onehot(rows)

    def onehot(self, rows) -> np.ndarray:
        col = self.column[rows]
        out = np.zeros((len(col), self.k), dtype=self.dtype)
        grouped = np.flatnonzero(col >= 0)
        out[grouped, col[grouped]] = 1
        return out

    def distances(self, xa, sqa, xb, sqb) -> np.ndarray:
        if self.metric != "euclidean":
            return cdist(xa, xb, metric=self.metric)
        # D = sqa + sqb - 2 xa xb^T; numpy's matmul releases the GIL, so threads overlap
        out = np.matmul(xa * xa.dtype.type(-2), xb.T)
        out += sqa[:, None]
        out += sqb
        np.maximum(out, 0, out=out)
        return np.sqrt(out, out=out)

    def pair(self, rows_a, rows_b, *, symmetric: bool, self_cols=None):
        """Cluster sums of distances between two row sets, and each row's nearest singleton:
        ``(part for a, part for b or None)``, each a :class:`_Part`.

        Rows of ``a`` go through in cache-sized chunks so that each distance chunk is reduced
        (by products with the one-hot matrices) while it is still in cache. With ``symmetric``
        the same chunk also gives b's sums against a: each pair of blocks is computed once.
        ``self_cols`` (for each row of a, its column in b, or -1) marks self-distances.
        """
        xa, sqa, oa = self.prepare(rows_a)
        xb, sqb, ob = (xa, sqa, oa) if rows_b is rows_a else self.prepare(rows_b)
        ids_a, ids_b = _row_ids(rows_a), _row_ids(rows_b)
        part_a = _Part(np.zeros((len(xa), self.k)), len(xa))
        part_b = _Part(np.zeros((len(xb), self.k)), len(xb)) if symmetric else None
        single_a = np.flatnonzero(self.column[ids_a] < 0)
        single_b = np.flatnonzero(self.column[ids_b] < 0)
        step = max(64, ROW_CHUNK_BYTES // (len(xb) * np.dtype(self.dtype).itemsize))
        for r0 in range(0, len(xa), step):
            r1 = min(r0 + step, len(xa))
            D = self.distances(xa[r0:r1], None if sqa is None else sqa[r0:r1], xb, sqb)
            hit = None
            if self_cols is not None:
                hit = np.flatnonzero(self_cols[r0:r1] >= 0)
                D[hit, self_cols[r0:r1][hit]] = 0
            part_a.sums[r0:r1] = D @ ob
            if symmetric:
                part_b.sums += D.T @ oa[r0:r1]
            if len(single_b):  # a's rows against b's singletons, never themselves
                if hit is not None:
                    D[hit, self_cols[r0:r1][hit]] = np.inf
                sub = D[:, single_b]
                j = np.argmin(sub, axis=1)
                part_a.closer(slice(r0, r1), sub[np.arange(r1 - r0), j], ids_b[single_b[j]])
            rows = single_a[(single_a >= r0) & (single_a < r1)]
            if symmetric and len(rows):  # b's rows against a's singletons in this chunk
                sub = D[rows - r0]
                i = np.argmin(sub, axis=0)
                part_b.closer(slice(None), sub[i, np.arange(len(xb))], ids_a[rows[i]])
        return part_a, part_b


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
    """Rows per block: each thread holds two prepared blocks; 2048 rows keeps GEMMs fast."""
    budget = (working_memory or WORKING_MEMORY_MB) * 2**20
    per_row = 2 * (os.cpu_count() or 1) * d * itemsize
    return int(max(16, min(n, 2048, budget // per_row)))


def _parallel(tasks, fn):
    """Run ``fn`` over tasks on all cores, BLAS single-threaded inside each: the element-wise
    work between the GEMMs then runs in parallel too."""
    workers = min(os.cpu_count() or 1, len(tasks))
    if workers <= 1:
        yield from map(fn, tasks)
        return
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        yield from pool.map(fn, tasks)  # consumed in order, so results do not pile up


def pairwise_sums(X: np.ndarray, codes: np.ndarray, counts: np.ndarray, metric: str,
                  working_memory: float | None = None, progress=None):
    """Exact ``S[i, c]`` for all rows, each symmetric pair of blocks computed once; returns
    ``(sums, columns, near)`` for :func:`silhouette_from_sums`."""
    n = len(X)
    blocks = _Blocks(X, codes, counts, metric)
    step = _block_size(n, X.shape[1], np.dtype(blocks.dtype).itemsize, working_memory)
    edges = [slice(i, min(i + step, n)) for i in range(0, n, step)]
    pairs = [(a, b) for i, a in enumerate(edges) for b in edges[i:]]

    def run(pair):
        a, b = pair
        if a == b:
            cols = np.arange(a.stop - a.start)
            return blocks.pair(a, a, symmetric=False, self_cols=cols)
        return blocks.pair(a, b, symmetric=True)

    total = _Part(np.zeros((n, blocks.k)), n)
    for (a, b), (part_a, part_b) in zip(pairs, _parallel(pairs, run)):
        total.add(a, part_a)
        if part_b is not None:
            total.add(b, part_b)
        if progress:
            progress(1 / len(pairs))
    return total.result(codes, blocks.columns)


def sample_sums(X: np.ndarray, codes: np.ndarray, counts: np.ndarray, metric: str,
                rows: np.ndarray, working_memory: float | None = None, progress=None):
    """Exact ``S[i, c]`` for the chosen ``rows`` against every row of X (O(m n d)); returns
    ``(sums, columns, near)`` for :func:`silhouette_from_sums`."""
    n = len(X)
    blocks = _Blocks(X, codes, counts, metric)
    step = _block_size(n, X.shape[1], np.dtype(blocks.dtype).itemsize, working_memory)
    tasks = [(r0, j0) for r0 in range(0, len(rows), step) for j0 in range(0, n, step)]

    def run(task):
        r0, j0 = task
        chunk = rows[r0:r0 + step]
        j1 = min(j0 + step, n)
        inside = (chunk >= j0) & (chunk < j1)  # a sample's distance to itself is 0
        return blocks.pair(chunk, slice(j0, j1), symmetric=False,
                           self_cols=np.where(inside, chunk - j0, -1))[0]

    total = _Part(np.zeros((len(rows), blocks.k)), len(rows))
    for (r0, _), part in zip(tasks, _parallel(tasks, run)):
        total.add(slice(r0, r0 + len(part.sums)), part)
        if progress:
            progress(1 / len(tasks))
    return total.result(codes, blocks.columns)


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
            raise InvalidInputError(f"{nonfinite_sentence(data, slice(None))} X has NaN or "
                                    f"infinite distances in {describe_rows(rows[bad])}.")
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

    workers = max(1, min(os.cpu_count() or 1, 4))
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
    for (r0, r1), part in zip(tasks, _parallel(tasks, run)):
        total.add(slice(r0, r1), part)
        if progress:
            progress(1 / len(tasks))
    return total.result(codes, columns)


# -- public API -------------------------------------------------------------------------------

def silhouette(X, labels, *, metric: str = "euclidean", sample_size: int | None = None,
               random_state=None, noise_label=None, noise: str | None = None,
               working_memory: float | None = None, progress=None) -> SilhouetteResult:
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
    working_memory : float, optional
        MiB for the blocks of pairwise distances (default 512).
    progress : callable, optional
        Called with the fraction of the pairwise work just done (blocked and sampled paths).

    Returns
    -------
    SilhouetteResult
        ``score`` in [-1, 1]; higher is better.
    """
    return _silhouette(X, labels, func="silhouette", metric=metric, sample_size=sample_size,
                       random_state=random_state, noise_label=noise_label, noise=noise,
                       working_memory=working_memory, progress=progress)


def _silhouette(X, labels, *, func: str, metric, sample_size=None, random_state=None,
                noise_label=None, noise=None, working_memory=None,
                progress=None) -> SilhouetteResult:
    metric = resolve_metric(metric, func)
    check_positive_int_or_none(sample_size, param="sample_size", func=func)
    if metric == PRECOMPUTED:
        X = check_distance_matrix(X, func=func)
    else:
        X = check_vectors(X, min_samples=1)
    enc = labels if isinstance(labels, Labels) else encode_labels(
        labels, noise_label=noise_label, noise=noise)
    check_same_length(X, len(enc.codes))
    if metric == PRECOMPUTED:
        check_zero_diagonal(X)
    keep = enc.valid
    index = np.flatnonzero(keep)
    counts = np.bincount(enc.codes[index], minlength=enc.k)
    check_cluster_count(int(np.count_nonzero(counts)), len(index))

    sampled = metric not in LINEAR_METRICS and sample_size is not None and sample_size < len(index)
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
    if metric in LINEAR_METRICS:
        stats = ClusterStats.from_batch(Xv, Labels(codes, enc.categories),
                                        unit_sums=metric == "cosine")
        parts = linear_silhouette(Xv, codes, stats, metric)
        method = "exact (cluster sums, O(n·k·d))"
    elif sampled:
        sums, columns, near = sample_sums(Xv, codes, counts, metric, chosen, working_memory,
                                          progress)
        parts = silhouette_from_sums(sums, codes[chosen], counts, columns, near)
    else:
        sums, columns, near = pairwise_sums(Xv, codes, counts, metric, working_memory, progress)
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
        cluster_sizes={c: int(n) for c, n in zip(categories, counts) if n})


def silhouette_score(X, labels, *, metric: str = "euclidean", sample_size: int | None = None,
                     random_state=None, **kwargs) -> float:
    """Mean silhouette coefficient; the same value as ``sklearn.metrics.silhouette_score``
    when exact (``metric="precomputed"`` included). Range [-1, 1], higher is better. See
    :func:`silhouette` for the options and how ``sample_size`` differs from scikit-learn's."""
    return _silhouette(X, labels, func="silhouette_score", metric=metric,
                       sample_size=sample_size, random_state=random_state, **kwargs).score


def silhouette_samples(X, labels, *, metric: str = "euclidean", **kwargs) -> np.ndarray:
    """Silhouette coefficient of every sample, shape (n_samples,); NaN where the label is
    missing or noise (left out). Same values as ``sklearn.metrics.silhouette_samples``
    (``metric="precomputed"`` and sparse X included)."""
    res = _silhouette(X, labels, func="silhouette_samples", metric=metric, **kwargs)
    out = np.full(X.shape[0] if hasattr(X, "shape") else len(X), np.nan)
    out[res.sample_index] = res.values
    return out
