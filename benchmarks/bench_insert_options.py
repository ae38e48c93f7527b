"""Ways to put n x 768 float32 vectors (with string ids) into a DuckDB file, side by side on
the same data, each against ``np.save`` of the same bytes measured in the same run.

Each option writes a fresh file in a temporary folder and is timed from the start of the
write to the file being closed (DuckDB's commit and checkpoint included), after ``os.sync()``
so that no earlier write is still being flushed. Printed per
option: wall seconds, CPU seconds of this process, vectors/s and the ratio of its rate to
``np.save``'s (1.0 = as fast as writing the raw array). The store's own import
(``Dataset.insert_documents``) is timed the same way for a Parquet file and a NumPy array.

    python benchmarks/bench_insert_options.py [--n 200000] [--d 768] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import clustermetrics as cm
from clustermetrics.documents import vectors_to_arrow


def connect(path: str, threads: int | None = None):
    if os.path.exists(path):
        os.remove(path)
    con = duckdb.connect(path)
    con.execute("SET force_compression = 'uncompressed'")  # as the store sets it
    if threads:
        con.execute(f"SET threads = {threads}")
    return con


def options(tmp: str, table: pa.Table, X: np.ndarray, ids: np.ndarray, parquet: str,
            d: int) -> dict[str, Callable[[], None]]:
    db = os.path.join(tmp, "o.duckdb")
    vec = f"FLOAT[{d}]"

    def in_transaction(*sql: str, threads: int | None = None,
                       **views: Callable[[], pa.Table | pa.RecordBatchReader]
                       ) -> Callable[[], None]:
        def run() -> None:  # the views are made inside the timing: a conversion counts
            con = connect(db, threads)
            for name, make in views.items():
                con.register(name, make())
            con.execute("BEGIN")
            for s in sql:
                con.execute(s)
            con.execute("COMMIT")
            con.close()
        return run

    def same() -> pa.Table:
        return table

    def lists() -> pa.Table:
        return table.cast(pa.schema([("_id", pa.string()), ("v", pa.list_(pa.float32()))]))

    def blobs() -> pa.Table:  # each vector's 4 x d bytes, as one binary value
        return pa.table({"_id": table.column("_id"), "v": pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(d * 4), len(X), [None, pa.py_buffer(X)]).cast(pa.large_binary())})

    def ids_only() -> pa.Table:
        return table.select(["_id"])

    def np_save() -> None:
        np.save(os.path.join(tmp, "x.npy"), X)

    def side_file() -> None:  # the vectors in an Arrow file, the ids in DuckDB
        with pa.OSFile(os.path.join(tmp, "v.arrow"), "wb") as f, \
                pa.ipc.new_file(f, pa.schema([("v", table.schema.field("v").type)])) as w:
            w.write_table(table.select(["v"]))
        in_transaction("CREATE TABLE t (_id VARCHAR, row BIGINT)",
                       "INSERT INTO t SELECT _id, row_number() OVER () - 1 FROM a",
                       a=ids_only)()

    def store(data, **kw) -> Callable[[], None]:
        def run() -> None:
            path = os.path.join(tmp, "store.duckdb")
            if os.path.exists(path):
                os.remove(path)
            with cm.Client(path=path) as client:
                client.Dataset("bench").insert_documents(data, **kw)
        return run

    return {
        "np.save of the same array": np_save,
        f"INSERT into {vec} from Arrow fixed-size lists": in_transaction(
            f"CREATE TABLE t (_id VARCHAR, v {vec})", "INSERT INTO t SELECT * FROM a", a=same),
        f"INSERT into {vec} from a stream of 4,096-row batches": in_transaction(
            f"CREATE TABLE t (_id VARCHAR, v {vec})", "INSERT INTO t SELECT * FROM a",
            a=lambda: pa.RecordBatchReader.from_batches(table.schema, table.to_batches(4096))),
        f"INSERT into {vec} from a stream of row-group batches": in_transaction(
            f"CREATE TABLE t (_id VARCHAR, v {vec})", "INSERT INTO t SELECT * FROM a",
            a=lambda: pa.RecordBatchReader.from_batches(table.schema,
                                                        table.to_batches(122_880))),
        f"INSERT into {vec}, one DuckDB thread": in_transaction(
            f"CREATE TABLE t (_id VARCHAR, v {vec})", "INSERT INTO t SELECT * FROM a", a=same,
            threads=1),
        f"CREATE TABLE AS ({vec}) from Arrow": in_transaction(
            "CREATE TABLE t AS SELECT * FROM a", a=same),
        "INSERT into FLOAT[] from Arrow lists": in_transaction(
            "CREATE TABLE t (_id VARCHAR, v FLOAT[])", "INSERT INTO t SELECT * FROM a", a=lists),
        f"vectors in a table of their own ({vec})": in_transaction(
            "CREATE TABLE t (_id VARCHAR)", f"CREATE TABLE v (_id VARCHAR, v {vec})",
            "INSERT INTO t SELECT _id FROM a", "INSERT INTO v SELECT * FROM a", a=same),
        "INSERT into BLOB (raw float32 bytes)": in_transaction(
            "CREATE TABLE t (_id VARCHAR, v BLOB)", "INSERT INTO t SELECT * FROM a", a=blobs),
        "Arrow file beside DuckDB, ids in DuckDB": side_file,
        f"COPY FROM the Parquet file into {vec}": in_transaction(
            f"CREATE TABLE t (_id VARCHAR, v {vec})", f"COPY t FROM '{parquet}' (FORMAT parquet)"),
        "CREATE TABLE AS from read_parquet": in_transaction(
            f"CREATE TABLE t AS SELECT * FROM read_parquet('{parquet}')"),
        "pyarrow decoding the Parquet file (no write)": lambda: sum(
            b.num_rows for b in pq.ParquetFile(parquet).iter_batches(batch_size=4096)),
        "store: insert_documents(Parquet file)": store(parquet),
        "store: insert_documents(NumPy array)": store(X, ids=ids, vector_field="v"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--only", default="", help="comma-separated words an option's name holds")
    args = ap.parse_args()
    n, d = args.n, args.d
    X = np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
    ids = np.array([f"doc-{i}" for i in range(n)], dtype=object)
    table = pa.table({"_id": pa.array(ids, pa.string()), "v": vectors_to_arrow(X)})
    tmp = tempfile.mkdtemp(prefix="bench_insert_")
    try:
        parquet = os.path.join(tmp, "docs.parquet")
        pq.write_table(table, parquet)
        runs = options(tmp, table, X, ids, parquet, d)
        wanted = [w.strip().lower() for w in args.only.split(",") if w.strip()]
        base = None
        print(f"{n:,} x {d} float32 ({X.nbytes / 1e6:,.0f} MB), {os.cpu_count()} cores")
        print(f"{'option':60s} {'wall s':>7s} {'CPU s':>6s} {'vectors/s':>10s} "
              f"{'/ np.save':>9s}")
        for name, run in runs.items():
            if base is not None and wanted and not any(w in name.lower() for w in wanted):
                continue
            gc.collect()
            os.sync()  # each option starts with no other write still being flushed
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            base = base or wall  # np.save comes first
            print(f"{name:60s} {wall:7.2f} {cpu:6.2f} {n / wall:10,.0f} {base / wall:9.2f}",
                  flush=True)
            for f in os.listdir(tmp):
                if f != "docs.parquet":
                    os.remove(os.path.join(tmp, f))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
