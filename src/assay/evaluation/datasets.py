"""The data :func:`~assay.evaluation.evaluate` runs: a stored dataset (by name, id or record)
or an inline list of items, saved content-addressed as a dataset version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError

from assay.domain import Dataset, DatasetCreate, ItemCreate, list_content_hash
from assay.domain.item_values import NewItem, is_plain_item, new_item_hash
from assay.errors import InvalidInput, NotFound, from_validation
from assay.store import Store
from assay.store.staged_list import STAGE_MAX, StagedList, stage_list

Data = str | Dataset | Sequence[dict[str, Any] | ItemCreate]

#: Marks the datasets evaluate() saves inline lists into (the only ones it changes by itself).
SAVED_BY = "assay.evaluate"


def _item(row: Any, number: int) -> ItemCreate:
    if isinstance(row, ItemCreate):
        return row
    if not isinstance(row, dict) or "input" not in row:
        raise InvalidInput(
            f"row {number}: each item needs an 'input' (got {type(row).__name__})",
            field="input",
            row=number,
        )
    try:
        return ItemCreate(**row)
    except ValidationError as exc:
        raise from_validation(exc, row=number) from None


def _check_rows(rows: Sequence[Any]) -> tuple[list[str], list[NewItem]]:
    """Every row's content hash, and the rows as new items; raises on the first invalid row.

    Each row is checked once: a plain row (see :func:`~assay.domain.item_values.is_plain_item`)
    is its own item; any other is validated by the model. The list refers to the caller's
    rows, so a long list of plain rows is not held a second time as records.
    """
    keys: list[str] = []
    items: list[NewItem] = []
    for number, row in enumerate(rows, start=1):
        if row.__class__ is dict and is_plain_item(row):
            items.append(row)
            keys.append(new_item_hash(row))
        else:
            item = _item(row, number)
            items.append(item)
            keys.append(new_item_hash(item.__dict__))
    return keys, items


def _content_message(digest: str) -> str:
    return f"{SAVED_BY} content sha256:{digest}"


class DataRef(NamedTuple):
    """The dataset a run of :func:`~assay.evaluation.evaluate` uses."""

    dataset: str  # its id
    version: int | None  # the version to pin; None: the current one
    created: bool  # saved by this call (deleted again if the run cannot be planned)
    staged: StagedList | None = None  # a new list's dataset, written when its run starts


def dataset_ref(
    data: Data,
    store: Store,
    name: str | None,
    task: Any = None,
    dataset: str | None = None,
    *,
    stage: bool = False,
) -> DataRef:
    """The dataset to run.

    An inline list is content-addressed: a list whose items (input, expected output, context,
    metadata, tags, in any order) were saved before runs that same dataset version, so its
    items keep their ids. Otherwise the list is saved into the dataset ``dataset``, else one
    named after ``name`` or the task function: a changed list becomes a new version of it,
    unchanged items keep their ids. With ``stage``, a list whose dataset does not exist yet
    (and of at most :data:`~assay.store.staged_list.STAGE_MAX` items) is checked and built
    but not written: its run writes it (see :mod:`assay.store.staged_list`).
    """
    if isinstance(data, str):
        return DataRef(store.datasets.get(data).id, None, False)
    if isinstance(data, Dataset):
        return DataRef(data.id, None, False)
    if isinstance(data, Sequence):
        if not data:
            raise InvalidInput("data holds no items", field="data")
        keys, items = _check_rows(data)  # every row checked before anything is saved
        message = _content_message(list_content_hash(keys))
        if dataset is None:
            found = store.datasets.find_content(message)
            if found is not None:
                return DataRef(found[0], found[1], False)
        target, exists = _target(store, dataset, name, task, message[-8:])
        create = DatasetCreate(
            name=target,
            description="Saved by assay.evaluate() from an inline list of items",
            metadata={"saved_by": SAVED_BY},
        )
        if stage and len(items) <= STAGE_MAX and not exists:
            # Named after the call, it yields to a dataset of that name made meanwhile.
            suffix = f" {message[-8:]}"
            alias = None if dataset or target.endswith(suffix) else target + suffix
            staged = stage_list(store.project_id, items, create, message, alias)
            return DataRef(staged.dataset.id, staged.dataset.version, False, staged)
        change, created = store.datasets.sync_items(
            target, items, create=create, message=message, keys=keys
        )
        return DataRef(change.dataset_id, change.version, created)
    raise InvalidInput(
        "data must be a dataset name or id, a Dataset, or a list of items", field="data"
    )


def _target(
    store: Store, dataset: str | None, name: str | None, task: Any, suffix: str
) -> tuple[str, bool]:
    """The dataset an inline list is saved into, and whether it exists: ``dataset``; else
    ``name``, else the task function's name, else ``evaluate``, with the content hash's start
    appended when a dataset of that name exists that evaluate() did not save."""
    if dataset is not None:
        return dataset, _found(store, dataset) is not None
    base = name or getattr(task, "__name__", None) or "evaluate"
    base = base if base != "<lambda>" else "evaluate"
    existing = _found(store, base)
    if existing is None or existing.metadata.get("saved_by") == SAVED_BY:
        return base, existing is not None
    other = f"{base} {suffix}"
    return other, _found(store, other) is not None


def _found(store: Store, ref: str) -> Dataset | None:
    try:
        return store.datasets.get(ref)
    except NotFound:
        return None
