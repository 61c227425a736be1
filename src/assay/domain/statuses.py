"""The statuses and kinds every layer stores and compares, without pydantic: a writer
process importing only the store loads these and no record."""

from __future__ import annotations

from enum import StrEnum


class ExperimentStatus(StrEnum):
    pending = "pending"
    running = "running"
    scoring = "scoring"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    #: Never stored: a ``running``/``scoring`` run whose process is gone (dead process on this
    #: host, or no heartbeat for a while) reads as interrupted. Resume it to finish it.
    interrupted = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (
            ExperimentStatus.completed,
            ExperimentStatus.failed,
            ExperimentStatus.cancelled,
        )

    @property
    def stopped(self) -> bool:
        """Nothing is running it: finished, or interrupted (resuming it goes on)."""
        return self.finished or self is ExperimentStatus.interrupted


class ResultStatus(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class ScoreDataType(StrEnum):
    numeric = "numeric"
    boolean = "boolean"
    categorical = "categorical"


class ScoreSource(StrEnum):
    evaluator = "evaluator"
    human = "human"
    api = "api"
    online = "online"
    """Written by an online evaluation rule on a production trace."""
