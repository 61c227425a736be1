"""``assay.evaluate(..., server=...)`` sends each uploaded result's trace with it: the run item
on a real ``assay serve`` names the trace, which holds the steps recorded inside the target
(``assay.span`` and OpenTelemetry spans) as they were nested."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace

import assay
from assay.client import Assay
from assay.config import Settings
from tests.e2e.test_serve import env  # noqa: F401  (a fixture)
from tests.e2e.test_serve_evaluate import all_results, client, fake, local, seed, server  # noqa: F401
from tests.integration.otel_support import user_provider

pytestmark = pytest.mark.e2e


def test_uploaded_results_carry_their_traces(
    server: str,  # noqa: F811
    client: Assay,  # noqa: F811
    local: Settings,  # noqa: F811
) -> None:
    seed(client, "traced-qa", 3)
    with user_provider() as (_, exporter):
        tracer = trace.get_tracer("agent")

        def agent(x: dict[str, Any]) -> str:
            with tracer.start_as_current_span("agent"):
                with assay.span("lookup", type="tool", input=x["q"]) as step:
                    step.update(output=["doc"])
                with tracer.start_as_current_span("chat gpt-4o") as llm:
                    llm.set_attribute("gen_ai.operation.name", "chat")
                    llm.set_attribute("gen_ai.request.model", "gpt-4o")
                    llm.set_attribute("gen_ai.usage.input_tokens", 1000)
                    llm.set_attribute("gen_ai.usage.output_tokens", 100)
            return str(x["q"]).upper()

        result = assay.evaluate("traced-qa", agent, [], server=server, settings=local)
        assert len(exporter.get_finished_spans()) == 2 * 4

    assert result.upload is not None
    assert result.upload.done
    rows = all_results(client, result.id)
    assert len(rows) == 4
    local_rows = {r.id: r for r in result.rows}
    for row in rows:
        assert row.trace_id == row.id  # the uploaded item names its result's trace
        stored = client.traces.get(row.trace_id)
        steps = {o.name: o for o in stored.observations}
        assert set(steps) == {"target", "agent", "lookup", "chat gpt-4o"}
        assert steps["agent"].parent_id == steps["target"].id
        assert steps["lookup"].parent_id == steps["agent"].id
        assert (steps["lookup"].input, steps["lookup"].output) == (row.input["q"], ["doc"])
        generation = steps["chat gpt-4o"]
        assert (generation.type.value, generation.model, generation.tokens_in) == (
            "generation",
            "gpt-4o",
            1000,
        )
        assert generation.cost == pytest.approx(local_rows[row.id].cost)
        assert row.cost == pytest.approx(local_rows[row.id].cost)
        assert stored.output == row.output
