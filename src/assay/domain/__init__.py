"""Pydantic records shared by every layer: what storage returns and every interface renders."""

from assay.domain.analytics import (
    DatasetHealth,
    Distribution,
    HistogramBin,
    ItemHealth,
    LatencyStats,
    ScorerPoint,
    TrendPoint,
)
from assay.domain.catalog import ApiKey, Connection, Endpoint, Evaluator, Project, Prompt
from assay.domain.common import JSON, Input, JsonObject, Page, Record
from assay.domain.datasets import (
    Dataset,
    DatasetCreate,
    DatasetDiff,
    DatasetSort,
    DatasetUpdate,
    DatasetVersion,
    Item,
    ItemChange,
    ItemCreate,
    ItemSort,
    ItemSource,
    ItemUpdate,
)
from assay.domain.experiments import Experiment, ExperimentStatus, Result, ResultStatus
from assay.domain.scores import Score, ScoreCreate, ScoreDataType, ScoreSource
from assay.domain.traces import Observation, ObservationType, Trace

__all__ = [
    "JSON",
    "ApiKey",
    "Connection",
    "Dataset",
    "DatasetCreate",
    "DatasetDiff",
    "DatasetHealth",
    "DatasetSort",
    "DatasetUpdate",
    "DatasetVersion",
    "Distribution",
    "Endpoint",
    "Evaluator",
    "Experiment",
    "ExperimentStatus",
    "HistogramBin",
    "Input",
    "Item",
    "ItemChange",
    "ItemCreate",
    "ItemHealth",
    "ItemSort",
    "ItemSource",
    "ItemUpdate",
    "JsonObject",
    "LatencyStats",
    "Observation",
    "ObservationType",
    "Page",
    "Project",
    "Prompt",
    "Record",
    "Result",
    "ResultStatus",
    "Score",
    "ScoreCreate",
    "ScoreDataType",
    "ScoreSource",
    "ScorerPoint",
    "Trace",
    "TrendPoint",
]
