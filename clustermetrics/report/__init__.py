"""HTML reports and comparison charts (optional extra: ``pip install clustermetrics[report]``).

The figures are Plotly; the report embeds plotly.js once, so the file works offline.
"""

from __future__ import annotations

from ..errors import MissingDependencyError


def require_plotly():
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "Reports need Plotly: pip install 'clustermetrics[report]' (or pip install plotly)."
        ) from None


from .compare import Comparison  # noqa: E402
from .html import Projection, Report, alias_report, build_report, report_from_data  # noqa: E402

__all__ = ["Comparison", "Projection", "Report", "alias_report", "build_report",
           "report_from_data", "require_plotly"]
