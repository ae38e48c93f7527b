"""The FastAPI application: the API surface over HTTP, one LocalAPI per project.

Routes live under ``/v1/`` and need ``Authorization: Bearer KEY``, checked by the edge
(:mod:`.edge`) before any body byte is read; the key names the project, and
each project is its own DuckDB file under ``DIR/projects/``, so no query can reach another
project's data (another project's dataset is "not found", exactly as one that does not exist).
``GET /health`` answers without a key. Bulk documents travel as Arrow IPC streams
(``application/vnd.apache.arrow.stream``) both ways; results and errors as the codec's JSON.
Long work (kmeans, metrics, report, compare, sweep) is queued as a job (202) that the client
polls; everything else answers at once. Every error answers ``{"error": <codec error>}`` with the
error's HTTP status, so the remote client raises the same class with the same message.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__, threads
from ..api import codec
from ..api.local import LocalAPI
from ..errors import (
    AuthenticationError,
    ClusterMetricsError,
    InvalidInputError,
    TooLargeError,
    TooManyJobsError,
    restore_error,
)
from ..names import check_name
from .auth import Keys, Principal, private_dir
from .edge import MAX_JSON_MB, Edge, OffLoopJSON, TooLarge
from .jobs import FINISHED, KEEP, MAX_QUEUED, TIMEOUT_S, Job, Jobs, Limits, incident, public

ARROW = "application/vnd.apache.arrow.stream"
MAX_BODY_MB = 1024
MAX_ROWS = 1_000_000  # rows of one Arrow upload: ~1 s and ~100 MB of the server's to store
MAX_ARROW_MB = 1024  # an Arrow upload's bytes once decompressed
MAX_WAIT_S = 30.0


class Settings(BaseModel):
    """How a server runs: where its data lives and its limits."""

    data_dir: str
    max_body_mb: float = MAX_BODY_MB  # Arrow uploads only
    max_json_mb: float = MAX_JSON_MB  # every other body (JSON, forms)
    max_rows: int = MAX_ROWS
    max_arrow_mb: float = MAX_ARROW_MB
    workers: int = 2
    blas_threads: int | None = None
    session_hours: float = 12.0
    # jobs (see server/jobs.py and server/workers.py): per project, at most this many running
    # (None: as many as workers) and waiting, and remembered once finished
    max_running_per_project: int | None = None
    max_queued_per_project: int = MAX_QUEUED
    # reads of a whole dataset answered on the request path (centroids, export), per project
    max_reads_per_project: int = 2
    job_history: int = KEEP
    job_timeout_s: float = TIMEOUT_S  # a job's time limit
    job_memory_mb: float = 4096  # what a fit may allocate in its worker beyond its input
    # bounds on what sizes a job's work, checked before anything is queued (see Limits)
    max_resamples: int = Limits.max_resamples
    max_grid: int = Limits.max_grid
    max_n_init: int = Limits.max_n_init
    max_iter: int = Limits.max_iter
    max_clusters: int = Limits.max_clusters
    max_quadratic_rows: int = Limits.max_quadratic_rows
    max_sample: int = Limits.max_sample
    max_items: int = Limits.max_items
    # the model classes fit, stability and grid sweeps may build (import paths); None: any
    # importable class. A remote caller names a class: by default only the known algorithms.
    models: list[str] | None = Field(default_factory=lambda: sorted(_algorithms()))


def _algorithms() -> list[str]:
    from ..clustering import ALGORITHMS
    return list(ALGORITHMS.values())


class Projects:
    """One LocalAPI per project, opened on first use: ``DIR/projects/NAME.duckdb``."""

    def __init__(self, data_dir: str, models: list[str] | None = None, runner=None):
        self.dir, self.models = os.path.join(data_dir, "projects"), models
        self.runner = runner  # where the projects' fits run (None: in this process)
        private_dir(self.dir)
        os.chmod(self.dir, 0o700)  # the projects' stores: this user's only, even if made before
        self._apis: dict[str, LocalAPI] = {}
        self._lock = threading.Lock()

    def api(self, project: str) -> LocalAPI:
        check_name(project, "project name")
        with self._lock:
            api = self._apis.get(project)
            if api is None:
                # the server is the only process that opens its stores: it keeps them open
                path = os.path.join(self.dir, f"{project}.duckdb")
                api = LocalAPI(path, keep_open=True, models=self.models, runner=self.runner)
                for name in (path, path + ".wal"):  # in a 0700 folder; 0600 all the same
                    if os.path.exists(name):
                        os.chmod(name, 0o600)
                self._apis[project] = api
            return api

    def opened(self, project: str) -> LocalAPI | None:
        """The project's store if it is open already (no waiting, no file opened)."""
        return self._apis.get(project)

    def close(self, project: str | None = None) -> None:
        """Close one project's store (it opens again on its next request), or all."""
        with self._lock:
            names = list(self._apis) if project is None else [project]
            for name in names:
                api = self._apis.pop(name, None)
                if api is not None:
                    api.close()


class ReadSlots:
    """Reads of a whole dataset answered on the request path (``GET .../centroids``,
    ``GET .../export``), at most ``per_project`` at once for each project: each holds a
    request thread, a reader thread and its batches, so a project's flood of them would take
    the server's threads and memory from the others. One over is refused at once (429)."""

    def __init__(self, per_project: int):
        self.per_project = max(1, int(per_project))
        self.running: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self, project: str) -> Iterator[None]:
        with self._lock:
            if self.running[project] >= self.per_project:
                raise TooManyJobsError(
                    f"Project {project!r} has {self.running[project]} reads of a whole dataset "
                    "running (centroids, export): wait for one to finish, then ask again. A "
                    "server allows --max-reads-per-project of them at once.")
            self.running[project] += 1
        try:
            yield
        finally:
            with self._lock:
                self.running[project] -= 1


class Server:
    """What the routes share: settings, keys, projects, jobs and web sessions."""

    def __init__(self, settings: Settings):
        from .web import Sessions
        from .workers import WorkerRunner
        self.settings = settings
        self.keys = Keys(settings.data_dir)
        self.limits = Limits(**{name: getattr(settings, name) for name in (
            "max_resamples", "max_grid", "max_n_init", "max_iter", "max_clusters",
            "max_quadratic_rows", "max_sample", "max_items")})
        # each of the jobs running at once: its share of the cores (a fit's worker's threads)
        per_job = settings.blas_threads or threads.share(settings.workers)
        runner = WorkerRunner(os.path.join(settings.data_dir, "tmp"),
                              memory_mb=settings.job_memory_mb, threads=per_job,
                              limits=self.limits)
        self.projects = Projects(settings.data_dir, settings.models, runner)
        self.jobs = Jobs(settings.workers, per_job,
                         max_running=settings.max_running_per_project,
                         max_queued=settings.max_queued_per_project,
                         history=settings.job_history, timeout_s=settings.job_timeout_s,
                         records_dir=os.path.join(settings.data_dir, "jobs"),
                         key_active=lambda key_id: self.keys.active(key_id) is not None)
        self.sessions = Sessions(settings.session_hours)
        self.reads = ReadSlots(settings.max_reads_per_project)

    def close(self) -> None:
        self.jobs.shutdown()
        self.projects.close()
        self.keys.close()


# -- request and response bodies (the OpenAPI schema is generated from these) -----------------

MAX_JSON_DEPTH = 32  # lists and objects inside a request body


class _Body(BaseModel):
    """A JSON request body. Its values are plain JSON: a NaN or infinity (which Python's
    parser lets through) or nesting deeper than 32 levels is refused, naming the field. Values
    that an operation checks itself are typed ``Any`` here, so that a remote call is refused
    by the same check, in the same words, as an embedded one."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _plain_json(cls, data: Any) -> Any:
        _check_json(data, "", 0)
        return data


def _check_json(value: Any, where: str, depth: int) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(
            f"Malformed request: field {where or 'body'!r} is {value!r}, which is not a JSON "
            "number; send a finite number (a parameter's NaN or infinity travels as the "
            "codec writes it: {\"__type__\": \"float\", \"value\": \"nan\"}).")
    if isinstance(value, dict | list):
        if depth >= MAX_JSON_DEPTH:
            raise InvalidInputError(f"Malformed request: field {where or 'body'!r} nests lists "
                                    f"or objects deeper than {MAX_JSON_DEPTH} levels; send a "
                                    "flatter value.")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            _check_json(item, f"{where}.{key}" if where else str(key), depth + 1)


Label = int | float | str | bool | None


class MetricOptions(_Body):
    """Options of the metrics, as :func:`clustermetrics.evaluate` takes them."""

    metric: Any = Field("euclidean", description="euclidean, cosine, sqeuclidean, manhattan...")
    sample_size: Any = Field(None, description="Score a stratified sample (an integer >= 1).")
    noise_label: Label = Field(None, description="The label that marks noise, e.g. -1.")
    noise: Any = Field(None, description="How noise counts: exclude, cluster or singletons",
                       json_schema_extra={"enum": ["exclude", "cluster", "singletons", None]})
    working_memory: Any = Field(None, description="MiB for distance blocks (a number > 0).")
    exact: Any = Field(False, description="The exact silhouette at any size (else a pairwise "
                                          "one beyond 20,000 documents is estimated from a "
                                          "sample)")

    @model_validator(mode="after")
    def _options(self) -> MetricOptions:
        from ..api.local import check_option_values
        check_option_values({"metric": self.metric, "sample_size": self.sample_size,
                             "noise": self.noise, "working_memory": self.working_memory,
                             "random_state": getattr(self, "random_state", None),
                             "exact": self.exact})
        return self


def _new_alias(name: str | None) -> str | None:
    """A fit's alias checked when the request arrives, in the embedded call's words."""
    return None if name is None else check_name(name, "alias")


# the alias a fit writes: refused at once (422), not by the job it would have queued
NewAlias = Annotated[str | None, AfterValidator(_new_alias)]


class KMeansRequest(_Body):
    vector_field: str
    k: Any = Field(description="The number of clusters, an integer from 2 to the documents' "
                               "count less one")
    alias: NewAlias = None
    random_state: Any = Field(0, description="An integer seed")
    minibatch: bool | None = None

    @model_validator(mode="after")
    def _k(self) -> KMeansRequest:
        from ..api.local import check_k_values, check_random_state
        check_k_values([self.k])
        check_random_state(self.random_state)
        return self


class MetricsRequest(MetricOptions):
    vector_field: str
    cluster_alias: str
    ground_truth_field: str | None = None
    random_state: Any = Field(None, description="An integer seed, or null")


class ReportRequest(MetricOptions):
    vector_field: str
    cluster_alias: str
    ground_truth_field: str | None = None
    hover_fields: list[str] = []
    max_points: Any = Field(3000, description="Points drawn (an integer >= 1)")
    projection: Any = Field("pca", description="pca or tsne")
    random_state: Any = Field(0, description="An integer seed")
    text_field: str | None = Field(None, description="A text field: keywords on the cards")
    examples: Any = Field(3, description="Documents per cluster card (closest, misfits)")

    @model_validator(mode="after")
    def _report(self) -> ReportRequest:
        from ..api.local import check_report_options
        check_report_options(self.projection, self.max_points, self.random_state)
        return self


class CompareRequest(MetricOptions):
    vector_field: str
    aliases: list[str]
    ground_truth_field: str | None = None
    random_state: Any = Field(None, description="An integer seed, or null")


class SweepRequest(MetricOptions):
    vector_field: str
    ks: list[Any] = Field(description="The k of each run (integers)")
    ground_truth_field: str | None = None
    random_state: Any = Field(0, description="An integer seed")
    overwrite: bool = Field(False, description="Replace kmeans_{k} aliases a sweep did not "
                                               "make")

    @model_validator(mode="after")
    def _ks(self) -> SweepRequest:
        from ..api.local import check_k_values
        check_k_values(self.ks)
        return self


class AliasesRequest(_Body):
    vector_field: str | None = None


class IdsRequest(_Body):
    ids: list[str]


class GetDocumentsRequest(_Body):
    ids: list[str]
    fields: list[str] | None = None


class VectorFieldRequest(_Body):
    field: str = Field(description="A stored field of lists of numbers")


class LabelsRequest(_Body):
    vector_field: str
    alias: str
    ids: list[str]
    labels: list[Label]
    noise_label: Label = Field(None, description="Recorded with the alias, applied as noise")


class ModelBody(_Body):
    """A clustering model as data (``clustermetrics.clustering.ModelSpec``)."""

    cls: str = Field(description="The class's import path, e.g. sklearn.cluster.HDBSCAN")
    params: dict[str, Any] = Field({}, description="Constructor parameters (codec encoding)")

    def spec(self):
        from ..clustering import ModelSpec
        return ModelSpec(self.cls, codec.decode_request(self.params, "model.params"))


class FitRequest(_Body):
    vector_field: str
    model: ModelBody
    alias: NewAlias = None
    # checked by the operation itself, with the same message as an embedded call
    precision: Any = Field(None, description="auto (the default), float32 or float64")


class StabilityRequest(_Body):
    vector_field: str
    model: ModelBody
    alias: NewAlias = None
    # checked by the operation itself, with the same messages as an embedded call
    n_resamples: Any = Field(20, description="An integer >= 1")
    fraction: Any = Field(0.8, description="A number between 0 and 1 (exclusive)")
    random_state: Any = Field(0, description="An integer or null")


class SweepGridRequest(MetricOptions):
    vector_field: str
    model: ModelBody
    param_grid: Any = Field(description="{param: [values]} or a list of such (codec encoding)")
    ground_truth_field: str | None = None
    overwrite: bool = False
    random_state: Any = Field(None, description="An integer seed, or null")


class InsideRequest(_Body):
    """A look inside an alias's clusters, or an edit that makes a new alias."""

    vector_field: str
    alias: str
    args: dict[str, Any] = Field({}, description="The call's keyword arguments (codec "
                                                 "encoding), as the Python API names them")


class SubclusterRequest(InsideRequest):
    model: ModelBody


class JobView(BaseModel):
    id: str
    project: str
    op: str
    status: Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
    params: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    events: list[tuple[str, int, int | None]] = Field(
        description="Progress events (stage, done in this event, total) from 'since' on.")
    next: int = Field(description="The 'since' that asks for the events after these.")
    cancel_requested: bool
    result: Any = Field(None, description="The codec's encoding of the result, once done "
                                          "(not kept across a restart of the server).")
    warnings: list[str] = Field([], description="ClusterMetricsWarning messages of the work")
    error: dict[str, Any] | None = Field(None, description="The codec's error, once failed.")


class JobList(BaseModel):
    jobs: list[JobView]


class ErrorBody(BaseModel):
    error: dict[str, Any] = Field(description="code, message and state of the error")


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class DatasetList(BaseModel):
    datasets: list[str]


class Count(BaseModel):
    count: int


class SchemaView(BaseModel):
    schema_: dict[str, str] = Field(alias="schema")


class WriteResult(BaseModel):
    inserted: int
    updated: int
    labels_dropped: dict[str, dict[str, int]] = Field(
        {}, description="vector field -> alias -> labels dropped for changed vectors")
    widened: dict[str, str] = Field({}, description="field -> 'OLD -> NEW' type")


class Deleted(BaseModel):
    deleted: int


class Labelled(BaseModel):
    labelled: int


class Encoded(BaseModel):
    value: Any = Field(description="The codec's encoding of the result.")
    warnings: list[str] = Field([], description="ClusterMetricsWarning messages of the call")


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
          for status, text in [(401, "No, a wrong or a revoked API key"),
                               (404, "An unknown dataset, field, alias or job"),
                               (413, "A request body over the server's limit"),
                               (422, "A malformed request or invalid input")]}
_ARROW_BODY = {"requestBody": {"required": True, "content": {
    ARROW: {"schema": {"type": "string", "format": "binary"}}}}}
_ARROW_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "content": {ARROW: {"schema": {"type": "string", "format": "binary"}}},
    "description": "An Arrow IPC stream of the documents"}}


# -- the application ------------------------------------------------------------------------

def create_app(settings: Settings | str) -> FastAPI:
    """The server's ASGI application (``settings`` or just the data directory).

    Made in the main thread, it sets this process's BLAS to one thread: the server's own work
    (metrics, reports) runs on its kernel threads, one per core, and fits run in worker
    processes on their share; OpenBLAS then ignores the limits its other threads ask for
    (:mod:`clustermetrics.threads`), so the jobs' threads cannot raise it."""
    if isinstance(settings, str):
        settings = Settings(data_dir=settings)
    if threading.current_thread() is threading.main_thread():
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")
    server = Server(settings)
    app = FastAPI(title="clustermetrics", version=__version__,
                  description="Store documents and vectors, cluster them and measure the "
                              "clusterings. Send 'Authorization: Bearer KEY' on /v1/ routes.",
                  docs_url=None, redoc_url=None)  # served from the package: server/assets.py
    app.state.server = server
    app.add_middleware(Edge, server=server)  # the key before the body; limits; headers
    app.router.on_shutdown.append(server.close)
    _handlers(app)
    from .assets import router as assets
    from .web import router as pages
    app.include_router(router)
    app.include_router(pages)
    app.include_router(assets)
    return app


bearer_scheme = HTTPBearer(auto_error=False, description="An API key of the project")


async def principal(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None,
                                                       Security(bearer_scheme)]) -> Principal:
    """The project and key of a request, as the edge checked them before the body was read
    (``creds`` is here for the OpenAPI schema)."""
    who = request.scope.get("state", {}).get("principal")
    if who is None:  # not under /v1/: the edge did not check it
        raise AuthenticationError("An API key is needed: send 'Authorization: Bearer KEY'.")
    return who


async def project_api(request: Request,
                      who: Annotated[Principal, Depends(principal)]) -> LocalAPI:
    """The key's project's store: the only one this request can reach (opened on a worker
    thread the first time)."""
    projects = request.app.state.server.projects
    return projects.opened(who.project) or await run_in_threadpool(projects.api, who.project)


def _jobs(request: Request) -> Jobs:
    return request.app.state.server.jobs


ProjectAPI = Annotated[LocalAPI, Depends(project_api)]
Who = Annotated[Principal, Depends(principal)]


async def read_slot(request: Request, who: Who) -> AsyncIterator[None]:
    """One of the project's slots for a whole-dataset read on the request path, taken on the
    event loop: a project over its slots is refused before a thread or memory is taken."""
    with request.app.state.server.reads.slot(who.project):
        yield


ReadSlot = Depends(read_slot)
JobsDep = Annotated[Jobs, Depends(_jobs)]
router = APIRouter(route_class=OffLoopJSON)  # JSON bodies parsed off the event loop
v1: dict[str, Any] = {"responses": ERRORS}
jobs_route: dict[str, Any] = {"status_code": 202, "response_model": JobView, "tags": ["jobs"],
                              "responses": ERRORS}


@router.get("/health", response_model=Health, tags=["server"])
async def health() -> dict:  # on the event loop: it answers however busy the threads are
    """Whether the server is up (no key needed)."""
    return {"status": "ok", "version": __version__}


# -- datasets -------------------------------------------------------------------------------

@router.get("/v1/datasets", response_model=DatasetList, tags=["datasets"], **v1)
def list_datasets(api: ProjectAPI) -> dict:
    """The project's datasets, sorted."""
    return {"datasets": api.list_datasets()}


@router.get("/v1/datasets/{dataset}", tags=["datasets"], **v1)
def describe_dataset(dataset: str, api: ProjectAPI) -> dict[str, Any]:
    """Fields (type, present count, vector dimension), document count and aliases."""
    return codec.encode(api.describe_dataset(dataset))


@router.get("/v1/datasets/{dataset}/count", response_model=Count, tags=["datasets"], **v1)
def count(dataset: str, api: ProjectAPI) -> dict:
    """The number of documents."""
    return {"count": api.count(dataset)}


@router.get("/v1/datasets/{dataset}/schema", response_model=SchemaView, tags=["datasets"],
            **v1)
def schema(dataset: str, api: ProjectAPI) -> dict:
    """Field -> type (vector fields as FLOAT[d]; label columns left out)."""
    return {"schema": api.schema(dataset)}


@router.delete("/v1/datasets/{dataset}", status_code=204, tags=["datasets"], **v1)
def delete_dataset(dataset: str, api: ProjectAPI) -> Response:
    """Drop a dataset with its aliases."""
    api.delete_dataset(dataset)
    return Response(status_code=204)


# -- documents ------------------------------------------------------------------------------

@router.post("/v1/datasets/{dataset}/documents", response_model=WriteResult,
             tags=["documents"], openapi_extra=_ARROW_BODY, **v1)
async def write_documents(
        dataset: str, request: Request, api: ProjectAPI,
        mode: Annotated[Literal["insert", "upsert"], Query()] = "insert",
        vector_fields: Annotated[list[str] | None, Query()] = None) -> dict:
    """Write documents sent as one Arrow IPC stream, all or nothing: "insert" replaces whole
    documents, "upsert" merges fields."""
    body = await _read_body(request)
    table = await run_in_threadpool(_from_ipc, body, request.app.state.server.settings)
    return await run_in_threadpool(api.write_documents, dataset, table, mode=mode,
                                   vector_fields=tuple(vector_fields or ()))


@router.put("/v1/datasets/{dataset}/vector-field", tags=["documents"], **v1)
def set_vector_field(dataset: str, body: VectorFieldRequest, api: ProjectAPI) -> dict[str, Any]:
    """Make a stored field of lists of numbers a vector field (FLOAT[d]), all or nothing."""
    return codec.encode(api.set_vector_field(dataset, body.field))


@router.post("/v1/datasets/{dataset}/documents/get", tags=["documents"],
             responses={**ERRORS, 200: {**_ARROW_RESPONSE[200], "content": {
                 **_ARROW_RESPONSE[200]["content"],
                 "application/json": {"schema": {"type": "object"}}}}})
def get_documents(dataset: str, body: GetDocumentsRequest, api: ProjectAPI,
                  request: Request) -> Response:
    """The documents with these ids, in the order asked (unknown ids skipped): an Arrow IPC
    stream, or JSON (``{"documents": [...]}``, nested) with ``Accept: application/json``."""
    table = api.get_documents(dataset, body.ids, body.fields)
    if "application/json" in request.headers.get("accept", ""):
        from ..names import nest
        return JSONResponse({"documents": codec.encode([nest(r) for r in table.to_pylist()])})
    return Response(codec.to_ipc(table), media_type=ARROW)


@router.post("/v1/datasets/{dataset}/documents/delete", response_model=Deleted,
             tags=["documents"], **v1)
def delete_documents(dataset: str, body: IdsRequest, api: ProjectAPI) -> dict:
    """Delete documents by id; answers how many existed."""
    return {"deleted": api.delete_documents(dataset, body.ids)}


@router.get("/v1/datasets/{dataset}/export", tags=["documents"],
            responses={**ERRORS, **_ARROW_RESPONSE})
def export_documents(dataset: str, api: ProjectAPI, _: Annotated[None, ReadSlot]) -> Response:
    """Every document (label columns included) as an Arrow IPC stream."""
    table = api.export_documents(dataset).read_all()
    return StreamingResponse(_ipc_chunks(table), media_type=ARROW)


# -- aliases --------------------------------------------------------------------------------

@router.get("/v1/datasets/{dataset}/aliases", tags=["aliases"], **v1)
def list_aliases(dataset: str, api: ProjectAPI,
                 vector_field: str | None = None) -> list[dict[str, Any]]:
    """vector_field, alias, clusters, labelled and method of each alias."""
    return codec.encode(api.list_aliases(dataset, vector_field))


@router.post("/v1/datasets/{dataset}/aliases/metrics", **jobs_route)
def list_aliases_metrics(dataset: str, body: AliasesRequest, who: Who, api: ProjectAPI,
                         jobs: JobsDep) -> JSONResponse:
    """Queue the listing of the aliases with the headline metrics kept with each: served
    from the store, computed (once) for an alias whose documents changed."""
    api.check(dataset)
    return _submit(jobs, who, "aliases", {"dataset": dataset, **body.model_dump()},
                   lambda progress: api.list_aliases(dataset, body.vector_field,
                                                     metrics=True))


@router.get("/v1/datasets/{dataset}/alias", tags=["aliases"], **v1)
def describe_alias(dataset: str, vector_field: str, alias: str,
                   api: ProjectAPI) -> dict[str, Any]:
    """How an alias was made (method, params) and its cluster sizes (codec encoding)."""
    return codec.encode(api.describe_alias(dataset, vector_field, alias))


@router.delete("/v1/datasets/{dataset}/alias", status_code=204, tags=["aliases"], **v1)
def delete_alias(dataset: str, vector_field: str, alias: str, api: ProjectAPI) -> Response:
    """Delete one alias's labels."""
    api.delete_alias(dataset, vector_field, alias)
    return Response(status_code=204)


@router.put("/v1/datasets/{dataset}/labels", response_model=Labelled, tags=["aliases"], **v1)
def set_cluster_labels(dataset: str, body: LabelsRequest, api: ProjectAPI) -> dict:
    """Store labels for the given ids under an alias, all or nothing."""
    if len(body.ids) != len(body.labels):
        raise InvalidInputError(f"ids and labels differ in length ({len(body.ids)} ids, "
                                f"{len(body.labels)} labels).")
    return {"labelled": api.set_cluster_labels(dataset, body.vector_field, body.alias,
                                               body.ids, body.labels,
                                               noise_label=body.noise_label)}


@router.get("/v1/datasets/{dataset}/distribution", response_model=Encoded,
            tags=["evaluation"], **v1)
def distribution(dataset: str, vector_field: str, cluster_alias: str, api: ProjectAPI,
                 ground_truth_field: str | None = None) -> dict:
    """Cluster sizes, or clusters x ground-truth counts (a DataFrame, codec encoding)."""
    return {"value": codec.encode(api.distribution(dataset, vector_field, cluster_alias,
                                                   ground_truth_field))}


@router.get("/v1/datasets/{dataset}/centroids", response_model=Encoded, tags=["evaluation"],
            **v1)
def centroids(dataset: str, vector_field: str, cluster_alias: str, api: ProjectAPI,
              _: Annotated[None, ReadSlot],
              noise_label: Annotated[str | None, Query(
                  description="The noise label as JSON (-1, \"noise\"): left out")] = None
              ) -> dict:
    """Each cluster's mean vector (a DataFrame, codec encoding)."""
    from ..api.local import collect_warnings
    with collect_warnings() as caught:
        value = api.centroids(dataset, vector_field, cluster_alias,
                              noise_label=_json_value(noise_label, "noise_label"))
    return {"value": codec.encode(value), "warnings": caught}


def _json_value(text: str | None, name: str) -> Any:
    import json
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        pass
    else:
        if value is None or isinstance(value, bool | int | str) or (
                isinstance(value, float) and math.isfinite(value)):
            return value
    raise InvalidInputError(f"Malformed request: field {name!r} (query) must be a JSON number "
                            f"or string (-1, \"noise\"); got {text[:40]!r}.")


# -- jobs -----------------------------------------------------------------------------------

def _submit(jobs: Jobs, who: Principal, op: str, params: dict, fn: Callable) -> JSONResponse:
    job = jobs.submit(who.project, op, params, fn, key_id=who.key_id)
    return JSONResponse(job.view(), status_code=202)


def _fields(*names: str | None) -> list[str]:
    return [n for n in names if n]


def _limits(request: Request) -> Limits:
    return request.app.state.server.limits


LimitsDep = Annotated[Limits, Depends(_limits)]


@router.post("/v1/datasets/{dataset}/kmeans", **jobs_route)
def kmeans(dataset: str, body: KMeansRequest, who: Who, api: ProjectAPI,
           jobs: JobsDep, limits: LimitsDep) -> JSONResponse:
    """Queue k-means on the vectors, stored as ``alias`` (default ``kmeans_{k}``)."""
    args = body.model_dump()
    limits.check_k(body.k)
    api.check(dataset, body.vector_field)
    return _submit(jobs, who, "kmeans", {"dataset": dataset, **args},
                   lambda progress: api.kmeans(dataset, progress=progress, **args))


@router.post("/v1/datasets/{dataset}/fit", **jobs_route)
def fit(dataset: str, body: FitRequest, who: Who, api: ProjectAPI,
        jobs: JobsDep, limits: LimitsDep) -> JSONResponse:
    """Queue a fit of any served model class; its labels are stored as ``alias``."""
    spec = body.model.spec().require_allowed(api.models)
    limits.check_params(spec.params)
    limits.check_rows(spec.cls, api.check(dataset, body.vector_field) or 0)
    return _submit(jobs, who, "fit", {"dataset": dataset, **body.model_dump()},
                   lambda progress: api.fit(dataset, body.vector_field, spec, body.alias,
                                            precision=body.precision, progress=progress))


@router.post("/v1/datasets/{dataset}/stability", **jobs_route)
def stability(dataset: str, body: StabilityRequest, who: Who, api: ProjectAPI,
              jobs: JobsDep, limits: LimitsDep) -> JSONResponse:
    """Queue a fit and its refits on random subsamples: per-cluster stability."""
    from ..stability import check_options
    spec = body.model.spec().require_allowed(api.models)
    check_options(body.n_resamples, body.fraction, body.random_state)
    limits.check_resamples(body.n_resamples)
    limits.check_params(spec.params)
    limits.check_rows(spec.cls, api.check(dataset, body.vector_field) or 0)
    args = body.model_dump(exclude={"vector_field", "model", "alias"})
    return _submit(jobs, who, "stability", {"dataset": dataset, **body.model_dump()},
                   lambda progress: api.stability(dataset, body.vector_field, spec, body.alias,
                                                  progress=progress, **args))


@router.post("/v1/datasets/{dataset}/sweep-grid", **jobs_route)
def sweep_grid(dataset: str, body: SweepGridRequest, who: Who, api: ProjectAPI,
               jobs: JobsDep, limits: LimitsDep) -> JSONResponse:
    """Queue one fit per combination of a parameter grid, and the metrics of each."""
    spec = body.model.spec().require_allowed(api.models)
    grid = codec.decode_request(body.param_grid, "param_grid")
    limits.check_grid(grid)  # counted before the combinations are made
    limits.check_params(spec.params)
    limits.check_rows(spec.cls, api.check(dataset, body.vector_field) or 0)
    limits.check_sample(body.sample_size)
    args = body.model_dump(exclude={"vector_field", "model", "param_grid",
                                    "ground_truth_field", "overwrite", "random_state"})
    if body.random_state is not None:
        args["random_state"] = body.random_state
    return _submit(jobs, who, "sweep", {"dataset": dataset, **body.model_dump()},
                   lambda progress: api.sweep_grid(dataset, body.vector_field, spec, grid,
                                                   body.ground_truth_field,
                                                   overwrite=body.overwrite,
                                                   progress=progress, **args))


@router.post("/v1/datasets/{dataset}/metrics", **jobs_route)
def metrics(dataset: str, body: MetricsRequest, who: Who, api: ProjectAPI,
            jobs: JobsDep, limits: LimitsDep) -> JSONResponse:
    """Queue the metrics of one stored clustering."""
    limits.check_sample(body.sample_size)
    args = body.model_dump()
    api.check(dataset, body.vector_field, [body.cluster_alias],
              _fields(body.ground_truth_field))
    return _submit(jobs, who, "metrics", {"dataset": dataset, **args},
                   lambda progress: api.metrics(dataset, progress=progress, **args))


@router.post("/v1/datasets/{dataset}/report", **jobs_route)
def report(dataset: str, body: ReportRequest, who: Who, api: ProjectAPI,
           jobs: JobsDep, limits: LimitsDep) -> JSONResponse:
    """Queue what a report draws (metrics, projection, contingency, centroid distances); the
    client draws the page."""
    limits.check_sample(body.sample_size)
    limits.check_sample(body.max_points, "max_points")
    args = body.model_dump()
    return _submit(jobs, who, "report", {"dataset": dataset, **args},
                   lambda progress: api.report_data(dataset, progress=progress, **args))


@router.post("/v1/datasets/{dataset}/compare", **jobs_route)
def compare(dataset: str, body: CompareRequest, who: Who, api: ProjectAPI,
            jobs: JobsDep, limits: LimitsDep) -> JSONResponse:
    """Queue the metrics of several aliases, one table."""
    limits.check_sample(body.sample_size)
    args = body.model_dump()
    if body.aliases:
        api.check(dataset, body.vector_field, body.aliases, _fields(body.ground_truth_field))
    return _submit(jobs, who, "compare", {"dataset": dataset, **args},
                   lambda progress: api.compare(dataset, progress=progress, **args))


@router.post("/v1/datasets/{dataset}/sweep", **jobs_route)
def sweep(dataset: str, body: SweepRequest, who: Who, api: ProjectAPI,
          jobs: JobsDep, limits: LimitsDep) -> JSONResponse:
    """Queue k-means for each k and the metrics of each."""
    args = body.model_dump()
    limits.check_ks(body.ks)
    limits.check_sample(body.sample_size)
    if body.ks:
        api.check(dataset, body.vector_field)
    return _submit(jobs, who, "sweep", {"dataset": dataset, **args},
                   lambda progress: api.sweep(dataset, progress=progress, **args))


INSIDE = {"closest": "closest", "furthest": "furthest", "misfits": "misfits",
          "aggregate": "aggregate", "keywords": "keywords", "truth": "truth_breakdown",
          "merge": "merge_clusters", "relabel": "relabel"}


def _inside_args(api: LocalAPI, method: str, encoded: dict[str, Any]) -> dict[str, Any]:
    """The decoded keyword arguments of an inside call; a name the call does not take is
    refused here, naming the ones it takes."""
    import inspect
    args = codec.decode_request(encoded, "args")  # plain values only: never Arrow or a class
    if not isinstance(args, dict):
        raise InvalidInputError("Malformed request: 'args' must be an object.")
    for name, value in args.items():
        _plain_data(value, name)
    taken = [p for p in inspect.signature(getattr(api, method)).parameters
             if p not in ("dataset", "vector_field", "alias", "progress", "model")]
    unknown = [k for k in args if k not in taken]
    if unknown:
        raise InvalidInputError(f"Malformed request: {method} takes no argument "
                                f"{unknown[0]!r}; it takes {', '.join(taken)}.")
    return args


def _plain_data(value: Any, name: str) -> None:
    """Arguments are plain data (numbers, text, lists, dicts, tuples), never a result type
    the codec could rebuild."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _plain_data(v, name)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _plain_data(k, name)
            _plain_data(v, name)
        return
    raise InvalidInputError(f"Malformed request: argument {name!r} holds a "
                            f"{type(value).__name__}; give numbers, text, lists and objects.")


@router.post("/v1/datasets/{dataset}/inside/subcluster", **jobs_route)
def subcluster(dataset: str, body: SubclusterRequest, who: Who, api: ProjectAPI,
               jobs: JobsDep, limits: LimitsDep) -> JSONResponse:
    """Queue a fit of a served model on one cluster's documents, stored as a new alias (in a
    worker process, whose runner checks the cluster's rows against the quadratic limit)."""
    spec = body.model.spec().require_allowed(api.models)
    limits.check_params(spec.params)
    args = _inside_args(api, "subcluster", body.args)
    api.check(dataset, body.vector_field, [body.alias])
    return _submit(jobs, who, "subcluster", {"dataset": dataset, **body.model_dump()},
                   lambda progress: api.subcluster(dataset, body.vector_field, body.alias,
                                                   model=spec, progress=progress, **args))


@router.post("/v1/datasets/{dataset}/inside/{op}", **jobs_route)
def inside(dataset: str, op: Literal["closest", "furthest", "misfits", "aggregate", "keywords",
                                     "truth", "merge", "relabel"],
           body: InsideRequest, who: Who, api: ProjectAPI, jobs: JobsDep,
           limits: LimitsDep) -> JSONResponse:
    """Queue a look inside an alias's clusters (representatives, misfits, field summaries,
    keywords, the breakdown against the truth) or an edit that makes a new alias."""
    method = INSIDE[op]
    args = _inside_args(api, method, body.args)
    limits.check_sample(args.get("sample_size"))
    limits.check_items(args)
    api.check(dataset, body.vector_field, [body.alias])
    return _submit(jobs, who, op, {"dataset": dataset, **body.model_dump()},
                   lambda progress: getattr(api, method)(dataset, body.vector_field,
                                                         body.alias, **args))


@router.get("/v1/jobs", response_model=JobList, tags=["jobs"], **v1)
def list_jobs(who: Who, jobs: JobsDep,
              status: Literal["queued", "running", "done", "failed", "cancelled",
                              "interrupted"] | None = None) -> dict:
    """The project's jobs, newest first (results left out)."""
    views = []
    for job in jobs.list_jobs(who.project, status):
        view = job.view(len(job.events))
        view.pop("result", None)
        views.append(view)
    return {"jobs": views}


@router.get("/v1/jobs/{job_id}", response_model=JobView, tags=["jobs"], **v1)
async def get_job(job_id: str, who: Who, jobs: JobsDep,
                  since: Annotated[int, Query(ge=0)] = 0,
                  wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0) -> JSONResponse:
    """A job's status, its progress events from ``since`` on and, once done, its result. With
    ``wait`` the answer waits (up to that many seconds) for a new event or the end."""
    job = jobs.get(who.project, job_id)
    await _wait(job, since, wait)
    return JSONResponse(job.view(since))


@router.delete("/v1/jobs/{job_id}", response_model=JobView, tags=["jobs"], **v1)
def cancel_job(job_id: str, who: Who, jobs: JobsDep) -> JSONResponse:
    """Cancel a job: a queued job never starts; a running one stops at its next progress
    event, or at once in the middle of a fit (its worker process is stopped), and the write it
    was making rolls back (a sweep keeps the aliases of the values it had finished)."""
    job = jobs.cancel(who.project, job_id)
    return JSONResponse(job.view(len(job.events)))


async def _wait(job: Job, since: int, wait: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while (len(job.events) <= since and job.status not in FINISHED
           and loop.time() < deadline):
        await asyncio.sleep(0.02)


# -- bodies ---------------------------------------------------------------------------------

async def _read_body(request: Request) -> bytes:
    chunks = [chunk async for chunk in request.stream()]
    return b"".join(chunks)


def _from_ipc(body: bytes, settings: Settings) -> pa.Table:
    """The documents of an Arrow upload, read under the server's caps and checked in full
    (:func:`clustermetrics.arrowcheck.read_stream`) before anything else touches them."""
    from ..arrowcheck import Limits, read_stream
    return read_stream(body, Limits(max_rows=settings.max_rows,
                                    max_bytes=int(settings.max_arrow_mb * 2**20)))


def _ipc_chunks(table: pa.Table) -> Iterator[bytes]:
    sink: list[bytes] = []

    class _Sink:
        closed = False

        def write(self, data) -> int:
            sink.append(bytes(data))
            return len(data)

        def flush(self) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    writer = pa.ipc.new_stream(pa.PythonFile(_Sink(), mode="w"), table.schema)
    for batch in table.to_batches(max_chunksize=16_384):
        writer.write_batch(batch)
        yield b"".join(sink)
        sink.clear()
    writer.close()
    yield b"".join(sink)


# -- errors ---------------------------------------------------------------------------------

def _validation_error(exc: RequestValidationError) -> ClusterMetricsError:
    """The error a malformed request answers: the project's own error where a check of ours
    refused a value (the same words an embedded call gives), else each field's problem."""
    errors = exc.errors()
    for e in errors:
        ours = (e.get("ctx") or {}).get("error")
        if isinstance(ours, ClusterMetricsError):
            return ours
    parts = []
    for e in errors[:5]:
        loc = [str(p) for p in e.get("loc", ())]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:]) or where
        parts.append(f"field {name!r} ({where}): {e.get('msg', 'invalid')}")
    more = f" and {len(errors) - 5} more" if len(errors) > 5 else ""
    return InvalidInputError("Malformed request: " + "; ".join(parts) + more + ".")


def _handlers(app: FastAPI) -> None:
    """Every error as the codec's JSON, or, to a browser outside the API
    (:func:`.web.wants_page`), as a page that says the same."""
    from .web import error_page, wants_page

    def page(request: Request) -> bool:
        return wants_page(request.url.path, request.headers.get("accept", ""))

    def answer(exc: ClusterMetricsError, status: int | None = None, **extra) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
        return JSONResponse({"error": codec.encode_error(exc), **extra},
                            status_code=status or exc.http_status, headers=headers)

    @app.exception_handler(ClusterMetricsError)
    async def project_error(request: Request, exc: ClusterMetricsError) -> Response:
        if isinstance(exc, TooLargeError):  # its frames hold the request's data: let go now
            from ..documents import give_memory_back
            exc.__traceback__ = exc.__context__ = None
            await asyncio.to_thread(give_memory_back)
        if page(request):
            return error_page(request, exc)
        return answer(public(exc, f"{request.method} {request.url.path}"))

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> Response:
        error = _validation_error(exc)
        if page(request):  # a web page's address: a page
            return error_page(request, error)
        # the request's own values stay out of the answer: they may not even be JSON (NaN)
        detail = [{"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                   "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        return answer(error, detail=detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error: ClusterMetricsError
        if isinstance(exc, TooLarge):
            error = exc.error
        elif exc.status_code == 404:
            error = restore_error("not_found", f"No route {request.method} "
                                  f"{request.url.path} (see /docs for this server's routes).")
        elif exc.status_code == 413:
            error = restore_error("too_large", str(exc.detail))
        else:
            error = ClusterMetricsError(f"{exc.status_code}: {exc.detail}")
        if page(request):
            return error_page(request, _for_a_page(request, exc, error))
        return answer(error, exc.status_code)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        error = incident(exc, f"{request.method} {request.url.path}")
        return error_page(request, error) if page(request) else answer(error, 500)


class _StatusError(ClusterMetricsError):
    """An HTTP error of the framework's (405, say) on a page, with its own status (the API's
    answer stays a plain :class:`ClusterMetricsError`)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.http_status = status


def _for_a_page(request: Request, exc: StarletteHTTPException,
                error: ClusterMetricsError) -> ClusterMetricsError:
    """The framework's error in a person's words: an address with no page says where the
    pages are; a method the address does not take names the one it does."""
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        return restore_error("not_found", f"There is no page at {request.url.path}: the "
                             "datasets are at /datasets, the jobs at /jobs, the API's routes "
                             "at /docs.")
    allowed = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow")
    if exc.status_code == 405 and allowed:
        return _StatusError(f"{where} is not possible: this address takes {allowed} only.", 405)
    if type(error) is ClusterMetricsError:  # the framework's status, not an incident's 500
        return _StatusError(str(error), exc.status_code)
    return error
