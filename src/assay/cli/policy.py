"""``assay datasets policy``: show, set or clear a dataset's stored regression policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.cli.context import console, print_json, state
from assay.errors import InvalidInput


def policy_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Dataset id or name.")],
    set_file: Annotated[
        Path | None, typer.Option("--set", help="Store the policy in this YAML or JSON file.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the stored policy.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of YAML.")] = False,
) -> None:
    """Show, set (--set FILE) or clear (--clear) the regression policy gates use by default."""
    import yaml

    from assay.analysis import clear_dataset_policy, dataset_policy, set_dataset_policy

    store = state(ctx).store()
    if set_file is not None and clear:
        raise InvalidInput("give --set FILE or --clear, not both", field="set")
    if clear:
        removed = clear_dataset_policy(store, dataset)
        console.print(
            f"cleared the policy of {dataset}" if removed else f"{dataset} had no policy",
            highlight=False,
        )
        return
    if set_file is not None:
        try:
            text = set_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                f"cannot read policy file {set_file}: {exc.strerror}", field="set"
            ) from None
        set_dataset_policy(store, dataset, text)
    policy = dataset_policy(store, dataset)
    if as_json:
        print_json(policy)
        return
    if policy is None:
        console.print(f"{dataset} has no stored policy; gates use the defaults", highlight=False)
        return
    shown = policy.model_dump(mode="json", exclude_defaults=True)
    typer.echo(
        yaml.safe_dump(shown, sort_keys=False) if shown else "{}  # all defaults\n", nl=False
    )
