"""The results of looking inside clusters: long tables (one row per cluster and item) that
travel through the codec and print as readable text."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

MAX_TEXT = 48  # characters of a text cell shown in a printed table


@dataclass(eq=False)
class InsideResult:
    """Tables about the clusters of one alias.

    Attributes
    ----------
    tables : dict of str to DataFrame
        Named long tables, each with a ``cluster`` column (except where the table is about
        something else, such as the ground-truth classes); the first is :attr:`table`.
    info : dict
        How the result was made (metric, n, method, noise label and policy, ...).
    notes : list of str
        What a reader should know (a sample instead of every document, a cluster left out).
    source : dict
        dataset_id, vector_field, cluster_alias.
    """

    tables: dict[str, pd.DataFrame]
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    title: ClassVar[str] = "Clusters"

    @property
    def table(self) -> pd.DataFrame:
        """The first (main) table."""
        return next(iter(self.tables.values()))

    def for_cluster(self, cluster: Any, name: str | None = None) -> pd.DataFrame:
        """The rows of one cluster in the table ``name`` (default: the main table)."""
        table = self.table if name is None else self.tables[name]
        return table[[_same(c, cluster) for c in table["cluster"]]]

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values only (JSON-safe): source, info, notes and each table's rows."""
        return {"kind": type(self).__name__, "source": dict(self.source),
                "info": {k: _clean(v) for k, v in self.info.items()},
                "notes": list(self.notes),
                "tables": {name: [{k: _clean(v) for k, v in row.items()}
                                  for row in t.to_dict(orient="records")]
                           for name, t in self.tables.items()}}

    def __str__(self) -> str:
        where = "/".join(str(self.source[k]) for k in ("dataset_id", "vector_field",
                                                          "cluster_alias") if k in self.source)
        shown = ", ".join(f"{k}={v}" for k, v in self.info.items()
                          if not isinstance(v, (dict, list)) and v is not None)
        lines = [f"{self.title}: {where}" + (f" ({shown})" if shown else "")]
        for name, table in self.tables.items():
            lines += ["", f"{name}:", _text(table)]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [f"<h4>{html.escape(self.title)}</h4>"]
        for name, table in self.tables.items():
            parts.append(f"<p><b>{html.escape(name)}</b></p>")
            parts.append(table.to_html(index=False, escape=True, max_rows=60))
        parts += [f"<p>{html.escape(n)}</p>" for n in self.notes]
        return "\n".join(parts)


@dataclass(eq=False)
class Representatives(InsideResult):
    """Per cluster, the documents closest to (or furthest from) its centroid: table
    ``closest`` or ``furthest`` with columns cluster, rank, _id, distance and the fields
    asked for."""

    title: ClassVar[str] = "Representatives"


@dataclass(eq=False)
class Misfits(InsideResult):
    """The documents with the lowest silhouette: tables ``overall`` and ``per_cluster``
    (cluster, rank, _id, silhouette, a, b, nearest: the cluster it would fit better) and
    ``clusters`` (each cluster's size and mean silhouette)."""

    title: ClassVar[str] = "Misfits"


@dataclass(eq=False)
class FieldSummary(InsideResult):
    """Fields summarised per cluster: ``numeric`` (cluster, field, documents, count, mean,
    median, min, max) and ``values`` (cluster, field, rank, value, count, share, lift)."""

    title: ClassVar[str] = "Field summary"


@dataclass(eq=False)
class Keywords(InsideResult):
    """Each cluster's distinctive terms by class-based TF-IDF: ``keywords`` (cluster, rank,
    term, score, count)."""

    title: ClassVar[str] = "Keywords"


@dataclass(eq=False)
class TruthBreakdown(InsideResult):
    """Clusters against the ground truth: ``clusters`` (size, purity, top classes, classes
    mixed), ``classes`` (each class's clusters), ``merge`` (pairs of clusters holding one
    class: candidates to merge) and ``split`` (clusters mixing the most classes)."""

    title: ClassVar[str] = "Against the truth"


@dataclass(eq=False)
class ClusterCards(InsideResult):
    """What a report's cluster cards show: ``clusters`` (cluster, size, silhouette,
    stability, keywords, top_classes, purity; worst silhouette first), ``closest`` and
    ``misfits`` (a few documents per cluster)."""

    title: ClassVar[str] = "Clusters"


RESULT_TYPES = (InsideResult, Representatives, Misfits, FieldSummary, Keywords, TruthBreakdown,
                ClusterCards)


def _same(a: Any, b: Any) -> bool:
    """Labels equal, an integer matching its text either way (as the noise label does)."""
    if a == b:
        return True
    return str(a) == str(b)


def _clean(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    return v


def _text(table: pd.DataFrame) -> str:
    if table.empty:
        return "(none)"
    shown = table.copy()
    for col in shown.columns:
        if shown[col].dtype == object:
            shown[col] = [_cut(v) for v in shown[col]]
    return shown.to_string(index=False, float_format=lambda x: f"{x:.4g}")


def _cut(v: Any) -> Any:
    if isinstance(v, str):
        v = " ".join(v.split())
        return v if len(v) <= MAX_TEXT else v[:MAX_TEXT - 1] + "…"
    return v
