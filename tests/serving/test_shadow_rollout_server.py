"""Shadow mode and a staged rollout on a real `bentoml serve` process.

One server runs the champion (v1) with v2 as its shadow, and a rollout whose region North
has half its families in the display hold-out and whose region South is served by v2.
Nothing a caseworker receives ever carries a shadow score; every score has its shadow
entry, computed by v2; the hold-out hides the level on /score, /family and the review
page; the assignment sealed in the audit log replays exactly, and a tampered arm does not.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serving_world import (
    MODEL_NAME,
    ServingWorld,
    auth,
    build_world,
    log_version,
    review_sign_in,
    running_server,
    snapshot_frame,
    train_model,
)

from features.catalogue import model_input_columns
from serving.local_server import LocalServer, begin_audit_log
from serving.rollout import RolloutConfig, assign, replay
from training.tracking import TrackingStore

pytestmark = pytest.mark.server

FAMILIES = [f"F{i:05d}" for i in range(40)]


def register_version(world: ServingWorld, *, seed: int) -> tuple[str, object]:
    """Another registered version of the world's model (not champion) and the model."""
    frame = snapshot_frame(seed=seed)
    model = train_model(frame)
    store = TrackingStore(world.tracking_uri)
    with store.run(store.experiment("serving-test")) as run:
        version = log_version(run, model, frame)
    return version, model


ROLLOUT = {
    "cycle": "2025-Q1",
    "seed": 7,
    "regions": {"North": {"holdout_share": 0.5}, "South": {"version": None}},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ServingWorld:
    return build_world(tmp_path_factory.mktemp("shadow_world"))


@pytest.fixture(scope="module")
def shadow(world: ServingWorld) -> tuple[str, object]:
    return register_version(world, seed=31)


@pytest.fixture(scope="module")
def rollout(world: ServingWorld, shadow: tuple[str, object]) -> RolloutConfig:
    doc = json.loads(json.dumps(ROLLOUT))
    doc["regions"]["South"]["version"] = shadow[0]  # South is served by v2
    return RolloutConfig.model_validate(doc)


@pytest.fixture(scope="module")
def tokens(world: ServingWorld) -> dict[str, str]:
    store = world.tokens()
    return {role: store.create(role).token for role in ("caseworker", "auditor")}


@pytest.fixture(scope="module")
def server(
    world: ServingWorld, shadow: tuple[str, object], rollout: RolloutConfig
) -> Iterator[LocalServer]:
    root = world.root / "server"
    root.mkdir()
    config = root / "rollout.yaml"
    config.write_text(json.dumps(rollout.model_dump(mode="json")))  # JSON is YAML
    env = {
        **world.env,
        "EARLYRISK_SHADOW_MODEL_URI": f"models:/{MODEL_NAME}/{shadow[0]}",
        "EARLYRISK_ROLLOUT_CONFIG_PATH": str(config),
        "EARLYRISK_MODEL_RELOAD_INTERVAL_S": "0",
        "EARLYRISK_QUOTA_REQUESTS_PER_MINUTE": "1000000",
        "EARLYRISK_QUOTA_FAMILIES_PER_MINUTE": "1000000",
        "EARLYRISK_AUTH_FAILURE_LIMIT": "1000000",
        "EARLYRISK_SECURITY_LOG_PATH": str(root / "security_log.sqlite"),
        "BENTOML_HOME": str(root / "bentoml_home"),
    }
    with running_server(env, root) as server:
        yield server


def _entries(server: LocalServer, token: str, kind: str | None = None) -> list[dict]:
    out: list[dict] = []
    after = 0
    while True:
        body = {"after_seq": after, "limit": 1000, **({"kind": kind} if kind else {})}
        page = httpx.post(f"{server.url}/audit_log", json=body, headers=auth(token), timeout=30)
        assert page.status_code == 200, page.text
        out.extend(page.json()["entries"])
        if page.json()["next_after_seq"] is None:
            return out
        after = page.json()["next_after_seq"]


def _post(server: LocalServer, path: str, body: dict, token: str) -> str:
    """One caseworker call that must succeed; its response text."""
    r = httpx.post(f"{server.url}{path}", json=body, headers=auth(token), timeout=60)
    assert r.status_code == 200, r.text
    return r.text


@pytest.fixture(scope="module")
def traffic(server: LocalServer, tokens: dict[str, str], world: ServingWorld) -> list[str]:
    """Responses to caseworker calls: /score (two batches), /score_indicators, /family."""
    token = tokens["caseworker"]
    texts = [
        _post(server, "/score", {"family_ids": b}, token) for b in (FAMILIES[:20], FAMILIES[20:])
    ]
    row = world.frame.loc[world.frame["family_id"] == "F00001"].iloc[-1]
    indicators = {c: (None if np.isnan(row[c]) else float(row[c])) for c in model_input_columns()}
    texts.append(_post(server, "/score_indicators", {"indicators": indicators}, token))
    texts += [_post(server, "/family", {"family_id": fid}, token) for fid in FAMILIES[:6]]
    return texts


@dataclass(frozen=True)
class Live:
    """The module's server after its traffic, with what made it: what most tests here read."""

    world: ServingWorld
    server: LocalServer
    tokens: dict[str, str]
    shadow: tuple[str, object]
    rollout: RolloutConfig
    traffic: list[str]

    def entries(self, kind: str | None = None) -> list[dict]:
        """The server's audit entries (of ``kind``), read as an auditor over /audit_log."""
        return _entries(self.server, self.tokens["auditor"], kind)


@pytest.fixture(scope="module")
def live(
    world: ServingWorld,
    server: LocalServer,
    tokens: dict[str, str],
    shadow: tuple[str, object],
    rollout: RolloutConfig,
    traffic: list[str],
) -> Live:
    return Live(world, server, tokens, shadow, rollout, traffic)


def _region(world: ServingWorld, fid: str) -> str:
    return str(world.frame.loc[world.frame["family_id"] == fid, "audit_region"].iloc[-1])


def test_no_response_carries_a_shadow_score(live: Live) -> None:
    shadows = live.entries("shadow")
    assert shadows, "the shadow scored nothing"
    for text in live.traffic:
        assert "shadow" not in text.lower()
        body = json.loads(text)
        results = body.get("results") or [body]
        served_ids = {r.get("score_id") for r in results}
        # no shadow entry's id (nor the id it is filed under) is ever a served score's id
        assert not served_ids & {e["score_id"] for e in shadows}


def test_every_score_has_its_shadow_entry_scored_by_v2(live: Live) -> None:
    entries = live.entries()
    scores = {e["score_id"]: e for e in entries if e["kind"] == "score"}
    shadows = [e for e in entries if e["kind"] == "shadow"]
    assert len(scores) == len(shadows) >= 30
    assert {e["detail"]["shadows"] for e in shadows} == set(scores)
    version, model = live.shadow
    last = live.world.frame.loc[live.world.frame["as_of"] == live.world.frame["as_of"].max()]
    for entry in shadows:
        assert entry["model_version"] == version and entry["role"] == "shadow"
        # the champion's entry of the same family is written with it, in one transaction
        champion = scores[entry["detail"]["shadows"]]
        assert champion["family_id"] == entry["family_id"]
        if entry["family_id"] is None:
            continue
        row = last.loc[last["family_id"] == entry["family_id"], model_input_columns()]
        expected = float(np.round(model.predict_proba(row.astype("float64"))[0], 4))  # type: ignore[attr-defined]
        assert entry["probability"] == pytest.approx(expected, abs=1e-4)


def test_rollout_serves_south_by_its_version_and_hides_the_holdout_level(live: Live) -> None:
    results = [r for text in live.traffic[:2] for r in json.loads(text)["results"]]
    held = shown = 0
    for result in results:
        fid = result["family_id"]
        region = _region(live.world, fid)
        expected = assign(live.rollout, fid, region)
        if result["status"] == "ineligible":
            continue
        assert result["model_version"] == (
            live.shadow[0] if region == "South" else live.world.model_version
        )
        if expected.withheld:
            held += 1
            assert result["status"] == "withheld"
            assert "withheld for evaluation" in result["reason"]
            assert not {"probability", "risk_level", "percentile", "reasons_raising"} & set(result)
        else:
            shown += 1
            assert result["status"] == "scored" and "risk_level" in result
    assert held >= 3 and shown >= 3
    # /family of a hold-out family: its history has no probability or level
    for text in live.traffic[3:]:
        body = json.loads(text)
        if assign(live.rollout, body["family_id"], _region(live.world, body["family_id"])).withheld:
            assert body["history"]
            assert all(
                h["probability"] is None and h["risk_level"] is None for h in body["history"]
            )


def test_review_page_hides_the_holdout_level(live: Live) -> None:
    north = [f for f in FAMILIES if _region(live.world, f) == "North"]
    held = next(f for f in north if assign(live.rollout, f, "North").withheld)
    seen = next(f for f in north if not assign(live.rollout, f, "North").withheld)
    with httpx.Client(base_url=live.server.url, timeout=60) as client:
        review_sign_in(client, live.tokens["caseworker"])
        page = client.get("/review", params={"family_id": held, "lang": "en"})
        assert page.status_code == 200
        assert 'id="withheld"' in page.text and 'id="level"' not in page.text
        assert 'id="probability"' not in page.text and 'name="score_id"' in page.text
        page = client.get("/review", params={"family_id": seen, "lang": "en"})
        assert 'id="level"' in page.text and 'id="withheld"' not in page.text


def test_worklist_lists_holdout_families_without_their_level(live: Live) -> None:
    """The worklist keeps a hold-out family on the caseworker's list (its usual path: its
    status, no service withheld) but shows neither its probability nor its level; every
    other family keeps both (over POST /worklist and the page)."""
    with httpx.Client(base_url=live.server.url, timeout=60) as client:
        answer = client.post("/worklist", json={}, headers=auth(live.tokens["caseworker"]))
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        held = [i for i in items if assign(live.rollout, i["family_id"], i["region"]).withheld]
        shown = [i for i in items if not assign(live.rollout, i["family_id"], i["region"]).withheld]
        assert held and shown, (len(held), len(shown))  # the check can tell the two apart
        assert all(i["probability"] is None and i["risk_level"] is None for i in held)
        assert all(i["probability"] is not None and i["risk_level"] for i in shown)
        review_sign_in(client, live.tokens["caseworker"])
        page = client.get("/review", params={"lang": "en"}).text  # the same first page
        assert page.count("withheld for evaluation") >= len(held)


def test_sealed_assignment_replays_and_a_tampered_arm_does_not(live: Live) -> None:
    entries = live.entries()
    sealed = [e for e in entries if e["kind"] == "rollout"]
    assert sealed and sealed[0]["detail"]["config_sha256"] == live.rollout.sha256()
    first_score = min(e["seq"] for e in entries if e["kind"] == "score")
    assert sealed[0]["seq"] < first_score  # sealed before scoring
    report = replay(entries)
    assert report.ok and report.checked >= 30
    tampered = json.loads(json.dumps(entries))
    victim = next(e for e in tampered if e["kind"] == "score" and e["detail"])
    victim["detail"]["arm"] = "shown" if victim["detail"]["arm"] == "holdout" else "holdout"
    assert [m["seq"] for m in replay(tampered).mismatches] == [victim["seq"]]
    # a score whose config was never sealed before it is not replayable
    unsealed = [e for e in tampered if e["kind"] != "rollout"]
    assert replay(unsealed).unsealed


def test_changed_config_in_a_sealed_cycle_is_refused(
    traffic: list[str], world: ServingWorld, rollout: RolloutConfig, tmp_path: Path
) -> None:
    """`earlyrisk serve --check --rollout` with another config for the sealed cycle."""
    from typer.testing import CliRunner

    from earlyrisk.cli import app

    changed = rollout.model_dump(mode="json")
    changed["regions"]["North"]["holdout_share"] = 0.3
    path = tmp_path / "changed.yaml"
    path.write_text(json.dumps(changed))
    env = {**world.env, "COLUMNS": "400"}
    result = CliRunner().invoke(app, ["serve", "--check", "--rollout", str(path)], env=env)
    assert result.exit_code != 0
    assert "already sealed" in result.output


def test_serve_refuses_a_shadow_that_fails_the_champions_checks(world: ServingWorld) -> None:
    from typer.testing import CliRunner

    from earlyrisk.cli import app

    env = {**world.env, "COLUMNS": "400"}
    for uri, words in (
        (f"models:/{MODEL_NAME}/99", "no model to serve"),
        (f"models:/{MODEL_NAME}/{world.model_version}", "is the champion itself"),
    ):
        result = CliRunner().invoke(app, ["serve", "--check", "--shadow", uri], env=env)
        assert result.exit_code != 0, result.output
        assert words in result.output


def test_a_broken_shadow_never_fails_a_request(
    world: ServingWorld, shadow: tuple[str, object], tmp_path: Path
) -> None:
    """A shadow whose model raises at scoring time (a booster trained on 3 of the inputs):
    the champion's scores are served and logged, no shadow entry, the failure counted."""
    import dataclasses

    from serving.auth import Principal
    from serving.scoring import Scorer
    from serving.settings import ServingSettings
    from serving.startup import start_engine
    from training import lightgbm_adapter as lgbx
    from training.risk_model import LightGBMRiskModel

    env: dict[str, Any] = {
        k.removeprefix("EARLYRISK_").lower(): v
        for k, v in world.env.items()
        if k.startswith("EARLYRISK_")
    }
    env.update(
        audit_log_path=str(tmp_path / "audit.sqlite"),
        shadow_model_uri=f"models:/{MODEL_NAME}/{shadow[0]}",
    )
    begin_audit_log({"EARLYRISK_AUDIT_LOG_PATH": env["audit_log_path"]})
    engine = start_engine(ServingSettings(**env))
    try:
        assert engine.shadow is not None
        columns = model_input_columns()
        X = world.frame[columns[:3]].astype("float64")
        y = (np.arange(len(X)) % 2).astype(int)
        booster = lgbx.train(
            {"objective": "binary", "verbose": -1}, lgbx.dataset(X, y), num_boost_round=3
        )
        broken = LightGBMRiskModel(booster)
        broken.feature_names = list(columns)  # claims every input, was fitted on three
        working = engine.shadow
        engine.shadow = dataclasses.replace(working, scorer=Scorer(broken))
        principal = Principal(token_id="t", role="caseworker", regions=None)
        results = engine.score(FAMILIES[:5], as_of=None, principal=principal, request_id="r1")
        assert [r["status"] for r in results] == ["scored"] * 5
        assert engine.audit_log.count("score") == 5
        assert engine.audit_log.count("shadow") == 0
        assert engine.shadow_failures.count == 1
        # a log that refuses shadow entries (as one whose kind check predates them): the
        # scores are written alone
        engine.shadow = working
        with sqlite3.connect(env["audit_log_path"]) as conn:
            conn.execute(
                "CREATE TRIGGER refuse_shadow BEFORE INSERT ON audit_entries "
                "WHEN NEW.kind = 'shadow' BEGIN "
                "SELECT RAISE(ABORT, 'CHECK constraint failed: kind'); END"
            )
        results = engine.score(FAMILIES[5:8], as_of=None, principal=principal, request_id="r2")
        assert [r["status"] for r in results] == ["scored"] * 3
        assert engine.audit_log.count("score") == 8
        assert engine.audit_log.count("shadow") == 0
        assert engine.shadow_failures.count == 2
    finally:
        engine.close()


def test_shadow_report_compares_on_the_logged_traffic(live: Live, tmp_path: Path) -> None:
    from scipy.stats import spearmanr
    from typer.testing import CliRunner

    from earlyrisk.cli import app

    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "shadow-report",
            "--out",
            str(out),
            "--audit-log",
            live.world.env["EARLYRISK_AUDIT_LOG_PATH"],
            "--snapshot",
            str(live.world.snapshot_path),
            "--min-group-size",
            "3",
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "shadow_report.json").read_text())
    html = (out / "shadow_report.html").read_text()
    assert "data:image/png;base64" in html
    pairs = {(c["champion_version"], c["shadow_version"]): c for c in report["comparisons"]}
    v1, v2 = live.world.model_version, live.shadow[0]
    assert set(pairs) == {(v1, v2), (v2, v2)}  # North on v1, South served by v2 itself
    same = pairs[(v2, v2)]
    assert same["band_agreement"]["value"] == 1.0
    assert same["entering_high"]["count"] == same["leaving_high"]["count"] == 0
    # the v1/v2 figures are those of the audit entries (latest pair per family)
    entries = live.entries()
    scores = {e["score_id"]: e for e in entries if e["kind"] == "score"}
    latest: dict[object, tuple[dict, dict]] = {}
    for e in entries:
        if e["kind"] == "shadow" and scores[e["detail"]["shadows"]]["model_version"] == v1:
            s = scores[e["detail"]["shadows"]]
            key = s["family_id"] if s["family_id"] is not None else e["seq"]
            latest[key] = (s, e)
    fig = pairs[(v1, v2)]
    assert fig["n"] == len(latest)
    a = [s["probability"] for s, _ in latest.values()]
    b = [h["probability"] for _, h in latest.values()]
    assert fig["rank_correlation"]["spearman"] == pytest.approx(spearmanr(a, b).statistic)
    enter = sum(h["risk_level"] == "high" != s["risk_level"] for s, h in latest.values())
    leave = sum(s["risk_level"] == "high" != h["risk_level"] for s, h in latest.values())
    assert (fig["entering_high"]["count"], fig["leaving_high"]["count"]) == (enter, leave)
    groups = {(g["attribute"], g["group"]) for g in fig["by_group"]}
    assert ("audit_region", "North") in groups


def test_shadow_report_without_shadow_entries_says_so(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from earlyrisk.cli import app

    log = tmp_path / "audit.sqlite"
    begin_audit_log({"EARLYRISK_AUDIT_LOG_PATH": str(log)})
    result = CliRunner().invoke(
        app,
        ["shadow-report", "--out", str(tmp_path / "r"), "--audit-log", str(log)],
        env={"COLUMNS": "400", "EARLYRISK_SNAPSHOT_PATH": str(tmp_path / "none.parquet")},
    )
    assert result.exit_code == 1
    assert "no shadow entries" in result.output
