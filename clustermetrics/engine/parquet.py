"""Parquet files as a source of batches: row groups read in slices, never whole files.

A :class:`Plan` lists the files (a file, a folder, a glob, a list of them, or fsspec URLs such
as ``s3://bucket/embeddings/*.parquet``), reads their footers and cuts every row group into
slices of at most ``batch_rows`` rows. Each slice becomes one
:class:`~clustermetrics.metrics.passes.Batch`, numbered as a partition in file order, then
row-group order, then slice order: the same numbers on every pass and in every engine, so the
same seed samples the same rows on one process and on a cluster.

The engines share this module: :class:`ParquetSource` is a source for the local driver
(:func:`~clustermetrics.metrics.evaluate_source`); the ``fold_*`` functions fold the passes'
partials over one row group, which is what the Dask engine maps. Either way a vector column
may be a fixed-size list or a list of floats; rows whose vector is null are skipped and
counted (``n_without_vector``), as the store skips documents without the vector. A file that
cannot be read, a vector of the wrong length, NaN or infinite values, or a zero vector under
cosine raise :class:`~clustermetrics.errors.InvalidInputError` naming the file, the row group
and the rows (counted from 0 within the row group).
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import InvalidInputError, MissingDependencyError, NotFoundError, rows_hint
from ..metrics._validation import nonfinite_rows
from ..metrics.evaluate import Progress, evaluate_source
from ..metrics.passes import (
    Batch,
    BlockPass,
    ClusterPass,
    ClusterSummary,
    PassOptions,
    Sample,
    SamplePass,
    SamplePlan,
    ScorePass,
)
from ..metrics.result import ClusterMetrics
from .columns import label_values

BATCH_BYTES = 64 * 2**20  # vectors per slice: a task's memory is a few of these
READ_BUFFER = 8 * 2**20  # column chunks are streamed through a buffer, not read whole
SUFFIXES = (".parquet", ".pq", ".parq")
_GLOB = set("*?[")


@dataclass(frozen=True)
class Columns:
    """The columns read: vectors, cluster labels and (optionally) ground truth."""

    vector: str
    labels: str
    truth: str | None = None

    @property
    def names(self) -> list[str]:
        return [self.vector, self.labels] + ([self.truth] if self.truth else [])


@dataclass(frozen=True)
class FileInfo:
    """What a file's footer says: rows per row group and the vector length (fixed-size lists)."""

    path: str
    row_groups: tuple[int, ...]
    dim: int | None


@dataclass(frozen=True)
class Piece:
    """One row group of one file: its slices are the partitions ``first, first + 1, ...``."""

    path: str
    row_group: int
    rows: int
    first: int
    batch_rows: int

    @property
    def slices(self) -> int:
        return math.ceil(self.rows / self.batch_rows)

    @property
    def partitions(self) -> range:
        return range(self.first, self.first + self.slices)

    @property
    def where(self) -> str:
        return f"{self.path}, row group {self.row_group}"


@dataclass(frozen=True)
class Plan:
    """The pieces of a set of Parquet files, in source order.

    Attributes
    ----------
    source : str
        The path, glob or URL given (for messages and the result).
    columns : Columns
    dim : int
        The vector length.
    pieces : tuple of Piece
        Every non-empty row group, in file order then row-group order.
    n_rows : int
        Rows in all files, those without a vector included.
    """

    source: str
    columns: Columns
    dim: int
    pieces: tuple[Piece, ...]
    n_rows: int

    @property
    def has_truth(self) -> bool:
        return self.columns.truth is not None


# -- files ----------------------------------------------------------------------------------------

def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _fsspec():
    try:
        import fsspec
    except ImportError:
        raise MissingDependencyError(
            "Reading Parquet from a URL needs fsspec (and the filesystem's package, such as "
            "s3fs or gcsfs): pip install fsspec, or pip install 'clustermetrics[dask]'.") from None
    return fsspec


def _url_fs(path: str):
    """``(filesystem, inner path)`` of a URL; a filesystem whose package is missing as the
    ``pip install`` line, an unknown scheme as the schemes known."""
    fsspec = _fsspec()
    scheme = path.split("://", 1)[0].lower()
    try:
        return fsspec.core.url_to_fs(path)
    except ImportError as exc:
        from fsspec.registry import known_implementations
        cls = known_implementations.get(scheme, {}).get("class", "")
        package = _URL_PACKAGES.get(scheme) or cls.split(".")[0]
        raise MissingDependencyError(
            f"Reading {scheme}:// URLs needs {package}: pip install {package} (on this machine "
            f"and on the Dask workers). fsspec says: {str(exc).strip()}.") from None
    except ValueError as exc:
        if "protocol" not in str(exc).lower():
            raise
        raise InvalidInputError(
            f"Cannot read {path!r}: fsspec knows no {scheme}:// filesystem. Give a local path "
            "or a URL such as s3://bucket/prefix/*.parquet.") from None


_URL_PACKAGES = {"http": "aiohttp", "https": "aiohttp"}  # fsspec's own class, others' package


def list_files(path_or_glob: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """The Parquet files a path names, sorted: the file itself, the ``.parquet``/``.pq``/
    ``.parq`` files under a folder (hidden and ``_``-prefixed names left out), or those that
    match a glob (``**`` crosses folders); a list names several. URLs go through fsspec."""
    if isinstance(path_or_glob, (list, tuple)):
        out = [f for p in path_or_glob for f in list_files(p)]
        if len(set(out)) != len(out):
            raise InvalidInputError("The same Parquet file is named twice in the list of paths.")
        return out
    path = os.fspath(path_or_glob)  # type: ignore[arg-type]
    if path.startswith("file://"):
        path = path[len("file://"):]
    if _is_url(path):
        fs, root = _url_fs(path)
        if _GLOB & set(root):
            found = [f for f in fs.glob(root) if fs.isfile(f)]
        elif fs.isdir(root):
            found = [f for f in fs.find(root) if _wanted(f)]
        elif fs.exists(root):
            found = [root]
        else:
            found = []
        files = sorted(fs.unstrip_protocol(f) for f in found)
    else:
        path = os.path.expanduser(path)
        if _GLOB & set(path):
            files = sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))
        elif os.path.isdir(path):
            files = sorted(os.path.join(d, f) for d, _, names in os.walk(path)
                           for f in names if _wanted(os.path.join(d, f)))
        elif os.path.exists(path):
            files = [path]
        else:
            files = []
    if not files:
        raise InvalidInputError(
            f"No Parquet files found at {path!r}: give a file, a folder of .parquet files, a "
            "glob such as 'data/*.parquet', or a URL such as 's3://bucket/prefix/*.parquet'.")
    return files


def _wanted(path: str) -> bool:
    name = os.path.basename(path.rstrip("/"))
    parts = path.replace("\\", "/").split("/")
    hidden = any(p.startswith((".", "_")) for p in parts[:-1] if p not in (".", ".."))
    return name.lower().endswith(SUFFIXES) and not name.startswith((".", "_")) and not hidden


@contextlib.contextmanager
def open_parquet(path: str) -> Iterator[pq.ParquetFile]:
    """A ParquetFile that streams column chunks through a bounded buffer; errors of a file
    that is missing, unreadable or not Parquet name the file."""
    handle = None
    try:
        if _is_url(path):
            fs, inner = _url_fs(path)
            handle = fs.open(inner, "rb")
            pf = pq.ParquetFile(handle, buffer_size=READ_BUFFER, pre_buffer=False)
        else:
            pf = pq.ParquetFile(path, buffer_size=READ_BUFFER, pre_buffer=False)
    except (pa.ArrowException, OSError) as exc:
        if handle is not None:
            handle.close()
        raise InvalidInputError(f"Cannot read Parquet file {path}: {_reason(exc)}") from None
    try:
        yield pf
    finally:
        pf.close()
        if handle is not None:
            handle.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file."
    if isinstance(exc, PermissionError):
        return "permission denied."
    text = str(exc).strip() or type(exc).__name__
    return text if text.endswith(".") else text + "."


def inspect_file(path: str, columns: Columns) -> FileInfo:
    """Read one file's footer: its row groups and its columns, checked."""
    with open_parquet(path) as pf:
        try:
            schema, meta = pf.schema_arrow, pf.metadata
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInputError(f"Cannot read Parquet file {path}: {_reason(exc)}") from None
        names = schema.names
        for role, name in (("vector", columns.vector), ("label", columns.labels),
                           ("ground truth", columns.truth)):
            if name is not None and name not in names:
                raise NotFoundError(f"{role} column", name, names, where=f" in {path}")
        vtype = schema.field(columns.vector).type
        dim = None
        if pa.types.is_fixed_size_list(vtype):
            dim = vtype.list_size
        elif not (pa.types.is_list(vtype) or pa.types.is_large_list(vtype)):
            raise InvalidInputError(
                f"Column {columns.vector!r} of {path} holds {vtype}, not vectors: it must be a "
                "fixed-size list or a list of numbers.")
        value = vtype.value_type
        if not (pa.types.is_floating(value) or pa.types.is_integer(value)):
            raise InvalidInputError(
                f"Column {columns.vector!r} of {path} holds lists of {value}, not numbers.")
        groups = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    return FileInfo(path, groups, dim)


def first_length(path: str, row_group: int, column: str) -> int | None:
    """The length of the first non-null vector of a row group (variable-length lists)."""
    with open_parquet(path) as pf:
        try:
            for rb in pf.iter_batches(batch_size=1024, row_groups=[row_group],
                                      columns=[column], use_threads=False):
                valid = rb.column(0).drop_null()
                if len(valid):
                    return int(pc.list_value_length(valid[:1])[0].as_py())
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInputError(f"Cannot read {path}, row group {row_group}: "
                                    f"{_reason(exc)} The file is damaged or was written "
                                    "wrongly; write it again.") from None
    return None


def make_plan(path_or_glob, columns: Columns, *, batch_rows: int | None = None,
              mapper: Callable[..., Iterable[FileInfo]] | None = None) -> Plan:
    """List the files, read every footer (``mapper(inspect_file, files, columns=...)``, by
    default in this process) and number the slices of every row group.

    Raises
    ------
    InvalidInputError
        No files, an unreadable file, a missing column or vectors of different lengths in two
        files (the message names both).
    """
    files = list_files(path_or_glob)
    source = path_or_glob if isinstance(path_or_glob, str) else ", ".join(
        map(str, path_or_glob)) if isinstance(path_or_glob, (list, tuple)) else str(path_or_glob)
    if mapper is None:
        infos = [inspect_file(f, columns) for f in files]
    else:
        infos = list(mapper(inspect_file, files, columns=columns))
    dim, dim_from = None, None
    for info in infos:
        if info.dim is not None:
            if dim is not None and info.dim != dim:
                raise InvalidInputError(
                    f"Vectors in {info.path} have {info.dim} values, but those in {dim_from} "
                    f"have {dim}: every vector of {columns.vector!r} must have the same length.")
            dim, dim_from = info.dim, info.path
    if dim is None:  # lists of any length: the first vector sets the length
        for info in infos:
            for g, rows in enumerate(info.row_groups):
                if rows and dim is None:
                    dim, dim_from = first_length(info.path, g, columns.vector), info.path
    if not dim:
        raise InvalidInputError(
            f"No vectors in {source}: every row of {columns.vector!r} is null or empty.")
    step = batch_rows or max(1024, BATCH_BYTES // (4 * dim))
    pieces, first = [], 0
    for info in infos:
        for g, rows in enumerate(info.row_groups):
            if rows:
                piece = Piece(info.path, g, rows, first, step)
                pieces.append(piece)
                first += piece.slices
    return Plan(source, columns, int(dim), tuple(pieces),
                sum(sum(i.row_groups) for i in infos))


# -- reading --------------------------------------------------------------------------------------

@dataclass
class Slice:
    """One slice of a row group as a Batch, and where its rows come from."""

    batch: Batch
    piece: Piece
    offset: int  # the slice's first row within the row group
    kept: np.ndarray | None  # rows of the slice that have a vector (None: all of them)

    def rows(self, batch_rows: np.ndarray) -> np.ndarray:
        """Rows of the batch as row numbers within the row group."""
        rows = batch_rows if self.kept is None else self.kept[batch_rows]
        return rows + self.offset


def read_piece(piece: Piece, plan: Plan, *, truth: bool = True) -> Iterator[Slice]:
    """The slices of one row group, read ``batch_rows`` at a time; ``truth=False`` leaves the
    ground truth column unread (only pass 1 needs it)."""
    cols = plan.columns
    names = cols.names if truth else cols.names[:2]
    with open_parquet(piece.path) as pf:
        try:
            if piece.row_group >= pf.metadata.num_row_groups:
                raise InvalidInputError(f"{piece.where} is gone: the file changed while it was "
                                        "read. Run again on files that are not being written.")
            batches = pf.iter_batches(batch_size=piece.batch_rows, row_groups=[piece.row_group],
                                      columns=names, use_threads=False)
            offset = 0
            for j, rb in enumerate(_exact(batches, piece.batch_rows)):
                yield _slice(rb, piece, plan, j, offset, truth)
                offset += rb.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInputError(f"Cannot read {piece.where}: {_reason(exc)}") from None
    if offset != piece.rows:
        raise InvalidInputError(f"{piece.where} has {offset} rows, not {piece.rows} as when the "
                                "run began: the file changed while it was read.")


def _exact(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Record batches of exactly ``size`` rows (the last one shorter): partition numbers are
    fixed by the footer, whatever sizes the reader hands out."""
    pending: list[pa.RecordBatch] = []
    have = 0
    for rb in batches:
        while rb.num_rows:
            take = min(size - have, rb.num_rows)
            pending.append(rb.slice(0, take))
            have += take
            rb = rb.slice(take)
            if have == size:
                yield _join(pending)
                pending, have = [], 0
    if have:
        yield _join(pending)


def _join(parts: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(parts) == 1:
        return parts[0]
    return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]


def _slice(rb: pa.RecordBatch, piece: Piece, plan: Plan, j: int, offset: int,
           truth: bool = True) -> Slice:
    vec = rb.column(0)
    kept = None
    if vec.null_count:
        kept = np.flatnonzero(vec.is_valid().to_numpy(zero_copy_only=False))
        rb = rb.take(pa.array(kept))
        vec = rb.column(0)
    where = piece.where
    if not pa.types.is_fixed_size_list(vec.type):
        lengths = pc.list_value_length(vec).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(lengths != plan.dim)
        if len(bad):
            rows = (bad if kept is None else kept[bad]) + offset
            raise InvalidInputError(
                f"{where}: vectors of {plan.columns.vector!r} must have {plan.dim} values; "
                f"{rows_hint(rows.tolist())} {'has' if len(rows) == 1 else 'have'} "
                f"{int(lengths[bad[0]])}"
                f"{'' if len(set(lengths[bad].tolist())) == 1 else ' or another length'}.")
    elif vec.type.list_size != plan.dim:
        raise InvalidInputError(
            f"{where}: vectors of {plan.columns.vector!r} have {vec.type.list_size} values, "
            f"not {plan.dim} as in the other files.")
    values = vec.flatten()
    if pa.types.is_float16(values.type):
        values = values.cast(pa.float32())
    X = values.to_numpy(zero_copy_only=values.null_count == 0
                        and pa.types.is_floating(values.type))
    if values.null_count and X.dtype.kind == "O":  # integer lists with null values
        X = np.array([np.nan if v is None else v for v in X], dtype=np.float64)
    X = X.reshape(-1, plan.dim)
    labels = label_values(rb.column(1))
    classes = label_values(rb.column(2)) if plan.has_truth and truth else None
    return Slice(Batch(X, labels, classes, None, piece.first + j), piece, offset, kept)


def explain(exc: InvalidInputError, part: Slice, metric: str) -> InvalidInputError:
    """Pass 1's complaint about a slice, told in the file's terms (file, row group, rows).

    The batch is examined only after pass 1 refused it, so the check costs nothing on good
    data; a complaint about something else comes back unchanged."""
    X = np.asarray(part.batch.X)
    if X.dtype.kind not in "fc":
        X = X.astype(np.float64)
    where = part.piece.where
    bad = nonfinite_rows(X)
    if len(bad):
        return InvalidInputError(
            f"{where}: NaN or infinite values in {rows_hint(part.rows(bad).tolist())} of the "
            "row group; drop or impute those rows first.")
    if metric == "cosine":
        zero = np.flatnonzero(~X.any(axis=1))
        if len(zero):
            return InvalidInputError(
                f"{where}: cosine distance is undefined for zero vectors; "
                f"{rows_hint(part.rows(zero).tolist())} of the row group "
                f"{'is' if len(zero) == 1 else 'are'} all zeros. Drop "
                "them or use metric='euclidean'.")
    return exc


# -- the passes over one row group (what the Dask engine maps) ------------------------------------

def fold_cluster(piece: Piece, plan: Plan, options: PassOptions) -> ClusterPass:
    """Pass 1 over one row group."""
    out = ClusterPass.empty(options, has_truth=plan.has_truth)
    for part in read_piece(piece, plan):
        try:
            out = out.merge(ClusterPass.from_batch(part.batch, options))
        except InvalidInputError as exc:
            raise explain(exc, part, options.metric) from None
    return out


def fold_sample(piece: Piece, plan: Plan, summary: ClusterSummary,
                sample_plan: SamplePlan) -> SamplePass:
    """The sampled rows of one row group."""
    return reduce(SamplePass.merge, (SamplePass.from_batch(p.batch, summary, sample_plan)
                                     for p in read_piece(piece, plan, truth=False)
                                     if p.batch.partition
                                     in sample_plan.picks), SamplePass())


def fold_score(piece: Piece, plan: Plan, summary: ClusterSummary,
               sample: Sample | None = None) -> ScorePass | None:
    """Pass 2 over one row group (None when it has no rows with a vector)."""
    out: ScorePass | None = None
    for part in read_piece(piece, plan, truth=False):
        score = ScorePass.from_batch(part.batch, summary, sample)
        out = score if out is None else out.merge(score)
    return out


def fold_block(piece: Piece, index: int, plan: Plan, summary: ClusterSummary) -> ScorePass:
    """Exact pairwise silhouettes of one slice's rows (slice ``index`` of ``piece``), against
    every row group of the plan, read one slice at a time."""
    block = None
    for part in read_piece(piece, plan, truth=False):
        if part.batch.partition == piece.first + index:
            block = BlockPass.start(part.batch, summary)
            break
    if block is None:
        raise InvalidInputError(f"{piece.where} has no slice {index}: the file changed while it "
                                "was read.")
    for other in plan.pieces:
        for part in read_piece(other, plan, truth=False):
            block = block.add(part.batch, summary)
    return block.finish(summary)


# -- the local engine -----------------------------------------------------------------------------

class ParquetSource:
    """Parquet files as a source for :func:`~clustermetrics.metrics.evaluate_source`: every
    pass reads the files again, one slice at a time (memory: one slice, plus the statistics).

    Where each batch's rows come from is kept (file, row group, first row), so that a
    complaint about a batch can be told in the file's terms (:meth:`explain`). The ground
    truth column is read by the first pass only.
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        self.n_rows = plan.n_rows
        self.has_truth = plan.has_truth
        self.passes = 0
        # each batch handed out and still alive (by id): its Slice's piece, offset and kept
        # rows, let go with the batch, so memory stays one slice's
        self._where: dict[int, tuple] = {}

    def batches(self) -> Iterator[Batch]:
        truth = self.passes == 0  # only the first pass (the statistics) uses ground truth
        self.passes += 1
        for piece in self.plan.pieces:
            for part in read_piece(piece, self.plan, truth=truth):
                self._where[id(part.batch)] = (part.piece, part.offset, part.kept)
                weakref.finalize(part.batch, self._where.pop, id(part.batch), None)
                yield part.batch

    def explain(self, exc: InvalidInputError, batch: Batch, metric: str) -> InvalidInputError:
        """A complaint about one of this source's batches, told in the file's terms."""
        where = self._where.get(id(batch))
        return exc if where is None else explain(exc, Slice(batch, *where), metric)


def evaluate_local(path_or_glob, vector_field: str, label_field: str,
                   ground_truth_field: str | None = None, *, metric: str = "euclidean",
                   sample_size: int | None = None, random_state=None, noise_label=None,
                   noise: str | None = None, working_memory: float | None = None,
                   progress: Progress | None = None, detail: bool = False,
                   batch_rows: int | None = None) -> ClusterMetrics:
    """:func:`~clustermetrics.evaluate_parquet` on this process, without Dask: the local
    driver folds the same passes over the same slices. ``detail=True`` keeps per-sample
    silhouettes (O(n) memory); an exact pairwise metric holds every vector in memory."""
    PassOptions.make(metric=metric, noise_label=noise_label, noise=noise)  # checked first
    plan = make_plan(path_or_glob, Columns(vector_field, label_field, ground_truth_field),
                     batch_rows=batch_rows)
    result = evaluate_source(ParquetSource(plan), metric=metric, sample_size=sample_size,
                             random_state=random_state, noise_label=noise_label, noise=noise,
                             working_memory=working_memory, progress=progress, detail=detail)
    return finish_result(result, plan)


def finish_result(result: ClusterMetrics, plan: Plan) -> ClusterMetrics:
    """Counts and names that only the files know."""
    result.counts["n_without_vector"] = plan.n_rows - result.counts["n_documents"]
    result.source.update({"parquet": plan.source, "vector_field": plan.columns.vector,
                          "label_field": plan.columns.labels,
                          "ground_truth_field": plan.columns.truth})
    return result


__all__ = ["BATCH_BYTES", "Columns", "FileInfo", "ParquetSource", "Piece", "Plan", "Slice",
           "evaluate_local", "explain", "finish_result", "fold_block", "fold_cluster",
           "fold_sample", "fold_score", "inspect_file", "list_files", "make_plan", "read_piece"]
