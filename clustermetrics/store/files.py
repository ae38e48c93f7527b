"""Documents out to a file on the caller's side: Parquet, CSV or JSON lines, by extension."""

from __future__ import annotations

import contextlib
import os
import tempfile

import pyarrow as pa

from ..errors import InvalidInputError

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
    import duckdb  # an in-memory database only converts; the data comes from the reader

    tmp = f"{path}.{os.getpid()}.partial"
    con = duckdb.connect()
    try:
        con.register("_docs", reader)
        options = "FORMAT parquet" if fmt == "parquet" else (
            "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT json")
        con.execute(f"COPY (SELECT * FROM _docs) TO '{tmp.replace(chr(39), chr(39) * 2)}' "
                    f"({options})")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    finally:
        con.close()
    return path
