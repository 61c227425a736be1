"""Renderers for CI: JUnit XML (one test case per item) and a Markdown summary for a PR comment."""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO

from assay.domain import PASS_METRIC, Comparison, GateVerdict, ItemOutcome, MetricComparison
from assay.formatting import plural

#: Characters XML 1.0 cannot carry even escaped (control characters other than tab/newline/CR).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
NA = "n/a"
#: Regressions listed by name in the Markdown summary; the rest are counted.
MAX_LISTED = 20


def _xml_text(value: object) -> str:
    return _INVALID_XML.sub("\ufffd", str(value))


def _attr(value: object) -> str:
    """An attribute value as ElementTree writes it (quoted with ``"``)."""
    text = _xml_text(value)
    if any(c in text for c in '&<>"\r\n\t'):
        text = (
            text.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&quot;")
            .replace("\r", "&#13;")
            .replace("\n", "&#10;")
            .replace("\t", "&#09;")
        )
    return text


def _text(value: object) -> str:
    """Character data as ElementTree writes it."""
    text = _xml_text(value)
    if any(c in text for c in "&<>"):
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _tag(name: str, attrs: Sequence[tuple[str, object]], *, empty: bool = False) -> str:
    shown = "".join(f' {key}="{_attr(value)}"' for key, value in attrs)
    return f"<{name}{shown}{' /' if empty else ''}>"


def render_junit(verdict: GateVerdict, *, suite: str = "assay") -> str:
    """JUnit XML: a ``gate`` suite with one case per check, and one suite for the run with
    one case per item (its trials summed up): a failure when a trial did not pass, an error
    when the target failed, skipped when no trial finished. :func:`write_junit` writes the
    same report to a file as it goes, for runs too large to hold it in memory."""
    out = io.StringIO()
    write_junit(verdict, out, suite=suite)
    return out.getvalue()


def write_junit(verdict: GateVerdict, out: IO[str], *, suite: str = "assay") -> None:
    """Write :func:`render_junit`'s report to ``out`` an item at a time.

    The run suite's counts head it, so its test cases go to a temporary file first (in
    memory up to a few megabytes) while they are counted, then are copied after it."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL, mode="w+", encoding="utf-8") as cases:
        tests, counts, total_time = _run_cases(verdict, cases, f"{suite}.{verdict.run_name}")
        gate_failures = sum(1 for c in verdict.checks if not c.passed)
        out.write("<?xml version='1.0' encoding='utf-8'?>\n")
        root = [
            ("name", suite),
            ("tests", len(verdict.checks) + tests),
            ("failures", gate_failures + counts["failures"]),
            ("errors", counts["errors"]),
        ]
        out.write(_tag("testsuites", root) + "\n  ")
        gate = [
            ("name", f"{suite}.gate"),
            ("tests", len(verdict.checks)),
            ("failures", gate_failures),
            ("errors", 0),
        ]
        out.write(_tag("testsuite", gate, empty=not verdict.checks))
        if verdict.checks:
            classname = f"{suite}.gate"
            for check in verdict.checks:
                out.write("\n    ")
                head = [("classname", classname), ("name", check.name)]
                if check.passed:
                    out.write(_tag("testcase", head, empty=True))
                    continue
                failure = _tag("failure", [("message", check.message), ("type", "policy")])
                out.write(f"{_tag('testcase', head)}{failure}{_text(check.message)}</failure>")
                out.write("</testcase>")
            out.write("\n  </testsuite>")
        out.write("\n  ")
        run = [
            ("name", f"{suite}.{verdict.run_name}"),
            ("tests", tests),
            *counts.items(),
            ("time", f"{total_time:.3f}"),
        ]
        out.write(_tag("testsuite", run, empty=not tests))
        if tests:
            cases.seek(0)
            shutil.copyfileobj(cases, out)
            out.write("\n  </testsuite>")
        out.write("\n</testsuites>\n")


#: Bytes of test cases held in memory before they spill to a temporary file.
_SPOOL = 8 << 20
_KIND = {"failure": "failures", "error": "errors", "skipped": "skipped"}


def _run_cases(
    verdict: GateVerdict, out: IO[str], classname: str
) -> tuple[int, dict[str, int], float]:
    """Write the run suite's test cases (each on its own line); return how many, the counts of
    failures, errors and skipped, and the total time."""
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    tests = 0
    batch: list[str] = []
    for outcomes in verdict.iter_trials():
        tests += 1
        head: list[tuple[str, object]] = [("classname", classname), ("name", outcomes[0].item_id)]
        latencies = [o.latency_ms for o in outcomes if o.latency_ms is not None]
        if latencies:
            head.append(("time", f"{sum(latencies) / 1000:.3f}"))
            total_time += sum(latencies) / 1000
        outcome = _case_outcome(outcomes)
        if outcome is None:
            batch.append("\n    " + _tag("testcase", head, empty=True))
        else:
            kind, kind_type, message = outcome
            counts[_KIND[kind]] += 1
            if kind == "skipped":
                element = _tag(kind, [("message", message)], empty=True)
            else:
                element = _tag(kind, [("message", message), ("type", kind_type)])
                element += f"{_text(message)}</{kind}>"
            batch.append(f"\n    {_tag('testcase', head)}{element}</testcase>")
        if len(batch) >= 1000:
            out.write("".join(batch))
            batch.clear()
    out.write("".join(batch))
    return tests, counts, total_time


def _of(count: int, total: int, what: str) -> str:
    return "" if total == 1 else f" ({count} of {total} trials {what})"


def _case_outcome(trials: list[ItemOutcome]) -> tuple[str, str, str] | None:
    """One item's test case from its trials: ``(element, type, message)``, None when it
    passed. A completed trial that did not pass makes a failure (a regression when one of
    them passed in the baseline); else a target error makes an error; else an item with no
    finished trial is skipped."""
    n = len(trials)
    failing = [t for t in trials if t.status == "completed" and not t.passed]
    if failing:
        scores = list(dict.fromkeys(s for t in failing for s in t.failing_scores))
        detail = "failing scores: " + ", ".join(scores) if scores else "did not pass"
        detail += _of(len(failing), n, "did not pass")
        regressed = sum(t.regressed for t in failing)
        if regressed:
            detail += (
                " (passed in the baseline)"
                if n == 1
                else f"; {regressed} of {n} trials regressed (passed in the baseline)"
            )
        return "failure", "regression" if regressed else "failed", detail
    errors = [t for t in trials if t.status == "failed"]
    if errors:
        message = (errors[0].error or "target failed") + _of(len(errors), n, "failed")
        return "error", "target_error", message
    if all(t.status != "completed" for t in trials):
        return "skipped", "", f"result is {trials[0].status}"
    return None


def _cell(text: object) -> str:
    """Markdown table cell: pipes and newlines would break the row."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _value(metric: MetricComparison | None, mean: float | None, kind: str | None = None) -> str:
    if mean is None:
        return NA
    if (metric is not None and metric.kind == "pass_fail") or kind == "pass_fail":
        return f"{100 * mean:.1f}%"
    return f"{mean:.4g}"


def _delta(metric: MetricComparison, x: float | None) -> str:
    if x is None:
        return NA
    return f"{100 * x:+.1f} pp" if metric.kind == "pass_fail" else f"{x:+.4g}"


_ICON = {"better": "🟢 better", "worse": "🔴 worse", "inconclusive": "⚪ inconclusive"}


def comparison_table(comparison: Comparison, run_id: str | None = None) -> str:
    """Markdown table of every metric: baseline and run means, difference, CI, p, verdict."""
    names = {r.run_id: r.name for r in comparison.runs}
    run_id = run_id or comparison.runs[1].run_id
    base = comparison.baseline_id
    lines = [
        f"| Scorer | {_cell(names[base])} (baseline) | {_cell(names[run_id])} | Δ "
        f"| {round(100 * _confidence(comparison))}% CI | {_p_header(comparison)} | Verdict |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for m in comparison.metrics:
        c = m.contrast(run_id)
        if c is None:
            continue
        ci = NA if c.ci_low is None else f"{_delta(m, c.ci_low)} … {_delta(m, c.ci_high)}"
        shown = c.p_adjusted if comparison.p_adjust != "none" else c.p_value
        p = NA if shown is None else f"{shown:.3g}"
        label = "pass rate" if m.name == PASS_METRIC else m.name
        lines.append(
            f"| {_cell(label)} | {_value(m, m.means.get(base))} | {_value(m, m.means.get(run_id))}"
            f" | {_delta(m, c.difference)} | {ci} | {p} | {_ICON[c.verdict.value]} |"
        )
    margins = margin_table(comparison, run_id)
    return "\n".join(lines) + (f"\n\n{margins}" if margins else "")


_P_HEADER = {"holm": "p (Holm-adjusted)", "bh": "p (BH-adjusted)", "none": "p"}
_SHOWN = {
    "non_inferior": "✅ non-inferior",
    "equivalent": "✅ equivalent",
    "not_shown": "not shown",
}


def _p_header(comparison: Comparison) -> str:
    return _P_HEADER[comparison.p_adjust]


def margin_table(comparison: Comparison, run_id: str) -> str:
    """Markdown table of the non-inferiority and equivalence tests, when a margin was given."""
    rows = []
    for m in comparison.metrics:
        c = m.contrast(run_id)
        t = None if c is None else c.margin
        if t is None:
            continue
        ci = NA if t.ci_low is None else f"{_delta(m, t.ci_low)} … {_delta(m, t.ci_high)}"
        label = "pass rate" if m.name == PASS_METRIC else m.name
        rows.append(
            f"| {_cell(label)} | ±{_delta(m, t.margin).lstrip('+')} | {ci} "
            f"| {_SHOWN[t.non_inferiority.value]} | {_SHOWN[t.equivalence.value]} |"
        )
    if not rows:
        return ""
    confidence = next(
        (c.margin.confidence for m in comparison.metrics for c in m.contrasts if c.margin), 0.9
    )
    head = [
        f"| Scorer | Margin | {round(100 * confidence)}% CI | Non-inferiority | Equivalence |",
        "|---|---:|---|---|---|",
    ]
    return "\n".join(head + rows)


def _confidence(comparison: Comparison) -> float:
    for m in comparison.metrics:
        for c in m.contrasts:
            return c.confidence
    return 0.95


def render_comparison_markdown(comparison: Comparison) -> str:
    """Markdown for ``assay compare``: one table per run against the baseline, and warnings."""
    names = {r.run_id: r.name for r in comparison.runs}
    parts: list[str] = []
    for run in comparison.runs[1:]:
        parts.append(f"### {_cell(run.name)} vs {_cell(names[comparison.baseline_id])}\n")
        parts.append(comparison_table(comparison, run.run_id))
        parts.append(
            f"\n{plural(comparison.regressions.get(run.run_id, 0), 'regression')} (pass → fail), "
            f"{plural(comparison.improvements.get(run.run_id, 0), 'improvement')} "
            "(fail → pass).\n"
        )
    if comparison.flaky_items:
        parts.append(
            f"**Flaky items** ({len(comparison.flaky_items)}): " + _listed(comparison.flaky_items)
        )
    if comparison.warnings:
        parts.append("**Warnings**\n" + "\n".join(f"- {w.message}" for w in comparison.warnings))
    return "\n".join(parts).rstrip() + "\n"


def _listed(
    ids: list[str], detail: Mapping[str, str] | None = None, total: int | None = None
) -> str:
    """Ids in code spans (the first :data:`MAX_LISTED`), each followed by its ``detail`` when
    it has one, then how many more of ``total`` (default: of ``ids``) there are."""
    detail = detail or {}
    listed = ids[:MAX_LISTED]
    shown = ", ".join(
        f"`{_cell(i)}`" + (f" ({_cell(detail[i])})" if i in detail else "") for i in listed
    )
    more = (len(ids) if total is None else total) - len(listed)
    return shown + (f" and {more} more" if more > 0 else "")


def cost_line(verdict: GateVerdict) -> str | None:
    """What the candidate cost, target and judge calls apart (None: no cost recorded)."""
    if verdict.target_cost is None and verdict.judge_cost is None:
        return None
    target = NA if verdict.target_cost is None else f"${verdict.target_cost:.4f}"
    judge = "$0" if verdict.judge_cost is None else f"${verdict.judge_cost:.4f}"
    return f"Cost: {target} target calls, {judge} judge calls."


def render_markdown(verdict: GateVerdict) -> str:
    """A pull-request comment: the verdict, why, the scorer table and the regressed items."""
    head = "✅ Gate passed" if verdict.passed else "❌ Gate failed"
    against = f" vs baseline **{_cell(verdict.baseline_name)}**" if verdict.baseline_name else ""
    lines = [f"## {head}: **{_cell(verdict.run_name)}**{against}", ""]
    if verdict.reasons:
        lines += ["**Why it failed**", *[f"- {_cell(r)}" for r in verdict.reasons], ""]
    if verdict.comparison is not None:
        lines += [comparison_table(verdict.comparison), ""]
    else:
        lines += ["| Scorer | Mean |", "|---|---:|"]
        for name, mean in verdict.means.items():
            label = "pass rate" if name == PASS_METRIC else name
            kind = "pass_fail" if name == PASS_METRIC else None
            lines.append(f"| {_cell(label)} | {_value(None, mean, kind)} |")
        lines.append("")
    lines += ["| Check | Result | Detail |", "|---|---|---|"]
    lines += [
        f"| {_cell(c.name)} | {'pass' if c.passed else '**fail**'} | {_cell(c.message)} |"
        for c in verdict.checks
    ]
    cost = cost_line(verdict)
    if cost:
        lines += ["", cost]
    shown = verdict.first_regressions(MAX_LISTED)
    regressed = [i.item_id for i in shown]
    detail = {i.item_id: i.detail for i in shown if i.detail}
    failing, results = verdict.items_failing, plural(verdict.items_total, "result")
    lines += ["", f"{failing} of {results} did not pass."]
    if verdict.regressions_total:
        lines += [
            "",
            f"**Regressions** ({verdict.regressions_total}, passed in the baseline): "
            + _listed(regressed, detail, verdict.regressions_total),
        ]
    if verdict.comparison is not None and verdict.comparison.warnings:
        lines += [
            "",
            "**Warnings**",
            *[f"- {_cell(w.message)}" for w in verdict.comparison.warnings],
        ]
    return "\n".join(lines) + "\n"
