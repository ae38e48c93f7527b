"""Stratified sampling for the silhouette: which rows are scored, and the estimate they give.

One rule serves :func:`~clustermetrics.metrics.silhouette` on arrays and every engine, so the
same seed scores the same rows however the data is split into partitions:

1. **Allocation** from the cluster sizes ``n_c`` alone: proportional to ``n_c``, but at least
   ``MIN_PER_CLUSTER`` (or the whole cluster) per cluster, so small clusters are never lost.
2. **Ranks.** For each cluster, in :func:`canonical_order` of the labels, the generator draws
   ``m_c`` distinct *within-cluster ranks* in ``0..n_c-1`` (clusters taken whole draw nothing).
   The draw depends only on the sizes, the labels and the seed.
3. **Rows.** Rank ``r`` of cluster ``c`` is the ``r``-th member of ``c`` in the source's order
   (partitions in order, rows in order within each). With each partition's per-cluster counts
   (from the first pass), :func:`locate` tells every partition which ranks fall in it, and
   :func:`pick_rows` finds them among the partition's rows without seeing any other partition.

The estimate (:func:`estimate_from_moments`) is the stratified mean of the sampled silhouettes
with its finite-population-corrected 95% interval; it needs only each cluster's number of
scored samples, their mean and their variance, so it can be computed from merged summaries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

MIN_PER_CLUSTER = 5  # every cluster gets at least this many sampled points (or all of them)
Z95 = 1.959963984540054
# Above EXACT_LIMIT rows, a pairwise silhouette (euclidean, ...) asked for without a sample size
# is estimated from AUTO_SAMPLE_SIZE rows, unless the exact value is asked for: the exact one
# costs O(n² d) (2 million rows of 768 values: about a day on a small cluster).
EXACT_LIMIT = 20_000
AUTO_SAMPLE_SIZE = EXACT_LIMIT // 2


def auto_sample(pairwise: bool, sample_size: int | None, random_state, exact: bool,
                n: int) -> tuple[int | None, object, bool]:
    """``(sample_size, random_state, auto)``: the sample a run uses under the policy above
    (``random_state`` 0 when an automatic sample is drawn without one, so that it repeats);
    ``auto`` is True when the policy chose the sample."""
    if pairwise and sample_size is None and not exact and n > EXACT_LIMIT:
        return AUTO_SAMPLE_SIZE, 0 if random_state is None else random_state, True
    return sample_size, random_state, False


def auto_sample_note(n: int) -> str:
    """What a result's ``silhouette_method`` adds when the policy chose the sample."""
    return (f"; estimated, as for every run above {EXACT_LIMIT:,} rows: exact=True (--exact) "
            f"scores all {n:,} rows, in O(n²·d)")


def allocate(counts: np.ndarray, sample_size: int) -> np.ndarray:
    """Points to draw from each cluster: proportional, at least ``MIN_PER_CLUSTER`` (or all)."""
    counts = np.asarray(counts, dtype=np.int64)
    n = counts.sum()
    alloc = np.maximum(np.minimum(counts, MIN_PER_CLUSTER),
                       np.round(sample_size * counts / n).astype(np.int64))
    return np.minimum(alloc, counts)


def canonical_order(categories: np.ndarray) -> np.ndarray:
    """A permutation that sorts cluster labels whatever their mix of types.

    Sortable labels are sorted as numpy sorts them; a mix (such as integer labels beside
    ``noise="singletons"`` names) puts numbers first, then the rest by type name and text.
    The order is a function of the set of labels, never of the order they arrived in.
    """
    try:
        return np.argsort(categories, kind="stable")
    except TypeError:
        return np.array(sorted(range(len(categories)), key=lambda i: _key(categories[i])),
                        dtype=np.int64)


def _key(value):
    if isinstance(value, (bool, int, float, np.number)):
        return (0, "", float(value), "")
    return (1, type(value).__name__, 0.0, str(value))


def draw_ranks(counts: np.ndarray, alloc: np.ndarray, categories: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Within-cluster ranks to score: ``(clusters, ranks)``, sorted by cluster then rank.

    Clusters are visited in :func:`canonical_order` of ``categories``; each cluster sampled in
    part draws ``alloc[c]`` distinct ranks out of ``counts[c]`` from ``rng``.
    """
    cluster_parts, rank_parts = [], []
    for c in canonical_order(categories):
        m, n_c = int(alloc[c]), int(counts[c])
        if m == 0:
            continue
        r = np.arange(n_c) if m >= n_c else np.sort(rng.choice(n_c, m, replace=False))
        cluster_parts.append(np.full(m, c, dtype=np.int64))
        rank_parts.append(r.astype(np.int64))
    if not cluster_parts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    clusters, ranks = np.concatenate(cluster_parts), np.concatenate(rank_parts)
    order = np.lexsort((ranks, clusters))
    return clusters[order], ranks[order]


def locate(clusters: np.ndarray, ranks: np.ndarray,
           partitions: Mapping[int, tuple[np.ndarray, np.ndarray]],
           k: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Which chosen ranks fall in which partition, and their rank within that partition.

    ``partitions`` maps a partition number to ``(clusters, counts)``: how many members of each
    cluster it holds. Returns ``{partition: (clusters, local_ranks)}`` for the partitions that
    hold a chosen member; ``local_ranks`` count members of the same cluster in that partition.
    """
    parts = sorted(partitions)
    if not len(clusters) or not parts:
        return {}
    p_of = np.concatenate([np.full(len(partitions[p][0]), p, dtype=np.int64) for p in parts])
    c_of = np.concatenate([np.asarray(partitions[p][0], dtype=np.int64) for p in parts])
    n_of = np.concatenate([np.asarray(partitions[p][1], dtype=np.int64) for p in parts])
    keep = n_of > 0
    p_of, c_of, n_of = p_of[keep], c_of[keep], n_of[keep]
    order = np.lexsort((p_of, c_of))  # by cluster, then partition: the source's order
    p_of, c_of, n_of = p_of[order], c_of[order], n_of[order]
    totals = np.bincount(c_of, weights=n_of, minlength=k).astype(np.int64)
    cluster_start = np.concatenate([[0], np.cumsum(totals)[:-1]])
    # each (cluster, partition) entry covers keys [start, start + n) of the cluster-major order
    entry_start = np.cumsum(n_of) - n_of
    wanted = cluster_start[clusters] + ranks
    entry = np.searchsorted(entry_start, wanted, side="right") - 1
    local = wanted - entry_start[entry]
    out = {}
    for p in np.unique(p_of[entry]):
        mine = p_of[entry] == p
        out[int(p)] = (clusters[mine], local[mine])
    return out


def pick_rows(codes: np.ndarray, clusters: np.ndarray, local_ranks: np.ndarray) -> np.ndarray:
    """Rows of one partition (``codes``: its rows' cluster indices, negative when left out)
    that hold the given ``(cluster, local rank)`` members, in row order."""
    rows = np.flatnonzero(codes >= 0)
    if not len(clusters) or not len(rows):
        return np.empty(0, np.int64)
    c = codes[rows]
    order = np.argsort(c, kind="stable")  # members of each cluster, in row order
    sorted_c = c[order]
    first = np.searchsorted(sorted_c, sorted_c, side="left")
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = np.arange(len(rows)) - first
    span = int(max(rank.max(), local_ranks.max())) + 1
    hit = np.isin(c.astype(np.int64) * span + rank, clusters * span + local_ranks)
    return rows[hit]


def stratified_rows(codes: np.ndarray, counts: np.ndarray, categories: np.ndarray,
                    sample_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The rule on one in-memory array (a single partition): sampled rows and allocation."""
    alloc = allocate(counts, sample_size)
    clusters, ranks = draw_ranks(counts, alloc, categories, rng)
    present = np.flatnonzero(counts)
    where = locate(clusters, ranks, {0: (present, counts[present])}, len(counts))
    return pick_rows(codes, *where.get(0, (clusters[:0], ranks[:0]))), alloc


def estimate_from_moments(scored: np.ndarray, mean: np.ndarray, var: np.ndarray,
                          counts: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Stratified mean of s and its 95% interval (finite-population corrected).

    Per cluster: ``scored`` samples out of ``counts``, their ``mean`` and sample variance
    ``var`` (ddof=1; ignored where fewer than two were scored). The estimate is
    ``sum_c w_c mean_c`` with ``w_c = n_c / n``, its variance
    ``sum_c w_c^2 (1 - m_c / n_c) var_c / m_c`` (Cochran 1977, ch. 5).
    """
    counts = np.asarray(counts, dtype=np.float64)
    w = counts / counts.sum()
    has = counts > 0
    total = float(np.sum(w[has] * mean[has]))
    spread = has & (scored > 1)
    m = scored[spread]
    variance = float(np.sum(w[spread] ** 2 * (1 - m / counts[spread]) * var[spread] / m))
    half = Z95 * math.sqrt(variance)
    return total, (float(max(-1.0, total - half)), float(min(1.0, total + half)))
