"""Benchmark of shadow mode: what a second model scoring every request costs one caseworker.

Builds the serving benchmark's world (:mod:`benchmarks.serving`: 20,000 families, a
LightGBM champion of 100 trees x 15 leaves) plus a second registered version, and starts
two real `bentoml serve` processes on it at once: one on the champion alone, one with
``--shadow`` (EARLYRISK_SHADOW_MODEL_URI). One client then alternates single-family
``/score`` requests between the two, so any load the machine is under falls on both alike,
and the p50 latencies and their ratio are printed, with the shadow entries counted
(one per score) and every response checked for a shadow score (there must be none).

Target (issue 24): the shadow adds at most 1.5x the single model's p50 latency.
Run: ``python -m benchmarks.shadow [REQUESTS]`` (default 400 per server).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.serving import BENCH_TREES, MODEL_NAME, N_FAMILIES, _build_world, register_champion

REQUESTS = 400
WARM_UP = 20
TARGET_RATIO = 1.5


def _register_shadow(root: Path, frame: Any) -> str:
    """Version 2 of the benchmark model, on another label draw (the champion stays v1)."""
    from features.catalogue import model_input_columns

    rng = np.random.default_rng(1)
    columns = model_input_columns()
    X = frame[columns]
    margin = -2.4 + 0.45 * X[columns[0]] + 0.5 * X[columns[9]] - 0.2 * X[columns[20]]
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-margin))).astype(int)
    params = {
        "objective": "binary",
        "verbose": -1,
        "num_leaves": 15,
        "learning_rate": 0.05,
        "min_data_in_leaf": 40,
        "seed": 2,
    }
    register_champion(root, X, y, name=MODEL_NAME, params=params, trees=BENCH_TREES)
    return "2"


def _in_process(envs: dict[str, dict[str, str]], ids: list[str], requests: int) -> dict[str, float]:
    """p50 of one-family ``engine.score`` in this process, alone and with the shadow (the
    same engines the servers run, each on a copy of its audit log's directory), alternated:
    the shadow's own cost without HTTP or the other servers' noise."""
    from serving.auth import Principal
    from serving.settings import ServingSettings
    from serving.startup import start_engine

    engines = {}
    for name, env in envs.items():
        fields: dict[str, Any] = {
            k.removeprefix("EARLYRISK_").lower(): v
            for k, v in env.items()
            if k.startswith("EARLYRISK_")
        }
        engines[name] = start_engine(ServingSettings(**fields))
    principal = Principal(token_id="bench", role="caseworker")
    lat: dict[str, list[float]] = {name: [] for name in engines}
    try:
        for i in range(requests + WARM_UP):
            fid = ids[(i * 104729) % len(ids)]
            for name in ("single", "shadow") if i % 2 == 0 else ("shadow", "single"):
                started = time.perf_counter()
                engines[name].score([fid], as_of=None, principal=principal, request_id="b")
                if i >= WARM_UP:
                    lat[name].append((time.perf_counter() - started) * 1000)
    finally:
        for engine in engines.values():
            engine.close()
    return {name: float(np.percentile(v, 50)) for name, v in lat.items()}


def main(requests: int = REQUESTS) -> None:
    """Serve with and without a shadow side by side, alternate requests, print the ratio."""
    import httpx

    from serving.local_server import begin_audit_log, start_local_server
    from serving.store.tokens import SqlTokenStore

    with tempfile.TemporaryDirectory(prefix="earlyrisk-bench-shadow-") as tmp:
        root = Path(tmp)
        env, _model, built = _build_world(root)
        frame: Any = built
        shadow_version = _register_shadow(root, frame)
        token = SqlTokenStore(env["EARLYRISK_TOKEN_DB_PATH"]).create("caseworker").token
        headers = {"Authorization": f"Bearer {token}"}
        # eligible families only (the default rule: a child in the household), so every
        # request is an explained, logged score and its shadow's
        from features.eligibility import EligibilityRule

        ids = list(frame.loc[EligibilityRule().mask(frame), "family_id"])
        envs = {}
        for name, extra in (
            ("single", {}),
            ("shadow", {"EARLYRISK_SHADOW_MODEL_URI": f"models:/{MODEL_NAME}/{shadow_version}"}),
        ):
            envs[name] = {
                **env,
                **extra,
                # the champion is pinned: registering the shadow moved the alias to v2
                "EARLYRISK_MODEL_URI": f"models:/{MODEL_NAME}/1",
                "EARLYRISK_AUDIT_LOG_PATH": str(root / f"audit_{name}.sqlite"),
                "EARLYRISK_LOOKUP_DB_PATH": str(root / f"lookup_{name}.sqlite"),
                "EARLYRISK_SECURITY_LOG_PATH": str(root / f"security_{name}.sqlite"),
                "EARLYRISK_MODEL_RELOAD_INTERVAL_S": "0",
                "BENTOML_HOME": str(root / f"bentoml_{name}"),
            }
            begin_audit_log(envs[name])
        servers = {}
        try:
            for name, server_env in envs.items():
                servers[name] = start_local_server(server_env, root / f"{name}.log", timeout=240)
            latencies: dict[str, list[float]] = {name: [] for name in servers}
            leaked = 0
            clients = {
                name: httpx.Client(base_url=s.url, headers=headers, timeout=30)
                for name, s in servers.items()
            }
            try:
                for i in range(requests + WARM_UP):
                    body = {"family_ids": [ids[(i * 7919) % len(ids)]]}
                    order = ("single", "shadow") if i % 2 == 0 else ("shadow", "single")
                    for name in order:
                        started = time.perf_counter()
                        r = clients[name].post("/score", json=body)
                        elapsed = time.perf_counter() - started
                        assert r.status_code == 200, r.text
                        leaked += "shadow" in r.text.lower()
                        if i >= WARM_UP:
                            latencies[name].append(elapsed * 1000)
            finally:
                for client in clients.values():
                    client.close()
        finally:
            for server in servers.values():
                server.stop(timeout=30)
        counts = {}
        for name, server_env in envs.items():
            with sqlite3.connect(server_env["EARLYRISK_AUDIT_LOG_PATH"]) as conn:
                counts[name] = dict(
                    conn.execute(
                        "SELECT kind, COUNT(*) FROM audit_entries "
                        "WHERE kind IN ('score', 'shadow') GROUP BY kind"
                    ).fetchall()
                )
        in_process = _in_process(envs, ids, requests)
    p50 = {name: float(np.percentile(lat, 50)) for name, lat in latencies.items()}
    p99 = {name: float(np.percentile(lat, 99)) for name, lat in latencies.items()}
    ratio = p50["shadow"] / p50["single"]
    try:
        load = f", load average {os.getloadavg()[0]:.1f}"
    except OSError:
        load = ""
    print(
        f"shadow benchmark: two real bentoml servers side by side, {N_FAMILIES:,} families, "
        f"LightGBM {BENCH_TREES} trees x 15 leaves, {requests} alternating one-family "
        f"/score requests each, {os.cpu_count()} cores{load}"
    )
    print(f"  champion alone : p50 {p50['single']:.2f} ms  p99 {p99['single']:.2f} ms")
    print(f"  with --shadow  : p50 {p50['shadow']:.2f} ms  p99 {p99['shadow']:.2f} ms")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"  p50 ratio shadow / alone: {ratio:.2f}x ({verdict} the target <= {TARGET_RATIO}x)")
    print(
        f"  audit log with --shadow: {counts['shadow'].get('score', 0)} score entries, "
        f"{counts['shadow'].get('shadow', 0)} shadow entries; without: "
        f"{counts['single'].get('shadow', 0)} shadow entries"
    )
    print(f"  responses carrying a shadow score: {leaked} (target 0)")
    print(
        f"  in-process engine.score (no HTTP), p50: alone {in_process['single']:.3f} ms, with "
        f"the shadow {in_process['shadow']:.3f} ms "
        f"({in_process['shadow'] / in_process['single']:.2f}x; the shadow's own work "
        f"{in_process['shadow'] - in_process['single']:.3f} ms)"
    )
    if counts["shadow"].get("shadow", 0) != counts["shadow"].get("score", 0):
        raise SystemExit("the shadow did not score every request")
    if leaked:
        raise SystemExit("a response carried a shadow score")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REQUESTS)
