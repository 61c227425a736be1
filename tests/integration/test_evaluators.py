"""Saved evaluators and dataset default evaluators, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assay.domain import DatasetCreate, Evaluator, EvaluatorCreate, ItemCreate
from assay.errors import NotFound
from assay.scoring import Sample, build, run_scorer
from assay.store import Store


def _save(store: Store, name: str = "mentions", **kw: object) -> Evaluator:
    data = {
        "name": name,
        "kind": "contains",
        "params": {"ignore_case": True},
        "mapping": {"expected_output": "expected_output.should_contain"},
        "threshold": {"equals": True},
        **kw,
    }
    return store.evaluators.create(EvaluatorCreate.model_validate(data))


def test_create_get_and_new_version_on_same_name(store: Store) -> None:
    first = store.evaluators.create(EvaluatorCreate(name="quality", kind="exact_match"))
    assert first.version == 1
    assert first.params == {}
    assert first.mapping == {}
    assert first.threshold is None
    second = store.evaluators.create(
        EvaluatorCreate(name="quality", kind="exact_match", params={"ignore_case": True})
    )
    assert second.version == 2
    assert second.id != first.id
    assert store.evaluators.get("quality") == second
    assert store.evaluators.get("quality", version=1) == first
    assert store.evaluators.get(first.id) == first
    assert [e.version for e in store.evaluators.versions("quality")] == [2, 1]


def test_get_missing_names_what_is_missing(store: Store) -> None:
    with pytest.raises(NotFound, match="evaluator 'nope' not found"):
        store.evaluators.get("nope")
    store.evaluators.create(EvaluatorCreate(name="q", kind="exact_match"))
    with pytest.raises(NotFound, match="version 7"):
        store.evaluators.get("q", version=7)


def test_round_trip_of_json_fields(store: Store) -> None:
    saved = _save(store, params={"value": ["ünïcode", "b"], "nested": {"x": [1, 2.5, None]}})
    got = store.evaluators.get("mentions")
    assert got == saved
    assert got.params["nested"] == {"x": [1, 2.5, None]}
    assert got.mapping == {"expected_output": "expected_output.should_contain"}
    assert got.threshold == {"equals": True}


def test_invalid_input_is_rejected_before_storage(store: Store) -> None:
    with pytest.raises(ValidationError):
        EvaluatorCreate.model_validate({"name": "", "kind": "contains"})
    with pytest.raises(ValidationError):
        EvaluatorCreate.model_validate({"name": "x", "kind": "contains", "extra": 1})
    assert store.evaluators.list() == []


def test_list_shows_latest_versions_with_filters(store: Store) -> None:
    store.evaluators.create(EvaluatorCreate(name="b-length", kind="length", params={"max": 5}))
    store.evaluators.create(EvaluatorCreate(name="a-exact", kind="exact_match"))
    store.evaluators.create(EvaluatorCreate(name="a-exact", kind="exact_match", params={}))
    listed = store.evaluators.list()
    assert [(e.name, e.version) for e in listed] == [("a-exact", 2), ("b-length", 1)]
    assert [e.name for e in store.evaluators.list(search="LENGTH")] == ["b-length"]
    assert [e.name for e in store.evaluators.list(kind="exact_match")] == ["a-exact"]


def test_projects_do_not_see_each_other(store: Store) -> None:
    from assay.store.evaluators import Evaluators
    from assay.store.projects import ensure_project

    _save(store)
    other = Evaluators(store.db, ensure_project(store.db, store.project_id + "-other").id)
    assert other.list() == []
    with pytest.raises(NotFound):
        other.get("mentions")


def test_delete_one_version_or_all(store: Store) -> None:
    v1 = _save(store)
    _save(store)
    _save(store)
    assert store.evaluators.delete(v1.id) == 1
    assert [e.version for e in store.evaluators.versions("mentions")] == [3, 2]
    assert store.evaluators.delete("mentions", version=2) == 1
    assert store.evaluators.delete("mentions") == 1
    assert store.evaluators.list() == []
    with pytest.raises(NotFound):
        store.evaluators.delete("mentions")


def test_dataset_defaults_attach_detach(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.create(DatasetCreate(name="other"))
    mentions = _save(store)
    length = store.evaluators.create(
        EvaluatorCreate(name="short", kind="length", params={"max": 200})
    )
    assert store.evaluators.defaults("qa") == []
    store.evaluators.attach("qa", "mentions")
    store.evaluators.attach("qa", length.id)
    store.evaluators.attach("qa", "mentions")  # idempotent
    assert [e.id for e in store.evaluators.defaults("qa")] == [mentions.id, length.id]
    assert store.evaluators.defaults("other") == []

    store.evaluators.detach("qa", "short")
    assert [e.name for e in store.evaluators.defaults("qa")] == ["mentions"]
    with pytest.raises(NotFound, match="not attached"):
        store.evaluators.detach("qa", "short")
    with pytest.raises(NotFound, match="dataset 'missing'"):
        store.evaluators.attach("missing", "mentions")
    with pytest.raises(NotFound, match="evaluator 'missing'"):
        store.evaluators.attach("qa", "missing")


def test_new_version_moves_attachment_and_old_version_can_be_pinned(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="qa"))
    v1 = _save(store)
    store.evaluators.attach("qa", "mentions")
    v2 = _save(store, threshold=None)
    assert [e.id for e in store.evaluators.defaults("qa")] == [v2.id]
    store.evaluators.attach("qa", "mentions", version=1)  # replaces v2: one version per name
    assert [e.id for e in store.evaluators.defaults("qa")] == [v1.id]
    unmoved = store.evaluators.create(
        EvaluatorCreate(name="mentions", kind="contains"), move_attachments=False
    )
    assert unmoved.version == 3
    assert [e.version for e in store.evaluators.defaults("qa")] == [1]


def test_deleting_dataset_or_evaluator_removes_attachments(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.create(DatasetCreate(name="gone"))
    _save(store)
    store.evaluators.attach("qa", "mentions")
    store.evaluators.attach("gone", "mentions")
    store.datasets.delete("gone")
    assert [e.name for e in store.evaluators.defaults("qa")] == ["mentions"]
    store.evaluators.delete("mentions")
    assert store.evaluators.defaults("qa") == []


async def test_saved_evaluator_builds_a_working_scorer(store: Store) -> None:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa",
        [
            ItemCreate(
                input={"messages": [{"role": "user", "content": "What is machine learning?"}]},
                expected_output={"should_contain": ["algorithm", "data", "patterns"]},
            )
        ],
    )
    _save(store)
    store.evaluators.attach("qa", "mentions")
    (saved,) = store.evaluators.defaults("qa")
    scorer = build(saved)
    (item,) = store.datasets.iter_items("qa")
    good = Sample(
        input=item.input,
        output="An ALGORITHM finds Patterns in data.",
        expected_output=item.expected_output,
    )
    (score,) = await run_scorer(scorer, good)
    assert score.name == "mentions"
    assert score.passed is True
    assert (score.evaluator_id, score.evaluator_version) == (saved.id, 1)
    bad = Sample(input=item.input, output="No idea.", expected_output=item.expected_output)
    (score,) = await run_scorer(scorer, bad)
    assert score.passed is False
    assert "algorithm" in (score.reason or "")


def test_concurrent_saves_get_distinct_versions(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def save(i: int) -> int:
        data = EvaluatorCreate(name="raced", kind="length", params={"max": i})
        return store.evaluators.create(data).version

    with ThreadPoolExecutor(max_workers=2) as pool:
        versions = sorted(pool.map(save, range(10)))
    assert versions == list(range(1, 11))
    assert len(store.evaluators.versions("raced")) == 10
