"""A finished run of :func:`~assay.evaluation.evaluate` sent to an Assay server: journaled,
uploaded, then scored there with its saved evaluators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assay.config import Settings
from assay.domain import Experiment, TraceDetail
from assay.errors import NotFound
from assay.remote import connect, item_map, server_source
from assay.store import Store

if TYPE_CHECKING:
    from assay.client.journal import Outcome


def upload(
    store: Store,
    experiment: Experiment,
    settings: Settings,
    server: Any,
    *,
    evaluators: Sequence[str] | None = None,
) -> Outcome:
    """Journal the finished results (with their scores) under ``ASSAY_HOME/uploads`` and send
    them to the server (``server``: a client or a base URL, else the client configured by
    ``ASSAY_URL`` and the key variables), then have the server apply its saved
    ``evaluators`` (None: the dataset's attached ones, queued with the outputs and applied
    by the server's workers; named ones: one scoring call once every batch is stored;
    evaluators named like a local scorer are left out). What an outage leaves unsent goes
    with the next upload or ``assay.client.journal.replay``."""
    from assay.client.journal import Journal, journal_path, replay, result_record, send

    client, owns_client = connect(server)
    try:
        directory = settings.home.expanduser() / "uploads"
        replay(client, directory)  # earlier runs' leftovers first
        path = journal_path(directory, experiment.id)
        if not path.exists():
            dataset = store.datasets.get(str(experiment.dataset_id))
            source = server_source(dataset)
            header: dict[str, Any] = {
                "run_id": experiment.id,
                "name": experiment.name,
                "description": experiment.description,
                "metadata": experiment.metadata,
            }
            if source is not None:  # the server's own dataset, at the version that ran
                header |= {
                    "dataset_name": source["dataset_id"],
                    "dataset_version": source["version"],
                    "server_dataset": True,
                }
            else:
                items = [
                    {"input": i.input, "expected_output": i.expected_output}
                    for i in store.datasets.iter_items(
                        dataset.id, version=experiment.dataset_version
                    )
                ]
                header |= {"dataset_name": dataset.name, "dataset_items": items}
            local = [s.name for s in store.experiments.summary(experiment.id).scores]
            if evaluators is None:  # the attached evaluators, applied by the server's workers
                header["queue_scoring"] = True
            elif evaluators:
                header["score"] = {"evaluators": list(evaluators), "skip": local}
            to_server = item_map(store, dataset)
            finished = ("completed", "failed")
            rows = store.experiments.iter_results(experiment.id)
            records = (
                result_record(r, to_server.get(r.item_id or ""), _trace(store, r.trace_id))
                for r in rows
                if r.status in finished
            )
            Journal.create(path, header, records)
        return send(client, Journal(path))
    finally:
        if owns_client:
            client.close()


def _trace(store: Store, trace_id: str | None) -> TraceDetail | None:
    """A result's trace (sent with it), if it has one."""
    if trace_id is None:
        return None
    try:
        return store.traces.get(trace_id)
    except NotFound:
        return None


def report_upload(outcome: Outcome) -> None:
    """Say where the run is on the server (and what is still to send)."""
    if outcome.done:
        print(f"assay: view the run at {outcome.url}")
    else:
        print(
            f"assay: the run will be at {outcome.url}; the upload stopped ({outcome.error}), "
            f"{outcome.pending} results wait in the journal and go with the next upload"
        )
