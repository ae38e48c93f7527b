"""Nothing lost, nothing silent (issue 10), through the command line and the Python API.

Each everyday mistake is its own test: the one-line message, the exit status, and the stored
data exactly as before. Real store files in tmp_path, no mocks."""

import json
import os
import re
import threading
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import clustermetrics as cm
from clustermetrics import Client
from clustermetrics.cli import main

N = 150  # documents of the fixture dataset


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()
    store = str(tmp_path / "cli.duckdb")

    def invoke(*args, input=None):
        return runner.invoke(main, [*args, "--path", store], input=input)

    invoke.store = store
    return invoke


def state(store: str) -> dict:
    """Every dataset's schema, rows and alias records, read from the store file."""
    import duckdb
    con = duckdb.connect(store, read_only=True)
    try:
        out = {}
        tables = con.execute("SELECT table_name FROM information_schema.tables WHERE "
                             "table_schema = 'datasets' ORDER BY table_name").fetchall()
        for (name,) in tables:
            cols = con.execute(f'DESCRIBE datasets."{name}"').fetchall()
            rows = con.execute(f'SELECT * FROM datasets."{name}" ORDER BY _id').fetchall()
            out[name] = ([c[:2] for c in cols], repr(rows))
        out["aliases"] = con.execute("SELECT dataset, vector_field, alias, method, params "
                                     "FROM aliases ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def one_line_error(res, pattern: str, status: int = 1) -> None:
    assert res.exit_code == status, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("Error:"), res.stderr
    assert pattern in " ".join(lines), res.stderr


@pytest.fixture
def docs(run, tmp_path):
    """150 documents in three blobs (5-d feat_vector_, a digit and a kind), clustered into
    kmeans_3 with the command line."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, N)
    X = rng.normal(size=(N, 5)) + labels[:, None] * 4
    rows = [{"_id": f"r{i}", "feat_vector_": X[i].tolist(), "digit": int(labels[i]),
             "kind": f"k{labels[i]}"} for i in range(N)]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run("import", "docs", str(path)).exit_code == 0
    res = run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", "3")
    assert res.exit_code == 0, res.output
    return path, rows


def labelled(store: str, alias: str = "kmeans_3") -> int:
    with Client(path=store) as c:
        return next(a["labelled"] for a in c.vector_tools.cluster.list_aliases("docs")
                    if a["alias"] == alias)


# -- 1. labels are data ------------------------------------------------------------------------

def test_reimporting_unchanged_documents_keeps_the_labels(run, docs):
    path, _ = docs
    res = run("import", "docs", str(path))
    assert res.exit_code == 0
    assert res.stdout.strip() == "docs: 0 inserted, 150 updated."
    assert labelled(run.store) == N


def test_reimporting_changed_vectors_says_how_many_labels_dropped(run, docs, tmp_path):
    _, rows = docs
    changed = tmp_path / "changed.jsonl"
    rows = [dict(r) for r in rows[:10]]
    for r in rows[:4]:
        r["feat_vector_"] = [9.0] * 5
    changed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run("import", "docs", str(changed))
    assert res.exit_code == 0
    assert "Alias kmeans_3 (feat_vector_): 4 labels dropped, their vectors changed." in res.stdout
    assert labelled(run.store) == N - 4
    described = json.loads(run("aliases", "describe", "docs", "-f", "feat_vector_", "-a",
                               "kmeans_3", "--json").stdout)
    assert described["changed"] == 4 and described["unlabelled"] == 4
    assert described["created_at"]
    res = run("aliases", "describe", "docs", "-f", "feat_vector_", "-a", "kmeans_3")
    assert "4 of its documents changed vector or were deleted since it was made" in res.stdout


def test_python_insert_returns_the_labels_dropped(tmp_path):
    with Client(path=str(tmp_path / "s.duckdb")) as client:
        ds = client.Dataset("docs")
        ds.insert_documents([{"_id": f"d{i}", "v_vector_": [float(i), 1.0]} for i in range(6)])
        client.vector_tools.cluster.kmeans("docs", "v_vector_", 2)
        out = ds.insert_documents([{"_id": "d0", "v_vector_": [5.0, 5.0]},
                                   {"_id": "d1", "v_vector_": [1.0, 1.0]}])
        assert out["labels_dropped"] == {"v_vector_": {"kmeans_2": 1}}
        info = client.vector_tools.cluster.describe_alias("docs", "v_vector_", "kmeans_2")
        assert (info["changed"], info["unlabelled"]) == (1, 1)


# -- 2. types never change a value ------------------------------------------------------------

def test_decimal_upserted_into_an_integer_field_widens_it_and_says_so(run, docs, tmp_path):
    path = tmp_path / "decimal.jsonl"
    path.write_text('{"_id": "r0", "digit": 7.5}\n')
    res = run("import", "docs", str(path), "--upsert")
    assert res.exit_code == 0
    assert "Field digit widened: BIGINT -> DOUBLE (its values did not fit)." in res.stdout
    with Client(path=run.store) as c:
        assert c.Dataset("docs").get_documents(["r0"], ["digit"]) == [{"_id": "r0",
                                                                       "digit": 7.5}]


def test_text_into_an_integer_field_is_refused(run, docs, tmp_path):
    path = tmp_path / "text.jsonl"
    path.write_text('{"_id": "r1", "digit": "seven"}\n')
    before = state(run.store)
    one_line_error(run("import", "docs", str(path), "--upsert"),
                   "Field 'digit' of dataset 'docs' is stored as BIGINT, but 1 document gives "
                   "text (first: _id 'r1', value 'seven')")
    assert state(run.store) == before


def test_nan_vectors_are_refused_at_import(run, docs, tmp_path):
    path = tmp_path / "nan.jsonl"
    path.write_text('{"_id": "n1", "feat_vector_": [1, 2, 3, 4, 5]}\n'
                    '{"_id": "n2", "feat_vector_": [1, 2, 3, 4, NaN]}\n'
                    '{"_id": "n3", "feat_vector_": [1, 2, 3, 4, Infinity]}\n')
    before = state(run.store)
    one_line_error(run("import", "docs", str(path)),
                   "Vector field 'feat_vector_' has NaN or infinite values (or values too large "
                   "for 32-bit floats) in 2 documents (first _id: 'n2', 'n3')")
    assert state(run.store) == before


def test_kmeans_on_nan_left_by_an_older_store_is_one_line(run, docs):
    import duckdb
    con = duckdb.connect(run.store)
    con.execute("""UPDATE datasets.docs SET feat_vector_ = ['nan'::FLOAT, 0, 0, 0, 0]
                   WHERE _id = 'r7'""")
    con.close()
    before = state(run.store)
    one_line_error(run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", "4"),
                   "Vector field 'feat_vector_' has NaN or infinite values in 1 document "
                   "(first _id: 'r7'); fix or delete them before clustering.")
    assert state(run.store) == before


# -- 3. a vector field imported without being recognised --------------------------------------

@pytest.fixture
def unrecognised(run, tmp_path):
    path = tmp_path / "emb.jsonl"
    path.write_text("".join(json.dumps({"_id": f"e{i}", "embedding": [float(i), 1.0, 2.0]})
                            + "\n" for i in range(12)))
    assert run("import", "emb", str(path)).exit_code == 0
    return path


def test_a_typo_in_vector_field_is_named(run, tmp_path, unrecognised):
    before = state(run.store)
    one_line_error(run("import", "other", str(unrecognised), "--vector-field", "embeding"),
                   "vector field 'embeding' not found in the documents. Did you mean "
                   "'embedding'?")
    assert state(run.store) == before


def test_not_a_vector_field_says_how_to_make_one(run, unrecognised):
    before = state(run.store)
    one_line_error(run("cluster", "kmeans", "emb", "-f", "embedding", "-k", "2"),
                   "Field 'embedding' of dataset 'emb' is DOUBLE[], not a vector field. Vector "
                   "fields: none. If it holds vectors, make it a vector field: clustermetrics "
                   "datasets set-vector emb embedding")
    assert state(run.store) == before


def test_reimport_with_the_flag_says_how_to_convert(run, unrecognised):
    before = state(run.store)
    one_line_error(run("import", "emb", str(unrecognised), "--vector-field", "embedding"),
                   "Field 'embedding' of dataset 'emb' is stored as DOUBLE[], not as a vector "
                   "field. Make it one first (clustermetrics datasets set-vector emb embedding")
    assert state(run.store) == before


def test_set_vector_command_converts_then_kmeans_works(run, unrecognised):
    res = run("datasets", "set-vector", "emb", "embedding")
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == ("embedding: DOUBLE[] -> FLOAT[3] (12 vectors, now stored as "
                                  "32-bit floats).")
    assert run("cluster", "kmeans", "emb", "-f", "embedding", "-k", "2").exit_code == 0
    again = run("datasets", "set-vector", "emb", "embedding", "--json")
    assert json.loads(again.stdout)["documents"] == 0


def test_set_vector_command_refuses_ragged_lists(run, unrecognised, tmp_path):
    path = tmp_path / "short.jsonl"
    path.write_text('{"_id": "short", "embedding": [1.0, 2.0]}\n')
    assert run("import", "emb", str(path)).exit_code == 0
    before = state(run.store)
    one_line_error(run("datasets", "set-vector", "emb", "embedding"),
                   "Field 'embedding' cannot become a vector field: 12 documents have 3 values "
                   "but 1 have another length (first: 'short' (2 values))")
    assert state(run.store) == before


def test_dataset_set_vector_field_in_python(tmp_path):
    with Client(path=str(tmp_path / "s.duckdb")) as client:
        ds = client.Dataset("emb")
        ds.insert_documents([{"_id": f"e{i}", "embedding": [i, 1, 2]} for i in range(5)])
        assert ds.set_vector_field("embedding")["to"] == "FLOAT[3]"
        assert ds.schema["embedding"] == "FLOAT[3]"


# -- 4. one line, status 1, for bad files -----------------------------------------------------

@pytest.mark.parametrize("name, content, message", [
    ("empty.jsonl", b"", "is empty: there are no documents in it"),
    ("empty.csv", b"", "is empty: there are no documents in it"),
    ("empty.parquet", b"", "is empty: there are no documents in it"),
    ("header.csv", b"_id,title,emb_vector_\n",
     "The file {path} holds no documents (no rows after its header). Nothing was imported."),
    ("cut.jsonl", b'{"_id": "a", "digit": 1}\n{"_id": "b", "di',
     "Line 2 of {path} is not valid JSON"),
    ("mixed.jsonl", b'{"_id": "a", "v_vector_": [1, 2]}\n{"_id": "b", "v_vector_": "1, 2"}\n',
     "Field 'v_vector_' is a list in line 1 (_id 'a') but a string in line 2 (_id 'b')"),
    ("nested.jsonl", b'{"_id": "a", "price": {"eur": 1}}\n{"_id": "b", "price": 2}\n',
     "Field 'price' is an object in line 1 (_id 'a') but a number in line 2 (_id 'b')"),
    ("numbers.json", b"[1, 2]", "holds an array whose item 0 is a number, not a document"),
    ("notes.txt", b"hello", "Unknown file type"),
])
def test_bad_import_file(run, docs, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    before = state(run.store)
    one_line_error(run("import", "docs", str(path)), message.format(path=path))
    assert state(run.store) == before


def test_parquet_import_of_no_rows(run, docs, tmp_path):
    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"_id": pa.array([], pa.string())}), path)
    before = state(run.store)
    one_line_error(run("import", "new", str(path)),
                   f"The file {path} holds no documents (no rows). Nothing was imported.")
    assert state(run.store) == before


def test_truncated_parquet_import(run, docs, tmp_path):
    full = tmp_path / "full.parquet"
    pq.write_table(pa.table({"_id": [f"p{i}" for i in range(3000)], "n": range(3000)}), full)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    before = state(run.store)
    one_line_error(run("import", "docs", str(cut)), f"Cannot read {cut} as Parquet")
    assert state(run.store) == before
    assert [t for t in threading.enumerate() if t.name == "clustermetrics-reader"] == []


def test_json_array_file_imports(run, docs, tmp_path):
    path = tmp_path / "more.json"
    path.write_text(json.dumps([{"_id": "j1", "kind": "k1"}, {"_id": "j2", "kind": "k2"}]))
    res = run("import", "docs", str(path))
    assert res.exit_code == 0 and "2 inserted" in res.stdout


def test_dataset_name_differing_only_in_case(run, docs):
    path, _ = docs
    before = state(run.store)
    one_line_error(run("import", "Docs", str(path)),
                   "Dataset 'Docs' differs from the existing dataset 'docs' only in case")
    one_line_error(run("datasets", "describe", "DOCS"),
                   "dataset 'DOCS' not found. Did you mean 'docs'?")
    assert state(run.store) == before


def test_python_documents_mixing_nested_and_scalar_fields(tmp_path):
    with Client(path=str(tmp_path / "s.duckdb")) as client:
        with pytest.raises(cm.SchemaError, match=r"Field 'price' is an object in document 'a' "
                                                 r"but a number in document 'b'"):
            client.Dataset("x").insert_documents([{"_id": "a", "price": {"eur": 1}},
                                                  {"_id": "b", "price": 2}])
        assert client.list_datasets() == []


# -- output paths, checked before any work ----------------------------------------------------

@pytest.mark.parametrize("command", [
    ["report", "docs", "-f", "feat_vector_", "-a", "kmeans_3"],
    ["compare", "docs", "-f", "feat_vector_", "-a", "kmeans_3"],
    ["sweep", "docs", "-f", "feat_vector_", "--k-min", "2", "--k-max", "4"],
    ["datasets", "export", "docs"],
])
def test_output_into_a_missing_folder(run, docs, tmp_path, command):
    out = str(tmp_path / "missing" / ("x.parquet" if "export" in command else "x.html"))
    args = [*command, out] if "export" in command else [*command, "-o", out]
    before = state(run.store)
    one_line_error(run(*args), f"the folder '{tmp_path / 'missing'}' does not exist")
    assert state(run.store) == before  # the sweep stored no alias
    assert not (tmp_path / "missing").exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", [
    ["report", "docs", "-f", "feat_vector_", "-a", "kmeans_3"],
    ["compare", "docs", "-f", "feat_vector_", "-a", "kmeans_3"],
    ["sweep", "docs", "-f", "feat_vector_", "--k-min", "2", "--k-max", "4"],
    ["datasets", "export", "docs"],
])
def test_output_into_a_folder_that_cannot_be_written(run, docs, command):
    """/proc refuses new files even to root, for whom permission bits allow everything."""
    out = "/proc/x.parquet" if "export" in command else "/proc/x.html"
    args = [*command, out] if "export" in command else [*command, "-o", out]
    before = state(run.store)
    one_line_error(run(*args), "the folder '/proc' is not writable")
    assert state(run.store) == before


def test_report_in_python_checks_its_path_first(run, docs, tmp_path):
    with Client(path=run.store) as client, pytest.raises(cm.InvalidInputError,
                                                         match="does not exist"):
        client.vector_tools.cluster.report("docs", "feat_vector_", "kmeans_3",
                                           path=str(tmp_path / "no" / "r.html"))


@pytest.mark.parametrize("ext, check", [
    ("parquet", lambda p: pq.read_table(p).num_rows),
    ("csv", lambda p: len(pd.read_csv(p))),
    ("jsonl", lambda p: len(pd.read_json(p, lines=True))),
])
def test_export_writes_the_format_its_extension_names(run, docs, tmp_path, ext, check):
    out = tmp_path / f"out.{ext}"
    res = run("datasets", "export", "docs", str(out))
    assert res.exit_code == 0, res.output
    assert check(out) == N
    run("datasets", "delete", "docs", "--yes")
    assert run("import", "docs", str(out)).exit_code == 0  # and back, labels included
    assert labelled(run.store) == N


def test_export_refuses_an_extension_it_cannot_write(run, docs, tmp_path):
    one_line_error(run("datasets", "export", "docs", str(tmp_path / "out.xlsx")),
                   "the extension '.xlsx' names no format we write. Use .parquet, .csv or "
                   ".jsonl.")
    assert not (tmp_path / "out.xlsx").exists()


def test_export_parquet_refuses_a_csv_name(run, docs, tmp_path):
    with Client(path=run.store) as client, pytest.raises(
            cm.InvalidInputError, match=r"export_parquet writes Parquet; give a path ending in "
                                        r"\.parquet"):
        client.Dataset("docs").export_parquet(str(tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()


# -- ranges of k and sweeps -------------------------------------------------------------------

def test_sweep_k_beyond_the_documents_stores_nothing(run, docs):
    before = state(run.store)
    one_line_error(run("sweep", "docs", "-f", "feat_vector_", "--k-min", "148", "--k-max",
                       "152"),
                   "k must be from 2 to 149 for the 150 documents of 'docs' with "
                   "'feat_vector_' (the metrics need fewer clusters than documents); got 150, "
                   "151, 152. Nothing was run.")
    assert state(run.store) == before


def test_sweep_k_min_above_k_max(run, docs):
    res = run("sweep", "docs", "-f", "feat_vector_", "--k-min", "5", "--k-max", "3")
    assert res.exit_code == 1 and "--k-min 5 is more than --k-max 3" in res.output


def test_sweep_with_a_bad_metric_stores_nothing(run, docs):
    before = state(run.store)
    res = run("sweep", "docs", "-f", "feat_vector_", "--k-max", "4", "--metric", "bogus")
    assert res.exit_code == 1 and "bogus" in res.stderr
    assert state(run.store) == before


def test_sweep_refuses_to_overwrite_an_alias_it_did_not_make(run, docs):
    with Client(path=run.store) as client:
        client.vector_tools.cluster.set_cluster_labels(
            "docs", "feat_vector_", "kmeans_4", {f"r{i}": i % 4 for i in range(N)})
    before = state(run.store)
    one_line_error(run("sweep", "docs", "-f", "feat_vector_", "--k-min", "2", "--k-max", "5"),
                   "The sweep would replace 1 alias it did not make (kmeans_4). Delete or "
                   "rename them, choose other k, or pass overwrite=True (--overwrite)")
    assert state(run.store) == before
    res = run("sweep", "docs", "-f", "feat_vector_", "--k-min", "2", "--k-max", "5",
              "--overwrite")
    assert res.exit_code == 0, res.output
    again = run("sweep", "docs", "-f", "feat_vector_", "--k-min", "2", "--k-max", "5")
    assert again.exit_code == 0  # aliases the sweep made are its own to replace


def test_sweep_in_python_refuses_too(run, docs):
    with Client(path=run.store) as client:
        client.vector_tools.cluster.kmeans("docs", "feat_vector_", 4, random_state=7)
        with pytest.raises(cm.InvalidInputError, match=r"would replace 1 alias it did not make "
                                                       r"\(kmeans_4\)"):
            client.vector_tools.cluster.sweep("docs", "feat_vector_", k=[5, 4])
        assert client.api.store.alias_info("docs", "feat_vector_", "kmeans_4")["params"][
            "random_state"] == 7
        assert "kmeans_5" not in [a["alias"] for a in client.vector_tools.cluster.list_aliases(
            "docs")]


@pytest.mark.parametrize("k", ["150", "151"], ids=["k = n", "k > n"])
def test_kmeans_k_beyond_the_documents(run, docs, k):
    before = state(run.store)
    one_line_error(run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", k),
                   "k must be from 2 to 149 for the 150 documents of 'docs' with "
                   "'feat_vector_' (the metrics need fewer clusters than documents); got "
                   f"{k}. Nothing was run.")
    assert state(run.store) == before


@pytest.mark.parametrize("args, key", [
    (["--algorithm", "kmeans", "--param", "n_clusters=150"], "n_clusters"),
    (["--algorithm", "gaussian-mixture", "--param", "n_components=150"], "n_components"),
], ids=["kmeans", "gaussian mixture"])
def test_fit_with_as_many_clusters_as_documents_is_refused(run, docs, args, key):
    before = state(run.store)
    one_line_error(run("cluster", "fit", "docs", "-f", "feat_vector_", *args),
                   f"{key} must be from 2 to 149 for the 150 documents of 'docs' with "
                   "'feat_vector_' (the metrics need fewer clusters than documents); got 150. "
                   "Nothing was run.")
    assert state(run.store) == before


# -- noise labels -------------------------------------------------------------------------------

@pytest.fixture
def noisy(run, docs):
    with Client(path=run.store) as client:
        client.vector_tools.cluster.set_cluster_labels(
            "docs", "feat_vector_", "hdb", {f"r{i}": -1 if i % 10 == 0 else i % 3
                                            for i in range(N)})
        client.vector_tools.cluster.set_cluster_labels(
            "docs", "feat_vector_", "named", {f"r{i}": "-1" if i % 10 == 0 else f"c{i % 3}"
                                              for i in range(N)})


def test_noise_label_that_occurs_nowhere_is_a_warning(run, noisy):
    res = run("metrics", "docs", "-f", "feat_vector_", "-a", "hdb", "--noise-label", "-5")
    assert res.exit_code == 0
    assert ("Warning: Noise label -5 occurs nowhere in alias 'hdb' (its labels: -1, 0, 1, 2), "
            "so no document was left out as noise.") in res.stderr
    assert "Traceback" not in res.output and "UserWarning" not in res.output


def test_noise_label_warning_in_python(run, noisy):
    with Client(path=run.store) as client, pytest.warns(cm.ClusterMetricsWarning,
                                                        match="occurs nowhere"):
        client.vector_tools.cluster.metrics("docs", "feat_vector_", "hdb", noise_label=-5)


@pytest.mark.parametrize("alias, given", [("hdb", "-1"), ("named", -1)])
def test_noise_label_as_text_or_number_matches_either(run, noisy, alias, given):
    with Client(path=run.store) as client, warnings.catch_warnings():
        warnings.simplefilter("error", cm.ClusterMetricsWarning)
        result = client.vector_tools.cluster.metrics("docs", "feat_vector_", alias,
                                                     noise_label=given)
    assert result.counts["n_noise"] == 15 and result.counts["n_clusters"] == 3
    res = run("metrics", "docs", "-f", "feat_vector_", "-a", alias, "--noise-label", "-1",
              "--json")
    assert json.loads(res.stdout)["counts"]["n_noise"] == 15 and res.stderr == ""


def test_centroid_distances_leave_out_noise(run, noisy):
    with Client(path=run.store) as client:
        tools = client.vector_tools.cluster
        assert list(tools.centroid_distances("docs", "feat_vector_", "hdb").index) == [
            -1, 0, 1, 2]
        without = tools.centroid_distances("docs", "feat_vector_", "hdb", noise_label=-1)
        assert list(without.index) == [0, 1, 2]
        shown = client.api.report_data("docs", "feat_vector_", "hdb", noise_label=-1)
        np.testing.assert_allclose(without.to_numpy(), shown.centroid_distances.to_numpy())


# -- stores and clients -----------------------------------------------------------------------

def test_store_path_that_is_a_folder(run, tmp_path):
    res = CliRunner().invoke(main, ["datasets", "list", "--path", str(tmp_path)])
    one_line_error(res, f"The store path {tmp_path} is a folder")


def test_store_path_that_is_not_a_store(tmp_path):
    notes = tmp_path / "notes.duckdb"
    notes.write_text("my notes\n" * 100)
    res = CliRunner().invoke(main, ["datasets", "list", "--path", str(notes)])
    one_line_error(res, f"{notes} is not a clustermetrics store (not a DuckDB database file)")
    assert notes.read_text() == "my notes\n" * 100


def test_client_used_after_close(tmp_path):
    client = Client(path=str(tmp_path / "s.duckdb"))
    client.Dataset("d").insert_documents([{"_id": "a"}])
    client.close()
    with pytest.raises(cm.StoreError, match="is closed; open a new Client to use it"):
        client.list_datasets()
    with pytest.raises(cm.StoreError, match="is closed"):
        client.Dataset("d").insert_documents([{"_id": "b"}])
    client.close()  # closing twice is harmless
    with Client(path=str(tmp_path / "s.duckdb")) as again:
        assert len(again.Dataset("d")) == 1


def test_a_bug_shows_its_traceback_and_asks_for_a_report(run, docs, monkeypatch):
    from clustermetrics.api.local import LocalAPI

    def broken(self, *a, **kw):
        raise RuntimeError("an internal mistake")

    monkeypatch.setattr(LocalAPI, "list_datasets", broken)
    res = run("datasets", "list")
    assert res.exit_code == 2
    assert "RuntimeError: an internal mistake" in res.stderr
    assert ("Error: This is a bug in clustermetrics, not a mistake of yours: please report it "
            "with the command and the traceback above.") in res.stderr


# -- 7. terminal output that stays readable ---------------------------------------------------

def test_distribution_with_many_classes_prints_top_classes(run, docs, tmp_path):
    rows = [{"_id": f"r{i}", "brand": f"brand-{i % 40:02d}"} for i in range(N)]
    path = tmp_path / "brands.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run("import", "docs", str(path), "--upsert").exit_code == 0
    res = run("distribution", "docs", "-f", "feat_vector_", "-a", "kmeans_3", "-g", "brand",
              "--top", "3")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert any("more" in line for line in lines)
    assert max(len(line) for line in lines) <= 80  # not 40 squeezed columns
    header = next(line for line in lines if "cluster" in line)
    assert all(w in header for w in ("size", "brand", "count", "share"))


def test_distribution_with_few_classes_keeps_columns(run, docs):
    res = run("distribution", "docs", "-f", "feat_vector_", "-a", "kmeans_3", "-g", "kind")
    header = next(line for line in res.stdout.splitlines() if "cluster" in line)
    assert all(k in header for k in ("k0", "k1", "k2"))


def test_compare_shows_coverage(run, noisy):
    res = run("compare", "docs", "-f", "feat_vector_", "-a", "kmeans_3", "-a", "hdb",
              "--noise-label", "-1")
    assert res.exit_code == 0
    assert "used" in res.stdout
    assert "150/150 │" in res.stdout and "135/150 (90%)" in res.stdout


def test_compare_checks_every_alias_before_work(run, docs):
    one_line_error(run("compare", "docs", "-f", "feat_vector_", "-a", "kmeans_3", "-a",
                       "nope"), "cluster alias 'nope' not found")


def test_kmeans_with_large_k_summarises_sizes(run, docs):
    res = run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", "40")
    assert res.exit_code == 0
    line = res.stdout.strip()
    assert "40 clusters of " in line and "--json lists every size" in line
    assert len(line) < 200
    sizes = json.loads(run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", "40",
                           "--json").stdout)["sizes"]
    assert len(sizes) == 40 and sum(sizes) == N


def test_numbers_right_aligned_with_one_precision_per_column(run, docs, monkeypatch):
    from clustermetrics import cli
    monkeypatch.setattr(cli.console, "width", 150)  # one table (at 80 it goes on in parts)
    res = run("sweep", "docs", "-f", "feat_vector_", "--k-min", "2", "--k-max", "4", "-g",
              "kind")
    rows = [line.split("│")[1:-1] for line in res.stdout.splitlines()
            if line.startswith("│") and line.split("│")[1].strip() in ("2", "3", "4")]
    assert len(rows) == 3
    for cells in rows:  # right-aligned: one space of padding after each number
        for cell in cells[1:]:
            assert cell.endswith(" ") and not cell.endswith("  "), cells
    for column in list(zip(*rows, strict=True))[1:-2]:  # the scores
        decimals = {len(c.strip().split(".")[1]) for c in column}
        assert len(decimals) == 1, column


def test_report_repr_is_one_line(run, docs):
    with Client(path=run.store) as client:
        report = client.vector_tools.cluster.report("docs", "feat_vector_", "kmeans_3")
    text = repr(report)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("Report('docs / feat_vector_ / kmeans_3', ")
    assert "<html" in report._repr_html_() or "iframe" in report._repr_html_()


@pytest.mark.parametrize("value", [0, -5])
def test_report_max_points_must_be_positive(run, docs, tmp_path, value):
    out = tmp_path / "r.html"
    res = run("report", "docs", "-f", "feat_vector_", "-a", "kmeans_3", "--max-points",
              str(value), "-o", str(out))
    assert res.exit_code == 1 and "Traceback" not in res.output and "--max-points" in res.output
    with Client(path=run.store) as client, pytest.raises(
            cm.InvalidInputError, match=rf"max_points must be a positive integer; got {value}"):
        client.vector_tools.cluster.report("docs", "feat_vector_", "kmeans_3",
                                           max_points=value)
    assert not out.exists()


def test_a_vector_field_is_no_ground_truth(run, docs):
    one_line_error(run("metrics", "docs", "-f", "feat_vector_", "-a", "kmeans_3", "-g",
                       "feat_vector_"),
                   "Field 'feat_vector_' is a vector field; the ground truth is a field of "
                   "labels")


def test_an_unknown_option_is_a_user_error(run):
    res = run("metrics", "ds", "-f", "v_vector_", "-a", "x", "--bogus")
    assert res.exit_code == 1
    assert "No such option '--bogus'" in res.output and "Traceback" not in res.output


def test_a_bad_option_value_is_a_user_error(run):
    res = run("cluster", "kmeans", "ds", "-f", "v_vector_", "-k", "ten")
    assert res.exit_code == 1
    assert "'ten' is not a valid integer" in res.output


def test_labels_minus_one_without_a_recorded_noise_label_warn(client):
    """Labels brought from elsewhere (or read back from an exported file) say nothing of
    noise: -1 is scored as a cluster, and the call says so."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    client.Dataset("own").insert_documents(X, ids=[f"d{i}" for i in range(60)],
                                           vector_field="v_vector_")
    labels = {f"d{i}": (-1 if i < 10 else i % 3) for i in range(60)}
    client.vector_tools.cluster.set_cluster_labels("own", "v_vector_", "mine", labels)
    with pytest.warns(cm.ClusterMetricsWarning, match=r"Alias 'mine' labels 10 documents -1 "
                                                      r"and records no noise label"):
        result = client.vector_tools.cluster.metrics("own", "v_vector_", "mine")
    assert result.counts["n_clusters"] == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # given or recorded, the label silences the warning
        client.vector_tools.cluster.metrics("own", "v_vector_", "mine", noise_label=-1)
        client.vector_tools.cluster.set_cluster_labels("own", "v_vector_", "mine", labels,
                                                       noise_label=-1)
        assert client.vector_tools.cluster.metrics("own", "v_vector_",
                                                   "mine").counts["n_noise"] == 10


# -- noise and missing ground truth, counted the same everywhere ------------------------------

def test_aliases_list_leaves_the_recorded_noise_label_out_of_the_clusters(run, docs):
    res = run("cluster", "fit", "docs", "-f", "feat_vector_", "--algorithm", "dbscan",
              "--param", "eps=2", "--json")
    fitted = json.loads(res.stdout)
    assert fitted["n_noise"] > 0
    assert run("cluster", "fit", "docs", "-f", "feat_vector_", "--algorithm", "dbscan",
               "--param", "eps=0.001", "--alias", "allnoise").exit_code == 0
    rows = {r["alias"]: r for r in json.loads(run("aliases", "list", "docs", "--json").stdout)}
    assert rows[fitted["alias"]]["clusters"] == fitted["n_clusters"]
    assert rows[fitted["alias"]]["noise"] == fitted["n_noise"]
    assert rows["allnoise"]["clusters"] == 0 and rows["allnoise"]["noise"] == N
    assert rows["kmeans_3"]["clusters"] == 3 and rows["kmeans_3"]["noise"] is None
    text = run("aliases", "list", "docs").stdout
    assert re.search(r"allnoise +│ +0 │ +150 │ +150 │ dbscan", text), text


def test_distribution_says_how_many_documents_have_no_ground_truth(run, docs, tmp_path):
    path = tmp_path / "more.jsonl"  # 20 more documents, without a kind
    path.write_text("".join(json.dumps({"_id": f"x{i}", "feat_vector_": [float(i)] * 5}) + "\n"
                            for i in range(20)))
    assert run("import", "docs", str(path)).exit_code == 0
    assert run("cluster", "kmeans", "docs", "-f", "feat_vector_", "-k", "3").exit_code == 0
    before = state(run.store)
    res = run("distribution", "docs", "-f", "feat_vector_", "-a", "kmeans_3", "-g", "kind")
    assert res.exit_code == 0, res.output
    assert "Note: 20 labelled documents have no kind and are left out of the counts." \
        in " ".join(res.stdout.split())
    res = run("distribution", "docs", "-f", "feat_vector_", "-a", "kmeans_3", "-g", "kind",
              "--json")
    counts = json.loads(res.stdout)
    assert sum(sum(row.values()) for row in counts.values()) == N
    assert "Note: 20 labelled documents have no kind" in res.stderr
    with Client(path=run.store) as c:
        df = c.vector_tools.cluster.distribution("docs", "feat_vector_", "kmeans_3", "kind")
    assert df.attrs["no_ground_truth"] == 20 and int(df.to_numpy().sum()) == N
    assert state(run.store) == before
    res = run("distribution", "docs", "-f", "feat_vector_", "-a", "kmeans_3")
    assert "Note" not in res.output  # sizes only: nothing is left out
