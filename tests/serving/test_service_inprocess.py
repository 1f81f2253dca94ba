"""Level 1: the BentoML service class in this process (no HTTP), and its startup refusals."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
from serving_world import write_snapshot
from starlette.requests import Request
from starlette.responses import JSONResponse

from serving.engine import StartupError, load_engine
from serving.i18n import rounded_value
from serving.service import EarlyRiskScoring
from serving.settings import ServingSettings


def call(service, method: str, token: str | None, **body):
    """Call an API method as BentoML does: inside a request context with headers."""
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    request = Request({"type": "http", "method": "POST", "path": f"/{method}", "headers": headers})
    ctx = EarlyRiskScoring.context
    with ctx.in_request(request):
        result = getattr(service, method)(**body, ctx=ctx)
        return result, ctx.response.status_code


def error_of(result) -> tuple[int, str]:
    assert isinstance(result, JSONResponse)
    import json

    body = json.loads(result.body)
    assert set(body) == {"error", "request_id"}
    return result.status_code, body["error"]


def test_score_returns_explained_results_in_order(service, tokens, serving_world):
    log = service.engine.audit_log
    before = log.count("score")
    result, status = call(
        service, "score", tokens["caseworker"], family_ids=["F00003", "missing", "F00010"]
    )
    assert status == 200
    items = result.results
    assert [i.family_id for i in items] == ["F00003", "missing", "F00010"]
    assert [i.status for i in items] == ["scored", "error", "scored"]
    assert "missing" in items[1].error and "2024-12-31" in items[1].error
    first = items[0]
    X = serving_world.frame
    row = X[(X.family_id == "F00003") & (X.as_of == "2024-12-31")]
    expected = serving_world.model.predict_proba(row)[0]
    assert first.probability == round(float(expected), 4)  # rounded, as documented
    assert first.snapshot_date == "2024-12-31"
    assert first.model_version == serving_world.model_version
    assert 0 < first.percentile <= 100
    assert len(first.reasons_raising) <= 5 and len(first.reasons_lowering) <= 3
    assert all(r.contribution > 0 for r in first.reasons_raising)
    top = first.reasons_raising[0]
    assert top.kind == "need" and top.value  # worded, never empty
    raw_value = row[top.indicator].iloc[0]
    if np.isnan(raw_value):
        assert top.value_number is None
    else:
        assert top.value_number == rounded_value(float(raw_value), top.unit)
    assert all(r.kind in ("context", "support") for r in first.context)
    assert first.baseline_probability + sum(first.contribution_by_kind.values()) == (
        pytest.approx(first.probability, abs=1e-3)
    )
    assert [b.level for b in first.risk_bands] == ["low", "elevated", "high"]
    assert first.lang == "en" and first.risk_level_name == first.risk_level
    assert "Advisory" in first.advisory_notice
    # Two families scored, two audit rows, carrying the ids the client got back.
    assert log.count("score") == before + 2
    logged = log.score_entry(first.score_id)
    assert logged["family_id"] == "F00003" and logged["probability"] == first.probability
    assert logged["token_id"] != tokens["caseworker"] and logged["role"] == "caseworker"
    assert "value" not in logged["reasons"][0]  # no family values copied into the log


def test_a_family_named_twice_is_scored_once(service, tokens):
    before = service.engine.audit_log.count("score")
    result, _ = call(service, "score", tokens["caseworker"], family_ids=["F00030", "F00030"])
    first, second = result.results
    assert first.score_id == second.score_id
    assert service.engine.audit_log.count("score") == before + 1


def test_percentile_is_against_the_population_of_the_date(service, tokens, serving_world):
    result, _ = call(service, "score", tokens["caseworker"], family_ids=["F00003"])
    item = result.results[0]
    frame = serving_world.frame[serving_world.frame.as_of == "2024-12-31"]
    # the reference population is the eligible families only (design rule 10)
    frame = frame[frame["hh_children"] >= 1]
    population = serving_world.model.predict_proba(frame)
    assert item.percentile == round(100 * np.mean(population <= item.probability), 1)
    # the bands are set on the same eligible population: their sizes add up to it, and a
    # band holding every family of the date (childless ones too) would add up to more
    assert sum(b.families for b in item.risk_bands) == len(frame)
    everyone = serving_world.frame[serving_world.frame.as_of == "2024-12-31"]
    assert len(everyone) > len(frame)


def test_a_family_without_a_child_gets_its_status_and_reason_not_a_score(service, tokens):
    log = service.engine.audit_log
    before = log.count("score")
    result, status = call(service, "score", tokens["caseworker"], family_ids=["F00109", "F00003"])
    assert status == 200
    ineligible, scored = result.results
    assert (ineligible.status, ineligible.family_id) == ("ineligible", "F00109")
    assert "no child under 18" in ineligible.reason
    assert ineligible.snapshot_date == "2024-12-31"
    assert not hasattr(ineligible, "probability")
    assert scored.status == "scored"
    assert log.count("score") == before + 1  # only the score that was made is logged


def test_older_snapshot_date_and_unknown_date(service, tokens):
    result, _ = call(
        service, "score", tokens["caseworker"], family_ids=["F00003"], as_of="2024-06-30"
    )
    assert result.results[0].snapshot_date == "2024-06-30"
    result, _ = call(
        service, "score", tokens["caseworker"], family_ids=["F00003"], as_of="2020-01-01"
    )
    status, message = error_of(result)
    assert status == 400 and message.startswith("as_of:") and "2024-12-31" in message


def test_batch_limit_names_the_field(service, tokens):
    result, _ = call(service, "score", tokens["caseworker"], family_ids=["F1"] * 51)
    status, message = error_of(result)
    assert status == 400 and message.startswith("family_ids:") and "50" in message
    result, _ = call(service, "score", tokens["caseworker"], family_ids=[])
    assert error_of(result)[0] == 400


def test_score_indicators_accepts_a_complete_row(service, tokens, serving_world):
    X = serving_world.frame
    row = X[(X.family_id == "F00007") & (X.as_of == "2024-12-31")]
    names = serving_world.model.feature_names
    indicators = {
        n: (None if np.isnan(v) else float(v))
        for n, v in zip(names, row[names].iloc[0], strict=True)
    }
    result, status = call(service, "score_indicators", tokens["caseworker"], indicators=indicators)
    assert status == 200 and result.family_id is None
    assert result.probability == round(float(serving_world.model.predict_proba(row)[0]), 4)
    logged = service.engine.audit_log.score_entry(result.score_id)
    assert logged["endpoint"] == "score_indicators" and logged["family_id"] is None


@pytest.mark.parametrize("children", [0.0, None])
def test_score_indicators_refuses_a_family_outside_the_scored_population(
    service, tokens, serving_world, children
):
    names = serving_world.model.feature_names
    indicators: dict[str, float | None] = dict.fromkeys(names, 1.0)
    indicators["hh_children"] = children
    before = service.engine.audit_log.count()
    result, _ = call(service, "score_indicators", tokens["caseworker"], indicators=indicators)
    status, message = error_of(result)
    assert status == 400 and message.startswith("indicators.hh_children")
    assert "no child under 18" in message and "no score" in message
    assert service.engine.audit_log.count() == before  # nothing served, nothing logged
    indicators["hh_children"] = 1.0
    result, status = call(service, "score_indicators", tokens["caseworker"], indicators=indicators)
    assert status == 200 and 0.0 <= result.probability <= 1.0


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.update(ethnicity=1.0), "indicators.ethnicity", "protected"),
        (lambda d: d.update(audit_settlement=1.0), "indicators.audit_settlement", "protected"),
        (lambda d: d.update(head_sex=0.0), "indicators.head_sex", "protected"),
        (lambda d: d.update(favourite_colour=1.0), "indicators.favourite_colour", "not an"),
        (lambda d: d.pop("hh_members"), "indicators.hh_members", "missing"),
        (lambda d: d.update(hh_members=-3.0), "indicators.hh_members", "outside"),
        (lambda d: d.update(hh_members=1e9), "indicators.hh_members", "outside"),
    ],
)
def test_score_indicators_refusals_name_the_field(
    service, tokens, serving_world, change, field, words
):
    names = serving_world.model.feature_names
    indicators: dict[str, float | None] = dict.fromkeys(names, 1.0)
    change(indicators)
    before = service.engine.audit_log.count()
    result, _ = call(service, "score_indicators", tokens["caseworker"], indicators=indicators)
    status, message = error_of(result)
    assert status == 400 and message.startswith(field) and words in message
    assert service.engine.audit_log.count() == before


def test_every_protected_name_and_audit_group_is_refused_as_protected(service):
    """The service refuses what training's input check refuses: one list of protected names."""
    from features.contract import DERIVED_AUDIT_GROUPS
    from serving.engine import RequestError
    from training.protected import PROTECTED_NAMES

    for name in sorted(PROTECTED_NAMES | set(DERIVED_AUDIT_GROUPS)):
        with pytest.raises(RequestError, match="protected attribute") as err:
            service.engine.check_indicators({name: 1.0})
        assert err.value.field == f"indicators.{name}"


def test_feedback_is_stored_against_the_score(service, tokens):
    result, _ = call(service, "score", tokens["caseworker"], family_ids=["F00020"])
    score_id = result.results[0].score_id
    reply, status = call(
        service,
        "feedback",
        tokens["caseworker"],
        score_id=score_id,
        decision="override_lower",
        reason="support already in place",
    )
    assert status == 200 and reply.recorded and reply.decision == "override_lower"
    entries = service.engine.audit_log.page(kind="feedback", limit=1000)
    mine = [e for e in entries if e["score_id"] == score_id]
    assert len(mine) == 1 and mine[0]["family_id"] == "F00020"
    assert mine[0]["reason"] == "support already in place"
    unknown, _ = call(
        service,
        "feedback",
        tokens["caseworker"],
        score_id="nope",
        decision="no_action",
        reason="x",
    )
    assert error_of(unknown)[0] == 404
    blank, _ = call(
        service,
        "feedback",
        tokens["caseworker"],
        score_id=score_id,
        decision="no_action",
        reason="   ",
    )
    assert error_of(blank) == (400, "reason: must not be blank")


def test_model_card_and_audit_log_for_auditors(service, tokens, serving_world):
    card, _ = call(service, "model_card", tokens["auditor"])
    assert card.model_version == serving_world.model_version
    assert card.model_sha256 == serving_world.model.sha256()
    assert card.card["intended_use"].startswith("advisory")
    assert card.training_date is not None and "Not for automated" in card.intended_use
    assert card.metrics == {"test_auc": 0.8}
    call(service, "score", tokens["caseworker"], family_ids=["F00001", "F00002", "F00004"])
    page, _ = call(service, "audit_log", tokens["auditor"], limit=2)
    assert len(page.entries) == 2 and page.next_after_seq == page.entries[-1].seq
    seen = [e.seq for e in page.entries]
    while page.next_after_seq is not None:
        page, _ = call(
            service, "audit_log", tokens["auditor"], after_seq=page.next_after_seq, limit=2
        )
        seen += [e.seq for e in page.entries]
    assert seen == sorted(seen) and len(seen) == service.engine.audit_log.count()


def test_roles_in_process(service, tokens):
    result, _ = call(service, "model_card", tokens["caseworker"])
    assert error_of(result)[0] == 403
    result, _ = call(service, "score", tokens["auditor"], family_ids=["F00001"])
    assert error_of(result)[0] == 403
    result, _ = call(service, "score", None, family_ids=["F00001"])
    assert error_of(result)[0] == 401
    result, _ = call(service, "score", tokens["revoked"], family_ids=["F00001"])
    assert error_of(result)[0] == 401
    result, status = call(service, "score", tokens["admin"], family_ids=["F00001"])
    assert status == 200 and result.results[0].status == "scored"


# --------------------------------------------------------------------------- startup


def _settings(world, **overrides) -> ServingSettings:
    env = {k.removeprefix("EARLYRISK_").lower(): v for k, v in world.env.items()}
    env.update(overrides)
    return ServingSettings(**env)


def test_refuses_to_start_without_a_champion(serving_world):
    with pytest.raises(StartupError, match=r"no model to serve.*earlyrisk train"):
        load_engine(_settings(serving_world, model_alias="nobody"))


def test_refuses_to_start_on_a_checksum_mismatch(serving_world):
    # every stored model artifact is altered (other tests register more models in this
    # store), so the champion's is, whichever file it is
    artifacts = sorted(Path(serving_world.root / "art").rglob("risk_model.json"))
    originals = {path: path.read_bytes() for path in artifacts}
    try:
        for path, original in originals.items():
            path.write_bytes(original.replace(b'"a":', b'"a": ', 1))
        with pytest.raises(StartupError, match=r"refusing to serve.*sha256"):
            load_engine(_settings(serving_world))
    finally:
        for path, original in originals.items():
            path.write_bytes(original)


def test_refuses_to_start_on_another_feature_list(serving_world, tmp_path):
    other = write_snapshot(
        serving_world.frame, tmp_path / "other.parquet", feature_list_sha256="9" * 64
    )
    with pytest.raises(StartupError, match=r"feature list 9{64}.*rebuild the snapshot"):
        load_engine(_settings(serving_world, snapshot_path=str(other)))


def test_refuses_to_start_without_a_snapshot(serving_world, tmp_path):
    with pytest.raises(StartupError, match=r"does not exist.*earlyrisk features"):
        load_engine(_settings(serving_world, snapshot_path=str(tmp_path / "none.parquet")))


def test_refuses_to_start_when_the_audit_log_cannot_open(serving_world, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(StartupError, match="does not serve scores it cannot log"):
        load_engine(
            _settings(
                serving_world,
                audit_log_path=str(blocker / "audit.sqlite"),
                lookup_db_path=str(tmp_path / "lookup.sqlite"),
            )
        )


def test_loading_a_model_leaves_mlflows_process_wide_store_as_it_was(
    serving_world, tmp_path, monkeypatch
):
    """A service started inside another program (a notebook, a worker, a test) reads its own
    store through a client bound to it; the program's MLflow store stays where it was."""
    elsewhere = f"sqlite:///{tmp_path / 'the-programs-own.db'}"
    assert elsewhere != serving_world.tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)  # the program's own store
    env_before = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    engine = load_engine(
        _settings(
            serving_world,
            audit_log_path=str(tmp_path / "audit.sqlite"),
            lookup_db_path=str(tmp_path / "lookup.sqlite"),
            token_db_path=str(tmp_path / "tokens.sqlite"),
            security_log_path=str(tmp_path / "security.sqlite"),
        ),
        new_audit_log=True,
    )
    try:
        assert engine.identity.version == serving_world.model_version  # it did load
        assert mlflow.get_tracking_uri() == elsewhere
        assert mlflow.get_registry_uri() == elsewhere
        assert {k: os.environ.get(k) for k in env_before} == env_before
    finally:
        engine.close()
