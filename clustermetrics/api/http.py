"""HTTPAPI: the API surface over a clustermetrics server.

The second implementation of :class:`~clustermetrics.api.base.API`, so ``Client(url=...,
api_key=...)`` answers the same calls as the embedded ``Client()`` with equal results and the
same exceptions (the server sends each error as the codec's encoding; it is raised here with
its class and message). Documents travel as Arrow IPC streams, both ways; files named in a call
were read by the Client on this side, so the server never opens a caller's path. Long work
(kmeans, metrics, report, compare, sweep) runs as a server job: this client waits for it,
replaying the job's progress events into the caller's ``progress`` callback, and cancels the
job if the caller is interrupted.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..documents import label_array
from ..errors import (
    AuthenticationError,
    ClusterMetricsError,
    ClusterMetricsWarning,
    InvalidInputError,
    MissingDependencyError,
    ServerError,
)
from . import codec
from .base import API, Progress, ReportData

ARROW = "application/vnd.apache.arrow.stream"
POLL_WAIT_S = 10.0  # each poll of a job waits this long on the server for news
INSTALL_HINT = "pip install 'clustermetrics[server]'"
IDEMPOTENT = ("GET", "HEAD", "PUT", "DELETE")  # retried once on a dropped connection
SMALL = 1 << 16  # IPC pieces smaller than this are joined into one chunk; larger ones go as is


def _httpx():
    try:
        import httpx
    except ImportError:
        raise MissingDependencyError(
            f"A remote Client needs httpx: {INSTALL_HINT} (or pip install httpx).") from None
    return httpx


class HTTPAPI(API):
    """The operations over a server at ``url``, as the project of ``api_key``."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 120.0):
        httpx = _httpx()
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"The server URL {url!r} must start with http:// or "
                                    "https://.")
        self.url, self.api_key = url.rstrip("/"), api_key
        # JSON answers, errors included, even from a server's pages (a URL with a wrong prefix)
        headers = {"User-Agent": "clustermetrics-client", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=self.url, headers=headers,
                                  timeout=httpx.Timeout(timeout, connect=10.0))
        self._httpx = httpx

    @property
    def location(self) -> str:
        return self.url

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"HTTPAPI({self.url!r})"

    # -- transport ------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, gone_ok: bool = False, **kw) -> Any:
        """The response of a request, or the error the server answered, raised here. A
        connection that drops before the answer (a kept-alive connection the server or a proxy
        closed, a reset) is retried once on a fresh one when the request is idempotent (GET,
        PUT, DELETE: doing it twice is doing it once); any other request says it may or may
        not have been applied. With ``gone_ok`` (a DELETE of a thing), a 404 to the retry is
        success: the first try may have deleted it."""
        httpx = self._httpx
        attempt = 0
        for attempt in (1, 2):
            try:
                response = self._http.request(method, path, **kw)
                break
            except httpx.TimeoutException as exc:
                raise ServerError(f"The server at {self.url} did not answer in time ({exc}).") \
                    from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if method in IDEMPOTENT and attempt == 1:
                    continue  # the failed connection left the pool: the retry opens a new one
                if method in IDEMPOTENT:
                    raise ServerError(f"The connection to the server at {self.url} dropped "
                                      f"twice during {method} {path} ({exc or type(exc).__name__})"
                                      ": is the server or a proxy before it restarting?") \
                        from None
                raise ServerError(
                    f"The connection to the server at {self.url} dropped during {method} {path} "
                    f"({exc or type(exc).__name__}): the request may or may not have been "
                    "applied. Check (list the datasets, documents or jobs) before repeating "
                    "it.") from None
            except httpx.TransportError as exc:
                raise ServerError(f"Cannot reach the clustermetrics server at {self.url}: "
                                  f"{exc}. Is 'clustermetrics serve' running there?") from None
        if response.status_code >= 400 and not (gone_ok and attempt == 2
                                                 and response.status_code == 404):
            raise self._error(response)
        return response

    def _error(self, response) -> ClusterMetricsError:
        try:
            data = response.json()
            error = codec.decode_error(data["error"])
        except Exception:  # not this API's answer: a proxy, another service
            text = response.text[:300]
            return ServerError(f"The server at {self.url} answered {response.status_code} "
                               f"{response.reason_phrase}: {text}")
        if isinstance(error, AuthenticationError) and not self.api_key:
            # the server speaks HTTP headers; a caller of this client gives the key its own way
            return AuthenticationError(
                f"An API key is needed for the server at {self.url}: give --api-key KEY or "
                "set CLUSTERMETRICS_API_KEY (in Python: Client(url=..., api_key=KEY)). "
                "'clustermetrics keys create --project NAME' on the server makes one.")
        return error

    def _json(self, method: str, path: str, **kw) -> Any:
        return self._request(method, path, **kw).json()

    def _job(self, path: str, body: dict, progress: Progress | None) -> Any:
        """Start a server job, replay its progress and return its decoded result."""
        with _terminate_as_exit():
            view = self._json("POST", path, json=body)
            try:
                while True:
                    if progress is not None:
                        for stage, done, total in view["events"]:
                            progress(stage, done, total)
                    if view["status"] in FINISHED:
                        break
                    view = self._json("GET", f"/v1/jobs/{view['id']}",
                                      params={"since": view["next"], "wait": POLL_WAIT_S},
                                      timeout=POLL_WAIT_S + 60)
            except BaseException:  # interrupted, terminated, or the callback raised: stop it
                with contextlib.suppress(Exception):  # a server gone has nothing to cancel
                    self._http.delete(f"/v1/jobs/{view['id']}", timeout=10)
                raise
        _rewarn(view.get("warnings", ()))
        if view["status"] == "done":
            return codec.decode(view["result"])
        raise codec.decode_error(view["error"])

    def _ds(self, dataset: str, rest: str = "") -> str:
        return f"/v1/datasets/{urllib.parse.quote(str(dataset), safe='')}{rest}"

    # -- datasets -------------------------------------------------------------------------
    def list_datasets(self) -> list[str]:
        return self._json("GET", "/v1/datasets")["datasets"]

    def count(self, dataset: str) -> int:
        return self._json("GET", self._ds(dataset, "/count"))["count"]

    def schema(self, dataset: str) -> dict[str, str]:
        return self._json("GET", self._ds(dataset, "/schema"))["schema"]

    def describe_dataset(self, dataset: str) -> dict[str, Any]:
        return codec.decode(self._json("GET", self._ds(dataset)))

    def delete_dataset(self, dataset: str) -> None:
        self._request("DELETE", self._ds(dataset), gone_ok=True)

    # -- documents ------------------------------------------------------------------------
    def write_documents(self, dataset: str, pieces: Any, *, mode: str = "insert",
                        vector_fields: Sequence[str] = (),
                        progress: Progress | None = None) -> dict[str, Any]:
        from ..documents import Pieces
        if mode not in ("insert", "upsert"):
            raise InvalidInputError(f"mode must be 'insert' or 'upsert'; got {mode!r}.")
        if not isinstance(pieces, Pieces):
            pieces = Pieces(pieces, vector_fields=vector_fields)
        stream = _upload(pieces, mode, progress)
        first = next(stream)  # the input is read (and its errors raised) before connecting
        body = _chain(first, stream)
        params = {"mode": mode, "vector_fields": list(vector_fields)}
        headers = {"Content-Type": ARROW}
        return self._json("POST", self._ds(dataset, "/documents"), params=params,
                          content=body, headers=headers,
                          timeout=self._httpx.Timeout(None, connect=10.0))

    def set_vector_field(self, dataset: str, field: str) -> dict[str, Any]:
        return codec.decode(self._json("PUT", self._ds(dataset, "/vector-field"),
                                       json={"field": field}))

    def get_documents(self, dataset: str, ids: Sequence[str],
                      fields: Sequence[str] | None = None) -> pa.Table:
        body = {"ids": [str(i) for i in ids], "fields": None if fields is None else list(fields)}
        response = self._request("POST", self._ds(dataset, "/documents/get"), json=body,
                                 headers={"Accept": ARROW})
        return codec.from_ipc(response.content)

    def delete_documents(self, dataset: str, ids: Sequence[str]) -> int:
        return self._json("POST", self._ds(dataset, "/documents/delete"),
                          json={"ids": [str(i) for i in ids]})["deleted"]

    def export_documents(self, dataset: str) -> pa.RecordBatchReader:
        response = self._request("GET", self._ds(dataset, "/export"),
                                 timeout=self._httpx.Timeout(None, connect=10.0))
        return pa.ipc.open_stream(pa.py_buffer(response.content))

    # -- aliases --------------------------------------------------------------------------
    def list_aliases(self, dataset: str, vector_field: str | None = None, *,
                     metrics: bool = False) -> list[dict]:
        if metrics:  # a job: kept metrics that are stale are computed
            return self._job(self._ds(dataset, "/aliases/metrics"),
                             {"vector_field": vector_field}, None)
        params = {} if vector_field is None else {"vector_field": vector_field}
        return codec.decode(self._json("GET", self._ds(dataset, "/aliases"), params=params))

    def describe_alias(self, dataset: str, vector_field: str, alias: str) -> dict[str, Any]:
        return codec.decode(self._json("GET", self._ds(dataset, "/alias"),
                                       params={"vector_field": vector_field, "alias": alias}))

    def delete_alias(self, dataset: str, vector_field: str, alias: str) -> None:
        self._request("DELETE", self._ds(dataset, "/alias"), gone_ok=True,
                      params={"vector_field": vector_field, "alias": alias})

    def set_cluster_labels(self, dataset: str, vector_field: str, alias: str,
                           ids: Sequence[Any] | np.ndarray,
                           labels: Sequence[Any] | np.ndarray, *,
                           noise_label: Any = None) -> int:
        ids = [str(_plain(i)) for i in ids]
        # checked here as the store checks them (NaN and inf cannot travel as JSON)
        body = {"vector_field": vector_field, "alias": alias, "ids": ids,
                "labels": label_array(labels, ids).to_pylist(),
                "noise_label": _label(noise_label)}
        return self._json("PUT", self._ds(dataset, "/labels"), json=body)["labelled"]

    # -- clustering -----------------------------------------------------------------------
    def kmeans(self, dataset: str, vector_field: str, k: int, alias: str | None = None, *,
               random_state: int = 0, minibatch: bool | None = None,
               progress: Progress | None = None) -> dict[str, Any]:
        body = {"vector_field": vector_field, "k": _plain(k), "alias": alias,
                "random_state": _plain(random_state), "minibatch": minibatch}
        return self._job(self._ds(dataset, "/kmeans"), body, progress)

    def fit(self, dataset: str, vector_field: str, model, alias: str | None = None, *,
            precision: str | None = None,
            progress: Progress | None = None) -> dict[str, Any]:
        body = {"vector_field": vector_field, "model": _model(model), "alias": alias,
                "precision": _plain(precision)}
        return self._job(self._ds(dataset, "/fit"), body, progress)

    def stability(self, dataset: str, vector_field: str, model, alias: str | None = None, *,
                  n_resamples: int = 20, fraction: float = 0.8,
                  random_state: int | None = 0, progress: Progress | None = None):
        body = {"vector_field": vector_field, "model": _model(model), "alias": alias,
                "n_resamples": _plain(n_resamples), "fraction": _plain(fraction),
                "random_state": _plain(random_state)}
        return self._job(self._ds(dataset, "/stability"), body, progress)

    # -- evaluation -----------------------------------------------------------------------
    def metrics(self, dataset: str, vector_field: str, cluster_alias: str,
                ground_truth_field: str | None = None, *, progress: Progress | None = None,
                **options: Any):
        body = {"vector_field": vector_field, "cluster_alias": cluster_alias,
                "ground_truth_field": ground_truth_field, **_options(options)}
        return self._job(self._ds(dataset, "/metrics"), body, progress)

    def distribution(self, dataset: str, vector_field: str, cluster_alias: str,
                     ground_truth_field: str | None = None) -> pd.DataFrame:
        params = {"vector_field": vector_field, "cluster_alias": cluster_alias}
        if ground_truth_field is not None:
            params["ground_truth_field"] = ground_truth_field
        return codec.decode(self._json("GET", self._ds(dataset, "/distribution"),
                                       params=params)["value"])

    def centroids(self, dataset: str, vector_field: str, cluster_alias: str, *,
                  noise_label: Any = None) -> pd.DataFrame:
        params = {"vector_field": vector_field, "cluster_alias": cluster_alias}
        if noise_label is not None:
            params["noise_label"] = json.dumps(_label(noise_label))
        answer = self._json("GET", self._ds(dataset, "/centroids"), params=params)
        _rewarn(answer.get("warnings", ()))
        return codec.decode(answer["value"])

    def report_data(self, dataset: str, vector_field: str, cluster_alias: str,
                    ground_truth_field: str | None = None, *,
                    hover_fields: Sequence[str] = (), max_points: int = 3000,
                    projection: str = "pca", random_state: int = 0,
                    text_field: str | None = None, examples: int = 3,
                    progress: Progress | None = None, **options: Any) -> ReportData:
        body = {"vector_field": vector_field, "cluster_alias": cluster_alias,
                "ground_truth_field": ground_truth_field, "hover_fields": list(hover_fields),
                "max_points": _plain(max_points), "projection": projection,
                "text_field": text_field, "examples": _plain(examples),
                "random_state": _plain(random_state), **_options(options)}
        return self._job(self._ds(dataset, "/report"), body, progress)

    def compare(self, dataset: str, vector_field: str, aliases: Iterable[str],
                ground_truth_field: str | None = None, *, progress: Progress | None = None,
                **options: Any):
        body = {"vector_field": vector_field, "aliases": list(aliases),
                "ground_truth_field": ground_truth_field, **_options(options)}
        return self._job(self._ds(dataset, "/compare"), body, progress)

    def sweep(self, dataset: str, vector_field: str, ks: Iterable[int],
              ground_truth_field: str | None = None, *, random_state: int = 0,
              overwrite: bool = False, progress: Progress | None = None, **options: Any):
        body = {"vector_field": vector_field, "ks": [_plain(k) for k in ks],
                "ground_truth_field": ground_truth_field, "overwrite": overwrite,
                "random_state": _plain(random_state), **_options(options)}
        return self._job(self._ds(dataset, "/sweep"), body, progress)

    def sweep_grid(self, dataset: str, vector_field: str, model, param_grid,
                   ground_truth_field: str | None = None, *, overwrite: bool = False,
                   progress: Progress | None = None, **options: Any):
        body = {"vector_field": vector_field, "model": _model(model),
                "param_grid": codec.encode(param_grid), "ground_truth_field": ground_truth_field,
                "overwrite": overwrite, **_options(options)}
        return self._job(self._ds(dataset, "/sweep-grid"), body, progress)

    # -- looking inside clusters ----------------------------------------------------------
    def closest(self, dataset: str, vector_field: str, alias: str, *, n: int = 5,
                fields: Sequence[str] | None = None, metric: str = "euclidean",
                noise_label: Any = None, noise: str | None = None):
        return self._inside("closest", dataset, vector_field, alias, n=n, fields=fields,
                            metric=metric, noise_label=noise_label, noise=noise)

    def furthest(self, dataset: str, vector_field: str, alias: str, *, n: int = 5,
                 fields: Sequence[str] | None = None, metric: str = "euclidean",
                 noise_label: Any = None, noise: str | None = None):
        return self._inside("furthest", dataset, vector_field, alias, n=n, fields=fields,
                            metric=metric, noise_label=noise_label, noise=noise)

    def misfits(self, dataset: str, vector_field: str, alias: str, *, n: int = 20,
                cluster: Any = None, metric: str = "euclidean", sample_size: int | None = None,
                random_state: int | None = 0, fields: Sequence[str] | None = None,
                noise_label: Any = None, noise: str | None = None):
        return self._inside("misfits", dataset, vector_field, alias, n=n, cluster=cluster,
                            metric=metric, sample_size=sample_size, random_state=random_state,
                            fields=fields, noise_label=noise_label, noise=noise)

    def aggregate(self, dataset: str, vector_field: str, alias: str,
                  fields: Sequence[str] = (), *, top: int = 5, noise_label: Any = None,
                  noise: str | None = None):
        return self._inside("aggregate", dataset, vector_field, alias, fields=fields, top=top,
                            noise_label=noise_label, noise=noise)

    def keywords(self, dataset: str, vector_field: str, alias: str, text_field: str, *,
                 n: int = 10, stop_words: str | list[str] | None = "english",
                 ngram_range: tuple[int, int] = (1, 1), min_df: int | float = 1,
                 noise_label: Any = None, noise: str | None = None):
        return self._inside("keywords", dataset, vector_field, alias, text_field=text_field,
                            n=n, stop_words=stop_words, ngram_range=ngram_range, min_df=min_df,
                            noise_label=noise_label, noise=noise)

    def truth_breakdown(self, dataset: str, vector_field: str, alias: str,
                        ground_truth_field: str, *, top: int = 3, noise_label: Any = None,
                        noise: str | None = None):
        return self._inside("truth", dataset, vector_field, alias,
                            ground_truth_field=ground_truth_field, top=top,
                            noise_label=noise_label, noise=noise)

    def merge_clusters(self, dataset: str, vector_field: str, alias: str, groups,
                       new_alias: str | None = None) -> dict[str, Any]:
        return self._inside("merge", dataset, vector_field, alias, groups=groups,
                            new_alias=new_alias)

    def relabel(self, dataset: str, vector_field: str, alias: str, mapping,
                new_alias: str | None = None) -> dict[str, Any]:
        return self._inside("relabel", dataset, vector_field, alias, mapping=mapping,
                            new_alias=new_alias)

    def subcluster(self, dataset: str, vector_field: str, alias: str, cluster, model,
                   new_alias: str | None = None, *,
                   progress: Progress | None = None) -> dict[str, Any]:
        body = {"vector_field": vector_field, "alias": alias, "model": _model(model),
                "args": codec.encode({"cluster": _plain(cluster), "new_alias": new_alias})}
        return self._job(self._ds(dataset, "/inside/subcluster"), body, progress)

    def _inside(self, op: str, dataset: str, vector_field: str, alias: str,
                **args: Any) -> Any:
        """A look inside (or an edit) as a server job: its arguments in the codec's encoding,
        so labels, mappings and groups keep their types."""
        for name in ("random_state",):
            if isinstance(args.get(name), np.random.RandomState | np.random.Generator):
                raise InvalidInputError(f"{name} must be an int or None for a remote Client "
                                        "(a random generator cannot travel).")
        body = {"vector_field": vector_field, "alias": alias, "args": codec.encode(args)}
        return self._job(self._ds(dataset, f"/inside/{op}"), body, None)

    # -- jobs -----------------------------------------------------------------------------
    def list_jobs(self, status: str | None = None) -> list[dict]:
        """The project's jobs on the server, newest first."""
        params = {} if status is None else {"status": status}
        return self._json("GET", "/v1/jobs", params=params)["jobs"]

    def cancel_job(self, job_id: str) -> dict:
        return self._json("DELETE", f"/v1/jobs/{urllib.parse.quote(job_id, safe='')}")


FINISHED = ("done", "failed", "cancelled", "interrupted")  # a job's final states


@contextlib.contextmanager
def _terminate_as_exit():
    """SIGTERM (``kill``, a stopped container) ends a wait for a job as Ctrl-C does: the
    waiting call unwinds (and cancels its job) and the process exits with status 143. Only
    in the main thread, and only where SIGTERM has no handler of the program's own."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminated(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _model(model) -> dict:
    """A model as the server takes it: class path and codec-encoded parameters."""
    from ..clustering import ModelSpec
    spec = ModelSpec.of(model)
    return {"cls": spec.cls, "params": codec.encode(dict(spec.params))}


def _rewarn(messages) -> None:
    """The server's warnings, issued here as the embedded call issues them."""
    for message in messages:
        warnings.warn(message, ClusterMetricsWarning, stacklevel=4)


def _plain(v: Any) -> Any:
    """NumPy scalars as the Python values JSON carries."""
    return v.item() if isinstance(v, np.generic) else v


def _label(v: Any) -> Any:
    v = _plain(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _options(options: dict) -> dict:
    out = {}
    for name, value in options.items():
        if isinstance(value, np.random.RandomState | np.random.Generator):
            raise InvalidInputError(f"{name} must be an int or None for a remote Client (a "
                                    "random generator cannot travel).")
        out[name] = _plain(value)
    return out


def _upload(pieces, mode: str, progress: Progress | None) -> Iterator[bytes | memoryview]:
    """The documents as one Arrow IPC stream, a piece at a time; ``progress(mode, rows,
    total)`` as each piece is handed to the connection. The first chunk (the schema) comes
    once the first piece is read. Arrow hands the writer the columns' own buffers: they are
    sent as they are (views, not copies), and only the small message headers are joined."""
    total = pieces.parquet.metadata.num_rows if pieces.parquet is not None else None
    written: list = []

    class _Sink:
        closed = False

        def write(self, data) -> int:
            written.append(data)  # a bytes header, or a view of a column's buffer
            return len(data)

        def flush(self) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    def drain() -> Iterator[bytes | memoryview]:
        small: list = []
        for data in written:
            if len(data) < SMALL:
                small.append(data)
                continue
            if small:
                yield b"".join(small)
                small = []
            yield memoryview(data)
        written.clear()
        if small:
            yield b"".join(small)

    it = iter(pieces)
    try:
        first = next(it, None)
    except pa.ArrowException as exc:  # as the embedded store words it
        raise InvalidInputError(f"The data could not be converted: {exc}.") from None
    if first is None:
        first = pa.table({})
    from ..arrowcheck import check_schema
    check_schema(first.schema)  # as the server would, before a byte is sent
    writer = pa.ipc.new_stream(pa.PythonFile(_Sink(), mode="w"), first.schema)
    yield from drain()
    piece: pa.Table | None = first
    while piece is not None:
        try:
            writer.write_table(piece.select(first.column_names).cast(first.schema)
                               if piece is not first else piece)
        except pa.ArrowException as exc:
            raise InvalidInputError(f"The data could not be converted: {exc}.") from None
        yield from drain()
        if progress is not None and piece.num_rows:
            progress(mode, piece.num_rows, total or first.num_rows)
        piece = next(it, None)
    writer.close()
    yield from drain()


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest
