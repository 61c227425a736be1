"""The last step of ``assay demo``: two versions of a small support bot, compared and gated."""

from __future__ import annotations

from typing import Any

import assay
from assay.analysis import compare_experiments, gate_experiment
from assay.cli.compare import print_comparison, print_verdict
from assay.cli.context import console
from assay.scorers import exact_match, similarity
from assay.store import Store


def _bot(store: Store, dataset: str, knows: set[str]) -> Any:
    """A canned-answer bot that knows the answers of items with one of the ``knows`` tags."""
    answers = {
        str(item.input.get("question")): str(item.expected_output)
        for item in store.datasets.iter_items(dataset)
        if isinstance(item.input, dict) and knows & set(item.tags)
    }

    def answer(question: dict[str, str]) -> str:
        return answers.get(question["question"], "Please contact our support team.")

    return answer


def compare_step(store: Store, dataset: str) -> None:
    runs = []
    for name, knows in (("bot-v1", {"easy"}), ("bot-v2", {"easy", "medium"})):
        result = assay.evaluate(  # the package attribute: importing the submodule would shadow it
            dataset,
            _bot(store, dataset, knows),
            [exact_match(), similarity()],
            name=name,
            store=store,
        )
        console.print(
            f"{name}: {result.summary.total} items, pass rate {result.pass_rate or 0:.0%}",
            highlight=False,
        )
        runs.append(result.id)
    print_comparison(compare_experiments(store, runs, only="changed", limit=5))
    print_verdict(gate_experiment(store, runs[1], baseline=runs[0]), scorers=False)
