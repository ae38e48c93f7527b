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
from .labels import Labels, align, encode_labels

_DENSE_LIMIT = 1 << 24  # cells counted with bincount; beyond that, hash the cell keys


class ContingencyStats:
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
    expected MI equals the MI (two samples, two classes)."""
    _check_average(average_method, "adjusted_mutual_info_score")
    if _trivial(table):
        return 1.0
    a, b = _marginals(table)
    if a.size == 1 or b.size == 1:
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
    """Table of counts: rows are the sorted true classes, columns the sorted clusters.

    Same as ``sklearn.metrics.cluster.contingency_matrix``; samples with a missing label are left
    out. ``sparse=True`` returns a ``scipy.sparse.csr_matrix``.
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
    """Pair confusion matrix ``[[tn, fp], [fn, tp]]`` over ordered pairs of samples."""
    return _pair_confusion(_table(labels_true, labels_pred))


def rand_score(labels_true, labels_pred) -> float:
    """Rand index: fraction of sample pairs on which the two labelings agree. Range [0, 1]."""
    return rand_from_table(_table(labels_true, labels_pred))


def adjusted_rand_score(labels_true, labels_pred) -> float:
    """Rand index adjusted for chance (Hubert & Arabie 1985).

    ``ARI = (RI - E[RI]) / (max(RI) - E[RI])``; 1 for identical partitions, about 0 for random
    labelings, down to -0.5 for discordant ones.
    """
    return ari_from_table(_table(labels_true, labels_pred))


def mutual_info_score(labels_true, labels_pred, *, contingency=None) -> float:
    """Mutual information (natural log) between two labelings. Range [0, inf)."""
    table = sp.csr_array(contingency) if contingency is not None else \
        _table(labels_true, labels_pred)
    return _mutual_info(table)


def normalized_mutual_info_score(labels_true, labels_pred, *,
                                 average_method: str = "arithmetic") -> float:
    """MI normalised by a mean of the two entropies. Range [0, 1]."""
    _check_average(average_method, "normalized_mutual_info_score")
    return nmi_from_table(_table(labels_true, labels_pred), average_method)


def adjusted_mutual_info_score(labels_true, labels_pred, *,
                               average_method: str = "arithmetic") -> float:
    """MI adjusted for chance (Vinh, Epps & Bailey 2010): ``(MI - E[MI]) / (mean(H) - E[MI])``.

    1 for identical partitions, about 0 for random ones. The expected MI is computed exactly
    up to float64 underflow (see :func:`expected_mutual_info`).
    """
    _check_average(average_method, "adjusted_mutual_info_score")
    return ami_from_table(_table(labels_true, labels_pred), average_method)


def homogeneity_completeness_v_measure(labels_true, labels_pred, *, beta: float = 1.0):
    """Homogeneity, completeness and V-measure (Rosenberg & Hirschberg 2007); each in [0, 1]."""
    check_non_negative_float(beta, param="beta", func="homogeneity_completeness_v_measure")
    return hcv_from_table(_table(labels_true, labels_pred), beta)


def homogeneity_score(labels_true, labels_pred) -> float:
    """Each cluster holds members of a single class: ``1 - H(C|K) / H(C)``. Range [0, 1]."""
    return homogeneity_completeness_v_measure(labels_true, labels_pred)[0]


def completeness_score(labels_true, labels_pred) -> float:
    """All members of a class share a cluster: ``1 - H(K|C) / H(K)``. Range [0, 1]."""
    return homogeneity_completeness_v_measure(labels_true, labels_pred)[1]


def v_measure_score(labels_true, labels_pred, *, beta: float = 1.0) -> float:
    """Weighted harmonic mean of homogeneity and completeness. Range [0, 1]."""
    check_non_negative_float(beta, param="beta", func="v_measure_score")
    return homogeneity_completeness_v_measure(labels_true, labels_pred, beta=beta)[2]


def fowlkes_mallows_score(labels_true, labels_pred) -> float:
    """Geometric mean of pairwise precision and recall (Fowlkes & Mallows 1983). Range [0, 1]."""
    return fmi_from_table(_table(labels_true, labels_pred))


def purity_score(labels_true, labels_pred) -> float:
    """Fraction of samples in their cluster's majority class. Range [0, 1]; 1 for singletons.

    Not in scikit-learn: ``sum_j max_i n_ij / n``.
    """
    return purity_from_table(_table(labels_true, labels_pred))
