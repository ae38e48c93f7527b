"""Documents in any accepted form -> one validated Arrow table, on the caller's side (no
storage code here: the client, the server and the store all use it).

Accepted: a list of dicts, a pandas DataFrame, a Parquet / CSV / JSON-lines file, an Arrow table,
or a NumPy array of vectors with ids. Nested fields become dotted columns (``a.b``). Vector fields
(names ending in ``_vector_``, or declared) become ``fixed_size_list<float32>[d]``. Every check
names the field and the first offending ``_id`` values, before anything is written.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .arrowcheck import check_schema, plain
from .errors import InvalidInputError, SchemaError
from .metrics._validation import nonfinite_rows
from .names import counted, is_vector_name

if TYPE_CHECKING:
    import pyarrow.parquet as pq

def read_any(data, *, ids=None, vector_field: str | None = None,
             vector_fields: Iterable[str] = ()) -> pa.Table:
    """An Arrow table from any accepted input (see the module docstring), in plain types
    (:func:`~clustermetrics.arrowcheck.plain`: a categorical column decoded, large strings and
    lists made plain). Vector fields (``vector_fields`` declares more) of Python documents or
    DataFrames are stacked by numpy when they hold equal-length numeric vectors: several times
    faster than one by one."""
    return plain(_read_any(data, ids, vector_field, set(vector_fields)))


def _read_any(data, ids, vector_field: str | None, vector_fields: set[str]) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, (str, os.PathLike)):
        return _read_file(os.fspath(data))
    if isinstance(data, np.ndarray):
        return _from_vectors(data, ids, vector_field)
    if isinstance(data, pd.DataFrame):
        if "_id" not in data.columns and data.index.name == "_id":
            data = data.reset_index()
        names = [str(name) for name in data.columns]
        twice = _repeated(names)
        if twice is not None:
            raise SchemaError(f"Column name {twice!r} appears more than once in the DataFrame; "
                              "give each field one column. Nothing was written.")
        return pa.table({name: _column(data.iloc[:, j], is_vector_name(name, vector_fields))
                         for j, name in enumerate(names)})
    if isinstance(data, Mapping):
        data = [data]
    if isinstance(data, (list, tuple)):
        if not all(isinstance(d, Mapping) for d in data):
            bad = next(i for i, d in enumerate(data) if not isinstance(d, Mapping))
            raise InvalidInputError(
                f"Documents must be dicts; item {bad} is a {type(data[bad]).__name__}."
            )
        return _from_documents(data, vector_fields)
    raise InvalidInputError(
        f"Cannot read documents from a {type(data).__name__}: give a list of dicts, a pandas "
        "DataFrame, a Parquet/CSV/JSONL path, an Arrow table, or a NumPy array with ids."
    )


# rows per imported Parquet piece: small, so reading and writing overlap, and each piece's
# buffers are reused rather than fresh pages from the OS (16,384 rows measured 15% slower)
PIECE_ROWS = 4096


class Pieces:
    """The input as a sequence of tables: a Parquet file piece by piece, anything else in one.

    ``ids`` holds every ``_id`` of a Parquet file before its pieces are read (the column is read
    and checked for duplicates first); None for other inputs, whose single piece has them.
    """

    def __init__(self, data, *, ids=None, vector_field: str | None = None,
                 vector_fields: Iterable[str] = ()):
        self.data = data
        self.kw = {"ids": ids, "vector_field": vector_field, "vector_fields": vector_fields}
        self.ids: pa.ChunkedArray | None = None
        self.path = os.fspath(data) if isinstance(data, (str, os.PathLike)) else None
        self.parquet: pq.ParquetFile | None = None
        if self.path and self.path.lower().endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq
            check_input_file(self.path)
            try:
                self.parquet = pq.ParquetFile(self.path, memory_map=True)
                if self.parquet.metadata.num_rows == 0:
                    raise InvalidInputError(f"The file {self.path} holds no documents (no "
                                            "rows). Nothing was imported.")
                if "_id" in self.parquet.schema_arrow.names:
                    self.ids = _ensure_ids(self.parquet.read(columns=["_id"])).column("_id")
            except (pa.ArrowException, OSError) as exc:
                raise _unreadable_parquet(self.path, exc) from None

    @property
    def vector_field_names(self) -> list[str]:
        """The vector fields this input declares (``vector_field`` of an array, and
        ``vector_fields``)."""
        named = [self.kw["vector_field"]] if self.kw["vector_field"] else []
        return [*named, *self.kw["vector_fields"]]

    def read_columns(self, names: list[str]) -> pa.Table:
        """Whole top-level columns of the Parquet file, flattened, with the ``_id`` column."""
        assert self.parquet is not None and self.path is not None  # a Parquet input only
        try:
            table = flatten(plain(self.parquet.read(columns=names)))
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable_parquet(self.path, exc) from None
        ids = self.ids if self.ids is not None else pa.nulls(table.num_rows, pa.string())
        return table.append_column("_id", ids) if "_id" not in table.column_names else table

    def __iter__(self) -> Iterator[pa.Table]:
        if self.parquet is None:
            yield read_any(self.data, **self.kw)
            return
        path = self.path or ""
        batches = self.parquet.iter_batches(batch_size=PIECE_ROWS)
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as exc:
                raise _unreadable_parquet(path, exc) from None
            if batch is None:
                return
            yield plain(pa.Table.from_batches([batch]))


class Prefetch:
    """Produce the next items in a background thread while the caller works on this one; an
    error in the producer is raised in the caller. ``close()`` (or the end of a ``with``
    block) stops the thread and waits for it, whatever state the two sides are in: no thread
    outlives its import."""

    def __init__(self, items: Iterator, depth: int = 1):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._items = items
        self._worker = threading.Thread(target=self._produce, daemon=True,
                                        name="clustermetrics-reader")
        self._worker.start()

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put(("item", item)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # handed to the consumer
            self._put(("error", exc))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:  # a generator's own clean-up, in its own thread
                close()

    def __iter__(self) -> Prefetch:
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        while True:
            try:
                kind, value = self._q.get(timeout=0.05)
                break
            except queue.Empty:
                if not self._worker.is_alive() and self._q.empty():
                    self._done = True
                    raise StopIteration from None
        if kind == "item":
            return value
        self._done = True
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the producer and wait for its thread to end."""
        self._done = True
        self._stop.set()
        while self._worker.is_alive():
            with contextlib.suppress(queue.Empty):  # make room for a producer waiting to put
                self._q.get_nowait()
            self._worker.join(timeout=0.05)

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _plain(v):
    """NumPy values inside Python documents as what Arrow infers well."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _column(col: pd.Series, vector: bool) -> pa.Array:
    """A pandas column as Arrow; a vector field's arrays or lists stacked when they can be."""
    if vector and col.dtype == object:
        stacked = _stack_vectors([None if _is_na(v) else v for v in col.to_numpy()])
        if stacked is not None:
            return stacked
    return pa.array(col, from_pandas=True)


def _is_na(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _stack_vectors(values: list) -> pa.Array | None:
    """Equal-length numeric vectors (arrays or lists; None for a document without one) as one
    fixed-size list column; None when they are anything else, for the general path to name
    what is wrong."""
    present = [v for v in values if v is not None]
    if not present or not all(isinstance(v, (np.ndarray, list, tuple)) for v in present):
        return None
    try:
        X = np.array(present)
    except (ValueError, TypeError):  # ragged, or values numpy cannot hold
        return None
    if X.ndim != 2 or X.dtype.kind not in "iuf" or X.shape[1] == 0:
        return None
    if len(present) == len(values):
        return vectors_to_arrow(X)
    missing = np.array([v is None for v in values])
    full = np.zeros((len(values), X.shape[1]), np.float32)
    full[~missing] = X
    return pa.FixedSizeListArray.from_arrays(pa.array(full.reshape(-1)), X.shape[1],
                                             mask=pa.array(missing))


def _read_file(path: str) -> pa.Table:
    table = _read_any_file(path)
    if table.num_rows == 0:  # a CSV with only its header, a Parquet file of no rows
        raise InvalidInputError(f"The file {path} holds no documents (no rows"
                                + (" after its header" if path.lower().endswith(".csv") else "")
                                + "). Nothing was imported.")
    return table


def _read_any_file(path: str) -> pa.Table:
    lower = check_input_file(path)
    if lower.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq
        try:
            return pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable_parquet(path, exc) from None
    if lower.endswith(".csv"):
        import pyarrow.csv as pcsv
        try:
            return pcsv.read_csv(path)
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInputError(f"Cannot read the CSV file {path}: {_arrow_text(exc)}. "
                                    "Nothing was imported; fix the file and try again.") from None
    return _read_json(path)


def check_input_file(path: str) -> str:
    """The lowercased path of a readable documents file; a one-line error otherwise (missing,
    a folder, empty, or an extension that is not Parquet, CSV or JSON)."""
    if os.path.isdir(path):
        raise InvalidInputError(f"{path} is a folder; give a Parquet, CSV or JSONL file.")
    if not os.path.exists(path):
        raise InvalidInputError(f"File not found: {path}")
    lower = path.lower()
    if not lower.endswith(INPUT_EXTENSIONS):
        raise InvalidInputError(
            f"Unknown file type for {path!r}: use .parquet, .csv, .jsonl (one document per "
            "line) or .json (one array of documents, or one document per line)."
        )
    if os.path.getsize(path) == 0:
        raise InvalidInputError(f"The file {path} is empty: there are no documents in it. "
                                "Nothing was imported.")
    return lower


INPUT_EXTENSIONS = (".parquet", ".pq", ".csv", ".jsonl", ".ndjson", ".json")


def _read_json(path: str) -> pa.Table:
    """JSON lines (one document per line) or, in a .json file, one array of documents."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if head.startswith(b"\xef\xbb\xbf"):  # a byte-order mark
        head = head[3:].lstrip()
    if not head:
        raise InvalidInputError(f"The file {path} holds only white space: there are no "
                                "documents in it. Nothing was imported.")
    if head.startswith(b"["):
        return _read_json_array(path)
    import pyarrow.json as pjson
    try:
        return pjson.read_json(path)
    except (pa.ArrowException, OSError) as exc:
        raise _diagnose_json_lines(path, exc) from None


def _read_json_array(path: str) -> pa.Table:
    import json
    try:
        with open(path, encoding="utf-8-sig") as f:
            docs = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"Cannot read {path}: it starts as a JSON array but is not valid JSON ({exc}); it "
            "may be truncated. Nothing was imported.") from None
    bad = next((i for i, d in enumerate(docs) if not isinstance(d, dict)), None)
    if bad is not None:
        raise InvalidInputError(
            f"{path} holds an array whose item {bad} is a {_json_kind(docs[bad])}, not a "
            "document; give an array of objects, or one object per line (JSONL). Nothing was "
            "imported.")
    if not docs:
        raise InvalidInputError(f"{path} holds an empty array: there are no documents in it. "
                                "Nothing was imported.")
    return _from_documents(docs, (), where=lambda i: f"item {i}")


def _diagnose_json_lines(path: str, exc: BaseException) -> InvalidInputError:
    """Read a JSONL file that pyarrow refused line by line, to name the line and the field."""
    import json
    docs, lines = [], []
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as err:
                return InvalidInputError(
                    f"Line {number} of {path} is not valid JSON ({err.msg}); the file may be "
                    "truncated. Nothing was imported; fix or remove that line.")
            if not isinstance(doc, dict):
                return InvalidInputError(
                    f"Line {number} of {path} holds a {_json_kind(doc)}, not a document (one "
                    "JSON object per line). Nothing was imported.")
            docs.append(doc)
            lines.append(number)
    conflict = _kind_conflict(docs, lambda i: f"line {lines[i]}")
    if conflict:
        return SchemaError(f"{conflict} in {path}. Nothing was imported; make the field hold "
                           "one kind of value in every document.")
    return InvalidInputError(f"Cannot read the JSON file {path}: {_arrow_text(exc)}. "
                             "Nothing was imported.")


def _unreadable_parquet(path: str, exc: BaseException) -> InvalidInputError:
    return InvalidInputError(
        f"Cannot read {path} as Parquet ({_arrow_text(exc)}): the file may be truncated or in "
        "another format. Nothing was imported; write the file again.")


def _arrow_text(exc: BaseException) -> str:
    return " ".join(str(exc).split()).rstrip(".")


def _from_documents(docs, vector_fields: Iterable[str], where=None) -> pa.Table:
    """Python documents as columns; a field holding different kinds of value is named with the
    documents that disagree."""
    keys = dict.fromkeys(k for d in docs for k in d)  # every document's fields, in order
    columns = {}
    for k in keys:
        values = [d.get(k) for d in docs]
        stacked = _stack_vectors(values) if is_vector_name(str(k), vector_fields) else None
        if stacked is not None:
            columns[str(k)] = stacked
            continue
        try:
            columns[str(k)] = pa.array(map(_plain, values), size=len(values))
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            conflict = _kind_conflict(docs, where)
            if conflict:
                raise SchemaError(f"{conflict}. Nothing was written; make the field hold one "
                                  "kind of value in every document.") from None
            first = next(i for i, v in enumerate(values) if v is not None)
            raise SchemaError(f"Field {k!r} cannot be stored: {_arrow_text(exc)} ("
                              f"{_where(docs, first, where)}). Nothing was written.") from None
    return pa.table(columns)


def _json_kind(v) -> str:
    if isinstance(v, Mapping):
        return "object"
    if isinstance(v, bool | np.bool_):
        return "boolean"
    if isinstance(v, numbers.Number):
        return "number"
    if isinstance(v, str | bytes):
        return "string"
    if isinstance(v, list | tuple | np.ndarray):
        return "list"
    return type(v).__name__


def _walk(value, path: str, out: dict) -> None:
    """(dotted path -> kind) of a value, into ``out``; lists are one kind, not entered."""
    if value is None:
        return
    kind = _json_kind(value)
    out.setdefault(path, kind)
    if kind == "object":
        for key, v in value.items():
            _walk(v, f"{path}.{key}", out)


def _kind_conflict(docs, where=None) -> str | None:
    """'Field 'a' is an object in document 'x' but a number in document 'y'', for the first
    field that holds different kinds of value (object/list/string/number/boolean), or None."""
    seen: dict[str, tuple[str, int]] = {}
    for i, doc in enumerate(docs):
        kinds: dict[str, str] = {}
        for key, value in doc.items():
            if value is not None:
                _walk(value, str(key), kinds)
        for path, kind in kinds.items():
            if path not in seen:
                seen[path] = (kind, i)
            elif seen[path][0] != kind:
                first_kind, j = seen[path]
                return (f"Field {path!r} is {_a(first_kind)} in {_where(docs, j, where)} "
                        f"but {_a(kind)} in {_where(docs, i, where)}")
    return None


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _where(docs, i: int, where=None) -> str:
    """'line 3 (_id 'x')' in a file, 'document 'x'' (or 'document 4' without _id) in Python."""
    doc_id = docs[i].get("_id") if isinstance(docs[i], Mapping) else None
    if where is None:
        return f"document {doc_id!r}" if doc_id is not None else f"document {i}"
    return f"{where(i)} (_id {doc_id!r})" if doc_id is not None else where(i)


def _from_vectors(X: np.ndarray, ids, vector_field: str | None) -> pa.Table:
    if vector_field is None:
        raise InvalidInputError("A NumPy array of vectors needs vector_field= to name its field.")
    if X.ndim != 2:
        raise InvalidInputError(f"Vectors must be a 2-D array (n, d); got shape {X.shape}.")
    if ids is None:
        raise InvalidInputError("A NumPy array of vectors needs ids= (one _id per row).")
    ids = pa.array(np.asarray(ids).astype(str))
    if len(ids) != len(X):
        raise InvalidInputError(f"{len(X)} vectors but {len(ids)} ids; give one _id per row.")
    return pa.table({"_id": ids, vector_field: vectors_to_arrow(X)})


def vectors_to_arrow(X: np.ndarray) -> pa.FixedSizeListArray:
    with np.errstate(over="ignore"):  # values beyond float32 become inf: refused in normalize
        X = np.ascontiguousarray(X, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1])


def flatten(table: pa.Table) -> pa.Table:
    """Nested struct columns -> dotted columns, to any depth."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


def normalize(table: pa.Table, *, dims: Mapping[str, int], vector_fields: Iterable[str] = (),
              existing: Iterable[str] = ()) -> pa.Table:
    """Flatten, give ids, convert vectors, and check everything that can be checked in memory.

    ``dims`` are the known dimensions of the dataset's vector fields, ``existing`` its columns.
    """
    check_schema(table.schema)  # plain types and names, before anything reads a column
    table = flatten(table)
    _check_names(table.column_names, existing)
    table = _ensure_ids(table)
    ids = table.column("_id")
    declared = set(vector_fields) | set(dims)
    for i, name in enumerate(table.column_names):
        if is_vector_name(name, declared):
            table = table.set_column(i, name, _to_vector(table.column(name), name, ids,
                                                          dims.get(name)))
        elif pa.types.is_null(table.schema.field(name).type):
            table = table.set_column(i, name, table.column(name).cast(pa.string()))
    return table


def _ensure_ids(table: pa.Table) -> pa.Table:
    n = table.num_rows
    if "_id" not in table.column_names:
        return table.add_column(0, "_id", new_ids(n))
    ids = table.column("_id")
    if not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
        ids = pc.cast(ids, pa.string())
    if ids.null_count:
        rows = np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))
        raise SchemaError(
            f"{counted(ids.null_count, 'document')} without an _id (rows "
            f"{', '.join(map(str, rows[:5]))}); "
            "give every document an _id or leave the field out to have ids generated."
        )
    counts = pc.value_counts(ids)
    dup = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    if len(dup):
        raise SchemaError(
            f"Duplicate _id in one batch: {len(dup)} ids appear more than once (first: "
            f"{', '.join(repr(v) for v in dup.to_pylist()[:5])}). Nothing was written."
        )
    return table.set_column(table.column_names.index("_id"), "_id", ids)


# "00".."ff" as 2-byte values: a byte's two hex digits in one lookup
_HEX_PAIRS = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), np.uint16)
_ID_CHUNK = 1 << 22  # rows per chunk of generated ids (int32 offsets: 32 bytes a row)


def new_ids(n: int) -> pa.ChunkedArray:
    """``n`` random ids as ``uuid.uuid4().hex`` writes them (version 4), built as one Arrow
    array by numpy: about 20 times faster, and a tenth of the memory, of a list of strings."""
    chunks = []
    for start in range(0, n, _ID_CHUNK):
        m = min(_ID_CHUNK, n - start)
        raw = np.frombuffer(os.urandom(16 * m), np.uint8).reshape(m, 16).copy()
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # the version and variant bits of a uuid4
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
        offsets = np.arange(0, 32 * m + 1, 32, dtype=np.int32)
        chunks.append(pa.StringArray.from_buffers(m, pa.py_buffer(offsets),
                                                  pa.py_buffer(_HEX_PAIRS[raw])))
    return pa.chunked_array(chunks, pa.string())


def _repeated(names: list[str]) -> str | None:
    """The first name given twice, or None."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def _check_names(names: list[str], existing: Iterable[str]) -> None:
    twice = _repeated(names)
    if twice is not None:  # e.g. a column 'a.b' beside a struct 'a' with a field 'b'
        raise SchemaError(f"Field {twice!r} is given twice (a dotted column and a nested "
                          "field of the same name?); give each field once. Nothing was "
                          "written.")
    seen: dict[str, str] = {}
    for name in list(existing) + [n for n in names if n not in set(existing)]:
        if name == "" or name.startswith(".") or name.endswith(".") or ".." in name:
            raise SchemaError(f"Invalid field name {name!r}: names can't be empty or start or "
                              "end with a dot.")
        key = name.lower()
        if key in seen and seen[key] != name:
            raise SchemaError(
                f"Field name {name!r} collides with {seen[key]!r} (names are case-insensitive); "
                "rename one of them."
            )
        seen[key] = name
    # a field cannot be both a value and an object holding other fields
    for nested in seen.values():
        parts = nested.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[:i]).lower() in seen:
                holder = seen[".".join(parts[:i]).lower()]
                raise SchemaError(
                    f"Field name collision: {holder!r} is a value but the field {nested!r} "
                    f"is nested under it (a dot in a name nests it). Rename one of them."
                )


def _to_vector(col: pa.ChunkedArray, name: str, ids: pa.ChunkedArray, dim: int | None):
    if isinstance(col, pa.ChunkedArray):  # combine_chunks copies even a single chunk
        col = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = _parse_text_vectors(col, name, ids)  # "[1.0, 2.0]": a CSV file's vectors
    if pa.types.is_null(col.type):  # no document has it (an export of a field none held yet)
        col = pa.nulls(len(col), pa.list_(pa.float32(), dim) if dim else pa.list_(pa.float32()))
    t = col.type
    if dim is None and pa.types.is_fixed_size_list(t):  # its type says its dimension
        dim = t.list_size
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        first = _first_ids(ids, col.is_valid())
        raise SchemaError(
            f"Vector field {name!r} must hold lists of numbers; got {t} (first _id: {first}). "
            "Store plain values under a name that does not end in '_vector_'."
        )
    vt = t.value_type
    if not (pa.types.is_integer(vt) or pa.types.is_floating(vt) or pa.types.is_null(vt)):
        first = _first_ids(ids, col.is_valid())
        raise SchemaError(
            f"Vector field {name!r} holds non-numeric values ({vt}); first _id: {first}."
        )
    lengths = pc.list_value_length(col)
    valid = col.is_valid()
    if dim is None:
        present = pc.filter(lengths, valid)
        if len(present) == 0:
            return pa.nulls(len(col), pa.list_(pa.float32(), 1)).cast(pa.list_(pa.float32()))
        dim = int(present[0].as_py())
    if dim == 0:
        raise SchemaError(f"Vector field {name!r} has empty vectors; vectors need >= 1 value.")
    wrong = pc.and_(valid, pc.not_equal(lengths, dim))
    if pc.any(wrong).as_py():
        got = pc.filter(lengths, wrong)
        raise SchemaError(
            f"Vector field {name!r} has {dim} dimensions, but {pc.sum(wrong).as_py()} documents "
            f"have another length (e.g. {got[0].as_py()}; first _id: {_first_ids(ids, wrong)}). "
            "Nothing was written."
        )
    values = pc.list_flatten(col)
    if values.null_count:
        raise SchemaError(f"Vector field {name!r} has null values inside vectors; first _id: "
                          f"{_first_ids(ids, _has_null_item(col))}.")
    flat = values.cast(pa.float32())
    _check_finite(flat, dim, name, ids, col)
    if not col.null_count:
        return pa.FixedSizeListArray.from_arrays(flat, dim)
    # documents without this vector keep a null: place the present ones, zeros under the mask
    valid = valid.to_numpy(zero_copy_only=False)
    full = np.zeros((len(col), dim), np.float32)
    full[valid] = flat.to_numpy(zero_copy_only=False).reshape(-1, dim)
    return pa.FixedSizeListArray.from_arrays(pa.array(full.reshape(-1)), dim,
                                             mask=pa.array(~valid))


def _check_finite(flat: pa.Array, dim: int, name: str, ids: pa.ChunkedArray, col: pa.Array):
    """NaN or infinite values (or values beyond float32) refused, naming the documents."""
    # row sums first (n values, not an n x d mask of fresh pages: 150 MB at 200,000 x 768)
    rows = nonfinite_rows(flat.to_numpy(zero_copy_only=False).reshape(-1, dim))
    if not len(rows):
        return
    bad = np.zeros(len(col), bool)
    bad[np.flatnonzero(col.is_valid().to_numpy(zero_copy_only=False))[rows]] = True
    raise SchemaError(
        f"Vector field {name!r} has NaN or infinite values (or values too large for 32-bit "
        f"floats) in {counted(int(bad.sum()), 'document')} (first _id: "
        f"{_first_ids(ids, pa.array(bad))}). "
        "Nothing was written; fix or leave out those vectors.")


def _parse_text_vectors(col: pa.Array, name: str, ids: pa.ChunkedArray) -> pa.Array:
    """Vectors written as text ("[1.0, 2.0]", as a CSV file holds them) as lists; an empty
    cell is a document without the vector. Text that is not a list of numbers is refused,
    naming the first such documents and their values."""
    import json
    out: list[list | None] = []
    bad: list[int] = []
    for i, v in enumerate(col.to_pylist()):
        text = None if v is None else v.strip()
        if not text:  # an empty cell (as exports write a missing vector): no vector
            out.append(None)
            continue
        parsed = None
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        if not isinstance(parsed, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in parsed):
            bad.append(i)
            out.append(None)
            continue
        out.append(parsed)
    if bad:
        id_list = ids.to_pylist() if ids is not None else list(range(len(col)))
        shown = "; ".join(f"_id {id_list[i]!r}: {_short(col[i].as_py())!r}" for i in bad[:3])
        raise SchemaError(
            f"Vector field {name!r} must hold lists of numbers such as [1.0, 2.0]; "
            f"{len(bad):,} document{'s hold' if len(bad) > 1 else ' holds'} other text "
            f"({shown}{'; ...' if len(bad) > 3 else ''}). Nothing was written; fix "
            "those values, or store plain text under a name that does not end in '_vector_'.")
    try:
        return pa.array(out, pa.list_(pa.float64()))
    except (pa.ArrowException, OverflowError):
        return col


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def _has_null_item(col):
    return pa.array([v is not None and any(x is None for x in v) for v in col.to_pylist()])


def _first_ids(ids: pa.ChunkedArray, mask) -> str:
    picked = pc.filter(ids, mask).to_pylist()[:5]
    return ", ".join(repr(v) for v in picked) or "n/a"


def label_array(labels, ids) -> pa.Array:
    """Cluster labels (one per id) as one Arrow array: integers, or strings; None and NaN
    leave a document unlabelled, and floats that are whole numbers are integers (others
    become strings, as before). Labels that mix integers and strings, infinite labels and
    integers beyond 64 bits are refused, naming an ``_id`` of each kind and what to do."""
    values = np.asarray(labels).tolist() if isinstance(labels, np.ndarray) else list(labels)
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    ids = list(ids)

    def at(i: int) -> str:
        return f"_id {str(ids[i]) if i < len(ids) else i!r}"

    first: dict[str, int] = {}
    for i, v in enumerate(values):
        kind = (None if isinstance(v, float) and math.isnan(v)  # unlabelled, as None
                else "number" if isinstance(v, int | float) and not isinstance(v, bool)
                else "string" if isinstance(v, str) else None)
        if kind is not None:
            first.setdefault(kind, i)
        if isinstance(v, float) and math.isinf(v):
            raise InvalidInputError(f"The label of {at(i)} is {v!r}; labels are integers or "
                                    "strings (None or NaN leaves a document unlabelled). No "
                                    "labels were written.")
        if isinstance(v, int) and not isinstance(v, bool) and not -2**63 <= v < 2**63:
            raise InvalidInputError(f"The label of {at(i)} ({v}) is beyond 64-bit integers; "
                                    "use smaller integers or strings. No labels were written.")
    if values and not first:  # an alias of no cluster: its metrics could only fail
        raise InvalidInputError(
            ("The only label is" if len(values) == 1 else
             f"Every one of the {len(values):,} labels is") + " None or NaN: an alias needs at "
            "least one document in a cluster (None leaves a document unlabelled). No labels "
            "were written.")
    if len(first) == 2:
        n, t = first["number"], first["string"]
        raise InvalidInputError(
            f"Labels mix numbers and strings ({at(n)}: {values[n]!r}; {at(t)}: "
            f"{values[t]!r}); give every label one kind: strings throughout (noise as "
            "'-1' or 'noise', with noise_label='-1' or 'noise'), or integers throughout. No "
            "labels were written.")
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowException, OverflowError, TypeError) as exc:
        raise InvalidInputError(f"The labels could not be read ({_arrow_text(exc)}); give "
                                "integers or strings. No labels were written.") from None
    if pa.types.is_floating(array.type):
        finite = array.to_numpy(zero_copy_only=False)
        finite = finite[~np.isnan(finite)]
        if not np.all(finite == np.round(finite)):
            return array.cast(pa.string())
        try:  # whole numbers: exact as integers, unless beyond 64 bits
            return pc.cast(array, pa.int64())
        except pa.ArrowInvalid:
            raise InvalidInputError(
                "Some labels are whole numbers beyond 64-bit integers; use smaller integers "
                "or strings. No labels were written.") from None
    if not (pa.types.is_integer(array.type) or pa.types.is_string(array.type)
            or pa.types.is_null(array.type)):
        return array.cast(pa.string())
    return array


def give_memory_back() -> None:
    """Hand freed memory back to the system: Arrow's pool and the C heap keep it for reuse,
    and under an address-space limit memory kept is memory the next call (another
    project's) lacks. For after an operation that ran out of memory, once its data is let go."""
    import ctypes
    import gc
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
