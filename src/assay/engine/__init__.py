"""The experiment engine: plan, run, resume and cancel experiments."""

from assay.engine.experiment import Prepared, plan, resume
from assay.engine.limits import AdaptiveLimit, RateLimiter
from assay.engine.retry import Failure, RetryPolicy, classify
from assay.engine.runner import Progress, Runner, RunOptions
from assay.engine.spec import build_scorers, check_resumable, config_hash

__all__ = [
    "AdaptiveLimit",
    "Failure",
    "Prepared",
    "Progress",
    "RateLimiter",
    "RetryPolicy",
    "RunOptions",
    "Runner",
    "build_scorers",
    "check_resumable",
    "classify",
    "config_hash",
    "plan",
    "resume",
]
