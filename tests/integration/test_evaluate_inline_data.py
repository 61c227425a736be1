"""evaluate() over inline item lists: content-addressed datasets, so runs over the same list
compare item by item, and comparisons of runs over different datasets align by content."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import assay
from assay.analysis import compare_experiments, gate_experiment
from assay.cli.main import app
from assay.config import Settings
from assay.scorers import exact_match
from assay.store import Store
from assay.store.tables import projects

N = 200


def rows(n: int = N) -> list[dict[str, Any]]:
    return [{"input": {"q": f"q{i}"}, "expected_output": f"Q{i}"} for i in range(n)]


def right_for(share: float) -> Any:
    """A task that answers the first ``share`` of the items right (by their number)."""

    def task(x: dict[str, str]) -> str:
        k = int(x["q"][1:])
        return x["q"].upper() if k < share * N else "no idea"

    return task


def item_ids(store: Store, result: assay.EvaluationResult) -> list[str]:
    return sorted(str(r.item_id) for r in result.rows)


def test_same_list_runs_the_same_dataset_version_and_a_real_gain_is_better(
    store: Store, settings: Settings
) -> None:
    a = assay.evaluate(rows(), right_for(0.5), [exact_match()], name="v1", store=store)
    b = assay.evaluate(rows(), right_for(0.9), [exact_match()], name="v2", store=store)
    assert a.experiment.dataset_id == b.experiment.dataset_id
    assert a.experiment.dataset_version == b.experiment.dataset_version == 1
    assert item_ids(store, a) == item_ids(store, b)
    assert store.datasets.get(str(a.experiment.dataset_id)).name == "v1"  # named by the first run
    assert len(store.datasets.versions(str(a.experiment.dataset_id))) == 1

    comparison = compare_experiments(store, [a.id, b.id], items=False)
    assert comparison.warnings == []
    pass_rate = comparison.metrics[0]
    contrast = pass_rate.contrasts[0]
    assert contrast.n == N
    assert contrast.difference == pytest.approx(0.4)
    assert contrast.verdict.value == "better"

    verdict = gate_experiment(store, b.id, baseline=a.id)
    assert verdict.passed, verdict.reasons

    with store.db.read() as conn:
        project = conn.execute(
            select(projects.c.name).where(projects.c.id == store.project_id)
        ).scalar_one()
    env = {"ASSAY_DATABASE_URL": settings.resolved_database_url, "ASSAY_PROJECT": project}
    gate = CliRunner().invoke(app, ["gate", b.id, "--baseline", a.id], env=env)
    assert gate.exit_code == 0, gate.output
    assert "no items shared" not in gate.output


def test_reordered_list_reuses_the_version(store: Store) -> None:
    a = assay.evaluate(rows(10), right_for(1), name="a", store=store)
    b = assay.evaluate(list(reversed(rows(10))), right_for(1), name="b", store=store)
    assert (a.experiment.dataset_id, a.experiment.dataset_version) == (
        b.experiment.dataset_id,
        b.experiment.dataset_version,
    )


def test_changed_list_is_a_new_version_of_the_same_dataset(store: Store) -> None:
    first = rows(10)
    a = assay.evaluate(first, right_for(1), name="agent", store=store)
    changed = [*first[:8], {"input": {"q": "q100"}, "expected_output": "Q100"}]
    b = assay.evaluate(changed, right_for(1), name="agent", store=store)
    assert b.experiment.dataset_id == a.experiment.dataset_id
    assert (a.experiment.dataset_version, b.experiment.dataset_version) == (1, 2)
    version = store.datasets.versions(str(b.experiment.dataset_id))[0]
    assert (version.version, version.added, version.removed, version.item_count) == (2, 1, 2, 9)
    by_input_a = {str(r.input): r.item_id for r in a.rows}
    by_input_b = {str(r.input): r.item_id for r in b.rows}
    for row in first[:8]:  # unchanged items keep their ids
        assert by_input_b[str(row["input"])] == by_input_a[str(row["input"])]

    # the first list again: the version that holds exactly it, not a third one
    c = assay.evaluate(first, right_for(1), name="agent", store=store)
    assert (c.experiment.dataset_id, c.experiment.dataset_version) == (
        a.experiment.dataset_id,
        1,
    )
    comparison = compare_experiments(store, [a.id, b.id], items=False)
    codes = {w.code for w in comparison.warnings}
    assert codes == {"dataset_version", "item_set"}
    assert comparison.metrics[0].contrasts[0].n == 8


def test_named_dataset_and_user_datasets_are_left_alone(store: Store) -> None:
    from assay.domain import DatasetCreate, ItemCreate

    store.datasets.create(DatasetCreate(name="mine"))
    store.datasets.add_items("mine", [ItemCreate(input="keep me")])
    result = assay.evaluate(rows(3), right_for(1), name="mine", store=store)
    saved = store.datasets.get(str(result.experiment.dataset_id))
    assert saved.name.startswith("mine ")
    assert saved.name != "mine"
    assert store.datasets.get("mine").item_count == 1

    named = assay.evaluate(rows(4), right_for(1), name="x", dataset="golden", store=store)
    assert store.datasets.get(str(named.experiment.dataset_id)).name == "golden"


def test_runs_over_different_datasets_align_by_content_with_a_warning(store: Store) -> None:
    a = assay.evaluate(rows(), right_for(0.5), [exact_match()], dataset="set-a", store=store)
    b = assay.evaluate(rows(), right_for(0.9), [exact_match()], dataset="set-b", store=store)
    assert a.experiment.dataset_id != b.experiment.dataset_id
    assert not set(item_ids(store, a)) & set(item_ids(store, b))

    comparison = compare_experiments(store, [a.id, b.id])
    warnings = {w.code: w.message for w in comparison.warnings}
    assert set(warnings) == {"content_aligned"}
    assert f"{N} items were matched by content" in warnings["content_aligned"]
    contrast = comparison.metrics[0].contrasts[0]
    assert contrast.n == N
    assert contrast.verdict.value == "better"
    assert len(comparison.items) == N
    assert all(None not in row.cells.values() for row in comparison.items)

    paged = compare_experiments(store, [a.id, b.id], limit=5)  # outputs read per page
    outputs = {str(r.input): r.output for r in b.rows}
    inputs = {r.item_id: str(r.input) for r in a.rows}
    for row in paged.items:
        cell = row.cells[b.id]
        assert cell is not None
        assert cell.output == outputs[inputs[row.item_id]]
    verdict = gate_experiment(store, b.id, baseline=a.id)
    assert verdict.passed, verdict.reasons
