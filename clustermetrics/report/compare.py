"""Compare clusterings side by side, or the same method across k."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ..metrics.result import METRIC_INFO

PLOTTED = ("silhouette", "calinski_harabasz", "davies_bouldin", "adjusted_rand",
           "adjusted_mutual_info")


class Comparison:
    """One row per clustering (alias, or k for a sweep) with its scores and counts.

    ``best`` maps each metric to the row that scores best in that metric's direction.
    """

    def __init__(self, table: pd.DataFrame, *, by: str, title: str):
        self.table, self.by, self.title = table, by, title

    @property
    def best(self) -> dict:
        out = {}
        for m in self.table.columns:
            if m in METRIC_INFO and self.table[m].notna().any():
                col = self.table[m]
                out[m] = _plain(col.idxmax() if METRIC_INFO[m].better == "higher" else col.idxmin())
        return out

    def figure(self):
        from . import require_plotly
        require_plotly()
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        metrics = [m for m in PLOTTED if m in self.table.columns]
        fig = make_subplots(rows=1, cols=len(metrics),
                            subplot_titles=[f"{METRIC_INFO[m].label} "
                                            f"({'↑' if METRIC_INFO[m].better == 'higher' else '↓'})"
                                            for m in metrics])
        x = [str(i) for i in self.table.index]
        best = self.best
        for i, m in enumerate(metrics, start=1):
            y = self.table[m].to_numpy()
            if self.by == "k":
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=m,
                                         showlegend=False), row=1, col=i)
            else:
                fig.add_trace(go.Bar(x=x, y=y, name=m, showlegend=False), row=1, col=i)
            b = str(best[m])
            fig.add_trace(go.Scatter(x=[b], y=[self.table.loc[best[m], m]], mode="markers",
                                     marker=dict(symbol="star", size=14, color="red"),
                                     name=f"best {m}", showlegend=False,
                                     hovertemplate=f"best: {self.by} {b}<extra></extra>"),
                          row=1, col=i)
            fig.update_xaxes(title_text=self.by, type="category", row=1, col=i)
        fig.update_layout(title=self.title, height=380, margin=dict(t=70))
        return fig

    def to_html(self) -> str:
        from plotly.offline import get_plotlyjs
        fig = self.figure().to_html(full_html=False, include_plotlyjs=False, div_id="comparison")
        return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>"
                f"{html.escape(self.title)}</title><script>{get_plotlyjs()}</script></head>"
                f"<body style='font-family:system-ui,sans-serif'><h1>{html.escape(self.title)}"
                f"</h1>{self._table_html()}{fig}</body></html>")

    def save(self, path: str) -> str:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_html())
        return path

    def to_dict(self) -> dict:
        rows = [{self.by: _plain(idx), **{k: _plain(v) for k, v in row.items()}}
                for idx, row in self.table.iterrows()]
        return {"by": self.by, "rows": rows, "best": {k: _plain(v) for k, v in self.best.items()}}

    def _table_html(self) -> str:
        best = self.best
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [self.by, *self.table.columns])
        body = []
        for idx, row in self.table.iterrows():
            cells = "".join(
                f"<td style='text-align:right{';font-weight:bold' if best.get(c) == idx else ''}'>"
                f"{_fmt(v)}</td>" for c, v in row.items())
            body.append(f"<tr><td>{html.escape(str(idx))}</td>{cells}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    def _repr_html_(self) -> str:
        return self._table_html()

    def __repr__(self) -> str:
        return f"Comparison(by={self.by!r}, rows={len(self.table)}, best={self.best})"


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "n/a" if np.isnan(v) else f"{v:.4f}"
    return html.escape(str(v))


def _plain(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if np.isnan(v) else float(v)
    return v
