"""The comparison page's figures: differences with their intervals, per-item score pairs,
and latency and cost spread side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.analysis.service import SharedFrames
from assay.domain import Comparison, Experiment
from assay.server.web import figures
from assay.service.compare_charts import chart_inputs
from assay.store import Store

#: Scatters drawn at most (one per numeric score and run against the baseline).
MAX_SCATTERS = 6


def compare_figures(
    store: Store,
    comparison: Comparison,
    experiments: Sequence[Experiment],
    shared: SharedFrames | None = None,
) -> dict[str, Any]:
    names = {e.id: e.name for e in experiments}
    several = len(experiments) > 2
    rows = [
        figures.Interval(
            f"{m.name} · {names[c.run_id]}" if several else m.name,
            c.difference,
            c.ci_low,
            c.ci_high,
            c.verdict.value,
        )
        for m in comparison.metrics
        for c in m.contrasts
    ]
    forest = figures.forest("Difference from the baseline, with 95 % intervals", rows)
    inputs = chart_inputs(store, [e.id for e in experiments], shared=shared)
    base = names[experiments[0].id]
    scatters = [
        figures.scatter(
            f"{p.score}: {base} (x) against {names[p.run_id]} (y)",
            p.xs,
            p.ys,
            x_name=base,
            y_name=names[p.run_id],
            paired=p.paired,
        )
        for p in inputs.pairs[:MAX_SCATTERS]
    ]
    titles = {"latency_ms": "Latency (ms)", "cost": "Target cost (USD)"}
    formats = {"latency_ms": figures.readable, "cost": figures.usd}
    spreads = [
        figures.histograms(
            titles[s.measure],
            s.edges,
            [(names[run_id], counts) for run_id, counts in s.counts.items()],
            fmt=formats[s.measure],
        )
        for s in inputs.spreads
    ]
    return {"forest": forest, "scatters": scatters, "spreads": spreads}
