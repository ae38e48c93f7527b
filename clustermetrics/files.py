"""Documents out to a file on the caller's side: Parquet, CSV or JSON lines, by extension; or
to a folder of Parquet files of at most so many rows each (what a cluster reads in parallel)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import pyarrow as pa

from .errors import InvalidInputError

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "json",
           ".ndjson": "json"}


def export_format(path: str) -> str:
    """The format a path's extension names, checked (with its folder) before any work."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise InvalidInputError(
            f"Cannot export to {path!r}: the extension {ext or '(none)'!r} names no format "
            "we write. Use .parquet, .csv or .jsonl.")
    check_output_path(path)
    return FORMATS[ext]


def check_output_path(path: str, extensions: tuple[str, ...] = ()) -> str:
    """An output file whose folder exists and is writable, that is not a folder, and (when
    ``extensions`` are given) has one of them; checked before any work, so nothing is computed
    or stored for a file that cannot be written."""
    if extensions and not path.lower().endswith(extensions):
        raise InvalidInputError(
            f"Cannot write {path!r}: give a file name ending in {' or '.join(extensions)}.")
    if os.path.isdir(path):
        raise InvalidInputError(f"Cannot write {path!r}: it is a folder; give a file name.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InvalidInputError(f"Cannot write {path!r}: the folder {folder!r} does not exist. "
                                "Create it first or choose another path.")
    try:  # a real file, not os.access: root passes that test on read-only and /proc folders
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".clustermetrics-probe-"):
            pass
    except OSError as exc:
        raise InvalidInputError(f"Cannot write {path!r}: the folder {folder!r} is not "
                                f"writable ({exc.strerror}). Choose another path.") from None
    return path


def write_documents(reader: pa.RecordBatchReader, path: str) -> str:
    """Stream ``reader`` into ``path`` in the format of its extension. The file appears whole
    or not at all (written beside it, then renamed)."""
    fmt = export_format(path)
    tmp = f"{path}.{os.getpid()}.partial"
    try:
        if fmt == "parquet":  # pyarrow's writer: DuckDB 2.0 writes null fixed-size lists
            import pyarrow.parquet as pq  # (documents without the vector) as a broken file

            with pq.ParquetWriter(tmp, reader.schema) as writer:
                for rb in reader:
                    writer.write_batch(rb)
        else:
            _copy_text(reader, tmp, fmt)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    return path


def _copy_text(reader: pa.RecordBatchReader, path: str, fmt: str) -> None:
    """CSV (vectors as "[1.0, 2.0]" text, a missing one as an empty cell) or JSON lines."""
    import duckdb  # an in-memory database only converts; the data comes from the reader

    con = duckdb.connect()
    try:
        con.register("_docs", reader)
        options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT json"
        con.execute(f"COPY (SELECT * FROM _docs) TO '{path.replace(chr(39), chr(39) * 2)}' "
                    f"({options})")
    finally:
        con.close()


ROW_GROUP_ROWS = 65_536  # rows per row group in a folder of files: a task's unit of reading


def write_parquet_files(reader: pa.RecordBatchReader, folder: str, rows_per_file: int, *,
                        row_group_rows: int = ROW_GROUP_ROWS) -> list[str]:
    """Stream ``reader`` into ``folder/part-00000.parquet``, ``part-00001.parquet``, ...: at
    most ``rows_per_file`` rows each, in row groups of at most ``row_group_rows``. The folder
    appears whole or not at all (written beside it, then renamed); it must not exist yet, or
    be empty. Returns the files written, in order."""
    import pyarrow.parquet as pq

    folder = check_folder(folder, rows_per_file)
    group = min(rows_per_file, row_group_rows)
    tmp = f"{folder}.{os.getpid()}.partial"
    names: list[str] = []
    writer: pq.ParquetWriter | None = None
    in_file = 0
    pending: list[pa.RecordBatch] = []
    have = 0

    def flush():
        nonlocal pending, have
        if pending and writer is not None:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=group)
        pending, have = [], 0

    try:
        os.makedirs(tmp)
        for rb in reader:
            while rb.num_rows:
                if writer is None or in_file == rows_per_file:
                    flush()
                    if writer is not None:
                        writer.close()
                    names.append(f"part-{len(names):05d}.parquet")
                    writer = pq.ParquetWriter(os.path.join(tmp, names[-1]), reader.schema)
                    in_file = 0
                take = min(rb.num_rows, rows_per_file - in_file, group - have)
                pending.append(rb.slice(0, take))
                rb = rb.slice(take)
                have += take
                in_file += take
                if have == group:
                    flush()
        flush()
        if writer is not None:
            writer.close()
            writer = None
        if os.path.isdir(folder):
            os.rmdir(folder)  # empty, as checked
        os.replace(tmp, folder)
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [os.path.join(folder, n) for n in names]


def check_folder(folder: str, rows_per_file: int) -> str:
    """The folder a set of files will be written to (absolute), checked before any work."""
    if isinstance(rows_per_file, bool) or not isinstance(rows_per_file, int) \
            or rows_per_file < 1:
        raise InvalidInputError(f"rows_per_file must be a positive integer; got {rows_per_file!r}.")
    folder = os.path.abspath(folder)
    parent = os.path.dirname(folder)
    if not os.path.isdir(parent):
        raise InvalidInputError(f"Cannot write {folder!r}: the folder {parent!r} does not exist. "
                                "Create it first or choose another path.")
    if os.path.isfile(folder):
        raise InvalidInputError(f"Cannot write a folder of files at {folder!r}: it is a file.")
    if os.path.isdir(folder) and os.listdir(folder):
        raise InvalidInputError(f"Cannot write {folder!r}: the folder is not empty. Give a new "
                                "folder (it is created).")
    check_output_path(os.path.join(parent, os.path.basename(folder) + ".parquet"))  # writable
    return folder
