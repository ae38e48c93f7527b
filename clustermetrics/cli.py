"""The ``clustermetrics`` command: a thin layer over the Client.

Each command calls the library, prints a Rich table (or JSON with ``--json``) and turns the
library's errors into one line on stderr and a non-zero exit: no tracebacks for user errors.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import traceback
import warnings

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from .errors import ClusterMetricsError, ClusterMetricsWarning, InvalidInputError
from .files import check_output_path
from .names import counted

console = Console()
err_console = Console(stderr=True)

QUICKSTART_DATASET = "quickstart_clustering"


class Where:
    """Where a command's data lives: a store file, or a server (url and key)."""

    def __init__(self, path: str | None = None, url: str | None = None,
                 api_key: str | None = None, key_typed: bool = False):
        self.path, self.url, self.api_key = path, url, api_key
        self.key_typed = key_typed  # given as --api-key, not by $CLUSTERMETRICS_API_KEY
        self.reads_only = False  # a command that only reads: no store is made for it

    def options(self) -> str:
        """The options that reach the same data in a follow-up command (never the key
        itself: ``--api-key KEY`` when it was typed; the environment still holds it else)."""
        if not self.url:
            return ""
        return f" --url {self.url}" + (" --api-key KEY" if self.key_typed else "")


def _client(where):
    from .client import Client
    if not isinstance(where, Where):
        where = Where(path=where)
    if where.url:
        return Client(url=where.url, api_key=where.api_key)
    if where.reads_only:
        _existing_store(where)
    return Client(path=where.path)


def _where(path: str | None, url: str | None, api_key: str | None) -> Where:
    """``--path`` or ``--url``: a path given on the command line beats a URL from the
    environment (and the other way round); both on the command line is an error."""
    from click.core import ParameterSource
    ctx = click.get_current_context()
    typed = {name: ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
             for name in ("path", "url", "api_key")}
    if path and url and typed["path"] and typed["url"]:
        raise click.UsageError("Give --path (a store file) or --url (a server), not both.")
    if url and not (path and typed["path"] and not typed["url"]):
        return Where(url=url, api_key=api_key, key_typed=typed["api_key"])
    if api_key and typed["api_key"]:  # a key for no server: the user meant one
        raise click.UsageError(
            "--api-key goes with a server: give --url URL (or set CLUSTERMETRICS_URL) too; "
            + ("--path names a store file, which needs no key." if typed["path"] else
               "without --url the command uses the local store file, which needs no key."))
    return Where(path=path)


READ_ONLY = "Interrupted; this command only reads, so nothing was changed."
WRITES = "Interrupted; a write in progress was rolled back whole."


def _one_line_errors(fn=None, *, interrupted: str = READ_ONLY):
    """A user error as one line and status 1, warnings as one line each, a bug as its
    traceback and status 2; Ctrl-C as ``interrupted`` (say whether the command writes)."""
    if fn is None:
        return functools.partial(_one_line_errors, interrupted=interrupted)

    @functools.wraps(fn)
    def run(*a, **kw):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ClusterMetricsWarning)
            try:
                return fn(*a, **kw)
            except ClusterMetricsError as exc:
                _print_warnings(caught)
                _error_line(str(exc))
                sys.exit(1)
            except KeyboardInterrupt:
                _error_line(interrupted)
                sys.exit(130)
            except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
                raise
            except Exception:  # a bug: show it, and ask for a report
                err_console.print(traceback.format_exc(), highlight=False, markup=False)
                _error_line("This is a bug in clustermetrics, not a mistake of yours: "
                            "please report it with the command and the traceback above.")
                sys.exit(2)
            finally:
                _print_warnings(caught)
    return run


def command(group, *args, writes: bool = False, **kwargs):
    """A command with ``--path`` (or ``--url`` and ``--api-key``) and one-line errors;
    ``writes``: it changes the store (what Ctrl-C says)."""
    def wrap(fn):
        @group.command(*args, **kwargs)
        @click.option("--path", envvar="CLUSTERMETRICS_PATH", default=None, metavar="STORE",
                      help="Store file (default: $CLUSTERMETRICS_PATH, else "
                           "~/.local/share/clustermetrics/store.duckdb).")
        @click.option("--url", envvar="CLUSTERMETRICS_URL", default=None, metavar="URL",
                      help="A clustermetrics server instead of a store file "
                           "(default: $CLUSTERMETRICS_URL).")
        @click.option("--api-key", envvar="CLUSTERMETRICS_API_KEY", default=None,
                      metavar="KEY", help="The server's API key for your project "
                                          "(default: $CLUSTERMETRICS_API_KEY).")
        @functools.wraps(fn)
        @_one_line_errors(interrupted=WRITES if writes else READ_ONLY)
        def run(*a, path=None, url=None, api_key=None, **kw):
            where = _where(path, url, api_key)
            where.reads_only = not writes  # a store file must be there to be read
            return fn(*a, path=where, **kw)
        return run
    return wrap


def _existing_store(where: Where) -> None:
    """A command that only reads refuses a store file that is not there (a mistyped --path
    would otherwise be created, empty, with its folders)."""
    from .client import default_path
    path = where.path or default_path()
    if not os.path.exists(path):
        raise InvalidInputError(
            f"No store at {path!r}: nothing to read. Check --path (or $CLUSTERMETRICS_PATH); "
            "'clustermetrics quickstart' or 'clustermetrics import' makes a store.")


def _error_line(text: str) -> None:
    err_console.print(f"[bold red]Error:[/] {escape(text)}", highlight=False, soft_wrap=True)


def _print_warnings(caught: list) -> None:
    """Warnings, each as one line on stderr (not Python's file:line form); the library's own
    without their class name."""
    while caught:
        w = caught.pop(0)
        text = str(w.message)
        if not issubclass(w.category, ClusterMetricsWarning):
            text = f"{w.category.__name__}: {text}"
        err_console.print(f"[bold yellow]Warning:[/] {escape(text)}", highlight=False,
                          soft_wrap=True)


def _target(*, ground_truth: bool = False):
    """The options naming a clustering: DATASET, --vector-field, --alias (--ground-truth)."""
    opts = [click.argument("dataset"),
            click.option("--vector-field", "-f", required=True, help="The vector field."),
            click.option("--alias", "-a", required=True, help="The cluster alias.")]
    if ground_truth:
        opts.append(click.option("--ground-truth", "-g", default=None,
                                 help="Field with the true classes."))

    def wrap(fn):
        for opt in reversed(opts):
            fn = opt(fn)
        return fn
    return wrap


def _emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


class _UsageError(click.UsageError):
    exit_code = 1


class _Commands(click.Group):
    """The top group: a usage mistake (unknown option, bad value) is a user error like any
    other, one line and status 1; status 2 is kept for bugs."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _UsageError(exc.format_message(), exc.ctx) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _UsageError(exc.format_message(), exc.ctx) from None


@click.group(cls=_Commands)
@click.version_option(package_name="clustermetrics")
def main():
    """Is your clustering of vectors any good? Store documents and vectors, cluster them, and
    measure the clusterings (silhouette, ARI, AMI, ...)."""


# -- the main job ------------------------------------------------------------------------------

@command(main, "quickstart", short_help="The main job: digits, k-means (k=10), metrics.",
         writes=True)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def quickstart(path, as_json):
    """Build 'quickstart_clustering' from scikit-learn's handwritten digits, run k-means with
    k=10 (alias kmeans_10) and print the metrics against the true digit."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    docs = [{"_id": f"digit-{i}", "pixels_vector_": digits.data[i], "digit": int(t)}
            for i, t in enumerate(digits.target)]
    with _client(path) as client:
        ds = client.Dataset(QUICKSTART_DATASET)
        if QUICKSTART_DATASET in client.list_datasets():
            ds.delete()
        with _spinner(f"Storing {len(docs):,} digit images (64-d pixel vectors)", as_json):
            ds.insert_documents(docs)
        with _progress(as_json) as bar:
            client.vector_tools.cluster.kmeans(QUICKSTART_DATASET, "pixels_vector_", 10,
                                               progress=_stages(bar))
        result = _metrics(client, QUICKSTART_DATASET, "pixels_vector_", "kmeans_10", "digit",
                          as_json=as_json)
        if as_json:
            _emit_json(result.to_dict())
            return
        print_metrics(result)
        where = path if isinstance(path, Where) else Where(path=path)
        if where.url:
            opened = (f"Server: {where.url}\n"
                      f"  client = Client(url={where.url!r}, api_key=KEY)")
        else:
            opened = f"Store: {client.path}\n  client = Client()"
        key = ("\n(KEY: your project's API key; or set CLUSTERMETRICS_API_KEY and leave "
               "--api-key out)" if where.key_typed else "")
        console.print(
            f"\n{opened}\n"
            "The same numbers from Python:\n"
            "  client.vector_tools.cluster.metrics(\n"
            "      dataset_id='quickstart_clustering', vector_field='pixels_vector_',\n"
            "      cluster_alias='kmeans_10', ground_truth_field='digit')\n"
            "See the clusters:\n"
            "  clustermetrics report quickstart_clustering -f pixels_vector_ -a kmeans_10 "
            f"-g digit{where.options()}{key}", highlight=False, soft_wrap=True)


# -- datasets ----------------------------------------------------------------------------------

@main.group()
def datasets():
    """List, describe, delete and export datasets."""


@command(datasets, "list")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def datasets_list(path, as_json):
    """The datasets in the store, with their sizes."""
    with _client(path) as client:
        rows = [{"dataset_id": d, "documents": len(client.Dataset(d))}
                for d in client.list_datasets()]
    if as_json:
        return _emit_json(rows)
    table = Table("dataset", Column("documents", justify="right"))
    for r in rows:
        table.add_row(r["dataset_id"], f"{r['documents']:,}")
    console.print(table if rows else "No datasets yet: try 'clustermetrics quickstart'.")


@command(datasets, "describe")
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def datasets_describe(path, dataset, as_json):
    """Fields, types, vector dimensions, counts and aliases of DATASET."""
    with _client(path) as client:
        info = client.Dataset(dataset).describe()
    if as_json:
        return _emit_json(info)
    console.print(f"[bold]{dataset}[/]: {counted(info['documents'], 'document')}")
    table = Table("field", "type", Column("present", justify="right"))
    for f in info["fields"]:
        table.add_row(escape(f["field"]), f["type"], f"{f['present']:,}")
    console.print(table)
    _print_aliases(info["aliases"])


@command(datasets, "delete", writes=True)
@click.argument("dataset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def datasets_delete(path, dataset, yes, as_json):
    """Delete DATASET and its cluster aliases."""
    with _client(path) as client:
        n = len(client.Dataset(dataset))
        if not yes:  # asked on stderr, so that --json output stays clean
            click.confirm(f"Delete dataset {dataset!r} ({counted(n, 'document')})?", abort=True,
                          err=True)
        client.Dataset(dataset).delete()
    if as_json:
        return _emit_json({"deleted": dataset, "documents": n})
    console.print(f"Deleted {dataset}.")


@command(datasets, "export")
@click.argument("dataset")
@click.argument("output", type=click.Path())
@click.option("--rows-per-file", type=int, default=None,
              help="Write a new folder OUTPUT of Parquet files of at most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def datasets_export(path, dataset, output, rows_per_file, as_json):
    """Write DATASET to OUTPUT as Parquet, CSV or JSON lines, by its extension (.parquet,
    .csv, .jsonl); labels of every alias included. With --rows-per-file, OUTPUT is a new
    folder of Parquet files, which `metrics --parquet` reads in parallel."""
    from .files import check_folder, export_format
    if rows_per_file is None:  # extension and folder checked before the store is opened
        export_format(output)
    else:
        check_folder(output, rows_per_file)
    with _client(path) as client:
        ds = client.Dataset(dataset)
        if rows_per_file is None:
            ds.export(output)
        else:
            ds.export_parquet(output, rows_per_file=rows_per_file)
        n = len(ds)
    if as_json:
        return _emit_json({"dataset": dataset, "path": output, "documents": n})
    console.print(f"Exported {dataset} ({counted(n, 'document')}) to {output}.")


@command(datasets, "set-vector", writes=True)
@click.argument("dataset")
@click.argument("field")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def datasets_set_vector(path, dataset, field, as_json):
    """Make FIELD of DATASET a vector field after the fact: its lists of numbers (stored as
    DOUBLE[] when imported without --vector-field, or as text such as "[1.0, 2.0]" from a CSV
    file) become FLOAT[d]. Refused, naming the documents, when the lists differ in length or
    hold NaN, nulls or text that is not a number."""
    with _client(path) as client:
        info = client.Dataset(dataset).set_vector_field(field)
    if as_json:
        return _emit_json(info)
    if info["documents"] == 0 and info["from"] == info["to"]:
        console.print(f"{field} is already a vector field ({info['to']}).", highlight=False)
    else:
        console.print(f"{field}: {info['from']} -> {info['to']} ({info['documents']:,} vectors, "
                      "now stored as 32-bit floats).", highlight=False)


@command(main, "import", short_help="Import a Parquet, CSV or JSONL file.", writes=True)
@click.argument("dataset")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--upsert", is_flag=True, help="Merge fields into existing documents.")
@click.option("--vector-field", "vector_fields", multiple=True,
              help="Treat this field as a vector even if its name does not end in _vector_.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def import_(path, dataset, file, upsert, vector_fields, as_json):
    """Import documents from a Parquet, CSV or JSONL FILE into DATASET (all or nothing)."""
    with _client(path) as client:
        ds = client.Dataset(dataset)
        with _progress(as_json) as bar:
            write = ds.upsert_documents if upsert else ds.insert_documents
            counts = write(file, vector_fields=vector_fields, progress=_stages(bar))
    if as_json:
        return _emit_json(counts)
    console.print(f"{dataset}: {counts['inserted']:,} inserted, {counts['updated']:,} updated.",
                  highlight=False)
    for field, change in counts.get("widened", {}).items():
        console.print(f"Field {field} widened: {change} (its values did not fit).",
                      highlight=False)
    for vf, by_alias in counts.get("labels_dropped", {}).items():
        for alias, n in by_alias.items():
            console.print(f"Alias {alias} ({vf}): {counted(n, 'label')} dropped, their vectors "
                          "changed.",
                          highlight=False)


# -- clustering and aliases ----------------------------------------------------------------------

@main.group()
def cluster():
    """Cluster a vector field and store the labels as an alias."""


@command(cluster, "kmeans", writes=True)
@click.argument("dataset")
@click.option("--vector-field", "-f", required=True, help="The vector field to cluster.")
@click.option("-k", "k", type=int, required=True, help="Number of clusters.")
@click.option("--alias", default=None, help="Alias for the labels (default kmeans_K).")
@click.option("--random-state", type=int, default=0, show_default=True,
              help="Seed of the k-means initialisation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cluster_kmeans(path, dataset, vector_field, k, alias, random_state, as_json):
    """k-means on DATASET's vectors; labels stored under the alias."""
    with _client(path) as client, _progress(as_json) as bar:
        info = client.vector_tools.cluster.kmeans(dataset, vector_field, k, alias,
                                                  random_state=random_state,
                                                  progress=_stages(bar))
    if as_json:
        return _emit_json(info)
    console.print(f"Stored {info['alias']} ({info['method']}): {_sizes(info['sizes'])}, "
                  f"inertia {info['inertia']:.4g}.", highlight=False, soft_wrap=True)


def _sizes(sizes: list[int], shown: int = 12) -> str:
    """Cluster sizes, all of them for a small k, else a summary (--json lists them all)."""
    if len(sizes) <= shown:
        return "sizes " + ", ".join(f"{n:,}" for n in sizes)
    ordered = sorted(sizes)
    median = ordered[len(ordered) // 2]
    return (f"{len(sizes)} clusters of {ordered[0]:,} to {ordered[-1]:,} documents (median "
            f"{median:,}; --json lists every size)")


def _model_options(fn):
    """--algorithm NAME and --param key=value (repeatable): a model by the command line."""
    from .clustering import ALGORITHMS
    for opt in reversed([
        click.option("--algorithm", required=True, metavar="NAME",
                     help=f"One of {', '.join(ALGORITHMS)}."),
        click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                     help="A parameter of the estimator, e.g. min_cluster_size=15 (repeatable); "
                          "values are read as int, float, true/false, none, else text."),
    ]):
        fn = opt(fn)
    return fn


@command(cluster, "fit", short_help="Fit a scikit-learn clusterer; labels stored as an alias.",
         writes=True)
@click.argument("dataset")
@click.option("--vector-field", "-f", required=True, help="The vector field to cluster.")
@_model_options
@click.option("--alias", default=None,
              help="Alias for the labels (default: the method and its key parameters, e.g. "
                   "hdbscan_mcs15).")
@click.option("--precision", type=click.Choice(["auto", "float32", "float64"]), default="auto",
              show_default=True, help="The dtype of the fit (auto: float64 for Gaussian "
                                      "mixtures, else the vectors' own).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cluster_fit(path, dataset, vector_field, algorithm, params, alias, precision, as_json):
    """Fit ALGORITHM (with its --param values) on DATASET's vectors and store the labels, the
    model, its parameters and its noise label (-1 for hdbscan and dbscan) under the alias."""
    spec = _spec(algorithm, params)
    with _client(path) as client, _progress(as_json) as bar, _model_warnings():
        info = client.vector_tools.cluster.fit(dataset, vector_field, spec, alias,
                                               precision=precision, progress=_stages(bar))
    if as_json:
        return _emit_json(info)
    noise = (f", {info['n_noise']:,} noise ({info['coverage']:.0%} clustered)"
             if info["noise_label"] is not None else "")
    console.print(f"Stored {info['alias']} ({info['method']}): {info['n_clusters']} clusters, "
                  f"{_sizes_text(info['sizes'])}{noise}.", highlight=False, soft_wrap=True)


@command(main, "stability", short_help="How stable a clustering is under subsampling.",
         writes=True)
@click.argument("dataset")
@click.option("--vector-field", "-f", required=True, help="The vector field to cluster.")
@_model_options
@click.option("--alias", default=None,
              help="Alias for the full fit (default: the method and its key parameters).")
@click.option("--n-resamples", type=int, default=20, show_default=True,
              help="Refits on random subsamples.")
@click.option("--fraction", type=float, default=0.8, show_default=True,
              help="Share of the documents in each subsample.")
@click.option("--random-state", type=int, default=0, show_default=True,
              help="Seed of the subsamples.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def stability_cmd(path, dataset, vector_field, algorithm, params, alias, n_resamples, fraction,
                  random_state, as_json):
    """Fit ALGORITHM on all of DATASET's vectors (stored under the alias, with its stability),
    refit it on N_RESAMPLES random subsamples, and show per cluster the mean Jaccard to its best
    match in each refit (Hennig 2007: below 0.5 dissolved, 0.75 and above stable) and the ARI of
    each refit on the shared documents."""
    spec = _spec(algorithm, params)
    with _client(path) as client, _progress(as_json) as bar, _model_warnings():
        result = client.vector_tools.cluster.stability(
            dataset, vector_field, spec, alias=alias, n_resamples=n_resamples,
            fraction=fraction, random_state=random_state, progress=_stages(bar, unit="fits"))
    if as_json:
        return _emit_json(result.to_dict())
    table = Table("cluster", *[Column(h, justify="right") for h in
                               ("size", "mean Jaccard", "recovered", "dissolved")], "verdict",
                  title=escape(" / ".join(str(v) for v in result.source.values() if v)),
                  title_justify="left")
    for row in result.table_rows():
        table.add_row(*[escape(v) for v in row])
    console.print(table)
    for line in result.summary_lines():
        console.print(line, highlight=False)


@main.group()
def aliases():
    """List, describe and delete cluster aliases."""


@command(aliases, "list")
@click.argument("dataset")
@click.option("--vector-field", "-f", default=None, help="Only the aliases of this vector field.")
@click.option("--metrics", "with_metrics", is_flag=True,
              help="With each alias's headline metrics, kept with it (computed once, again "
                   "only after its documents change).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def aliases_list(path, dataset, vector_field, with_metrics, as_json):
    """The cluster aliases of DATASET."""
    with _client(path) as client:
        rows = client.vector_tools.cluster.list_aliases(dataset, vector_field,
                                                        metrics=with_metrics)
    if as_json:
        return _emit_json(rows)
    _print_aliases(rows)


@command(aliases, "describe")
@_target()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def aliases_describe(path, dataset, vector_field, alias, as_json):
    """How an alias was made and its cluster sizes."""
    with _client(path) as client:
        info = client.vector_tools.cluster.describe_alias(dataset, vector_field, alias)
    if as_json:
        return _emit_json(info)
    made = info.get("created_at")
    noise = info["params"].get("noise_label")
    console.print(f"[bold]{escape(alias)}[/] on {escape(vector_field)} ({info['method']}"
                  + (f", made {made:%Y-%m-%d %H:%M}" if made else "") + "), "
                  f"{info['unlabelled']:,} documents unlabelled"
                  + (f", noise label {escape(repr(noise))}" if noise is not None else ""),
                  highlight=False)
    params = info["params"] or {}
    model = params.get("params")
    if params.get("model") or model:  # how it was fitted: the class and its parameters
        given = ", ".join(f"{k}={v!r}" for k, v in (model or {}).items())
        name = str(params.get("model") or info["method"]).rsplit(".", 1)[-1]
        console.print(f"model: {escape(name)}({escape(given)})", highlight=False,
                      soft_wrap=True)
    shown = {k: v for k, v in params.items() if k not in ("model", "params", "noise_label",
                                                          "stability")}
    if shown:
        console.print("run: " + ", ".join(f"{escape(k)}={escape(repr(v))}"
                                          for k, v in shown.items()), highlight=False,
                      soft_wrap=True)
    if info.get("changed"):
        console.print(f"{info['changed']:,} of its documents changed vector or were deleted "
                      "since it was made; run the clustering again to label them.",
                      highlight=False)
    table = Table("cluster", Column("size", justify="right"))
    for c, n in info["sizes"].items():
        table.add_row(escape(str(c)), f"{n:,}")
    console.print(table)


@command(aliases, "delete", writes=True)
@_target()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def aliases_delete(path, dataset, vector_field, alias, as_json):
    """Delete one alias's labels."""
    with _client(path) as client:
        client.vector_tools.cluster.delete_alias(dataset, vector_field, alias)
    if as_json:
        return _emit_json({"deleted": alias, "dataset": dataset, "vector_field": vector_field})
    console.print(f"Deleted alias {alias}.")


# -- metrics ----------------------------------------------------------------------------------

def _metric_options(fn):
    for opt in reversed([
        click.option("--metric", "-m", default="euclidean", show_default=True,
                     help="Distance: euclidean, cosine, sqeuclidean, manhattan, ..."),
        click.option("--sample-size", type=int, default=None,
                     help="Estimate the euclidean silhouette from a stratified sample."),
        click.option("--random-state", type=int, default=None,
                     help="Seed of the silhouette sample."),
        click.option("--exact", is_flag=True,
                     help="The exact silhouette at any size (O(n² d); more than 20,000 "
                          "documents or rows are otherwise estimated from a sample)."),
        click.option("--noise-label", default=None, help="Label meaning 'no cluster', e.g. -1."),
        click.option("--noise", type=click.Choice(["exclude", "cluster", "singletons"]),
                     default=None, help="What to do with noise (default: exclude)."),
    ]):
        fn = opt(fn)
    return fn


@command(main, "metrics", short_help="Metrics of one cluster alias, or of Parquet files.")
@click.argument("dataset", required=False)
@click.option("--vector-field", "-f", required=True, help="The vector field.")
@click.option("--alias", "-a", default=None, help="The cluster alias.")
@click.option("--ground-truth", "-g", default=None, help="Field with the true classes.")
@_metric_options
@click.option("--parquet", default=None, metavar="PATH_OR_GLOB",
              help="Evaluate Parquet files (a file, folder, glob or URL) on Dask instead of a "
                   "stored dataset.")
@click.option("--labels-field", "-l", default=None,
              help="With --parquet: the column of cluster labels.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="With --parquet: a running Dask scheduler (default: a local cluster).")
@click.option("--workers", type=int, default=None,
              help="With --parquet: workers of the local cluster (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def metrics_cmd(path, dataset, vector_field, alias, ground_truth, metric, sample_size,
                random_state, exact, noise_label, noise, parquet, labels_field, scheduler,
                workers, as_json):
    """Cluster metrics of ALIAS on DATASET (with --ground-truth: ARI, AMI, NMI, ...), or
    with --parquet of the label column in Parquet files, on a Dask cluster."""
    options = {"metric": metric, "sample_size": sample_size, "random_state": random_state,
               "noise_label": _label(noise_label), "noise": noise}
    if parquet is not None:
        if dataset is not None or alias is not None:
            raise click.UsageError("--parquet reads files: give no DATASET or --alias.")
        if labels_field is None:
            raise click.UsageError("--parquet needs --labels-field, the column of labels.")
        if scheduler is not None and workers is not None:
            raise click.UsageError("--scheduler and --workers exclude each other.")
        from .engine.dask import evaluate_parquet
        with _progress(as_json) as bar:
            result = evaluate_parquet(parquet, vector_field, labels_field, ground_truth,
                                      client=scheduler, workers=workers, exact=exact,
                                      progress=_stages(bar), **options)
    else:
        if labels_field or scheduler or workers is not None:
            raise click.UsageError("--labels-field, --scheduler and --workers go with "
                                   "--parquet.")
        if dataset is None or alias is None:
            raise click.UsageError("Give DATASET and --alias (or --parquet PATH).")
        with _client(path) as client:
            result = _metrics(client, dataset, vector_field, alias, ground_truth,
                              as_json=as_json, exact=exact, **options)
    if as_json:
        return _emit_json(result.to_dict())
    print_metrics(result)


@command(main, "distribution")
@_target(ground_truth=True)
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="With many classes: the classes shown per cluster (the most frequent).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def distribution_cmd(path, dataset, vector_field, alias, ground_truth, top, as_json):
    """Cluster sizes, or clusters x ground-truth counts: one column per class when they fit
    the terminal, else the top classes of each cluster, one per line. Documents without a
    ground-truth value are left out of the counts; a note says how many (on stderr with
    --json, so that the JSON stays the table)."""
    with _client(path) as client:
        df = client.vector_tools.cluster.distribution(dataset, vector_field, alias, ground_truth)
    missing = int(df.attrs.get("no_ground_truth", 0))
    note = (f"{missing:,} labelled document{'s have' if missing != 1 else ' has'} no "
            f"{ground_truth} and {'are' if missing != 1 else 'is'} left out of the counts."
            if missing else None)
    if as_json:
        if note:
            err_console.print(f"[bold yellow]Note:[/] {escape(note)}", highlight=False,
                              soft_wrap=True)
        return _emit_json({str(k): {str(c): int(v) for c, v in row.items()}
                           for k, row in df.iterrows()})
    names = [escape(str(c)) for c in df.columns]
    wide = 12 + sum(max(len(n), 7) + 3 for n in names)
    if len(df.columns) <= 8 and wide <= console.width:
        table = Table("cluster", *[Column(n, justify="right") for n in names])
        for idx, row in df.iterrows():
            table.add_row(escape(str(idx)), *[f"{int(v):,}" for v in row])
        console.print(table)
    else:
        _print_top_classes(df, top)
    if note:
        console.print(f"Note: {note}", highlight=False, soft_wrap=True)


def _print_top_classes(df, top: int) -> None:
    """Many classes: each cluster's most frequent classes, one per line (long format)."""
    table = Table("cluster", Column("size", justify="right"), df.columns.name or "class",
                  Column("count", justify="right"), Column("share", justify="right"))
    for idx, row in df.iterrows():
        size = int(row.sum())
        counts = row[row > 0].sort_values(ascending=False, kind="stable")
        for i, (cls, n) in enumerate(counts.head(top).items()):
            first = i == 0
            table.add_row(escape(str(idx)) if first else "", f"{size:,}" if first else "",
                          escape(str(cls)), f"{int(n):,}", f"{n / size:.1%}")
        if len(counts) > top:
            rest = int(counts.iloc[top:].sum())
            table.add_row("", "", f"... {len(counts) - top} more", f"{rest:,}",
                          f"{rest / size:.1%}")
    console.print(table)


# -- reports and choosing ------------------------------------------------------------------------

@command(main, "report", short_help="An HTML report of one cluster alias.")
@_target(ground_truth=True)
@click.option("--output", "-o", default="report.html", show_default=True,
              type=click.Path(dir_okay=False), help="HTML file to write.")
@_metric_options
@click.option("--hover-field", "hover_fields", multiple=True,
              help="Field to show when hovering a point (repeatable).")
@click.option("--max-points", type=click.IntRange(min=1), default=3000, show_default=True,
              help="Points drawn in the projections.")
@click.option("--projection", type=click.Choice(["pca", "tsne"]), default="pca",
              show_default=True, help="How the vectors are drawn in 2-d.")
@click.option("--text-field", "-t", default=None,
              help="A text field: each cluster card shows its keywords.")
@click.option("--examples", type=click.IntRange(min=1), default=3, show_default=True,
              help="Documents per cluster card (closest to the centroid, misfits).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the file written and the metrics as JSON.")
def report_cmd(path, dataset, vector_field, alias, ground_truth, output, metric, sample_size,
               random_state, exact, noise_label, noise, hover_fields, max_points, projection,
               text_field, examples, as_json):
    """A self-contained HTML report of ALIAS on DATASET: metrics, a card per cluster (worst
    first: representatives, misfits, keywords with --text-field, top classes), silhouette
    plot, projections, contingency heatmap, sizes, centroid distances, and stability where it
    was computed. Noise
    (the alias's noise label) is grey; clusters wear the colour of their matched class."""
    check_output_path(output)  # before any work
    with _client(path) as client, _progress(as_json) as bar:
        report = client.vector_tools.cluster.report(
            dataset, vector_field, alias, ground_truth, output, metric=metric,
            sample_size=sample_size, exact=exact, hover_fields=hover_fields,
            max_points=max_points,
            projection=projection, random_state=0 if random_state is None else random_state,
            noise_label=_label(noise_label), noise=noise, text_field=text_field,
            examples=examples, progress=_stages(bar))
    if as_json:
        return _emit_json({"path": output, "metrics": report.metrics.to_dict()})
    console.print(f"Wrote {output}.")


@command(main, "compare")
@click.argument("dataset")
@click.option("--vector-field", "-f", required=True, help="The vector field to cluster.")
@click.option("--alias", "-a", "aliases", multiple=True, required=True,
              help="An alias to compare (repeat for each).")
@click.option("--ground-truth", "-g", default=None,
              help="Field with the true classes (adds ARI, AMI, ...).")
@_metric_options
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False),
              help="Also write the table and chart to this HTML file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compare_cmd(path, dataset, vector_field, aliases, ground_truth, metric, sample_size,
                random_state, exact, noise_label, noise, output, as_json):
    """Metrics of several aliases side by side, with the documents each one covers."""
    if output:
        check_output_path(output)  # before any work
    with _client(path) as client, _progress(as_json) as bar:
        step = _stages(bar, unit="aliases")
        step("evaluating", 0, len(aliases))
        comparison = client.vector_tools.cluster.compare(
            dataset, vector_field, aliases, ground_truth, metric=metric, sample_size=sample_size,
            exact=exact, random_state=random_state, noise_label=_label(noise_label), noise=noise,
            on_step=lambda alias, i, n: step("evaluating", 1, n))
        total = len(client.Dataset(dataset))
    _show_comparison(comparison, output, as_json, total)


@command(main, "sweep", short_help="k-means over a range of k, or any model over a grid.",
         writes=True)
@click.argument("dataset")
@click.option("--vector-field", "-f", required=True, help="The vector field to cluster.")
@click.option("--k-min", type=int, default=None, help="k-means sweep: first k (default 2).")
@click.option("--k-max", type=int, default=None, help="k-means sweep: last k (default 20).")
@click.option("--algorithm", default=None, metavar="NAME",
              help="Sweep this model over the --param grid instead of k-means over k.")
@click.option("--param", "params", multiple=True, metavar="KEY=V1,V2,...",
              help="With --algorithm: a parameter and the values to try (repeatable; the grid "
                   "is every combination), e.g. min_cluster_size=5,10,20.")
@click.option("--ground-truth", "-g", default=None,
              help="Field with the true classes (adds ARI, AMI, ...).")
@click.option("--metric", "-m", default="euclidean", show_default=True,
              help="Distance: euclidean, cosine, sqeuclidean, manhattan, ...")
@click.option("--sample-size", type=int, default=None,
              help="Estimate the euclidean silhouette from a stratified sample.")
@click.option("--random-state", type=int, default=0, show_default=True,
              help="Seed of k-means and of the silhouette sample.")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False),
              help="Also write the table and chart to this HTML file.")
@click.option("--overwrite", is_flag=True,
              help="Replace aliases that a sweep did not make (kmeans_K, or a grid's).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def sweep_cmd(path, dataset, vector_field, k_min, k_max, algorithm, params, ground_truth,
              metric, sample_size, random_state, output, overwrite, as_json):
    """k-means for each k in K_MIN..K_MAX (stored as kmeans_K), or ALGORITHM for each
    combination of the --param values (each stored under its default alias), the metrics and
    coverage of each, and the best for each metric. Every k, parameter, name and option is
    checked before the first fit; an alias the sweep would replace that was made another way is
    kept unless --overwrite."""
    tools_options = {"metric": metric, "sample_size": sample_size}
    if algorithm is None:
        if params:
            raise InvalidInputError("--param in a sweep needs --algorithm, e.g. --algorithm "
                                    "hdbscan --param min_cluster_size=5,10,20.")
        k_min, k_max = 2 if k_min is None else k_min, 20 if k_max is None else k_max
        if k_min > k_max:
            raise click.BadParameter(f"--k-min {k_min} is more than --k-max {k_max}.",
                                     param_hint="--k-min")
        if output:
            check_output_path(output)  # before any work
        ks = range(k_min, k_max + 1)
        with _client(path) as client, _progress(as_json) as bar:
            step = _stages(bar, unit="values of k")
            step("k-means sweep", 0, len(ks))
            comparison = client.vector_tools.cluster.sweep(
                dataset, vector_field, ks, ground_truth, random_state=random_state,
                overwrite=overwrite, on_step=lambda k, i, n: step("k-means sweep", 1, n),
                **tools_options)
            total = len(client.Dataset(dataset))
        return _show_comparison(comparison, output, as_json, total)
    if k_min is not None or k_max is not None:
        raise InvalidInputError("--k-min/--k-max are for the k-means sweep; with --algorithm "
                                "give the values as --param, e.g. --param n_clusters=2,3,4.")
    if not params:
        raise InvalidInputError(f"A sweep of {algorithm} needs the grid: --param KEY=V1,V2,... "
                                "e.g. --param min_cluster_size=5,10,20.")
    spec = _spec(algorithm, ())
    grid = _params(params, grid=True)
    if output:
        check_output_path(output)  # before any work
    with _client(path) as client, _progress(as_json) as bar, _model_warnings():
        step = _stages(bar, unit="fits")
        comparison = client.vector_tools.cluster.sweep(
            dataset, vector_field, None, ground_truth, model=spec, param_grid=grid,
            overwrite=overwrite, on_step=lambda name, i, n: step(f"{spec.name} sweep", 1, n),
            **tools_options)
        total = len(client.Dataset(dataset))
    _show_comparison(comparison, output, as_json, total)


_SHORT = {"silhouette": "Silhouette", "calinski_harabasz": "CH",
          "davies_bouldin": "DB ↓", "adjusted_rand": "ARI", "adjusted_mutual_info": "AMI"}


def _score(metric: str, value) -> str:
    """One precision per column: 4 decimals for bounded scores, 1 for Calinski-Harabasz."""
    if value is None or value != value:
        return "n/a"
    return f"{value:,.1f}" if metric == "calinski_harabasz" else f"{value:.4f}"


def _show_comparison(comparison, output, as_json, total: int | None = None) -> None:
    if output:
        comparison.save(output)
    if as_json:
        return _emit_json(comparison.to_dict())
    from .metrics.result import METRIC_INFO
    from .report.compare import PLOTTED
    df = comparison.table
    metrics = [m for m in PLOTTED if m in df.columns]
    # a grid sweep's parameters come first in its table
    grid = list(df.columns[:list(df.columns).index(metrics[0])]) if metrics else []
    best = comparison.best
    key = [escape(str(idx)) for idx in df.index]
    columns: list[tuple[str, str, list[str]]] = [  # (header, justify, cells) beside the key
        (escape(str(g)), "left", [escape(str(v)) for v in df[g]]) for g in grid]
    for m in metrics:
        columns.append((_SHORT[m], "right", [
            f"[bold green]{_score(m, v)}[/]" if best.get(m) == idx else _score(m, v)
            for idx, v in zip(df.index, df[m], strict=True)]))
    used = [int(u) for u in df["n_used"]]
    columns += [("coverage", "right", [f"{c:.1%}" for c in df["coverage"]]),  # beside scores
                ("clusters", "right", [f"{int(c):,}" for c in df["n_clusters"]]),
                ("used", "right", [f"{u:,}" if not total else f"{u:,}/{total:,}" + (
                    f" ({u / total:.0%})" if u < total else "") for u in used])]
    for i, part in enumerate(_fitting(comparison.by, key, columns, console.width)):
        title = escape(comparison.title) if i == 0 else "(continued)"
        table = Table(Column(comparison.by, no_wrap=True, min_width=max(
                          [len(comparison.by), *map(len, key)])),  # the key is never cut
                      *[Column(h, justify=j, no_wrap=True) for h, j, _ in part],  # nor values
                      title=title, title_justify="left")
        for r, k in enumerate(key):
            table.add_row(k, *[cells[r] for _, _, cells in part])
        console.print(table)
    coverage = df["coverage"]
    console.print(f"Best {comparison.by} by metric: "
                  + ", ".join(f"{METRIC_INFO[m].label} {best[m]}"
                              + (f" ({coverage.loc[best[m]]:.0%} clustered)"
                                 if coverage.loc[best[m]] < 1 else "")
                              for m in metrics if m in best),
                  highlight=False, soft_wrap=True)
    for line in comparison.warnings:
        err_console.print(f"[bold yellow]Warning:[/] {escape(line)}", highlight=False,
                          soft_wrap=True)
    if output:
        console.print(f"Wrote {output}.")


def _fitting(by: str, key: list[str], columns: list, width: int) -> list[list]:
    """The columns in groups that fit ``width`` beside the key column, in order: a table too
    wide for the terminal (or a pipe's 80 columns) is shown in parts instead of cut cells."""
    def span(header: str, cells: list[str]) -> int:  # the text, its padding and a border
        plain = [Text.from_markup(c).cell_len for c in cells]
        return max([Text.from_markup(header).cell_len, *plain]) + 3

    room = width - 1 - max([len(by), *map(len, key)]) - 4
    parts: list[list] = [[]]
    used = 0
    for column in columns:
        need = span(column[0], column[2])
        if parts[-1] and used + need > room:
            parts.append([])
            used = 0
        parts[-1].append(column)
        used += need
    return parts


def _sizes_text(sizes: dict, shown: int = 12) -> str:
    """Cluster sizes by label, all of them for a few clusters, else summarised as ``_sizes``
    does (--json lists them all)."""
    if len(sizes) <= shown:
        return "sizes " + ", ".join(f"{k}: {v:,}" for k, v in sizes.items())
    return _sizes(list(sizes.values()), shown)


def _params(items, *, grid: bool = False) -> dict:
    """--param KEY=VALUE items as {key: value} (with grid: {key: [values]}), each value read
    in its type (see :func:`clustermetrics.clustering.parse_value`)."""
    from .clustering import parse_value
    out: dict = {}
    example = "min_cluster_size=5,10,20" if grid else "min_cluster_size=15"
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInputError(f"--param {item!r} is not KEY=VALUE; e.g. --param {example}.")
        if key in out:
            raise InvalidInputError(f"--param {key} is given twice; give each parameter once"
                                    + (", with its values separated by commas." if grid
                                       else "."))
        if not text.strip():
            raise InvalidInputError(f"--param {key}= has no value; e.g. --param {key}="
                                    + ("5,10,20." if grid else "15."))
        if grid:
            parts = [p.strip() for p in text.split(",")]
            if not all(parts):
                raise InvalidInputError(f"--param {item!r} has an empty value; separate the "
                                        f"values by single commas, e.g. --param {example}.")
            out[key] = [parse_value(p) for p in parts]
        else:
            out[key] = parse_value(text.strip())
    return out


def _spec(algorithm: str, items):
    """The model of --algorithm and --param, checked (names, types, ranges) before any data
    is read."""
    from .clustering import ModelSpec
    spec = ModelSpec.named(algorithm, **_params(items))
    spec.build()
    return spec


@contextlib.contextmanager
def _model_warnings():
    """The estimators' warnings (convergence, deprecations), each printed once, as one line,
    after the command, instead of once per fit."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:  # an error follows its warnings
            seen, unique = set(), []
            for w in caught:
                if (w.category, str(w.message)) not in seen:
                    seen.add((w.category, str(w.message)))
                    unique.append(w)
            _print_warnings(unique)


def _label(text):
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _metrics(client, dataset, vector_field, alias, ground_truth, *, as_json=False, **options):
    with _progress(as_json) as bar:
        return client.vector_tools.cluster.metrics(dataset, vector_field, alias, ground_truth,
                                                   progress=_stages(bar), **options)


STAGE_UNITS = {"files": "files"}  # stages that count something other than the default


def _stages(bar, unit: str = "rows"):
    """A progress callback with one bar per stage; a stage of unknown length (total None)
    pulses until its total is known."""
    tasks, done = {}, {}

    def progress(stage, n, total):
        if stage not in tasks:
            tasks[stage], done[stage] = bar.add_task(stage, total=total, count=""), 0
        done[stage] += n
        count = (f"{done[stage]:,}/{total:,} {STAGE_UNITS.get(stage, unit)}"
                 if total is not None else "")
        bar.update(tasks[stage], total=total, completed=done[stage], count=count)

    return progress


# -- the server ---------------------------------------------------------------------------------

def default_data_dir() -> str:
    """``$CLUSTERMETRICS_DATA``, else ``$XDG_DATA_HOME/clustermetrics/server``."""
    import os
    if os.environ.get("CLUSTERMETRICS_DATA"):
        return os.environ["CLUSTERMETRICS_DATA"]
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(base, "clustermetrics", "server")


_data_option = click.option(
    "--data", "data_dir", envvar="CLUSTERMETRICS_DATA", default=None, metavar="DIR",
    help="The server's directory: keys and one store per project (default: "
         "$CLUSTERMETRICS_DATA, else ~/.local/share/clustermetrics/server).")


@main.command("serve", short_help="Serve the stores over HTTP, with projects and API keys.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@_data_option
@click.option("--max-body-mb", default=1024.0, show_default=True, type=float,
              help="Arrow uploads (documents) with a larger body get 413.")
@click.option("--max-json-mb", default=8.0, show_default=True, type=float,
              help="Other requests (JSON, forms) with a larger body get 413.")
@click.option("--max-rows", default=1_000_000, show_default=True, type=click.IntRange(1),
              help="Rows of one Arrow upload of documents (more get 413).")
@click.option("--max-arrow-mb", default=1024.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="MiB of one Arrow upload once decompressed (more get 413).")
@click.option("--workers", default=None, type=click.IntRange(1),
              help="Jobs run at once (default: half the cores, 2 to 4).")
@click.option("--blas-threads", default=None, type=click.IntRange(1),
              help="OpenMP and BLAS threads of each job's fit, in its worker process "
                   "(default: the cores divided among the workers).")
@click.option("--model", "models", multiple=True, metavar="CLASS",
              help="Also let callers fit this model class (an import path such as "
                   "hdbscan.HDBSCAN), beside scikit-learn's known algorithms.")
@click.option("--max-running-per-project", type=click.IntRange(1), default=None,
              help="Jobs of one project running at once (default: --workers less one, so "
                   "that one worker stays free for the other projects).")
@click.option("--max-queued-per-project", type=click.IntRange(1), default=100,
              show_default=True, help="Jobs of one project waiting; one more gets 429.")
@click.option("--max-reads-per-project", type=click.IntRange(1), default=2, show_default=True,
              help="Reads of a whole dataset (centroids, export) of one project answered at "
                   "once; one more gets 429.")
@click.option("--job-history", type=click.IntRange(1), default=1000, show_default=True,
              help="Finished jobs each project keeps in its list.")
@click.option("--job-timeout", type=click.FloatRange(min=1), default=3600.0,
              show_default=True, help="Seconds a job may run before it is stopped.")
@click.option("--job-memory-mb", type=click.FloatRange(min=16), default=4096.0,
              show_default=True, help="MiB a fit's worker process may allocate beyond its "
                                      "input.")
@click.option("--max-resamples", type=click.IntRange(1), default=1000, show_default=True,
              help="Largest n_resamples of a stability run.")
@click.option("--max-grid", type=click.IntRange(1), default=1000, show_default=True,
              help="Most fits of one sweep (combinations of a grid, values of k).")
@click.option("--max-n-init", type=click.IntRange(1), default=100, show_default=True,
              help="Largest n_init of a model.")
@click.option("--max-iter", type=click.IntRange(1), default=10_000, show_default=True,
              help="Largest max_iter of a model.")
@click.option("--max-clusters", type=click.IntRange(2), default=10_000, show_default=True,
              help="Largest k, n_clusters or n_components.")
@click.option("--max-quadratic-rows", type=click.IntRange(2), default=10_000,
              show_default=True, help="Most documents for models that hold an n x n matrix "
                                      "(agglomerative, spectral, affinity propagation).")
@click.option("--max-sample", type=click.IntRange(2), default=20_000, show_default=True,
              help="Largest sample_size of a silhouette estimate and max_points of a report.")
@click.option("--max-items", type=click.IntRange(1), default=1000, show_default=True,
              help="Most items per cluster a look inside returns (n of closest, furthest, "
                   "misfits and keywords; top of aggregate and truth).")
@_one_line_errors
def serve_cmd(host, port, data_dir, max_body_mb, max_json_mb, max_rows, max_arrow_mb, workers,
              blas_threads, models, **job_limits):
    """Serve the API (under /v1/) and web pages: each project's datasets live in their own
    store under DIR, reached only with one of the project's keys ('clustermetrics keys
    create'). GET /health answers without a key; /docs shows the routes."""
    from .server import require_server, serve
    require_server()  # before saying that it serves
    data_dir = data_dir or default_data_dir()
    err_console.print(f"Serving {data_dir} on http://{host}:{port} (Ctrl-C stops).",
                      highlight=False)
    job_limits["job_timeout_s"] = job_limits.pop("job_timeout")
    serve(data_dir, host=host, port=port, max_body_mb=max_body_mb, max_json_mb=max_json_mb,
          max_rows=max_rows, max_arrow_mb=max_arrow_mb, workers=workers,
          blas_threads=blas_threads, models=list(models), log_level="warning", **job_limits)


@main.group()
def keys():
    """API keys of the server's projects (printed once, stored only as hashes)."""


def _keys(data_dir):
    from .server.auth import Keys
    return Keys(data_dir or default_data_dir())


@keys.command("create")
@click.option("--project", required=True, help="The project (made with its first key).")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_one_line_errors
def keys_create(project, data_dir, as_json):
    """A new key for PROJECT, printed once: keep it; only its hash is stored."""
    made = _keys(data_dir).create(project)
    if as_json:
        return _emit_json(made)
    console.print(f"Key {made['key_id']} for project {escape(project)} (shown only now):",
                  highlight=False)
    click.echo(made["key"])


@keys.command("list")
@click.option("--project", default=None, help="Only this project's keys.")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_one_line_errors
def keys_list(project, data_dir, as_json):
    """The keys (ids, projects, dates; never the keys themselves)."""
    rows = _keys(data_dir).list_keys(project)
    if as_json:
        return _emit_json(rows)
    if not rows:
        console.print("No keys yet: try 'clustermetrics keys create --project NAME'.")
        return
    table = Table("key id", "project", "created", "revoked")
    for r in rows:
        table.add_row(r["key_id"], escape(r["project"]), r["created_at"], r["revoked_at"] or "")
    console.print(table)


@keys.command("revoke")
@click.argument("key_id")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_one_line_errors
def keys_revoke(key_id, data_dir, as_json):
    """Revoke a key by its id: requests with it get 401 from then on. A key revoked before
    stays revoked (status 0, and the output says when it was revoked)."""
    keys = _keys(data_dir)
    before = {k["key_id"]: k["revoked_at"] for k in keys.list_keys()}
    row = keys.revoke(key_id)
    already = before.get(row["key_id"]) is not None
    if as_json:
        return _emit_json({**row, "already_revoked": already})
    if already:
        console.print(f"Key {row['key_id']} of project {escape(row['project'])} was already "
                      f"revoked on {row['revoked_at']}; nothing changed.", highlight=False)
        return
    console.print(f"Key {row['key_id']} of project {escape(row['project'])} revoked.",
                  highlight=False)


# -- views --------------------------------------------------------------------------------------

def print_metrics(result) -> None:
    title = " / ".join(str(v) for v in result.source.values() if v) or "Cluster metrics"
    table = Table(title=escape(title), title_justify="left")
    table.add_column("Metric", style="bold", no_wrap=True)
    table.add_column("Value", justify="right", no_wrap=True)
    table.add_column("Range", no_wrap=True)
    table.add_column("Meaning", style="dim")
    for label, value, rng, desc in result.table_rows():
        table.add_row(label, value, rng, desc)
    console.print(table)
    for line in result.summary_lines():
        console.print(line, highlight=False)


def _print_aliases(rows) -> None:
    if not rows:
        console.print("No cluster aliases yet: try 'clustermetrics cluster kmeans'.")
        return
    table = Table("vector field",
                  Column("alias", no_wrap=True,  # the name to pass to -a: never cut
                         min_width=max(len(str(r["alias"])) for r in rows)),
                  Column("clusters", justify="right"),
                  Column("labelled", justify="right"), Column("noise", justify="right"),
                  "method")
    heads = list(dict.fromkeys(k for r in rows for k in r.get("metrics", {}).get("scores", {})))
    for h in heads:
        table.add_column(_SHORT.get(h, h), justify="right")
    if any("metrics" in r for r in rows):
        table.add_column("coverage", justify="right")  # beside the scores: noise is no merit
    for r in rows:  # clusters leave out the alias's noise label; noise counts its documents
        noise = r.get("noise")
        cells = [escape(r["vector_field"]), r["alias"], f"{r['clusters']:,}",
                 f"{r['labelled']:,}", "" if noise is None else f"{noise:,}", r["method"]]
        kept = r.get("metrics")
        if kept is not None and "error" in kept:
            cells += [escape(kept["error"])] + [""] * len(heads)
        elif kept is not None:
            scores = kept["scores"]
            ci = kept["silhouette_ci"]  # an estimate from a sample: its 95% interval too
            cells += [_score(h, scores.get(h)) + (f" ({ci[0]:.3f}..{ci[1]:.3f})"
                                                   if h == "silhouette" and ci else "")
                      for h in heads] + [f"{kept['coverage']:.0%}"]
        table.add_row(*cells)
    console.print(table)


class _Quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass


def _spinner(text: str, quiet: bool):
    return _Quiet() if quiet or not err_console.is_terminal else err_console.status(text)


def _progress(quiet: bool):
    if quiet or not err_console.is_terminal:  # a pipe or a log gets no bars
        return _Quiet()
    return Progress(TextColumn("{task.description:<12}"), BarColumn(),
                    TextColumn("{task.fields[count]}"), TimeElapsedColumn(),
                    console=err_console, transient=True)


# -- looking inside clusters ------------------------------------------------------------------

@main.group()
def inside():
    """Look inside the clusters of an alias: representatives, misfits, field summaries,
    keywords, the breakdown against the truth."""


def _view_options(fn):
    for opt in reversed([
        click.option("--noise-label", default=None,
                     help="Label meaning 'no cluster' (default: the alias's)."),
        click.option("--noise", type=click.Choice(["exclude", "cluster", "singletons"]),
                     default=None, help="What to do with noise (default: exclude)."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]):
        fn = opt(fn)
    return fn


def _representatives_cmd(which: str):
    @command(inside, which, short_help=f"Per cluster, the documents {which} "
                                       f"{'to' if which == 'closest' else 'from'} its centroid.")
    @_target()
    @click.option("-n", "n", type=int, default=5, show_default=True,
                  help="Documents per cluster.")
    @click.option("--field", "fields", multiple=True, help="A field to show (repeatable).")
    @click.option("--metric", "-m", default="euclidean", show_default=True,
                  help="euclidean, sqeuclidean or cosine.")
    @_view_options
    def run(path, dataset, vector_field, alias, n, fields, metric, noise_label, noise,
            as_json):
        with _client(path) as client:
            tools = client.vector_tools.cluster
            result = getattr(tools, which)(dataset, vector_field, alias, n=n,
                                           fields=list(fields), metric=metric,
                                           noise_label=_label(noise_label), noise=noise)
        _show_inside(result, as_json)
    run.__doc__ = (f"Per cluster of ALIAS, the N documents {which} "
                   f"{'to' if which == 'closest' else 'from'} its centroid (the mean; with "
                   "cosine the mean direction), with the fields asked for.")
    return run


inside_closest = _representatives_cmd("closest")
inside_furthest = _representatives_cmd("furthest")


@command(inside, "misfits", short_help="The documents with the lowest silhouette.")
@_target()
@click.option("-n", "n", type=int, default=20, show_default=True,
              help="Documents overall and per cluster.")
@click.option("--cluster", "-c", default=None, help="Only this cluster's misfits.")
@click.option("--field", "fields", multiple=True, help="A field to show (repeatable).")
@click.option("--metric", "-m", default="euclidean", show_default=True,
              help="euclidean, cosine, sqeuclidean, manhattan, ...")
@click.option("--sample-size", type=int, default=None,
              help="Euclidean: score a stratified sample (default: all up to 20,000).")
@click.option("--random-state", type=int, default=0, show_default=True,
              help="Seed of the sample.")
@_view_options
def inside_misfits(path, dataset, vector_field, alias, n, cluster, fields, metric, sample_size,
                   random_state, noise_label, noise, as_json):
    """The documents of ALIAS with the lowest silhouette, overall and per cluster, with a, b
    and the nearest other cluster (where they would fit better)."""
    with _client(path) as client:
        result = client.vector_tools.cluster.misfits(
            dataset, vector_field, alias, n=n, cluster=_label(cluster), fields=list(fields),
            metric=metric, sample_size=sample_size, random_state=random_state,
            noise_label=_label(noise_label), noise=noise)
    _show_inside(result, as_json)


@command(inside, "aggregate", short_help="Fields summarised per cluster.")
@_target()
@click.option("--field", "fields", multiple=True, required=True,
              help="A field to summarise (repeatable).")
@click.option("--top", type=int, default=5, show_default=True,
              help="Values shown per cluster for text fields.")
@_view_options
def inside_aggregate(path, dataset, vector_field, alias, fields, top, noise_label, noise,
                     as_json):
    """Each field per cluster of ALIAS: numbers as count, mean, median, min, max; text as
    its top values with their share and lift (how much more common than overall)."""
    with _client(path) as client:
        result = client.vector_tools.cluster.aggregate(
            dataset, vector_field, alias, list(fields), top=top,
            noise_label=_label(noise_label), noise=noise)
    _show_inside(result, as_json)


@command(inside, "keywords", short_help="Each cluster's distinctive terms (c-TF-IDF).")
@_target()
@click.option("--text-field", "-t", required=True, help="The text field.")
@click.option("-n", "n", type=int, default=10, show_default=True, help="Terms per cluster.")
@click.option("--stop-words", default="english", show_default=True,
              help="'english' or 'none'.")
@click.option("--ngram-max", type=int, default=1, show_default=True,
              help="Longest n-gram (1: words, 2: also pairs of words).")
@click.option("--min-df", type=int, default=1, show_default=True,
              help="Terms in fewer documents are ignored.")
@_view_options
def inside_keywords(path, dataset, vector_field, alias, text_field, n, stop_words, ngram_max,
                    min_df, noise_label, noise, as_json):
    """Each cluster's N most distinctive terms of TEXT_FIELD by class-based TF-IDF."""
    with _client(path) as client:
        result = client.vector_tools.cluster.keywords(
            dataset, vector_field, alias, text_field, n=n,
            stop_words=None if stop_words.lower() == "none" else stop_words,
            ngram_range=(1, ngram_max), min_df=min_df, noise_label=_label(noise_label),
            noise=noise)
    _show_inside(result, as_json)


@command(inside, "truth", short_help="Clusters against the ground truth.")
@_target()
@click.option("--ground-truth", "-g", required=True, help="Field with the true classes.")
@click.option("--top", type=int, default=3, show_default=True,
              help="Classes named per cluster.")
@_view_options
def inside_truth(path, dataset, vector_field, alias, ground_truth, top, noise_label, noise,
                 as_json):
    """Per cluster of ALIAS its top classes and purity, per class its clusters, the pairs of
    clusters holding one class (to merge) and the clusters mixing most classes (to split)."""
    with _client(path) as client:
        result = client.vector_tools.cluster.truth_breakdown(
            dataset, vector_field, alias, ground_truth, top=top,
            noise_label=_label(noise_label), noise=noise)
    _show_inside(result, as_json)


def _show_inside(result, as_json: bool) -> None:
    if as_json:
        return _emit_json(result.to_dict())
    src = result.source
    console.print(f"[bold]{escape(result.title)}[/]: {escape(str(src.get('dataset_id')))} / "
                  f"{escape(str(src.get('vector_field')))} / "
                  f"{escape(str(src.get('cluster_alias')))}", highlight=False)
    for name, frame in result.tables.items():
        table = Table(*[Column(str(c), justify="right" if frame[c].dtype.kind in "iuf"
                               else "left", overflow="fold") for c in frame.columns],
                      title=name, title_justify="left")
        for row in frame.itertuples(index=False):
            table.add_row(*[escape(_cell(v)) for v in row])
        console.print(table)
    for note in result.notes:
        err_console.print(f"[bold yellow]Note:[/] {escape(note)}", highlight=False,
                          soft_wrap=True)


def _cell(v) -> str:
    from .explore.results import _cut
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(_cut(v))


# -- edits that make new aliases ---------------------------------------------------------------

def _edit_done(info: dict, as_json: bool) -> None:
    if as_json:
        return _emit_json(info)
    noise = f", {info['n_noise']:,} noise" if info["noise_label"] is not None else ""
    console.print(f"Stored {escape(info['alias'])} ({info['method']} of "
                  f"{escape(info['parent'])}): {info['n_clusters']} clusters, "
                  f"{_sizes_text(info['sizes'])}{noise}. {escape(info['parent'])} is "
                  "unchanged; compare them with 'clustermetrics compare'.", highlight=False,
                  soft_wrap=True)


@command(aliases, "merge", short_help="A new alias with groups of clusters merged.")
@_target()
@click.option("--group", "groups", multiple=True, required=True, metavar="C1,C2[,...]",
              help="Clusters to merge into the first (repeatable), e.g. --group 1,4.")
@click.option("--new-alias", default=None, help="Name of the new alias (default "
                                                "ALIAS_merged).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def aliases_merge(path, dataset, vector_field, alias, groups, new_alias, as_json):
    """A new alias in which each --group of clusters of ALIAS is one cluster; ALIAS is not
    changed."""
    parsed = [[_label(c.strip()) for c in g.split(",") if c.strip()] for g in groups]
    with _client(path) as client:
        info = client.vector_tools.cluster.merge_clusters(dataset, vector_field, alias, parsed,
                                                          new_alias)
    _edit_done(info, as_json)


@command(aliases, "relabel", short_help="A new alias with clusters renamed.")
@_target()
@click.option("--map", "pairs", multiple=True, required=True, metavar="OLD=NEW",
              help="A label and its new name (repeatable), e.g. --map 3=shoes.")
@click.option("--new-alias", default=None, help="Name of the new alias (default "
                                                "ALIAS_relabelled).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def aliases_relabel(path, dataset, vector_field, alias, pairs, new_alias, as_json):
    """A new alias with the labels of ALIAS renamed (two labels given one name are merged);
    ALIAS is not changed."""
    mapping = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InvalidInputError(f"--map takes OLD=NEW, e.g. 3=shoes; got {pair!r}.")
        mapping[_label(old.strip())] = _label(new.strip())
    with _client(path) as client:
        info = client.vector_tools.cluster.relabel(dataset, vector_field, alias, mapping,
                                                   new_alias)
    _edit_done(info, as_json)


@command(aliases, "subcluster", short_help="A new alias with one cluster split by a model.")
@_target()
@click.option("--cluster", "-c", required=True, help="The cluster to split.")
@_model_options
@click.option("--new-alias", default=None, help="Name of the new alias (default "
                                                "ALIAS_splitCLUSTER).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def aliases_subcluster(path, dataset, vector_field, alias, cluster, algorithm, params,
                       new_alias, as_json):
    """A new alias in which --cluster of ALIAS is split by ALGORITHM fitted on its documents;
    ALIAS is not changed."""
    spec = _spec(algorithm, params)
    with _client(path) as client, _model_warnings():
        info = client.vector_tools.cluster.subcluster(dataset, vector_field, alias,
                                                      _label(cluster), spec, new_alias)
    _edit_done(info, as_json)


if __name__ == "__main__":  # pragma: no cover
    main()
