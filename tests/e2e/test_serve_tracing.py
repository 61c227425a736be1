"""The tracing SDK against a real ``assay serve`` process: the dataset-runs doc's complete
example as a user runs it, and an outage the SDK rides out without losing or doubling a span."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assay.client import Assay, AsyncAssay
from tests.e2e.test_serve import _start, assay, env, free_port, start  # noqa: F401

pytestmark = pytest.mark.e2e

# The Python "Complete Example" of the dataset-runs doc; only the import and client names
# differ (``assay.client.Assay`` and the ``ASSAY_*`` key variables).
COMPLETE_EXAMPLE = """
import os
import openai
from assay.client import Assay, AsyncAssay

client = Assay(
    public_key=os.environ["ASSAY_PUBLIC_KEY"],
    secret_key=os.environ["ASSAY_SECRET_KEY"],
)
openai_client = openai.OpenAI()

# 1. Create dataset with test cases
client.datasets.create(name="trivia-set", description="Trivia QA dataset")
client.datasets.create_items(
    dataset_name="trivia-set",
    items=[
        {"input": {"q": "Capital of Japan?"}, "expectedOutput": {"a": "Tokyo"}},
        {"input": {"q": "Speed of light?"}, "expectedOutput": {"a": "299,792,458 m/s"}},
    ],
)

# 2. Create a run to track results
run = client.dataset_runs.create(
    dataset_name="trivia-set",
    name="gpt-4o-eval-run",
)

# 3. Run pipeline for each item and link traces
items = [
    {"q": "Capital of Japan?", "expected": "Tokyo"},
    {"q": "Speed of light?", "expected": "299,792,458 m/s"},
]

for item in items:
    trace = client.trace(name="trivia-answer", input=item)
    generation = trace.start_generation(
        name="answer",
        model="gpt-4o-mini",
        prompt=[{"role": "user", "content": item["q"]}],
    )
    response = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": item["q"]}],
    )
    answer = response.choices[0].message.content
    generation.update(output={"response": answer})
    generation.end()
    trace.update(output={"answer": answer})
    client.dataset_runs.create_items(
        dataset_name="trivia-set",
        dataset_run_id=run["id"],
        items=[{
            "input": {"q": item["q"]},
            "expectedOutput": {"a": item["expected"]},
        }],
    )

client.flush()
print(f"Evaluation complete. Run ID: {run['id']}")
"""

# A stand-in for the OpenAI client the example calls (no network, fixed answers).
FAKE_OPENAI = """
from types import SimpleNamespace

ANSWERS = {"Capital of Japan?": "Tokyo", "Speed of light?": "299,792,458 m/s"}


class _Completions:
    def create(self, model, messages, **options):
        content = ANSWERS.get(messages[-1]["content"], "I do not know")
        message = SimpleNamespace(role="assistant", content=content)
        return SimpleNamespace(model=model, choices=[SimpleNamespace(message=message)])


class OpenAI:
    def __init__(self, **options):
        self.chat = SimpleNamespace(completions=_Completions())
"""


def test_the_complete_example_links_its_traces_to_the_run(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    created = assay(env, "keys", "create", "--project", "trivia", "--name", "sdk", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    proc, base = start({**env, "ASSAY_AUTH": "keys"})
    try:
        stub = tmp_path / "stub"
        (stub / "openai").mkdir(parents=True)
        (stub / "openai" / "__init__.py").write_text(FAKE_OPENAI)
        script = tmp_path / "example.py"
        script.write_text(COMPLETE_EXAMPLE)
        path = os.pathsep.join(p for p in (str(stub), env.get("PYTHONPATH", "")) if p)
        user_env = {
            **env,
            "PYTHONPATH": path,
            "ASSAY_URL": base,
            "ASSAY_PUBLIC_KEY": key["public_key"],
            "ASSAY_SECRET_KEY": key["secret_key"],
        }
        done = subprocess.run(
            [sys.executable, str(script)],
            env=user_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        found = re.search(r"Evaluation complete\. Run ID: (\S+)", done.stdout)
        assert found is not None, done.stdout
        run_id = found.group(1)

        client = Assay(base_url=base, public_key=key["public_key"], secret_key=key["secret_key"])
        traces = client.traces.list(search="trivia-answer").items
        assert len(traces) == 2
        details = {t.id: client.traces.get(t.id) for t in traces}
        by_question = {d.input["q"]: d for d in details.values()}  # type: ignore[index]
        assert by_question["Capital of Japan?"].output == {"answer": "Tokyo"}
        for detail in details.values():
            (generation,) = detail.observations
            assert (generation.type.value, generation.name) == ("generation", "answer")
            assert generation.model == "gpt-4o-mini"
            assert generation.input == [{"role": "user", "content": detail.input["q"]}]  # type: ignore[index]
            assert generation.output == {"response": detail.output["answer"]}  # type: ignore[index]
            assert generation.end_time is not None

        results = client.experiments.results(run_id).results
        assert len(results) == 2
        for result in results:
            linked = details[result.trace_id or ""]
            assert linked.input["q"] == result.input["q"]  # type: ignore[index]

        # The explicit form of the "Add Run Items" section: traceId and observationId.
        trace = client.trace(name="trivia-answer", input={"q": "Capital of Japan?"})
        generation = trace.start_generation(name="answer", model="gpt-4o", input="q")
        generation.end(output="Tokyo")
        client.flush()
        client.dataset_runs.create_items(
            dataset_name="trivia-set",
            dataset_run_id=run_id,
            items=[
                {
                    "input": {"q": "Capital of Japan?"},
                    "expectedOutput": {"a": "Tokyo"},
                    "traceId": trace.id,
                    "observationId": generation.id,
                }
            ],
        )
        results = client.experiments.results(run_id).results
        explicit = next(r for r in results if r.trace_id == trace.id)
        assert explicit.observation_id == generation.id
        assert client.traces.get(trace.id).observations[0].id == generation.id

        async def traced_async() -> str:
            async with AsyncAssay(
                base_url=base, public_key=key["public_key"], secret_key=key["secret_key"]
            ) as aclient:
                trace = aclient.trace(name="async-answer", input={"q": "?"})
                trace.start_generation(name="answer", model="m").end(output="!")
                await aclient.flush()
                return trace.id

        async_id = asyncio.run(traced_async())
        assert [o.output for o in client.traces.get(async_id).observations] == ["!"]
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_spans_traced_while_the_server_is_down_are_stored_exactly_once(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "sdk-home"
    monkeypatch.setenv("ASSAY_HOME", str(home))
    port = free_port()
    base = f"http://127.0.0.1:{port}"  # nothing listens here yet

    client = Assay(base_url=base, max_retries=1, retry_backoff=0.05)
    expected: dict[str, set[str]] = {}
    for t in range(100):
        trace = client.trace(name="offline", input={"t": t}, session_id="outage")
        spans = expected.setdefault(trace.id, set())
        for s in range(100):
            spans.add(trace.span(name=f"step {s}", input=s).end(output=s * 2).id)
        trace.update(output=t)
    client.shutdown()  # the server is still down: everything goes to the journal
    stats = client.tracing_stats()
    assert stats.sent == 0
    assert stats.dropped == 0
    assert stats.lost == 0
    journal = sorted(home.glob("traces/*/*.jsonl"))
    assert journal
    copies = tmp_path / "copies"
    copies.mkdir()
    for path in journal:  # to deliver everything a second time afterwards
        shutil.copy(path, copies / path.name)
    client.close()

    proc, _ = _start(env, port)
    try:
        later = Assay(base_url=base)
        later.flush()  # a new process replays what the first one journaled
        assert later.tracing_stats().replayed >= len(expected)
        assert not list(home.glob("traces/*/*.jsonl"))
        assert stored(later) == expected

        for copy in copies.iterdir():  # the same batches again: ingestion is idempotent
            shutil.copy(copy, journal[0].parent / copy.name)
        later.flush()
        assert stored(later) == expected
        later.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def stored(client: Assay) -> dict[str, set[str]]:
    """Every stored trace of the outage session with its observation ids (asserting none is
    stored twice)."""
    page = client.traces.list(session_id="outage", limit=1000)
    assert page.next_cursor is None
    found: dict[str, set[str]] = {}
    for trace in page.items:
        detail = client.traces.get(trace.id)
        ids = [o.id for o in detail.observations]
        assert len(ids) == len(set(ids))
        assert detail.output == detail.input["t"]  # type: ignore[index]
        found[trace.id] = set(ids)
    return found
