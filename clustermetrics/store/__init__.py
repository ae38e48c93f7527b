"""The embedded store (the only package that imports duckdb)."""

from .store import Store

__all__ = ["Store"]
