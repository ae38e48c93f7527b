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

import contextlib
import itertools
import json
import os
import re
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa

from ..errors import (ClusterMetricsError, InvalidInputError, NotFoundError, SchemaError,
                      StoreError, StoreLockedError)
from .documents import CLUSTER_PREFIX, PIECE_ROWS, Pieces, check_name, normalize, prefetch

try:
    import duckdb
except ImportError as exc:  # pragma: no cover - duckdb is a core dependency
    raise ImportError("clustermetrics' store needs duckdb: pip install duckdb") from exc

_ARRAY = re.compile(r"^FLOAT\[(\d+)\]$")


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def label_column(vector_field: str, alias: str) -> str:
    return f"{CLUSTER_PREFIX}{vector_field}.{alias}"


class Store:
    """A DuckDB file of datasets. Only one process may open it for writing at a time.

    One Store serves many threads: each thread gets its own DuckDB cursor (so its statements,
    transactions and registered Arrow views are its own), and writes take a lock so that two
    transactions never race on a table's columns. Reads run concurrently with each other and
    with a write, each seeing the last committed state.
    """

    def __init__(self, path: str):
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            self._db = duckdb.connect(path)
        except duckdb.IOException as exc:
            raise _locked_error(path, exc) from None
        self._local = threading.local()
        self._cursors: list = []
        self._cursors_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        con = self._db
        con.execute("SET enable_progress_bar = false")
        # random float vectors do not compress; trying costs a third of the insert time
        con.execute("SET force_compression = 'uncompressed'")
        con.execute("CREATE SCHEMA IF NOT EXISTS datasets")
        con.execute(
            "CREATE TABLE IF NOT EXISTS aliases (dataset VARCHAR, vector_field VARCHAR, "
            "alias VARCHAR, method VARCHAR, params VARCHAR, centroids FLOAT[][], "
            "created_at TIMESTAMP DEFAULT current_timestamp)")

    @property
    def con(self):
        """This thread's cursor on the database (made on first use)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            if self._closed:
                raise StoreError(f"The store {self.path} is closed; open a new Client to use it.")
            cursor = self._db.cursor()
            with self._cursors_lock:
                self._cursors.append(cursor)
            self._local.cursor = cursor
        return cursor

    def close(self) -> None:
        with self._cursors_lock:
            self._closed = True
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
        self._local = threading.local()
        self._db.close()

    @contextlib.contextmanager
    def errors(self):
        """Raw DuckDB and Arrow errors become the project's errors, with what to do."""
        try:
            yield
        except ClusterMetricsError:
            raise
        except duckdb.ConversionException as exc:
            raise SchemaError(_conversion_message(exc)) from None
        except duckdb.ConnectionException as exc:
            raise StoreError(f"The store {self.path} is closed ({exc}); open a new Client to "
                             "use it.") from None
        except duckdb.Error as exc:
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
        finally:
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

    def drop(self, dataset: str) -> None:
        self.require(dataset)
        with self._transaction():
            self.con.execute(f"DROP TABLE {self.table(dataset)}")
            self.con.execute("DELETE FROM aliases WHERE dataset = ?", [dataset])

    # -- documents -------------------------------------------------------------------------
    def write(self, dataset: str, data, *, mode: str = "insert", ids=None,
              vector_field: str | None = None, vector_fields=(),
              progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
        """Insert (replace whole documents) or upsert (merge fields), in one transaction:
        all of the input or none of it. Returns ``{"inserted": n, "updated": m}``.
        ``progress(mode, rows, total)`` is called as pieces are written.

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
        current = self.schema(dataset) if exists else {"_id": "VARCHAR"}
        checker = _PieceChecker(self.vector_fields(dataset) if exists else {}, vector_fields,
                                current)
        source = data if isinstance(data, Pieces) else Pieces(
            data, ids=ids, vector_field=vector_field, vector_fields=vector_fields)
        pieces = prefetch(checker(p) for p in source)
        first = next(pieces, None)
        if first is None or first.num_rows == 0:
            return {"inserted": 0, "updated": 0}
        total = source.parquet.metadata.num_rows if source.parquet else first.num_rows
        report = (lambda rows: progress(mode, rows, total)) if progress else (lambda rows: None)
        # while the reader thread decodes a Parquet file, one DuckDB thread fewer leaves it a
        # core: measured faster on 2 cores than DuckDB's threads competing with the reader
        threads = self.scalar("SELECT current_setting('threads')")
        if source.parquet is not None and threads > 1:
            self.con.execute(f"SET threads = {threads - 1}")
        try:
            with self._transaction():
                if not exists:
                    self.con.execute(f"CREATE TABLE {self.table(dataset)} (_id VARCHAR)")
                self._add_columns(dataset, first, current)
                if mode == "insert":
                    known = first.column("_id") if source.parquet is None else source.ids
                    counts = self._insert_stream(dataset, first, pieces, known, report)
                else:
                    counts = {"inserted": 0, "updated": 0}
                    for table in itertools.chain([first], pieces):
                        done = self._upsert_piece(dataset, table)
                        counts = {k: counts[k] + done[k] for k in counts}
                        report(table.num_rows)
                for name in first.column_names:  # labels that came inside documents
                    if name.startswith(CLUSTER_PREFIX) and name.count(".") >= 2:
                        vf, alias = name[len(CLUSTER_PREFIX):].rsplit(".", 1)
                        self.register_alias(dataset, vf, alias)
        finally:  # after COMMIT or ROLLBACK, when DuckDB accepts these again
            for name in ("_batch", "_ids", "_stream"):
                self.con.unregister(name)
            self.con.execute(f"SET threads = {int(threads)}")
        return counts

    def _insert_stream(self, dataset: str, first: pa.Table, rest, known,
                       report) -> dict[str, int]:
        """Replace the documents whose ids are ``known`` (None: all ids are new), then append
        every piece with one INSERT that pulls the pieces as DuckDB writes; ``report(rows)``
        as each piece is pulled."""
        t = self.table(dataset)
        existing = 0
        if known is not None:
            self.con.register("_ids", pa.table({"_id": known}))
            existing = self.scalar(f"SELECT count(*) FROM {t} WHERE _id IN (SELECT _id FROM _ids)")
            if existing:
                self.con.execute(f"DELETE FROM {t} WHERE _id IN (SELECT _id FROM _ids)")
        failure: list[BaseException] = []
        rows = [0]

        def batches():
            try:
                for table in itertools.chain([first], rest):
                    rows[0] += table.num_rows
                    report(table.num_rows)
                    yield from table.select(first.column_names).cast(first.schema).to_batches(
                        max_chunksize=PIECE_ROWS)
            except BaseException as exc:  # raised again below, as it was
                failure.append(exc)
                raise

        self.con.register("_stream", pa.RecordBatchReader.from_batches(first.schema, batches()))
        cols = ", ".join(q(c) for c in first.column_names)
        try:
            self._run(f"INSERT INTO {t} ({cols}) SELECT * FROM _stream")
        except duckdb.Error:
            if failure:
                raise failure[0] from None
            raise
        return {"inserted": rows[0] - existing, "updated": existing}

    def _add_columns(self, dataset: str, table: pa.Table, current: dict[str, str]) -> None:
        new = [f for f in table.schema if f.name not in current]
        if not new:
            return
        # let DuckDB name the types it would give these Arrow columns
        self.con.register("_probe", table.slice(0, 0))
        types = {row[0]: row[1]
                 for row in self.con.execute("DESCRIBE SELECT * FROM _probe").fetchall()}
        self.con.unregister("_probe")
        for f in new:
            self.con.execute(f"ALTER TABLE {self.table(dataset)} ADD COLUMN {q(f.name)} "
                             f"{types[f.name]}")

    def _upsert_piece(self, dataset: str, table: pa.Table) -> dict[str, int]:
        """Merge the given fields into existing documents; insert the new ones."""
        t = self.table(dataset)
        self._add_columns(dataset, table, self.schema(dataset))
        types = self.schema(dataset)
        self.con.register("_batch", table)
        existing = self.scalar(f"SELECT count(*) FROM {t} WHERE _id IN (SELECT _id FROM _batch)")
        # both sides aliased: a dataset may have any name, including the alias of the other
        sets = ", ".join(f"{q(c)} = coalesce(CAST(_new.{q(c)} AS {types[c]}), _doc.{q(c)})"
                         for c in table.column_names if c != "_id")
        if sets and existing:
            self._run(f"UPDATE {t} AS _doc SET {sets} FROM _batch AS _new "
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
        self.require(dataset)
        self.con.register("_ids", pa.table({"_id": [str(i) for i in ids]}))
        try:
            with self._transaction():
                n = self.scalar(f"SELECT count(*) FROM {self.table(dataset)} "
                                "WHERE _id IN (SELECT _id FROM _ids)")
                self.con.execute(f"DELETE FROM {self.table(dataset)} "
                                 "WHERE _id IN (SELECT _id FROM _ids)")
        finally:
            self.con.unregister("_ids")
        return n

    def export_parquet(self, dataset: str, path: str) -> str:
        self.require(dataset)
        self.con.execute(f"COPY {self.table(dataset)} TO '{_sql_str(path)}' (FORMAT parquet)")
        return path

    def export_reader(self, dataset: str, batch_size: int = 16_384) -> pa.RecordBatchReader:
        """Every column of every document as Arrow batches, read inside one snapshot."""
        self.require(dataset)
        return self.con.sql(f"SELECT * FROM {self.table(dataset)}").to_arrow_reader(
            batch_size=batch_size)

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
            return self.con.sql(
                f"SELECT {q(label_col)} AS cluster, count(*) AS n FROM {t} "
                f"WHERE {q(label_col)} IS NOT NULL GROUP BY ALL ORDER BY cluster"
            ).to_arrow_table()
        return self.con.sql(
            f"SELECT {q(label_col)} AS cluster, {q(truth_col)} AS truth, count(*) AS n FROM {t} "
            f"WHERE {q(label_col)} IS NOT NULL AND {q(truth_col)} IS NOT NULL GROUP BY ALL"
        ).to_arrow_table()

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
            if name.startswith(CLUSTER_PREFIX):
                vf, alias = name[len(CLUSTER_PREFIX):].rsplit(".", 1)
                out.append((vf, alias))
        return out

    def alias_info(self, dataset: str, vector_field: str, alias: str) -> dict:
        row = self.row(
            "SELECT method, params, centroids, created_at FROM aliases WHERE dataset = ? AND "
            "vector_field = ? AND alias = ? ORDER BY created_at DESC LIMIT 1",
            [dataset, vector_field, alias])
        if row is None:
            return {"method": "custom", "params": {}, "centroids": None, "created_at": None}
        method, params, centroids, created = row
        return {"method": method, "params": json.loads(params or "{}"),
                "centroids": None if centroids is None else np.asarray(centroids, np.float64),
                "created_at": created}

    def set_labels(self, dataset: str, vector_field: str, alias: str, ids, labels, *,
                   method: str = "custom", params: dict | None = None, centroids=None) -> int:
        """Write one alias's labels for the given ids, all or nothing. Returns rows labelled."""
        check_name(alias, "alias")
        col = label_column(vector_field, alias)
        labels = pa.array(np.asarray(labels).tolist() if isinstance(labels, np.ndarray)
                          else list(labels))
        if pa.types.is_floating(labels.type):
            labels = _integral_or_string(labels)
        if not (pa.types.is_integer(labels.type) or pa.types.is_string(labels.type)
                or pa.types.is_null(labels.type)):
            labels = labels.cast(pa.string())
        batch = pa.table({"_id": pa.array([str(i) for i in ids]), "label": labels})
        t = self.table(dataset)
        self.con.register("_labels", batch)
        try:
            with self._transaction():
                self._write_labels(dataset, t, col, labels.type)
                self.con.execute("DELETE FROM aliases WHERE dataset = ? AND vector_field = ? "
                                 "AND alias = ?", [dataset, vector_field, alias])
                self.con.execute(
                    "INSERT INTO aliases (dataset, vector_field, alias, method, params, "
                    "centroids) VALUES (?, ?, ?, ?, ?, ?)",
                    [dataset, vector_field, alias, method, json.dumps(params or {}),
                     None if centroids is None else np.asarray(centroids, np.float32).tolist()])
        finally:
            self.con.unregister("_labels")
        return batch.num_rows

    def _write_labels(self, dataset: str, t: str, col: str, arrow_type) -> None:
        unknown = self.con.execute(
            f"SELECT _id FROM _labels WHERE _id NOT IN (SELECT _id FROM {t}) LIMIT 5").fetchall()
        if unknown:
            n = self.scalar(f"SELECT count(*) FROM _labels WHERE _id NOT IN (SELECT _id FROM {t})")
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
        self.con.execute(f"UPDATE {t} AS _doc SET {q(col)} = _new.label FROM _labels AS _new "
                         "WHERE _doc._id = _new._id")

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
            self.con.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()
        return False


def nest(row: dict) -> dict:
    """Dotted keys back into nested dicts; nulls of absent fields dropped."""
    out: dict = {}
    for key, value in row.items():
        if value is None:
            continue
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _integral_or_string(arr: pa.Array) -> pa.Array:
    values = arr.to_numpy(zero_copy_only=False)
    finite = values[~np.isnan(values)]
    if np.all(finite == np.round(finite)):
        return pa.array(np.where(np.isnan(values), 0, values).astype(np.int64),
                        mask=np.isnan(values))
    return arr.cast(pa.string())


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _conversion_message(exc: Exception) -> str:
    return (f"A field's values do not match the type already stored: {exc}. "
            "Nothing of this batch was written; convert the field or use a new field name.")


def _locked_error(path: str, exc: Exception) -> StoreLockedError:
    text = str(exc)
    pid = re.search(r"PID (\d+)", text)
    who = f"process {pid.group(1)}" if pid else "another process"
    return StoreLockedError(
        f"The store {path} is open in {who}, and only one process may write to it at a time. "
        "Close that program (or wait for it to finish), or use another store with --path / "
        "CLUSTERMETRICS_PATH."
    )
