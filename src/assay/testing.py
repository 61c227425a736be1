"""pytest plugin: assert on evaluations in a team's own test suite.

Installed with Assay (entry point ``pytest11``). It adds the ``assay_store`` and
``assay_evaluate`` fixtures, the ``--assay-db``/``--assay-project`` options, and
:func:`assert_gate`, which fails a test with the gate's reasons::

    from assay.testing import assert_gate

    def test_support_bot(assay_evaluate):
        result = assay_evaluate("support-qa", answer, ["exact_match"])
        assert result.pass_rate >= 0.8
        assert result.scores["exact_match"].mean > 0.7
        assert_gate(result, baseline_tag="main", policy={"max_drop": 0.02})
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# pytest loads this plugin in every session of a project that installs Assay, so the store,
# the engine and the analysis are imported only inside the fixtures and functions using them.
if TYPE_CHECKING:
    from assay.domain import GateVerdict, RegressionPolicy
    from assay.evaluation import EvaluationResult
    from assay.store import Store

    PolicyLike = RegressionPolicy | Mapping[str, Any] | str | Path

MAX_LISTED = 10


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("assay", "Assay evaluations")
    group.addoption(
        "--assay-db",
        default=None,
        help="Database URL for evaluations run in tests (default: ASSAY_DATABASE_URL or the "
        "embedded SQLite store).",
    )
    group.addoption("--assay-project", default=None, help="Project for evaluations run in tests.")


@pytest.fixture(scope="session")
def assay_store(pytestconfig: pytest.Config) -> Iterator[Store]:
    """The configured store (``--assay-db``/``--assay-project`` override the environment)."""
    from assay.config import Settings
    from assay.store import open_store

    overrides: dict[str, Any] = {}
    if pytestconfig.getoption("assay_db", None):
        overrides["database_url"] = pytestconfig.getoption("assay_db")
    if pytestconfig.getoption("assay_project", None):
        overrides["project"] = pytestconfig.getoption("assay_project")
    store = open_store(Settings(**overrides))
    yield store
    store.close()


@pytest.fixture
def assay_evaluate(assay_store: Store) -> Callable[..., EvaluationResult]:
    """``assay.evaluate`` writing to :func:`assay_store`; same arguments, same result."""
    from assay.evaluation import evaluate

    def run(data: Any, task: Any, scorers: Any = (), **kwargs: Any) -> EvaluationResult:
        kwargs.setdefault("store", assay_store)
        return evaluate(data, task, scorers, **kwargs)

    return run


def _policy(policy: PolicyLike | None) -> RegressionPolicy | None:
    from assay.domain import RegressionPolicy

    if policy is None or isinstance(policy, RegressionPolicy):
        return policy
    if isinstance(policy, Path):
        return RegressionPolicy.parse(policy.read_text(encoding="utf-8"), source=str(policy))
    return RegressionPolicy.parse(policy)


def _pct_or_mean(name: str, value: float | None) -> str:
    from assay.domain import PASS_METRIC

    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if name == PASS_METRIC else f"{value:.4g}"


def gate_message(verdict: GateVerdict) -> str:
    """A readable account of a failed gate, for an assertion message."""
    from assay.domain import PASS_METRIC

    against = f" vs baseline {verdict.baseline_name!r}" if verdict.baseline_name else ""
    lines = [f"assay gate failed for run {verdict.run_name!r}{against}:"]
    lines += [f"  - {reason}" for reason in verdict.reasons]
    shown = []
    for name, mean in verdict.means.items():
        label = "pass rate" if name == PASS_METRIC else name
        base = None
        if verdict.comparison is not None:
            metric = verdict.comparison.metric(name)
            base = metric.means.get(verdict.comparison.baseline_id) if metric else None
        was = f" (baseline {_pct_or_mean(name, base)})" if base is not None else ""
        shown.append(f"{label} {_pct_or_mean(name, mean)}{was}")
    lines.append("  scores: " + ", ".join(shown))
    regressed = [
        f"{i.item_id} ({i.detail})" if i.detail else i.item_id
        for i in verdict.first_regressions(MAX_LISTED)
    ]
    total = verdict.regressions_total
    if total:
        more = f" and {total - len(regressed)} more" if total > len(regressed) else ""
        lines.append(f"  regressions ({total}): {', '.join(regressed)}{more}")
    return "\n".join(lines)


def assert_gate(
    result: EvaluationResult | str,
    *,
    policy: PolicyLike | None = None,
    baseline: str | None = None,
    baseline_tag: str | None = None,
    store: Store | None = None,
) -> GateVerdict:
    """Gate an evaluation (or a stored run id, with ``store``) and fail the test if it fails.

    ``policy`` is a :class:`RegressionPolicy`, a mapping, YAML/JSON text or a file path;
    without it the dataset's stored policy (else the defaults) applies. Returns the verdict.
    """
    from assay.analysis import gate_experiment

    if isinstance(result, str):
        ref = result
    else:
        store = store or result.store
        ref = result.id
    if store is None:
        raise TypeError("assert_gate needs store= when given a run id")
    verdict = gate_experiment(
        store, ref, baseline=baseline, baseline_tag=baseline_tag, policy=_policy(policy)
    )
    if not verdict.passed:
        raise AssertionError(gate_message(verdict))
    return verdict


__all__ = ["assay_evaluate", "assay_store", "assert_gate", "gate_message"]
