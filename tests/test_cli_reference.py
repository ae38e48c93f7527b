"""The docs' command-line reference is what the commands' --help says."""

from pathlib import Path

from clustermetrics import cli_reference

PAGE = Path(__file__).resolve().parents[1] / cli_reference.PAGE


def test_docs_reference_matches_help():
    text = PAGE.read_text(encoding="utf-8")
    assert cli_reference.BEGIN in text and cli_reference.END in text
    assert cli_reference.rewrite(text) == text, "run `make docs` to regenerate the reference"


def test_reference_lists_every_command():
    ref = cli_reference.reference()
    for name in ("quickstart", "import", "datasets list", "cluster kmeans", "metrics", "sweep"):
        assert f"### `clustermetrics {name}`" in ref
    assert "Usage: clustermetrics metrics [OPTIONS] [DATASET]" in ref  # optional with --parquet
