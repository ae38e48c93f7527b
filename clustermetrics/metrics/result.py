"""ClusterMetrics: the result of an evaluation and its views (text, dict, JSON, DataFrame, HTML)."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .contingency import ContingencyStats
from .equality import ValueEquality, same_value
from .silhouettes import SilhouetteResult


@dataclass(frozen=True)
class MetricInfo:
    label: str
    range: str
    better: str  # "higher" or "lower"
    description: str


METRIC_INFO: dict[str, MetricInfo] = {
    "silhouette": MetricInfo(
        "Silhouette", "-1..1", "higher",
        "How much closer each point is to its own cluster than to the nearest other one."),
    "calinski_harabasz": MetricInfo(
        "Calinski-Harabasz", "0..inf", "higher",
        "Between-cluster dispersion over within-cluster dispersion (variance ratio)."),
    "davies_bouldin": MetricInfo(
        "Davies-Bouldin", "0..inf", "lower",
        "Average similarity of each cluster with its most similar one; 0 is best."),
    "adjusted_rand": MetricInfo(
        "Adjusted Rand Index", "-0.5..1", "higher",
        "Agreement of sample pairs with the ground truth, adjusted for chance; ~0 is random."),
    "rand": MetricInfo(
        "Rand Index", "0..1", "higher",
        "Fraction of sample pairs on which clustering and ground truth agree."),
    "adjusted_mutual_info": MetricInfo(
        "Adjusted Mutual Information", "-1..1", "higher",
        "Information shared with the ground truth, adjusted for chance; ~0 is random."),
    "normalized_mutual_info": MetricInfo(
        "Normalized Mutual Information", "0..1", "higher",
        "Information shared with the ground truth over the mean of the two entropies."),
    "homogeneity": MetricInfo(
        "Homogeneity", "0..1", "higher",
        "Each cluster contains members of a single ground-truth class."),
    "completeness": MetricInfo(
        "Completeness", "0..1", "higher",
        "All members of a ground-truth class are in the same cluster."),
    "v_measure": MetricInfo(
        "V-measure", "0..1", "higher", "Harmonic mean of homogeneity and completeness."),
    "fowlkes_mallows": MetricInfo(
        "Fowlkes-Mallows", "0..1", "higher",
        "Geometric mean of pairwise precision and recall against the ground truth."),
    "purity": MetricInfo(
        "Purity", "0..1", "higher",
        "Fraction of samples in their cluster's majority ground-truth class."),
}


@dataclass(eq=False)
class ClusterMetrics(ValueEquality):
    """Scores of one clustering, with the counts and tables behind them.

    ``scores`` maps metric names (see ``METRIC_INFO``) to floats; attribute access works too
    (``result.silhouette``). ``counts`` says how many samples each family used and why others
    were left out. ``per_cluster`` is a DataFrame with one row per cluster.

    Results compare equal by value (``==``; NaN equals NaN): the scores, counts, metric,
    interval, method, per-cluster table and source. The per-sample detail, the contingency
    table and the centroids, which :meth:`to_dict` leaves out, count where both results hold
    them, so ``ClusterMetrics.from_dict(r.to_dict()) == r``.
    """

    scores: dict[str, float]
    counts: dict[str, int]
    metric: str
    silhouette_ci: tuple[float, float] | None
    silhouette_method: str
    per_cluster: pd.DataFrame
    silhouette_detail: SilhouetteResult | None = field(default=None, repr=False)
    contingency: ContingencyStats | None = field(default=None, repr=False)
    centroids: pd.DataFrame | None = field(default=None, repr=False)  # cluster -> mean vector
    source: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str):
        scores = self.__dict__.get("scores", {})
        if name in scores:
            return scores[name]
        raise AttributeError(name)

    def __getitem__(self, name: str) -> float:
        return self.scores[name]

    _DETAIL = ("silhouette_detail", "contingency", "centroids")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        state, theirs = self._value_state(), other._value_state()
        for name in self._DETAIL:  # left out of to_dict: compared where both hold them
            if state[name] is None or theirs[name] is None:
                state.pop(name), theirs.pop(name)
        return same_value(state, theirs)

    # -- views --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain Python values only: safe for JSON, REST responses and logs."""
        return {
            "source": dict(self.source),
            "metric": self.metric,
            "scores": {k: _clean(v) for k, v in self.scores.items()},
            "silhouette_ci": list(self.silhouette_ci) if self.silhouette_ci else None,
            "silhouette_method": self.silhouette_method,
            "counts": {k: int(v) for k, v in self.counts.items()},
            "descriptions": {k: METRIC_INFO[k].description for k in self.scores},
            "per_cluster": _records(self.per_cluster),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterMetrics:
        """The result :meth:`to_dict` describes (its scores, counts and tables; the
        per-sample detail is not part of the dict). ``from_dict(r.to_dict()).to_dict()``
        equals ``r.to_dict()``."""
        records = data.get("per_cluster") or []
        per_cluster = pd.DataFrame.from_records(records)
        if "cluster" in per_cluster.columns:
            per_cluster = per_cluster.set_index("cluster")
        ci = data.get("silhouette_ci")
        scores = {k: (math.nan if v is None else float(v))
                  for k, v in data.get("scores", {}).items()}
        return cls(scores=scores, counts={k: int(v) for k, v in data.get("counts", {}).items()},
                   metric=data["metric"], silhouette_ci=tuple(ci) if ci else None,
                   silhouette_method=data.get("silhouette_method", ""),
                   per_cluster=per_cluster, source=dict(data.get("source", {})))

    @classmethod
    def from_json(cls, text: str) -> ClusterMetrics:
        return cls.from_dict(json.loads(text))

    def to_json(self, **kwargs) -> str:
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), **kwargs)

    def to_frame(self) -> pd.DataFrame:
        """One row per metric: value, range, direction and description."""
        rows = []
        for name, value in self.scores.items():
            info = METRIC_INFO[name]
            ci = self.silhouette_ci if name == "silhouette" else None
            rows.append({"metric": name, "label": info.label, "value": value,
                         "ci_low": ci[0] if ci else np.nan, "ci_high": ci[1] if ci else np.nan,
                         "range": info.range, "better": info.better,
                         "description": info.description})
        return pd.DataFrame(rows).set_index("metric")

    def table_rows(self) -> list[tuple[str, str, str, str]]:
        """(label, value, range and direction, description) per metric, values formatted."""
        out = []
        for name, value in self.scores.items():
            info = METRIC_INFO[name]
            text = _fmt(value)
            if name == "silhouette" and self.silhouette_ci:
                lo, hi = self.silhouette_ci
                text += f" (95% CI {_fmt(lo)}..{_fmt(hi)})"
            arrow = "↑" if info.better == "higher" else "↓"
            out.append((info.label, text, f"{info.range} {arrow}", info.description))
        return out

    def summary_lines(self) -> list[str]:
        c = self.counts
        lines = [f"{c['n_used']:,} of {c['n_documents']:,} samples in {c['n_clusters']} clusters"
                 f" ({self.metric} distance; silhouette {self.silhouette_method})"]
        left = [f"{c[k]:,} {what}" for k, what in (
            ("n_without_vector", "without a vector"),  # set by engines that read documents
            ("n_missing_label", "without a cluster label"), ("n_noise", "noise")) if c.get(k)]
        if left:
            lines.append("left out: " + ", ".join(left))
        if "n_external" in c:
            lines.append(f"ground truth: {c['n_external']:,} samples, {c['n_classes']} classes"
                         + (f"; {c['n_missing_truth']:,} without ground truth"
                            if c.get("n_missing_truth") else ""))
        return lines

    def __str__(self) -> str:
        rows = self.table_rows()
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        title = " / ".join(str(v) for v in self.source.values() if v) or "Cluster metrics"
        lines = [title, *self.summary_lines(), ""]
        for r in rows:
            lines.append("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
        return "\n".join(lines)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={_fmt(v)}" for k, v in self.scores.items())
        return f"ClusterMetrics({inner})"

    def _repr_html_(self) -> str:
        esc = html.escape
        body = "".join(
            f"<tr><td>{esc(a)}</td><td style='text-align:right'>{esc(b)}</td><td>{esc(c)}</td>"
            f"<td>{esc(d)}</td></tr>" for a, b, c, d in self.table_rows())
        summary = "<br>".join(esc(s) for s in self.summary_lines())
        return (f"<div class='clustermetrics'><p>{summary}</p><table><thead><tr><th>Metric</th>"
                f"<th>Value</th><th>Range</th><th>Meaning</th></tr></thead><tbody>{body}"
                f"</tbody></table></div>")


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4f}" if abs(v) < 1000 else f"{v:,.1f}"


def _clean(v):
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _records(df: pd.DataFrame) -> list[dict]:
    """One dict per row; each column keeps its own type (counts stay ints)."""
    columns = {name: df[name].to_numpy() for name in df.columns}
    return [{"cluster": _clean(idx), **{name: _clean(col[i]) for name, col in columns.items()}}
            for i, idx in enumerate(df.index)]
