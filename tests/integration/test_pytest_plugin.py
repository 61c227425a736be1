"""The pytest plugin, run inside a team's test suite (pytester) against each database."""

from __future__ import annotations

# pytester unloads the modules first imported while it is in use; Alembic (which the store
# fixture may import) would then be imported again and its PostgreSQL dialect warn about
# re-registering its functions. Imported here, it stays.
import alembic.runtime.migration  # noqa: F401
import pytest
from sqlalchemy import select

from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate
from assay.store import Store
from assay.store.tables import projects
from assay.testing import assert_gate  # loaded here: the in-process run keeps it

pytest_plugins = ["pytester"]

SUITE = """
import pytest
from assay.testing import assert_gate

def good(x):
    return x["q"].upper()


def worse(x):
    return x["q"] if int(x["q"][1:]) % 2 else x["q"].upper()


def test_baseline(assay_evaluate):
    result = assay_evaluate("qa", good, ["exact_match"], name="main-run", run_tag="main")
    assert result.pass_rate == 1.0
    assert result.scores["exact_match"].mean == 1.0
    verdict = assert_gate(result, policy={"min_pass_rate": 0.9})
    assert verdict.passed


def test_same_again_passes_against_main(assay_evaluate):
    result = assay_evaluate("qa", good, ["exact_match"], name="again")
    assert_gate(result, baseline_tag="main")


def test_regression_fails_with_reasons(assay_evaluate):
    result = assay_evaluate("qa", worse, ["exact_match"], name="worse")
    assert result.pass_rate == 0.5
    assert_gate(result, baseline_tag="main", policy="max_drop: 0.05")
"""


def _project(store: Store) -> str:
    with store.db.read() as conn:
        return str(
            conn.execute(
                select(projects.c.name).where(projects.c.id == store.project_id)
            ).scalar_one()
        )


def test_plugin_fixtures_and_assert_gate(
    pytester: pytest.Pytester,
    store: Store,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        "qa", [ItemCreate(input={"q": f"q{i}"}, expected_output=f"Q{i}") for i in range(20)]
    )
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("ASSAY_HOME", str(pytester.path / "home"))
    pytester.makepyfile(test_eval=SUITE)
    result = pytester.runpytest_inprocess(
        "-p",
        "assay.testing",
        "--assay-db",
        settings.resolved_database_url,
        "--assay-project",
        _project(store),
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::DeprecationWarning",
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: assay gate failed for run 'worse' vs baseline 'main-run':",
            "*- pass rate: change -0.5 *significantly worse*",
            "*scores: pass rate 50.0% (baseline 100.0%), exact_match 0.5 (baseline 1)*",
            "*regressions (10): *",
        ]
    )
    names = [e.name for e in store.experiments.list().items]
    assert sorted(names) == ["again", "main-run", "worse"]


def test_assert_gate_on_a_run_id_needs_a_store(store: Store) -> None:
    with pytest.raises(TypeError, match="store="):
        assert_gate("some-run")
