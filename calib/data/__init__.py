"""Data sets: loading, column mappings, lazy validation (SPEC section 1)."""

from calib.data.dataset import SALES_OUTCOMES, Dataset, from_frames, load_dataset
from calib.data.mapping import ColumnMapping
from calib.data.summary import DatasetSummary, summarize

__all__ = ["Dataset", "load_dataset", "from_frames", "ColumnMapping", "DatasetSummary", "summarize",
           "SALES_OUTCOMES"]
