"""The experiment engine: plan, run, resume and cancel experiments."""

from assay.engine.config import RunConfig, load_run_config, parse_run_config
from assay.engine.experiment import Prepared, plan, rebuild, resume
from assay.engine.judge import JudgeCallError, ProviderJudge, llm_judge
from assay.engine.limits import AdaptiveLimit, RateLimiter
from assay.engine.options import Progress, RunOptions
from assay.engine.retry import Failure, RetryPolicy, classify
from assay.engine.runner import Runner
from assay.engine.spec import build_scorers, check_resumable, config_hash

__all__ = [
    "AdaptiveLimit",
    "Failure",
    "JudgeCallError",
    "Prepared",
    "Progress",
    "ProviderJudge",
    "RateLimiter",
    "RetryPolicy",
    "RunConfig",
    "RunOptions",
    "Runner",
    "build_scorers",
    "check_resumable",
    "classify",
    "config_hash",
    "llm_judge",
    "load_run_config",
    "parse_run_config",
    "plan",
    "rebuild",
    "resume",
]
