"""A real server picks up a newly promoted champion under live traffic, losing no request.

Caseworkers keep scoring while two people approve a version and a third promotes it
with `earlyrisk model`; the server's watcher swaps the new model in between requests.
Every request succeeds, each client sees the old version and then only the new one, the
switch is in the hash-chained audit log, and `/model_card` shows the approvals and waivers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from serving_world import (
    MODEL_NAME,
    ServingWorld,
    auth,
    build_world,
    log_version,
    running_server,
    snapshot_frame,
    train_model,
)
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.local_server import LocalServer
from serving.store.audit_log import open_audit_log
from training.tracking import TrackingStore

pytestmark = pytest.mark.server

REASON = "the recorded outcome of this group is biased; accepted until it is relabelled"
FAMILIES = ["F00011", "F00012", "F00013"]


def _register_challenger(world: ServingWorld) -> str:
    """Version 2: another model, trained by Dana, with a failed check (not champion)."""
    frame = snapshot_frame(seed=29)
    model = train_model(frame)
    store = TrackingStore(world.tracking_uri)
    exp = store.experiment("serving-test")
    with store.run(exp) as run:
        version = log_version(run, model, frame, trained_by="Dana", gates="failed")
        run.log_dict({"model_version": version}, "model_card/model_card.json")
        run.log_metrics({"gate.auc_margin.passed": 0.0, "gate.ece.passed": 1.0})
    return version


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> ServingWorld:
    return build_world(tmp_path_factory.mktemp("reload_world"))


@pytest.fixture(scope="module")
def server(world: ServingWorld) -> Iterator[LocalServer]:
    root = world.root / "server"
    root.mkdir()
    env = {
        **world.env,
        "EARLYRISK_MODEL_RELOAD_INTERVAL_S": "0.5",
        "BENTOML_HOME": str(root / "bentoml_home"),
    }
    with running_server(env, root) as server:
        yield server


@dataclass
class Traffic:
    """What the caseworkers' clients saw: per client, (status, versions, probability)."""

    seen: list[list[tuple[int, set[str], float | None]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def client(self, url: str, token: str) -> None:
        mine: list[tuple[int, set[str], float | None]] = []
        self.seen.append(mine)
        with httpx.Client(base_url=url, timeout=60) as http:
            while not self.stop.is_set():
                try:
                    r = http.post("/score", json={"family_ids": FAMILIES}, headers=auth(token))
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                if r.status_code != 200:
                    mine.append((r.status_code, set(), None))
                    continue
                results = r.json()["results"]
                mine.append(
                    (
                        200 if all(x["status"] == "scored" for x in results) else 500,
                        {x["model_version"] for x in results},
                        results[0]["probability"],
                    )
                )

    def versions_seen(self) -> set[str]:
        return {v for mine in self.seen for _, vs, _ in list(mine) for v in vs}


def test_promotion_under_live_traffic_loses_no_request(world, server, monkeypatch):
    v1 = world.model_version
    v2 = _register_challenger(world)
    for key, value in world.env.items():  # the CLI acts on the server's stores
        monkeypatch.setenv(key, value)
    store = world.tokens()
    caseworker = store.create("caseworker").token
    aru = store.create("approver", note="Aru").token
    bek = store.create("admin", note="Bek").token
    auditor = store.create("auditor", note="Ida").token

    traffic = Traffic()
    clients = [
        threading.Thread(target=traffic.client, args=(server.url, caseworker)) for _ in range(3)
    ]
    for c in clients:
        c.start()
    try:
        runner = CliRunner()
        waive = ["--waive", "auc_margin", "--reason", REASON]
        for args in (["approve", v2, "--token", aru, *waive], ["approve", v2, "--token", bek]):
            result = runner.invoke(app, ["model", *args])
            assert result.exit_code == 0, result.output
        # requests before the promotion are served by the champion of the day
        deadline = time.monotonic() + 60
        while v1 not in traffic.versions_seen() and time.monotonic() < deadline:
            time.sleep(0.05)
        result = runner.invoke(app, ["model", "promote", v2, "--token", bek])
        assert result.exit_code == 0, result.output
        while v2 not in traffic.versions_seen() and time.monotonic() < deadline:
            time.sleep(0.05)
        served = sum(len(m) for m in traffic.seen)
        while sum(len(m) for m in traffic.seen) < served + 30 and time.monotonic() < deadline:
            time.sleep(0.05)  # and more requests on the new champion
    finally:
        traffic.stop.set()
        for c in clients:
            c.join(60)

    assert traffic.errors == []
    outcomes = [o for mine in traffic.seen for o in mine]
    assert len(outcomes) > 30 and {status for status, _, _ in outcomes} == {200}
    for mine in traffic.seen:
        order = [vs for _, vs, _ in mine]
        assert all(len(vs) == 1 for vs in order)  # one request, one model
        first_new = next(i for i, vs in enumerate(order) if vs == {v2})
        assert all(vs == {v2} for vs in order[first_new:])  # never back to the old one
    before = {p for _, vs, p in outcomes if vs == {v1}}
    after = {p for _, vs, p in outcomes if vs == {v2}}
    assert before and after and before.isdisjoint(after)  # another model scores now

    log = open_audit_log(world.env["EARLYRISK_AUDIT_LOG_PATH"])
    try:
        assert log.verify().intact
        acts = log.page(limit=1000, kind="governance")
        scores = log.page(limit=100_000, kind="score")
    finally:
        log.close()
    assert [a["decision"] for a in acts] == ["waive", "approve", "approve", "promote", "switch"]
    switch = acts[-1]
    assert switch["model_version"] == f"{MODEL_NAME}/{v2}" and switch["detail"]["from"] == v1
    # after the switch entry only v2 scores, except requests already in flight at the swap
    # (each keeps the one model it started with): at most one per client
    after_switch = [s for s in scores if s["seq"] > switch["seq"]]
    assert v2 in {s["model_version"] for s in after_switch}
    late_old = {s["request_id"] for s in after_switch if s["model_version"] == v1}
    assert len(late_old) <= len(clients)  # a request (of several families) counts once

    with httpx.Client(base_url=server.url, timeout=30) as http:
        card = http.post("/model_card", json={}, headers=auth(auditor)).json()
        page = http.post(
            "/audit_log",
            json={"after_seq": 0, "limit": 100, "kind": "governance"},
            headers=auth(auditor),
        )
    assert page.status_code == 200, page.text  # the auditor's export carries every act
    assert [e["decision"] for e in page.json()["entries"]] == [a["decision"] for a in acts]
    assert card["model_version"] == v2
    decisions = card["card"]["decisions"]
    assert decisions["waivers"][0]["check"] == "auc_margin"
    assert decisions["waivers"][0]["reason"] == REASON
    assert {a["by"] for a in decisions["approvals"]} == {"Aru", "Bek"}
