"""Reads of one experiment's data for comparisons and gates: item tags and contents, the
outputs of some items, the baseline run of a tag, judge spreads. (The result and score
columns themselves are read page by page, see :mod:`assay.store.run_pages`.)"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Text, cast, desc, select

from assay.domain import content_hash
from assay.store.db import Database
from assay.store.run_cache import cached
from assay.store.tables import dataset_items, experiments, results, scores
from assay.store.types import loads

_IN_CHUNK = 500


def item_tags(
    db: Database, dataset_id: str, version: int | None, item_ids: set[str]
) -> dict[str, list[str]]:
    """Tags of dataset items as of ``version`` (the newest row of each when None).

    A few items (a page of a comparison) are looked up by id; many are read in one scan.
    """
    query = select(dataset_items.c.id, dataset_items.c.tags).where(
        dataset_items.c.dataset_id == dataset_id
    )
    if version is not None:
        query = query.where(dataset_items.c.valid_from <= version)
    query = query.order_by(dataset_items.c.valid_from)
    ids = sorted(item_ids)
    chunks = (
        [
            query.where(dataset_items.c.id.in_(ids[k : k + _IN_CHUNK]))
            for k in range(0, len(ids), _IN_CHUNK)
        ]
        if len(ids) <= 10 * _IN_CHUNK
        else [query]
    )
    out: dict[str, list[str]] = {}
    with db.read() as conn:
        for chunk in chunks:
            for item_id, tags in conn.execute(chunk).tuples():
                if item_id in item_ids:
                    out[item_id] = list(tags or [])  # later versions overwrite earlier ones
    return out


def latest_tagged_run(
    db: Database,
    project_id: str,
    *,
    dataset_id: str | None,
    run_tag: str,
    exclude: str,
    statuses: tuple[str, ...] = ("completed",),
) -> str | None:
    """Id of the newest experiment on the dataset with ``run_tag`` and a finished status."""
    query = (
        select(experiments.c.id)
        .where(
            experiments.c.project_id == project_id,
            experiments.c.run_tag == run_tag,
            experiments.c.status.in_(statuses),
            experiments.c.id != exclude,
        )
        .order_by(desc(experiments.c.created_at), desc(experiments.c.id))
        .limit(1)
    )
    if dataset_id is None:
        query = query.where(experiments.c.dataset_id.is_(None))
    else:
        query = query.where(experiments.c.dataset_id == dataset_id)
    with db.read() as conn:
        found = conn.execute(query).scalar()
    return None if found is None else str(found)


def outputs_of(
    db: Database, experiment_id: str, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], Any]:
    """The outputs of an experiment's results at the given (item id, repetition) keys."""
    wanted = set(keys)
    item_ids = sorted({item for item, _ in wanted})
    found: dict[tuple[str, int], Any] = {}
    with db.read() as conn:
        for start in range(0, len(item_ids), _IN_CHUNK):
            query = select(results.c.item_id, results.c.repetition, results.c.output).where(
                results.c.experiment_id == experiment_id,
                results.c.item_id.in_(item_ids[start : start + _IN_CHUNK]),
            )
            for item, repetition, output in conn.execute(query):
                if (item, repetition) in wanted:
                    found[(item, repetition)] = output
    return found


def item_contents(db: Database, experiment_id: str) -> dict[str, str]:
    """Per item id, a hash of the input and expected output the experiment ran it with (from
    the results' snapshots): what aligns runs over different datasets by content."""
    query = select(results.c.item_id, results.c.input, results.c.expected_output).where(
        results.c.experiment_id == experiment_id,
        results.c.repetition == 0,
        results.c.item_id.is_not(None),
    )
    with db.read() as conn:
        return {str(item): content_hash(i, e) for item, i, e in conn.execute(query)}


def judge_spreads(db: Database, experiment_id: str) -> dict[str, tuple[float, int, int]]:
    """Per score name graded with repetitions: the mean within-output variance of one judge
    call (the mean of ``std**2``), the repetitions per output, and how many outputs. Kept
    while the run's data is unchanged (see :mod:`assay.store.run_cache`)."""
    with db.read() as conn:
        return cached(conn, experiment_id, "judge_spreads", lambda: _spreads(conn, experiment_id))


#: Types a score's metadata keeps through its JSON column unchanged.
JSON_TYPES = (type(None), bool, int, float, str, list, dict)


def spread_of(meta: Any) -> tuple[float, int] | None:
    """One score's judge spread from its metadata: (``std**2``, repetitions), or None when it
    was not graded with repetitions."""
    std, k = (meta or {}).get("std"), (meta or {}).get("repetitions")
    if isinstance(std, int | float) and isinstance(k, int) and k > 1:
        return float(std) ** 2, k
    return None


def spreads_of(found: dict[str, list[tuple[float, int]]]) -> dict[str, tuple[float, int, int]]:
    """Per score name (in code point order), from its scores' spreads (:func:`spread_of`):
    the mean variance (an exact sum, so the order the scores come in does not matter), the
    most common repetitions, how many outputs."""
    out = {}
    for name in sorted(found):
        rows = found[name]
        ks = [k for _, k in rows]
        mean = math.fsum(v for v, _ in rows) / len(rows)
        out[name] = (mean, max(set(ks), key=ks.count), len(rows))
    return out


def _spreads(conn: Connection, experiment_id: str) -> dict[str, tuple[float, int, int]]:
    query = select(scores.c.name, scores.c.metadata).where(
        scores.c.experiment_id == experiment_id,
        cast(scores.c.metadata, Text).like('%"repetitions"%'),
    )
    found: dict[str, list[tuple[float, int]]] = {}
    for name, metadata in conn.execute(query).tuples():
        spread = spread_of(loads(metadata) if isinstance(metadata, str) else metadata)
        if spread is not None:
            found.setdefault(name, []).append(spread)
    return spreads_of(found)
