"""``evaluate(..., server=...)``: the server's dataset read over the REST API, run locally.

The items of the server's dataset (at one version, read in pages) are mirrored into the local
store as a dataset of their own, so the local engine runs and scores them like any other; the
mirror remembers which server item each local item is (``metadata["server"]["item_ids"]``, in
item order), so the uploaded outputs name the server's items and line up with the dataset's
other runs in comparisons and gates. A dataset version never changes on the server, so a
mirror of the same dataset version is reused rather than copied again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.domain import Dataset, DatasetCreate, Item, ItemCreate
from assay.errors import Conflict, InvalidInput, NotFound
from assay.store import Store

if TYPE_CHECKING:
    from assay.client import Assay

PAGE = 1000
SERVER_KEY = "server"


@dataclass
class ServerDataset:
    """A dataset on the server, at one version, with every (unarchived) item in order."""

    id: str
    name: str
    version: int
    items: list[Item]


def connect(server: Any) -> tuple[Assay, bool]:
    """The client for ``server`` (a client, or a base URL), and whether it is ours to close;
    ``None`` means the one configured by ``ASSAY_URL`` and the key variables."""
    from assay.client import Assay

    if server is None:
        return Assay(), True
    if isinstance(server, str):
        return Assay(base_url=server), True
    if isinstance(server, Assay):
        return server, False
    raise InvalidInput("server must be an assay.Assay client or a base URL", field="server")


def fetch(client: Assay, ref: str, version: int | None = None) -> ServerDataset:
    """Read a dataset (by name or id) from the server, page by page, at ``version``
    (default: the current one, pinned before the first page so later edits do not mix in)."""
    detail = client.datasets.get(ref)
    pinned = detail.version if version is None else version
    items: list[Item] = []
    cursor: str | None = None
    while True:
        page = client.datasets.items(detail.id, version=pinned, limit=PAGE, cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if not cursor or not page.items:
            break
    if not items:
        raise InvalidInput(
            f"dataset {detail.name!r} on the server has no items at version {pinned}",
            field="data",
        )
    return ServerDataset(id=detail.id, name=detail.name, version=pinned, items=items)


def mirror(store: Store, source: ServerDataset, url: str) -> Dataset:
    """The local copy of ``source``: reused when this store already holds that version."""
    name = f"{source.name[:120]} (server v{source.version}, {source.id})"
    ids = [i.id for i in source.items]
    try:
        found = store.datasets.get(name)
    except NotFound:
        found = None
    if found is not None:
        held = found.metadata.get(SERVER_KEY)
        if isinstance(held, dict) and held.get("item_ids") == ids:
            return found
        store.datasets.delete(found.id)  # not the copy it claims to be: make it again
    meta = {
        SERVER_KEY: {
            "url": url,
            "dataset_id": source.id,
            "dataset_name": source.name,
            "version": source.version,
            "item_ids": ids,
        }
    }
    items = (
        (
            n,
            ItemCreate(
                input=i.input,
                expected_output=i.expected_output,
                context=i.context,
                metadata=i.metadata,
                tags=i.tags,
                sort_order=n,
            ),
        )
        for n, i in enumerate(source.items, start=1)
    )
    create = DatasetCreate(
        name=name,
        description=f"Items of {source.name!r} version {source.version} read from {url}",
        metadata=meta,
    )
    try:
        change = store.datasets.import_items(name, items, create=create)
    except Conflict:  # another call made the same copy meanwhile
        found = store.datasets.get(name)
        if server_source(found) is not None and found.metadata[SERVER_KEY]["item_ids"] == ids:
            return found
        raise
    return store.datasets.get(change.dataset_id)


def server_source(dataset: Dataset) -> dict[str, Any] | None:
    """What a mirror says about the server dataset it copies (None for other datasets)."""
    held = dataset.metadata.get(SERVER_KEY)
    if isinstance(held, dict) and isinstance(held.get("item_ids"), list):
        return held
    return None


def item_map(store: Store, dataset: Dataset) -> dict[str, str]:
    """Local item id to the server item id it copies, for a mirror."""
    source = server_source(dataset)
    if source is None:
        return {}
    local = [i.id for i in store.datasets.iter_items(dataset.id, include_archived=True)]
    return dict(zip(local, source["item_ids"], strict=False))


def local_ids(store: Store, dataset: Dataset, ids: Sequence[str]) -> list[str]:
    """Server item ids (an ``ids=`` selection) as the mirror's local ids."""
    back = {server: local for local, server in item_map(store, dataset).items()}
    missing = [i for i in ids if i not in back]
    if missing:
        raise InvalidInput(
            f"item {missing[0]!r} is not in the server dataset's version", field="ids"
        )
    return [back[i] for i in ids]


__all__ = [
    "ServerDataset",
    "connect",
    "fetch",
    "item_map",
    "local_ids",
    "mirror",
    "server_source",
]
