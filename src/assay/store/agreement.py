"""Evaluator scores paired with human scores of the same result and name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, select

from assay.store.db import Database
from assay.store.tables import evaluators, experiments, scores


@dataclass(frozen=True)
class ScorePair:
    """One result scored under ``name`` by an evaluator (version) and by a human."""

    name: str
    version: int | None
    data_type: str
    judge_numeric: float | None
    judge_string: str | None
    judge_passed: bool | None
    human_numeric: float | None
    human_string: str | None
    human_passed: bool | None


def judge_human_pairs(
    db: Database,
    project_id: str,
    *,
    evaluator: str | None = None,
    dataset_id: str | None = None,
    names: Sequence[str] | None = None,
) -> list[ScorePair]:
    """Pairs of evaluator and human scores, for the evaluator named ``evaluator`` (every
    version) and/or the runs of ``dataset_id`` and score ``names``."""
    judge, human = scores.alias("judge"), scores.alias("human")
    query = (
        select(
            judge.c.name,
            judge.c.evaluator_version,
            judge.c.data_type,
            judge.c.numeric_value,
            judge.c.string_value,
            judge.c.passed,
            human.c.numeric_value,
            human.c.string_value,
            human.c.passed,
        )
        .select_from(
            judge.join(
                human,
                and_(
                    human.c.result_id == judge.c.result_id,
                    human.c.name == judge.c.name,
                    human.c.source == "human",
                ),
            )
        )
        .where(
            judge.c.project_id == project_id,
            judge.c.source == "evaluator",
            judge.c.result_id.is_not(None),
        )
        .order_by(judge.c.evaluator_version, judge.c.id)
    )
    if evaluator is not None:
        ids = select(evaluators.c.id).where(
            evaluators.c.project_id == project_id, evaluators.c.name == evaluator
        )
        query = query.where(judge.c.evaluator_id.in_(ids))
    if dataset_id is not None:
        runs = select(experiments.c.id).where(
            experiments.c.project_id == project_id, experiments.c.dataset_id == dataset_id
        )
        query = query.where(judge.c.experiment_id.in_(runs))
    if names is not None:
        query = query.where(judge.c.name.in_(list(names)))
    with db.read() as conn:
        return [ScorePair(*row) for row in conn.execute(query).all()]
