"""Near-duplicate inputs: token-set Jaccard at 10,000 texts, and the bundled embeddings."""

from __future__ import annotations

import random

import pytest

from assay.analysis.similar import duplicates
from assay.scoring.embeddings import embeddings_available


def test_token_jaccard_finds_planted_copies_among_ten_thousand() -> None:
    rng = random.Random(1)
    words = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choices(words, k=12)) for _ in range(10_000)]
    texts[5000] = texts[10].upper() + " extra"  # case is ignored; one token more
    texts[9999] = texts[5000]  # a copy of a copy joins the first of the group
    found = duplicates(texts, method="token_jaccard", threshold=0.9)
    assert set(found) == {5000, 9999}
    assert found[5000][0] == 10
    assert found[9999] == (10, found[9999][1])
    assert found[9999][1] == 1.0
    assert 0.9 <= found[5000][1] < 1.0
    assert duplicates([], method="token_jaccard", threshold=0.9) == {}
    assert duplicates(["", ""], method="token_jaccard", threshold=0.9) == {1: (0, 1.0)}


@pytest.mark.skipif(not embeddings_available(), reason="needs the embeddings extra")
def test_embeddings_find_paraphrases_that_share_few_tokens() -> None:
    texts = [
        "How do I reset my password?",
        "What are your opening hours on weekends?",
        "how can i reset my password",
        "Which plans include priority support?",
    ]
    found = duplicates(texts, method="embeddings", threshold=0.9)
    assert set(found) == {2}
    assert found[2][0] == 0
    assert duplicates(texts, method="token_jaccard", threshold=0.9) == {}
