"""Calinski-Harabasz and Davies-Bouldin from mergeable per-cluster statistics."""

from __future__ import annotations

import itertools
import os

import numpy as np
from scipy.spatial.distance import cdist

from ..errors import InvalidInputError
from ._validation import check_cluster_count, check_same_length, check_vectors
from .clusterstats import BLOCK_BYTES, PART_ROWS, ClusterStats, parallel_map
from .labels import Labels, encode_labels


def calinski_harabasz_from_stats(stats: ClusterStats) -> float:
    """``CH = [B / (k - 1)] / [W / (n - k)]`` with B the between- and W the within-cluster
    dispersion (Calinski & Harabasz 1974). Higher is better; 1.0 when W is 0 (scikit-learn)."""
    _check_moments(stats)
    stats = stats.nonempty()
    n, k = stats.n, stats.k
    check_cluster_count(k, n)
    dev = stats.mean - stats.global_mean()
    extra = float(np.sum(stats.counts * np.einsum("ij,ij->i", dev, dev)))
    intra = float(np.sum(stats.m2))
    return 1.0 if intra == 0.0 else extra * (n - k) / (intra * (k - 1.0))


class DaviesBouldinStats:
    """Sum of member-to-centroid euclidean distances per cluster, for fixed centroids.

    Davies-Bouldin needs the centroids first (a :class:`ClusterStats` pass), then this second,
    equally mergeable pass.
    """

    def __init__(self, stats: ClusterStats):
        _check_moments(stats)
        self.stats = stats.nonempty()
        self.dist_sum = np.zeros(len(self.stats.categories))

    def update(self, X: np.ndarray, labels: Labels) -> DaviesBouldinStats:
        codes = self.stats.codes_for(labels)
        mean = self.stats.mean
        assert mean is not None, "statistics of no rows have no centroids"
        k = len(self.dist_sum)

        def run(task):
            i0, i1 = task
            step = max(1, BLOCK_BYTES // (8 * X.shape[1]))
            work = np.empty((min(step, i1 - i0), X.shape[1]))  # reused: fresh pages cost more
            out = np.zeros(k)
            for i in range(i0, i1, step):  # float64 deviations, a cache-sized block at a time
                j = min(i + step, i1)
                c = codes[i:j]
                keep = c >= 0
                x = X[i:j]
                if not keep.all():
                    x, c = x[keep], c[keep]
                dev = np.take(mean, c, axis=0, out=work[:len(c)])
                np.subtract(x, dev, out=dev)
                out += np.bincount(c, weights=np.sqrt(np.einsum("ij,ij->i", dev, dev)),
                                   minlength=k)
            return out

        parts = max(1, min(2 * (os.cpu_count() or 1), len(X) // PART_ROWS))
        bounds = np.linspace(0, len(X), parts + 1).astype(int)
        for part in parallel_map(list(itertools.pairwise(bounds)), run):
            self.dist_sum += part
        return self

    def merge(self, other: DaviesBouldinStats) -> DaviesBouldinStats:
        out = DaviesBouldinStats(self.stats)
        out.dist_sum = self.dist_sum + other.dist_sum
        return out

    def score(self) -> float:
        """Mean over clusters of ``max_j (s_i + s_j) / d(c_i, c_j)``, with ``s_i`` the mean
        distance of members to their centroid (Davies & Bouldin 1979). Lower is better, >= 0."""
        check_cluster_count(self.stats.k, self.stats.n)
        intra = self.dist_sum / self.stats.counts
        centroid_dist = cdist(self.stats.mean, self.stats.mean)
        if np.allclose(intra, 0) or np.allclose(centroid_dist, 0):
            return 0.0
        centroid_dist[centroid_dist == 0] = np.inf
        return float(np.mean(np.max((intra[:, None] + intra) / centroid_dist, axis=1)))


def _check_moments(stats: ClusterStats) -> None:
    if not stats.with_moments:
        raise InvalidInputError("These cluster statistics were built without moments "
                                "(moments=False); Calinski-Harabasz and Davies-Bouldin need "
                                "the cluster means.")


def _prepare(X, labels):
    X = check_vectors(X, min_samples=1)
    enc = labels if isinstance(labels, Labels) else encode_labels(labels)
    check_same_length(X, len(enc.codes))
    return X, enc


def calinski_harabasz_score(X, labels) -> float:
    """Calinski-Harabasz index (variance ratio criterion); same value as scikit-learn.

    Parameters: ``X`` (n_samples, n_features), ``labels`` (n_samples,). Range [0, inf), higher
    is better. Samples with a missing label are left out.
    """
    X, enc = _prepare(X, labels)
    return calinski_harabasz_from_stats(ClusterStats.from_batch(X, enc))


def davies_bouldin_score(X, labels) -> float:
    """Davies-Bouldin index; same value as scikit-learn. Range [0, inf), lower is better."""
    X, enc = _prepare(X, labels)
    stats = ClusterStats.from_batch(X, enc)
    return DaviesBouldinStats(stats).update(X, enc).score()


__all__ = ["DaviesBouldinStats", "calinski_harabasz_from_stats", "calinski_harabasz_score",
           "davies_bouldin_score"]

