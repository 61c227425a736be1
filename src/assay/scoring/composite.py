"""Composite scorers: several scorers combined into one score.

* ``weighted_mean`` — the weighted mean of the parts' numeric values (booleans count 1/0);
* ``all`` — passes when every part passes;
* ``any`` — passes when at least one part passes.

A part's verdict is its ``passed`` (give numeric parts a threshold); a part that could not
score makes the composite unscorable too, with the part named in the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from assay.domain import ScoreCreate, ScoreDataType
from assay.errors import InvalidInput
from assay.scoring.base import Sample, ScoreOutput, Scorer, make_score, run_scorer

Mode = Literal["weighted_mean", "all", "any"]


class Composite:
    """Combines the first score of each part scorer (see the module docstring)."""

    def __init__(
        self,
        parts: Sequence[Scorer],
        *,
        mode: Mode = "weighted_mean",
        weights: Sequence[float] | None = None,
        include_parts: bool = False,
        name: str = "composite",
    ) -> None:
        if mode not in ("weighted_mean", "all", "any"):
            raise InvalidInput("mode must be weighted_mean, all or any", field="params.mode")
        if not parts:
            raise InvalidInput("a composite needs at least one scorer", field="params.scorers")
        if weights is None:
            weights = [1.0] * len(parts)
        if len(weights) != len(parts):
            raise InvalidInput(
                f"{len(weights)} weight(s) for {len(parts)} scorer(s)", field="params.weights"
            )
        for i, w in enumerate(weights):
            if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
                raise InvalidInput(f"weight {i} must be a number >= 0", field="params.weights")
        if mode == "weighted_mean" and sum(weights) <= 0:
            raise InvalidInput("the weights add up to 0", field="params.weights")
        names = [p.name for p in parts]
        if len(set(names)) != len(names):
            raise InvalidInput(
                f"composite parts need distinct names, got {names}", field="params.scorers"
            )
        self.name = name
        self.parts = list(parts)
        self.mode = mode
        self.weights = [float(w) for w in weights]
        self.include_parts = include_parts

    async def score(self, sample: Sample) -> ScoreOutput:
        results = await asyncio.gather(*(run_scorer(p, sample) for p in self.parts))
        firsts = [
            r[0] if r else make_score(p.name, None)
            for p, r in zip(self.parts, results, strict=True)
        ]
        combined = self._combine(firsts)
        if not self.include_parts:
            return combined
        return [combined, *(s for r in results for s in r)]

    def _combine(self, parts: list[ScoreCreate]) -> ScoreCreate:
        failed = [p for p in parts if p.value is None]
        if failed:
            why = "; ".join(f"{p.name}: {p.reason or 'no value'}" for p in failed)
            return make_score(self.name, None, reason=f"part(s) could not score: {why}")
        if self.mode == "weighted_mean":
            values = [p.numeric_value for p in parts]
            bad = [p.name for p, v in zip(parts, values, strict=True) if v is None]
            if bad:
                return make_score(self.name, None, reason=f"part(s) not numeric: {', '.join(bad)}")
            total = sum(w * (v or 0.0) for w, v in zip(self.weights, values, strict=True))
            value = total / sum(self.weights)
            return make_score(
                self.name,
                round(value, 6),
                data_type=ScoreDataType.numeric,
                metadata={"parts": {p.name: v for p, v in zip(parts, values, strict=True)}},
            )
        verdicts = {p.name: p.passed for p in parts}
        undecided = [n for n, v in verdicts.items() if v is None]
        if undecided:
            return make_score(
                self.name,
                None,
                reason=f"part(s) without pass/fail (give them a threshold): {', '.join(undecided)}",
            )
        passed = all(verdicts.values()) if self.mode == "all" else any(verdicts.values())
        failing = [n for n, v in verdicts.items() if not v]
        return make_score(
            self.name,
            passed,
            passed=passed,
            reason=None if passed else f"failed: {', '.join(failing)}",
            metadata={"parts": verdicts},
        )
