"""Where a refused body's error is: the body's own field, also for a tagged body whose
schema is chosen by ``op`` (``/correction``), decided by the body-model helper."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.gate import validation_refusal
from serving.schemas import request_models
from serving.settings import ServingSettings


@pytest.fixture(scope="module")
def models():
    return request_models(ServingSettings())


def _refusal(model, body: str):
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(body)
    return validation_refusal(caught.value, model)


def test_a_tagged_body_names_the_step_field_not_the_tag(models) -> None:
    message, detail, _ = _refusal(
        models["correction"], '{"op": "decide", "correction_id": "C1", "decision": "maybe"}'
    )
    assert [d["loc"] for d in detail] == [["decision"]]  # not ["decide", "decision"]
    assert message.startswith("decision: ")
    _, extra, types = _refusal(
        models["correction"], '{"op": "list", "family_id": "F1", "colour": "red"}'
    )
    assert [d["loc"] for d in extra] == [["colour"]] and types == ["extra_forbidden"]


def test_a_missing_or_unknown_tag_is_located_at_op(models) -> None:
    for body in ('{"family_id": "F1"}', '{"op": "erase", "family_id": "F1"}'):
        message, detail, types = _refusal(models["correction"], body)
        assert [d["loc"] for d in detail] == [["op"]], body
        assert message.startswith("op: ") and types[0].startswith("union_tag")


def test_a_plain_body_keeps_its_locations(models) -> None:
    _, detail, _ = _refusal(models["score"], '{"family_ids": ["F1"], "lang": 5, "x": 1}')
    assert sorted(d["loc"][0] for d in detail) == ["lang", "x"]
    # nested locations of a plain body keep their first part (the tag rule must not apply)
    _, nested, _ = _refusal(models["score"], '{"family_ids": [5]}')
    assert [d["loc"] for d in nested] == [["family_ids", 0]]
