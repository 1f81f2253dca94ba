"""Contest and correct, on SQLite and on PostgreSQL: store, refusals, decision, re-score, log.

The walk-through (issue 23, "what it must reach"): a caseworker files a correction of a
family's utility debt (repaid, on documents), a registry officer accepts it, the family is
re-scored, the diff comes back, and both versions (score, level, reasons) are in the audit
log's ``correction`` entry with the correction's id. It runs the service's real engine
(registered champion, snapshot of the small registry, the registry itself as the raw
directory) on each backend. Each bad input is refused naming its field with nothing
written, and a decision whose audit entry cannot be written is not taken.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from serving.auth import PERMISSIONS, Principal
from serving.correction_rescore import FamilyRecompute
from serving.corrections import CorrectionDesk, CorrectionForbidden
from serving.dossier.produce import DossierDesk
from serving.store.corrections import (
    CorrectionRefused,
    NewCorrection,
    SqlCorrectionStore,
    UnknownCorrectionError,
)

AS_OF = "2024-06-30"
TODAY = date(2024, 8, 1)
CASEWORKER = Principal("c0ffee000001", "caseworker")
OFFICER = Principal("0ff1ce000001", "registry_officer")


def _new(record_id: str = "E1", family_id: str = "F1") -> NewCorrection:
    return NewCorrection(family_id, "events", record_id, "amend", "value", "0", "receipt 7")


def _store(backend: str, tmp_path: Path, postgres_url: str | None) -> SqlCorrectionStore:
    return SqlCorrectionStore(postgres_url if backend == "postgresql" else tmp_path / "c.sqlite")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite, a fresh PostgreSQL database otherwise."""
    if backend == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


def test_the_store_keeps_one_open_correction_per_record_and_decides_once(
    backend: str, database: str | None, tmp_path: Path
) -> None:
    store = _store(backend, tmp_path, database)
    try:
        first = store.add(_new(), requested_by="c0ffee000001", today=TODAY)
        assert first.status == "requested" and first.correction_id.startswith("C20240801-")
        with pytest.raises(CorrectionRefused) as refused:
            store.add(_new(), requested_by="c0ffee000001", today=TODAY)
        assert refused.value.field == "record_id" and "already has an open" in str(refused.value)
        assert len(store.list()) == 1
        store.add(_new("E2", "F2"), requested_by="c0ffee000001", today=TODAY)
        assert store.open_contests(["F1", "F2", "F3"]) == {"F1", "F2"}

        # a decision whose follow-up (the audit entry) fails is not taken
        def fail(_decided: object) -> None:
            raise RuntimeError("the audit log is away")

        with pytest.raises(RuntimeError, match="away"):
            store.decide(
                first.correction_id, status="accepted", decided_by="o", today=TODAY, on_decided=fail
            )
        assert store.get(first.correction_id).status == "requested"
        decided = store.decide(first.correction_id, status="accepted", decided_by="o", today=TODAY)
        assert (decided.status, decided.decided_date, decided.decided_by) == (
            "accepted",
            "2024-08-01",
            "o",
        )
        with pytest.raises(CorrectionRefused, match="already accepted") as again:
            store.decide(first.correction_id, status="rejected", decided_by="o", today=TODAY)
        assert again.value.field == "correction_id"
        with pytest.raises(UnknownCorrectionError):
            store.get("C-none")
        assert store.open_contests(["F1", "F2"]) == {"F2"}
        # a decided record may be contested again
        store.add(_new(), requested_by="c0ffee000001", today=TODAY)
        frame = store.as_frame(accepted_only=True)
        assert frame["correction_id"].tolist() == [first.correction_id]
        assert str(frame["decided_date"].iat[0].date()) == "2024-08-01"
    finally:
        store.close()


# --------------------------------------------------------------------------- walk-through


@pytest.fixture(scope="module")
def served_snapshot(small_registry_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from features.engine import build_feature_table, write_feature_table

    table = build_feature_table(small_registry_dir, [AS_OF], n_jobs=1)
    return write_feature_table(table, tmp_path_factory.mktemp("corr") / "features.parquet")


@pytest.fixture
def desk(serving_world, small_registry_dir, served_snapshot, backend, database, tmp_path):
    from serving.engine import load_engine
    from serving.settings import ServingSettings

    env = {k.removeprefix("EARLYRISK_").lower(): v for k, v in serving_world.env.items()}
    env.update(
        snapshot_path=str(served_snapshot),
        raw_dir=str(small_registry_dir),
        audit_log_path=str(tmp_path / "audit.sqlite"),
        lookup_db_path=str(tmp_path / "lookup.sqlite"),
        token_db_path=str(tmp_path / "tokens.sqlite"),
        security_log_path=str(tmp_path / "security.sqlite"),
    )
    if database is not None:
        env["database_url"] = database
    settings = ServingSettings(**env)
    engine = load_engine(settings, new_audit_log=True)
    from serving.store.stores import open_stores

    stores = open_stores(settings, tokens=False, security_log=False, corrections=True)
    assert stores.corrections is not None
    yield CorrectionDesk(
        engine=engine, store=stores.corrections, recompute=FamilyRecompute(small_registry_dir)
    )
    stores.close()
    engine.close()


def _debt_that_matters(desk: CorrectionDesk, raw: Path) -> tuple[str, str]:
    """(family, event_id): a family's latest utility debt in the year before the snapshot
    whose repayment (amended to 0) changes the family's score: the walk-through must show
    a diff that is not empty."""
    from features.corrections import empty_corrections

    events = pd.read_parquet(raw / "events.parquet")
    for column in ("event_date", "recorded_date"):
        events[column] = pd.to_datetime(events[column])
    day = pd.Timestamp(AS_OF)
    debts = events.loc[
        (events["event_type"] == "utility_debt")
        & (events["recorded_date"] <= day)
        & (events["event_date"] > day - pd.Timedelta(days=365))
        & (events["value"] > 0)
    ].sort_values(["family_id", "event_date", "event_id"])
    latest = debts.groupby("family_id").tail(1)
    model = desk.engine.model
    for row in latest.itertuples():
        before = desk._score(str(row.family_id), AS_OF, model, empty_corrections())
        if before.probability is None:
            continue
        repaid = pd.DataFrame(
            [
                {
                    "correction_id": "probe",
                    "family_id": row.family_id,
                    "record_table": "events",
                    "record_id": row.event_id,
                    "action": "amend",
                    "field": "value",
                    "new_value": "0",
                    "document_ref": "probe",
                    "requested_date": "2024-07-01",
                    "decided_date": "2024-07-01",
                    "decided_by": "probe",
                    "status": "accepted",
                }
            ]
        )
        after = desk._score(str(row.family_id), AS_OF, model, repaid)
        if after.probability != before.probability:
            return str(row.family_id), str(row.event_id)
    raise AssertionError("no family in the small registry whose utility debt moves its score")


def _correction_entries(desk: CorrectionDesk) -> list[dict[str, object]]:
    return desk.audit_log.page(limit=1000, kind="correction")


def test_contest_correct_decide_rescore_diff_and_both_versions_in_the_log(
    desk: CorrectionDesk, small_registry_dir: Path
) -> None:
    family, event_id = _debt_that_matters(desk, small_registry_dir)
    filed = {
        "family_id": family,
        "record_table": "events",
        "record_id": event_id,
        "action": "amend",
        "field": "value",
        "new_value": "0",
        "document_ref": "utility company letter 2024/551",
    }

    # bad input: each refused naming its field, nothing written
    refusals = [
        ({**filed, "record_id": "E-none"}, "record_id", "has no record"),
        ({**filed, "new_value": "all paid"}, "new_value", "not a number"),
        ({**filed, "field": "source"}, "field", "is not a field an amend may change"),
        ({**filed, "action": "void"}, "field", "a void names no field"),
        ({**filed, "document_ref": " "}, "document_ref", "is required"),
    ]
    for request, field, words in refusals:
        with pytest.raises(CorrectionRefused) as refused:
            desk.file(request, principal=CASEWORKER, request_id="r0", today=TODAY)
        assert refused.value.field == field and words in str(refused.value), refused.value
    with pytest.raises(CorrectionForbidden, match=r"^role: a registry_officer may not file"):
        desk.file(filed, principal=OFFICER, request_id="r0", today=TODAY)
    assert desk.store.list() == [] and _correction_entries(desk) == []

    # contest: filed by the caseworker, on record, the family shows as contested
    answer = desk.file(filed, principal=CASEWORKER, request_id="r1", today=TODAY)
    correction_id = answer["correction"]["correction_id"]
    assert answer["correction"]["status"] == "requested"
    assert desk.store.open_contests([family, "F-other"]) == {family}
    with pytest.raises(CorrectionRefused) as second:
        desk.file(filed, principal=CASEWORKER, request_id="r2", today=TODAY)
    assert second.value.field == "record_id" and "already has an open" in str(second.value)
    assert second.value.status == 409
    assert len(desk.store.list()) == 1

    # a caseworker may not decide
    with pytest.raises(CorrectionForbidden, match=r"^decision: a caseworker may not decide"):
        desk.decide(correction_id, "accepted", principal=CASEWORKER, request_id="r3", today=TODAY)
    assert desk.store.get(correction_id).status == "requested"
    assert [e["decision"] for e in _correction_entries(desk)] == ["requested"]

    # decision -> re-score -> diff
    result = desk.decide(correction_id, "accepted", principal=OFFICER, request_id="r4", today=TODAY)
    before, after, diff = result["before"], result["after"], result["diff"]
    assert result["correction"]["status"] == "accepted"
    assert result["as_of"] == AS_OF
    assert before["probability"] != after["probability"]
    assert diff["probability_change"] == pytest.approx(
        after["probability"] - before["probability"], abs=1e-6
    )
    assert diff["level_changed"] == (before["risk_level"] != after["risk_level"])
    assert desk.store.open_contests([family]) == set()

    # both versions in the audit log, with the correction's id, the chain intact
    requested, accepted = _correction_entries(desk)
    assert (requested["decision"], accepted["decision"]) == ("requested", "accepted")
    assert accepted["score_id"] == f"correction:{correction_id}:accepted"
    assert accepted["reason"] == correction_id and accepted["family_id"] == family
    assert accepted["token_id"] == OFFICER.token_id and accepted["role"] == "registry_officer"
    assert accepted["probability"] == pytest.approx(after["probability"])
    assert accepted["risk_level"] == after["risk_level"]
    assert accepted["reasons"] == after["reasons"]
    logged = accepted["detail"]
    assert isinstance(logged, dict)
    assert logged["before"] == before and logged["after"] == after and logged["diff"] == diff
    assert logged["correction"]["correction_id"] == correction_id
    assert desk.audit_log.verify().intact

    # the caseworker sees the diff
    (listed,) = desk.list(principal=CASEWORKER, family_id=family)
    assert listed["status"] == "accepted" and listed["diff"] == diff
    assert listed["before"] == before and listed["after"] == after

    # the family's explanation record shows the correction, in its language, and logs it
    dossiers = DossierDesk(
        desk.engine,
        open_contests=desk.store.open_contests,
        corrections_of=lambda fid: [c.to_dict() for c in desk.store.list(family_ids=[fid])],
    )
    made = dossiers.produce(
        family_id=family, lang="ru", fmt="html", principal=CASEWORKER, request_id="r6"
    )
    page = made.content.decode()
    assert "Исправления ваших записей" in page and f"Запись {event_id}" in page
    assert "принято; оценка проведена заново" in page
    assert "Сейчас рассматривается исправление" not in page  # decided: no longer contested
    (entry,) = desk.audit_log.page(limit=1000, kind="dossier")
    assert entry["detail"]["corrections"] == [correction_id]

    # decided once
    with pytest.raises(CorrectionRefused) as twice:
        desk.decide(correction_id, "rejected", principal=OFFICER, request_id="r5", today=TODAY)
    assert twice.value.field == "correction_id"
    assert len(_correction_entries(desk)) == 2


def test_a_family_outside_the_callers_regions_reads_as_unknown(desk: CorrectionDesk) -> None:
    scoped = Principal("c0ffee000002", "caseworker", regions=frozenset({"nowhere"}))
    request = {
        "family_id": "F00001",
        "record_table": "events",
        "record_id": "E1",
        "action": "void",
        "document_ref": "x",
    }
    with pytest.raises(CorrectionRefused) as refused:
        desk.file(request, principal=scoped, request_id="r", today=TODAY)
    assert refused.value.field == "family_id" and "in your regions" in str(refused.value)
    assert desk.store.list() == []


def test_the_role_matrix_lets_a_registry_officer_decide_corrections_and_nothing_else() -> None:
    assert PERMISSIONS["registry_officer"] == frozenset({"correction"})
    assert "correction" in PERMISSIONS["caseworker"]
    assert "correction" not in PERMISSIONS["auditor"]


def test_export_writes_the_services_corrections_into_a_raw_directory(tmp_path: Path) -> None:
    """`earlyrisk correction export`: the decided corrections become the raw directory's
    corrections.parquet (a registry officer's token; a caseworker's is refused)."""
    from typer.testing import CliRunner

    from earlyrisk.cli import app
    from features.corrections import read_corrections
    from serving.store.tokens import SqlTokenStore

    store = SqlCorrectionStore(tmp_path / "corrections.sqlite")  # beside the audit log
    made = store.add(_new(), requested_by="c0ffee000001", today=TODAY)
    store.decide(made.correction_id, status="accepted", decided_by="o", today=TODAY)
    store.close()
    tokens = SqlTokenStore(tmp_path / "tokens.sqlite")
    officer, caseworker = tokens.create("registry_officer"), tokens.create("caseworker")
    tokens.close()
    raw = tmp_path / "raw"
    raw.mkdir()
    env = {
        "COLUMNS": "400",
        "EARLYRISK_TOKEN_DB_PATH": str(tmp_path / "tokens.sqlite"),
        "EARLYRISK_AUDIT_LOG_PATH": str(tmp_path / "audit.sqlite"),
        "EARLYRISK_SECURITY_LOG_PATH": str(tmp_path / "security.sqlite"),
    }
    command = ["correction", "export", "--out", str(raw), "--token"]
    refused = CliRunner().invoke(app, [*command, caseworker.token], env=env)
    assert refused.exit_code == 1 and "may not export" in refused.output
    assert not (raw / "corrections.parquet").exists()
    done = CliRunner().invoke(app, [*command, officer.token], env=env)
    assert done.exit_code == 0, done.output
    frame = read_corrections(raw)
    assert frame["correction_id"].tolist() == [made.correction_id]
    assert frame["status"].tolist() == ["accepted"]
    assert str(frame["decided_date"].iat[0].date()) == "2024-08-01"
