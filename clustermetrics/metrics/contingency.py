"""External metrics from one mergeable statistic: the contingency table.

Every pair-counting and information-theoretic score is a formula over the table of counts
``n_ij`` (samples with true class i and cluster j), its row sums ``a_i`` and column sums ``b_j``.
:class:`ContingencyStats` builds the table batch by batch (keyed by label values, so separately
encoded batches merge), and the public ``*_score`` functions are thin wrappers: encode, count, apply
the formula. Values and special cases follow scikit-learn's ``sklearn.metrics.cluster``.

Samples whose true or predicted label is missing (None, NaN, "") are left out and counted.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln

from ..errors import InvalidInputError
from ._validation import check_non_negative_float, check_str_option
from .equality import ValueEquality
from .labels import Labels, align, encode_labels

_DENSE_LIMIT = 1 << 24  # cells counted with bincount; beyond that, hash the cell keys


class ContingencyStats(ValueEquality):
    """Contingency table of true classes (rows) against clusters (columns); mergeable.

    >>> s = ContingencyStats().update(["a", "a", "b"], [0, 0, 1])
    >>> s.merge(ContingencyStats().update(["b"], [1])).table.toarray()
    array([[2, 0],
           [0, 2]])
    """

    def __init__(self, *, noise_label=None, noise: str | None = None):
        self.noise_label, self.noise = noise_label, noise
        self.rows = np.empty(0, dtype=object)  # class label of each row
        self.cols = np.empty(0, dtype=object)  # cluster label of each column
        self.table = sp.csr_array((0, 0), dtype=np.int64)
        self.n_missing_true = 0
        self.n_missing_pred = 0
        self.n_noise = 0

    @property
    def n(self) -> int:
        """Samples counted (both labels present, noise excluded)."""
        return int(self.table.sum())

    def update(self, labels_true, labels_pred) -> ContingencyStats:
        t = encode_labels(labels_true, name="labels_true")
        p = encode_labels(labels_pred, noise_label=self.noise_label, noise=self.noise,
                          name="labels_pred")
        return self.update_encoded(t, p)

    def update_encoded(self, t: Labels, p: Labels) -> ContingencyStats:
        if len(t.codes) != len(p.codes):
            raise InvalidInputError(
                "Found input variables with inconsistent numbers of samples: "
                f"[{len(t.codes)}, {len(p.codes)}]. labels_true and labels_pred differ in "
                f"length: {len(t.codes)} != {len(p.codes)}; they must match one to one."
            )
        batch = ContingencyStats(noise_label=self.noise_label, noise=self.noise)
        batch.rows, batch.cols = t.categories, p.categories
        batch.table = count_pairs(t.codes, p.codes, t.k, p.k)
        batch.n_missing_true = t.n_missing
        batch.n_missing_pred = int(np.count_nonzero(p.codes == -1))
        batch.n_noise = p.n_noise
        merged = self.merge(batch)
        self.__dict__.update(merged.__dict__)
        return self

    def merge(self, other: ContingencyStats) -> ContingencyStats:
        """A new table holding the counts of both (neither input changes)."""
        for kept, empty in ((self, other), (other, self)):
            if empty._is_empty():  # nothing to add (a stream's first batch): no new table
                out = ContingencyStats(noise_label=self.noise_label, noise=self.noise)
                out.__dict__.update({k: v for k, v in kept.__dict__.items()
                                     if k not in ("noise_label", "noise")})
                return out
        out = ContingencyStats(noise_label=self.noise_label, noise=self.noise)
        out.rows, ri_a, ri_b = align(self.rows, other.rows)
        out.cols, ci_a, ci_b = align(self.cols, other.cols)
        shape = (len(out.rows), len(out.cols))
        parts = []
        for tab, ri, ci in ((self.table, ri_a, ci_a), (other.table, ri_b, ci_b)):
            coo = tab.tocoo()
            parts.append((coo.data, ri[coo.row], ci[coo.col]))
        data, r, c = (np.concatenate(x) for x in zip(*parts, strict=True))
        out.table = sp.csr_array((data, (r, c)), shape=shape, dtype=np.int64)
        out.table.sum_duplicates()
        for attr in ("n_missing_true", "n_missing_pred", "n_noise"):
            setattr(out, attr, getattr(self, attr) + getattr(other, attr))
        return out

    def _is_empty(self) -> bool:
        """Nothing counted yet: no classes, no clusters, nothing missing or noise."""
        return (not len(self.rows) and not len(self.cols) and not self.n_missing_true
                and not self.n_missing_pred and not self.n_noise)

    # -- final formulas --------------------------------------------------------------------
    def scores(self) -> dict[str, float]:
        """Every external metric at once, sharing the marginals and the MI."""
        return external_scores(self.table)


def count_pairs(codes_true: np.ndarray, codes_pred: np.ndarray, k_true: int, k_pred: int):
    """Sparse table of ``(true, pred)`` counts over samples with both codes >= 0."""
    ok = (codes_true >= 0) & (codes_pred >= 0)
    if not ok.all():
        codes_true, codes_pred = codes_true[ok], codes_pred[ok]
    if k_true * k_pred <= _DENSE_LIMIT:
        dense = np.bincount(codes_true * k_pred + codes_pred, minlength=k_true * k_pred)
        nz = np.flatnonzero(dense)
        return sp.csr_array((dense[nz], (nz // k_pred, nz % k_pred)), shape=(k_true, k_pred),
                            dtype=np.int64)
    keys, counts = np.unique(codes_true * np.int64(k_pred) + codes_pred, return_counts=True)
    return sp.csr_array((counts, (keys // k_pred, keys % k_pred)), shape=(k_true, k_pred),
                        dtype=np.int64)


def _marginals(table):
    a = np.asarray(table.sum(axis=1)).ravel().astype(np.int64)
    b = np.asarray(table.sum(axis=0)).ravel().astype(np.int64)
    return a[a > 0], b[b > 0]


def _pair_confusion(table) -> np.ndarray:
    n = int(table.sum())
    a, b = _marginals(table)
    data = table.data.astype(np.int64)
    sum_sq = int(data @ data)
    c = np.empty((2, 2), dtype=np.int64)
    c[1, 1] = sum_sq - n
    c[0, 1] = int(b @ b) - sum_sq
    c[1, 0] = int(a @ a) - sum_sq
    c[0, 0] = n * n - c[0, 1] - c[1, 0] - sum_sq
    return c


def _entropy(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(np.float64)
    if counts.size <= 1:
        return 0.0
    total = counts.sum()
    return float(-np.sum((counts / total) * (np.log(counts) - math.log(total))))


def _mutual_info(table) -> float:
    coo = table.tocoo()
    a = np.asarray(table.sum(axis=1)).ravel().astype(np.float64)
    b = np.asarray(table.sum(axis=0)).ravel().astype(np.float64)
    if np.count_nonzero(a) == 1 or np.count_nonzero(b) == 1:
        return 0.0
    nz = coo.data.astype(np.float64)
    total = nz.sum()
    if total == 0:  # scikit-learn takes log(0) here: its ValueError, with a reason
        raise InvalidInputError("math domain error: there are no samples (both labelings are "
                                "empty), so the mutual information is undefined.")
    p = nz / total
    outer = a[coo.row] * b[coo.col]
    log_outer = -np.log(outer) + math.log(a.sum()) + math.log(b.sum())
    mi = p * (np.log(nz) - math.log(total)) + p * log_outer
    mi = np.where(np.abs(mi) < np.finfo(np.float64).eps, 0.0, mi)
    return max(float(mi.sum()), 0.0)


def expected_mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Expected MI of two random labelings with marginals ``a`` and ``b`` (Vinh et al. 2010).

    The sum runs over every cell (i, j) and every feasible ``n_ij``, each term weighted by the
    hypergeometric probability of ``n_ij``. That distribution is log-concave, so the terms are
    summed outward from its mode until the probability falls below a cut-off chosen so that
    all the terms left out together stay below 1e-17 (each term is at most ``log(n) * p``, and
    there are at most ``n`` per cell). The cost is then proportional to the standard deviation
    of ``n_ij`` instead of ``min(a_i, b_j)`` (scikit-learn's loop), with the same value.
    """
    a = a[a > 0].astype(np.int64)
    b = b[b > 0].astype(np.int64)
    if a.size <= 1 or b.size <= 1:
        return 0.0
    n = int(a.sum())
    cutoff = math.log(1e-17) - math.log(a.size * b.size * n * max(math.log(n), 1.0))
    ai = np.repeat(a, b.size)[:, None]
    bj = np.tile(b, a.size)[:, None]
    hg = _Hypergeometric(ai, bj, n, gammaln(np.arange(max(a.max(), b.max()) + 1) + 1.0))
    lo = np.maximum(1, -hg.rest)
    hi = np.minimum(ai, bj)
    mode = np.clip((ai + 1) * (bj + 1) // (n + 2), lo, hi)
    sd = np.sqrt(ai * bj * ((n - ai) * (n - bj) / (float(n) ** 2 * max(n - 1, 1))))
    width = (np.ceil(math.sqrt(-2 * cutoff) * sd) + 16).astype(np.int64)
    whole = slice(None)
    while True:  # widen until both ends are negligible (or the whole range is covered)
        start = np.maximum(lo, mode - width)
        stop = np.minimum(hi, mode + width)
        short = (((start > lo) & (hg.log_p(start, whole) > cutoff))
                 | ((stop < hi) & (hg.log_p(stop, whole) > cutoff)))
        if not short.any():
            break
        width = np.where(short, width * 2, width)
    total = 0.0
    span = np.arange(int((stop - start).max()) + 1)
    step = max(1, (1 << 22) // len(span))  # cells per chunk: about 4M terms at a time
    for c in range(0, len(ai), step):
        sl = slice(c, c + step)
        want = start[sl] + span
        nij = np.minimum(want, stop[sl])
        term = (nij / n * (np.log(nij) + (math.log(n) - np.log(ai[sl]) - np.log(bj[sl])))
                * np.exp(hg.log_p(nij, sl)))
        term[want > stop[sl]] = 0.0  # padding past a cell's range
        total += float(term.sum())
    return total


class _Hypergeometric:
    """log P(n_ij) for cells with row sums ``ai`` and column sums ``bj`` out of ``n``."""

    def __init__(self, ai, bj, n, log_fact):
        self.ai, self.bj, self.log_fact = ai, bj, log_fact
        self.rest = n - ai - bj
        self.base = (log_fact[ai] + log_fact[bj] + gammaln(n - ai + 1.0)
                     + gammaln(n - bj + 1.0) - gammaln(n + 1.0))

    def log_p(self, nij, sl):
        f = self.log_fact
        return (self.base[sl] - f[nij] - f[self.ai[sl] - nij] - f[self.bj[sl] - nij]
                - gammaln(self.rest[sl] + nij + 1.0))


_AVERAGES = ("min", "geometric", "arithmetic", "max")


def _check_average(method: str, func: str = "normalized_mutual_info_score") -> None:
    check_str_option(method, _AVERAGES, param="average_method", func=func)


def _generalized_average(u: float, v: float, method: str) -> float:
    if method == "min":
        return min(u, v)
    if method == "geometric":
        return math.sqrt(u * v)
    if method == "arithmetic":
        return (u + v) / 2
    return max(u, v)


def _trivial(table) -> bool:
    """Both labelings have one class (or none): scikit-learn calls that a perfect match."""
    a, b = _marginals(table)
    return (a.size == b.size == 1) or (a.size == b.size == 0)


def rand_from_table(table) -> float:
    (tn, fp), (fn, tp) = (map(int, r) for r in _pair_confusion(table))
    num, den = tn + tp, tn + fp + fn + tp
    return 1.0 if num == den or den == 0 else num / den


def ari_from_table(table) -> float:
    (tn, fp), (fn, tp) = (map(int, r) for r in _pair_confusion(table))
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def nmi_from_table(table, average_method: str = "arithmetic") -> float:
    _check_average(average_method)
    if _trivial(table):
        return 1.0
    mi = _mutual_info(table)
    if mi == 0:
        return 0.0
    a, b = _marginals(table)
    return float(mi / _generalized_average(_entropy(a), _entropy(b), average_method))


def ami_from_table(table, average_method: str = "arithmetic") -> float:
    """As scikit-learn (after its fix for issue 30950): 1.0 when both labelings have one class
    (or none), 0.0 when exactly one of them has; numerator and denominator kept at least
    machine epsilon from 0 with their sign, so a perfect match scores 1.0 even where the
    expected MI equals the MI (two samples, two classes).

    Where AMI is 0/0 in exact arithmetic it is defined, not left to rounding (scikit-learn
    returns -1.0, 0.4 or 1.4 there): when one labeling puts every sample in a cluster of its
    own, every random labeling of those sizes shares all the other's information, so the MI
    equals its expectation exactly (the numerator is 0, whatever rounding leaves), and with
    ``average_method="min"`` the denominator is 0 too. AMI is 0.0 there for every average
    (the limit the other averages give), except when both labelings are all singletons:
    identical partitions, 1.0."""
    _check_average(average_method, "adjusted_mutual_info_score")
    if _trivial(table):
        return 1.0
    a, b = _marginals(table)
    if a.size == 1 or b.size == 1:
        return 0.0
    singles_a, singles_b = bool((a[a > 0] == 1).all()), bool((b[b > 0] == 1).all())
    if singles_a and singles_b:  # identical partitions
        return 1.0
    if singles_a or singles_b:  # MI = E[MI] exactly; with "min", = min(H) too: 0/0
        return 0.0
    mi = _mutual_info(table)
    emi = expected_mutual_info(a, b)
    normalizer = _generalized_average(_entropy(a), _entropy(b), average_method)
    eps = np.finfo(np.float64).eps
    den, num = normalizer - emi, mi - emi
    den = min(den, -eps) if den < 0 else max(den, eps)
    num = min(num, -eps) if num < 0 else max(num, eps)
    return float(num / den)


def hcv_from_table(table, beta: float = 1.0) -> tuple[float, float, float]:
    if table.sum() == 0:
        return 1.0, 1.0, 1.0
    a, b = _marginals(table)
    h_true, h_pred = _entropy(a), _entropy(b)
    mi = _mutual_info(table)
    hom = mi / h_true if h_true else 1.0
    com = mi / h_pred if h_pred else 1.0
    v = 0.0 if hom + com == 0 else (1 + beta) * hom * com / (beta * hom + com)
    return float(hom), float(com), float(v)


def fmi_from_table(table) -> float:
    n = int(table.sum())
    a, b = _marginals(table)
    data = table.data.astype(np.int64)
    tk = int(data @ data) - n
    pk = int(b @ b) - n
    qk = int(a @ a) - n
    return float(math.sqrt(tk / pk) * math.sqrt(tk / qk)) if tk != 0 else 0.0


def purity_from_table(table) -> float:
    n = int(table.sum())
    if n == 0:
        return 1.0
    return float(table.max(axis=0).toarray().sum() / n)


def external_scores(table) -> dict[str, float]:
    hom, com, v = hcv_from_table(table)
    return {
        "adjusted_rand": ari_from_table(table),
        "rand": rand_from_table(table),
        "adjusted_mutual_info": ami_from_table(table),
        "normalized_mutual_info": nmi_from_table(table),
        "homogeneity": hom,
        "completeness": com,
        "v_measure": v,
        "fowlkes_mallows": fmi_from_table(table),
        "purity": purity_from_table(table),
    }


# -- public one-shot functions (scikit-learn names and argument order) -------------------------

def _table(labels_true, labels_pred):
    return ContingencyStats().update(labels_true, labels_pred).table


def contingency_matrix(labels_true, labels_pred, *, eps=None, sparse=False, dtype=np.int64):
    """Contingency table of true classes against clusters.

    Cell ``C[i, j]`` is the number of samples with true class ``i`` and cluster ``j``; rows follow
    the sorted true classes, columns the sorted clusters.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.
    eps : float, default=None
        If given, a value added to every cell (the result is then float64), e.g. to avoid zeros.
        Cannot be combined with ``sparse=True``.
    sparse : bool, default=False
        Return a ``scipy.sparse.csr_matrix`` instead of a dense array.
    dtype : numeric type, default=np.int64
        Type of the result; ignored when ``eps`` is given.

    Returns
    -------
    contingency : ndarray or scipy.sparse.csr_matrix of shape (n_classes_true, n_classes_pred)
        Counts, each >= 0 (>= ``eps`` with ``eps``), summing to the number of samples that have
        both labels.

    Notes
    -----
    Same value as ``sklearn.metrics.cluster.contingency_matrix``. Samples whose true or predicted
    label is missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] L. Hubert and P. Arabie, "Comparing partitions", Journal of Classification, 2(1),
       193-218, 1985. https://doi.org/10.1007/BF01908075

    Examples
    --------
    >>> from clustermetrics import contingency_matrix
    >>> contingency_matrix([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    array([[2, 1, 0],
           [0, 1, 2]])
    >>> contingency_matrix(["b", "a", None, "a"], [1, 1, 0, 0])
    array([[1, 1],
           [0, 1]])
    """
    check_non_negative_float(eps, param="eps", func="contingency_matrix", allow_none=True)
    if sparse and eps is not None:
        raise InvalidInputError("Cannot set 'eps' when sparse=True: a sparse table keeps its "
                                "zeros implicit.")
    table = _table(labels_true, labels_pred)
    if sparse:
        return sp.csr_matrix(table, dtype=dtype)
    out = table.toarray()
    if eps is not None:
        out = out.astype(np.float64) + eps
    return out.astype(dtype) if eps is None else out


def pair_confusion_matrix(labels_true, labels_pred) -> np.ndarray:
    """Pair confusion matrix ``[[tn, fp], [fn, tp]]`` over ordered pairs of samples.

    Each ordered pair of distinct samples ``(i, j)`` is counted by whether the two labelings put
    it in the same group: ``tp`` both do, ``tn`` neither does, ``fp`` only ``labels_pred`` does,
    ``fn`` only ``labels_true`` does.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.

    Returns
    -------
    C : ndarray of shape (2, 2), dtype int64
        ``[[tn, fp], [fn, tp]]``; entries >= 0, summing to ``n * (n - 1)`` for ``n`` samples with
        both labels.

    Notes
    -----
    Same value as ``sklearn.metrics.cluster.pair_confusion_matrix``. Samples whose true or predicted
    label is missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] L. Hubert and P. Arabie, "Comparing partitions", Journal of Classification, 2(1),
       193-218, 1985. https://doi.org/10.1007/BF01908075

    Examples
    --------
    >>> from clustermetrics import pair_confusion_matrix
    >>> pair_confusion_matrix([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    array([[16,  2],
           [ 8,  4]])
    """
    return _pair_confusion(_table(labels_true, labels_pred))


def rand_score(labels_true, labels_pred) -> float:
    """Rand index: the fraction of sample pairs on which the two labelings agree.

    ``RI = (tp + tn) / (tp + tn + fp + fn)`` over the pairs of :func:`pair_confusion_matrix`.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.

    Returns
    -------
    RI : float
        In [0, 1]; 1 is perfect agreement. Not adjusted for chance: random labelings score well
        above 0 (see :func:`adjusted_rand_score`).

    Notes
    -----
    Same value as ``sklearn.metrics.rand_score``. Samples whose true or predicted label is missing
    (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] W. M. Rand, "Objective criteria for the evaluation of clustering methods", Journal of
       the American Statistical Association, 66(336), 846-850, 1971.
       https://doi.org/10.1080/01621459.1971.10482356

    Examples
    --------
    >>> from clustermetrics import rand_score
    >>> round(rand_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.6667
    >>> rand_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    return rand_from_table(_table(labels_true, labels_pred))


def adjusted_rand_score(labels_true, labels_pred) -> float:
    """Rand index adjusted for chance.

    ``ARI = (RI - E[RI]) / (max(RI) - E[RI])``, with the expectation under random labelings of the
    same cluster sizes; from the pair counts,
    ``ARI = 2 (tp tn - fn fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp + tn))``.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.

    Returns
    -------
    ARI : float
        In [-0.5, 1]; 1 is perfect agreement (up to a renaming of the clusters), about 0 is
        random labeling, negative is worse than chance. 1.0 when both labelings put all samples
        in one cluster.

    Notes
    -----
    Same value as ``sklearn.metrics.adjusted_rand_score``. Samples whose true or predicted label is
    missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] L. Hubert and P. Arabie, "Comparing partitions", Journal of Classification, 2(1),
       193-218, 1985. https://doi.org/10.1007/BF01908075

    Examples
    --------
    >>> from clustermetrics import adjusted_rand_score
    >>> round(adjusted_rand_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.2424
    >>> adjusted_rand_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> adjusted_rand_score([0, 0, 1, 1], [0, 1, 0, 1])
    -0.5
    """
    return ari_from_table(_table(labels_true, labels_pred))


def mutual_info_score(labels_true, labels_pred, *, contingency=None) -> float:
    """Mutual information between two labelings, in nats (natural log).

    ``MI = sum_ij (n_ij / n) log(n n_ij / (a_i b_j))`` over the contingency table ``n_ij`` with row
    sums ``a_i`` and column sums ``b_j``.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.
    contingency : array-like or sparse matrix, default=None
        A table of counts of shape (n_classes_true, n_classes_pred), as
        :func:`contingency_matrix` gives; if given, ``labels_true`` and ``labels_pred`` are
        ignored (pass None).

    Returns
    -------
    MI : float
        In [0, inf), at most ``min(H(labels_true), H(labels_pred))``; 0 for independent
        labelings. Not normalised (see :func:`normalized_mutual_info_score`) nor adjusted for
        chance (see :func:`adjusted_mutual_info_score`).

    Notes
    -----
    Same value as ``sklearn.metrics.mutual_info_score``. Samples whose true or predicted label is
    missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] N. X. Vinh, J. Epps and J. Bailey, "Information theoretic measures for clusterings
       comparison: variants, properties, normalization and correction for chance", Journal of
       Machine Learning Research, 11, 2837-2854, 2010.

    Examples
    --------
    >>> from clustermetrics import mutual_info_score
    >>> round(mutual_info_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.4621
    >>> round(mutual_info_score(None, None, contingency=[[2, 1, 0], [0, 1, 2]]), 4)
    0.4621
    """
    table = sp.csr_array(contingency) if contingency is not None else \
        _table(labels_true, labels_pred)
    return _mutual_info(table)


def normalized_mutual_info_score(labels_true, labels_pred, *,
                                 average_method: str = "arithmetic") -> float:
    """Mutual information normalised by a mean of the two entropies.

    ``NMI = MI / mean(H(labels_true), H(labels_pred))``, the mean chosen by ``average_method``.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.
    average_method : {"arithmetic", "geometric", "min", "max"}, default="arithmetic"
        How the two entropies are averaged in the denominator.

    Returns
    -------
    NMI : float
        In [0, 1]; 1 is perfect agreement, 0 independent labelings. Not adjusted for chance (see
        :func:`adjusted_mutual_info_score`). 1.0 when both labelings put all samples in one
        cluster.

    Notes
    -----
    Same value as ``sklearn.metrics.normalized_mutual_info_score``. Samples whose true or predicted
    label is missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] N. X. Vinh, J. Epps and J. Bailey, "Information theoretic measures for clusterings
       comparison: variants, properties, normalization and correction for chance", Journal of
       Machine Learning Research, 11, 2837-2854, 2010.

    Examples
    --------
    >>> from clustermetrics import normalized_mutual_info_score
    >>> round(normalized_mutual_info_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.5158
    >>> round(normalized_mutual_info_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2],
    ...                                    average_method="max"), 4)
    0.4206
    """
    _check_average(average_method, "normalized_mutual_info_score")
    return nmi_from_table(_table(labels_true, labels_pred), average_method)


def adjusted_mutual_info_score(labels_true, labels_pred, *,
                               average_method: str = "arithmetic") -> float:
    """Mutual information adjusted for chance.

    ``AMI = (MI - E[MI]) / (mean(H(labels_true), H(labels_pred)) - E[MI])``, with ``E[MI]`` the
    expected MI of random labelings of the same cluster sizes (hypergeometric model) and the mean
    chosen by ``average_method``.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.
    average_method : {"arithmetic", "geometric", "min", "max"}, default="arithmetic"
        How the two entropies are averaged in the denominator.

    Returns
    -------
    AMI : float
        At most 1; 1 is perfect agreement, about 0 is random labeling, negative is worse than
        chance. 1.0 when both labelings put all samples in one cluster, 0.0 when only one of them
        does. 0.0 when one labeling puts every sample in a cluster of its own (the MI then
        equals its expectation: 0/0 with ``average_method="min"``), 1.0 when both do.

    Notes
    -----
    Same value as ``sklearn.metrics.adjusted_mutual_info_score``, except where one labeling
    is all singletons: there scikit-learn returns rounding noise (-1.0, 0.4, 1.4 with
    ``average_method="min"``) and this function its limit, 0.0. Samples whose true or predicted
    label is missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN". The
    expected MI sums the hypergeometric terms outward from the mode and stops where the terms left
    out cannot add up to 1e-17, instead of visiting every feasible ``n_ij`` (see
    :func:`expected_mutual_info`); values agree with scikit-learn to ~1e-13.

    References
    ----------
    .. [1] N. X. Vinh, J. Epps and J. Bailey, "Information theoretic measures for clusterings
       comparison: variants, properties, normalization and correction for chance", Journal of
       Machine Learning Research, 11, 2837-2854, 2010.

    Examples
    --------
    >>> from clustermetrics import adjusted_mutual_info_score
    >>> round(adjusted_mutual_info_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.2988
    >>> adjusted_mutual_info_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    _check_average(average_method, "adjusted_mutual_info_score")
    return ami_from_table(_table(labels_true, labels_pred), average_method)


def homogeneity_completeness_v_measure(labels_true, labels_pred, *, beta: float = 1.0):
    """Homogeneity, completeness and V-measure of a clustering, computed at once.

    ``h = 1 - H(C|K) / H(C)``, ``c = 1 - H(K|C) / H(K)`` and
    ``v = (1 + beta) h c / (beta h + c)``, with ``C`` the true classes and ``K`` the clusters.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.
    beta : float, default=1.0
        Ratio of weight given to homogeneity versus completeness in the V-measure: above 1 weighs
        completeness more, below 1 homogeneity more. Must be >= 0.

    Returns
    -------
    homogeneity : float
        In [0, 1]; 1 when each cluster holds members of a single class.
    completeness : float
        In [0, 1]; 1 when all members of each class share a cluster.
    v_measure : float
        In [0, 1]; the weighted harmonic mean of the two.

    Notes
    -----
    Same value as ``sklearn.metrics.homogeneity_completeness_v_measure``. Samples whose true or
    predicted label is missing (None, NaN, "") are left out; scikit-learn stops with "Input contains
    NaN".

    References
    ----------
    .. [1] A. Rosenberg and J. Hirschberg, "V-Measure: a conditional entropy-based external
       cluster evaluation measure", Proceedings of the 2007 Joint Conference on Empirical Methods
       in Natural Language Processing and Computational Natural Language Learning (EMNLP-CoNLL),
       410-420, 2007.

    Examples
    --------
    >>> from clustermetrics import homogeneity_completeness_v_measure
    >>> h, c, v = homogeneity_completeness_v_measure([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    >>> round(h, 4), round(c, 4), round(v, 4)
    (0.6667, 0.4206, 0.5158)
    """
    check_non_negative_float(beta, param="beta", func="homogeneity_completeness_v_measure")
    return hcv_from_table(_table(labels_true, labels_pred), beta)


def homogeneity_score(labels_true, labels_pred) -> float:
    """Homogeneity: each cluster holds members of a single class.

    ``h = 1 - H(C|K) / H(C)`` with ``C`` the true classes and ``K`` the clusters (1.0 when
    ``H(C)`` is 0).

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.

    Returns
    -------
    homogeneity : float
        In [0, 1]; 1 is perfectly homogeneous. Not symmetric: swapping the labelings gives
        :func:`completeness_score`.

    Notes
    -----
    Same value as ``sklearn.metrics.homogeneity_score``. Samples whose true or predicted label is
    missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] A. Rosenberg and J. Hirschberg, "V-Measure: a conditional entropy-based external
       cluster evaluation measure", Proceedings of the 2007 Joint Conference on Empirical Methods
       in Natural Language Processing and Computational Natural Language Learning (EMNLP-CoNLL),
       410-420, 2007.

    Examples
    --------
    >>> from clustermetrics import homogeneity_score
    >>> round(homogeneity_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.6667
    >>> round(homogeneity_score([0, 0, 1, 1], [0, 1, 2, 3]), 4)
    1.0
    """
    return homogeneity_completeness_v_measure(labels_true, labels_pred)[0]


def completeness_score(labels_true, labels_pred) -> float:
    """Completeness: all members of a class share a cluster.

    ``c = 1 - H(K|C) / H(K)`` with ``C`` the true classes and ``K`` the clusters (1.0 when
    ``H(K)`` is 0).

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.

    Returns
    -------
    completeness : float
        In [0, 1]; 1 is perfectly complete. Not symmetric: swapping the labelings gives
        :func:`homogeneity_score`.

    Notes
    -----
    Same value as ``sklearn.metrics.completeness_score``. Samples whose true or predicted label is
    missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] A. Rosenberg and J. Hirschberg, "V-Measure: a conditional entropy-based external
       cluster evaluation measure", Proceedings of the 2007 Joint Conference on Empirical Methods
       in Natural Language Processing and Computational Natural Language Learning (EMNLP-CoNLL),
       410-420, 2007.

    Examples
    --------
    >>> from clustermetrics import completeness_score
    >>> round(completeness_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.4206
    >>> completeness_score([0, 0, 1, 1], [0, 0, 0, 0])
    1.0
    """
    return homogeneity_completeness_v_measure(labels_true, labels_pred)[1]


def v_measure_score(labels_true, labels_pred, *, beta: float = 1.0) -> float:
    """V-measure: the weighted harmonic mean of homogeneity and completeness.

    ``v = (1 + beta) h c / (beta h + c)``; with ``beta=1`` it equals
    :func:`normalized_mutual_info_score` with ``average_method="arithmetic"``.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.
    beta : float, default=1.0
        Ratio of weight given to homogeneity versus completeness in the V-measure: above 1 weighs
        completeness more, below 1 homogeneity more. Must be >= 0.

    Returns
    -------
    v_measure : float
        In [0, 1]; 1 is perfect agreement, 0 independent labelings.

    Notes
    -----
    Same value as ``sklearn.metrics.v_measure_score``. Samples whose true or predicted label is
    missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] A. Rosenberg and J. Hirschberg, "V-Measure: a conditional entropy-based external
       cluster evaluation measure", Proceedings of the 2007 Joint Conference on Empirical Methods
       in Natural Language Processing and Computational Natural Language Learning (EMNLP-CoNLL),
       410-420, 2007.

    Examples
    --------
    >>> from clustermetrics import v_measure_score
    >>> round(v_measure_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.5158
    >>> round(v_measure_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2], beta=2.0), 4)
    0.4796
    """
    check_non_negative_float(beta, param="beta", func="v_measure_score")
    return homogeneity_completeness_v_measure(labels_true, labels_pred, beta=beta)[2]


def fowlkes_mallows_score(labels_true, labels_pred) -> float:
    """Fowlkes-Mallows index: the geometric mean of pairwise precision and recall.

    ``FMI = tp / sqrt((tp + fp) (tp + fn))`` over the pairs of samples (see
    :func:`pair_confusion_matrix`).

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.

    Returns
    -------
    FMI : float
        In [0, 1]; 1 is perfect agreement, 0 when no pair is grouped together by both labelings.

    Notes
    -----
    Same value as ``sklearn.metrics.fowlkes_mallows_score``. Samples whose true or predicted label
    is missing (None, NaN, "") are left out; scikit-learn stops with "Input contains NaN".

    References
    ----------
    .. [1] E. B. Fowlkes and C. L. Mallows, "A method for comparing two hierarchical
       clusterings", Journal of the American Statistical Association, 78(383), 553-569, 1983.
       https://doi.org/10.1080/01621459.1983.10478008

    Examples
    --------
    >>> from clustermetrics import fowlkes_mallows_score
    >>> round(fowlkes_mallows_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.4714
    >>> fowlkes_mallows_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    return fmi_from_table(_table(labels_true, labels_pred))


def purity_score(labels_true, labels_pred) -> float:
    """Purity: the fraction of samples that belong to their cluster's majority class.

    ``purity = sum_j max_i n_ij / n`` over the contingency table ``n_ij``.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes: ints, strings, a list, numpy array or pandas Series. Missing labels
        (None, NaN, "") are left out.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels to evaluate, in the same form.

    Returns
    -------
    purity : float
        In (0, 1]; 1 when each cluster holds a single class. Rewards many clusters: all
        singletons score 1. 1.0 when no sample has both labels.

    Notes
    -----
    Not in scikit-learn. Samples whose true or predicted label is missing (None, NaN, "") are left
    out.

    References
    ----------
    .. [1] C. D. Manning, P. Raghavan and H. Schuetze, "Introduction to Information Retrieval",
       Cambridge University Press, 2008, section 16.3 "Evaluation of clustering".

    Examples
    --------
    >>> from clustermetrics import purity_score
    >>> round(purity_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 4)
    0.8333
    >>> purity_score([0, 0, 1, 1], [0, 1, 2, 3])
    1.0
    """
    return purity_from_table(_table(labels_true, labels_pred))
