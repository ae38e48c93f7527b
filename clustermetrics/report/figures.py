"""Plotly figures of a ClusterMetrics result; each function takes plain arrays or DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2",
           "#FF9DA6", "#9D755D", "#BAB0AC", "#1F77B4", "#AEC7E8", "#FF7F0E", "#2CA02C",
           "#98DF8A", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#17BECF"]


def _go():
    import plotly.graph_objects as go
    return go


def color_of(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def silhouette_figure(values: np.ndarray, labels: np.ndarray, score: float,
                      max_bars: int = 5000, title: str = ""):
    """Samples sorted by silhouette within each cluster, one horizontal bar per sample (or per
    evenly spaced quantile when there are more than ``max_bars``), cluster means marked with a
    line and the overall mean with a dashed line."""
    go = _go()
    fig = go.Figure()
    clusters = _sorted_unique(labels)
    keep = min(1.0, max_bars / max(len(values), 1))
    y0, gap = 0, max(2, int(0.02 * min(len(values), max_bars)))
    for i, c in enumerate(clusters):
        s = np.sort(values[labels == c])
        mean = float(s.mean())
        if keep < 1.0:  # quantiles keep each cluster's shape
            m = max(1, int(round(len(s) * keep)))
            s = s[np.linspace(0, len(s) - 1, m).round().astype(int)]
        y = np.arange(y0, y0 + len(s))
        fig.add_trace(go.Bar(x=s, y=y, orientation="h", name=f"cluster {c}", width=1.0,
                             marker=dict(color=color_of(i), line=dict(width=0)),
                             hovertemplate=f"cluster {c}<br>s=%{{x:.3f}}<extra></extra>"))
        fig.add_shape(type="line", x0=mean, x1=mean, y0=y0, y1=y0 + len(s),
                      line=dict(color="black", width=2))
        fig.add_annotation(x=-1.02, y=y0 + len(s) / 2, text=str(c), showarrow=False,
                           xanchor="right")
        y0 += len(s) + gap
    fig.add_vline(x=score, line=dict(color="red", dash="dash"),
                  annotation_text=f"mean {score:.3f}", annotation_position="top")
    fig.update_layout(title=title or "Silhouette per sample", bargap=0, showlegend=False,
                      xaxis=dict(title="silhouette coefficient", range=[-1.1, 1]),
                      yaxis=dict(showticklabels=False, title="samples, by cluster"),
                      height=500, margin=dict(l=60, r=20, t=50, b=40))
    return fig


def projection_figure(coords: np.ndarray, by_cluster, by_truth, hover: list[str], dims: int,
                      title: str):
    """Side by side: the projection coloured by cluster and by ground truth (if any)."""
    go = _go()
    from plotly.subplots import make_subplots

    panels = [("cluster", by_cluster)] + ([("ground truth", by_truth)]
                                          if by_truth is not None else [])
    kind = "scene" if dims == 3 else "xy"
    fig = make_subplots(rows=1, cols=len(panels), specs=[[{"type": kind}] * len(panels)],
                        subplot_titles=[f"coloured by {name}" for name, _ in panels])
    hover = np.asarray(hover, dtype=object)
    for col, (name, values) in enumerate(panels, start=1):
        values = np.asarray(values, dtype=object)
        for i, v in enumerate(_sorted_unique(values)):
            sel = values == v
            common = dict(mode="markers", name=f"{name} {v}", legendgroup=name,
                          text=hover[sel], hovertemplate="%{text}<extra>" + f"{name} {v}"
                          + "</extra>", marker=dict(size=3 if dims == 3 else 5,
                                                    color=color_of(i), opacity=0.8))
            if dims == 3:
                trace = go.Scatter3d(x=coords[sel, 0], y=coords[sel, 1], z=coords[sel, 2],
                                     **common)
            else:
                trace = go.Scattergl(x=coords[sel, 0], y=coords[sel, 1], **common)
            fig.add_trace(trace, row=1, col=col)
    fig.update_layout(title=title, height=520 if dims == 3 else 460,
                      margin=dict(l=30, r=20, t=60, b=30), legend=dict(itemsizing="constant"))
    return fig


def contingency_figure(table: pd.DataFrame, truth_name: str):
    """Heatmap of clusters (rows) x ground-truth classes (columns), counts in the cells and the
    row share (purity of that class in the cluster) on hover."""
    go = _go()
    z = table.to_numpy()
    share = z / np.maximum(z.sum(axis=1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in table.columns], y=[str(r) for r in table.index],
        customdata=share, colorscale="Blues", text=z, texttemplate="%{text}",
        hovertemplate="cluster %{y}<br>" + truth_name + " %{x}<br>%{z} documents "
                      "(%{customdata:.0%} of the cluster)<extra></extra>"))
    fig.update_layout(title=f"Clusters x {truth_name} (total {int(z.sum()):,})",
                      xaxis=dict(title=truth_name, type="category"),
                      yaxis=dict(title="cluster", type="category", autorange="reversed"),
                      height=max(300, 28 * len(table) + 120), margin=dict(t=50))
    return fig


def sizes_figure(sizes: pd.Series):
    go = _go()
    fig = go.Figure(go.Bar(x=[str(c) for c in sizes.index], y=sizes.to_numpy(),
                           marker_color=[color_of(i) for i in range(len(sizes))],
                           hovertemplate="cluster %{x}: %{y:,} documents<extra></extra>"))
    fig.update_layout(title="Cluster sizes", xaxis=dict(title="cluster", type="category"),
                      yaxis=dict(title="documents"), height=360, margin=dict(t=50))
    return fig


def centroid_figure(distances: pd.DataFrame, metric: str):
    go = _go()
    names = [str(c) for c in distances.index]
    fig = go.Figure(go.Heatmap(z=distances.to_numpy(), x=names, y=names, colorscale="Viridis",
                               hovertemplate="%{y} - %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=f"Distances between centroids ({metric})",
                      xaxis=dict(type="category"),
                      yaxis=dict(type="category", autorange="reversed"),
                      height=max(320, 26 * len(names) + 120), margin=dict(t=50))
    return fig


def _sorted_unique(values) -> list:
    uniq = pd.unique(pd.Series(values, dtype=object))
    try:
        return sorted(uniq)
    except TypeError:
        return list(uniq)
