"""Lexical similarity scorers: levenshtein, similarity ratios, token F1, BLEU, ROUGE-L."""

from __future__ import annotations

import math
from typing import Any

import pytest

from assay.domain import ScoreCreate, ScoreDataType
from assay.errors import InvalidInput
from assay.scorers import bleu, levenshtein, rouge_l, similarity, token_f1
from assay.scoring import Sample, Scorer
from assay.scoring.similarity import bleu_score, rouge_l_score, token_f1_score
from assay.scoring.text import MissingValue

LONG_A = " ".join(f"w{i % 997}" for i in range(30_000))
LONG_B = LONG_A.replace("w5 ", "w6 ")


def one(scorer: Scorer, output: Any, expected: Any = None) -> ScoreCreate:
    out = scorer.score(Sample(input=None, output=output, expected_output=expected))
    assert isinstance(out, ScoreCreate)
    return out


def value(scorer: Scorer, output: Any, expected: Any = None) -> float:
    v = one(scorer, output, expected).value
    assert isinstance(v, float)
    return v


# ---------------------------------------------------------------- levenshtein / ratios
def test_levenshtein_known_distances() -> None:
    score = one(levenshtein(), "kitten", "sitting")
    assert score.metadata == {"distance": 3}
    assert score.value == pytest.approx(1 - 3 / 7, abs=1e-6)
    assert score.data_type == ScoreDataType.numeric
    assert score.passed is None
    assert value(levenshtein(), "", "") == 1.0
    assert value(levenshtein(), None, "abc") == 0.0
    assert value(levenshtein(), "ABC", "abc") == 0.0
    assert value(levenshtein(ignore_case=True), "ABC", "abc") == 1.0
    assert value(levenshtein(ignore_whitespace=True), " a  b ", "a b") == 1.0
    assert value(levenshtein(), "naïve", "naive") == pytest.approx(0.8)
    assert value(levenshtein(), 12345, "12346") == pytest.approx(0.8)


def test_multiple_references_take_the_best() -> None:
    assert value(levenshtein(), "colour", ["color", "colour"]) == 1.0
    assert value(levenshtein(["nope", "colour"]), "colour") == 1.0


def test_similarity_methods() -> None:
    assert value(similarity(), "hello world", "hello world") == 1.0
    assert value(similarity(), "abcd", "abce") == pytest.approx(0.75)
    assert value(similarity(method="token_sort_ratio"), "world hello", "hello world") == 1.0
    assert value(similarity(method="partial_ratio"), "the hello world!", "hello") == 1.0
    assert value(similarity(method="token_set_ratio"), "a b b c", "c b a") == 1.0
    assert value(similarity(ignore_case=True), "HELLO", "hello") == 1.0
    assert value(similarity(), "", "") == 1.0
    assert value(similarity(), None, "x") == 0.0
    assert 0.9 < value(similarity(), LONG_A, LONG_B) < 1.0
    with pytest.raises(InvalidInput, match="method"):
        similarity(method="cosine")  # type: ignore[arg-type]


# ---------------------------------------------------------------- token F1
def test_token_f1_counts_overlap() -> None:
    f1, meta = token_f1_score(["the", "cat", "sat"], ["the", "cat", "ran", "away"])
    assert meta == {"precision": pytest.approx(2 / 3), "recall": 0.5}
    assert f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert token_f1_score([], []) == (1.0, {"precision": 1.0, "recall": 1.0})
    assert token_f1_score(["a"], [])[0] == 0.0
    # repeated tokens are clipped by the reference count
    assert token_f1_score(["a", "a", "a"], ["a"])[1]["precision"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("scorer", "output", "expected", "f1"),
    [
        (token_f1(), "Paris, France.", "paris france", 1.0),
        (token_f1(ignore_case=False), "Paris", "paris", 0.0),
        (token_f1(), "The Eiffel Tower", "Eiffel Tower", 0.8),
        (token_f1(remove_articles=True), "The Eiffel Tower", "Eiffel Tower", 1.0),
        (token_f1(), "東京 タワー", "東京 タワー", 1.0),
        (token_f1(), 42, "42", 1.0),
        (token_f1(), None, "x", 0.0),
        (token_f1(), "", "", 1.0),
        (token_f1(), "a b", ["x", "a b"], 1.0),
    ],
)
def test_token_f1(scorer: Scorer, output: Any, expected: Any, f1: float) -> None:
    assert value(scorer, output, expected) == pytest.approx(f1)


# ---------------------------------------------------------------- BLEU
def test_bleu_reference_example() -> None:
    # Hypothesis and reference differ in one of six words; unsmoothed 2-gram BLEU:
    # p1 = 5/6, p2 = 3/5, equal lengths so BP = 1 -> sqrt(5/6 * 3/5) = sqrt(0.5).
    hyp = ["the", "cat", "sat", "on", "the", "mat"]
    ref = ["the", "cat", "sat", "on", "a", "mat"]
    score, meta = bleu_score(hyp, [ref], max_n=2, smooth=False)
    assert score == pytest.approx(math.sqrt(0.5))
    assert meta["precisions"] == [pytest.approx(5 / 6, abs=1e-6), pytest.approx(0.6)]
    assert meta["brevity_penalty"] == 1.0


def test_bleu_brevity_penalty_and_clipping() -> None:
    ref = ["a", "b", "c", "d", "e", "f"]
    score, meta = bleu_score(["a", "b", "c"], [ref], max_n=1, smooth=False)
    assert meta["brevity_penalty"] == pytest.approx(math.exp(1 - 6 / 3))
    assert score == pytest.approx(math.exp(1 - 2))
    # "the the the" against "the cat": clipped unigram precision 1/3
    clipped, _ = bleu_score(["the"] * 3, [["the", "cat"]], max_n=1, smooth=False)
    assert clipped == pytest.approx(1 / 3)
    # closest reference length is used
    _, meta = bleu_score(["a", "b"], [["a", "b", "c", "d", "e"], ["a", "b", "x"]], max_n=1)
    assert meta["brevity_penalty"] == pytest.approx(math.exp(1 - 3 / 2))


def test_bleu_scorer_edges() -> None:
    text = "The quick brown fox jumps over the lazy dog."
    assert value(bleu(), text, text) == pytest.approx(1.0)
    assert value(bleu(), text.upper(), text) == pytest.approx(1.0)
    assert value(bleu(ignore_case=False), text.upper(), text) < 0.2  # only "." matches
    assert value(bleu(smooth=False), "brown fox dog", text) == 0.0  # no bigram in common
    assert 0.0 < value(bleu(), "brown fox dog", text) < 0.2
    assert value(bleu(), "", "") == 1.0
    assert value(bleu(), None, "x") == 0.0
    assert value(bleu(), "x y", ["nothing here", "x y"]) == pytest.approx(1.0)
    assert 0.9 < value(bleu(), LONG_B, LONG_A) < 1.0
    with pytest.raises(InvalidInput, match="max_n"):
        bleu(max_n=0)


# ---------------------------------------------------------------- ROUGE-L
def test_rouge_l_known_value() -> None:
    # LCS("police killed the gunman", "police kill the gunman") = 3 -> P = R = F = 3/4
    ref = ["police", "kill", "the", "gunman"]
    f, meta = rouge_l_score(["police", "killed", "the", "gunman"], ref)
    assert f == pytest.approx(0.75)
    assert meta == {"precision": 0.75, "recall": 0.75, "lcs": 3}
    f, meta = rouge_l_score(["the", "gunman", "police", "killed"], ref)
    assert meta["lcs"] == 2
    assert f == pytest.approx(0.5)


def test_rouge_l_scorer() -> None:
    assert value(rouge_l(), "Police killed the gunman.", "police killed the gunman") == 1.0
    assert value(rouge_l(), "a b c", "x y z") == 0.0
    assert value(rouge_l(), "", "") == 1.0
    assert value(rouge_l(), None, "x") == 0.0
    assert value(rouge_l(), "ж ш д", "ж д") == pytest.approx(0.8)
    recall_heavy = rouge_l(beta=10.0)
    assert value(recall_heavy, "a b c d", "a b") == pytest.approx(
        (1 + 100) * 0.5 * 1.0 / (1.0 + 100 * 0.5), abs=1e-6
    )
    assert 0.99 < value(rouge_l(), LONG_B, LONG_A) < 1.0
    with pytest.raises(InvalidInput, match="beta"):
        rouge_l(beta=0)


@pytest.mark.parametrize("make", [levenshtein, similarity, token_f1, bleu, rouge_l])
def test_reference_required(make: Any) -> None:
    with pytest.raises(MissingValue):
        one(make(), "output")
    assert one(make(), {"a": [1, 2]}, {"a": [1, 2]}).value == pytest.approx(1.0)
