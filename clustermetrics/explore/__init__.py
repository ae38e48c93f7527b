"""Looking inside clusters: representatives, misfits, field summaries, keywords, the
breakdown against the ground truth, and edits that make new aliases.

Pure numpy, pandas and scikit-learn over sources of batches, label vectors and grouped counts,
reused by every engine; the store does the grouping of field summaries where the data lives.
"""

from .edits import merged, relabelled, split
from .keywords import class_tfidf, keywords
from .misfits import EXACT_UP_TO, SAMPLE_SIZE, misfits
from .representatives import representatives
from .results import (
    ClusterCards,
    FieldSummary,
    InsideResult,
    Keywords,
    Misfits,
    Representatives,
    TruthBreakdown,
)
from .summaries import truth_tables, value_table

__all__ = ["EXACT_UP_TO", "SAMPLE_SIZE", "ClusterCards", "FieldSummary", "InsideResult",
           "Keywords", "Misfits", "Representatives", "TruthBreakdown", "class_tfidf",
           "keywords", "merged", "misfits", "relabelled", "representatives", "split",
           "truth_tables", "value_table"]
