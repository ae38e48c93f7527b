"""The embedded store (the only package that imports duckdb)."""

from .store import Store, label_column, nest

__all__ = ["Store", "label_column", "nest"]
