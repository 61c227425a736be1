"""Export an experiment's (or an uploaded dataset run's) results as CSV, JSON or JSONL.

The one result export: ``assay runs export``, the API's experiment and dataset-run export
routes (and so the SDK and the dashboard's export links) all write through it. It streams
results in batches from the store, so a run of any size exports in flat memory, and its CSV
cells follow the dataset export's rules, formula neutralisation included.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any, Literal

from assay.domain import Result, ResultExport
from assay.errors import InvalidInput
from assay.io._export import cell, csv_chunks, json_chunks, jsonl_chunks, write_chunks
from assay.store import Store

Format = Literal["csv", "json", "jsonl"]

#: The CSV columns before one ``score.<name>`` column per score name: the fields of the export
#: record (:class:`~assay.domain.ResultExport`); JSON and JSONL records have the same keys, with
#: the scores as one ``scores`` object instead.
RESULT_COLUMNS = tuple(name for name in ResultExport.__annotations__ if name != "scores")

_MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}


def result_media_type(format: Format) -> str:
    """The HTTP content type of an export in ``format``."""
    return _MEDIA_TYPES[format]


def result_chunks(store: Store, experiment: str, *, format: Format) -> Iterator[tuple[bytes, int]]:
    """The export of ``experiment`` as ``(bytes, results in them)`` chunks, read lazily.

    Checks the format and that the experiment exists before returning, so errors come before
    the first byte; the results are read batch by batch while the chunks are consumed.
    """
    if format not in _MEDIA_TYPES:
        raise InvalidInput(
            f"unknown format {format!r}: use one of csv, json, jsonl", field="format"
        )
    found = store.experiments.get(experiment)
    results = store.experiments.iter_results(found.id)
    if format == "jsonl":
        return jsonl_chunks(Result.export_record, results)
    if format == "json":
        return json_chunks(Result.export_record, results)
    names = [s.name for s in store.experiments.summary(found.id).scores]
    header = [*RESULT_COLUMNS, *(f"score.{n}" for n in names)]

    def row(result: Result) -> list[str]:
        record: Mapping[str, Any] = result.export_record()
        scores = record["scores"]
        return [cell(record[c]) for c in RESULT_COLUMNS] + [cell(scores.get(n)) for n in names]

    return csv_chunks(header, row, results)


def result_bytes(store: Store, experiment: str, *, format: Format) -> Iterator[bytes]:
    """The export as a stream of byte chunks (for an HTTP response body)."""
    chunks = result_chunks(store, experiment, format=format)
    return (data for data, _ in chunks if data)


def export_results(store: Store, experiment: str, out: IO[bytes], *, format: Format) -> int:
    """Write every result of ``experiment`` to ``out`` in plan order; returns results written."""
    return write_chunks(result_chunks(store, experiment, format=format), out)
