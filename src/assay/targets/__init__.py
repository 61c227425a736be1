"""Targets: what an experiment calls for each item (functions, HTTP endpoints, prompt + model)."""

from assay.domain import WorkItem
from assay.targets.base import Target, TargetError, TargetOutput, as_output, is_sync
from assay.targets.function import FunctionTarget, import_function
from assay.targets.http import HttpTarget
from assay.targets.pricing import Price, PriceTable
from assay.targets.prompt import PromptTarget
from assay.targets.registry import BuildContext, create_target, register_target, target_kinds

__all__ = [
    "BuildContext",
    "FunctionTarget",
    "HttpTarget",
    "Price",
    "PriceTable",
    "PromptTarget",
    "Target",
    "TargetError",
    "TargetOutput",
    "WorkItem",
    "as_output",
    "create_target",
    "import_function",
    "is_sync",
    "register_target",
    "target_kinds",
]
