"""The API surface (base), its embedded implementation (local) and the codec for results and
errors that travel (codec)."""

from .base import API, Progress, ReportData

__all__ = ["API", "Progress", "ReportData"]
