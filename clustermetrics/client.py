"""The facade: Client, Dataset and ``client.vector_tools.cluster``.

Thin sugar over an :class:`~clustermetrics.api.base.API` object: the CLI, notebooks and scripts
make the same calls whether the data lives in the embedded store (:class:`LocalAPI`) or behind
a server. Names follow the original SDK::

    client = Client()                       # the default store, or Client(path=...)
    ds = client.Dataset("products")
    ds.insert_documents(docs)
    client.vector_tools.cluster.kmeans("products", "image_vector_", k=10)   # alias kmeans_10
    client.vector_tools.cluster.metrics(dataset_id="products", vector_field="image_vector_",
                                        cluster_alias="kmeans_10", ground_truth_field="category")

Files named in a call (``insert_documents(path)``, ``export_parquet(path)``,
``report(path=...)``) are read and written here, on the caller's side; only data crosses the
API.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .api.base import API, Progress
from .clustering import ModelSpec, parameter_grid
from .documents import Pieces
from .errors import InvalidInputError
from .files import check_folder, check_output_path, write_documents, write_parquet_files
from .metrics.clusterstats import centroid_distances
from .metrics.result import ClusterMetrics
from .metrics.silhouettes import resolve_metric
from .names import nest

PATH_ENV = "CLUSTERMETRICS_PATH"
URL_ENV, KEY_ENV = "CLUSTERMETRICS_URL", "CLUSTERMETRICS_API_KEY"


def default_path() -> str:
    """``$CLUSTERMETRICS_PATH``, else ``$XDG_DATA_HOME/clustermetrics/store.duckdb`` (by default
    ``~/.local/share/clustermetrics/store.duckdb``)."""
    if os.environ.get(PATH_ENV):
        return os.environ[PATH_ENV]
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(base, "clustermetrics", "store.duckdb")


class Client:
    """Entry point: datasets and the tools that evaluate their clusters.

    ``Client()`` opens the embedded store (``path``, else ``$CLUSTERMETRICS_PATH``, else the
    default file); ``Client(url="http://host:8000", api_key="...")`` talks to a server (without
    a ``path``, ``$CLUSTERMETRICS_URL`` and ``$CLUSTERMETRICS_API_KEY`` do the same) and answers
    the same calls; ``Client(api=...)`` uses any implementation of the API surface.

    The embedded store's file is held only while a call runs, so other processes (the CLI, a
    second notebook) can use it between calls; a call that finds it held by another process
    waits up to ``lock_timeout`` seconds (default ``$CLUSTERMETRICS_LOCK_TIMEOUT``, else 10),
    saying so on stderr, then raises :class:`~clustermetrics.errors.StoreLockedError`.
    """

    def __init__(self, path: str | None = None, *, api: API | None = None,
                 url: str | None = None, api_key: str | None = None,
                 lock_timeout: float | None = None):
        if api is None:
            if url is None and path is None:
                url = os.environ.get(URL_ENV) or None
            if url is not None:
                if path is not None:
                    raise InvalidInputError("Give a store path or a server url, not both.")
                from .api.http import HTTPAPI
                api = HTTPAPI(url, api_key if api_key is not None
                              else os.environ.get(KEY_ENV) or None)
            else:
                from .api.local import LocalAPI
                api = LocalAPI(path or default_path(), lock_timeout=lock_timeout)
        self.api = api
        self.vector_tools = VectorTools(self)

    @property
    def path(self) -> str:
        """Where the data lives (the store file of an embedded client)."""
        return self.api.location

    def Dataset(self, dataset_id: str) -> Dataset:  # noqa: N802 - the original SDK's name
        return Dataset(self, dataset_id)

    def list_datasets(self) -> list[str]:
        return self.api.list_datasets()

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "url" if self.path.startswith(("http://", "https://")) else "path"
        return f"Client({where}={self.path!r})"


class Dataset:
    """One dataset; the original SDK's ``client.Dataset(name)``."""

    def __init__(self, client: Client, dataset_id: str):
        self.client, self.dataset_id, self.api = client, dataset_id, client.api

    def __repr__(self) -> str:
        return f"Dataset({self.dataset_id!r})"

    def insert_documents(self, documents, *, ids=None, vector_field: str | None = None,
                         vector_fields=(), progress: Progress | None = None) -> dict:
        """Insert documents (list of dicts, DataFrame, Parquet/CSV/JSONL/JSON path, Arrow
        table, or a NumPy array with ``ids`` and ``vector_field``). A document whose ``_id``
        exists replaces it whole, keeping its cluster labels where its vector is unchanged.
        All or nothing. Returns ``{"inserted": n, "updated": m, "labels_dropped":
        {vector_field: {alias: n}}, "widened": {field: "BIGINT -> DOUBLE"}}``.
        ``progress("insert", rows, total)`` is called as the rows are written."""
        return self._write(documents, "insert", ids, vector_field, vector_fields, progress)

    def upsert_documents(self, documents, *, ids=None, vector_field: str | None = None,
                         vector_fields=(), progress: Progress | None = None) -> dict:
        """Like insert, but fields of existing documents that the batch does not give (or gives
        as null) keep their stored values. A changed vector drops the document's labels for
        that vector field's aliases (counted in ``labels_dropped``)."""
        return self._write(documents, "upsert", ids, vector_field, vector_fields, progress)

    def _write(self, documents, mode, ids, vector_field, vector_fields, progress):
        pieces = Pieces(documents, ids=ids, vector_field=vector_field,
                        vector_fields=vector_fields)  # files are read here, by the caller
        return self.api.write_documents(self.dataset_id, pieces, mode=mode,
                                        vector_fields=tuple(vector_fields), progress=progress)

    def set_vector_field(self, field: str) -> dict:
        """Make ``field`` a vector field after the fact: its lists of numbers (stored as
        ``DOUBLE[]`` when imported without ``vector_fields``) become ``FLOAT[d]``, or nothing
        changes and the documents whose lists do not fit are named."""
        return self.api.set_vector_field(self.dataset_id, field)

    def get_documents(self, ids, fields=None) -> list[dict]:
        table = self.api.get_documents(self.dataset_id, [str(i) for i in ids],
                                       None if fields is None else list(fields))
        return [nest(row) for row in table.to_pylist()]

    def delete_documents(self, ids) -> int:
        return self.api.delete_documents(self.dataset_id, [str(i) for i in ids])

    @property
    def schema(self) -> dict[str, str]:
        """Field -> type, with vector fields as ``FLOAT[d]`` (label columns left out)."""
        return self.api.schema(self.dataset_id)

    def describe(self) -> dict:
        """Fields, types, vector dimensions, counts and cluster aliases."""
        return self.api.describe_dataset(self.dataset_id)

    def export(self, path: str) -> str:
        """Write every document (with the aliases' label columns) to ``path`` as Parquet, CSV
        or JSON lines, by its extension (``.parquet``, ``.csv``, ``.jsonl``); another
        extension, or a folder that does not exist, is refused before anything is read."""
        return write_documents(self.api.export_documents(self.dataset_id), path)

    def export_parquet(self, path: str, *, rows_per_file: int | None = None) -> str:
        """Write every document (with the aliases' label columns,
        ``_cluster_.{vector_field}.{alias}``) to a Parquet file; with ``rows_per_file``, to a
        new folder ``path`` of files of at most that many rows each (``part-00000.parquet``,
        ...), which :func:`~clustermetrics.evaluate_parquet` reads in parallel. Returns
        ``path``."""
        if rows_per_file is not None:
            check_folder(path, rows_per_file)  # before the store is read
            write_parquet_files(self.api.export_documents(self.dataset_id), path, rows_per_file)
            return path
        if not path.lower().endswith((".parquet", ".pq")):
            raise InvalidInputError(f"export_parquet writes Parquet; give a path ending in "
                                    f".parquet (got {path!r}), or use export(path) to write "
                                    "CSV or JSON lines by the extension.")
        return self.export(path)

    def delete(self) -> None:
        self.api.delete_dataset(self.dataset_id)

    def __len__(self) -> int:
        return self.api.count(self.dataset_id)
    # the cluster tools, for this dataset
    def kmeans(self, vector_field: str, k: int, alias: str | None = None, **kw) -> dict:
        return self.client.vector_tools.cluster.kmeans(self.dataset_id, vector_field, k, alias,
                                                       **kw)

    def fit(self, vector_field: str, model, alias: str | None = None, **kw) -> dict:
        return self.client.vector_tools.cluster.fit(self.dataset_id, vector_field, model, alias,
                                                    **kw)

    def stability(self, vector_field: str, model, **kw):
        return self.client.vector_tools.cluster.stability(self.dataset_id, vector_field, model,
                                                          **kw)

    def metrics(self, vector_field: str, cluster_alias: str, ground_truth_field=None,
                **options) -> ClusterMetrics:
        return self.client.vector_tools.cluster.metrics(self.dataset_id, vector_field,
                                                        cluster_alias, ground_truth_field,
                                                        **options)

    def set_cluster_labels(self, vector_field: str, alias: str, labels_by_id, *,
                           noise_label=None) -> int:
        return self.client.vector_tools.cluster.set_cluster_labels(
            self.dataset_id, vector_field, alias, labels_by_id, noise_label=noise_label)

    def list_aliases(self, vector_field: str | None = None) -> list[dict]:
        return self.client.vector_tools.cluster.list_aliases(self.dataset_id, vector_field)

    def distribution(self, vector_field: str, cluster_alias: str, ground_truth_field=None):
        return self.client.vector_tools.cluster.distribution(self.dataset_id, vector_field,
                                                             cluster_alias, ground_truth_field)

    def centroid_distances(self, vector_field: str, cluster_alias: str, **kw):
        return self.client.vector_tools.cluster.centroid_distances(self.dataset_id, vector_field,
                                                                   cluster_alias, **kw)

    def report(self, vector_field: str, cluster_alias: str, ground_truth_field=None,
               path: str | None = None, **kw):
        return self.client.vector_tools.cluster.report(self.dataset_id, vector_field,
                                                       cluster_alias, ground_truth_field, path,
                                                       **kw)

    def compare(self, vector_field: str, aliases, ground_truth_field=None, **kw):
        return self.client.vector_tools.cluster.compare(self.dataset_id, vector_field, aliases,
                                                        ground_truth_field, **kw)

    def sweep(self, vector_field: str, k=None, ground_truth_field=None, **kw):
        return self.client.vector_tools.cluster.sweep(self.dataset_id, vector_field, k,
                                                      ground_truth_field, **kw)


class VectorTools:
    def __init__(self, client: Client):
        self.cluster = ClusterTools(client)


class ClusterTools:
    """``client.vector_tools.cluster``: make cluster aliases and evaluate them."""

    def __init__(self, client: Client):
        self.client, self.api = client, client.api

    # -- aliases --------------------------------------------------------------------------
    def kmeans(self, dataset_id: str, vector_field: str, k: int, alias: str | None = None, *,
               random_state: int = 0, minibatch: bool | None = None,
               progress: Progress | None = None) -> dict:
        """Run k-means on the vectors and store the labels as ``alias`` (default
        ``kmeans_{k}``) with the centroids. Returns a summary (alias, sizes, inertia).
        ``progress`` hears of stage "reading" (rows), then "k-means" (total None until the
        fit ends: scikit-learn reports no iterations)."""
        return self.api.kmeans(dataset_id, vector_field, k, alias, random_state=random_state,
                               minibatch=minibatch, progress=progress)

    def fit(self, dataset_id: str, vector_field: str, model, alias: str | None = None, *,
            progress: Progress | None = None) -> dict:
        """Fit any scikit-learn-style clusterer on the vectors and store its labels as
        ``alias``.

        ``model`` is an estimator (``HDBSCAN(min_cluster_size=15)``, ``GaussianMixture(5)``,
        or a third-party one with ``get_params`` and ``fit_predict``, or ``fit`` then
        ``labels_``), its class, a :class:`~clustermetrics.clustering.ModelSpec` or an
        algorithm name ("hdbscan"). A fresh copy is fitted: the estimator passed stays as it
        was. The default alias is the method and its key parameters (``hdbscan_mcs15``). The
        alias records the model's class, its parameters, its noise label (-1 for DBSCAN,
        HDBSCAN and OPTICS, or any model whose labels include -1), which metrics, reports,
        compare and sweep then apply, and its centroids where it has them. Returns a summary:
        alias, method, sizes by cluster, noise, coverage, and figures such as inertia.
        """
        return self.api.fit(dataset_id, vector_field, ModelSpec.of(model), alias,
                            progress=progress)

    def stability(self, dataset_id: str, vector_field: str, model, *, alias: str | None = None,
                  n_resamples: int = 20, fraction: float = 0.8, random_state: int | None = 0,
                  progress: Progress | None = None):
        """How stable the model's clustering is: refit on ``n_resamples`` random subsamples of
        ``fraction`` of the documents, and compare each refit with the fit on all of them.

        Returns a :class:`~clustermetrics.stability.Stability`: per cluster of the full fit,
        the mean Jaccard similarity to its best match in each refit (Hennig 2007; below 0.5 the
        cluster dissolves, 0.75 and above it is stable) with the shares of refits that recover
        and dissolve it, and the adjusted Rand index of each refit on the shared documents. The
        full fit is stored as ``alias`` (as :meth:`fit` does) with its stability, which the
        alias's report then shows. ``progress`` hears of "reading", the fit, then "refits".
        """
        return self.api.stability(dataset_id, vector_field, ModelSpec.of(model), alias,
                                  n_resamples=n_resamples, fraction=fraction,
                                  random_state=random_state, progress=progress)

    def set_cluster_labels(self, dataset_id: str, vector_field: str, alias: str,
                           labels_by_id, *, noise_label=None) -> int:
        """Store your own clustering: ``labels_by_id`` maps ``_id`` to label (dict, Series or
        DataFrame with ``_id`` and ``label``). All or nothing; returns rows labelled.
        ``noise_label`` (e.g. -1) is recorded with the alias and applied by metrics, reports,
        compare and sweep."""
        ids: list | np.ndarray
        labels: list | np.ndarray
        if isinstance(labels_by_id, pd.DataFrame):
            ids, labels = labels_by_id["_id"].to_numpy(), labels_by_id["label"].to_numpy()
        elif isinstance(labels_by_id, pd.Series):
            ids, labels = labels_by_id.index.to_numpy(), labels_by_id.to_numpy()
        elif isinstance(labels_by_id, Mapping):
            ids, labels = list(labels_by_id.keys()), list(labels_by_id.values())
        else:
            raise InvalidInputError("labels_by_id must be a dict {_id: label}, a pandas Series "
                                    "indexed by _id, or a DataFrame with _id and label columns.")
        return self.api.set_cluster_labels(dataset_id, vector_field, alias, ids, labels,
                                           noise_label=noise_label)

    def list_aliases(self, dataset_id: str, vector_field: str | None = None) -> list[dict]:
        return self.api.list_aliases(dataset_id, vector_field)

    def describe_alias(self, dataset_id: str, vector_field: str, alias: str) -> dict:
        return self.api.describe_alias(dataset_id, vector_field, alias)

    def delete_alias(self, dataset_id: str, vector_field: str, alias: str) -> None:
        self.api.delete_alias(dataset_id, vector_field, alias)

    # -- evaluation -------------------------------------------------------------------------
    def metrics(self, dataset_id: str, vector_field: str, cluster_alias: str,
                ground_truth_field: str | None = None, *, metric: str = "euclidean",
                sample_size: int | None = None, random_state=None, noise_label=None,
                noise: str | None = None, working_memory: float | None = None,
                progress: Progress | None = None) -> ClusterMetrics:
        """Silhouette, Calinski-Harabasz and Davies-Bouldin of a stored clustering and, with
        ``ground_truth_field``, ARI, AMI, NMI and the other external metrics: the same numbers
        as :func:`clustermetrics.evaluate` on the same arrays. Documents without a label for
        the alias (or without ground truth) are left out and counted."""
        return self.api.metrics(dataset_id, vector_field, cluster_alias, ground_truth_field,
                                metric=metric, sample_size=sample_size,
                                random_state=random_state, noise_label=noise_label,
                                noise=noise, working_memory=working_memory, progress=progress)

    def distribution(self, dataset_id: str, vector_field: str, cluster_alias: str,
                     ground_truth_field: str | None = None) -> pd.DataFrame:
        """Cluster sizes (column ``size``) or, with ground truth, the joint counts: one row per
        cluster, one column per ground-truth class. Documents with a label but no ground-truth
        value are not in the joint counts; ``df.attrs["no_ground_truth"]`` says how many."""
        return self.api.distribution(dataset_id, vector_field, cluster_alias,
                                     ground_truth_field)

    def centroid_distances(self, dataset_id: str, vector_field: str, cluster_alias: str, *,
                           metric: str = "euclidean", noise_label=None) -> pd.DataFrame:
        """Distances between cluster centroids (k x k). Centroids are the clusters' mean
        vectors, computed in one streaming pass; documents labelled ``noise_label`` (default:
        the alias's recorded noise label) are left out, as the metrics leave them out."""
        metric = resolve_metric(metric)
        centroids = self.api.centroids(dataset_id, vector_field, cluster_alias,
                                       noise_label=noise_label)
        names = list(centroids.index)
        return pd.DataFrame(centroid_distances(centroids.to_numpy(), metric), index=names,
                            columns=names)

    def centroids(self, dataset_id: str, vector_field: str, cluster_alias: str, *,
                  noise_label=None):
        """(cluster names, k x d array of mean vectors)."""
        centroids = self.api.centroids(dataset_id, vector_field, cluster_alias,
                                       noise_label=noise_label)
        return np.asarray(centroids.index, dtype=object), centroids.to_numpy()

    # -- seeing and choosing ---------------------------------------------------------------
    def report(self, dataset_id: str, vector_field: str, cluster_alias: str,
               ground_truth_field: str | None = None, path: str | None = None, *,
               metric: str = "euclidean", sample_size: int | None = None,
               hover_fields=(), max_points: int = 3000, projection: str = "pca",
               random_state: int = 0, noise_label=None, noise: str | None = None,
               progress: Progress | None = None):
        """A self-contained HTML report (metrics, silhouette plot, projections coloured by
        cluster and by ground truth, contingency heatmap, sizes, centroid distances, and the
        clusters' stability where :meth:`stability` computed it for this alias).

        Noise (the alias's noise label, unless ``noise_label`` says otherwise) is grey; each
        cluster has the colour of the ground-truth class it is matched with one to one, and
        the heatmap puts those matches on its diagonal.

        Writes it to ``path`` when given; returns the :class:`~clustermetrics.report.Report`.
        Scatter plots show a random sample of ``max_points`` documents, projected by
        ``projection`` ("pca" or "tsne"). For big data the
        euclidean silhouette is estimated from a 10,000-point sample unless ``sample_size`` says
        otherwise.
        """
        from .report import alias_report, require_plotly
        require_plotly()
        if path:
            check_output_path(path)  # before any work
        report = alias_report(
            self.api, dataset_id, vector_field, cluster_alias, ground_truth_field,
            hover_fields=list(hover_fields), max_points=max_points, projection=projection,
            random_state=random_state, progress=progress, metric=metric,
            sample_size=sample_size, noise_label=noise_label, noise=noise)
        if path:
            report.save(path)
        return report

    def compare(self, dataset_id: str, vector_field: str, aliases, ground_truth_field=None, *,
                on_step=None, **options):
        """Metrics of several aliases in one table (``.table``) and chart (``.figure()``).
        ``on_step(alias, i, total)`` is called after each alias."""
        aliases = list(aliases)
        return self.api.compare(dataset_id, vector_field, aliases, ground_truth_field,
                                progress=_steps(on_step, aliases), **options)

    def sweep(self, dataset_id: str, vector_field: str, k=None,
              ground_truth_field: str | None = None, *, model=None, param_grid=None,
              random_state: int = 0, overwrite: bool = False, on_step=None, **options):
        """Fit a range of clusterings, evaluate each, and return a
        :class:`~clustermetrics.report.Comparison` whose ``best`` names the best one for each
        metric, with each one's ``coverage`` (share of documents in a cluster, not noise) beside
        the scores and ``warnings`` where a winner covers less than the others.

        Without ``model``: k-means for each k (default 2..20), stored as ``kmeans_{k}``, the
        table indexed by k. With ``model`` (an estimator, class, spec or algorithm name) and
        ``param_grid`` (``{"min_cluster_size": [5, 10, 20]}``, as scikit-learn's
        ``ParameterGrid``): one fit per combination, each stored under its default alias, the
        table indexed by alias with the grid's values as columns.
        ``on_step(name, i, total)`` is called after each. Every k (from 2 to one less than
        the documents with vectors), parameter, name and option is checked before the first
        fit, and an alias that a sweep did not make (nor the same fit) is not replaced unless
        ``overwrite=True``.
        """
        if model is None:
            if param_grid is not None:
                raise InvalidInputError("param_grid needs model=, e.g. model=HDBSCAN(), "
                                        "param_grid={'min_cluster_size': [5, 10, 20]}.")
            ks = list(range(2, 21) if k is None else k)
            return self.api.sweep(dataset_id, vector_field, ks, ground_truth_field,
                                  random_state=random_state, overwrite=overwrite,
                                  progress=_steps(on_step, ks), **options)
        if k is not None:
            raise InvalidInputError("Give k for a k-means sweep or model= with param_grid=, not "
                                    "both (for k-means in a grid: param_grid={'n_clusters': "
                                    "[...]}).")
        if param_grid is None:
            raise InvalidInputError("A sweep over model= needs param_grid=, e.g. "
                                    "{'min_cluster_size': [5, 10, 20]}.")
        parameter_grid(param_grid)  # checked here: a grid that cannot travel fails early
        return self.api.sweep_grid(dataset_id, vector_field, ModelSpec.of(model),
                                   _as_lists(param_grid), ground_truth_field,
                                   overwrite=overwrite, progress=_named_steps(on_step),
                                   **options)


def _as_lists(grid):
    """A checked grid with lists for values (ranges and arrays travel as lists)."""
    if isinstance(grid, Mapping):
        return {k: list(v) for k, v in grid.items()}
    return [_as_lists(g) for g in grid]


def _named_steps(on_step) -> Progress | None:
    """The API's ``progress(name, 1, total)`` as ``on_step(name, i, total)``."""
    if on_step is None:
        return None
    done = [0]

    def progress(name: str, n: int, total: int | None) -> None:
        done[0] += n
        on_step(name, done[0], total)

    return progress


def _steps(on_step, names: list) -> Progress | None:
    """The API's ``progress(stage, 1, total)`` as the older ``on_step(name, i, total)``."""
    if on_step is None:
        return None
    done = [0]

    def progress(stage: str, n: int, total: int | None) -> None:
        done[0] += n
        on_step(names[done[0] - 1], done[0], total)

    return progress
