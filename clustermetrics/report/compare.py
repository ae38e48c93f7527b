"""Compare clusterings side by side, or the same method across k."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ..metrics.equality import ValueEquality
from ..metrics.result import METRIC_INFO
from .figures import plotly_text

PLOTTED = ("silhouette", "calinski_harabasz", "davies_bouldin", "adjusted_rand",
           "adjusted_mutual_info")
LOW_COVERAGE = 0.5  # a winner that clusters less than this share of the documents is flagged
COVERAGE_GAP = 0.05  # as is one that clusters this much less than another row does


class Comparison(ValueEquality):
    """One row per clustering (alias, or k for a sweep) with its scores and counts.

    ``best`` maps each metric to the row that scores best in that metric's direction; rows
    tied on the score are told apart by higher coverage, then by fewer clusters, then by their
    order in the table. The ``coverage`` column is each clustering's share of documents in a
    cluster (not noise, not unlabelled): scores computed without the noise can flatter a
    clustering that calls most of the data noise, so ``warnings`` names each winner (of the
    metrics in ``PLOTTED``, those the tables and charts show) that covers less than half of the
    documents, or clearly less than another row: one line per such row, naming its metrics.
    """

    notes: list[str] = []  # noqa: RUF012 - read only; results decoded from older data lack it

    def __init__(self, table: pd.DataFrame, *, by: str, title: str,
                 notes: list[str] | None = None):
        self.table, self.by, self.title = table, by, title
        self.notes = list(notes or [])  # rows that could not be scored, and why

    @property
    def best(self) -> dict:
        out = {}
        for m in self.table.columns:
            if m in METRIC_INFO and self.table[m].notna().any():
                out[m] = _plain(self._best_row(m))
        return out

    def _best_row(self, m: str):
        """The best row of metric ``m``; ties broken by higher coverage, then fewer clusters,
        then the first in the table."""
        col = self.table[m]
        top = col.max() if METRIC_INFO[m].better == "higher" else col.min()
        tied = self.table[col == top]
        if len(tied) > 1:
            keys, ascending = [], []
            for name, asc in (("coverage", False), ("n_clusters", True)):
                if name in tied.columns:
                    keys.append(name)
                    ascending.append(asc)
            if keys:
                tied = tied.sort_values(keys, ascending=ascending, kind="stable")
        return tied.index[0]

    @property
    def warnings(self) -> list[str]:
        """The rows that could not be scored, then one line per best row (of the shown
        metrics, ``PLOTTED``) that clusters little of the data, or less of it than another
        row, naming the metrics it wins."""
        out = list(self.notes)
        if "coverage" not in self.table.columns or not len(self.table):
            return out
        cov = self.table["coverage"]
        top = float(cov.max())
        flagged: dict = {}  # best row -> the metrics it wins, in PLOTTED's order
        best = self.best
        for m in PLOTTED:
            if m not in best:
                continue
            row = best[m]
            c = float(cov.loc[row])
            if c < LOW_COVERAGE or c < top - COVERAGE_GAP:
                flagged.setdefault(row, []).append(METRIC_INFO[m].label)
        widest = _plain(cov.idxmax())
        for row, labels in flagged.items():
            c = float(cov.loc[row])
            out.append(f"{', '.join(labels)}: best {self.by} {row} clusters only "
                       f"{c:.0%} of the documents (the rest noise or unlabelled)"
                       + (f"; {widest} clusters {top:.0%}" if top > c else "") + ".")
        return out

    def figure(self):
        from . import require_plotly
        require_plotly()
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        metrics = [m for m in PLOTTED if m in self.table.columns]
        titles = [f"{METRIC_INFO[m].label} ({'↑' if METRIC_INFO[m].better == 'higher' else '↓'})"
                  for m in metrics]
        covered = "coverage" in self.table.columns
        fig = make_subplots(rows=1, cols=len(metrics) + covered,
                            subplot_titles=[*titles, *(["Coverage (share clustered)"]
                                                       if covered else [])])
        x = [plotly_text(i) for i in self.table.index]
        best = self.best
        for i, m in enumerate(metrics, start=1):
            y = self.table[m].to_numpy()
            if self.by == "k":
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=m,
                                         showlegend=False), row=1, col=i)
            else:
                fig.add_trace(go.Bar(x=x, y=y, name=m, showlegend=False), row=1, col=i)
            b = plotly_text(best[m])
            fig.add_trace(go.Scatter(x=[b], y=[self.table.loc[best[m], m]], mode="markers",
                                     marker=dict(symbol="star", size=14, color="red"),
                                     name=f"best {m}", showlegend=False,
                                     hovertemplate=f"best: {self.by} {b}<extra></extra>"),
                          row=1, col=i)
            fig.update_xaxes(title_text=self.by, type="category", row=1, col=i)
        if covered:  # drawn beside the scores, so a winner that leaves most data out shows
            col = len(metrics) + 1
            cov = self.table["coverage"].to_numpy(dtype=float)
            colors = ["#E45756" if c < LOW_COVERAGE else "#4C78A8" for c in cov]
            shown = {"x": x, "y": cov, "name": "coverage", "showlegend": False,
                     "hovertemplate": "%{x}: %{y:.0%} clustered<extra></extra>"}
            if self.by == "k":
                fig.add_trace(go.Scatter(mode="lines+markers", marker_color=colors,
                                         line_color="#4C78A8", **shown), row=1, col=col)
            else:
                fig.add_trace(go.Bar(marker_color=colors, **shown), row=1, col=col)
            fig.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=col)
            fig.update_xaxes(title_text=self.by, type="category", row=1, col=col)
        fig.update_layout(title=plotly_text(self.title), height=380, margin=dict(t=70))
        return fig

    def to_html(self, *, nonce: str | None = None) -> str:
        """The page: table, warnings and chart, plotly.js inlined. With ``nonce`` (a server's
        Content-Security-Policy nonce) its scripts and styles carry it."""
        from plotly.offline import get_plotlyjs

        from .html import with_nonce
        fig = self.figure().to_html(full_html=False, include_plotlyjs=False, div_id="comparison")
        return with_nonce(
            f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>"
            f"{html.escape(self.title)}</title><script>{get_plotlyjs()}</script></head>"
            f"<body style='font-family:system-ui,sans-serif'><h1>{html.escape(self.title)}"
            f"</h1>{self._table_html()}{self._warnings_html()}{fig}</body></html>", nonce)

    def save(self, path: str) -> str:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_html())
        return path

    def to_dict(self) -> dict:
        rows = [{self.by: _plain(idx), **{k: _plain(v) for k, v in row.items()}}
                for idx, row in self.table.astype(object).iterrows()]  # ints stay ints
        return {"by": self.by, "rows": rows, "best": {k: _plain(v) for k, v in self.best.items()},
                "warnings": self.warnings}

    def _table_html(self) -> str:
        best = self.best
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [self.by, *self.table.columns])
        body = []
        for idx, row in self.table.astype(object).iterrows():
            cells = "".join(
                f"<td style='text-align:right{';font-weight:bold' if best.get(c) == idx else ''}'>"
                f"{_fmt(v, str(c))}</td>" for c, v in row.items())
            body.append(f"<tr><td>{html.escape(str(idx))}</td>{cells}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    def _warnings_html(self) -> str:
        return "".join(f"<p style='color:#b45309'>{html.escape(w)}</p>" for w in self.warnings)

    def _repr_html_(self) -> str:
        return self._table_html() + self._warnings_html()

    def __repr__(self) -> str:
        return f"Comparison(by={self.by!r}, rows={len(self.table)}, best={self.best})"


def _fmt(v, column: str = "") -> str:
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return "n/a"
        return f"{v:.1%}" if column == "coverage" else f"{v:.4f}"
    return html.escape(str(v))


def _plain(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if np.isnan(v) else float(v)
    return v
