"""A run frame's statistics columns as bytes, for storing next to a finished run.

The format is an uncompressed NumPy ``.npz`` archive read without pickle: one array per
numeric column, two per scorer, the item ids as one fixed-width array (ASCII bytes, or
Unicode when an id is not ASCII), and a JSON header (format, scorer names, the error texts of
the rows that have one) stored as a byte array. Outputs are not part of it; frames that need
them are read from the results themselves. Format 2 (the item ids in the JSON header, as
:mod:`assay.engine.snapshot` writes it) reads back the same.
"""

from __future__ import annotations

import io
import json
from typing import IO, Any

import numpy as np

from assay.analysis.frame import OutputFetcher, RunFrame, ScoreColumn
from assay.domain import Experiment

FORMAT = 3
#: The item ids in the JSON header: what :mod:`assay.engine.snapshot` writes; read as well.
WITH_IDS_IN_HEADER = 2
_COLUMNS = ("repetition", "status", "passed", "latency_ms", "cost", "judge_cost")


def dump(frame: RunFrame, out: IO[bytes]) -> None:
    """Write the frame's columns (not its outputs) to ``out``."""
    names = list(frame.scores)
    header = {
        "format": FORMAT,
        "scores": names,
        "unaligned": frame.unaligned,
        "errors": {row: e for row, e in enumerate(frame.errors or ()) if e is not None},
    }
    if frame.judge_spreads is not None:
        header["judge_spreads"] = frame.judge_spreads
    arrays: dict[str, Any] = {c: getattr(frame, c) for c in _COLUMNS}
    try:
        arrays["item_ids"] = frame.item_ids.astype(np.bytes_)  # a quarter of the size
    except UnicodeEncodeError:
        arrays["item_ids"] = frame.item_ids
    for i, name in enumerate(names):
        arrays[f"value_{i}"] = frame.scores[name].value
        arrays[f"passed_{i}"] = frame.scores[name].passed
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(out, **arrays)


def dumps(frame: RunFrame) -> bytes:
    """The frame's columns (not its outputs) as bytes."""
    out = io.BytesIO()
    dump(frame, out)
    return out.getvalue()


def loads(
    data: bytes, experiment: Experiment, fetch_outputs: OutputFetcher | None = None
) -> RunFrame | None:
    """The frame stored by :func:`dumps`, or None when it was written in another format."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
        if header.get("format") not in (FORMAT, WITH_IDS_IN_HEADER):
            return None
        if "item_ids" in header:
            item_ids = np.array(header.pop("item_ids"), dtype=np.str_)
        else:
            item_ids = archive["item_ids"].astype(np.str_)
        columns = {c: archive[c] for c in _COLUMNS}
        scores = {
            name: ScoreColumn(archive[f"value_{i}"], archive[f"passed_{i}"])
            for i, name in enumerate(header["scores"])
        }
    spreads = header.get("judge_spreads")
    errors: list[str | None] = [None] * len(item_ids)
    for row, text in header["errors"].items():
        errors[int(row)] = text
    return RunFrame(
        run_id=experiment.id,
        name=experiment.name,
        item_ids=item_ids,
        scores=scores,
        dataset_id=experiment.dataset_id,
        dataset_version=experiment.dataset_version,
        unaligned=int(header["unaligned"]),
        errors=errors,
        fetch_outputs=fetch_outputs,
        judge_spreads=None if spreads is None else {k: tuple(v) for k, v in spreads.items()},
        **columns,
    )
