"""One self-contained HTML report: metrics table, silhouette plot, projections, contingency
heatmap, cluster sizes and centroid distances. plotly.js is inlined once: no network needed."""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..metrics.equality import ValueEquality
from ..metrics.result import ClusterMetrics
from . import figures

if TYPE_CHECKING:
    from ..api.base import API, ReportData
    from ..explore import ClusterCards
    from ..stability import Stability

SECTIONS = ("metrics", "silhouette", "projection", "contingency", "sizes", "centroids")
# stability and the cluster cards only where they were computed
_NAV = ("metrics", "stability", "clusters", *SECTIONS[1:])


@dataclass(eq=False)
class Projection(ValueEquality):
    """Points drawn for the scatter plots (a random subsample of the dataset)."""

    coords_2d: np.ndarray  # (m, 2)
    coords_3d: np.ndarray  # (m, 3)
    labels: np.ndarray
    truth: np.ndarray | None
    hover: list[str]
    n_total: int
    method: str  # how the coordinates were made, for the caption


@dataclass
class Report:
    """The report's HTML, its figures and the metrics it shows. ``save(path)`` writes the
    file; in a notebook the report displays inline."""

    html: str
    figures: dict = field(default_factory=dict)
    metrics: ClusterMetrics | None = None

    def save(self, path: str) -> str:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html)
        return path

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                'style="width:100%;height:900px;border:0"></iframe>')

    def __repr__(self) -> str:
        """One line: the page itself goes to ``_repr_html_`` (notebooks) and ``save``."""
        what = ""
        if self.metrics is not None:
            src = self.metrics.source
            what = " / ".join(str(v) for v in src.values() if v)
            what = f"{what!r}, " if what else ""
        return (f"Report({what}{len(self.figures)} figures, {len(self.html) / 2**20:.1f} MB "
                "of HTML; .save(path) writes it)")


def build_report(result: ClusterMetrics, *, projection: Projection | None = None,
                 contingency: pd.DataFrame | None = None,
                 centroid_distances: pd.DataFrame | None = None, max_bars: int = 5000,
                 title: str | None = None, noise_label: Any = None,
                 stability: Stability | None = None, cards: ClusterCards | None = None,
                 nonce: str | None = None, assets: str | None = None) -> Report:
    """The report of one clustering. Noise (``noise_label``) is grey in every figure; each
    cluster has the colour of the ground-truth class it is matched with one to one, and the
    contingency heatmap puts the matches on its diagonal. With ``stability``, a section shows
    each cluster's mean Jaccard over the refits. With ``cards``, a "Clusters" section shows
    one card per cluster, worst silhouette first: size, silhouette, stability, keywords, top
    classes, the documents closest to its centroid and its misfits, and a link that shows
    only its points in the projection. With ``nonce`` (a server's Content-Security-Policy
    nonce) the page's scripts and styles carry it. With ``assets`` (a server's address of
    :mod:`clustermetrics.static`, ``"/static"``) the page links the stylesheet and the table
    script from there; without it they are inlined, so the file works on its own. Labels and
    values are escaped in the page and in the figures' text (:func:`figures.plotly_text`)."""
    from . import require_plotly
    require_plotly()
    src = result.source
    title = title or " / ".join(str(v) for v in src.values() if v) or "Cluster report"
    truth_name = src.get("ground_truth_field") or "ground truth"
    figs, notes = {}, {}
    is_noise = figures.noise_test(noise_label)
    sil = result.silhouette_detail
    assert sil is not None  # every evaluation has it
    clusters = list(result.per_cluster.index)
    if projection is not None:
        clusters += [c for c in figures.sorted_unique(projection.labels) if c not in clusters]
    classes = (list(contingency.columns) if contingency is not None
               else figures.sorted_unique(projection.truth)
               if projection is not None and projection.truth is not None else None)
    colors, class_colors = figures.match_colors(clusters, classes, contingency, is_noise)

    shown = min(sil.n_scored, max_bars)
    figs["silhouette"] = figures.silhouette_figure(sil.values, sil.labels, result.silhouette,
                                                   max_bars=max_bars, colors=colors,
                                                   is_noise=is_noise)
    notes["silhouette"] = (
        f"{sil.n_scored:,} scored samples of {sil.n_samples:,}"
        + (f", drawn as {shown:,} evenly spaced quantiles" if shown < sil.n_scored else "")
        + f"; {sil.method}.")

    if projection is not None:
        p = projection
        name = p.method.split(";")[0]
        for dims, coords in ((2, p.coords_2d), (3, p.coords_3d)):
            figs[f"projection_{dims}d"] = figures.projection_figure(
                coords, p.labels, p.truth, p.hover, dims,
                f"{name}, {dims}-D ({len(p.labels):,} of {p.n_total:,} documents)",
                cluster_colors=colors, truth_colors=class_colors, is_noise=is_noise)
        notes["projection"] = (f"A random sample of {len(p.labels):,} of {p.n_total:,} "
                               f"documents; {p.method}."
                               + (" Noise is grey; each cluster has the colour of the "
                                  "ground-truth class it is matched with."
                                  if p.truth is not None else ""))
    if contingency is not None:
        figs["contingency"] = figures.contingency_figure(
            _one_noise_row(figures.diagonal_order(contingency, is_noise), noise_label,
                           is_noise), truth_name)
    figs["sizes"] = figures.sizes_figure(_sizes(result, noise_label, is_noise), colors)
    if centroid_distances is not None:
        figs["centroids"] = figures.centroid_figure(centroid_distances, result.metric)
    if stability is not None:
        figs["stability"] = figures.stability_figure(stability.per_cluster, colors)

    body = [_header(title, result), _section("metrics", "Metrics", _metrics_table(result))]
    if stability is not None:
        body.append(_section("stability", "Stability", _fig(figs["stability"], "stability")
                             + "".join(_note(line) for line in stability.summary_lines())
                             + _stability_table(stability)))
    if cards is not None:
        body.append(_section("clusters", "Clusters", _cards(cards, projection is not None)))
    body.append(_section("silhouette", "Silhouette", _fig(figs["silhouette"], "silhouette")
                         + _note(notes["silhouette"])
                         + _per_cluster_table(result, stability)))
    if projection is not None:
        body.append(_section("projection", "Projection",
                             _fig(figs["projection_2d"], "projection-2d")
                             + _fig(figs["projection_3d"], "projection-3d")
                             + _note(notes["projection"])))
    if contingency is not None:
        body.append(_section("contingency", f"Clusters and {truth_name}",
                             _fig(figs["contingency"], "contingency")))
    body.append(_section("sizes", "Cluster sizes", _fig(figs["sizes"], "sizes")))
    if centroid_distances is not None:
        body.append(_section("centroids", "Centroids",
                             _fig(figs["centroids"], "centroids")
                             + _nearest_table(centroid_distances)))
    return Report(with_nonce(_page(title, "\n".join(body), assets), nonce), figs, result)


def report_from_data(data: ReportData, *, title: str | None = None,
                     nonce: str | None = None, assets: str | None = None) -> Report:
    """The report of what :meth:`API.report_data <clustermetrics.api.base.API.report_data>`
    computed: the alias's noise label (grey), its stability where it was computed and its
    cluster cards; ``nonce`` and ``assets`` as for :func:`build_report`."""
    return build_report(data.metrics, projection=data.projection,
                        contingency=data.contingency,
                        centroid_distances=data.centroid_distances,
                        noise_label=data.noise_label, stability=data.stability,
                        cards=data.cards, title=title, nonce=nonce, assets=assets)


def alias_report(api: API, dataset: str, vector_field: str, cluster_alias: str,
                 ground_truth_field: str | None = None, *, nonce: str | None = None,
                 assets: str | None = None, **options: Any) -> Report:
    """The report of one cluster alias, as the Client, the CLI and the web page show it.

    The one place a report is built from an alias: its data comes from ``api.report_data``
    (options as there: ``metric``, ``sample_size``, ``hover_fields``, ``max_points``,
    ``projection``, ``random_state``, ``noise_label``, ``noise``, ``exact``, ``text_field``,
    ``examples``, ``progress``), and the page from :func:`report_from_data`, with the alias's
    noise label, stability and cluster cards (``nonce``: a server page's CSP nonce;
    ``assets``: where the server serves the stylesheet, as for :func:`build_report`)."""
    from . import require_plotly
    require_plotly()
    return report_from_data(api.report_data(dataset, vector_field, cluster_alias,
                                            ground_truth_field, **options), nonce=nonce,
                            assets=assets)


# -- pieces of the page ----------------------------------------------------------------------

# a card's link shows only its cluster's points in the projections (its name is read from
# the link's data attribute: no page text ever becomes script)
_SHOW_SCRIPT = """<script>document.addEventListener('click',function(ev){
var a=ev.target.closest&&ev.target.closest('a[data-trace]');if(!a)return;
var name=a.getAttribute('data-trace');
['fig-projection-2d','fig-projection-3d'].forEach(function(id){
var d=document.getElementById(id);if(!d||!d.data)return;
var vis=d.data.map(function(t){return t.legendgroup!=='cluster'||name===''||t.name===name||
t.name===name+' (noise)'?true:'legendonly';});Plotly.restyle(d,{visible:vis});});});</script>"""


def _page(title: str, body: str, assets: str | None = None) -> str:
    from .. import static
    links = "".join(f'<a href="#{s}">{s}</a>' for s in _NAV if f'id="{s}"' in body)
    nav = f'<nav class="sections" aria-label="sections">{links}</nav>'
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title>{static.head(assets)}"
            f"{plotly_script(assets)}</head><body>"
            f"{body.replace('<!--nav-->', nav, 1)}</body></html>")


def plotly_script(base: str | None) -> str:
    """plotly.js for a page: linked from the server's ``base`` (``"/static"``: 4.8 MB once,
    then from the browser's cache, its address carrying its digest), or, with ``base`` None,
    inlined (a file of its own works offline). Not deferred: the figures' scripts that follow
    call it as the page is read."""
    if base is None:
        from plotly.offline import get_plotlyjs
        return f"<script type='text/javascript'>{get_plotlyjs()}</script>"
    return f'<script src="{html.escape(base)}/plotly.js?v={plotly_digest()}"></script>'


@functools.cache
def plotly_digest() -> str:
    """A short digest of the installed plotly.js: its served address changes with it."""
    import hashlib

    from plotly.offline import get_plotlyjs
    return hashlib.sha256(get_plotlyjs().encode()).hexdigest()[:12]


def with_nonce(page: str, nonce: str | None) -> str:
    """``page`` with a Content-Security-Policy ``nonce`` on each of its ``<script>`` and
    ``<style>`` tags, and an empty style element (``plotly.js-style-global``) that plotly.js
    fills through the CSSOM instead of making one a policy would block. Every literal tag in
    these pages is ours: text is HTML-escaped and Plotly's JSON writes ``<`` as ``\\u003c``."""
    if nonce is None:
        return page
    attr = f' nonce="{html.escape(nonce)}"'
    page = (page.replace("<script>", f"<script{attr}>")
            .replace("<script type='text/javascript'>", f"<script type='text/javascript'{attr}>")
            .replace("<style>", f"<style{attr}>")
            .replace("<script src=", f"<script{attr} src=")  # a server's linked files
            .replace('<link rel="stylesheet"', f'<link rel="stylesheet"{attr}'))
    made = "".join(f'<style id="{i}"{attr}></style>' for i in ("plotly.js-style-global",
                                                                *_bundled_style_ids()))
    return page.replace("<head>", f"<head>{made}", 1)  # before plotly.js runs


@functools.cache
def _bundled_style_ids() -> tuple[str, ...]:
    """The ids of the style elements plotly.js's bundled libraries (MapLibre's CSS) add when
    no element has that id yet: made empty beforehand, so nothing is refused (no map is
    drawn in these pages)."""
    from plotly.offline import get_plotlyjs
    return tuple(dict.fromkeys(re.findall(
        r'getElementById\("([0-9a-f]{64})"\)\)\{var \w+=document\.createElement\("style"\)',
        get_plotlyjs())))


def _header(title: str, result: ClusterMetrics) -> str:
    lines = "".join(f"<p>{html.escape(s)}</p>" for s in result.summary_lines())
    return (f"<header class='report-head'><h1>{html.escape(title)}</h1>{lines}</header>"
            "<!--nav-->")


def _section(sid: str, heading: str, content: str) -> str:
    return f'<section id="{sid}"><h2>{html.escape(heading)}</h2>{content}</section>'


def _fig(fig, div_id: str) -> str:
    """A figure that takes its box's width (narrow screens included)."""
    return ("<div class='figure'>"
            + fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{div_id}",
                          config={"displaylogo": False, "responsive": True})
            + "</div>")


def _wrap(table: str) -> str:
    """A table in a box that scrolls sideways on a narrow screen (never the page)."""
    return f"<div class='table-wrap'>{table}</div>"


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _metrics_table(result: ClusterMetrics) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(a)}</td><td class='num'>{html.escape(b)}</td>"
        f"<td>{html.escape(c)}</td><td class='text'>{html.escape(d)}</td></tr>"
        for a, b, c, d in result.table_rows())
    return _wrap("<table class='metrics'><thead><tr><th>Metric</th><th class='num'>Value</th>"
                 f"<th>Range</th><th>Meaning</th></tr></thead><tbody>{rows}</tbody></table>")


def _one_noise_row(table: pd.DataFrame, noise_label: Any, is_noise) -> pd.DataFrame:
    """The table with its noise rows (the singletons of ``noise="singletons"``) summed into
    one, named "{noise_label} (noise)", last."""
    noise = [c for c in table.index if is_noise(c)]
    if len(noise) <= 1:
        return table
    row = table.loc[noise].sum().to_frame(f"{noise_label} (noise)").T
    return pd.concat([table.drop(index=noise), row])


def _sizes(result: ClusterMetrics, noise_label: Any, is_noise) -> pd.Series:
    """Cluster sizes, with the noise as one bar named "{noise_label} (noise)" (left out of
    the scores, or scored as one cluster or as singletons)."""
    sizes = result.per_cluster["size"]
    noise = [c for c in sizes.index if is_noise(c)]
    n_noise = int(sizes.loc[noise].sum()) + int(result.counts.get("n_noise", 0))
    sizes = sizes.drop(index=noise)
    sizes = sizes.loc[figures.sorted_unique(sizes.index)] if len(sizes) else sizes
    if n_noise:
        sizes = pd.concat([sizes, pd.Series({f"{noise_label} (noise)": n_noise})])
    return sizes


def _stability_table(stability: Stability) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("cluster", "size", "mean Jaccard", "recovered",
                                             "dissolved", "verdict"))
    rows = "".join("<tr>" + "".join(f"<td class='num'>{html.escape(v)}</td>" for v in row)
                   + "</tr>" for row in stability.table_rows())
    return _wrap(f"<table class='stability sortable'><thead><tr>{head}</tr></thead>"
                 f"<tbody>{rows}</tbody></table>")


def _per_cluster_table(result: ClusterMetrics, stability: Stability | None = None) -> str:
    df = result.per_cluster
    if stability is not None:  # the mean Jaccard beside each cluster's silhouette
        df = df.assign(stability=[stability.per_cluster["jaccard"].get(c, np.nan)
                                  for c in df.index])
    cols = [c for c in ("size", "silhouette", "min", "median", "nearest", "majority_truth",
                        "purity", "stability") if c in df.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["cluster", *cols])
    rows = []
    for i, idx in enumerate(df.index):  # column by column, so ints stay ints
        cells = "".join(f"<td class='num'>{_fmt(df[c].iloc[i])}</td>" for c in cols)
        rows.append(f"<tr><td>{html.escape(str(idx))}</td>{cells}</tr>")
    return _wrap(f"<table class='per-cluster sortable'><thead><tr>{head}</tr></thead>"
                 f"<tbody>{''.join(rows)}</tbody></table>")


def _nearest_table(dist: pd.DataFrame) -> str:
    d = dist.to_numpy().astype(float).copy()
    np.fill_diagonal(d, np.inf)
    rows = "".join(
        f"<tr><td>{html.escape(str(c))}</td><td>{html.escape(str(dist.columns[j]))}</td>"
        f"<td class='num'>{d[i, j]:.4g}</td></tr>"
        for i, (c, j) in enumerate(zip(dist.index, d.argmin(axis=1), strict=True)))
    return _wrap("<table class='nearest sortable'><thead><tr><th>cluster</th>"
                 "<th>nearest cluster</th><th class='num'>centroid distance</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")


def _cards(cards: ClusterCards, linked: bool) -> str:
    """One card per cluster, in the order of the cards' ``clusters`` table (worst first)."""
    e = html.escape
    out = [_note("One card per cluster, lowest silhouette first: the documents closest to its "
                 "centroid, and its misfits (lowest silhouette, with the cluster they would "
                 "fit better).")]
    if linked:
        out.append('<p class="note"><a href="#projection" data-trace="">show every cluster '
                   "in the projection</a></p>")
    out.append('<div class="cards">')
    for i, row in enumerate(cards.tables["clusters"].to_dict(orient="records")):
        c = row["cluster"]
        facts = [f"size {int(row['size']):,}", f"silhouette {_fmt(row['silhouette'])}"]
        if not _missing(row.get("stability")):
            facts.append(f"stability {_fmt(row['stability'])}")
        if not _missing(row.get("purity")):
            facts.append(f"purity {_fmt(row['purity'])}")
        parts = [f'<div class="card" id="card-{i}"><h3>Cluster {e(str(c))}</h3>',
                 f"<p>{e(' · '.join(facts))}</p>"]
        if row.get("keywords"):
            parts.append(f"<p><b>keywords</b>: {e(str(row['keywords']))}</p>")
        if row.get("top_classes"):
            parts.append(f"<p><b>top classes</b>: {e(str(row['top_classes']))}</p>")
        parts.append(_small_table("closest to the centroid", cards.for_cluster(c, "closest"),
                                  ["_id", "distance"]))
        parts.append(_small_table("misfits", cards.for_cluster(c, "misfits"),
                                  ["_id", "silhouette", "nearest"]))
        if linked:
            parts.append(f'<p><a href="#projection" data-trace="{e(f"cluster {c}")}">its '
                         "points in the projection</a></p>")
        out.append("".join(parts) + "</div>")
    out.append("</div>")
    return "".join(out) + (_SHOW_SCRIPT if linked else "")


def _small_table(caption: str, rows: pd.DataFrame, cols: list[str]) -> str:
    if rows.empty:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in cols) + "</tr>"
                   for r in rows.to_dict(orient="records"))
    return (f"<table><caption class='note'>{html.escape(caption)}</caption><thead><tr>{head}"
            f"</tr></thead><tbody>{body}</tbody></table>")


def _missing(v) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and np.isnan(v))


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "n/a" if np.isnan(v) else f"{v:.3f}"
    return html.escape(str(v))
