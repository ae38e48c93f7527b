"""Keywords: each cluster's distinctive terms by class-based TF-IDF (Grootendorst 2022, as
BERTopic computes it).

The documents of a cluster are one "class document". A term's weight in cluster c is
``tf(t, c) * log(1 + A / f(t))``: ``tf`` the term's count in c over all term counts of c,
``f(t)`` its count across all clusters and ``A`` the average number of terms per cluster.
Terms come from scikit-learn's ``CountVectorizer`` (stop words, n-grams and ``min_df`` as
its options), so the counts are the ones it gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InvalidInputError
from .representatives import check_n

MAX_NGRAM = 4  # the longest terms weighed (words in a term)


def vectorizer(*, stop_words: str | list[str] | None = "english",
               ngram_range: tuple[int, int] = (1, 1), min_df: int | float = 1):
    """The ``CountVectorizer`` that finds the terms (options checked, as scikit-learn does)."""
    from sklearn.feature_extraction.text import CountVectorizer
    lo_hi = tuple(ngram_range) if isinstance(ngram_range, (list, tuple)) else ()
    if (len(lo_hi) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                   for v in lo_hi) or not 1 <= lo_hi[0] <= lo_hi[1]):
        raise InvalidInputError(f"ngram_range must be two integers (min, max) with "
                                f"1 <= min <= max; got {ngram_range!r}.")
    if lo_hi[1] > MAX_NGRAM:  # the vocabulary grows with every length: bounded
        raise InvalidInputError(f"ngram_range's max must be at most {MAX_NGRAM} (terms of up "
                                f"to {MAX_NGRAM} words); got {lo_hi[1]}.")
    if isinstance(min_df, bool) or not isinstance(min_df, (int, float, np.number)) or \
            min_df <= 0 or (isinstance(min_df, float) and min_df > 1):
        raise InvalidInputError(f"min_df must be a positive count or a share in (0, 1]; got "
                                f"{min_df!r}.")
    if stop_words is not None and not isinstance(stop_words, (str, list)):
        raise InvalidInputError(f"stop_words must be 'english', a list of words or None; got "
                                f"{stop_words!r}.")
    if isinstance(stop_words, str) and stop_words != "english":
        raise InvalidInputError(f"stop_words must be 'english', a list of words or None; got "
                                f"{stop_words!r}.")
    return CountVectorizer(stop_words=stop_words, ngram_range=(int(lo_hi[0]), int(lo_hi[1])),
                           min_df=min_df)


def class_tfidf(counts: sp.csr_array | np.ndarray) -> sp.csr_array:
    """c-TF-IDF weights of a clusters x terms count matrix, sparse like the counts: a dense
    k x terms matrix of 10,000 clusters and a million terms would be 80 GB."""
    C = sp.csr_array(counts, dtype=np.float64)
    per_class = np.asarray(C.sum(axis=1)).ravel()
    f = np.asarray(C.sum(axis=0)).ravel()
    average = C.sum() / max(C.shape[0], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_size = np.where(per_class > 0, 1.0 / per_class, 0.0)
        idf = np.where(f > 0, np.log1p(average / f), 0.0)
    C.sum_duplicates()
    rows = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
    # the same sparsity as the counts: entry for entry, count x 1/size x idf
    return sp.csr_array((C.data * inv_size[rows] * idf[C.indices], C.indices.copy(),
                         C.indptr.copy()), shape=C.shape)


def keywords(texts: Sequence[Any], clusters: np.ndarray, *, n: int = 10,
             stop_words: str | list[str] | None = "english",
             ngram_range: tuple[int, int] = (1, 1), min_df: int | float = 1) -> pd.DataFrame:
    """The ``n`` top terms of each cluster: columns cluster, rank, term, score, count.

    ``texts`` and ``clusters`` (one label per text; the caller has applied the noise policy)
    have the same length. Clusters come in sorted order where their labels sort.
    """
    n = check_n(n)
    vec = vectorizer(stop_words=stop_words, ngram_range=ngram_range, min_df=min_df)
    texts = ["" if t is None else str(t) for t in texts]
    try:
        X = sp.csr_array(vec.fit_transform(texts))
    except ValueError as exc:  # no term left (all stop words, min_df too high)
        raise InvalidInputError(f"No terms to weigh: {exc}. Try stop_words=None or a lower "
                                "min_df.") from None
    codes, cats = pd.factorize(pd.Series(np.asarray(clusters, dtype=object)), sort=True)
    onehot = sp.csr_array((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                          shape=(len(cats), len(codes)))
    counts = sp.csr_array(onehot @ X)
    counts.sum_duplicates()  # canonical: the weights below have the same entries
    weights = class_tfidf(counts)
    terms = vec.get_feature_names_out()
    rows = []
    for c, label in enumerate(cats):  # a cluster's row holds only the terms it has
        lo, hi = weights.indptr[c], weights.indptr[c + 1]
        held, w, cnt = weights.indices[lo:hi], weights.data[lo:hi], counts.data[lo:hi]
        keep = cnt > 0
        held, w, cnt = held[keep], w[keep], cnt[keep]
        ranked = np.lexsort((terms[held], -w))[:n]  # ties: alphabetical
        rows += [{"cluster": label, "rank": r + 1, "term": str(terms[held[t]]),
                  "score": float(w[t]), "count": int(cnt[t])} for r, t in enumerate(ranked)]
    return pd.DataFrame(rows, columns=["cluster", "rank", "term", "score", "count"])
