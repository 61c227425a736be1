"""The experiment engine: plan, run, resume and cancel experiments."""

from assay.engine.experiment import Prepared, plan, rebuild, resume
from assay.engine.limits import AdaptiveLimit, RateLimiter
from assay.engine.options import Progress, RunOptions
from assay.engine.pairwise import PairwiseItem, PairwiseReport, pairwise_judge, pairwise_judge_async
from assay.engine.provider_judge import JudgeCallError, ProviderJudge, llm_judge
from assay.engine.rescore import RescoreReport, rescore_results, rescore_results_async
from assay.engine.retry import Failure, RetryPolicy, classify
from assay.engine.run_config import RunConfig, load_run_config, parse_run_config
from assay.engine.runner import Runner
from assay.engine.spec import build_scorers, check_resumable, config_hash

__all__ = [
    "AdaptiveLimit",
    "Failure",
    "JudgeCallError",
    "PairwiseItem",
    "PairwiseReport",
    "Prepared",
    "Progress",
    "ProviderJudge",
    "RateLimiter",
    "RescoreReport",
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
    "pairwise_judge",
    "pairwise_judge_async",
    "parse_run_config",
    "plan",
    "rebuild",
    "rescore_results",
    "rescore_results_async",
    "resume",
]
