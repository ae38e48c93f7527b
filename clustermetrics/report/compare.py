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

    def _panels(self) -> list[tuple[str, str]]:
        """The charts, in order: each shown metric with its direction, then the coverage."""
        out = [(m, f"{METRIC_INFO[m].label} ({'↑' if METRIC_INFO[m].better == 'higher' else '↓'})")
               for m in PLOTTED if m in self.table.columns]
        if "coverage" in self.table.columns:
            out.append(("coverage", "Coverage (share clustered)"))
        return out

    def _draw(self, fig, name: str, row: int | None = None, col: int | None = None) -> None:
        """One chart's traces (a metric with its best row starred, or the coverage) into
        ``fig``, at ``row``, ``col`` of its grid (None: a figure of its own)."""
        import plotly.graph_objects as go
        x = [plotly_text(i) for i in self.table.index]
        if name == "coverage":  # drawn beside the scores, so a winner that leaves data out shows
            cov = self.table["coverage"].to_numpy(dtype=float)
            colors = ["#E45756" if c < LOW_COVERAGE else "#4C78A8" for c in cov]
            shown = {"x": x, "y": cov, "name": "coverage", "showlegend": False,
                     "hovertemplate": "%{x}: %{y:.0%} clustered<extra></extra>"}
            if self.by == "k":
                fig.add_trace(go.Scatter(mode="lines+markers", marker_color=colors,
                                         line_color="#4C78A8", **shown), row=row, col=col)
            else:
                fig.add_trace(go.Bar(marker_color=colors, **shown), row=row, col=col)
            fig.update_yaxes(range=[0, 1], tickformat=".0%", row=row, col=col)
        else:
            y = self.table[name].to_numpy()
            if self.by == "k":
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name,
                                         showlegend=False), row=row, col=col)
            else:
                fig.add_trace(go.Bar(x=x, y=y, name=name, showlegend=False), row=row, col=col)
            best = self.best[name]
            b = plotly_text(best)
            fig.add_trace(go.Scatter(x=[b], y=[self.table.loc[best, name]], mode="markers",
                                     marker=dict(symbol="star", size=14, color="red"),
                                     name=f"best {name}", showlegend=False,
                                     hovertemplate=f"best: {self.by} {b}<extra></extra>"),
                          row=row, col=col)
        fig.update_xaxes(title_text=self.by, type="category", automargin=True, row=row,
                         col=col)

    def figure(self):
        """One figure of every chart, at most three to a row (titles never overlap)."""
        from . import require_plotly
        require_plotly()
        from plotly.subplots import make_subplots

        panels = self._panels()
        cols = max(1, min(3, len(panels)))
        rows = max(1, -(-len(panels) // cols))
        fig = make_subplots(rows=rows, cols=cols, subplot_titles=[t for _, t in panels],
                            horizontal_spacing=0.08, vertical_spacing=0.22 if rows > 1 else 0.1)
        for i, (name, _) in enumerate(panels):
            self._draw(fig, name, i // cols + 1, i % cols + 1)
        fig.update_layout(title=plotly_text(self.title), height=120 + 320 * rows,
                          margin=dict(t=110, l=60, r=30, b=60))
        return fig

    def panel_figures(self) -> list:
        """One small figure per chart (what the page lays out, as many side by side as its
        width allows)."""
        from . import require_plotly
        require_plotly()
        import plotly.graph_objects as go

        out = []
        for name, title in self._panels():
            fig = go.Figure()
            self._draw(fig, name)
            fig.update_layout(title=dict(text=plotly_text(title), x=0.02, font_size=15),
                              height=330, margin=dict(t=50, l=55, r=20, b=50),
                              autosize=True)
            out.append(fig)
        return out

    def to_html(self, *, nonce: str | None = None, assets: str | None = None) -> str:
        """The page: table (coverage beside the scores), warnings and one chart per metric.
        With ``nonce`` (a server's Content-Security-Policy nonce) its scripts and styles carry
        it; with ``assets`` (the server's address of :mod:`clustermetrics.static`) the
        stylesheet, table script and plotly.js are linked from there, else inlined (a file of
        its own)."""
        from .. import static
        from .html import plotly_script, with_nonce
        charts = "".join(
            "<div class='panel'>"
            + fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"comparison-{i}",
                          config={"displaylogo": False, "responsive": True})
            + "</div>" for i, fig in enumerate(self.panel_figures()))
        return with_nonce(
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'><title>"
            f"{html.escape(self.title)}</title>{static.head(assets)}"
            f"{plotly_script(assets)}</head>"
            f"<body><main><h1>{html.escape(self.title)}</h1>"
            f"<div class='table-wrap'>{self._table_html(page=True)}</div>"
            f"{self._warnings_html()}<div class='panels' id='comparison'>{charts}</div>"
            "</main></body></html>", nonce)

    def save(self, path: str) -> str:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_html())
        return path

    def to_dict(self) -> dict:
        rows = [{self.by: _plain(idx), **{k: _plain(v) for k, v in row.items()}}
                for idx, row in self.table.astype(object).iterrows()]  # ints stay ints
        return {"by": self.by, "rows": rows, "best": {k: _plain(v) for k, v in self.best.items()},
                "warnings": self.warnings}

    def _columns(self) -> list:
        """The table's columns as shown: the coverage just before the first score."""
        cols = list(self.table.columns)
        first = next((i for i, c in enumerate(cols) if c in METRIC_INFO), None)
        if "coverage" in cols and first is not None:
            cols.remove("coverage")
            cols.insert(first, "coverage")
        return cols

    def _table_html(self, page: bool = False) -> str:
        """The table; on a page (``page``) sortable, its numbers to sort by in ``data-sort``
        and a coverage under :data:`LOW_COVERAGE` marked."""
        best = self.best
        cols = self._columns()
        numeric = {c for c in cols if pd.api.types.is_numeric_dtype(self.table[c])}
        num = " class='num'" if page else ""
        head = f"<th>{html.escape(str(self.by))}</th>" + "".join(
            f"<th{num if c in numeric else ''}>{html.escape(str(c))}</th>" for c in cols)
        body = []
        for idx, row in self.table[cols].astype(object).iterrows():
            cells = []
            for c, v in row.items():
                classes = ["num"] if page else []
                if best.get(c) == idx:
                    classes.append("best")
                if c == "coverage" and isinstance(v, float) and v < LOW_COVERAGE:
                    classes.append("low")
                attrs = f" class='{' '.join(classes)}'" if page and classes else ""
                if page and isinstance(v, (int, float, np.number)) and not np.isnan(float(v)):
                    attrs += f" data-sort='{float(v)!r}'"
                bold = ";font-weight:bold" if best.get(c) == idx else ""
                style = "" if page else f" style='text-align:right{bold}'"
                cells.append(f"<td{attrs}{style}>{_fmt(v, str(c))}</td>")
            body.append(f"<tr><td>{html.escape(str(idx))}</td>{''.join(cells)}</tr>")
        opening = "<table class='sortable' id='comparison-table'>" if page else "<table>"
        return f"{opening}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    def _warnings_html(self) -> str:
        return "".join(f"<p class='warning' style='color:#8a4b00'>{html.escape(w)}</p>"
                       for w in self.warnings)

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
