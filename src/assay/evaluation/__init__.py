"""The SDK entry point: ``assay.evaluate(data, task, scorers=[...])``.

Runs an experiment in this process against the embedded store (or the configured database) and
returns an :class:`EvaluationResult`. ``evaluate`` works from plain scripts and from code that
already runs an event loop (it then runs on a helper thread); ``await evaluate_async(...)`` is
the native form for async code.

The entry points are in ``run`` (with ``rescore``), the data they take in ``datasets``, the
result and the report printed after a run in ``result``, and the upload to a server in
``uploads``.
"""

from __future__ import annotations

from assay.evaluation.datasets import SAVED_BY, Data
from assay.evaluation.result import REPORTED_ERRORS, EvaluationResult, ItemError, report
from assay.evaluation.run import evaluate, evaluate_async, rescore, run_settings
from assay.evaluation.uploads import upload

__all__ = [
    "REPORTED_ERRORS",
    "SAVED_BY",
    "Data",
    "EvaluationResult",
    "ItemError",
    "evaluate",
    "evaluate_async",
    "report",
    "rescore",
    "run_settings",
    "upload",
]
