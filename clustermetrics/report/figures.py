"""Plotly figures of a ClusterMetrics result; each function takes plain arrays or DataFrames.

Colours mean the same in every figure of a report: ground-truth class ``i`` (in sorted order)
is ``PALETTE[i]``, each cluster takes the colour of the class it is matched with one to one
(:func:`match_colors`), other clusters take colours no class uses, and noise is grey.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2",
           "#FF9DA6", "#9D755D", "#BCBD22", "#1F77B4", "#AEC7E8", "#FF7F0E", "#2CA02C",
           "#98DF8A", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#17BECF"]  # no grey
NOISE_COLOR = "#B0B0B0"  # grey means noise, and nothing else


def plotly_text(value: Any) -> str:
    """``value`` as text Plotly shows as it is. Plotly reads a subset of HTML in every text it
    draws (titles, tick labels, legends, hover: ``<a href>``, ``<b>``, ``<br>``) and fills
    ``%{...}`` in hover templates, so a cluster label or a field's value holding
    ``<a href=...>`` would become a link: ``&``, ``<``, ``>`` and ``%`` go as entities, which
    Plotly turns back into the characters, as text."""
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("%", "&#37;"))


def noise_test(noise_label: Any) -> Callable[[Any], bool]:
    """Whether a label is noise: the noise label itself (``-1`` and ``"-1"`` alike), or one of
    the singleton clusters ``"-1#row"`` that ``noise="singletons"`` makes of it."""
    if noise_label is None:
        return lambda value: False
    text, tag = str(noise_label), f"{noise_label}#"
    return lambda value: str(value) == text or (isinstance(value, str) and value.startswith(tag))


def match_colors(clusters: Sequence, classes: Sequence | None = None,
                 table: pd.DataFrame | None = None,
                 is_noise: Callable[[Any], bool] = lambda v: False) -> tuple[dict, dict]:
    """(cluster -> colour, class -> colour). Class ``i`` of ``classes`` gets ``PALETTE[i]``;
    with ``table`` (clusters x classes counts) clusters and classes are matched one to one to
    hold the most documents on the matches (Hungarian algorithm), and a matched cluster takes
    its class's colour. Other clusters take the colours after the classes'; noise is grey."""
    classes = list(classes or [])
    class_colors = {c: color_of(i) for i, c in enumerate(classes)}
    real = [c for c in clusters if not is_noise(c)]
    out = {c: NOISE_COLOR for c in clusters if is_noise(c)}
    for cluster, klass in matches(table, real, is_noise).items():
        out[cluster] = class_colors.get(klass, color_of(len(classes)))
    spare = len(classes)
    for c in real:
        if c not in out:
            out[c] = color_of(spare)
            spare += 1
    return out, class_colors


def matches(table: pd.DataFrame | None, clusters: Sequence | None = None,
            is_noise: Callable[[Any], bool] = lambda v: False) -> dict:
    """cluster -> class, one to one, maximising the documents on the matched cells (pairs with
    no document in common are not matches)."""
    if table is None or not table.size:
        return {}
    from scipy.optimize import linear_sum_assignment
    keep = [c for c in table.index if not is_noise(c) and (clusters is None or c in clusters)]
    if not keep:
        return {}
    counts = table.loc[keep].to_numpy(dtype=np.float64)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return {keep[r]: table.columns[c] for r, c in zip(rows, cols, strict=True)
            if counts[r, c] > 0}


def diagonal_order(table: pd.DataFrame,
                   is_noise: Callable[[Any], bool] = lambda v: False) -> pd.DataFrame:
    """The clusters x classes table with its rows ordered so that each cluster matched with a
    class sits on that class's column (the matches on the diagonal), then the unmatched
    clusters, then noise."""
    matched = matches(table, None, is_noise)
    column = {c: j for j, c in enumerate(table.columns)}
    first = sorted(matched, key=lambda c: column[matched[c]])
    rest = [c for c in table.index if c not in matched and not is_noise(c)]
    noise = [c for c in table.index if is_noise(c)]
    return table.loc[first + rest + noise]


def _go():
    import plotly.graph_objects as go
    return go


def color_of(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def silhouette_figure(values: np.ndarray, labels: np.ndarray, score: float,
                      max_bars: int = 5000, title: str = "", colors: dict | None = None,
                      is_noise: Callable[[Any], bool] = lambda v: False):
    """Samples sorted by silhouette within each cluster, one horizontal bar per sample (or per
    evenly spaced quantile when there are more than ``max_bars``), cluster means marked with a
    line and the overall mean with a dashed line. Noise that was scored (``noise="cluster"``
    or ``"singletons"``) is one grey group, drawn last."""
    go = _go()
    fig = go.Figure()
    labels = np.asarray(labels, dtype=object)
    clusters = sorted_unique(labels)
    noisy = np.array([is_noise(v) for v in labels], dtype=bool)
    groups: list[tuple[str, np.ndarray, str]] = [
        (plotly_text(c), labels == c, (colors or {}).get(c, color_of(i)))
        for i, c in enumerate(c for c in clusters if not is_noise(c))]
    if noisy.any():
        groups.append(("noise", noisy, NOISE_COLOR))
    keep = min(1.0, max_bars / max(len(values), 1))
    y0, gap = 0, max(2, int(0.02 * min(len(values), max_bars)))
    for name, members, color in groups:
        s = np.sort(values[members])
        mean = float(s.mean())
        if keep < 1.0:  # quantiles keep each cluster's shape
            m = max(1, round(len(s) * keep))
            s = s[np.linspace(0, len(s) - 1, m).round().astype(int)]
        y = np.arange(y0, y0 + len(s))
        label = "noise" if name == "noise" else f"cluster {name}"
        fig.add_trace(go.Bar(x=s, y=y, orientation="h", name=label, width=1.0,
                             marker=dict(color=color, line=dict(width=0)),
                             hovertemplate=f"{label}<br>s=%{{x:.3f}}<extra></extra>"))
        fig.add_shape(type="line", x0=mean, x1=mean, y0=y0, y1=y0 + len(s),
                      line=dict(color="black", width=2))
        fig.add_annotation(x=-1.02, y=y0 + len(s) / 2, text=name, showarrow=False,
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
                      title: str, cluster_colors: dict | None = None,
                      truth_colors: dict | None = None,
                      is_noise: Callable[[Any], bool] = lambda v: False):
    """Side by side: the projection coloured by cluster and by ground truth (if any). With
    ``match_colors``'s colours a cluster and the class it matches share a colour; noise is
    grey and drawn first, under the clusters."""
    go = _go()
    from plotly.subplots import make_subplots

    panels = [("cluster", by_cluster, cluster_colors or {})] + (
        [("ground truth", by_truth, truth_colors or {})] if by_truth is not None else [])
    kind = "scene" if dims == 3 else "xy"
    fig = make_subplots(rows=1, cols=len(panels), specs=[[{"type": kind}] * len(panels)],
                        subplot_titles=[f"coloured by {name}" for name, _, _ in panels])
    texts = np.asarray(hover, dtype=object)
    for col, (name, values, colors) in enumerate(panels, start=1):
        values = np.asarray(values, dtype=object)
        noise = name == "cluster"  # only clusters have noise
        shown = sorted_unique(values)
        if noise:
            shown = [v for v in shown if is_noise(v)] + [v for v in shown if not is_noise(v)]
        for i, v in enumerate(shown):
            sel = values == v
            grey = noise and is_noise(v)
            label = f"{name} {plotly_text(v)}" + (" (noise)" if grey else "")
            color = NOISE_COLOR if grey else colors.get(v, color_of(i))
            common = dict(mode="markers", name=label, legendgroup=name,
                          text=texts[sel], hovertemplate="%{text}<extra>" + label
                          + "</extra>", marker=dict(size=3 if dims == 3 else 5,
                                                    color=color, opacity=0.5 if grey else 0.8))
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
    truth_name = plotly_text(truth_name)
    fig = go.Figure(go.Heatmap(
        z=z, x=[plotly_text(c) for c in table.columns], y=[plotly_text(r) for r in table.index],
        customdata=share, colorscale="Blues", text=z, texttemplate="%{text}",
        hovertemplate="cluster %{y}<br>" + truth_name + " %{x}<br>%{z} documents "
                      "(%{customdata:.0%} of the cluster)<extra></extra>"))
    fig.update_layout(title=f"Clusters x {truth_name} (total {int(z.sum()):,})",
                      xaxis=dict(title=truth_name, type="category"),
                      yaxis=dict(title="cluster", type="category", autorange="reversed"),
                      height=max(300, 28 * len(table) + 120), margin=dict(t=50))
    return fig


def sizes_figure(sizes: pd.Series, colors: dict | None = None):
    """One bar per cluster in its colour; a bar named "(noise)" is grey."""
    go = _go()
    colors = colors or {}
    fig = go.Figure(go.Bar(x=[plotly_text(c) for c in sizes.index], y=sizes.to_numpy(),
                           marker_color=[NOISE_COLOR if str(c).endswith("(noise)")
                                         else colors.get(c, color_of(i))
                                         for i, c in enumerate(sizes.index)],
                           hovertemplate="cluster %{x}: %{y:,} documents<extra></extra>"))
    fig.update_layout(title="Cluster sizes", xaxis=dict(title="cluster", type="category"),
                      yaxis=dict(title="documents"), height=360, margin=dict(t=50))
    return fig


def stability_figure(per_cluster: pd.DataFrame, colors: dict | None = None):
    """Mean Jaccard of each cluster to its best match in the refits, with Hennig's thresholds
    (0.5: dissolved below; 0.75: stable above)."""
    go = _go()
    colors = colors or {}
    names = [plotly_text(c) for c in per_cluster.index]
    fig = go.Figure(go.Bar(
        x=names, y=per_cluster["jaccard"].to_numpy(dtype=float),
        error_y={"type": "data", "array": per_cluster["jaccard_std"].to_numpy(dtype=float)}
        if "jaccard_std" in per_cluster.columns else None,
        marker_color=[colors.get(c, color_of(i)) for i, c in enumerate(per_cluster.index)],
        customdata=per_cluster[["recovered", "dissolved"]].to_numpy(dtype=float),
        hovertemplate="cluster %{x}: mean Jaccard %{y:.3f}<br>recovered in "
                      "%{customdata[0]:.0%}, dissolved in %{customdata[1]:.0%} of the refits"
                      "<extra></extra>"))
    for y, text in ((0.5, "dissolved below"), (0.75, "stable above")):
        fig.add_hline(y=y, line={"color": "#888", "dash": "dot"}, annotation_text=text,
                      annotation_position="top left")
    fig.update_layout(title="Stability: mean Jaccard to the best match in each refit",
                      xaxis={"title": "cluster", "type": "category"},
                      yaxis={"title": "Jaccard", "range": [0, 1.05]}, height=360,
                      margin={"t": 50})
    return fig


def centroid_figure(distances: pd.DataFrame, metric: str):
    go = _go()
    names = [plotly_text(c) for c in distances.index]
    fig = go.Figure(go.Heatmap(z=distances.to_numpy(), x=names, y=names, colorscale="Viridis",
                               hovertemplate="%{y} - %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=f"Distances between centroids ({metric})",
                      xaxis=dict(type="category"),
                      yaxis=dict(type="category", autorange="reversed"),
                      height=max(320, 26 * len(names) + 120), margin=dict(t=50))
    return fig


def sorted_unique(values) -> list:
    """Distinct values, sorted; numbers before strings when both occur (clusters and the
    ``"-1#row"`` singletons of noise)."""
    uniq = pd.unique(pd.Series(values, dtype=object))
    try:
        return sorted(uniq)
    except TypeError:
        try:
            return sorted(uniq, key=lambda v: (isinstance(v, str), v))
        except TypeError:
            return list(uniq)
