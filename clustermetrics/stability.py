"""Stability of a clustering: would it come out the same on slightly different data?

:func:`stability` fits a model on all rows, then refits it on ``n_resamples`` random subsamples
(``fraction`` of the rows, drawn without replacement) and compares each refit with the full fit
on the rows they share:

- per cluster of the full fit, the Jaccard similarity ``|A ∩ B| / |A ∪ B|`` to its best match
  ``B`` among the refit's clusters, averaged over the refits in which the cluster has rows
  (Hennig 2007, "Cluster-wise assessment of cluster stability", the measure of R's
  ``fpc::clusterboot`` with subsetting). Hennig's reading: a mean below 0.5 means the cluster
  dissolves, 0.6-0.75 shows a pattern whose members are doubtful, 0.75 and above a stable
  cluster, 0.85 and above a highly stable one. ``recovered`` and ``dissolved`` are the shares of
  refits with a best Jaccard above 0.75 and below 0.5, as clusterboot counts them.
- overall, the adjusted Rand index between the full fit and each refit on the shared rows
  (noise, where the model labels it, counts as one more group there).

Noise rows belong to no cluster: a cluster whose rows a refit calls noise loses Jaccard.
The formulas come from the metrics package (its contingency table and ARI).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .clustering import FitResult, ModelSpec, fit, plain
from .errors import InvalidInputError
from .metrics import adjusted_rand_score
from .metrics.contingency import count_pairs
from .metrics.equality import ValueEquality
from .metrics.labels import Labels, encode_labels

RECOVERED = 0.75  # a refit recovers a cluster above this Jaccard (clusterboot's default)
DISSOLVED = 0.5  # and dissolves it below this one


def jaccard_matrix(a: Labels, b: Labels) -> np.ndarray:
    """``J[i, j] = |A_i ∩ B_j| / |A_i ∪ B_j|`` for the clusters ``A_i`` of ``a`` and ``B_j``
    of ``b``, two encodings of the same rows (rows with a negative code, missing or noise,
    belong to no cluster). 0 where both clusters are empty.

    >>> a = encode_labels([0, 0, 1, 1]); b = encode_labels(["x", "x", "x", "y"])
    >>> jaccard_matrix(a, b).round(3).tolist()
    [[0.667, 0.0], [0.25, 0.5]]
    """
    inter = count_pairs(a.codes, b.codes, a.k, b.k).toarray().astype(np.float64)
    union = a.counts()[:, None] + b.counts()[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _verdict(j: float) -> str:
    if math.isnan(j):
        return "n/a"
    if j >= 0.85:
        return "highly stable"
    if j >= RECOVERED:
        return "stable"
    if j >= 0.6:
        return "pattern"
    if j >= DISSOLVED:
        return "doubtful"
    return "dissolved"


@dataclass(eq=False)
class Stability(ValueEquality):
    """Per-cluster and overall stability of a model's clustering under subsampling.

    ``per_cluster``: one row per cluster of the full fit with its ``size``, the mean best
    ``jaccard`` over the refits it appears in, its standard deviation, the shares ``recovered``
    and ``dissolved``, the ``resamples`` it appears in and Hennig's ``verdict``. ``ari``: one
    adjusted Rand index per refit. ``jaccard``: clusters x refits (NaN where a cluster has no
    row in a subsample).
    """

    model: ModelSpec
    per_cluster: pd.DataFrame
    ari: np.ndarray
    jaccard: np.ndarray
    n_samples: int
    n_resamples: int
    fraction: float
    random_state: int | None
    noise_label: Any = None
    coverage: float = 1.0
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_jaccard(self) -> float:
        """Mean of the clusters' mean Jaccard (each cluster counts once)."""
        values = self.per_cluster["jaccard"].to_numpy(dtype=np.float64)
        return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan

    @property
    def ari_mean(self) -> float:
        return float(np.mean(self.ari)) if len(self.ari) else math.nan

    def summary_lines(self) -> list[str]:
        k = len(self.per_cluster)
        m = round(self.fraction * self.n_samples)
        lines = [f"{self.model.describe()}: {k} clusters on {self.n_samples:,} documents"
                 + (f", {self.coverage:.0%} of them clustered (the rest noise)"
                    if self.coverage < 1 else ""),
                 f"{self.n_resamples} refits on random subsamples of {self.fraction:.0%} "
                 f"({m:,} documents), seed {self.random_state}"]
        if len(self.ari):
            lines.append(f"ARI full fit vs refit: mean {self.ari_mean:.3f} (min "
                         f"{np.min(self.ari):.3f}, median {np.median(self.ari):.3f}, max "
                         f"{np.max(self.ari):.3f})")
        unstable = [str(c) for c, j in self.per_cluster["jaccard"].items() if j < DISSOLVED]
        if unstable:
            lines.append(f"{len(unstable)} of {k} clusters dissolve (mean Jaccard < "
                         f"{DISSOLVED}): cluster{'s' if len(unstable) > 1 else ''} "
                         + ", ".join(unstable))
        return lines

    def table_rows(self) -> list[tuple[str, ...]]:
        """(cluster, size, mean Jaccard, recovered, dissolved, verdict), formatted."""
        return [(str(c), f"{int(r['size']):,}", _fmt(r["jaccard"]), f"{r['recovered']:.0%}",
                 f"{r['dissolved']:.0%}", str(r["verdict"]))
                for c, r in self.per_cluster.iterrows()]

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (JSON); :meth:`from_dict` reads it back (without the clusters x
        refits matrix)."""
        return {"source": dict(self.source), "model": self.model.cls,
                "params": plain(self.model.params), "n_samples": int(self.n_samples),
                "n_resamples": int(self.n_resamples), "fraction": float(self.fraction),
                "random_state": self.random_state, "noise_label": plain(self.noise_label),
                "coverage": float(self.coverage), "ari": [float(v) for v in self.ari],
                "per_cluster": [{"cluster": plain(c), **{k: plain(v) for k, v in r.items()}}
                                for c, r in self.per_cluster.iterrows()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stability:
        per_cluster = pd.DataFrame.from_records(data["per_cluster"])
        if len(per_cluster):
            per_cluster = per_cluster.set_index("cluster")
        return cls(model=ModelSpec(data["model"], dict(data.get("params") or {})),
                   per_cluster=per_cluster, ari=np.asarray(data["ari"], dtype=np.float64),
                   jaccard=np.empty((len(per_cluster), 0)), n_samples=int(data["n_samples"]),
                   n_resamples=int(data["n_resamples"]), fraction=float(data["fraction"]),
                   random_state=data.get("random_state"), noise_label=data.get("noise_label"),
                   coverage=float(data.get("coverage", 1.0)),
                   source=dict(data.get("source") or {}))

    def __str__(self) -> str:
        head = ("cluster", "size", "jaccard", "recovered", "dissolved", "verdict")
        rows = [head, *self.table_rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        title = " / ".join(str(v) for v in self.source.values() if v) or "Cluster stability"
        return "\n".join([title, *self.summary_lines(), ""]
                         + ["  ".join(r[i].ljust(widths[i]) for i in range(len(head)))
                            for r in rows])

    def __repr__(self) -> str:
        return (f"Stability(model={self.model.describe()}, clusters={len(self.per_cluster)}, "
                f"mean_jaccard={_fmt(self.mean_jaccard)}, ari_mean={_fmt(self.ari_mean)})")

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{h}</th>" for h in ("cluster", "size", "mean Jaccard", "recovered",
                                                  "dissolved", "verdict"))
        body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
                       for row in self.table_rows())
        summary = "<br>".join(esc(s) for s in self.summary_lines())
        return (f"<div class='clustermetrics'><p>{summary}</p><table><thead><tr>{head}</tr>"
                f"</thead><tbody>{body}</tbody></table></div>")


def check_options(n_resamples: Any, fraction: Any, random_state: Any) -> None:
    """One line for each option out of range, before any fit."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) \
            or n_resamples < 1:
        raise InvalidInputError(f"n_resamples must be an integer >= 1 (e.g. 20); got "
                                f"{n_resamples!r}.")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.number)) \
            or not 0 < fraction < 1:
        raise InvalidInputError(f"fraction must be a number between 0 and 1 (exclusive), e.g. "
                                f"0.8; got {fraction!r}.")
    if random_state is not None and (isinstance(random_state, bool)
                                     or not isinstance(random_state, (int, np.integer))):
        raise InvalidInputError(f"random_state must be an integer or None; got "
                                f"{random_state!r}.")


def stability(model: Any, X: np.ndarray, *, n_resamples: int = 20, fraction: float = 0.8,
              random_state: int | None = 0,
              on_refit: Callable[[int], None] | None = None) -> tuple[FitResult, Stability]:
    """The full fit of ``model`` on ``X`` and its :class:`Stability` over ``n_resamples``
    refits on subsamples of ``fraction`` of the rows. ``on_refit(i)`` after each refit."""
    spec = ModelSpec.of(model)
    check_options(n_resamples, fraction, random_state)
    n = len(X)
    m = round(fraction * n)
    if m < 2:
        raise InvalidInputError(f"fraction={fraction} of {n} documents leaves {m}: a refit "
                                "needs at least 2; raise fraction.")
    full = fit(spec.build(), X, spec)
    whole = encode_labels(full.labels, noise_label=full.noise_label)
    if whole.k == 0:  # nothing to assess: every refit would "agree" on all noise (ARI 1)
        raise InvalidInputError(f"{spec.describe()} puts all {n:,} documents in noise: no "
                                "clusters to assess. Change its parameters so that it finds "
                                "clusters (see 'clustermetrics sweep').")
    rng = np.random.default_rng(random_state)
    jac = np.full((whole.k, n_resamples), np.nan)
    ari = np.empty(n_resamples)
    for r in range(n_resamples):
        rows = np.sort(rng.choice(n, size=m, replace=False))
        try:
            refit = fit(spec.build(), X[rows], spec)
        except InvalidInputError as exc:
            raise InvalidInputError(f"Refit {r + 1} of {n_resamples} (on {m:,} of {n:,} "
                                    f"documents): {exc}") from None
        mine = Labels(whole.codes[rows], whole.categories)
        theirs = encode_labels(refit.labels, noise_label=refit.noise_label)
        best = (jaccard_matrix(mine, theirs).max(axis=1) if theirs.k
                else np.zeros(whole.k))
        present = mine.counts() > 0
        jac[present, r] = best[present]
        ari[r] = adjusted_rand_score(full.labels[rows], refit.labels)
        if on_refit:
            on_refit(r + 1)
    seen = np.isfinite(jac)
    with np.errstate(invalid="ignore"):
        mean = np.array([np.mean(row[ok]) if ok.any() else np.nan
                         for row, ok in zip(jac, seen, strict=True)])
        std = np.array([np.std(row[ok]) if ok.any() else np.nan
                        for row, ok in zip(jac, seen, strict=True)])
        used = np.maximum(seen.sum(axis=1), 1)
        recovered = np.where(seen, jac > RECOVERED, False).sum(axis=1) / used
        dissolved = np.where(seen, jac < DISSOLVED, False).sum(axis=1) / used
    per_cluster = pd.DataFrame(
        {"size": whole.counts().astype(np.int64), "jaccard": mean, "jaccard_std": std,
         "recovered": recovered, "dissolved": dissolved,
         "resamples": seen.sum(axis=1).astype(np.int64),
         "verdict": [_verdict(j) for j in mean]},
        index=pd.Index([_plain(c) for c in whole.categories], name="cluster"))
    result = Stability(model=spec, per_cluster=per_cluster, ari=ari, jaccard=jac,
                       n_samples=n, n_resamples=int(n_resamples), fraction=float(fraction),
                       random_state=None if random_state is None else int(random_state),
                       noise_label=full.noise_label, coverage=full.coverage)
    return full, result


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"
