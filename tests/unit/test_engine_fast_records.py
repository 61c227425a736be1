"""Records the engine builds on its hot path equal the ones their constructors build."""

from __future__ import annotations

import uuid

from assay.domain import ScoreCreate, ScoreDataType, WorkItem
from assay.engine.outcomes import sample_of
from assay.ids import id_base, sequential_ids
from assay.scoring import Sample
from assay.scoring.base import make_score
from assay.targets import TargetOutput


def test_the_engine_sample_equals_the_constructed_one() -> None:
    item = WorkItem("r1", "i1", 1, {"q": "a"}, "A", ["ctx"], {"m": 1}, ["t"])
    output = TargetOutput("out", 3, 4, 0.25, tool_calls=[{"name": "search"}])
    built = Sample(
        input=item.input,
        output=output.output,
        expected_output=item.expected_output,
        context=item.context,
        metadata=item.metadata,
        item_id=item.item_id,
        latency_ms=12.5,
        cost=output.cost,
        tokens_in=output.tokens_in,
        tokens_out=output.tokens_out,
        tool_calls=output.tool_calls,
    )
    assert sample_of(item, output, 12.5) == built


def test_make_score_equals_model_construct() -> None:
    for value, passed, reason in ((True, True, None), (0.5, None, "half"), ("b", False, "no")):
        fast = make_score("s", value, passed=passed, reason=reason, metadata={"k": 1})
        slow = ScoreCreate.model_construct(
            name="s",
            value=value,
            data_type=fast.data_type,
            passed=passed,
            reason=reason,
            metadata={"k": 1},
        )
        assert fast == slow
        assert fast.model_dump() == slow.model_dump()
        assert fast.model_fields_set == set(ScoreCreate.model_fields)
        ScoreCreate.model_validate(fast.model_dump())  # a valid record
    assert make_score("s", True).data_type is ScoreDataType.boolean


def test_sequential_ids_are_the_uuids_of_consecutive_integers() -> None:
    base = id_base()
    ids = sequential_ids(5, base, 7)
    assert ids == [str(uuid.UUID(int=base + 7 + i)) for i in range(5)]
    assert ids == sorted(ids)
    assert sequential_ids(3, base) + sequential_ids(2, base, 3) == sequential_ids(5, base)
    # across the last group's carry (a base whose low bits are not zero): the slow way
    near = (base | ((1 << 48) - 1)) - 2
    for n in (3, 4, 5):  # the last one stays in the group, then one and two carry over
        assert sequential_ids(n, near) == [str(uuid.UUID(int=near + i)) for i in range(n)]
