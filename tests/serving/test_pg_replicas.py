"""Two real `bentoml serve` replicas on one PostgreSQL database (issue 14, item 3).

Both serve; 16 clients split between them leave one audit log with every served score
once and an intact chain; a token revoked through one replica's store is refused by both;
with the database stopped both answer 503 and nothing is logged, and both recover when it
is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from serving_world import ServingWorld, auth, review_sign_in

from serving.i18n.events import DECISION_NAME
from serving.local_server import LocalServer, begin_audit_log, start_local_server
from serving.review import SESSION_COOKIE, csrf_for
from serving.store.audit_log_pg import PostgresAuditLog
from serving.store.tokens import SqlTokenStore

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture
def replicas(
    serving_world: ServingWorld, postgres_url: str
) -> Iterator[tuple[list[LocalServer], str]]:
    """Two replicas on one database, started side by side: each start mostly waits on its
    own imports and the database, so the second need not wait for the first (the log is
    begun once, before either starts, as `earlyrisk serve --new-log` on one replica does)."""
    envs = []
    for name in ("a", "b"):
        folder = serving_world.root / f"replica_{name}_{postgres_url.rsplit('/', 1)[1]}"
        folder.mkdir()
        envs.append(
            {
                **serving_world.env,
                "EARLYRISK_DATABASE_URL": postgres_url,
                # per-replica files that stay local: the region index beside this path
                "EARLYRISK_LOOKUP_DB_PATH": str(folder / "lookup.sqlite"),
                "BENTOML_HOME": str(folder / "bentoml_home"),
            }
        )
    begin_audit_log(envs[0])
    with ThreadPoolExecutor(max_workers=2) as pool:
        starting = [
            pool.submit(
                start_local_server,
                env,
                Path(env["BENTOML_HOME"]).with_name("bentoml.log"),
                timeout=180,
            )
            for env in envs
        ]
    servers: list[LocalServer] = []
    failures: list[BaseException] = []
    for future in starting:
        try:
            servers.append(future.result())
        except Exception as exc:  # the other replica is stopped below, then this is raised
            failures.append(exc)
    try:
        if failures:
            raise failures[0]
        yield servers, postgres_url
    finally:
        for server in servers:
            server.stop()


def _score(server: LocalServer, token: str, families: list[str]) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return client.post("/score", json={"family_ids": families}, headers=auth(token))


def _entries(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM audit_entries").fetchone()[0])


def test_two_replicas_share_one_audit_log_tokens_and_fail_closed(replicas, postgres_server) -> None:
    servers, url = replicas
    store = SqlTokenStore(url)
    log = PostgresAuditLog(url)
    try:
        token = store.create("caseworker").token
        ids = [f"F{i:05d}" for i in range(40)]

        def one(i: int) -> set[str]:
            server = servers[i % 2]  # 16 clients: 8 on each replica
            response = _score(server, token, [ids[i % 40], ids[(i * 7) % 40]])
            assert response.status_code == 200, response.text
            return {r["score_id"] for r in response.json()["results"]}

        with ThreadPoolExecutor(max_workers=16) as pool:
            served = set().union(*pool.map(one, range(160)))
        # a family named twice in one request is scored once
        assert len(served) == sum(len({ids[i % 40], ids[(i * 7) % 40]}) for i in range(160))
        report = log.verify()
        assert report.intact and report.entries == len(served)
        with psycopg.connect(url) as conn:
            logged = {r[0] for r in conn.execute("SELECT score_id FROM audit_entries")}
        assert logged == served  # none lost, none extra; seq is the primary key: none twice

        # a family reviewed on PostgreSQL (issue 12): a decision recorded through one replica
        # is in the history /family answers through the other, and every view is on the log
        scored = _score(servers[0], token, ["F00003"]).json()["results"][0]
        assert scored["status"] == "scored", scored
        with httpx.Client(base_url=servers[1].url, timeout=30, headers=auth(token)) as client:
            decided = client.post(
                "/feedback",
                json={"score_id": scored["score_id"], "decision": "referred", "reason": "ok"},
            )
            assert decided.status_code == 200, decided.text
            family = client.post("/family", json={"family_id": "F00003", "lang": "ru"})
        assert family.status_code == 200, family.text
        [latest, *earlier] = family.json()["history"]
        assert latest["score_id"] == scored["score_id"] and earlier  # scored by both replicas
        assert [(d["decision"], d["current"]) for d in latest["decisions"]] == [("referred", True)]
        # a review session made through one replica is known to the other (the sessions
        # are in the database), and signing out through it ends the session for both
        with httpx.Client(base_url=servers[1].url, timeout=30) as client:
            session_id = review_sign_in(client, token)
        with httpx.Client(base_url=servers[0].url, timeout=30) as client:
            client.cookies.set(SESSION_COOKIE, session_id, path="/review")
            page = client.get("/review", params={"family_id": "F00003"})
            out = client.post("/review/signout", data={"csrf": csrf_for(session_id)})
            assert out.status_code in (200, 303)
        assert page.status_code == 200, page.text
        assert DECISION_NAME["referred"]["en"] in page.text
        with httpx.Client(base_url=servers[1].url, timeout=30) as client:
            client.cookies.set(SESSION_COOKIE, session_id, path="/review")
            replayed = client.get("/review", params={"family_id": "F00003"})
        assert replayed.status_code == 401
        with psycopg.connect(url) as conn:  # the refusal is in the shared security log
            (event,) = conn.execute(
                "SELECT event, endpoint FROM security_events WHERE request_id = %s",
                (replayed.headers["x-request-id"],),
            ).fetchall()
        assert event == ("unauthenticated", "review")
        with psycopg.connect(url) as conn:
            views = conn.execute(
                "SELECT family_id, endpoint FROM audit_entries WHERE kind = 'view' ORDER BY seq"
            ).fetchall()
        assert views == [("F00003", "family"), ("F00003", "review")]
        assert log.verify().intact

        # a token revoked through one replica's store (the CLI does the same) is refused by both
        doomed = store.create("caseworker")
        assert all(_score(s, doomed.token, ["F00001"]).status_code == 200 for s in servers)
        assert store.revoke(doomed.token_id)
        assert [_score(s, doomed.token, ["F00001"]).status_code for s in servers] == [401, 401]

        # the database goes away: both refuse (503), nothing unlogged is served
        before = _entries(url)
        postgres_server.stop()
        try:
            statuses = [_score(s, token, ["F00002"]).status_code for s in servers]
            ready = [httpx.get(f"{s.url}/readyz", timeout=30).status_code for s in servers]
        finally:
            postgres_server.start()
            postgres_server.wait_ready()
        assert statuses == [503, 503]
        assert ready == [503, 503]
        assert _entries(url) == before
        # back: both serve again, and what they serve is on record
        after = [_score(s, token, ["F00003"]) for s in servers]
        assert [r.status_code for r in after] == [200, 200], [r.text for r in after]
        assert _entries(url) == before + 2
        assert log.verify().intact
    finally:
        log.close()
        store.close()
