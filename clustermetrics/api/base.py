"""The API surface, described once: every operation on datasets, documents, aliases, clusterings
and their metrics.

:class:`~clustermetrics.api.local.LocalAPI` implements it over the embedded store and the
engines; a remote implementation will implement it over HTTP. ``Client``, ``Dataset`` and
``client.vector_tools.cluster`` are sugar over an ``API`` object, so the same calls work either
way. Documents travel as Arrow (pieces in, tables out); results as the project's result types,
which :mod:`clustermetrics.api.codec` turns into plain data and back.
"""

from __future__ import annotations

import abc
import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameterError
from ..metrics.equality import ValueEquality

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from ..clustering import ModelSpec
    from ..explore import (
        ClusterCards,
        FieldSummary,
        Keywords,
        Misfits,
        Representatives,
        TruthBreakdown,
    )
    from ..metrics.result import ClusterMetrics
    from ..report.compare import Comparison
    from ..report.html import Projection
    from ..stability import Stability

# (stage, done in this call, total; None while a stage cannot tell its length)
Progress = Callable[[str, int, "int | None"], None]


@dataclass(eq=False)
class ReportData(ValueEquality):
    """What an HTML report shows, computed where the data lives; the caller draws the page."""

    metrics: ClusterMetrics
    projection: Projection
    contingency: pd.DataFrame | None
    centroid_distances: pd.DataFrame
    noise_label: Any = None  # the alias's (or the call's) noise label: drawn in grey
    stability: Stability | None = None  # per-cluster stability, when computed for the alias
    cards: ClusterCards | None = None  # the clusters, one card each (the "Clusters" section)


NAMES = ("dataset", "vector_field", "cluster_alias", "alias", "ground_truth_field", "field")


def names_checked(method):
    """The method, first checking that its name arguments (dataset, field, alias) are strings:
    a number or None given by mistake is told as such, the same by every implementation,
    instead of failing deep inside one (or as another name over HTTP)."""
    signature = inspect.signature(method)
    names = [p for p in NAMES if p in signature.parameters]
    if not names:
        return method

    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            given = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:  # the call itself says what is wrong with its arguments
            return method(*args, **kwargs)
        for name in names:
            value = given.get(name)
            optional = signature.parameters[name].default is None
            if not isinstance(value, str) and not (value is None and optional):
                raise InvalidParameterError(f"{name} must be a name (a str); got {value!r} of "
                                            f"type {type(value).__name__}.")
        return method(*args, **kwargs)
    return call


class API(abc.ABC):
    """One method per operation. Implementations raise only the project's errors
    (:mod:`clustermetrics.errors`), never a storage engine's or a transport's own. Every
    public method of an implementation checks its name arguments (:func:`names_checked`)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for attr, value in list(vars(cls).items()):
            if inspect.isfunction(value) and not attr.startswith("_"):
                setattr(cls, attr, names_checked(value))

    # -- datasets -------------------------------------------------------------------------
    @abc.abstractmethod
    def list_datasets(self) -> list[str]:
        """Names of the datasets, sorted."""

    @abc.abstractmethod
    def count(self, dataset: str) -> int:
        """Number of documents of ``dataset``."""

    @abc.abstractmethod
    def schema(self, dataset: str) -> dict[str, str]:
        """Field -> type of ``dataset`` (vector fields as ``FLOAT[d]``; no label columns)."""

    @abc.abstractmethod
    def describe_dataset(self, dataset: str) -> dict[str, Any]:
        """Fields (type, present count, vector dimension), document count and aliases."""

    @abc.abstractmethod
    def delete_dataset(self, dataset: str) -> None:
        """Drop ``dataset`` with its aliases."""

    # -- documents ------------------------------------------------------------------------
    @abc.abstractmethod
    def write_documents(self, dataset: str, pieces: Any, *, mode: str = "insert",
                        vector_fields: Sequence[str] = (),
                        progress: Progress | None = None) -> dict[str, Any]:
        """Write documents given as :class:`~clustermetrics.documents.Pieces` (Arrow
        tables read on the caller's side), all or nothing; ``mode`` "insert" replaces whole
        documents, "upsert" merges fields. Returns ``{"inserted": n, "updated": m,
        "labels_dropped": {vector_field: {alias: n}}, "widened": {field: "A -> B"}}``: labels
        are kept where a document's vector is unchanged and dropped (and counted) where it
        changed; a field whose values no longer fit widens, or the batch is refused."""

    @abc.abstractmethod
    def set_vector_field(self, dataset: str, field: str) -> dict[str, Any]:
        """Make a stored field of lists of numbers a vector field (``FLOAT[d]``), all or
        nothing; returns ``{"dataset", "field", "from", "to", "documents"}``."""

    @abc.abstractmethod
    def get_documents(self, dataset: str, ids: Sequence[str],
                      fields: Sequence[str] | None = None) -> pa.Table:
        """The documents with these ids, in the order asked (unknown ids skipped); columns are
        the flat, dotted field names."""

    @abc.abstractmethod
    def delete_documents(self, dataset: str, ids: Sequence[str]) -> int:
        """Delete documents by id; returns how many existed."""

    @abc.abstractmethod
    def export_documents(self, dataset: str) -> pa.RecordBatchReader:
        """Every document (label columns included) as a stream of Arrow batches."""

    # -- aliases --------------------------------------------------------------------------
    @abc.abstractmethod
    def list_aliases(self, dataset: str, vector_field: str | None = None, *,
                     metrics: bool = False) -> list[dict]:
        """vector_field, alias, clusters, labelled, noise and method of each alias:
        ``clusters`` leaves out the alias's recorded noise label, ``noise`` counts the
        documents under it (None for an alias without one). With ``metrics=True``, each
        alias's headline metrics kept with it (``"metrics"``: the values the metrics call
        with the default options gives, with the ``version`` of the documents they were
        computed on, or ``error``): computed once, then served from the store until the
        alias's documents change."""

    @abc.abstractmethod
    def describe_alias(self, dataset: str, vector_field: str, alias: str) -> dict[str, Any]:
        """How an alias was made (method, params, ``created_at``), its cluster sizes, and
        ``changed``: how many of its documents changed vector or were deleted since."""

    @abc.abstractmethod
    def delete_alias(self, dataset: str, vector_field: str, alias: str) -> None:
        """Delete one alias's labels."""

    @abc.abstractmethod
    def set_cluster_labels(self, dataset: str, vector_field: str, alias: str,
                           ids: Sequence[Any] | np.ndarray,
                           labels: Sequence[Any] | np.ndarray, *,
                           noise_label: Any = None) -> int:
        """Store labels for the given ids under ``alias``, all or nothing; rows labelled.
        ``noise_label`` is recorded with the alias: metrics, reports, compare and sweep then
        treat that label as noise without being told."""

    # -- clustering -----------------------------------------------------------------------
    @abc.abstractmethod
    def kmeans(self, dataset: str, vector_field: str, k: int, alias: str | None = None, *,
               random_state: int = 0, minibatch: bool | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
        """k-means on the vectors, stored as ``alias`` (default ``kmeans_{k}``): a shortcut
        over the path of :meth:`fit`."""

    @abc.abstractmethod
    def fit(self, dataset: str, vector_field: str, model: ModelSpec, alias: str | None = None,
            *, precision: str | None = None,
            progress: Progress | None = None) -> dict[str, Any]:
        """Fit the model (rebuilt from its spec) on the vectors and store its labels as
        ``alias`` (default: :meth:`ModelSpec.default_alias`), with the model's class, its
        parameters, its noise label, its centroids where it has them and the precision it was
        fitted in (``precision``: "auto", the default, fits Gaussian mixtures in float64 and
        other models in the vectors' own; "float32" or "float64" asks for one). Returns a summary
        (alias, method, sizes, noise, coverage). ``progress`` hears of "reading" (rows), then of
        the fit (total None until it ends)."""

    @abc.abstractmethod
    def stability(self, dataset: str, vector_field: str, model: ModelSpec,
                  alias: str | None = None, *, n_resamples: int = 20, fraction: float = 0.8,
                  random_state: int | None = 0,
                  progress: Progress | None = None) -> Stability:
        """Fit the model on all vectors (stored as ``alias``, as :meth:`fit` does, with the
        stability recorded for reports), refit it on ``n_resamples`` random subsamples of
        ``fraction`` of them, and measure per cluster the mean Jaccard to its best match and
        overall the ARI of each refit. ``progress("refits", 1, n_resamples)`` after each."""

    # -- evaluation -----------------------------------------------------------------------
    @abc.abstractmethod
    def metrics(self, dataset: str, vector_field: str, cluster_alias: str,
                ground_truth_field: str | None = None, *, progress: Progress | None = None,
                **options: Any) -> ClusterMetrics:
        """The metrics of one stored clustering (options as :func:`clustermetrics.evaluate`)."""

    @abc.abstractmethod
    def distribution(self, dataset: str, vector_field: str, cluster_alias: str,
                     ground_truth_field: str | None = None) -> pd.DataFrame:
        """Cluster sizes, or clusters x ground-truth counts; with ground truth,
        ``attrs["no_ground_truth"]`` counts the labelled documents left out for having no
        ground-truth value."""

    @abc.abstractmethod
    def centroids(self, dataset: str, vector_field: str, cluster_alias: str, *,
                  noise_label: Any = None) -> pd.DataFrame:
        """Each cluster's mean vector (one row per cluster); documents labelled
        ``noise_label`` (default: the alias's recorded noise label) are left out, as the
        metrics leave them out."""

    @abc.abstractmethod
    def report_data(self, dataset: str, vector_field: str, cluster_alias: str,
                    ground_truth_field: str | None = None, *,
                    hover_fields: Sequence[str] = (), max_points: int = 3000,
                    projection: str = "pca", random_state: int = 0,
                    text_field: str | None = None, examples: int = 3,
                    progress: Progress | None = None, **options: Any) -> ReportData:
        """Everything a report draws, computed where the data lives; the cluster cards show
        ``examples`` documents closest to each centroid and as many misfits, and keywords of
        ``text_field`` when given."""

    @abc.abstractmethod
    def compare(self, dataset: str, vector_field: str, aliases: Iterable[str],
                ground_truth_field: str | None = None, *, progress: Progress | None = None,
                **options: Any) -> Comparison:
        """Metrics of several aliases in one table; ``progress("compare", 1, total)`` after
        each alias."""

    @abc.abstractmethod
    def sweep(self, dataset: str, vector_field: str, ks: Iterable[int],
              ground_truth_field: str | None = None, *, random_state: int = 0,
              overwrite: bool = False, progress: Progress | None = None,
              **options: Any) -> Comparison:
        """k-means for each k (stored as ``kmeans_{k}``) and the metrics of each;
        ``progress("sweep", 1, total)`` after each k. Every k, name and option is checked
        before the first k-means; an existing ``kmeans_{k}`` that a sweep did not make is
        replaced only with ``overwrite``."""

    @abc.abstractmethod
    def sweep_grid(self, dataset: str, vector_field: str, model: ModelSpec,
                   param_grid: dict[str, list] | list[dict[str, list]],
                   ground_truth_field: str | None = None, *, overwrite: bool = False,
                   progress: Progress | None = None, **options: Any) -> Comparison:
        """The model fitted with each combination of ``param_grid`` (as scikit-learn's
        ``ParameterGrid``), each stored under its default alias, and the metrics of each with
        its coverage; ``progress(alias, 1, total)`` after each. Every combination, name and
        option is checked before the first fit; an existing alias that a sweep did not make
        (nor the same model with the same parameters) is replaced only with ``overwrite``."""

    # -- looking inside clusters ----------------------------------------------------------
    @abc.abstractmethod
    def closest(self, dataset: str, vector_field: str, alias: str, *, n: int = 5,
                fields: Sequence[str] | None = None, metric: str = "euclidean",
                noise_label: Any = None, noise: str | None = None) -> Representatives:
        """Per cluster, the ``n`` documents closest to its centroid (the mean; for cosine the
        mean direction), with ``fields``: table ``closest``. Two passes, a running top-n."""

    @abc.abstractmethod
    def furthest(self, dataset: str, vector_field: str, alias: str, *, n: int = 5,
                 fields: Sequence[str] | None = None, metric: str = "euclidean",
                 noise_label: Any = None, noise: str | None = None) -> Representatives:
        """Per cluster, the ``n`` documents furthest from its centroid: table ``furthest``."""

    @abc.abstractmethod
    def misfits(self, dataset: str, vector_field: str, alias: str, *, n: int = 20,
                cluster: Any = None, metric: str = "euclidean", sample_size: int | None = None,
                random_state: int | None = 0, fields: Sequence[str] | None = None,
                noise_label: Any = None, noise: str | None = None) -> Misfits:
        """The documents with the lowest silhouette, overall and per cluster (only
        ``cluster``'s when given), with a, b and the nearest other cluster."""

    @abc.abstractmethod
    def aggregate(self, dataset: str, vector_field: str, alias: str,
                  fields: Sequence[str] = (), *, top: int = 5, noise_label: Any = None,
                  noise: str | None = None) -> FieldSummary:
        """Fields per cluster: numbers as count, mean, median, min, max; text, booleans and
        dates as their ``top`` values with share and lift. Grouped by the store."""

    @abc.abstractmethod
    def keywords(self, dataset: str, vector_field: str, alias: str, text_field: str, *,
                 n: int = 10, stop_words: str | list[str] | None = "english",
                 ngram_range: tuple[int, int] = (1, 1), min_df: int | float = 1,
                 noise_label: Any = None, noise: str | None = None) -> Keywords:
        """Each cluster's ``n`` most distinctive terms of ``text_field`` (class-based
        TF-IDF)."""

    @abc.abstractmethod
    def truth_breakdown(self, dataset: str, vector_field: str, alias: str,
                        ground_truth_field: str, *, top: int = 3, noise_label: Any = None,
                        noise: str | None = None) -> TruthBreakdown:
        """Clusters against the ground truth: top classes and purity per cluster, the
        clusters of each class, candidates to merge and to split."""

    @abc.abstractmethod
    def merge_clusters(self, dataset: str, vector_field: str, alias: str,
                       groups: Sequence[Sequence[Any]], new_alias: str | None = None
                       ) -> dict[str, Any]:
        """A new alias (default ``{alias}_merged``) in which each group of clusters is one,
        named by the group's first; the parent and the edit are recorded with it."""

    @abc.abstractmethod
    def relabel(self, dataset: str, vector_field: str, alias: str, mapping: dict[Any, Any],
                new_alias: str | None = None) -> dict[str, Any]:
        """A new alias (default ``{alias}_relabelled``) with labels renamed by ``mapping``
        ``{old: new}``."""

    @abc.abstractmethod
    def subcluster(self, dataset: str, vector_field: str, alias: str, cluster: Any,
                   model: ModelSpec, new_alias: str | None = None, *,
                   progress: Progress | None = None) -> dict[str, Any]:
        """A new alias (default ``{alias}_split{cluster}``) in which ``cluster`` is split by
        ``model`` fitted on its documents."""

    # -- lifetime -------------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release what the implementation holds (a store file, a connection)."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the data lives: a store path or a server URL."""
