"""Engines feed batches to the metrics' mergeable statistics."""

from .local import StoreSource

__all__ = ["StoreSource"]
