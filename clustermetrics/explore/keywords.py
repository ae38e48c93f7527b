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


def class_tfidf(counts: sp.csr_array | np.ndarray) -> np.ndarray:
    """c-TF-IDF weights of a clusters x terms count matrix (dense result, k x terms)."""
    C = np.asarray(counts.toarray() if isinstance(counts, sp.sparray | sp.spmatrix) else counts,
                   dtype=np.float64)
    per_class = C.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        tf = np.where(per_class > 0, C / per_class, 0.0)
        average = C.sum() / max(len(C), 1)
        f = C.sum(axis=0)
        idf = np.where(f > 0, np.log1p(average / f), 0.0)
    return tf * idf


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
    counts = (onehot @ X).toarray()
    weights = class_tfidf(counts)
    terms = vec.get_feature_names_out()
    rows = []
    for c, label in enumerate(cats):
        ranked = np.lexsort((terms, -weights[c]))  # ties: alphabetical
        kept = [t for t in ranked if counts[c, t] > 0][:n]
        rows += [{"cluster": label, "rank": r + 1, "term": str(terms[t]),
                  "score": float(weights[c, t]), "count": int(counts[c, t])}
                 for r, t in enumerate(kept)]
    return pd.DataFrame(rows, columns=["cluster", "rank", "term", "score", "count"])
