"""Served statistics: the counts the service keeps give the same drift figures as the rows
they came from, hold no family id or value, suppress small groups, add up across replicas
(PostgreSQL) and, when a write fails, are counted as missing rather than refusing a score."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from private_modes import mode, usual_umask
from serving_world import AS_OF_DATES, snapshot_frame, train_model

from serving.monitor.config import MonitorConfig
from serving.monitor.drift import feature_drift, multivariate_drift, score_drift
from serving.monitor.report_html import render_html
from serving.monitor.served import ServedStatsSourceError, choose_version, monitor_served
from serving.monitor.tracking import monitoring_metrics
from serving.store.served_stats import (
    ServedStatsAccumulator,
    ServedStatsError,
    ServedStatsRecorder,
    SqlServedStatsStore,
    served_document,
)
from training.config import CapacityConfig
from training.reference_stats import ReferenceStats, compute_reference_stats

DAY = datetime.now(UTC).date()  # the scoring day the recorder stamps
CONFIG = MonitorConfig(n_boot=0)


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, object, ReferenceStats]:
    frame = snapshot_frame(n_families=600)
    model = train_model(frame)
    reference = frame.loc[frame["as_of"] == pd.Timestamp(AS_OF_DATES[0])].reset_index(drop=True)
    stats = compute_reference_stats(
        reference, model=model, capacity=CapacityConfig(fraction=0.1), source="test", label=None
    )
    current = frame.loc[frame["as_of"] == pd.Timestamp(AS_OF_DATES[1])].reset_index(drop=True)
    return current, model, stats


def _record(store, stats, model, frame: pd.DataFrame, *, batches: int = 3) -> None:
    recorder = ServedStatsRecorder(
        store, ServedStatsAccumulator(stats), model_name="m", model_version="1"
    )
    for part in np.array_split(np.arange(len(frame)), batches):
        rows = frame.iloc[part]
        recorder.record(
            model.feature_matrix(rows),
            model.predict_proba(rows),
            family_ids=list(rows["family_id"]),
            as_of=AS_OF_DATES[1],
        )
        groups = {c: list(rows[c].astype(str)) for c in ("audit_settlement", "audit_region")}
        # the groups the service reads from its index, added here as the engine would
        store.add(
            model_name="m",
            model_version="1",
            served_on=DAY.isoformat(),
            as_of="groups-only",
            rows=[
                r
                for r in recorder.accumulator.increments(
                    model.feature_matrix(rows), model.predict_proba(rows), groups=groups
                )
                if r[0].startswith("group_")
            ],
        )
    assert recorder.flush()
    assert recorder.unrecorded_batches == 0


def test_served_counts_give_the_drift_figures_of_the_rows_themselves(world, tmp_path: Path):
    current, model, stats = world
    store = SqlServedStatsStore(tmp_path / "served.sqlite")
    _record(store, stats, model, current)
    doc = served_document(store, since=date(2000, 1, 1), until=date(2100, 1, 1))
    scored = [p for p in doc["periods"] if p["snapshot_as_of"] == AS_OF_DATES[1]]
    assert len(scored) == 1 and scored[0]["n"] == len(current)
    body = monitor_served(stats, {**doc, "periods": scored}, name="m", version="1", config=CONFIG)
    matrix = model.feature_matrix(current)
    probability = model.predict_proba(current)
    direct = feature_drift(stats.features, matrix, config=CONFIG)
    for served, rows in zip(body["drift"]["features"], direct, strict=True):
        assert served["name"] == rows["name"]
        assert served["value"] == pytest.approx(rows["value"], abs=1e-12)
        assert served["drifted"] == rows["drifted"]
    k = stats.capacity.k(len(current))
    score = score_drift(stats, probability, k=k, config=CONFIG)
    assert body["drift"]["score"]["value"] == pytest.approx(score["value"], abs=1e-12)
    assert body["drift"]["score"]["selection_rate_at_reference_threshold"] == pytest.approx(
        score["selection_rate_at_reference_threshold"]
    )
    multi = multivariate_drift(stats.multivariate, matrix, n_reference=stats.n_rows, config=CONFIG)
    assert body["drift"]["multivariate"]["value"] == pytest.approx(multi["value"], rel=1e-9)
    # performance cannot come from counts: null with the reason, and never a pass
    assert body["performance"]["estimated"] is None and body["performance"]["realized"] is None
    (perf,) = [c for c in body["checks"] if c["check"] == "performance"]
    assert perf["status"] == "not_evaluable" and "probabilit" in perf["evidence"]
    metrics = monitoring_metrics(body)  # what the MLflow monitoring run logs
    assert metrics["drift.score.psi"] == pytest.approx(score["value"], abs=1e-12)
    assert not any(name.startswith(("estimated.", "realized")) for name in metrics)
    html = render_html(
        {**body, "model": {"name": "m", "version": "1"}, "config": {}, "source": "served_stats"}
    )
    assert "Served statistics hold counts" in html and "On served statistics" in html


def test_a_shifted_indicator_in_what_was_served_is_flagged(world, tmp_path: Path):
    current, model, stats = world
    name = stats.features[0].name
    shifted = current.assign(**{name: current[name] * 3 + 5})
    store = SqlServedStatsStore(tmp_path / "served.sqlite")
    _record(store, stats, model, shifted)
    doc = served_document(store, since=DAY, until=DAY, as_of=AS_OF_DATES[1])
    body = monitor_served(stats, doc, name="m", version="1", config=CONFIG)
    flagged = {f["name"] for f in body["drift"]["features"] if f["drifted"]}
    assert name in flagged
    assert any(a["subject"] == name for a in body["alerts"])
    unchanged = SqlServedStatsStore(tmp_path / "unchanged.sqlite")
    _record(unchanged, stats, model, current)
    quiet = monitor_served(
        stats,
        served_document(unchanged, since=DAY, until=DAY, as_of=AS_OF_DATES[1]),
        name="m",
        version="1",
        config=CONFIG,
    )
    assert name not in {f["name"] for f in quiet["drift"]["features"] if f["drifted"]}


def test_the_store_holds_no_family_id_and_small_groups_are_suppressed(world, tmp_path: Path):
    current, model, stats = world
    store = SqlServedStatsStore(tmp_path / "served.sqlite")
    _record(store, stats, model, current)
    # a group of 3 rows, under the minimum group size
    rare = current.iloc[:3]
    store.add(
        model_name="m",
        model_version="1",
        served_on=DAY.isoformat(),
        as_of="groups-only",
        rows=ServedStatsAccumulator(stats).increments(
            model.feature_matrix(rare),
            model.predict_proba(rare),
            groups={"audit_settlement": ["island"] * 3},
        ),
    )
    with sqlite3.connect(tmp_path / "served.sqlite") as conn:
        cells = conn.execute("SELECT * FROM served_stats").fetchall()
    text = " ".join(str(c) for row in cells for c in row)
    assert not any(fid in text for fid in current["family_id"])
    doc = served_document(store, since=DAY, until=DAY, as_of="groups-only")
    (period,) = doc["periods"]
    assert period["groups"]["audit_settlement"]["island"] is None
    assert period["groups"]["audit_settlement"]["urban"]["n"] >= stats.min_group_size
    body = monitor_served(stats, doc, name="m", version="1", config=CONFIG)
    cells_out = {(g["attribute"], g["group"]): g for g in body["fairness"][-1]["groups"]}
    assert cells_out[("audit_settlement", "island")]["suppressed"]
    urban = cells_out[("audit_settlement", "urban")]
    assert not urban["suppressed"] and 0 <= urban["selection_rate"]["value"] <= 1
    with pytest.raises(ServedStatsError, match="before since"):
        served_document(store, since=DAY, until=date(2026, 11, 1))


def test_the_store_files_are_owner_only(world, tmp_path: Path):
    """Counts by audit group: the database and its WAL files are 0600 from creation."""
    current, model, stats = world
    with usual_umask():
        store = SqlServedStatsStore(tmp_path / "served.sqlite")
        try:
            _record(store, stats, model, current, batches=1)
            files = sorted(p.name for p in tmp_path.iterdir())
            assert files == ["served.sqlite", "served.sqlite-shm", "served.sqlite-wal"]
            assert {name: mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
        finally:
            store.close()


def test_a_failed_write_is_counted_and_does_not_refuse_the_score(world, tmp_path: Path):
    current, model, stats = world
    store = SqlServedStatsStore(tmp_path / "served.sqlite")
    recorder = ServedStatsRecorder(
        store, ServedStatsAccumulator(stats), model_name="m", model_version="1"
    )
    store.close()
    rows = current.iloc[:5]
    recorder.record(
        model.feature_matrix(rows),
        model.predict_proba(rows),
        family_ids=list(rows["family_id"]),
        as_of=AS_OF_DATES[1],
    )
    assert recorder.flush()
    assert recorder.unrecorded_batches == 1


def test_queued_batches_are_merged_and_all_counted(world, tmp_path: Path):
    """Many one-family batches queued faster than written: each is counted exactly once."""
    current, model, stats = world
    store = SqlServedStatsStore(tmp_path / "served.sqlite")
    recorder = ServedStatsRecorder(
        store, ServedStatsAccumulator(stats), model_name="m", model_version="1", max_merge=64
    )
    matrix, probability = model.feature_matrix(current), model.predict_proba(current)
    for i in range(300):
        recorder.record(
            matrix[i : i + 1],
            probability[i : i + 1],
            family_ids=[current["family_id"][i]],
            as_of=AS_OF_DATES[1],
        )
    recorder.close()
    reopened = SqlServedStatsStore(tmp_path / "served.sqlite")
    (period,) = served_document(reopened, since=DAY, until=DAY)["periods"]
    assert period["n"] == 300 and recorder.unrecorded_batches == 0
    assert period["selected"] == float(
        np.sum(probability[:300] >= stats.score.threshold_at_capacity)
    )


def test_statistics_of_another_model_or_nothing_are_refused(world, tmp_path: Path):
    current, model, stats = world
    store = SqlServedStatsStore(tmp_path / "served.sqlite")
    _record(store, stats, model, current)
    doc = served_document(store, since=DAY, until=DAY, as_of=AS_OF_DATES[1])
    foreign = {
        **doc,
        "periods": [{**doc["periods"][0], "features": {"not_an_indicator": {"0": 5}}}],
    }
    with pytest.raises(ServedStatsSourceError, match="another model"):
        monitor_served(stats, foreign, name="m", version="1", config=CONFIG)
    with pytest.raises(ServedStatsSourceError, match="did not serve"):
        choose_version(doc, model="models:/m/7")
    assert choose_version(doc, model=None) == ("m", "1")
    empty = served_document(store, since=date(2001, 1, 1), until=date(2001, 1, 2))
    with pytest.raises(ServedStatsSourceError, match="no served statistics"):
        choose_version(empty, model=None)
    off = {**doc, "recording": False, "note": "no reference"}
    with pytest.raises(ServedStatsSourceError, match="keeps no served statistics"):
        choose_version(off, model=None)


@pytest.mark.server
@pytest.mark.slow
def test_two_replicas_add_to_one_total_in_postgresql(world, postgres_url: str):
    current, model, stats = world
    accumulator = ServedStatsAccumulator(stats)
    rows = current.iloc[:40]
    increments = accumulator.increments(model.feature_matrix(rows), model.predict_proba(rows))
    replicas = [SqlServedStatsStore(postgres_url) for _ in range(2)]

    def add(store: SqlServedStatsStore) -> None:
        for _ in range(15):
            store.add(
                model_name="m",
                model_version="1",
                served_on=DAY.isoformat(),
                as_of=AS_OF_DATES[1],
                rows=increments,
            )

    threads = [threading.Thread(target=add, args=(s,)) for s in replicas for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (period,) = served_document(replicas[0], since=DAY, until=DAY)["periods"]
    assert period["n"] == 4 * 15 * len(rows)
    one = dict(((k, n, b), v) for k, n, b, v in increments)
    name = stats.features[0].name
    for bin_, count in period["features"][name].items():
        assert count == 60 * one[("feature", name, bin_)]
    for store in replicas:
        store.close()
