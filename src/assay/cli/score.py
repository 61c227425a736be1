"""``assay score RUN`` (re-score a stored experiment) and ``assay judge-pairwise A B``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from assay.cli.context import console, print_json, state
from assay.cli.render import table
from assay.errors import InvalidInput
from assay.formatting import plural, usd


def _scorer_arg(text: str, index: int) -> str | dict[str, Any]:
    """A scorer name, or a JSON spec such as ``{"kind": "llm_judge", "params": {...}}``."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return stripped
    try:
        spec = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"--scorer {index + 1}: invalid JSON: {exc.msg} at column {exc.colno}",
            field="scorer",
        ) from None
    if not isinstance(spec, dict):
        raise InvalidInput(f"--scorer {index + 1}: expected a JSON object", field="scorer")
    return spec


def score_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Experiment id or name.")],
    scorer: Annotated[
        list[str] | None,
        typer.Option(
            "--scorer",
            "-s",
            help='Scorer name or JSON spec, e.g. \'{"kind": "llm_judge", "params": {...}}\'. '
            "Repeatable.",
        ),
    ] = None,
    evaluator: Annotated[
        list[str] | None,
        typer.Option("--evaluator", "-e", help="Saved evaluator id or name. Repeatable."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Results scored at once.")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Score a stored experiment again without re-running it; same-named scores are replaced."""
    from assay.service.scoring import rescore_experiment

    specs = [_scorer_arg(s, i) for i, s in enumerate(scorer or [])]
    store = state(ctx).store()
    report = rescore_experiment(
        store, run, specs, evaluators=evaluator or [], concurrency=concurrency
    )
    if as_json:
        print_json(report.as_dict())
        return
    summary = store.experiments.summary(report.experiment_id)
    rows = [
        (s.name, s.count, s.scored, "" if s.pass_rate is None else f"{s.pass_rate:.1%}", s.mean)
        for s in summary.scores
        if s.name in report.scorers
    ]
    console.print(
        f"re-scored {plural(report.results, 'result')} of {report.experiment_id} "
        f"({plural(report.scores, 'score')}, {plural(report.errors, 'scorer error')}"
        + (f", judge cost {usd(report.cost)}" if report.cost else "")
        + ")",
        highlight=False,
    )
    console.print(table(None, ["scorer", "scores", "scored", "pass rate", "mean"], rows))
    if summary.pass_rate is not None:
        console.print(f"pass rate {summary.pass_rate:.1%}", highlight=False)
    if report.first_error:
        console.print(f"[yellow]first scorer error:[/] {report.first_error}", highlight=False)


def judge_pairwise_command(
    ctx: typer.Context,
    run_a: Annotated[str, typer.Argument(help="Experiment A (id or name).")],
    run_b: Annotated[str, typer.Argument(help="Experiment B (id or name).")],
    model: Annotated[str, typer.Option(help="Judge model.")],
    provider: Annotated[str, typer.Option(help="openai or anthropic.")] = "openai",
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Provider base URL (OpenAI-compatible).")
    ] = None,
    criteria: Annotated[
        str | None, typer.Option(help="What makes a response better (default: general).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Items at once.")] = 8,
    max_retries: Annotated[int, typer.Option(min=0, max=100, help="Retries per call.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ask a judge which run answered each item better (each pair asked twice, swapped)."""
    from assay.engine import pairwise_judge

    store = state(ctx).store()
    judge: dict[str, Any] = {
        "model": model,
        "provider": provider,
        "base_url": base_url,
        "max_retries": max_retries,
    }
    report = pairwise_judge(
        store, run_a, run_b, judge=judge, criteria=criteria, concurrency=concurrency
    )
    if as_json:
        print_json(report)
        return
    rows = [
        (i.item_id, i.input, i.winner or "error", "/".join(i.verdicts), i.error or "")
        for i in report.items
    ]
    console.print(table(None, ["item", "input", "winner", "votes", "error"], rows))

    def rate(value: float | None) -> str:
        return "" if value is None else f"{value:.1%}"

    console.print(
        f"A {report.run_a}: {plural(report.wins_a, 'win')} ({rate(report.win_rate_a)})   "
        f"B {report.run_b}: {plural(report.wins_b, 'win')} ({rate(report.win_rate_b)})   "
        f"ties {report.ties}   errors {report.errors}   position flips {report.inconsistent}"
        + (f"   unmatched {report.unmatched}" if report.unmatched else "")
        + (f"   judge cost {usd(report.cost)}" if report.cost else ""),
        highlight=False,
    )
