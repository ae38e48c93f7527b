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
from .errors import InvalidInputError, InvalidParameterError
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

    Parameters
    ----------
    path : str, optional
        The store file (a DuckDB file; made when missing).
    api : clustermetrics.api.API, optional
        Any implementation of the API surface, instead of ``path`` or ``url``.
    url : str, optional
        A clustermetrics server (``http://127.0.0.1:8000``).
    api_key : str, optional
        The server's key for your project (default ``$CLUSTERMETRICS_API_KEY``).
    lock_timeout : float, optional
        Seconds to wait for a store file held by another process.

    Raises
    ------
    InvalidInputError
        Both a ``path`` and a ``url``.
    StoreError
        At the first call: a path that is a folder, a file that is not a DuckDB store, or a
        data file (``.csv``, ...).

    Examples
    --------
    >>> from clustermetrics import Client
    >>> with Client(path="store.duckdb") as client:  # doctest: +SKIP
    ...     client.list_datasets()
    []
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
        """The dataset named ``dataset_id`` (made by its first insert).

        Parameters
        ----------
        dataset_id : str
            Its name: letters, digits, ``_`` and ``-``; case-insensitive in the store.

        Returns
        -------
        Dataset
        """
        return Dataset(self, dataset_id)

    def list_datasets(self) -> list[str]:
        """The names of the datasets in the store (or the server's project).

        Returns
        -------
        list of str
        """
        return self.api.list_datasets()

    def close(self) -> None:
        """Let go of the store (or the HTTP connection); ``with Client() as c:`` does it."""
        self.api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "url" if self.path.startswith(("http://", "https://")) else "path"
        return f"Client({where}={self.path!r})"


class Dataset:
    """One dataset; the original SDK's ``client.Dataset(name)``: its documents, and the
    cluster tools with the dataset already named.

    Parameters
    ----------
    client : Client
        The client whose store (embedded or remote) holds the dataset.
    dataset_id : str
        The dataset's name (letters, digits, '_' and '-'); made by its first insert.

    Examples
    --------
    >>> import os, tempfile
    >>> from clustermetrics import Client
    >>> client = Client(path=os.path.join(tempfile.mkdtemp(), "store.duckdb"))
    >>> ds = client.Dataset("pets")
    >>> ds.insert_documents([{"_id": "a", "size_vector_": [1.0, 0.0], "kind": "cat"},
    ...                      {"_id": "b", "size_vector_": [0.0, 1.0], "kind": "dog"}])["inserted"]
    2
    >>> ds.get_documents(["b"])[0]["kind"]
    'dog'
    >>> client.close()
    """

    def __init__(self, client: Client, dataset_id: str):
        self.client, self.dataset_id, self.api = client, dataset_id, client.api

    def __repr__(self) -> str:
        return f"Dataset({self.dataset_id!r})"

    def insert_documents(self, documents, *, ids=None, vector_field: str | None = None,
                         vector_fields=(), progress: Progress | None = None) -> dict:
        """Insert documents; one with an ``_id`` that exists replaces it whole.

        The stored document keeps its cluster labels where its vector is unchanged. All or
        nothing: a batch that fails writes nothing.

        Parameters
        ----------
        documents : list of dict, pandas.DataFrame, pyarrow.Table, str or numpy.ndarray
            Documents, a path to a Parquet, CSV, JSON lines or JSON file (read here, on the
            caller's side), or an array of vectors with ``ids`` and ``vector_field``.
        ids : sequence of str, optional
            The ``_id`` of each row of an array.
        vector_field : str, optional
            The field an array's rows are stored in (``"image_vector_"``).
        vector_fields : sequence of str, optional
            Fields to store as vectors although their names do not end in ``_vector_``.
        progress : callable, optional
            ``progress("insert", rows, total)``, called as the rows are written.

        Returns
        -------
        dict
            ``{"inserted": n, "updated": m, "labels_dropped": {vector_field: {alias: n}},
            "widened": {field: "BIGINT -> DOUBLE"}}``.

        Raises
        ------
        SchemaError
            A value its field cannot hold, vectors of another length, a duplicate ``_id``.
        InvalidInputError
            An unreadable file, NaN or infinite vectors, a bad name (the ``_id`` or line named).

        Examples
        --------
        >>> ds = Client(path=":memory:").Dataset("shop")  # doctest: +SKIP
        >>> ds.insert_documents([{"_id": "p1", "image_vector_": [0.1, 0.2]}])  # doctest: +SKIP
        {'inserted': 1, 'updated': 0, 'labels_dropped': {}, 'widened': {}}
        """
        return self._write(documents, "insert", ids, vector_field, vector_fields, progress)

    def upsert_documents(self, documents, *, ids=None, vector_field: str | None = None,
                         vector_fields=(), progress: Progress | None = None) -> dict:
        """Insert documents, merging into those that exist.

        Fields of existing documents that the batch does not give (or gives as null) keep
        their stored values. A changed vector drops the document's labels for that vector
        field's aliases (counted in ``labels_dropped``). Parameters, result and errors are
        those of :meth:`insert_documents`.

        Examples
        --------
        >>> ds.upsert_documents([{"_id": "p1", "price": 12}])  # doctest: +SKIP
        {'inserted': 0, 'updated': 1, 'labels_dropped': {}, 'widened': {}}
        """
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
        """The documents with these ids, nested as they were given (``_cluster_`` included).

        Parameters
        ----------
        ids : sequence of str
            The ``_id`` of each document; ids not stored are left out.
        fields : sequence of str, optional
            Only these fields (dotted for nested ones, ``"price.eur"``), besides ``_id``.

        Returns
        -------
        list of dict

        Raises
        ------
        NotFoundError
            An unknown dataset or field (the closest name is given).
        """
        table = self.api.get_documents(self.dataset_id, [str(i) for i in ids],
                                       None if fields is None else list(fields))
        return [nest(row) for row in table.to_pylist()]

    def delete_documents(self, ids) -> int:
        """Delete the documents with these ids; returns how many there were."""
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
        """Delete the dataset with its documents and cluster aliases."""
        self.api.delete_dataset(self.dataset_id)

    def __len__(self) -> int:
        return self.api.count(self.dataset_id)

    # the cluster tools, for this dataset: ClusterTools' methods with the dataset filled in
    def kmeans(self, vector_field: str, k: int, alias: str | None = None, **kw) -> dict:
        """:meth:`ClusterTools.kmeans` on this dataset."""
        return self.client.vector_tools.cluster.kmeans(self.dataset_id, vector_field, k, alias,
                                                       **kw)

    def fit(self, vector_field: str, model, alias: str | None = None, **kw) -> dict:
        """:meth:`ClusterTools.fit` on this dataset."""
        return self.client.vector_tools.cluster.fit(self.dataset_id, vector_field, model, alias,
                                                    **kw)

    def stability(self, vector_field: str, model, **kw):
        """:meth:`ClusterTools.stability` on this dataset."""
        return self.client.vector_tools.cluster.stability(self.dataset_id, vector_field, model,
                                                          **kw)

    def metrics(self, vector_field: str, cluster_alias: str, ground_truth_field=None,
                **options) -> ClusterMetrics:
        """:meth:`ClusterTools.metrics` on this dataset."""
        return self.client.vector_tools.cluster.metrics(self.dataset_id, vector_field,
                                                        cluster_alias, ground_truth_field,
                                                        **options)

    def set_cluster_labels(self, vector_field: str, alias: str, labels_by_id, *,
                           noise_label=None) -> int:
        """:meth:`ClusterTools.set_cluster_labels` on this dataset."""
        return self.client.vector_tools.cluster.set_cluster_labels(
            self.dataset_id, vector_field, alias, labels_by_id, noise_label=noise_label)

    def list_aliases(self, vector_field: str | None = None, *,
                     metrics: bool = False) -> list[dict]:
        """:meth:`ClusterTools.list_aliases` on this dataset."""
        return self.client.vector_tools.cluster.list_aliases(self.dataset_id, vector_field,
                                                             metrics=metrics)

    def distribution(self, vector_field: str, cluster_alias: str, ground_truth_field=None,
                     **kw):
        """:meth:`ClusterTools.distribution` on this dataset."""
        return self.client.vector_tools.cluster.distribution(self.dataset_id, vector_field,
                                                             cluster_alias, ground_truth_field,
                                                             **kw)

    def centroid_distances(self, vector_field: str, cluster_alias: str, **kw):
        """:meth:`ClusterTools.centroid_distances` on this dataset."""
        return self.client.vector_tools.cluster.centroid_distances(self.dataset_id, vector_field,
                                                                   cluster_alias, **kw)

    def report(self, vector_field: str, cluster_alias: str, ground_truth_field=None,
               path: str | None = None, **kw):
        """:meth:`ClusterTools.report` on this dataset."""
        return self.client.vector_tools.cluster.report(self.dataset_id, vector_field,
                                                       cluster_alias, ground_truth_field, path,
                                                       **kw)

    def compare(self, vector_field: str, aliases, ground_truth_field=None, **kw):
        """:meth:`ClusterTools.compare` on this dataset."""
        return self.client.vector_tools.cluster.compare(self.dataset_id, vector_field, aliases,
                                                        ground_truth_field, **kw)

    def sweep(self, vector_field: str, k=None, ground_truth_field=None, **kw):
        """:meth:`ClusterTools.sweep` on this dataset."""
        return self.client.vector_tools.cluster.sweep(self.dataset_id, vector_field, k,
                                                      ground_truth_field, **kw)

    # looking inside the clusters of an alias (see ClusterTools)
    def closest(self, vector_field: str, cluster_alias: str, **kw):
        return self.client.vector_tools.cluster.closest(self.dataset_id, vector_field,
                                                        cluster_alias, **kw)

    def furthest(self, vector_field: str, cluster_alias: str, **kw):
        return self.client.vector_tools.cluster.furthest(self.dataset_id, vector_field,
                                                         cluster_alias, **kw)

    def misfits(self, vector_field: str, cluster_alias: str, **kw):
        return self.client.vector_tools.cluster.misfits(self.dataset_id, vector_field,
                                                        cluster_alias, **kw)

    def aggregate(self, vector_field: str, cluster_alias: str, fields, **kw):
        return self.client.vector_tools.cluster.aggregate(self.dataset_id, vector_field,
                                                          cluster_alias, fields, **kw)

    def keywords(self, vector_field: str, cluster_alias: str, text_field: str, **kw):
        return self.client.vector_tools.cluster.keywords(self.dataset_id, vector_field,
                                                         cluster_alias, text_field, **kw)

    def truth_breakdown(self, vector_field: str, cluster_alias: str, ground_truth_field: str,
                        **kw):
        return self.client.vector_tools.cluster.truth_breakdown(
            self.dataset_id, vector_field, cluster_alias, ground_truth_field, **kw)


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
        """Run k-means on the vectors and store the labels as an alias, with the centroids.

        Parameters
        ----------
        dataset_id, vector_field : str
            The dataset and the vector field to cluster.
        k : int
            The number of clusters, from 2 to one less than the documents with the vector.
        alias : str, optional
            Where the labels go (default ``kmeans_{k}``).
        random_state : int, default 0
            The seed: the same seed gives the same labels.
        minibatch : bool, optional
            MiniBatchKMeans instead of KMeans (default: beyond 100,000 documents).
        progress : callable, optional
            Hears of stage "reading" (rows), then "k-means" (total None until the fit ends:
            scikit-learn reports no iterations).

        Returns
        -------
        dict
            ``alias``, ``n_clusters``, ``sizes``, ``coverage``, ``inertia``, ``params``, ...

        Raises
        ------
        NotFoundError
            An unknown dataset or vector field.
        InvalidInputError
            ``k`` out of range, vectors whose squares overflow.

        Examples
        --------
        >>> tools.kmeans("quickstart_clustering", "pixels_vector_", k=10)["alias"]  # doctest: +SKIP
        'kmeans_10'
        """
        return self.api.kmeans(dataset_id, vector_field, k, alias, random_state=random_state,
                               minibatch=minibatch, progress=progress)

    def fit(self, dataset_id: str, vector_field: str, model, alias: str | None = None, *,
            precision: str | None = None, progress: Progress | None = None) -> dict:
        """Fit any scikit-learn-style clusterer on the vectors and store its labels as
        ``alias``.

        ``model`` is an estimator (``HDBSCAN(min_cluster_size=15)``, ``GaussianMixture(5)``,
        or a third-party one with ``get_params`` and ``fit_predict``, or ``fit`` then
        ``labels_``), its class, a :class:`~clustermetrics.clustering.ModelSpec` or an
        algorithm name ("hdbscan"). A fresh copy is fitted: the estimator passed stays as it
        was. The default alias is the method and its key parameters (``hdbscan_mcs15``). The
        alias records the model's class, its parameters, its noise label (-1 for DBSCAN,
        HDBSCAN and OPTICS, or any model whose labels include -1), which metrics, reports,
        compare and sweep then apply, and its centroids where it has them.

        Parameters
        ----------
        dataset_id, vector_field : str
            The dataset and the vector field to cluster.
        model : estimator, class, ModelSpec or str
            What to fit.
        alias : str, optional
            Where the labels go (default: the method and its key parameters).
        precision : {"auto", "float32", "float64"}, optional
            The dtype the model is fitted in. "auto" (the default) fits models that are
            fragile in float32 (Gaussian mixtures: their covariances come out singular) in
            float64 and the others in the vectors' own precision. The alias records it
            (``describe_alias(...)["params"]["precision"]``).
        progress : callable, optional
            ``progress(stage, rows, total)``.

        Returns
        -------
        dict
            ``alias``, ``method``, ``n_clusters``, ``sizes``, ``noise_label``, ``n_noise``,
            ``coverage``, ``model``, ``params``, and figures such as inertia.

        Raises
        ------
        InvalidInputError
            A parameter the model refuses (scikit-learn's sentence, before any data is read),
            an unknown algorithm (the closest name), a fit that the data refuses.
        NotFoundError
            An unknown dataset or vector field.

        Examples
        --------
        >>> from sklearn.cluster import HDBSCAN
        >>> summary = tools.fit("products", "image_vector_",
        ...                     HDBSCAN(min_cluster_size=15))  # doctest: +SKIP
        >>> summary["alias"]  # doctest: +SKIP
        'hdbscan_mcs15'
        """
        return self.api.fit(dataset_id, vector_field, ModelSpec.of(model), alias,
                            precision=precision, progress=progress)

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

        Parameters
        ----------
        dataset_id, vector_field : str
            The dataset and the vector field to cluster.
        model : estimator, class, ModelSpec or str
            What to fit, as for :meth:`fit`.
        alias : str, optional
            Where the full fit's labels go (default: the model's default alias).
        n_resamples : int, default 20
            Refits.
        fraction : float, default 0.8
            The share of the documents in each subsample.
        random_state : int, optional, default 0
            Seed of the subsamples.

        Returns
        -------
        Stability
            ``.per_cluster`` (size, jaccard, recovered, dissolved, verdict), ``.ari``,
            ``.mean_jaccard``; ``print`` shows the table.

        Raises
        ------
        InvalidInputError
            A full fit that is all noise, a bad parameter, ``fraction`` out of (0, 1).

        References
        ----------
        Hennig, C. (2007). Cluster-wise assessment of cluster stability. Computational
        Statistics & Data Analysis 52, 258-271.
        """
        return self.api.stability(dataset_id, vector_field, ModelSpec.of(model), alias,
                                  n_resamples=n_resamples, fraction=fraction,
                                  random_state=random_state, progress=progress)

    def set_cluster_labels(self, dataset_id: str, vector_field: str, alias: str,
                           labels_by_id, *, noise_label=None) -> int:
        """Store your own clustering as an alias, all or nothing.

        Parameters
        ----------
        dataset_id, vector_field, alias : str
            Where the labels go: ``_cluster_.{vector_field}.{alias}``.
        labels_by_id : dict, pandas.Series or pandas.DataFrame
            ``_id`` -> label (ints or strings): a dict, a Series indexed by ``_id``, or a
            DataFrame with ``_id`` and ``label`` columns.
        noise_label : int or str, optional
            Recorded with the alias (e.g. -1) and applied by metrics, reports, compare and
            sweep.

        Returns
        -------
        int
            The documents labelled.

        Raises
        ------
        InvalidInputError
            Another container, an unknown ``_id`` (named), a bad alias name.

        Examples
        --------
        >>> tools.set_cluster_labels("products", "image_vector_", "mine",
        ...                          {"p1": 3, "p2": -1}, noise_label=-1)  # doctest: +SKIP
        2
        """
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

    def list_aliases(self, dataset_id: str, vector_field: str | None = None, *,
                     metrics: bool = False) -> list[dict]:
        """The dataset's cluster aliases (of one vector field, or all), in a stable order
        (by name, numbers by value).

        Parameters
        ----------
        dataset_id : str
            The dataset.
        vector_field : str, optional
            Only this vector field's aliases.
        metrics : bool, default False
            Add each alias's kept headline metrics under ``"metrics"``: the values the metrics
            call gives with its default options, kept with the alias and computed again only
            when the dataset changed.

        Returns
        -------
        list of dict
            Per alias: ``vector_field``, ``alias``, ``clusters``, ``labelled``, ``noise``
            (documents with the recorded noise label, or None) and ``method``.
        """
        return self.api.list_aliases(dataset_id, vector_field, metrics=metrics)

    def describe_alias(self, dataset_id: str, vector_field: str, alias: str) -> dict:
        """How an alias was made and its cluster sizes.

        Returns
        -------
        dict
            ``method``, ``params`` (the model's class and parameters, its noise label,
            figures such as inertia), ``sizes``, ``unlabelled``, ``created_at`` and
            ``changed`` (documents whose vector changed or that were deleted since).

        Raises
        ------
        NotFoundError
            An unknown dataset, field or alias (the closest name is given).
        """
        return self.api.describe_alias(dataset_id, vector_field, alias)

    def delete_alias(self, dataset_id: str, vector_field: str, alias: str) -> None:
        """Delete one alias's labels; the documents stay.

        Raises
        ------
        NotFoundError
            An unknown dataset, field or alias.
        """
        self.api.delete_alias(dataset_id, vector_field, alias)

    # -- evaluation -------------------------------------------------------------------------
    def metrics(self, dataset_id: str, vector_field: str, cluster_alias: str,
                ground_truth_field: str | None = None, *, metric: str = "euclidean",
                sample_size: int | None = None, random_state=None, noise_label=None,
                noise: str | None = None, working_memory: float | None = None,
                exact: bool = False, progress: Progress | None = None) -> ClusterMetrics:
        """The metrics of a stored clustering: the original SDK's call.

        Silhouette, Calinski-Harabasz and Davies-Bouldin and, with ``ground_truth_field``,
        ARI, AMI, NMI and the other external metrics: the same numbers as
        :func:`clustermetrics.evaluate` on the same arrays, streamed from the store in
        batches. Documents without a label for the alias (or without ground truth) are left
        out and counted. As the report does, a pairwise silhouette (euclidean, manhattan, ...)
        of more than 20,000 documents is estimated from a stratified sample of 10,000 (seed
        ``random_state``, 0 by default), with its 95% interval (``silhouette_ci``), unless
        ``sample_size`` is given or ``exact=True`` asks for the exact value.

        Parameters
        ----------
        dataset_id : str
            The dataset.
        vector_field : str
            The vector field that was clustered.
        cluster_alias : str
            The clustering (``kmeans_10``): labels under ``_cluster_.{vector_field}.{alias}``.
        ground_truth_field : str, optional
            A field with the true classes; without it only the internal metrics.
        metric : str, default "euclidean"
            The distance: "euclidean", "cosine", "sqeuclidean", "manhattan", ...
        sample_size : int, optional
            Estimate the euclidean silhouette from a sample stratified by cluster, each sampled
            document scored against all of them, with a 95% interval.
        random_state : int, optional
            Seed of the sample.
        noise_label : int or str, optional
            The noise label, instead of the one the alias records.
        noise : {"exclude", "cluster", "singletons"}, optional
            What noise is for the scores (default "exclude": left out and counted).
        exact : bool, default False
            The exact silhouette whatever the size (quadratic in the documents).
        working_memory : float, optional
            MiB for the blocked pairwise kernels (default 512).
        progress : callable, optional
            ``progress(stage, rows, total)``.

        Returns
        -------
        ClusterMetrics
            ``.scores``, ``.counts``, ``.per_cluster``; ``print`` shows the table.

        Raises
        ------
        NotFoundError
            An unknown dataset, field or alias (the closest name is given).
        InvalidInputError
            Fewer than two clusters, NaN vectors, zero vectors under cosine, a bad option.

        Examples
        --------
        >>> client.vector_tools.cluster.metrics(
        ...     dataset_id="quickstart_clustering", vector_field="pixels_vector_",
        ...     cluster_alias="kmeans_10", ground_truth_field="digit")  # doctest: +SKIP
        ClusterMetrics(silhouette=0.1856, calinski_harabasz=167.4453, ...)
        """
        return self.api.metrics(dataset_id, vector_field, cluster_alias, ground_truth_field,
                                metric=metric, sample_size=sample_size,
                                random_state=random_state, noise_label=noise_label,
                                noise=noise, working_memory=working_memory, exact=exact,
                                progress=progress)

    def distribution(self, dataset_id: str, vector_field: str, cluster_alias: str,
                     ground_truth_field: str | None = None, *,
                     transpose: bool = False) -> pd.DataFrame:
        """Cluster sizes, or the counts of clusters against ground-truth classes.

        Parameters
        ----------
        dataset_id, vector_field, cluster_alias : str
            The dataset, its vector field and the alias of the clustering.
        ground_truth_field : str, optional
            A field with the true classes: the joint counts instead of the sizes.
        transpose : bool, default False
            With ground truth, one row per class and one column per cluster (the original
            SDK's keyword, which swapped its two perspectives).

        Returns
        -------
        pandas.DataFrame
            Without ground truth, one row per cluster and the column ``size``; with it, one row
            per cluster and one column per class (or the reverse with ``transpose``). Documents
            with a label but no ground-truth value are not in the joint counts;
            ``df.attrs["no_ground_truth"]`` says how many.

        Raises
        ------
        NotFoundError
            An unknown dataset, field or alias (the closest name is given).
        InvalidInputError
            ``transpose=True`` without ``ground_truth_field``.

        Examples
        --------
        >>> tools.distribution("quickstart_clustering", "pixels_vector_", "kmeans_10",
        ...                    "digit").shape  # doctest: +SKIP
        (10, 10)
        """
        if transpose and ground_truth_field is None:
            raise InvalidInputError("transpose=True swaps clusters and ground-truth classes: "
                                    "give ground_truth_field too, or leave transpose out for "
                                    "the cluster sizes.")
        df = self.api.distribution(dataset_id, vector_field, cluster_alias,
                                   ground_truth_field)
        if transpose:
            attrs = dict(df.attrs)
            df = df.T
            df.attrs.update(attrs)
        return df

    def centroid_distances(self, dataset_id: str, vector_field: str, cluster_alias: str, *,
                           metric: str | None = None, noise_label=None,
                           distance_measure_mode: str | None = None) -> pd.DataFrame:
        """Distances between the clusters' centroids.

        Centroids are the clusters' mean vectors, computed in one streaming pass; documents
        labelled ``noise_label`` (default: the alias's recorded noise label) are left out, as
        the metrics leave them out.

        Parameters
        ----------
        dataset_id, vector_field, cluster_alias : str
            The dataset, its vector field and the alias of the clustering.
        metric : str, default "euclidean"
            A distance of :func:`scipy.spatial.distance.cdist`: "euclidean", "cosine",
            "sqeuclidean", "manhattan", ...
        noise_label : int or str, optional
            The label left out as noise, instead of the alias's own.
        distance_measure_mode : {"l2", "cosine"}, optional
            The original SDK's name for ``metric``: "l2" is "euclidean". Its "cosine" gave the
            cosine similarity; here it is the cosine distance, 1 - similarity, like every value
            of this table.

        Returns
        -------
        pandas.DataFrame
            k x k, indexed and labelled by the cluster names.

        Raises
        ------
        NotFoundError
            An unknown dataset, field or alias.
        InvalidParameterError
            An unknown metric or mode, or both ``metric`` and ``distance_measure_mode``.

        Examples
        --------
        >>> tools.centroid_distances("quickstart_clustering", "pixels_vector_",
        ...                          "kmeans_10").shape  # doctest: +SKIP
        (10, 10)
        """
        if distance_measure_mode is not None:
            if metric is not None:
                raise InvalidParameterError(
                    "Give metric= or distance_measure_mode= (the original SDK's name for it), "
                    "not both.")
            modes = {"l2": "euclidean", "cosine": "cosine"}
            if distance_measure_mode not in modes:
                raise InvalidParameterError(
                    f"distance_measure_mode={distance_measure_mode!r} is not one of "
                    "'l2', 'cosine'; for other distances use metric=, e.g. "
                    "metric='manhattan'.")
            metric = modes[distance_measure_mode]
        metric = resolve_metric(metric or "euclidean")
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
               text_field: str | None = None, examples: int = 3, exact: bool = False,
               progress: Progress | None = None):
        """A self-contained HTML report (metrics, silhouette plot, projections coloured by
        cluster and by ground truth, contingency heatmap, sizes, centroid distances, and the
        clusters' stability where :meth:`stability` computed it for this alias).

        Noise (the alias's noise label, unless ``noise_label`` says otherwise) is grey; each
        cluster has the colour of the ground-truth class it is matched with one to one, and
        the heatmap puts those matches on its diagonal.

        A "Clusters" section shows one card per cluster, lowest silhouette first: size,
        silhouette, stability (when known), purity and top classes (with ground truth),
        keywords of ``text_field`` (when given), the ``examples`` documents closest to its
        centroid and its ``examples`` misfits, and a link that shows only its points in the
        projection.

        Writes it to ``path`` when given; returns the :class:`~clustermetrics.report.Report`.
        Scatter plots show a random sample of ``max_points`` documents, projected by
        ``projection`` ("pca" or "tsne"). For big data the
        euclidean silhouette is estimated from a 10,000-point sample unless ``sample_size`` says
        otherwise or ``exact=True``.

        Parameters
        ----------
        dataset_id, vector_field, cluster_alias : str
            The clustering to show.
        ground_truth_field : str, optional
            A field with the true classes: external metrics, the projection coloured by class
            and the contingency heatmap.
        path : str, optional
            Where to write the HTML file; a folder that does not exist is refused before any
            work.
        metric, sample_size, noise_label, noise, progress
            As for :meth:`metrics`.
        hover_fields : sequence of str, optional
            Fields shown when hovering over a point, beside ``_id``.
        max_points : int, default 3000
            Documents drawn in the projections (a random sample).
        projection : {"pca", "tsne"}, default "pca"
            How the vectors are drawn in 2-D and 3-D.
        random_state : int, default 0
            Seed of the drawn sample and of the projection.

        Returns
        -------
        Report
            ``.html``, ``.save(path)``; displays inline in a notebook.

        Raises
        ------
        MissingDependencyError
            Plotly is not installed (``pip install 'clustermetrics[report]'``).
        NotFoundError
            An unknown dataset, field or alias.
        """
        from .report import alias_report, require_plotly
        require_plotly()
        if path:
            check_output_path(path)  # before any work
        report = alias_report(
            self.api, dataset_id, vector_field, cluster_alias, ground_truth_field,
            hover_fields=_names(hover_fields), max_points=max_points, projection=projection,
            random_state=random_state, progress=progress, metric=metric,
            sample_size=sample_size, noise_label=noise_label, noise=noise,
            text_field=text_field, examples=examples, exact=exact)
        if path:
            report.save(path)
        return report

    def compare(self, dataset_id: str, vector_field: str, aliases, ground_truth_field=None, *,
                on_step=None, **options):
        """Metrics of several aliases side by side, with the best per metric.

        Parameters
        ----------
        dataset_id, vector_field : str
            The dataset and the vector field.
        aliases : sequence of str
            The clusterings to compare; every one is checked before any is evaluated.
        ground_truth_field : str, optional
            A field with the true classes (adds ARI, AMI, ...).
        on_step : callable, optional
            ``on_step(alias, i, total)``, called after each alias.
        **options
            As for :meth:`metrics`: ``metric``, ``sample_size``, ``noise``, ...

        Returns
        -------
        Comparison
            ``.table`` (one row per alias, its ``coverage`` beside the scores), ``.best``,
            ``.warnings``, ``.figure()``, ``.save(path)``.

        Raises
        ------
        NotFoundError
            An unknown dataset, field or alias (the closest name is given).
        """
        aliases = _names(aliases)
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
            if isinstance(k, (int, np.integer, str)):
                raise InvalidInputError(f"k of a sweep is a list of values, e.g. range(2, 11); "
                                        f"got {k!r} (for one k: kmeans(..., k={k!r})).")
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


    # -- looking inside clusters -----------------------------------------------------------
    def closest(self, dataset_id: str, vector_field: str, cluster_alias: str, *, n: int = 5,
                fields=None, metric: str = "euclidean", noise_label=None,
                noise: str | None = None):
        """Per cluster, the ``n`` documents closest to its centroid, with ``fields``.

        The centroid is the cluster's mean (``metric`` "euclidean" or "sqeuclidean") or its
        mean direction ("cosine"). One pass for the centroids and one that keeps a running
        top ``n`` per cluster: no pairwise distances. Noise (the alias's noise label unless
        ``noise_label`` says otherwise) is left out unless ``noise`` is "cluster" or
        "singletons". Returns a :class:`~clustermetrics.explore.Representatives` whose
        ``table`` has columns cluster, rank, _id, distance and the fields.
        """
        return self.api.closest(dataset_id, vector_field, cluster_alias, n=n, fields=fields,
                                metric=metric, noise_label=noise_label, noise=noise)

    def furthest(self, dataset_id: str, vector_field: str, cluster_alias: str, *, n: int = 5,
                 fields=None, metric: str = "euclidean", noise_label=None,
                 noise: str | None = None):
        """Per cluster, the ``n`` documents furthest from its centroid (as :meth:`closest`)."""
        return self.api.furthest(dataset_id, vector_field, cluster_alias, n=n, fields=fields,
                                 metric=metric, noise_label=noise_label, noise=noise)

    def misfits(self, dataset_id: str, vector_field: str, cluster_alias: str, *, n: int = 20,
                cluster=None, metric: str = "euclidean", sample_size: int | None = None,
                random_state: int | None = 0, fields=None, noise_label=None,
                noise: str | None = None):
        """The documents with the lowest silhouette, overall and per cluster (only
        ``cluster``'s when given): their silhouette, ``a`` (mean distance to their own
        cluster), ``b`` (to the nearest other) and ``nearest``, the cluster they would fit
        better. Exact for "cosine" and "sqeuclidean" at any size; euclidean is exact up to
        20,000 documents and estimated from a stratified sample of 10,000 beyond (each scored
        against all the documents), which the result's ``info["method"]`` and notes say.
        Returns a :class:`~clustermetrics.explore.Misfits`."""
        return self.api.misfits(dataset_id, vector_field, cluster_alias, n=n, cluster=cluster,
                                metric=metric, sample_size=sample_size,
                                random_state=random_state, fields=fields,
                                noise_label=noise_label, noise=noise)

    def aggregate(self, dataset_id: str, vector_field: str, cluster_alias: str, fields, *,
                  top: int = 5, noise_label=None, noise: str | None = None):
        """Each field per cluster: numbers as count, mean, median, min and max (table
        ``numeric``); text, booleans and dates as their ``top`` values with their share of
        the cluster and their lift, how many times more common in the cluster than overall
        (table ``values``). The store does the grouping. Returns a
        :class:`~clustermetrics.explore.FieldSummary`."""
        return self.api.aggregate(dataset_id, vector_field, cluster_alias,
                                  [fields] if isinstance(fields, str) else list(fields),
                                  top=top, noise_label=noise_label, noise=noise)

    def keywords(self, dataset_id: str, vector_field: str, cluster_alias: str,
                 text_field: str, *, n: int = 10, stop_words="english",
                 ngram_range: tuple[int, int] = (1, 1), min_df: int | float = 1,
                 noise_label=None, noise: str | None = None):
        """Each cluster's ``n`` most distinctive terms of ``text_field`` by class-based TF-IDF
        (a term's share of the cluster's terms times ``log(1 + A / f)``, with ``f`` its count
        in all clusters and ``A`` the mean number of terms per cluster), the terms found by
        scikit-learn's ``CountVectorizer`` with ``stop_words``, ``ngram_range`` and
        ``min_df``. Returns a :class:`~clustermetrics.explore.Keywords`."""
        return self.api.keywords(dataset_id, vector_field, cluster_alias, text_field, n=n,
                                 stop_words=stop_words, ngram_range=ngram_range,
                                 min_df=min_df, noise_label=noise_label, noise=noise)

    def truth_breakdown(self, dataset_id: str, vector_field: str, cluster_alias: str,
                        ground_truth_field: str, *, top: int = 3, noise_label=None,
                        noise: str | None = None):
        """The clusters against the ground truth: per cluster its ``top`` classes and purity
        (table ``clusters``), per class the clusters it is split across (``classes``), the
        pairs of clusters that hold one class (``merge``: candidates to merge) and the
        clusters that mix the most classes (``split``). Returns a
        :class:`~clustermetrics.explore.TruthBreakdown`."""
        return self.api.truth_breakdown(dataset_id, vector_field, cluster_alias,
                                        ground_truth_field, top=top, noise_label=noise_label,
                                        noise=noise)

    def merge_clusters(self, dataset_id: str, vector_field: str, cluster_alias: str, groups,
                       new_alias: str | None = None) -> dict:
        """A new alias in which each group of clusters (``[[1, 4], [2, 7]]``) is one cluster,
        named by the group's first. The old alias is not changed; the new one records it as
        its parent with the edit (see :meth:`describe_alias`). Returns a summary."""
        from .explore.edits import check_groups
        return self.api.merge_clusters(dataset_id, vector_field, cluster_alias,
                                       [list(g) for g in check_groups(groups)], new_alias)

    def relabel(self, dataset_id: str, vector_field: str, cluster_alias: str, mapping,
                new_alias: str | None = None) -> dict:
        """A new alias with labels renamed by ``mapping`` ``{old: new}`` (two old labels given
        one new one are merged); the old alias is not changed."""
        return self.api.relabel(dataset_id, vector_field, cluster_alias, dict(mapping),
                                new_alias)

    def subcluster(self, dataset_id: str, vector_field: str, cluster_alias: str, cluster,
                   model, new_alias: str | None = None, *,
                   progress: Progress | None = None) -> dict:
        """A new alias in which ``cluster`` is split by ``model`` (any scikit-learn clusterer,
        as :meth:`fit` takes it) fitted on that cluster's documents; the old alias is not
        changed. New integer labels follow the largest one (text labels become
        ``"{cluster}.{i}"``); documents the model calls noise get the alias's noise label."""
        return self.api.subcluster(dataset_id, vector_field, cluster_alias, cluster,
                                   ModelSpec.of(model), new_alias, progress=progress)


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


def _names(value) -> list:
    """A list of names, where one name given alone is a list of one (not of its letters)."""
    return [value] if isinstance(value, str) else list(value)
