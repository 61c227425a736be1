"""Online evaluation: rules checked and saved, and the evaluator workers run over traces.

Rules are refused with the field at fault before anything is written: a rate outside 0..1,
a glob whose brackets do not close, an unknown evaluator or version, an evaluator that does
not build, a mapping path that cannot be read, the same evaluator twice.

:class:`OnlineEvaluator` is what ``assay serve`` and ``assay worker`` run beside the
experiment queue: it takes traces that settled (``store/online_queue.py``), scores each with
every enabled rule of its project that matches and samples it, and stores the scores on the
trace, each (rule, evaluator, trace) once. A scorer that fails gives a score without a value
whose reason says why; it never stops the worker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from assay.config import Settings
from assay.domain import Evaluator, ScoreCreate, TraceDetail
from assay.domain.online import (
    OnlineEvaluatorRef,
    OnlineRule,
    OnlineRuleCreate,
    OnlineRuleUpdate,
    OnlineRunReport,
)
from assay.errors import AssayError, InvalidInput, NotFound
from assay.outbound import enforced, server_policy
from assay.scoring import Scorer, build, run_scorer
from assay.service.online_match import (
    check_glob,
    matches,
    rule_mapping,
    sampled,
    trace_sample,
)
from assay.service.polling import poll
from assay.store import Database, Store
from assay.store.online_queue import Evaluated, OnlineQueue, PendingTrace, TraceOutcome
from assay.store.planning import worker_id

log = logging.getLogger("assay.online")


# ---------------------------------------------------------------------- rules
def check_rule(store: Store, data: OnlineRuleCreate) -> OnlineRuleCreate:
    """``data`` checked; evaluators named by id come back named by name, pinned to that id's
    version (what a rule records)."""
    rate = data.sample_rate
    if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
        raise InvalidInput(
            f"sample_rate must be between 0 and 1, got {rate!r}", field="sample_rate"
        )
    if data.filter.name is not None:
        if not data.filter.name.strip():
            raise InvalidInput("filter.name must not be blank", field="filter.name")
        check_glob(data.filter.name)
    if not data.evaluators:
        raise InvalidInput("give at least one evaluator", field="evaluators")
    refs: list[OnlineEvaluatorRef] = []
    seen: set[str] = set()
    for i, ref in enumerate(data.evaluators):
        where = f"evaluators[{i}]"
        try:
            saved = store.evaluators.get(ref.evaluator, version=ref.version)
        except NotFound:
            what = f"evaluator {ref.evaluator!r}"
            if ref.version is not None:
                what += f" version {ref.version}"
            raise InvalidInput(f"{where}: {what} not found", field=f"{where}.evaluator") from None
        try:
            build(saved)
        except InvalidInput as exc:
            raise InvalidInput(
                f"{where}: evaluator {saved.name!r} v{saved.version} does not build: {exc.message}",
                field=f"{where}.evaluator",
            ) from None
        if saved.name in seen:
            raise InvalidInput(
                f"{where}: evaluator {saved.name!r} is listed twice", field=f"{where}.evaluator"
            )
        seen.add(saved.name)
        rule_mapping(ref.mapping, field=f"{where}.mapping")
        version = saved.version if ref.version is not None or saved.id == ref.evaluator else None
        refs.append(ref.model_copy(update={"evaluator": saved.name, "version": version}))
    return data.model_copy(update={"evaluators": refs})


def create_rule(store: Store, data: OnlineRuleCreate) -> OnlineRule:
    return store.online_rules.create(check_rule(store, data))


def update_rule(store: Store, ref: str, changes: OnlineRuleUpdate) -> OnlineRule:
    """Change some fields; the rule as it would become is checked whole first."""
    current = store.online_rules.get(ref)
    merged = OnlineRuleCreate.model_validate(
        {
            **current.model_dump(include=set(OnlineRuleCreate.model_fields)),
            **changes.model_dump(exclude_unset=True),
        }
    )
    checked = check_rule(store, merged)
    given = changes.model_fields_set
    values = {k: getattr(checked, k) for k in given}
    return store.online_rules.update(current.id, OnlineRuleUpdate.model_validate(values))


# ---------------------------------------------------------------------- evaluation
@dataclass
class _Pass:
    """What one pass reads once: each project's enabled rules and built evaluators."""

    rules: dict[str, list[OnlineRule]] = field(default_factory=dict)
    scorers: dict[tuple[str, str, int | None], tuple[Evaluator, Scorer] | AssayError] = field(
        default_factory=dict
    )
    matched: int = 0
    scores: int = 0
    errors: int = 0
    skipped: int = 0

    def report(self, traces: int) -> OnlineRunReport:
        return OnlineRunReport(
            traces=traces,
            matched=self.matched,
            scores=self.scores,
            errors=self.errors,
            skipped=self.skipped,
        )


class OnlineEvaluator:
    """Scores settled traces with their project's online rules, batch after batch."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        worker: str | None = None,
        project_ids: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.queue = OnlineQueue(db)
        self.me = worker or worker_id()
        self.project_ids = project_ids
        self.scored = 0

    async def run_once(self, *, limit: int = 100) -> OnlineRunReport:
        """Take up to ``limit`` settled traces and score them; returns what was done.

        Judges and other outbound calls go through the server's outbound guard."""
        with enforced(server_policy(self.settings)):
            return await self._run_once(limit)

    async def _run_once(self, limit: int) -> OnlineRunReport:
        """One batch: claimed at once, its traces and ledger read with one read per project,
        scored concurrently, and every score, ledger row and release written in one
        transaction."""
        claimed = await asyncio.to_thread(
            self.queue.claim,
            self.me,
            settle_s=self.settings.online_settle_s,
            lease_s=self.settings.online_lease_s,
            limit=limit,
            project_ids=self.project_ids,
        )
        state = _Pass()
        if not claimed:
            return state.report(0)
        try:
            outcomes = await self._batch(state, claimed)
            stored, skipped = await asyncio.to_thread(self.queue.store_batch, self.me, outcomes)
        except BaseException:
            log.exception("online evaluation of %d traces failed", len(claimed))
            for pending in claimed:  # free for the next look (the ledger keeps it once)
                await asyncio.to_thread(self.queue.release, self.me, pending)
            raise
        state.scores += stored
        state.skipped += skipped
        self.scored += state.scores
        return state.report(len(claimed))

    async def _batch(self, state: _Pass, claimed: Sequence[PendingTrace]) -> list[TraceOutcome]:
        """What each claimed trace's rules give it (traces without a match give nothing)."""
        by_project: dict[str, list[PendingTrace]] = {}
        for pending in claimed:
            by_project.setdefault(pending.project_id, []).append(pending)
        gate = asyncio.Semaphore(self.settings.online_concurrency)
        outcomes: list[TraceOutcome] = []
        work: list[Awaitable[None]] = []
        for project_id, pendings in by_project.items():
            store = Store(self.db, project_id)
            rules = await asyncio.to_thread(store.online_rules.list, enabled=True)
            state.rules[project_id] = rules
            ids = [p.trace_id for p in pendings]
            found: dict[str, TraceDetail] = {}
            done: dict[str, set[tuple[str, str]]] = {}
            if rules:
                found = await asyncio.to_thread(store.traces.get_many, ids)
                done = await asyncio.to_thread(self.queue.evaluated_many, project_id, ids)
            for pending in pendings:
                outcome = TraceOutcome(pending, [])
                outcomes.append(outcome)
                trace = found.get(pending.trace_id)
                if trace is not None:  # else deleted since it was ingested
                    work.append(
                        self._trace(state, store, rules, trace, done[trace.id], outcome, gate)
                    )
        await asyncio.gather(*work)
        return outcomes

    async def run_forever(self, stopping: threading.Event, *, until_idle: bool = False) -> None:
        """Score batches until ``stopping`` is set (or, ``until_idle``, none is ready)."""

        async def step() -> bool:
            return bool((await self.run_once()).traces)

        await poll(
            step,
            stopping,
            self.settings.worker_poll_interval,
            until_idle=until_idle,
            failure="online evaluation pass failed",
        )

    async def _trace(
        self,
        state: _Pass,
        store: Store,
        rules: list[OnlineRule],
        trace: TraceDetail,
        done: set[tuple[str, str]],
        outcome: TraceOutcome,
        gate: asyncio.Semaphore,
    ) -> None:
        """Score one trace with the rules that match and sample it, into ``outcome``."""
        async with gate:
            for rule in rules:
                if not matches(rule.filter, trace) or not sampled(trace.id, rule.sample_rate):
                    continue
                state.matched += 1
                for ref in rule.evaluators:
                    if (rule.id, ref.evaluator) in done:
                        state.skipped += 1
                        continue
                    try:
                        scores = await self._score(state, store, ref, trace)
                    except Exception:  # one broken trace must not stop the others
                        log.exception("online evaluation of trace %s failed", trace.id)
                        outcome.done.clear()  # kept claimed: looked at again when the lease ends
                        outcome.retry = True
                        return
                    outcome.done.append(Evaluated(rule.id, ref.evaluator, scores))
        state.errors += sum(
            1 for r in outcome.done for s in r.scores if (s.reason or "").startswith("scorer error")
        )

    async def _score(
        self, state: _Pass, store: Store, ref: OnlineEvaluatorRef, trace: TraceDetail
    ) -> list[ScoreCreate]:
        key = (store.project_id, ref.evaluator, ref.version)
        built = state.scorers.get(key)
        if built is None:
            built = await asyncio.to_thread(_built, store, ref)
            state.scorers[key] = built
        if isinstance(built, AssayError):
            return [_failed(ref.evaluator, built.message)]
        saved, scorer = built
        try:
            sample = trace_sample(trace, rule_mapping(ref.mapping))
            scores = await run_scorer(scorer, sample)
        except AssayError as exc:
            scores = [_failed(scorer.name, exc.message)]
        for score in scores:  # failures too: which evaluator version could not score
            if score.evaluator_id is None:
                score.evaluator_id, score.evaluator_version = saved.id, saved.version
        return scores


def _built(store: Store, ref: OnlineEvaluatorRef) -> tuple[Evaluator, Scorer] | AssayError:
    """The scorer of a rule's evaluator, or why there is none (deleted, no longer builds)."""
    try:
        saved = store.evaluators.get(ref.evaluator, version=ref.version)
        return saved, build(saved)
    except AssayError as exc:
        return exc


def _failed(name: str, why: str) -> ScoreCreate:
    return ScoreCreate(name=name, value=None, reason=f"scorer error: {why}")
