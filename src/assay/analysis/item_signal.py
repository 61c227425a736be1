"""Which items of a dataset carry the signal, and a smaller subset that keeps the verdicts.

From the dataset's last finished runs, one per distinct configuration (runs sharing a config
hash or a run tag are one configuration, as in dataset health):

- an item is *never discriminating* when it was scored by two or more of those runs and had
  the same outcome in all of them (always passes, always fails);
- an item is a *near-duplicate* when its input is as similar as ``threshold`` to an earlier
  item's (:mod:`assay.analysis.similar`: the bundled embedding model when the ``embeddings``
  extra is installed, else token-set Jaccard);
- the *subset* is found greedily: drop the never-discriminating and duplicate items, then the
  items that changed least between runs, in blocks that grow after a success and halve after a
  failure, as long as the verdict (better / worse / inconclusive) of every consecutive pair of
  runs stays what it is on all items. The search uses the paired tests of a comparison (exact
  McNemar or a permutation test, with a bootstrap interval); the subset found is then checked
  with :func:`~assay.analysis.compare.compare_runs` itself, and the agreement reported is that
  check's. Items no run has scored are kept: nothing is known about them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from assay.analysis.compare import compare_runs
from assay.analysis.frame import RowTexts, RunFrame
from assay.analysis.item_keys import decode, encode
from assay.analysis.run_plan import history, item_means
from assay.analysis.service import frame_of
from assay.analysis.similar import Method, duplicates
from assay.analysis.stats import bootstrap_ci, mcnemar_exact, permutation_test, verdict
from assay.domain import PASS_METRIC, ItemSignal, ItemsSignal, PairVerdict, Verdict
from assay.errors import InvalidInput
from assay.scoring.values import as_text
from assay.store import Store
from assay.store.analytics import configurations

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
THRESHOLDS: dict[Method, float] = {"embeddings": 0.95, "token_jaccard": 0.9}
_CHECKS = 400  # verdict checks the greedy search may spend


def _method(method: str) -> Method:
    from assay.scoring.embeddings import embeddings_available

    if method == "auto":
        return "embeddings" if embeddings_available() else "token_jaccard"
    if method in ("embeddings", "token_jaccard"):
        if method == "embeddings" and not embeddings_available():
            raise InvalidInput(
                "method embeddings needs the embeddings extra: pip install 'assay[embeddings]'",
                field="method",
            )
        return method  # type: ignore[return-value]
    raise InvalidInput(
        f"method must be auto, embeddings or token_jaccard, not {method!r}", field="method"
    )


def _stable(item_id: str) -> bytes:
    return hashlib.blake2b(item_id.encode(), digest_size=8).digest()


class _Pairs:
    """The per-item means of consecutive runs (oldest first) and their verdicts on a mask."""

    def __init__(self, matrix: FloatArray, alpha: float, direction: str) -> None:
        self.m = matrix
        self.alpha = alpha
        self.direction = direction
        self.binary = bool(np.all(np.isnan(matrix) | (matrix == 0) | (matrix == 1)))

    def verdicts(self, mask: BoolArray) -> list[Verdict]:
        return [self.verdict(k, mask) for k in range(self.m.shape[1] - 1)]

    def verdict(self, k: int, mask: BoolArray) -> Verdict:
        a, b = self.m[:, k], self.m[:, k + 1]
        keep = mask & ~np.isnan(a) & ~np.isnan(b)
        a, b = a[keep], b[keep]
        if a.size == 0:
            return Verdict.inconclusive
        d = b - a
        test = mcnemar_exact(a, b) if self.binary else permutation_test(d, seed=0)
        ci = bootstrap_ci(d, confidence=1 - self.alpha, seed=0)
        return verdict(ci, test, direction=self.direction, alpha=self.alpha)  # type: ignore[arg-type]


def _shrink(
    alive: BoolArray,
    candidates: Sequence[int],
    ok: Callable[[BoolArray], bool],
    floor: int,
    budget: list[int],
) -> BoolArray:
    """Drop ``candidates`` from ``alive`` in blocks while ``ok(mask)`` holds."""
    i, size = 0, max(1, len(candidates))
    while i < len(candidates) and budget[0] > 0:
        room = int(alive.sum()) - floor
        if room <= 0:
            break
        block = list(candidates[i : i + min(size, room)])
        trial = alive.copy()
        trial[block] = False
        budget[0] -= 1
        if ok(trial):
            alive = trial
            i += len(block)
            size *= 2
        elif len(block) > 1:
            size = max(1, len(block) // 2)
        else:
            i += 1  # this item is needed
    return alive


def _texts(texts: Sequence[str | None], rows: npt.NDArray[np.intp]) -> Sequence[str | None]:
    """The texts of ``rows``."""
    if isinstance(texts, RowTexts):
        return texts.take(rows)
    return [texts[r] for r in rows.tolist()]


def _restrict(frame: RunFrame, keep: set[str]) -> RunFrame:
    """``frame`` with only the rows of items in ``keep``."""
    rows = np.isin(frame.item_ids, encode(sorted(keep)))
    scores = {
        name: dataclasses.replace(c, value=c.value[rows], passed=c.passed[rows])
        for name, c in frame.scores.items()
    }
    return dataclasses.replace(
        frame,
        item_ids=frame.item_ids[rows],
        repetition=frame.repetition[rows],
        status=frame.status[rows],
        passed=frame.passed[rows],
        latency_ms=frame.latency_ms[rows],
        cost=frame.cost[rows],
        judge_cost=frame.judge_cost[rows],
        scores=scores,
        outputs=None,
        errors=None if frame.errors is None else _texts(frame.errors, np.flatnonzero(rows)),
        fetch_outputs=None,
        selection=None,
    )


def _compared(frames: Sequence[RunFrame], metric: str, alpha: float) -> tuple[Verdict, int]:
    found = compare_runs(frames, items=False, alpha=alpha, p_adjust="none")
    for m in found.metrics:
        if m.name == metric:
            return m.contrasts[0].verdict, m.contrasts[0].n
    return Verdict.inconclusive, 0


def item_signal(
    store: Store,
    dataset: str,
    *,
    metric: str = PASS_METRIC,
    last: int = 20,
    method: str = "auto",
    threshold: float | None = None,
    min_items: int = 30,
    alpha: float = 0.05,
    tag: str | None = None,
) -> ItemsSignal:
    """The signal of each item of ``dataset`` over its last ``last`` finished runs, and the
    smallest subset found that keeps every consecutive pair's verdict (at least
    ``min_items`` items). With ``tag``, the subset's items are given that tag (and other items
    lose it) as one new dataset version, so runs can select them (``select: {tags: [TAG]}``)."""
    if metric == "pass_rate":
        metric = PASS_METRIC
    if last < 2:
        raise InvalidInput("last must be at least 2", field="last")
    if min_items < 1:
        raise InvalidInput("min_items must be at least 1", field="min_items")
    if not 0 < alpha < 1:
        raise InvalidInput("alpha must be between 0 and 1", field="alpha")
    chosen = _method(method)
    cut = THRESHOLDS[chosen] if threshold is None else threshold
    if not 0 < cut <= 1:
        raise InvalidInput("threshold must be in (0, 1]", field="threshold")
    found = store.datasets.get(dataset)
    runs = history(store, found.id, last)
    groups = configurations(runs)
    reps = [r for i, r in enumerate(runs) if groups[r.id] not in {groups[x.id] for x in runs[:i]}]
    items = list(store.datasets.iter_items(found.id))
    ids = [i.id for i in items]
    row = {item_id: k for k, item_id in enumerate(ids)}
    chronological = list(reversed(reps))
    frames = [frame_of(store, e, outputs=False) for e in chronological]
    direction = "higher"
    matrix = np.full((len(ids), len(frames)), np.nan)
    for col, frame in enumerate(frames):
        means = item_means(frame, metric)
        if means is None:
            continue
        for item_id, value in zip(decode(means.ids), means.means.tolist(), strict=True):
            if item_id in row:
                matrix[row[item_id], col] = value
    if metric != PASS_METRIC and not any(metric in f.scores for f in frames):
        names = sorted({s for f in frames for s in f.scores})
        raise InvalidInput(
            f"unknown metric {metric!r}; the runs have {', '.join([PASS_METRIC, *names])}",
            field="metric",
        )
    seen = ~np.isnan(matrix)
    counts = seen.sum(axis=1)
    with warnings.catch_warnings():  # items no run scored: all-NaN rows
        warnings.simplefilter("ignore", RuntimeWarning)
        high, low = np.nanmax(matrix, axis=1), np.nanmin(matrix, axis=1)
        mean = np.nanmean(matrix, axis=1)
    never = (counts >= 2) & (high == low)
    steps = seen[:, 1:] & seen[:, :-1] & (matrix[:, 1:] != matrix[:, :-1])
    changes = steps.sum(axis=1)
    dups = duplicates([as_text(i.input) for i in items], method=chosen, threshold=cut)
    dup_mask = np.zeros(len(ids), dtype=np.bool_)
    dup_mask[list(dups)] = True

    pairs = _Pairs(matrix, alpha, direction)
    everything = np.ones(len(ids), dtype=np.bool_)
    target = pairs.verdicts(everything)
    floor = min(min_items, len(ids))
    budget = [_CHECKS]

    def keeps(mask: BoolArray) -> bool:
        return int(mask.sum()) >= floor and pairs.verdicts(mask) == target

    alive = everything
    first = [int(k) for k in np.flatnonzero(never | dup_mask)]
    alive = _shrink(alive, first, keeps, floor, budget)
    rest = sorted(
        (int(k) for k in np.flatnonzero(alive & (counts > 0))),
        key=lambda k: (int(changes[k]), _stable(ids[k])),
    )
    alive = _shrink(alive, rest, keeps, floor, budget)

    subset = [ids[k] for k in np.flatnonzero(alive)]
    kept = set(subset)
    checked: list[PairVerdict] = []
    small = [_restrict(f, kept) for f in frames]
    for k in range(len(frames) - 1):
        full, n_full = _compared(frames[k : k + 2], metric, alpha)
        part, n_part = _compared(small[k : k + 2], metric, alpha)
        checked.append(
            PairVerdict(
                baseline=frames[k].run_id,
                run=frames[k + 1].run_id,
                full=full,
                subset=part,
                n_full=n_full,
                n_subset=n_part,
            )
        )
    same = sum(p.full == p.subset for p in checked)
    notes: list[str] = []
    if len(reps) < 2:
        notes.append(
            "fewer than two runs with distinct configurations: no verdict to keep, so the "
            "subset only leaves out duplicates"
        )
    if int((counts == 0).sum()):
        notes.append(f"{int((counts == 0).sum())} items no run has scored are kept")
    if budget[0] <= 0:
        notes.append("the search stopped at its budget of verdict checks: a smaller subset "
                     "may exist")  # fmt: skip
    signals = [
        ItemSignal(
            item_id=ids[k],
            runs=int(counts[k]),
            pass_rate=None if counts[k] == 0 else float(mean[k]),
            discriminating=bool(counts[k] >= 2 and not never[k]),
            changes=int(changes[k]),
            duplicate_of=ids[dups[k][0]] if k in dups else None,
            similarity=round(dups[k][1], 6) if k in dups else None,
            in_subset=bool(alive[k]),
        )
        for k in range(len(ids))
    ]
    result = ItemsSignal(
        dataset=found.id,
        dataset_version=found.version,
        metric=metric,
        runs=[r.id for r in reps],
        items_total=len(ids),
        items_seen=int((counts > 0).sum()),
        items=signals,
        never_discriminating=int(never.sum()),
        duplicates=len(dups),
        similarity_method=chosen,
        threshold=cut,
        subset=subset,
        subset_size=len(subset),
        pairs=checked,
        verdict_agreement=None if not checked else same / len(checked),
        verdicts_kept=same == len(checked),
        verdicts_checked=len(checked),
        notes=notes,
    )
    if tag is not None:
        change = store.datasets.tag_items(
            found.id, tag, subset, message=f"item signal: the {len(subset)}-item subset"
        )
        result = result.model_copy(update={"tag": tag, "dataset_version": change.version})
    return result
