"""`earlyrisk model`: the two-person rule end to end, through the CLI, on a real MLflow
store, a real token store and a real hash-chained audit log."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from mlflow.artifacts import download_artifacts
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.local_server import begin_audit_log
from serving.store.audit_log import open_audit_log
from serving.store.security_log import SqlSecurityLog
from serving.store.tokens import SqlTokenStore
from training.governance_store import GovernanceStore
from training.registry import CHAMPION
from training.tracking import TrackingStore

MODEL = "earlyrisk-governance-test"
REASON = "the recorded outcome is biased for this group; accepted until relabelled"


def _register(store: TrackingStore, exp: str, *, trained_by: str, gates: dict[str, float]) -> str:
    """A version whose run recorded these gate outcomes and a model card."""
    with store.run(exp) as run:
        run.log_metrics({f"gate.{name}.passed": v for name, v in gates.items()})
        run.log_dict({"model_version": "x", "warnings": []}, "model_card/model_card.json")
        run.log_dict({}, "model/placeholder.json")
    passed = all(v == 1.0 for v in gates.values())
    mv = store.client.create_model_version(
        MODEL,
        source=f"{store.client.get_run(run.run_id).info.artifact_uri}/model",
        run_id=run.run_id,
        tags={"trained_by": trained_by, "gates": "passed" if passed else "failed"},
    )
    if passed:
        store.set_alias(MODEL, str(mv.version), CHAMPION)
    return str(mv.version)


@pytest.fixture
def world(tmp_path: Path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = TrackingStore(uri)
    exp = store.experiment("governance", artifact_location=(tmp_path / "art").as_uri())
    store.client.create_registered_model(MODEL)
    env = {
        "EARLYRISK_TRACKING_URI": uri,
        "EARLYRISK_MODEL_NAME": MODEL,
        "EARLYRISK_TOKEN_DB_PATH": str(tmp_path / "tokens.sqlite"),
        "EARLYRISK_AUDIT_LOG_PATH": str(tmp_path / "audit_log.sqlite"),
        "EARLYRISK_SECURITY_LOG_PATH": str(tmp_path / "security_log.sqlite"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("EARLYRISK_TOKEN", raising=False)
    begin_audit_log(env)
    tokens = SqlTokenStore(env["EARLYRISK_TOKEN_DB_PATH"])
    people = {
        "Dana": tokens.create("approver", note="Dana").token,
        "Aru": tokens.create("approver", note="Aru").token,
        "Aru2": tokens.create("auditor", note="aru").token,  # the same person, another token
        "Bek": tokens.create("admin", note="Bek").token,
        "Case": tokens.create("caseworker", note="Cai").token,
    }
    v1 = _register(store, exp, trained_by="Dana", gates={"auc_margin": 1.0, "ece": 1.0})
    v2 = _register(store, exp, trained_by="Dana", gates={"auc_margin": 0.0, "ece": 1.0})
    return {"store": store, "exp": exp, "tokens": people, "v1": v1, "v2": v2, "env": env}


def _model(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["model", *args])
    return result.exit_code, result.output


def _governance_entries(env) -> list[dict]:
    log = open_audit_log(env["EARLYRISK_AUDIT_LOG_PATH"])
    try:
        assert log.verify().intact
        return log.page(limit=1000, kind="governance")
    finally:
        log.close()


def test_two_others_approve_and_the_version_is_promoted(world):
    t, v2 = world["tokens"], world["v2"]
    code, out = _model("approve", v2, "--token", t["Dana"])
    assert code == 1 and "Dana trained version 2 and cannot approve it" in out
    code, out = _model("approve", v2, "--token", t["Case"])
    assert code == 1 and "a caseworker token cannot act" in out
    code, out = _model(
        "approve", v2, "--token", t["Aru"], "--waive", "auc_margin", "--reason", REASON
    )
    assert code == 0, out
    code, out = _model("approve", v2, "--token", t["Aru2"])  # Aru again, another token
    assert code == 0, out
    code, out = _model("promote", v2, "--token", t["Aru"])
    assert code == 1 and "1 of 2 approvals" in out and "approved: aru" in out.lower()
    assert _model("approve", v2, "--token", t["Bek"])[0] == 0
    code, out = _model("promote", v2, "--token", t["Bek"])
    assert code == 0, out
    gov = GovernanceStore(world["store"], MODEL)
    assert gov.champion() == v2
    # MLflow: the version's waiver and approvals, the model's decision, the run's record
    facts = gov.facts(v2)
    assert facts.waivers["auc_margin"].person == "Aru"
    assert {a.person.casefold() for a in facts.approvals.values()} == {"aru", "bek"}
    (decision,) = gov.decisions()
    assert (decision.action, decision.version, decision.previous) == ("promote", v2, world["v1"])
    run_id = world["store"].client.get_model_version(MODEL, v2).run_id
    uri = world["env"]["EARLYRISK_TRACKING_URI"]
    record = json.loads(
        Path(
            download_artifacts(
                run_id=run_id, artifact_path="governance/approval_record.json", tracking_uri=uri
            )
        ).read_text()
    )
    assert record["waivers"][0]["reason"] == REASON
    assert [d["action"] for d in record["decisions"]] == ["promote"]
    card_md = Path(
        download_artifacts(
            run_id=run_id, artifact_path="model_card/model_card.md", tracking_uri=uri
        )
    ).read_text()
    assert "## Decisions" in card_md and REASON in card_md and "| promote | 2 | 1 |" in card_md
    card = json.loads(
        Path(
            download_artifacts(
                run_id=run_id, artifact_path="model_card/model_card.json", tracking_uri=uri
            )
        ).read_text()
    )
    assert card["model_version"] == "x" and len(card["decisions"]["approvals"]) == 3
    # the audit log: every act, in order, on an intact chain
    acts = [(e["decision"], e["model_version"]) for e in _governance_entries(world["env"])]
    name = f"{MODEL}/{v2}"
    assert acts == [
        ("waive", name),
        ("approve", name),
        ("approve", name),
        ("approve", name),
        ("promote", name),
    ]


def test_a_failed_check_without_a_waiver_is_refused_by_name(world):
    t, v2 = world["tokens"], world["v2"]
    assert _model("approve", v2, "--token", t["Aru"])[0] == 0
    assert _model("approve", v2, "--token", t["Bek"])[0] == 0
    code, out = _model("promote", v2, "--token", t["Bek"])
    assert code == 1 and "no waiver for auc_margin (fail)" in out
    assert GovernanceStore(world["store"], MODEL).champion() == world["v1"]
    assert [e["decision"] for e in _governance_entries(world["env"])] == ["approve", "approve"]


def test_a_waiver_of_an_earlier_version_does_not_count(world):
    t, v2 = world["tokens"], world["v2"]
    for who in ("Aru", "Bek"):
        args = ("approve", v2, "--token", t[who], "--waive", "auc_margin", "--reason", REASON)
        assert _model(*args)[0] == 0
    assert _model("promote", v2, "--token", t["Bek"])[0] == 0
    v3 = _register(world["store"], world["exp"], trained_by="Dana", gates={"auc_margin": 0.0})
    for who in ("Aru", "Bek"):
        assert _model("approve", v3, "--token", t[who])[0] == 0
    code, out = _model("promote", v3, "--token", t["Bek"])
    assert code == 1 and "no waiver for auc_margin (fail)" in out


def test_rollback_restores_the_previous_champion_and_history_tells_when(world):
    t, v1, v2 = world["tokens"], world["v1"], world["v2"]
    waive = ("--waive", "auc_margin", "--reason", REASON)
    assert _model("approve", v2, "--token", t["Aru"], *waive)[0] == 0
    assert _model("approve", v2, "--token", t["Bek"])[0] == 0
    code, out = _model("promote", v2, "--token", t["Bek"])
    assert code == 0, out
    gov = GovernanceStore(world["store"], MODEL)
    assert gov.champion() == v2
    code, out = _model("rollback", "--token", t["Aru"])
    assert code == 0, out
    assert gov.champion() == v1
    code, out = _model("retire", v1, "--token", t["Aru"])
    assert code == 1 and "is the champion" in out
    assert _model("retire", v2, "--token", t["Aru"])[0] == 0
    promote, rollback, retire = gov.decisions()
    created = gov.facts(v1).created_at
    ms = timedelta(milliseconds=1)
    for when, expected in [
        (created - ms, "none"),
        (created, v1),
        (promote.at - ms, v1),
        (promote.at, v2),
        (rollback.at - ms, v2),
        (rollback.at, v1),
        (retire.at + ms, v1),
    ]:
        code, out = _model("history", "--on", when.isoformat())
        assert code == 0 and out.strip() == expected, (when, out)
    assert _model("history", "--on", "1999-12-31")[1].strip() == "none"
    assert _model("history", "--on", "2999-01-01")[1].strip() == v1
    acts = [e["decision"] for e in _governance_entries(world["env"])]
    assert acts[-3:] == ["promote", "rollback", "retire"]
    code, out = _model("list")
    assert code == 0 and "champion" in out and "retired" in out
    code, out = _model("show", v2)
    assert code == 0 and "fail         auc_margin  waived by Aru" in out


def test_refused_governance_attempts_are_in_the_security_log(world):
    """Every refused act (a role that may not act, the trainer approving, the two-person
    rule, a token that is not live) is recorded with who, what and why; none is in the
    audit log as an act."""
    t, v2 = world["tokens"], world["v2"]
    assert _model("approve", v2, "--token", t["Case"])[0] == 1
    assert _model("approve", v2, "--token", t["Dana"])[0] == 1
    assert (
        _model("approve", v2, "--token", t["Aru"], "--waive", "auc_margin", "--reason", REASON)[0]
        == 0
    )
    assert _model("promote", v2, "--token", t["Aru"])[0] == 1  # one approval of two
    assert _model("retire", v2, "--token", "er_0123456789ab_not-a-secret")[0] == 1
    log = SqlSecurityLog(world["env"]["EARLYRISK_SECURITY_LOG_PATH"])
    try:
        events = log.page(limit=100)
    finally:
        log.close()
    tokens = {
        row["note"]: row["token_id"]
        for row in SqlTokenStore(world["env"]["EARLYRISK_TOKEN_DB_PATH"]).list()
    }
    got = [(e["event"], e["endpoint"], e["token_id"]) for e in events]
    assert got == [
        ("forbidden", "model approve", tokens["Cai"]),
        ("forbidden", "model approve", tokens["Dana"]),
        ("forbidden", "model promote", tokens["Aru"]),
        ("unauthenticated", "model retire", "0123456789ab"),
    ]
    details = [e["detail"] for e in events]
    assert "a caseworker token cannot act" in details[0] and f"version {v2}" in details[0]
    assert "Dana trained version 2 and cannot approve it" in details[1]
    assert "1 of 2 approvals" in details[2]
    assert "unknown, revoked or expired" in details[3]
    assert [e["decision"] for e in _governance_entries(world["env"])] == ["waive", "approve"]
