"""The embedded store: one DuckDB file holding datasets of documents and their cluster labels.

Layout inside the file:

- schema ``datasets``: one table per dataset; ``_id`` VARCHAR, one column per (dotted) field,
  vector fields as ``FLOAT[d]``, cluster labels as columns ``_cluster_.{vector_field}.{alias}``
  (the original product's ``_cluster_`` field, flattened);
- table ``main.aliases``: how each alias was made (method, parameters, centroids, time).

Everything about a dataset's fields is read from the table itself, so there is no second copy of
the schema to keep in step. Each write is one transaction: all of a batch or none of it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import re
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..documents import Pieces, Prefetch, label_array, normalize
from ..errors import (
    ClusterMetricsError,
    InvalidInputError,
    NotFoundError,
    SchemaError,
    StoreError,
    StoreLockedError,
    TooLargeError,
)
from ..names import CLUSTER_PREFIX, check_name, counted, label_column, nest

try:
    import duckdb
except ImportError as exc:  # pragma: no cover - duckdb is a core dependency
    raise ImportError("clustermetrics' store needs duckdb: pip install duckdb") from exc

_ARRAY = re.compile(r"^FLOAT\[(\d+)\]$")
LOCK_TIMEOUT = 10.0  # seconds a process waits for a store file that another one holds
ROW_GROUP = 122_880  # rows of a DuckDB row group
LINGER = 0.5  # seconds the file stays open after an operation, so calls in a row reuse it


# Every store of this process, closed in order at exit: a DuckDB close running on the idle
# timer's (daemon) thread while the interpreter finalizes aborts the process ("terminate
# called ... FATAL: exception not rethrown"), since finalization ends such threads mid-call.
_STORES: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for store in list(_STORES):
        store.close()


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class Store:
    """A DuckDB file of datasets. Only one process may open it for writing at a time.

    One Store serves many threads: each thread gets its own DuckDB cursor (so its statements,
    transactions and registered Arrow views are its own), and writes take a lock so that two
    transactions never race on a table's columns. Reads run concurrently with each other and
    with a write, each seeing the last committed state.
    """

    def __init__(self, path: str, *, keep_open: bool = False,
                 lock_timeout: float | None = None):
        self.path = path
        if path != ":memory:":
            _check_store_path(path)
        # the file is held only while an operation runs (see session()), unless keep_open
        self.keep_open = keep_open or path == ":memory:"
        self.lock_timeout = lock_timeout
        self._db: Any = None  # a DuckDB connection while open
        self._sessions = 0
        self._timer: threading.Timer | None = None
        self._open_lock = threading.RLock()
        self._local = threading.local()
        self._cursors: list = []
        self._cursors_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        _STORES.add(self)
        with self.session():  # makes the file and its tables, then lets it go
            pass

    def _connect(self):
        """Open the file; while another process holds it, wait (up to ``lock_timeout``
        seconds, default ``$CLUSTERMETRICS_LOCK_TIMEOUT`` or 10), saying so on stderr once."""
        timeout = self.lock_timeout
        if timeout is None:
            timeout = float(os.environ.get("CLUSTERMETRICS_LOCK_TIMEOUT", LOCK_TIMEOUT))
        _check_store_file(self.path)
        deadline, told = time.monotonic() + timeout, False
        while True:
            try:
                con = duckdb.connect(self.path)
                break
            except duckdb.Error as exc:
                if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise _open_error(self.path, exc) from None
                if not told:
                    who = re.search(r"PID (\d+)", str(exc))
                    print(f"The store {self.path} is busy in "
                          f"{'process ' + who.group(1) if who else 'another process'}; waiting "
                          f"up to {timeout:g} s (CLUSTERMETRICS_LOCK_TIMEOUT)...",
                          file=sys.stderr, flush=True)
                    told = True
                time.sleep(0.05)
        con.execute("SET enable_progress_bar = false")
        # random float vectors do not compress; trying costs a third of the insert time
        con.execute("SET force_compression = 'uncompressed'")
        limit = duckdb_memory_limit()
        if limit is not None:  # DuckDB sizes its own from the machine's memory alone
            con.execute(f"SET memory_limit = '{limit // 2**20}MiB'")
            # and hands freed memory back in the background: its allocator keeps it otherwise,
            # and under an address-space limit kept memory is memory the next call lacks
            con.execute("SET allocator_background_threads = true")
        con.execute("CREATE SCHEMA IF NOT EXISTS datasets")
        con.execute(
            "CREATE TABLE IF NOT EXISTS aliases (dataset VARCHAR, vector_field VARCHAR, "
            "alias VARCHAR, method VARCHAR, params VARCHAR, centroids FLOAT[][], "
            "created_at TIMESTAMP DEFAULT current_timestamp)")
        # documents of the alias whose vector changed (their label dropped) or that were
        # deleted since the alias was made; stores made before it get the column here
        con.execute("ALTER TABLE aliases ADD COLUMN IF NOT EXISTS changed BIGINT DEFAULT 0")
        # the headline metrics kept with an alias (JSON), and the version of the dataset's
        # documents they were computed on: stale once a write or delete bumps the version
        con.execute("ALTER TABLE aliases ADD COLUMN IF NOT EXISTS kept VARCHAR")
        con.execute("ALTER TABLE aliases ADD COLUMN IF NOT EXISTS kept_version BIGINT")
        con.execute("CREATE TABLE IF NOT EXISTS versions (dataset VARCHAR PRIMARY KEY, "
                    "version BIGINT NOT NULL)")
        return con

    @contextlib.contextmanager
    def session(self):
        """An operation: the file is open (opened if need be) until the last operation running
        in this process ends, and ``LINGER`` seconds more (a call right after reuses it); then
        it is closed (DuckDB checkpoints it), so another process may open it."""
        with self._open_lock:
            if self._closed:
                raise StoreError(f"The store {self.path} is closed; open a new Client to use it.")
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._db is None:
                self._db = self._connect()
            self._sessions += 1
        try:
            yield
        finally:
            with self._open_lock:
                self._sessions -= 1
                if self._sessions == 0 and not self.keep_open and not self._closed:
                    self._timer = threading.Timer(LINGER, self._idle)
                    self._timer.daemon = True
                    self._timer.start()

    def _idle(self) -> None:
        with self._open_lock:
            if self._sessions == 0 and not self._closed:
                self._release()

    def _release(self) -> None:
        with self._cursors_lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
        self._local = threading.local()
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def con(self):
        """This thread's cursor on the database (made on first use)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._open_lock:
                if self._closed:
                    raise StoreError(f"The store {self.path} is closed; open a new Client to "
                                     "use it.")
                if self._db is None:  # used outside a session: open until the next one ends
                    self._db = self._connect()
                cursor = self._db.cursor()
            with self._cursors_lock:
                self._cursors.append(cursor)
            self._local.cursor = cursor
        return cursor

    def close(self) -> None:
        """Close the file now, from any thread: a pending idle release is cancelled, and a
        release already running on the timer's thread is waited for (the lock), so DuckDB is
        closed once, in order. Runs at exit for every store still open."""
        with self._open_lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._release()

    def _drop_cursor(self) -> None:
        """Let go of this thread's cursor after a failure (it may hold an open result or an
        aborted transaction): the thread's next statement gets a fresh one."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            return
        self._local.cursor = None
        with self._cursors_lock:
            if cursor in self._cursors:
                self._cursors.remove(cursor)
        with contextlib.suppress(duckdb.Error):
            cursor.close()

    @contextlib.contextmanager
    def errors(self):
        """Raw DuckDB and Arrow errors become the project's errors, with what to do."""
        try:
            yield
        except ClusterMetricsError:
            raise
        except duckdb.ConversionException as exc:
            self._drop_cursor()
            raise SchemaError(_conversion_message(exc)) from None
        except duckdb.OutOfMemoryException:  # the caller can act on it: no incident
            self._drop_cursor()
            raise _out_of_memory() from None
        except OSError as exc:  # DuckDB's Arrow stream reports running out of memory so
            if "out of memory" not in str(exc).lower():
                raise
            self._drop_cursor()
            raise _out_of_memory() from None
        except duckdb.ConnectionException as exc:
            raise StoreError(f"The store {self.path} is closed ({exc}); open a new Client to "
                             "use it.") from None
        except duckdb.Error as exc:
            self._drop_cursor()
            raise StoreError(f"The store {self.path} failed: {exc}. Nothing of this operation "
                             "was written; if it persists, export your datasets and report "
                             "it.") from None
        except pa.ArrowException as exc:
            raise InvalidInputError(f"The data could not be converted: {exc}.") from None

    @contextlib.contextmanager
    def snapshot(self):
        """One read transaction on this thread's cursor: every read inside sees the same
        committed state, whatever other threads write meanwhile."""
        con = self.con
        if getattr(self._local, "snapshot", False):  # already inside one
            yield
            return
        con.execute("BEGIN TRANSACTION")
        self._local.snapshot = True
        try:
            yield
        except BaseException:
            self._local.snapshot = False
            # nothing to keep; the cursor may be gone already (errors() lets a failed one go)
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        self._local.snapshot = False
        con.execute("COMMIT")

    # -- datasets ----------------------------------------------------------------------------
    def list_datasets(self) -> list[str]:
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'datasets' "
            "ORDER BY table_name").fetchall()
        return [r[0] for r in rows]

    def exists(self, dataset: str) -> bool:
        return dataset in self.list_datasets()

    def require(self, dataset: str) -> str:
        if not self.exists(dataset):
            raise NotFoundError("dataset", dataset, self.list_datasets())
        return dataset

    def _check_new_name(self, dataset: str) -> None:
        """A new dataset's name may not differ from an existing one only in case (the store's
        names are case-insensitive)."""
        same = [d for d in self.list_datasets() if d.lower() == dataset.lower()]
        if same:
            raise InvalidInputError(
                f"Dataset {dataset!r} differs from the existing dataset {same[0]!r} only in "
                f"case, and dataset names are case-insensitive in the store. Use {same[0]!r} "
                "to add to it, or choose another name.")

    def table(self, dataset: str) -> str:
        return f"datasets.{q(dataset)}"

    def schema(self, dataset: str) -> dict[str, str]:
        """Field name -> SQL type, in column order."""
        self.require(dataset)
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'datasets' AND table_name = ? ORDER BY ordinal_position",
            [dataset]).fetchall()
        return dict(rows)

    def vector_fields(self, dataset: str) -> dict[str, int]:
        return {name: int(m.group(1)) for name, t in self.schema(dataset).items()
                if (m := _ARRAY.match(t))}

    def count(self, dataset: str) -> int:
        self.require(dataset)
        return self.scalar(f"SELECT count(*) FROM {self.table(dataset)}")

    def set_vector_field(self, dataset: str, field: str) -> dict:
        """Declare a stored field a vector field: its lists of numbers (``DOUBLE[]``,
        ``BIGINT[]``, ..., or text holding them, ``"[1.0, 2.0]"``, as a CSV file stores
        vectors) become ``FLOAT[d]``, all of them or none. Refused, naming the
        documents, when the lists differ in length, hold nulls, NaN or infinite values, or
        values beyond 32-bit floats. Returns what changed: ``{"field", "from", "to",
        "documents"}`` (``documents``: how many vectors were converted; 0 if it already was
        one)."""
        schema = self.schema(dataset)
        if field not in schema:
            plain = [f for f in schema if not f.startswith(CLUSTER_PREFIX) and f != "_id"]
            raise NotFoundError("field", field, plain, f" in dataset {dataset!r}")
        sqltype = schema[field]
        if _ARRAY.match(sqltype):
            return {"dataset": dataset, "field": field, "from": sqltype, "to": sqltype,
                    "documents": 0}
        t, c = self.table(dataset), q(field)
        text = sqltype == "VARCHAR"  # vectors written as text, "[1.0, 2.0]", as from a CSV
        element = "DOUBLE" if text else sqltype[:-2] if sqltype.endswith("[]") else None
        if element is None or _family(element) not in ("int", "float"):
            raise InvalidInputError(
                f"Field {field!r} of dataset {dataset!r} is {sqltype}; only a field of lists "
                "of numbers (or of text holding them, such as \"[1.0, 2.0]\") can become a "
                "vector field.")
        if text:
            # no aliases in these statements: a user's field, or the dataset's name (a table
            # name is also a row value in DuckDB), would shadow them; positions instead
            parsed = f"TRY_CAST({c} AS DOUBLE[])"
            unread = self.con.execute(
                f"SELECT _id, {c} FROM {t} WHERE trim({c}) != '' AND ({parsed} IS NULL OR "
                f"list_count({parsed}) != len({parsed})) ORDER BY _id LIMIT 3").fetchall()
            if unread:
                shown = "; ".join(f"_id {i!r}: {v[:60]!r}" for i, v in unread)
                raise InvalidInputError(
                    f"Field {field!r} of dataset {dataset!r} is text, and not all of it is "
                    f"lists of numbers such as [1.0, 2.0] (first: {shown}); only a field of "
                    "lists of numbers can become a vector field. Nothing was changed.")
            c = f"TRY_CAST({c} AS DOUBLE[])"  # empty text (a CSV's empty cell): no vector
        lengths = self.con.execute(
            f"SELECT len({c}), count(*), list(_id ORDER BY _id)[1:5] FROM {t} "
            f"WHERE {c} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
        if not lengths:
            raise InvalidInputError(f"Field {field!r} of dataset {dataset!r} holds no lists; "
                                    "there is nothing to make a vector of.")
        dim = int(lengths[0][0])
        if len(lengths) > 1 or dim == 0:
            others = [r for r in lengths if r[0] != dim] if dim else lengths
            n = sum(r[1] for r in others)
            first = ", ".join(f"{i!r} ({r[0]} values)" for r in others for i in r[2])
            raise SchemaError(
                f"Field {field!r} cannot become a vector field: {lengths[0][1]:,} documents "
                f"have {dim} values but {n:,} have another length (first: {first}). Nothing "
                "was changed; fix or remove those documents' lists and try again."
                if dim else
                f"Field {field!r} cannot become a vector field: its lists are empty.")
        bad_values = f"list_count({c}) != len({c})"
        if _family(element) == "float":  # NaN sorts above every number, so list_max finds it
            bad_values += (f" OR isnan(list_max({c})) OR list_max({c}) > {_F32_MAX} "
                           f"OR list_min({c}) < -{_F32_MAX}")
        bad = self.con.execute(f"SELECT _id FROM {t} WHERE {c} IS NOT NULL AND ({bad_values}) "
                               "ORDER BY _id").fetchall()
        if bad:
            raise SchemaError(
                f"Field {field!r} cannot become a vector field: "
                f"{counted(len(bad), 'document')} {'has' if len(bad) == 1 else 'have'} "
                "null, NaN or infinite values (or values beyond 32-bit floats) in their lists "
                f"(first _id: {', '.join(repr(r[0]) for r in bad[:5])}). Nothing was changed.")
        n = lengths[0][1]
        with self._transaction():
            self._bump(dataset)
            self.con.execute(f"ALTER TABLE {t} ALTER COLUMN {q(field)} TYPE FLOAT[{dim}]"
                             + (f" USING CAST({c} AS FLOAT[{dim}])" if text else ""))
        return {"dataset": dataset, "field": field, "from": sqltype, "to": f"FLOAT[{dim}]",
                "documents": int(n)}

    def drop(self, dataset: str) -> None:
        with self._transaction():  # checked under the write lock: two deletes cannot race
            self.require(dataset)
            self.con.execute(f"DROP TABLE {self.table(dataset)}")
            self.con.execute("DELETE FROM aliases WHERE dataset = ?", [dataset])
            self.con.execute("DELETE FROM versions WHERE dataset = ?", [dataset])

    # -- documents -------------------------------------------------------------------------
    def write(self, dataset: str, data, *, mode: str = "insert", ids=None,
              vector_field: str | None = None, vector_fields=(),
              progress: Callable[[str, int, int], None] | None = None) -> dict:
        """Insert (replace whole documents) or upsert (merge fields), in one transaction:
        all of the input or none of it. ``progress(mode, rows, total)`` is called as pieces
        are written. Returns::

            {"inserted": n, "updated": m,
             "labels_dropped": {vector_field: {alias: count}},  # labels of changed vectors
             "widened": {field: "BIGINT -> DOUBLE"}}           # fields whose type grew

        Cluster labels are data: a replaced or merged document keeps its label for every
        alias as long as its vector is unchanged; where the vector changed, the labels of
        that vector field's aliases are dropped (unless the batch gives new ones) and counted.
        A value never changes to fit a field: a field widens (integer -> double) or the batch
        is refused, naming the field and ``_id``.

        A Parquet file arrives in pieces, each read and checked in a background thread while
        DuckDB writes the one before; an insert is then one INSERT over the stream of pieces.
        """
        with self._write_lock:  # the schema read below must not change before the write
            return self._write(dataset, data, mode=mode, ids=ids, vector_field=vector_field,
                               vector_fields=vector_fields, progress=progress)

    def _write(self, dataset: str, data, *, mode, ids, vector_field, vector_fields,
               progress) -> dict[str, int]:
        check_name(dataset)
        if mode not in ("insert", "upsert"):
            raise InvalidInputError(f"mode must be 'insert' or 'upsert'; got {mode!r}.")
        exists = self.exists(dataset)
        if not exists:
            self._check_new_name(dataset)
        current = self.schema(dataset) if exists else {"_id": "VARCHAR"}
        source = data if isinstance(data, Pieces) else Pieces(
            data, ids=ids, vector_field=vector_field, vector_fields=vector_fields)
        declared = [*vector_fields, *source.vector_field_names]
        _check_declared(dataset, current, declared)
        checker = _PieceChecker(self.vector_fields(dataset) if exists else {}, vector_fields,
                                current)
        with Prefetch(checker(p) for p in source) as pieces:
            first = next(pieces, None)
            if first is None or first.num_rows == 0:
                return _result(0, 0)
            _check_declared_present(declared, first, current)
            _check_label_columns(first.column_names)
            widen = self._fit_types(dataset, current, first, source)
            total = source.parquet.metadata.num_rows if source.parquet else first.num_rows
            report = (lambda rows: progress(mode, rows, total)) if progress else (lambda r: None)
            return self._write_pieces(dataset, exists, mode, first, pieces, source, widen,
                                      report)

    def _write_pieces(self, dataset: str, exists: bool, mode: str, first: pa.Table, pieces,
                      source: Pieces, widen: dict[str, tuple[str, str]], report) -> dict:
        # while the reader thread decodes a Parquet file, one DuckDB thread fewer leaves it a
        # core: measured faster on 2 cores than DuckDB's threads competing with the reader
        threads = self.scalar("SELECT current_setting('threads')")
        if source.parquet is not None and threads > 1:
            self.con.execute(f"SET threads = {threads - 1}")
        try:
            with self._transaction():
                if not exists:
                    self.con.execute(f"CREATE TABLE {self.table(dataset)} (_id VARCHAR)")
                for name, (_, wider) in widen.items():
                    self.con.execute(f"ALTER TABLE {self.table(dataset)} ALTER COLUMN "
                                     f"{q(name)} TYPE {wider}")
                self._add_columns(dataset, first, self.schema(dataset))
                dropped: dict[tuple[str, str], int] = {}
                if mode == "insert":
                    known = first.column("_id") if source.parquet is None else source.ids
                    counts = self._insert_stream(dataset, first, pieces, known, report,
                                                 dropped)
                else:
                    counts = {"inserted": 0, "updated": 0}
                    for table in itertools.chain([first], pieces):
                        done = self._upsert_piece(dataset, table, dropped)
                        counts = {k: counts[k] + done[k] for k in counts}
                        report(table.num_rows)
                for name in first.column_names:  # labels that came inside documents
                    if name.startswith(CLUSTER_PREFIX) and name.count(".") >= 2:
                        vf, alias = name[len(CLUSTER_PREFIX):].rsplit(".", 1)
                        self.register_alias(dataset, vf, alias)
                self._count_changed(dataset, dropped)
                self._bump(dataset)
        finally:  # after COMMIT or ROLLBACK, when DuckDB accepts these again
            for name in ("_batch", "_ids", "_stream"):
                self.con.unregister(name)
            self.con.execute(f"SET threads = {int(threads)}")
        return _result(counts["inserted"], counts["updated"], dropped, widen)

    def _insert_stream(self, dataset: str, first: pa.Table, rest, known, report,
                       dropped: dict) -> dict[str, int]:
        """Replace the documents whose ids are ``known`` (None: all ids are new), then append
        every piece with one INSERT that pulls the pieces as DuckDB writes; ``report(rows)``
        as each piece is pulled. Labels of replaced documents whose vectors are unchanged are
        put back; the others are counted in ``dropped``."""
        t = self.table(dataset)
        existing, kept = 0, None
        if known is not None:
            self.con.register("_ids", pa.table({"_id": known}))
            existing = self.scalar(f"SELECT count(*) FROM {t} WHERE _id IN (SELECT _id FROM _ids)")
            if existing:
                kept = self._keep_labels(dataset, first.column_names)
                self.con.execute(f"DELETE FROM {t} WHERE _id IN (SELECT _id FROM _ids)")
        failure: list[BaseException] = []
        rows = [0]

        def batches():
            try:
                for table in itertools.chain([first], rest):
                    rows[0] += table.num_rows
                    report(table.num_rows)
                    # an array's one piece goes as DuckDB row groups: 4,096-row batches
                    # cost DuckDB 25-40% more CPU (its small collections merged again); a
                    # Parquet piece is one small batch, appended by one DuckDB thread
                    yield from table.select(first.column_names).cast(first.schema).to_batches(
                        max_chunksize=ROW_GROUP)
            except BaseException as exc:  # raised again below, as it was
                failure.append(exc)
                raise

        self.con.register("_stream", pa.RecordBatchReader.from_batches(first.schema, batches()))
        cols = ", ".join(q(c) for c in first.column_names)
        try:
            self._run(f"INSERT INTO {t} ({cols}) SELECT * FROM _stream")
        except (duckdb.Error, pa.ArrowException):
            if failure:
                raise failure[0] from None
            raise
        if kept is not None:
            tmp, fields, labels = kept
            self._restore_labels(dataset, tmp, fields, labels, dropped)
        return {"inserted": rows[0] - existing, "updated": existing}

    def _label_columns(self, dataset: str) -> list[tuple[str, str, str]]:
        """(vector_field, alias, column) of every label column."""
        return [(vf, alias, label_column(vf, alias)) for vf, alias in self.aliases(dataset)]

    def _keep_labels(self, dataset: str, given: list[str]
                     ) -> tuple[str, list[str], list[tuple[str, str, str]]] | None:
        """Before documents are replaced: their labels, and a hash of each vector the labels
        belong to, in a temporary table. Labels the batch gives itself are not kept."""
        schema = self.schema(dataset)
        labels = [(vf, a, c) for vf, a, c in self._label_columns(dataset) if c not in given]
        if not labels:
            return None
        fields = sorted({vf for vf, _, _ in labels})
        tmp = f"_kept_{uuid.uuid4().hex}"
        hashes = [f"hash({q(vf) if vf in schema else 'NULL'}) AS h{i}"
                  for i, vf in enumerate(fields)]
        values = [f"{q(c)} AS l{i}" for i, (_, _, c) in enumerate(labels)]
        anyone = " OR ".join(f"{q(c)} IS NOT NULL" for _, _, c in labels)
        self.con.execute(
            f"CREATE TEMP TABLE {tmp} AS SELECT _id, {', '.join(hashes + values)} FROM "
            f"{self.table(dataset)} WHERE _id IN (SELECT _id FROM _ids) AND ({anyone})")
        return tmp, fields, labels

    def _restore_labels(self, dataset: str, tmp: str, fields: list[str], labels: list,
                        dropped: dict) -> None:
        """Put kept labels back where the vector hashes as before; count the others."""
        t, schema = self.table(dataset), self.schema(dataset)
        try:
            same = {vf: (f"hash(_doc.{q(vf)}) = _k.h{i}" if vf in schema else
                         f"hash(NULL) = _k.h{i}") for i, vf in enumerate(fields)}
            sets = ", ".join(
                f"{q(c)} = CASE WHEN _doc.{q(c)} IS NULL AND {same[vf]} THEN _k.l{i} "
                f"ELSE _doc.{q(c)} END" for i, (vf, _, c) in enumerate(labels))
            self.con.execute(f"UPDATE {t} AS _doc SET {sets} FROM {tmp} AS _k "
                             "WHERE _doc._id = _k._id")
            lost = self.row(
                "SELECT " + ", ".join(
                    f"count(*) FILTER (WHERE _k.l{i} IS NOT NULL AND _doc.{q(c)} IS NULL)"
                    for i, (_, _, c) in enumerate(labels))
                + f" FROM {tmp} AS _k JOIN {t} AS _doc ON _doc._id = _k._id")
            # documents of the batch that were not written again: none (every known id is)
            for (vf, alias, _), n in zip(labels, lost, strict=True):
                if n:
                    dropped[(vf, alias)] = dropped.get((vf, alias), 0) + int(n)
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {tmp}")

    def _count_changed(self, dataset: str, dropped: dict) -> None:
        for (vf, alias), n in dropped.items():
            self.con.execute("UPDATE aliases SET changed = coalesce(changed, 0) + ? WHERE "
                             "dataset = ? AND vector_field = ? AND alias = ?",
                             [n, dataset, vf, alias])

    def _sql_types(self, table: pa.Table) -> dict[str, str]:
        """The SQL type DuckDB gives each Arrow column."""
        probe = f"_probe_{uuid.uuid4().hex}"
        self.con.register(probe, table.slice(0, 0))
        try:
            return {row[0]: row[1]
                    for row in self.con.execute(f"DESCRIBE SELECT * FROM {probe}").fetchall()}
        finally:
            self.con.unregister(probe)

    def _add_columns(self, dataset: str, table: pa.Table, current: dict[str, str]) -> None:
        new = [f for f in table.schema if f.name not in current]
        if not new:
            return
        types = self._sql_types(table)  # let DuckDB name the types of these Arrow columns
        for f in new:
            self.con.execute(f"ALTER TABLE {self.table(dataset)} ADD COLUMN {q(f.name)} "
                             f"{types[f.name]}")

    def _fit_types(self, dataset: str, current: dict[str, str], first: pa.Table,
                   source: Pieces) -> dict[str, tuple[str, str]]:
        """Check that every value of the batch fits the type of its stored field without
        changing. Returns the fields to widen first, ``{field: (stored, wider)}``; raises
        :class:`SchemaError` naming the field and ``_id`` for a value that cannot be stored
        as it is. A Parquet file's columns are checked whole (read again, without vectors),
        not only its first piece."""
        types = self._sql_types(first)
        check = [n for n in first.column_names if n in current and types[n] != current[n]
                 and not pa.types.is_null(first.schema.field(n).type)]
        if not check:
            return {}
        table = first
        if source.parquet is not None:
            names = source.parquet.schema_arrow.names
            tops = list(dict.fromkeys(n if n in names else n.split(".", 1)[0] for n in check))
            table = source.read_columns(tops)
        widen = {}
        for name in check:
            col = table.column(name)
            col = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
            wider = self._fit(dataset, name, current[name], types[name], col,
                              table.column("_id"))
            if wider and wider != current[name]:
                widen[name] = (current[name], wider)
        return widen

    def _fit(self, dataset: str, name: str, stored: str, incoming: str, col: pa.Array,
             ids, stored_values: str | None = None) -> str | None:
        """None when every value of ``col`` is stored unchanged as ``stored``; else the wider
        type that holds them all (and every stored value) unchanged, or a SchemaError.
        ``stored_values``: the SQL expression of the stored values (items of a list field)."""
        if incoming == stored or col.null_count == len(col):
            return None
        if stored.endswith("[]") and incoming.endswith("[]") and not _ARRAY.match(stored):
            values = pc.list_flatten(col)
            parents = pc.list_parent_indices(col).to_numpy()
            wider = self._fit(dataset, name, stored[:-2], incoming[:-2], values,
                              pc.take(ids, parents), f"unnest({q(name)})")
            return wider + "[]" if wider else None
        s, i = _family(stored), _family(incoming)
        valid = col.is_valid().to_numpy(zero_copy_only=False)

        def refuse(bad: np.ndarray, why: str) -> SchemaError:
            row = int(np.flatnonzero(bad & valid)[0])
            count = int((bad & valid).sum())
            return SchemaError(
                f"Field {name!r} of dataset {dataset!r} is stored as {stored}, but "
                f"{counted(count, 'document')} {'gives' if count == 1 else 'give'} {why} "
                "(first: _id "
                f"{str(ids[row])!r}, value "
                f"{col[row].as_py()!r}). Nothing of this batch was written: convert those "
                f"values to {_KIND.get(s, stored)}, or store them under a new field name.")

        everywhere = np.ones(len(col), bool)
        if s in ("int", "float") and i in ("int", "float"):
            v = pc.fill_null(col, 0).to_numpy(zero_copy_only=False)
            v = v.astype(np.float64) if i == "float" else v
            if s == "int":
                lo, hi = _INT_RANGES[stored]
                fits = (np.isfinite(v) & (np.floor(v) == v) & (v >= lo) & (v <= hi)
                        if i == "float" else (v >= lo) & (v <= hi))
                if fits[valid].all():
                    return None
                if i == "int" and ((v >= _INT_RANGES["BIGINT"][0]) &
                                   (v <= _INT_RANGES["BIGINT"][1]))[valid].all():
                    return "BIGINT"
                if i == "int":
                    raise refuse(~fits, "integers too large for it")
                # decimals: the field becomes DOUBLE if every stored integer stays exact there
                big = self.scalar(
                    f"SELECT count(*) FROM (SELECT {stored_values or q(name)} FROM "
                    f"{self.table(dataset)}) AS _v(_x) WHERE abs(_x::HUGEINT) > "
                    "9007199254740992")
                if big:
                    raise refuse(~fits, "decimals, and some stored integers are too large to "
                                        "become exact doubles")
                return "DOUBLE"
            exact = 2.0 ** (24 if stored == "FLOAT" else 53)
            if i == "int":  # compared as integers: 2**53 + 1 rounds to 2**53 as a double
                fits = (v <= int(exact)) & (v >= -int(exact))
            else:
                with np.errstate(over="ignore", invalid="ignore"):
                    fits = (v.astype(np.float32).astype(np.float64) == v) | np.isnan(v)
            if fits[valid].all():
                return None
            if stored == "FLOAT":
                return "DOUBLE"
            raise refuse(~fits, "integers too large to be exact doubles")
        raise refuse(everywhere, _KIND_OF.get(i, f"{incoming} values"))

    def _upsert_piece(self, dataset: str, table: pa.Table, dropped: dict) -> dict[str, int]:
        """Merge the given fields into existing documents; insert the new ones. A document
        whose vector changes loses its labels for that vector field's aliases (unless the
        piece gives them), counted in ``dropped``."""
        t = self.table(dataset)
        self._add_columns(dataset, table, self.schema(dataset))
        types = self.schema(dataset)
        self.con.register("_batch", table)
        existing = self.scalar(f"SELECT count(*) FROM {t} WHERE _id IN (SELECT _id FROM _batch)")
        given = set(table.column_names)
        # both sides aliased: a dataset may have any name, including the alias of the other
        sets = {c: f"coalesce(CAST(_new.{q(c)} AS {types[c]}), _doc.{q(c)})"
                for c in table.column_names if c != "_id"}
        stale = [(vf, a, c) for vf, a, c in self._label_columns(dataset) if vf in given]
        if existing and stale:
            changed = {vf: f"(_new.{q(vf)} IS NOT NULL AND _new.{q(vf)} IS DISTINCT FROM "
                           f"_doc.{q(vf)})" for vf, _, _ in stale}
            new_label = {c: (f"CAST(_new.{q(c)} AS {types[c]})" if c in given else "NULL")
                         for _, _, c in stale}
            lost = self.row(
                "SELECT " + ", ".join(
                    f"count(*) FILTER (WHERE {changed[vf]} AND _doc.{q(c)} IS NOT NULL AND "
                    f"{new_label[c]} IS NULL)" for vf, _, c in stale)
                + f" FROM {t} AS _doc JOIN _batch AS _new ON _doc._id = _new._id")
            for (vf, alias, c), n in zip(stale, lost, strict=True):
                if n:
                    dropped[(vf, alias)] = dropped.get((vf, alias), 0) + int(n)
                sets[c] = (f"CASE WHEN {changed[vf]} THEN {new_label[c]} "
                           f"ELSE coalesce({new_label[c]}, _doc.{q(c)}) END")
        if sets and existing:
            assignments = ", ".join(f"{q(c)} = {expr}" for c, expr in sets.items())
            self._run(f"UPDATE {t} AS _doc SET {assignments} FROM _batch AS _new "
                      "WHERE _doc._id = _new._id")
        cols = ", ".join(q(c) for c in table.column_names)
        self._run(f"INSERT INTO {t} ({cols}) SELECT * FROM _batch "
                  f"WHERE _id NOT IN (SELECT _id FROM {t})")
        self.con.unregister("_batch")
        return {"inserted": table.num_rows - existing, "updated": existing}

    def _run(self, sql: str) -> None:
        """A write whose values DuckDB converts to the stored types."""
        try:
            self.con.execute(sql)
        except duckdb.ConversionException as exc:
            raise SchemaError(_conversion_message(exc)) from None

    def get(self, dataset: str, ids, fields=None) -> list[dict]:
        """Documents by ``_id`` (in the order asked; unknown ids are skipped), nested again."""
        return [nest(row) for row in self.get_table(dataset, ids, fields).to_pylist()]

    def delete_documents(self, dataset: str, ids) -> int:
        """Delete documents by ``_id``; returns how many there were. Each alias counts the
        labelled documents it lost (``changed`` in :meth:`alias_info`)."""
        self.require(dataset)
        self.con.register("_ids", pa.table({"_id": [str(i) for i in ids]}))
        t = self.table(dataset)
        labels = self._label_columns(dataset)
        try:
            with self._transaction():
                n, *lost = self.row(
                    "SELECT " + ", ".join(["count(*)", *(f"count({q(c)})" for *_, c in labels)])
                    + f" FROM {t} WHERE _id IN (SELECT _id FROM _ids)")
                self.con.execute(f"DELETE FROM {t} WHERE _id IN (SELECT _id FROM _ids)")
                lost_by_alias = zip(labels, lost, strict=True)
                self._count_changed(dataset, {(vf, a): int(k)
                                              for (vf, a, _), k in lost_by_alias if k})
                if n:
                    self._bump(dataset)
        finally:
            self.con.unregister("_ids")
        return n

    def export_reader(self, dataset: str, batch_size: int = 16_384):
        """Every column of every document as Arrow batches, read inside one snapshot on a
        cursor of its own (this thread's stays free for other calls meanwhile). Returns
        ``(reader, done)``: call ``done()`` when the reader is finished with."""
        self.require(dataset)
        assert self._db is not None, "export_reader runs inside a session"
        cursor = self._db.cursor()
        cursor.execute("BEGIN TRANSACTION")
        reader = cursor.sql(f"SELECT * FROM {self.table(dataset)}").to_arrow_reader(
            batch_size=batch_size)

        def done() -> None:
            with contextlib.suppress(duckdb.Error):
                cursor.execute("COMMIT")
            cursor.close()

        return reader, done

    def get_table(self, dataset: str, ids, fields=None) -> pa.Table:
        """Documents by ``_id`` as a flat Arrow table, in the order asked (unknown ids
        skipped)."""
        self.require(dataset)
        ids = [str(i) for i in ids]
        cols = "d.*" if fields is None else ", ".join(f"d.{q(c)}" for c in ["_id", *fields])
        self.con.register("_ids", pa.table({"_id": ids, "_pos": np.arange(len(ids))}))
        try:
            return self.con.sql(f"SELECT {cols} FROM {self.table(dataset)} d JOIN _ids i "
                                "ON d._id = i._id ORDER BY i._pos").to_arrow_table()
        finally:
            self.con.unregister("_ids")

    def present_counts(self, dataset: str) -> dict[str, int]:
        """Field -> number of documents that have it, in one scan."""
        names = list(self.schema(dataset))
        row = self.row("SELECT " + ", ".join(f"count({q(n)})" for n in names)
                       + f" FROM {self.table(dataset)}")
        return dict(zip(names, (int(v) for v in row), strict=True))

    def alias_counts(self, dataset: str, vector_field: str, alias: str) -> tuple[int, int]:
        """(documents labelled, distinct labels) of one alias."""
        col = q(label_column(vector_field, alias))
        labelled, k = self.row(f"SELECT count({col}), count(DISTINCT {col}) "
                               f"FROM {self.table(dataset)}")
        return int(labelled), int(k)

    def label_counts(self, dataset: str, label_col: str, truth_col: str | None = None
                     ) -> pa.Table:
        """Counts per label (column ``cluster``, ``n``), or per (label, truth) pair (columns
        ``cluster``, ``truth``, ``n``); documents without a label (or truth) left out."""
        t = self.table(dataset)
        if truth_col is None:
            return self.con.sql(  # grouped and ordered by position: names can be shadowed
                f"SELECT {q(label_col)} AS cluster, count(*) AS n FROM {t} "
                f"WHERE {q(label_col)} IS NOT NULL GROUP BY 1 ORDER BY 1"
            ).to_arrow_table()
        return self.con.sql(
            f"SELECT {q(label_col)} AS cluster, {q(truth_col)} AS truth, count(*) AS n FROM {t} "
            f"WHERE {q(label_col)} IS NOT NULL AND {q(truth_col)} IS NOT NULL GROUP BY 1, 2"
        ).to_arrow_table()

    def labelled(self, dataset: str, label_col: str, columns: Sequence[str] = (), *,
                 present: Sequence[str] = ()) -> pa.Table:
        """``_id``, the label and ``columns`` of the documents labelled in ``label_col`` that
        have every field of ``present``, in storage order (read the columns by position: a
        field may share a name with the label column's)."""
        cols = ", ".join(q(c) for c in ["_id", label_col, *columns])
        where = " AND ".join(f"{q(c)} IS NOT NULL" for c in [label_col, *present])
        return self.con.sql(f"SELECT {cols} FROM {self.table(dataset)} WHERE {where}"
                            ).to_arrow_table()

    def cluster_groups(self, dataset: str, label_col: str, field: str, *, vector_field: str,
                       numeric: bool, noise_label=None, noise: str = "exclude",
                       top: int | None = None) -> pa.Table:
        """One field grouped by cluster, over the labelled documents with the vector.

        Noise (labels equal to ``noise_label``, an integer matching its text) is left out
        under ``noise="exclude"``, one group under "cluster", and a group per document under
        "singletons" (column 1 then holds the ``_id``; it is null otherwise).

        ``numeric``: columns (cluster, single, documents, count, mean, median, min, max) by
        position. Otherwise each value's count: (cluster, single, value, n, value_total,
        cluster_total, total), the ``top`` most frequent values per group (all: None), the
        totals counted before the cut.
        """
        t, lbl, f = self.table(dataset), q(label_col), q(field)
        params: list = []
        where = f"{lbl} IS NOT NULL AND {q(vector_field)} IS NOT NULL"
        single = "NULL::VARCHAR"
        if noise_label is not None and noise == "exclude":
            where += f" AND CAST({lbl} AS VARCHAR) IS DISTINCT FROM ?"
            params.append(str(noise_label))
        elif noise_label is not None and noise == "singletons":
            single = f"CASE WHEN CAST({lbl} AS VARCHAR) = ? THEN _id END"
            params.insert(0, str(noise_label))
        if numeric:
            return self.con.sql(
                f"SELECT {lbl}, {single}, count(*), count({f}), avg({f}), "
                f"quantile_cont({f}, 0.5), min({f}), max({f}) FROM {t} WHERE {where} "
                "GROUP BY 1, 2 ORDER BY 1, 2", params=params).to_arrow_table()
        cut = "" if top is None else (" QUALIFY row_number() OVER (PARTITION BY _cm_c, _cm_s "
                                      "ORDER BY _cm_n DESC, CAST(_cm_v AS VARCHAR)) <= ?")
        if top is not None:
            params.append(int(top))
        return self.con.sql(
            "SELECT _cm_c, _cm_s, _cm_v, _cm_n, (sum(_cm_n) OVER (PARTITION BY _cm_v))::BIGINT, "
            "(sum(_cm_n) OVER (PARTITION BY _cm_c, _cm_s))::BIGINT, "
            "(sum(_cm_n) OVER ())::BIGINT FROM ("
            f"SELECT {lbl} AS _cm_c, {single} AS _cm_s, {f} AS _cm_v, count(*) AS _cm_n "
            f"FROM {t} WHERE {where} AND {f} IS NOT NULL GROUP BY 1, 2, 3){cut} "
            "ORDER BY 1, 2, 4 DESC", params=params).to_arrow_table()

    # -- reading for the engines -----------------------------------------------------------
    def reader(self, dataset: str, columns: list[str], *, not_null: str | None = None,
               batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Arrow batches of the given columns in storage order (the same order every pass),
        skipping rows where ``not_null`` is null."""
        where = f"WHERE {q(not_null)} IS NOT NULL" if not_null else ""
        sql = f"SELECT {', '.join(q(c) for c in columns)} FROM {self.table(dataset)} {where}"
        return self.con.sql(sql).to_arrow_reader(batch_size=batch_size)

    def field_count(self, dataset: str, field: str) -> tuple[int, int]:
        """(documents, documents that have ``field``)."""
        total, present = self.row(f"SELECT count(*), count({q(field)}) FROM {self.table(dataset)}")
        return int(total), int(present)

    def scalar(self, sql: str, params=()):
        return self.row(sql, params)[0]

    def row(self, sql: str, params=()):
        """The first row of a query (the result is read to the end, as DuckDB requires)."""
        rows = self.con.execute(sql, list(params)).fetchall()
        return rows[0] if rows else None

    # -- cluster labels --------------------------------------------------------------------
    def aliases(self, dataset: str) -> list[tuple[str, str]]:
        """(vector_field, alias) for every label column of the dataset."""
        out = []
        for name in self.schema(dataset):
            parsed = _parse_label_column(name)
            if parsed is not None:
                out.append(parsed)
        return out

    def alias_info(self, dataset: str, vector_field: str, alias: str) -> dict:
        """How an alias was made: method, params, centroids, ``created_at``, and ``changed``:
        how many of its documents changed vector (losing the label) or were deleted since."""
        row = self.row(
            "SELECT method, params, centroids, created_at, changed FROM aliases WHERE "
            "dataset = ? AND vector_field = ? AND alias = ? ORDER BY created_at DESC LIMIT 1",
            [dataset, vector_field, alias])
        if row is None:
            return {"method": "custom", "params": {}, "centroids": None, "created_at": None,
                    "changed": 0}
        method, params, centroids, created, changed = row
        return {"method": method, "params": json.loads(params or "{}"),
                "centroids": None if centroids is None else np.asarray(centroids, np.float64),
                "created_at": created, "changed": int(changed or 0)}

    def set_labels(self, dataset: str, vector_field: str, alias: str, ids, labels, *,
                   method: str = "custom", params: dict | None = None, centroids=None,
                   deleted_ok: bool = False, vector_hashes=None) -> int:
        """Write one alias's labels for the given ids, all or nothing. Returns rows labelled.

        An unknown id refuses the batch, unless ``deleted_ok`` (a fit whose documents were
        read before it ran): documents deleted meanwhile are skipped and counted as changed
        since the alias was made. ``vector_hashes`` (one per id, from
        :meth:`vector_hashes` when the fit read the vectors) labels only the documents whose
        vector is still the one the fit saw; the others are skipped and counted the same way."""
        check_name(alias, "alias")
        col = label_column(vector_field, alias)
        labels = label_array(labels, ids)
        columns = {"_id": pa.array([str(i) for i in ids]), "label": labels}
        if vector_hashes is not None:
            columns["h"] = pa.array(vector_hashes, pa.uint64())
        batch = pa.table(columns)
        t = self.table(dataset)
        self.con.register("_labels", batch)
        try:
            with self._transaction():
                gone = self._write_labels(dataset, t, col, labels.type, deleted_ok,
                                          vector_field if vector_hashes is not None else None)
                self.con.execute("DELETE FROM aliases WHERE dataset = ? AND vector_field = ? "
                                 "AND alias = ?", [dataset, vector_field, alias])
                self.con.execute(
                    "INSERT INTO aliases (dataset, vector_field, alias, method, params, "
                    "centroids, changed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [dataset, vector_field, alias, method, json.dumps(params or {}),
                     None if centroids is None else np.asarray(centroids, np.float32).tolist(),
                     gone])
        finally:
            self.con.unregister("_labels")
        return batch.num_rows

    def _write_labels(self, dataset: str, t: str, col: str, arrow_type,
                      deleted_ok: bool = False, checked_field: str | None = None) -> int:
        """Replace the label column; returns how many labelled ids were skipped as deleted
        or, with ``checked_field``, as holding another vector than ``_labels.h`` says."""
        unknown = self.con.execute(
            f"SELECT _id FROM _labels WHERE _id NOT IN (SELECT _id FROM {t}) LIMIT 5").fetchall()
        n = 0
        if unknown:
            n = self.scalar(f"SELECT count(*) FROM _labels WHERE _id NOT IN (SELECT _id FROM {t})")
        if unknown and not deleted_ok:
            raise InvalidInputError(
                f"{n} labelled ids are not in dataset {dataset!r} (first: "
                f"{', '.join(repr(r[0]) for r in unknown)}); no labels were written.")
        dup = self.scalar("SELECT count(*) FROM (SELECT _id FROM _labels GROUP BY _id "
                          "HAVING count(*) > 1)")
        if dup:
            raise InvalidInputError(f"{dup} ids are labelled more than once; no labels were "
                                    "written.")
        if col in self.schema(dataset):
            self.con.execute(f"ALTER TABLE {t} DROP COLUMN {q(col)}")
        sqltype = "BIGINT" if pa.types.is_integer(arrow_type) else "VARCHAR"
        self.con.execute(f"ALTER TABLE {t} ADD COLUMN {q(col)} {sqltype}")
        same = ""
        stale = f"_stale_{uuid.uuid4().hex}"
        if checked_field is not None:  # the vectors hashed once: 3 GB take ~2 s at 1M x 768
            self.con.execute(
                f"CREATE TEMP TABLE {stale} AS SELECT _new._id FROM _labels AS _new "
                f"JOIN {t} AS _doc ON _doc._id = _new._id WHERE hash(_doc.{q(checked_field)}) "
                "IS DISTINCT FROM _new.h")
            n += self.scalar(f"SELECT count(*) FROM {stale}")
            same = f" AND _new._id NOT IN (SELECT _id FROM {stale})"
        self.con.execute(f"UPDATE {t} AS _doc SET {q(col)} = _new.label FROM _labels AS _new "
                         f"WHERE _doc._id = _new._id{same}")
        if checked_field is not None:  # (a failed write rolls the table back with the rest)
            self.con.execute(f"DROP TABLE {stale}")
        return int(n)

    def vector_hashes(self, dataset: str, vector_field: str) -> pa.Array:
        """A 64-bit hash of each stored vector of the field, in storage order (the order of
        :meth:`reader`), documents without it skipped: read in the same snapshot as the
        vectors, they let a write check that a vector is still the one that was read."""
        t, vf = self.table(dataset), q(vector_field)
        return self.con.sql(f"SELECT hash({vf}) AS h FROM {t} WHERE {vf} IS NOT NULL"
                            ).to_arrow_table().column("h").combine_chunks()

    def register_alias(self, dataset: str, vector_field: str, alias: str) -> None:
        """Record an alias that arrived inside documents (``_cluster_``), if not known yet."""
        known = self.scalar("SELECT count(*) FROM aliases WHERE dataset = ? AND vector_field = ? "
                            "AND alias = ?", [dataset, vector_field, alias])
        if not known:
            self.con.execute("INSERT INTO aliases (dataset, vector_field, alias, method, params) "
                             "VALUES (?, ?, ?, 'custom', '{}')", [dataset, vector_field, alias])

    def delete_alias(self, dataset: str, vector_field: str, alias: str) -> None:
        with self._transaction():
            self.con.execute(f"ALTER TABLE {self.table(dataset)} DROP COLUMN "
                             f"{q(label_column(vector_field, alias))}")
            self.con.execute("DELETE FROM aliases WHERE dataset = ? AND vector_field = ? AND "
                             "alias = ?", [dataset, vector_field, alias])

    # -- headline metrics kept with the aliases ----------------------------------------------
    def version(self, dataset: str) -> int:
        """The version of the dataset's documents: bumped by every write, delete and change
        of a vector field's type, in the same transaction (0 before the first)."""
        v = self.scalar("SELECT version FROM versions WHERE dataset = ?", [dataset])
        return int(v or 0)

    def _bump(self, dataset: str) -> None:
        self.con.execute("INSERT INTO versions VALUES (?, 1) ON CONFLICT (dataset) DO UPDATE "
                         "SET version = versions.version + 1", [dataset])

    def kept(self, dataset: str, vector_field: str, alias: str) -> dict:
        """The headline metrics kept with an alias: ``{"version": v, "created_at": t,
        "kept": {...}}``, ``kept`` empty where none were kept for the alias as it is."""
        row = self.row("SELECT kept, kept_version, created_at FROM aliases WHERE dataset = ? "
                       "AND vector_field = ? AND alias = ? ORDER BY created_at DESC LIMIT 1",
                       [dataset, vector_field, alias])
        if row is None:
            return {"version": None, "created_at": None, "kept": {}}
        kept, version, created = row
        return {"version": version, "created_at": created, "kept": json.loads(kept or "{}")}

    def keep(self, dataset: str, vector_field: str, alias: str, created_at, version: int,
             kept: dict) -> None:
        """Keep headline metrics with the alias as it was made at ``created_at`` (an alias
        replaced since keeps nothing of them), computed on the documents' ``version``."""
        with self._transaction():
            self.con.execute(
                "UPDATE aliases SET kept = ?, kept_version = ? WHERE dataset = ? AND "
                "vector_field = ? AND alias = ? AND created_at IS NOT DISTINCT FROM ?",
                [json.dumps(kept), version, dataset, vector_field, alias, created_at])

    # -- helpers -----------------------------------------------------------------------------
    def _transaction(self):
        return _Transaction(self.con, self._write_lock)


class _PieceChecker:
    """Normalises pieces in turn, carrying what earlier pieces fixed (vector dimensions and
    field names) so that every piece is checked against the same schema."""

    def __init__(self, dims: dict[str, int], vector_fields, existing: dict[str, str]):
        self.dims, self.vector_fields, self.names = dict(dims), vector_fields, list(existing)

    def __call__(self, piece: pa.Table) -> pa.Table:
        table = normalize(piece, dims=self.dims, vector_fields=self.vector_fields,
                          existing=self.names)
        for f in table.schema:
            if pa.types.is_fixed_size_list(f.type):
                self.dims.setdefault(f.name, f.type.list_size)
            if f.name not in self.names:
                self.names.append(f.name)
        return table


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK on any error: a batch is written whole or not at all.
    Holds the store's write lock, so writers of one process never conflict."""

    def __init__(self, con, lock):
        self.con, self.lock = con, lock

    def __enter__(self):
        self.lock.acquire()
        try:
            self.con.execute("BEGIN TRANSACTION")
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.con.execute("COMMIT")
            else:  # the error that got here says more than a failed rollback would
                with contextlib.suppress(duckdb.Error):
                    self.con.execute("ROLLBACK")
        finally:
            self.lock.release()
        return False


def _conversion_message(exc: Exception) -> str:
    return (f"A field's values do not match the type already stored: {exc}. "
            "Nothing of this batch was written; convert the field or use a new field name.")


def _out_of_memory() -> TooLargeError:
    return TooLargeError(
        "The store ran out of memory for this operation (this process's memory or "
        "address-space limit). Nothing of it was written. Write fewer documents per call, "
        "ask for less at once (another call may be holding memory: try again when it ends), "
        "or give the process more memory.")


def duckdb_memory_limit() -> int | None:
    """DuckDB's memory limit in a process under an address-space limit (``RLIMIT_AS``: a
    server's, ``ulimit -v``): half of it, so that DuckDB frees and refuses within it rather
    than meeting the limit with its buffers full (a failed large write then left a later
    read out of memory too); None where no limit is set."""
    import resource  # POSIX only, like the limit itself

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else max(soft // 2, 64 * 2**20)


def _check_store_path(path: str) -> None:
    """A store path must name a file (made with its folder when absent), not a folder."""
    if os.path.isdir(path):
        raise StoreError(
            f"The store path {path} is a folder; give the path of a file, for example "
            f"{os.path.join(path, 'store.duckdb')}, with --path or CLUSTERMETRICS_PATH.")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot make the folder for the store {path}: {exc.strerror}. Give "
                         "another path with --path or CLUSTERMETRICS_PATH.") from None


# DuckDB opens a data file given as a database (x.csv, x.parquet) as a temporary in-memory
# database: everything written there would vanish, so such paths are refused before opening.
_DATA_FILES = (".csv", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson", ".arrow",
               ".feather", ".xlsx")


def _check_store_file(path: str) -> None:
    if path == ":memory:":
        return
    ext = os.path.splitext(path)[1].lower()
    if ext in _DATA_FILES:
        raise StoreError(
            f"{path} names a {ext} data file, not a store: a store is one DuckDB file (such as "
            "store.duckdb). To bring the file's documents in, run 'clustermetrics import "
            f"DATASET {path}'; give the store with --path or CLUSTERMETRICS_PATH.")
    if os.path.isfile(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as f:
            header = f.read(12)
        if header[8:12] != b"DUCK":
            raise StoreError(
                f"{path} is not a clustermetrics store (not a DuckDB database file). Give the "
                "path of a store, or of a file that does not exist yet, with --path or "
                "CLUSTERMETRICS_PATH.")


def _parse_label_column(name: str) -> tuple[str, str] | None:
    """(vector field, alias) of a column ``_cluster_.{vector_field}.{alias}``, else None."""
    if not name.startswith(CLUSTER_PREFIX) or "." not in name[len(CLUSTER_PREFIX):]:
        return None
    vf, alias = name[len(CLUSTER_PREFIX):].rsplit(".", 1)
    return (vf, alias) if vf else None


def _check_label_columns(names: list[str]) -> None:
    """Labels inside documents must name their vector field and alias: a column such as
    ``_cluster_.x`` would be stored where no alias can reach it."""
    for name in names:
        if name.startswith(CLUSTER_PREFIX):
            parsed = _parse_label_column(name)
            if parsed is None:
                raise SchemaError(
                    f"Field {name!r} is under {CLUSTER_PREFIX.rstrip('.')!r}, which holds cluster "
                    "labels as _cluster_.VECTOR_FIELD.ALIAS (for example "
                    "_cluster_.image_vector_.mine); rename it or give both parts. Nothing was "
                    "written.")
            check_name(parsed[1], "alias")


def _open_error(path: str, exc: Exception) -> StoreError | StoreLockedError:
    text = str(exc)
    if "lock" in text.lower():
        return _locked_error(path, exc)
    if "not a valid DuckDB database file" in text:
        return StoreError(
            f"{path} is not a clustermetrics store (not a DuckDB database file). Give the path "
            "of a store, or of a file that does not exist yet, with --path or "
            "CLUSTERMETRICS_PATH.")
    detail = " ".join(text.split())
    return StoreError(f"Cannot open the store {path}: {detail}. Check the path and its "
                      "permissions, or give another with --path or CLUSTERMETRICS_PATH.")


def _locked_error(path: str, exc: Exception) -> StoreLockedError:
    text = str(exc)
    pid = re.search(r"PID (\d+)", text)
    who = f"process {pid.group(1)}" if pid else "another process"
    return StoreLockedError(
        f"The store {path} is open in {who}, and only one process may write to it at a time. "
        "Close that program (or wait for it to finish), or use another store with --path / "
        "CLUSTERMETRICS_PATH."
    )


def _result(inserted: int, updated: int, dropped: dict | None = None,
            widened: dict | None = None) -> dict:
    labels: dict[str, dict[str, int]] = {}
    for (vf, alias), n in sorted((dropped or {}).items()):
        labels.setdefault(vf, {})[alias] = n
    return {"inserted": inserted, "updated": updated, "labels_dropped": labels,
            "widened": {k: f"{a} -> {b}" for k, (a, b) in (widened or {}).items()}}


def _check_declared(dataset: str, current: dict[str, str], declared: Iterable[str]) -> None:
    """A field declared a vector that is stored as something else: say how to convert it."""
    for name in declared:
        if name in current and not _ARRAY.match(current[name]):
            raise SchemaError(
                f"Field {name!r} of dataset {dataset!r} is stored as {current[name]}, not as a "
                f"vector field. Make it one first (clustermetrics datasets set-vector {dataset} "
                f"{name}, or Dataset.set_vector_field({name!r})), then import again. Nothing "
                "was written.")


def _check_declared_present(declared: list[str], first: pa.Table,
                            current: dict[str, str]) -> None:
    """A declared vector field that neither the documents nor the dataset have: a typo."""
    fields = [n for n in first.column_names if n != "_id"]
    for name in declared:
        if name not in fields and name not in current:
            raise NotFoundError("vector field", name, fields, " in the documents")


_F32_MAX = "3.4028234663852886e38"
_INT_RANGES = {
    "TINYINT": (-(2**7), 2**7 - 1), "SMALLINT": (-(2**15), 2**15 - 1),
    "INTEGER": (-(2**31), 2**31 - 1), "BIGINT": (-(2**63), 2**63 - 1),
    "HUGEINT": (-(2**127), 2**127 - 1), "UTINYINT": (0, 2**8 - 1),
    "USMALLINT": (0, 2**16 - 1), "UINTEGER": (0, 2**32 - 1), "UBIGINT": (0, 2**64 - 1),
}
_KIND = {"int": "integers", "float": "numbers", "string": "text", "bool": "true/false"}
_KIND_OF = {"int": "integers", "float": "decimals", "string": "text", "bool": "true/false",
            "list": "lists"}


def _family(sqltype: str) -> str:
    if sqltype in _INT_RANGES:
        return "int"
    if sqltype in ("FLOAT", "DOUBLE"):
        return "float"
    if sqltype == "VARCHAR":
        return "string"
    if sqltype == "BOOLEAN":
        return "bool"
    if sqltype.endswith("]"):
        return "list"
    return sqltype
