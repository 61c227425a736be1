"""``assay online``: rules that score production traces with saved evaluators as they arrive
(the workers of ``assay serve`` and ``assay worker`` apply them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli.context import console, print_json, state
from assay.cli.render import table

if TYPE_CHECKING:
    from assay.domain.online import OnlineRule
    from assay.store import Store

app = typer.Typer(help="Online evaluation rules for production traces.", no_args_is_help=True)

ProjectOption = Annotated[
    str | None, typer.Option("--project", help="Project name (default: ASSAY_PROJECT).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RuleArg = Annotated[str, typer.Argument(help="Rule id or name.")]


def _store(ctx: typer.Context, project: str | None) -> Store:
    from assay.store import open_store

    current = state(ctx)
    current.checked_url()
    return open_store(current.settings, project=project or current.settings.project)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    """``key=value`` options as a dict; a missing ``=`` names the option."""
    from assay.errors import InvalidInput

    found: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{option}: {value!r} is not key=value", field=option.lstrip("-"))
        found[key.strip()] = rest
    return found


def _evaluators(names: list[str], mappings: list[str]) -> list[dict[str, Any]]:
    """``--evaluator name[@version]`` and ``--map name:field=path`` as evaluator objects."""
    from assay.errors import InvalidInput

    refs: dict[str, dict[str, Any]] = {}
    for text in names:
        name, _, version = text.partition("@")
        ref: dict[str, Any] = {"evaluator": name, "mapping": {}}
        if version:
            if not version.isdigit():
                raise InvalidInput(
                    f"--evaluator: version in {text!r} must be a number", field="evaluator"
                )
            ref["version"] = int(version)
        refs[name] = ref
    for text in mappings:
        name, sep, pair = text.partition(":")
        if not sep or name not in refs:
            raise InvalidInput(
                f"--map: {text!r} must start with one of the --evaluator names and a colon, "
                "e.g. judge:output=trace.generation.output",
                field="map",
            )
        refs[name]["mapping"].update(_pairs([pair], "--map"))
    return list(refs.values())


def _show(rules: list[OnlineRule]) -> None:
    rows = []
    for r in rules:
        f = r.filter.model_dump(exclude_defaults=True)
        which = ", ".join(f"{k}={v}" for k, v in f.items()) or "every trace"
        evaluators = ", ".join(
            e.evaluator + (f"@{e.version}" if e.version else "") for e in r.evaluators
        )
        state_ = "on" if r.enabled else "off"
        rows.append((r.name, state_, which, f"{r.sample_rate:g}", evaluators, r.id))
    console.print(table(None, ["Rule", "On", "Traces", "Rate", "Evaluators", "Id"], rows))


@app.command("list")
def list_command(
    ctx: typer.Context, project: ProjectOption = None, as_json: JsonFlag = False
) -> None:
    """The project's rules by name."""
    store = _store(ctx, project)
    try:
        rules = store.online_rules.list()
    finally:
        store.close()
    if as_json:
        print_json(rules)
    else:
        _show(rules)


@app.command("show")
def show_command(
    ctx: typer.Context, rule: RuleArg, project: ProjectOption = None, as_json: JsonFlag = False
) -> None:
    """One rule."""
    store = _store(ctx, project)
    try:
        found = store.online_rules.get(rule)
    finally:
        store.close()
    if as_json:
        print_json(found)
    else:
        _show([found])


@app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name unique in the project.")],
    evaluator: Annotated[
        list[str],
        typer.Option("--evaluator", "-e", help="Saved evaluator, name[@version] (repeatable)."),
    ],
    trace_name: Annotated[
        str | None, typer.Option("--trace-name", help="Trace name, exact or glob (chat-*).")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Required tag (repeatable).")
    ] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", help="Required metadata key=value.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Some generation used this model.")
    ] = None,
    errors: Annotated[
        bool | None,
        typer.Option("--errors/--no-errors", help="Only traces with / without an error."),
    ] = None,
    sample_rate: Annotated[
        float, typer.Option("--sample-rate", help="Share of matching traces scored, 0 to 1.")
    ] = 1.0,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="evaluator:field=path, e.g. judge:output=trace.generation.output."
        ),
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Save it switched off.")] = False,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Save a rule; new traces that match it are scored by the workers."""
    from pydantic import ValidationError

    from assay.domain.online import OnlineRuleCreate
    from assay.errors import from_validation
    from assay.service.online import create_rule

    body = {
        "name": name,
        "enabled": not disabled,
        "sample_rate": sample_rate,
        "filter": {
            "name": trace_name,
            "tags": tag or [],
            "metadata": _pairs(metadata or [], "--metadata"),
            "model": model,
            "has_error": errors,
        },
        "evaluators": _evaluators(evaluator, mapping or []),
    }
    try:
        data = OnlineRuleCreate.model_validate(body)
    except ValidationError as exc:
        raise from_validation(exc) from None
    store = _store(ctx, project)
    try:
        rule = create_rule(store, data)
    finally:
        store.close()
    if as_json:
        print_json(rule)
    else:
        console.print(f"created online rule {rule.name} ({rule.id})", highlight=False)


def _switch(ctx: typer.Context, rule: str, project: str | None, on: bool) -> None:
    from assay.domain.online import OnlineRuleUpdate
    from assay.service.online import update_rule

    store = _store(ctx, project)
    try:
        changed = update_rule(store, rule, OnlineRuleUpdate(enabled=on))
    finally:
        store.close()
    console.print(f"online rule {changed.name} is {'on' if on else 'off'}", highlight=False)


@app.command("enable")
def enable_command(ctx: typer.Context, rule: RuleArg, project: ProjectOption = None) -> None:
    """Switch a rule on: traces ingested from now on are scored."""
    _switch(ctx, rule, project, True)


@app.command("disable")
def disable_command(ctx: typer.Context, rule: RuleArg, project: ProjectOption = None) -> None:
    """Switch a rule off; its scores stay."""
    _switch(ctx, rule, project, False)


@app.command("delete")
def delete_command(ctx: typer.Context, rule: RuleArg, project: ProjectOption = None) -> None:
    """Delete a rule; the scores it wrote stay on their traces."""
    store = _store(ctx, project)
    try:
        store.online_rules.delete(rule)
    finally:
        store.close()
    console.print(f"deleted online rule {rule}", highlight=False)


@app.command("scores")
def scores_command(
    ctx: typer.Context,
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule's scores.")] = None,
    hours: Annotated[float, typer.Option(min=0.01, help="How far back.")] = 24.0,
    bucket: Annotated[int, typer.Option(min=60, help="Bucket width in seconds.")] = 3600,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Online scores per time bucket: count, mean, pass rate; and the judges' cost."""
    from datetime import UTC, datetime, timedelta

    store = _store(ctx, project)
    try:
        since = datetime.now(UTC) - timedelta(hours=hours)
        found = store.online_rules.scores_over_time(since=since, bucket_s=bucket, rule_id=rule)
    finally:
        store.close()
    if as_json:
        print_json(found)
        return
    cost = {p.start: p.cost for p in found.judge_cost}
    rows = [
        (
            s.name,
            p.start.strftime("%Y-%m-%d %H:%M"),
            p.count,
            "" if p.mean is None else f"{p.mean:.3f}",
            "" if p.pass_rate is None else f"{p.pass_rate:.1%}",
            p.errors,
            f"{cost.get(p.start, 0.0):.4g}",
        )
        for s in found.series
        for p in s.points
    ]
    console.print(
        table(None, ["Score", "From", "Count", "Mean", "Pass rate", "Errors", "Cost"], rows)
    )
