"""Benchmark: explained scores per second with 16 clients, two replicas on PostgreSQL
against one replica on SQLite, in one run (issue 14, "Must reach").

Builds the serving benchmark's world (:func:`benchmarks.serving._build_world`: a
100-tree LightGBM champion, 20,000 families), then:

1. one real ``bentoml serve`` process on the SQLite files (the default);
2. a throwaway PostgreSQL server (:mod:`serving.throwaway_pg`, Debian's binaries) and two
   ``bentoml serve`` processes on it (``EARLYRISK_DATABASE_URL``), the 16 clients split
   8 and 8 between them.

Each load is 2,000 one-family ``/score`` requests; afterwards the audit log must hold
exactly the scores served with an intact chain (printed). The two replicas share this
machine's cores, so the figure shows the cost of the shared database, not the gain of a
second machine. Run: ``python -m benchmarks.replicas``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from benchmarks.serving import (
    CONCURRENT_CLIENTS,
    CONCURRENT_REQUESTS,
    _build_world,
    concurrent_load,
)

WORKERS_PER_REPLICA = 1


def _warm(urls: list[str], headers: dict[str, str], ids: list[str]) -> None:
    import httpx

    for url in urls:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for i in range(20):
                client.post("/score", json={"family_ids": [ids[i]]})


def _sqlite_run(env: dict[str, str], root: Path, ids: list[str]) -> dict[str, float]:
    from serving.local_server import begin_audit_log, start_local_server
    from serving.store.audit_log import AuditLog
    from serving.store.tokens import SqlTokenStore

    token = SqlTokenStore(env["EARLYRISK_TOKEN_DB_PATH"]).create("caseworker").token
    headers = {"Authorization": f"Bearer {token}"}
    run_env = {**env, "EARLYRISK_WORKERS": str(WORKERS_PER_REPLICA)}
    begin_audit_log(run_env)
    server = start_local_server(run_env, root / "sqlite_server.log", timeout=180)
    try:
        _warm([server.url], headers, ids)
        figures = asyncio.run(concurrent_load([server.url], headers, ids))
    finally:
        server.stop(timeout=30)
    log = AuditLog(env["EARLYRISK_AUDIT_LOG_PATH"])
    report = log.verify()
    log.close()
    figures.update(logged=report.entries, intact=float(report.intact))
    return figures


def _postgres_run(env: dict[str, str], root: Path, ids: list[str]) -> dict[str, float]:
    from serving.local_server import begin_audit_log, start_local_server
    from serving.store.audit_log_pg import PostgresAuditLog
    from serving.store.tokens import SqlTokenStore
    from serving.throwaway_pg import PostgresServer, new_root

    pg = PostgresServer(new_root())
    pg.init()
    pg.start()
    pg.wait_ready()
    servers = []
    try:
        url = pg.create_database("earlyrisk")
        store = SqlTokenStore(url)
        headers = {"Authorization": f"Bearer {store.create('caseworker').token}"}
        store.close()
        for name in ("a", "b"):
            folder = root / f"replica_{name}"
            folder.mkdir()
            run_env = {
                **env,
                "EARLYRISK_DATABASE_URL": url,
                "EARLYRISK_WORKERS": str(WORKERS_PER_REPLICA),
                "EARLYRISK_LOOKUP_DB_PATH": str(folder / "lookup.sqlite"),
                "BENTOML_HOME": str(folder / "bentoml_home"),
            }
            begin_audit_log(run_env)
            servers.append(start_local_server(run_env, folder / "server.log", timeout=240))
        urls = [s.url for s in servers]
        _warm(urls, headers, ids)
        figures = asyncio.run(concurrent_load(urls, headers, ids))
        for server in servers:
            server.stop(timeout=30)
        servers.clear()
        log = PostgresAuditLog(url)
        report = log.verify()
        log.close()
        figures.update(logged=report.entries, intact=float(report.intact))
        return figures
    finally:
        for server in servers:
            server.stop(timeout=30)
        pg.destroy()


def main() -> None:
    """Build the world, run both set-ups one after the other, print a table."""
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory(prefix="earlyrisk-bench-replicas-") as tmp:
        root = Path(tmp)
        env, _, frame = _build_world(root)
        ids = [str(i) for i in frame["family_id"]]  # type: ignore[index]  # a DataFrame
        lite = _sqlite_run(env, root, ids)
        pg = _postgres_run(env, root, ids)

    try:
        load = f", load average {os.getloadavg()[0]:.1f}"
    except OSError:
        load = ""
    c = CONCURRENT_CLIENTS
    table = Table(
        title=f"replicas benchmark: {c} clients, {CONCURRENT_REQUESTS} one-family /score "
        f"requests, {WORKERS_PER_REPLICA} worker per replica, {os.cpu_count()} cores{load}"
    )
    table.add_column("measure")
    table.add_column("1 replica, SQLite", justify="right")
    table.add_column("2 replicas, PostgreSQL", justify="right")
    served = CONCURRENT_REQUESTS + 20  # the warm-up requests are logged too
    rows = [
        (f"{c} clients: explained scores/s", lambda r: f"{r['scores_per_s']:.0f}"),
        (f"{c} clients: p50 / p99 (ms)", lambda r: f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f}"),
        ("errors", lambda r: f"{r['errors']:.0f}"),
    ]
    for label, fmt in rows:
        table.add_row(label, fmt(lite), fmt(pg))
    table.add_row(
        "audit entries / scores served",
        f"{lite['logged']:.0f} / {served}",
        f"{pg['logged']:.0f} / {served + 20}",
    )
    table.add_row("audit chain", *("intact" if r["intact"] else "BROKEN" for r in (lite, pg)))
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
