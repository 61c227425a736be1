"""Streaming import and export of dataset items, and export of run results: CSV, JSON, JSONL.

Imports are atomic (one transaction, one new dataset version, nothing written on a bad row) and
stream, so file size does not bound memory. See ``docs/import-export.md`` for the file rules.
"""

from assay.io._api import (
    FORMATS,
    Format,
    detect_format,
    export_dataset,
    import_file,
    import_stream,
    import_upload,
    read_items,
)
from assay.io._csv_read import read_run_outputs
from assay.io._export import neutralise
from assay.io._fields import parse_mapping
from assay.io._results import RESULT_COLUMNS, export_results, result_bytes, result_media_type

__all__ = [
    "FORMATS",
    "RESULT_COLUMNS",
    "Format",
    "detect_format",
    "export_dataset",
    "export_results",
    "import_file",
    "import_stream",
    "import_upload",
    "neutralise",
    "parse_mapping",
    "read_items",
    "read_run_outputs",
    "result_bytes",
    "result_media_type",
]
