"""Calinski-Harabasz and Davies-Bouldin from mergeable per-cluster statistics."""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import InvalidInputError
from ._validation import check_cluster_count, check_same_length, check_vectors
from .clusterstats import (
    BLOCK_BYTES,
    PART_ROWS,
    ClusterStats,
    block_buffer,
    centroid_distances,
    kernel_threads,
    own_centroid_sq,
    parallel_map,
    representable,
)
from .labels import Labels, encode_labels


def calinski_harabasz_from_stats(stats: ClusterStats, within: float | None = None) -> float:
    """``CH = [B / (k - 1)] / [W / (n - k)]`` with B the between- and W the within-cluster
    dispersion (Calinski & Harabasz 1974). Higher is better; 1.0 when W is 0 (scikit-learn).
    ``within`` gives W measured elsewhere (a pass that summed each member's squared distance
    to its centroid); otherwise it comes from the statistics' squared deviations."""
    _check_moments(stats)
    if within is None and not stats.with_spread:
        raise InvalidInputError("These cluster statistics were built without the squared "
                                "deviations (spread=False); give W as within=.")
    stats = stats.nonempty()
    n, k = stats.n, stats.k
    check_cluster_count(k, n)
    dev = stats.mean - stats.global_mean()
    extra = float(np.sum(stats.counts * np.einsum("ij,ij->i", dev, dev)))
    intra = float(np.sum(stats.m2)) if within is None else float(within)
    return 1.0 if intra == 0.0 else extra * (n - k) / (intra * (k - 1.0))


class DaviesBouldinStats:
    """Sums of member-to-centroid euclidean distances per cluster, for fixed centroids, and of
    their squares (Calinski-Harabasz's W, as scikit-learn sums it).

    Davies-Bouldin needs the centroids first (a :class:`ClusterStats` pass), then this second,
    equally mergeable pass.
    """

    def __init__(self, stats: ClusterStats):
        _check_moments(stats)
        self.stats = stats.nonempty()
        self.dist_sum = np.zeros(len(self.stats.categories))
        self.sq_sum = np.zeros(len(self.stats.categories))

    def update(self, X: np.ndarray, labels: Labels) -> DaviesBouldinStats:
        """Add a batch's member-to-centroid distances: per cache-sized block of rows, centred
        on the data's mean, one GEMM in X's precision against the centroids
        (:func:`own_centroid_sq`), on all cores."""
        codes = self.stats.codes_for(labels)
        mean = self.stats.mean
        assert mean is not None, "statistics of no rows have no centroids"
        k = len(self.dist_sum)
        center = representable(self.stats.global_mean(), X.dtype)
        centroids = mean - center  # float64, in the centred frame
        c_sq = np.einsum("ij,ij->i", centroids, centroids)
        right = np.ascontiguousarray(centroids.T.astype(X.dtype))
        shift = center.astype(X.dtype)

        def run(task):
            i0, i1 = task
            step = max(1, BLOCK_BYTES // (X.dtype.itemsize * X.shape[1]))
            work = block_buffer(min(step, i1 - i0), X.shape[1], X.dtype)
            out = np.zeros((2, k))
            for i in range(i0, i1, step):
                j = min(i + step, i1)
                c = codes[i:j]
                keep = c >= 0
                x = X[i:j]
                if not keep.all():
                    x, c = x[keep], c[keep]
                xc = np.subtract(x, shift, out=work[:len(c)])
                x_sq = np.einsum("ij,ij->i", xc, xc).astype(np.float64)
                dots = (xc @ right)[np.arange(len(c)), c].astype(np.float64)
                self_sq = own_centroid_sq(x, c, mean, dots, x_sq, c_sq)
                out[0] += np.bincount(c, weights=np.sqrt(self_sq), minlength=k)
                out[1] += np.bincount(c, weights=self_sq, minlength=k)
            return out

        parts = max(1, min(2 * kernel_threads(), len(X) // PART_ROWS))
        bounds = np.linspace(0, len(X), parts + 1).astype(int)
        for part in parallel_map(list(itertools.pairwise(bounds)), run):
            self.dist_sum += part[0]
            self.sq_sum += part[1]
        return self

    def add(self, codes: np.ndarray, self_sq: np.ndarray) -> DaviesBouldinStats:
        """Add squared member-to-centroid distances already made (the linear silhouette's
        pass makes them beside its own GEMM); ``codes`` index these statistics' clusters."""
        k = len(self.dist_sum)
        self.dist_sum += np.bincount(codes, weights=np.sqrt(self_sq), minlength=k)
        self.sq_sum += np.bincount(codes, weights=self_sq, minlength=k)
        return self

    def merge(self, other: DaviesBouldinStats) -> DaviesBouldinStats:
        out = DaviesBouldinStats(self.stats)
        out.dist_sum = self.dist_sum + other.dist_sum
        out.sq_sum = self.sq_sum + other.sq_sum
        return out

    def score(self) -> float:
        """Mean over clusters of ``max_j (s_i + s_j) / d(c_i, c_j)``, with ``s_i`` the mean
        distance of members to their centroid (Davies & Bouldin 1979). Lower is better, >= 0.

        Two centroids within rounding of each other coincide (distance 0, see
        :func:`~clustermetrics.metrics.clusterstats.centroid_distances`), and, as in
        scikit-learn, a zero distance drops that pair (scikit-learn sees its exact zero where
        float64 rounding leaves ~1e-16, which gave 6e15 instead of 5.3)."""
        check_cluster_count(self.stats.k, self.stats.n)
        intra = self.dist_sum / self.stats.counts
        assert self.stats.mean is not None  # checked by _check_moments
        centroid_dist = centroid_distances(self.stats.mean, spread=intra, eps=self.stats.eps)
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
    """Calinski-Harabasz index (variance ratio criterion).

    ``CH = [B / (k - 1)] / [W / (n - k)]``, with ``B`` the between-cluster dispersion (sum over
    clusters of ``n_c |mean_c - mean|^2``), ``W`` the within-cluster sum of squares, ``k`` clusters
    and ``n`` samples.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Feature vectors: a numpy array, list of lists, DataFrame or scipy.sparse matrix (made
        dense); float32 stays float32. NaN or infinite values raise ``InvalidInputError``.
    labels : array-like of shape (n_samples,)
        Cluster label of each sample: ints or strings. Missing labels (None, NaN, "") are left
        out.

    Returns
    -------
    score : float
        In [0, inf); higher is better (dense, well separated clusters). 1.0 when ``W`` is 0, as in
        scikit-learn.

    Raises
    ------
    InvalidInputError
        If there are fewer than 2 clusters or as many clusters as samples (scikit-learn's rule).

    Notes
    -----
    Same value as ``sklearn.metrics.calinski_harabasz_score``. Samples whose label is missing
    (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] T. Calinski and J. Harabasz, "A dendrite method for cluster analysis", Communications
       in Statistics, 3(1), 1-27, 1974. https://doi.org/10.1080/03610927408827101

    Examples
    --------
    >>> import numpy as np
    >>> from clustermetrics import calinski_harabasz_score
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]])
    >>> round(calinski_harabasz_score(X, [0, 0, 0, 1, 1, 1]), 4)
    450.0
    """
    X, enc = _prepare(X, labels)
    return calinski_harabasz_from_stats(ClusterStats.from_batch(X, enc))


def davies_bouldin_score(X, labels) -> float:
    """Davies-Bouldin index: the mean similarity of each cluster to its most similar one.

    ``DB = (1 / k) sum_i max_(j != i) (s_i + s_j) / d(c_i, c_j)``, with ``s_i`` the mean euclidean
    distance of cluster i's members to its centroid ``c_i`` and ``d`` the euclidean distance
    between centroids.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Feature vectors: a numpy array, list of lists, DataFrame or scipy.sparse matrix (made
        dense); float32 stays float32. NaN or infinite values raise ``InvalidInputError``.
    labels : array-like of shape (n_samples,)
        Cluster label of each sample: ints or strings. Missing labels (None, NaN, "") are left
        out.

    Returns
    -------
    score : float
        In [0, inf); lower is better, 0 the best (clusters that are points far apart).

    Raises
    ------
    InvalidInputError
        If there are fewer than 2 clusters or as many clusters as samples (scikit-learn's rule).

    Notes
    -----
    Same value as ``sklearn.metrics.davies_bouldin_score``, except where a cluster is a single
    point or holds duplicates: the distance from such a point to its centroid is exactly 0 here
    and ~1e-8 in scikit-learn, so values can differ from the 8th digit. Two centroids within
    rounding of each other (32 x the dtype's epsilon x the clusters' spread, see
    :func:`~clustermetrics.metrics.clusterstats.centroid_distances`) coincide, and, as in
    scikit-learn, a pair of coinciding centroids is left out of the maximum (scikit-learn
    sees an exact 0 only where its own sums happen to cancel exactly). Samples whose label is
    missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] D. L. Davies and D. W. Bouldin, "A cluster separation measure", IEEE Transactions on
       Pattern Analysis and Machine Intelligence, PAMI-1(2), 224-227, 1979.
       https://doi.org/10.1109/TPAMI.1979.4766909

    Examples
    --------
    >>> import numpy as np
    >>> from clustermetrics import davies_bouldin_score
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]])
    >>> round(davies_bouldin_score(X, [0, 0, 0, 1, 1, 1]), 4)
    0.0925
    """
    X, enc = _prepare(X, labels)
    stats = ClusterStats.from_batch(X, enc)
    return DaviesBouldinStats(stats).update(X, enc).score()


__all__ = ["DaviesBouldinStats", "calinski_harabasz_from_stats", "calinski_harabasz_score",
           "davies_bouldin_score"]

