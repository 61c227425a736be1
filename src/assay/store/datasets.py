"""Datasets and their versioned items.

Every change to a dataset's items (one item, or a whole import) is one write transaction that
creates exactly one new dataset version. Item rows are append-only states: a row is alive for
versions ``valid_from <= v < valid_to``; updating an item closes its row and appends a new one.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from assay.domain import (
    Dataset,
    DatasetCreate,
    DatasetSort,
    DatasetUpdate,
    DatasetVersion,
    Item,
    ItemCreate,
    ItemUpdate,
    Page,
)
from assay.domain.item_values import NewItem
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store import keyset
from assay.store.audit import record
from assay.store.bulk import ItemWriter
from assay.store.dataset_reads import DatasetReads, check_limit, parse_time
from assay.store.item_import import (
    BuiltRows,
    RowBuilder,
    RowSpec,
    close_states,
    insert_rows,
    match_content,
    refresh_statistics,
    write_items,
)
from assay.store.item_rows import InputKeys, SchemaCheck, item_record
from assay.store.sql import (
    json_array_contains,
    text_contains,
)
from assay.store.staged_list import StagedList
from assay.store.tables import dataset_items, dataset_versions, datasets
from assay.store.types import utcnow
from assay.store.unwritten import write_unwritten_of_dataset
from assay.store.versioning import VersionChange, commit_version, unchanged

_ITEM_FIELDS = ("input", "expected_output", "context", "metadata", "tags", "sort_order", "archived")


def _dataset(row: Row[Any]) -> Dataset:
    return Dataset.model_construct(**row._mapping)


_DATASET_COLUMNS = [c for c in datasets.c if c.name != "next_sort_order"]


class Datasets(DatasetReads):
    """Dataset and item operations within one project."""

    # ------------------------------------------------------------------ datasets
    def create(self, data: DatasetCreate) -> Dataset:
        with self.db.write() as conn:
            return self._create(conn, data)

    def create_once(self, data: DatasetCreate) -> tuple[Dataset, bool]:
        """Create the dataset, or, when one of that name already has exactly these fields (a
        retried or concurrent identical create), return it: ``(dataset, created)``. A dataset
        of that name with other fields is a Conflict."""
        try:
            return self.create(data), True
        except Conflict:
            with self.db.read() as conn:
                row = conn.execute(
                    select(datasets).where(
                        datasets.c.project_id == self.project_id, datasets.c.name == data.name
                    )
                ).first()
            sent = data.model_dump()
            if row is None or any(row._mapping[k] != v for k, v in sent.items()):
                raise
            return _dataset(row), False

    def _create(
        self, conn: Connection, data: DatasetCreate, dataset_id: str | None = None
    ) -> Dataset:
        now = utcnow()
        values = {
            "id": dataset_id or new_id(),
            "project_id": self.project_id,
            **data.model_dump(),
            "version": 0,
            "item_count": 0,
            "next_sort_order": 0,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with conn.begin_nested():
                conn.execute(datasets.insert().values(values))
        except IntegrityError:
            raise Conflict(f"dataset {data.name!r} already exists", field="name") from None
        values.pop("next_sort_order")
        return Dataset.model_construct(**values)

    def get(self, ref: str) -> Dataset:
        """A dataset by id or by name."""
        with self.db.read() as conn:
            return _dataset(self._row(conn, ref))

    def list(
        self,
        *,
        search: str | None = None,
        tag: str | None = None,
        sort: DatasetSort = "-created_at",
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Dataset]:
        limit = check_limit(limit)
        key = datasets.c[sort.lstrip("-")]
        descending = sort.startswith("-")
        query = select(*_DATASET_COLUMNS).where(datasets.c.project_id == self.project_id)
        if search:
            query = query.where(
                or_(
                    text_contains(datasets.c.name, search),
                    text_contains(datasets.c.description, search),
                )
            )
        if tag:
            query = query.where(json_array_contains(datasets.c.tags, tag, self.db.dialect))
        after = None
        if cursor:
            backwards, (value, last_id) = keyset.decode(cursor, 2)
            if key.name != "name":
                value = parse_time(value)
            after = (backwards, [value, last_id])
        with self.db.read() as conn:
            rows, more, earlier = keyset.read(
                conn, query, [key, datasets.c.id], descending, limit, after
            )
        items = [_dataset(r) for r in rows]

        def values(item: Dataset | None) -> list[Any] | None:
            if item is None:
                return None
            raw = getattr(item, key.name)
            return [raw if isinstance(raw, str) else raw.isoformat(), item.id]

        prev_cursor, next_cursor = keyset.cursors(
            values(items[0] if items else None), values(items[-1] if items else None), earlier, more
        )
        return Page[Dataset](items=items, next_cursor=next_cursor, prev_cursor=prev_cursor)

    def update(self, ref: str, data: DatasetUpdate) -> Dataset:
        changes = data.model_dump(exclude_unset=True)
        for field in ("name", "tags", "metadata"):
            if field in changes and changes[field] is None:
                raise InvalidInput(f"{field} cannot be null", field=field)
        with self.db.write() as conn:
            row = self._row(conn, ref, lock=True)
            if changes:
                changes["updated_at"] = utcnow()
                try:
                    with conn.begin_nested():
                        conn.execute(
                            update(datasets).where(datasets.c.id == row.id).values(changes)
                        )
                except IntegrityError:
                    raise Conflict(
                        f"dataset {changes['name']!r} already exists", field="name"
                    ) from None
            return _dataset(self._row(conn, row.id))

    def delete(self, ref: str) -> None:
        """Delete a dataset with all its items and versions."""
        with self.db.write() as conn:
            row = self._row(conn, ref, lock=True)
            write_unwritten_of_dataset(self.db, conn, row.id)
            conn.execute(delete(dataset_items).where(dataset_items.c.dataset_id == row.id))
            conn.execute(delete(datasets).where(datasets.c.id == row.id))
            record(
                conn,
                self.project_id,
                self.actor,
                "dataset.delete",
                "dataset",
                row.id,
                name=row.name,
                items=row.item_count,
            )

    # ------------------------------------------------------------------ versions
    def versions(self, ref: str) -> builtins.list[DatasetVersion]:
        with self.db.read() as conn:
            row = self._row(conn, ref)
            rows = conn.execute(
                select(dataset_versions)
                .where(dataset_versions.c.dataset_id == row.id)
                .order_by(dataset_versions.c.version.desc())
            ).all()
        return [DatasetVersion.model_construct(**r._mapping) for r in rows]

    def _begin_version(self, conn: Connection, ref: str) -> tuple[Row[Any], int]:
        row = self._row(conn, ref, lock=True)
        return row, row.version + 1

    # ------------------------------------------------------------------ items: writes
    def add_items(
        self, ref: str, items: Iterable[ItemCreate], *, message: str | None = None
    ) -> VersionChange:
        """Append items as one new version, all or nothing."""
        return self.import_items(ref, enumerate(items, start=1), message=message)

    def import_items(
        self,
        ref: str,
        items: Iterable[tuple[int, NewItem]],
        *,
        create: DatasetCreate | None = None,
        message: str | None = None,
        batch_size: int = 5_000,
    ) -> VersionChange:
        """Append numbered items (row number, item) as one new version, all or nothing.

        ``items`` may be a lazy stream (an importer): it is consumed in batches inside one
        transaction, so an error raised by the stream or by a schema check rolls back
        everything. With ``create``, a missing dataset is created in the same transaction.
        """
        return self.import_rows(
            ref,
            lambda spec: RowBuilder(spec, items, batch_size=batch_size),
            create=create,
            message=message,
        )

    def import_rows(
        self,
        ref: str,
        rows: Callable[[RowSpec], BuiltRows],
        *,
        create: DatasetCreate | None = None,
        message: str | None = None,
    ) -> VersionChange:
        """:meth:`import_items` of rows built elsewhere: ``rows`` is given the dataset's
        :class:`RowSpec`, read under the write lock, and returns the rows of the new items as
        :class:`RowBuilder` makes them (another process may build them); an error raised
        while they are built rolls back everything."""
        with self.db.write() as conn:
            if create is not None and not self._exists(conn, ref):
                self._create(conn, create)
            row, version = self._begin_version(conn, ref)
            count, sort_order = insert_rows(conn, row, version, rows(RowSpec.of(row)))
            if count == 0:
                raise InvalidInput("no items to add: the input holds no rows", field="items")
            change = commit_version(
                conn,
                row,
                version,
                added=count,
                live_delta=count,
                next_sort_order=sort_order,
                message=message,
            )
        refresh_statistics(self.db, count)
        return change

    def find_content(self, message: str) -> tuple[str, int] | None:
        """The newest (dataset id, version) whose version message is ``message`` (how
        :meth:`sync_items` stamps the content it saved), or None."""
        query = (
            select(dataset_versions.c.dataset_id, dataset_versions.c.version)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .where(datasets.c.project_id == self.project_id, dataset_versions.c.message == message)
            .order_by(dataset_versions.c.created_at.desc(), dataset_versions.c.version.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            found = conn.execute(query).first()
        return None if found is None else (str(found[0]), int(found[1]))

    def sync_items(
        self,
        ref: str,
        items: Sequence[NewItem],
        *,
        create: DatasetCreate,
        message: str | None = None,
        keys: Sequence[str] | None = None,
    ) -> tuple[VersionChange, bool]:
        """Make ``items`` the dataset's content, matching items by content.

        Items whose content (input, expected output, context, metadata, tags) is already in
        the current version keep their ids; the others are added and the current items not in
        ``items`` are removed, as one new version. When nothing differs no version is made
        and the current one is returned. A missing dataset is created from ``create``.
        Returns the change and whether the dataset was created.
        """
        with self.db.write() as conn:
            created = not self._exists(conn, ref)
            if created:
                self._create(conn, create)
            row, version = self._begin_version(conn, ref)
            new, gone = match_content(conn, row.id, items, keys)
            if not new and not gone:
                return unchanged(row), created
            if gone:
                close_states(conn, [row_id for row_id, _ in gone], version)
            numbered = ((number, items[p]) for number, p in enumerate(new, start=1))
            _, sort_order = write_items(conn, row, version, numbered, own_sort_order=False)
            change = commit_version(
                conn,
                row,
                version,
                added=len(new),
                removed=len(gone),
                live_delta=len(new) - sum(1 for _, archived in gone if not archived),
                next_sort_order=sort_order,
                message=message,
            )
        return change, created

    def write_staged(self, conn: Connection, staged: StagedList) -> None:
        """Create a staged list's dataset with its items as version 1, in the caller's write
        transaction; under its alias when a dataset of its name was made meanwhile (a
        :class:`Conflict` when it has none, or that name is taken too)."""
        try:
            self._create(conn, staged.create, staged.dataset.id)
        except Conflict:
            if staged.alias is None:
                raise
            renamed = staged.create.model_copy(update={"name": staged.alias})
            self._create(conn, renamed, staged.dataset.id)
        row, version = self._begin_version(conn, staged.dataset.id)
        writer = ItemWriter(
            conn, dataset_id=row.id, version=version, now=utcnow(), batch_size=5_000
        )
        try:
            writer.write(staged.rows, staged.items.ids)
        finally:
            writer.close()
        count = len(staged.rows)
        commit_version(
            conn,
            row,
            version,
            added=count,
            live_delta=count,
            next_sort_order=count,
            message=staged.message,
        )

    def _exists(self, conn: Connection, ref: str) -> bool:
        query = select(datasets.c.id).where(
            datasets.c.project_id == self.project_id,
            or_(datasets.c.id == ref, datasets.c.name == ref),
        )
        return conn.execute(query).first() is not None

    def add_item(self, ref: str, item: ItemCreate) -> Item:
        change = self.add_items(ref, [item])
        with self.db.read() as conn:
            row = conn.execute(
                select(dataset_items).where(
                    dataset_items.c.dataset_id == change.dataset_id,
                    dataset_items.c.valid_from == change.version,
                )
            ).one()
        return item_record(row)

    def update_item(self, ref: str, item_id: str, data: ItemUpdate) -> Item:
        """Change an item: closes its current state and appends the new one as a new version."""
        changes = data.model_dump(exclude_unset=True)
        for field in ("input", "metadata", "tags", "archived"):
            if field in changes and changes[field] is None:
                raise InvalidInput(f"{field} cannot be null", field=field)
        with self.db.write() as conn:
            row, version = self._begin_version(conn, ref)
            current = self._current_item(conn, row.id, item_id)
            merged = {f: current._mapping[f] for f in _ITEM_FIELDS} | changes
            if merged == {f: current._mapping[f] for f in _ITEM_FIELDS}:
                return item_record(current)
            candidate = item_record(current).model_copy(update=merged)
            SchemaCheck(row).check(candidate)
            now = utcnow()
            conn.execute(
                update(dataset_items)
                .where(dataset_items.c.row_id == current.row_id)
                .values(valid_to=version)
            )
            new_row = {
                **{c.name: current._mapping[c.name] for c in dataset_items.c if c.name != "row_id"},
                **merged,
                "valid_from": version,
                "valid_to": None,
                "updated_at": now,
                "input_key": InputKeys(row.id)(merged["input"]),
            }
            conn.execute(dataset_items.insert().values(new_row))
            next_order = max(row.next_sort_order, merged["sort_order"] + 1)
            live_delta = int(current.archived) - int(merged["archived"])
            commit_version(
                conn, row, version, changed=1, live_delta=live_delta, next_sort_order=next_order
            )
            return item_record(self._current_item(conn, row.id, item_id))

    def tag_items(
        self, ref: str, tag: str, item_ids: Iterable[str], *, message: str | None = None
    ) -> VersionChange:
        """Give ``tag`` to exactly the current items ``item_ids`` (the others lose it), as one
        new version; nothing is written when no item changes."""
        tag = tag.strip()
        if not tag:
            raise InvalidInput("tag must not be empty", field="tag")
        wanted = set(item_ids)
        c = dataset_items.c
        with self.db.write() as conn:
            row, version = self._begin_version(conn, ref)
            current = conn.execute(
                select(dataset_items).where(c.dataset_id == row.id, c.valid_to.is_(None))
            ).all()
            unknown = sorted(wanted - {r.id for r in current})
            if unknown:
                raise InvalidInput(
                    f"item(s) not in dataset {row.name!r}: {', '.join(unknown[:5])}",
                    field="item_ids",
                )
            changed = [r for r in current if (tag in (r.tags or [])) != (r.id in wanted)]
            if not changed:
                return unchanged(row)
            now = utcnow()
            new_rows = []
            for r in changed:
                tags = [t for t in (r.tags or []) if t != tag]
                if r.id in wanted:
                    tags.append(tag)
                values = {k: v for k, v in r._mapping.items() if k != "row_id"}
                new_rows.append(
                    {
                        **values,
                        "tags": tags,
                        "valid_from": version,
                        "valid_to": None,
                        "updated_at": now,
                    }
                )
            closing = [r.row_id for r in changed]
            for start in range(0, len(closing), 1000):
                conn.execute(
                    update(dataset_items)
                    .where(c.row_id.in_(closing[start : start + 1000]))
                    .values(valid_to=version)
                )
            conn.execute(dataset_items.insert(), new_rows)
            return commit_version(
                conn, row, version, changed=len(changed), live_delta=0, message=message
            )

    def delete_item(self, ref: str, item_id: str) -> VersionChange:
        with self.db.write() as conn:
            row, version = self._begin_version(conn, ref)
            current = self._current_item(conn, row.id, item_id)
            conn.execute(
                update(dataset_items)
                .where(dataset_items.c.row_id == current.row_id)
                .values(valid_to=version)
            )
            live_delta = 0 if current.archived else -1
            record(
                conn,
                self.project_id,
                self.actor,
                "item.delete",
                "item",
                item_id,
                dataset_id=row.id,
                version=version,
            )
            return commit_version(conn, row, version, removed=1, live_delta=live_delta)

    def _current_item(self, conn: Connection, dataset_id: str, item_id: str) -> Row[Any]:
        found = conn.execute(
            select(dataset_items).where(
                dataset_items.c.dataset_id == dataset_id,
                dataset_items.c.id == item_id,
                dataset_items.c.valid_to.is_(None),
            )
        ).first()
        if found is None:
            raise NotFound(f"item {item_id!r} not found", field="item_id")
        return found
