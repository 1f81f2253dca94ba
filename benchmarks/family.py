"""Benchmark of a caseworker's family view: ``/family`` and the review page ``/review``.

Builds a world with records behind the indicators: a synthetic registry of
``N_FAMILIES`` families, its feature snapshot (fingerprinted against the raw directory, so
the service holds the records), a LightGBM champion on the snapshot's model inputs, and a
history for the benchmarked families (``HISTORY_SCORES`` scores each, a decision on every
other one). Then:

* **in-process profile**: the engine's family view (``ServingEngine.family``), the response
  model and its JSON, timed per step on ``PROFILE_CALLS`` calls, and the functions with the
  most cumulative time under cProfile, so a regression shows where it is;
* **real server** (``bentoml serve``, one worker, on 127.0.0.1): ``/score`` of one family
  (the yardstick the targets refer to), ``/family`` (JSON) and the review page of one
  family, one client, p50 / p95 / p99; the page's round trip is an upper bound of its
  server time. Measured with the audit log's default ``synchronous=FULL`` (an fsync per
  entry, every view and score is on disk before it is answered), then with ``NORMAL``, so
  the disk's share of the latency is visible.

Targets (issue 12): ``/family`` p50 < 10 ms, the review page < 100 ms.
Run: ``python -m benchmarks.family`` (also ``python -m benchmarks family``).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

N_FAMILIES = 3_000
AS_OF = "2024-06-30"
BENCH_FAMILIES = 60  # families viewed, each with a history
HISTORY_SCORES = 12  # scores per benchmarked family before the measurement
REQUESTS = 300  # per endpoint, one client, after WARM_UP
WARM_UP = 20
PROFILE_CALLS = 300
MODEL_NAME = "earlyrisk-bench-family"
# the audit log's default (an fsync per entry), then without the fsync: its share of the time
SYNC_MODES = ("FULL", "NORMAL")


def _build_world(root: Path) -> tuple[dict[str, str], list[str]]:
    """Registry, snapshot with records, champion; the server env and the families to view."""
    from benchmarks.serving import UNLIMITED_QUOTAS, register_champion, server_env
    from features.catalogue import model_input_columns
    from features.partitions import build_feature_table
    from features.snapshot_store import write_feature_table
    from features.synth import SynthConfig, synthesize

    raw = root / "raw"
    synthesize(SynthConfig(families=N_FAMILIES, seed=7), raw, workers=1)
    table = build_feature_table(raw, [AS_OF], n_jobs=1)
    snapshot = write_feature_table(table, root / "features.parquet")
    columns = model_input_columns()
    X = table.loc[:, columns].astype(float)
    rng = np.random.default_rng(0)
    margin = -2.5 + 0.3 * np.log1p(X.clip(lower=0).fillna(0)).sum(axis=1) / 4
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-margin))).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": 1}
    register_champion(root, X, y, name=MODEL_NAME, params=params, trees=100)
    env = server_env(
        root, name=MODEL_NAME, snapshot=snapshot, EARLYRISK_RAW_DIR=str(raw), **UNLIMITED_QUOTAS
    )
    # the families with the most records: the heaviest views
    needs = table.select_dtypes("number").filter(regex="^(soc|hou|edu|hea|econ)_").gt(0)
    ranked = needs.sum(axis=1).sort_values(ascending=False, kind="stable")
    families = [str(table.loc[i, "family_id"]) for i in ranked.index[: BENCH_FAMILIES * 2]]
    return env, families


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {f"p{q}": float(np.percentile(ms, q)) for q in (50, 95, 99)}


def _in_process(env: dict[str, str], families: list[str]) -> tuple[dict[str, Any], str]:
    """Per-step times of the family view in this process, and the cProfile summary."""
    from serving.auth import Principal
    from serving.engine import load_engine, new_request_id
    from serving.local_server import begin_audit_log
    from serving.schemas import FamilyResponse
    from serving.settings import ServingSettings

    for key, value in env.items():
        os.environ[key] = value
    begin_audit_log(env)
    engine = load_engine(ServingSettings())
    principal = Principal(token_id="benchbench001", role="caseworker")
    [first] = engine.score(families[:1], as_of=None, principal=principal, request_id="warm")
    del first

    def view(i: int) -> dict[str, Any]:
        fid = families[i % len(families)]
        rid = new_request_id()
        return {"request_id": rid, **engine.family(fid, as_of=None, principal=principal,
                                                    request_id=rid, lang="ru")}  # fmt: skip

    steps: dict[str, list[float]] = {"engine.family": [], "response model + JSON": []}
    for i in range(PROFILE_CALLS):
        started = time.perf_counter()
        body = view(i)
        mid = time.perf_counter()
        FamilyResponse.model_validate(body).model_dump_json()
        steps["engine.family"].append(mid - started)
        steps["response model + JSON"].append(time.perf_counter() - mid)
    figures = {name: _percentiles(times) for name, times in steps.items()}
    profile = cProfile.Profile()
    profile.enable()
    for i in range(PROFILE_CALLS):
        FamilyResponse.model_validate(view(i)).model_dump_json()
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).strip_dirs().sort_stats("cumulative")
    stats.print_stats(18)
    engine.close()
    return figures, out.getvalue()


def _fill_history(url: str, headers: dict[str, str], families: list[str]) -> None:
    import httpx

    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for round_ in range(HISTORY_SCORES):
            scored = client.post("/score", json={"family_ids": families}).json()["results"]
            for i, item in enumerate(scored):
                if item.get("status") == "scored" and (i + round_) % 2 == 0:
                    client.post(
                        "/feedback",
                        json={"score_id": item["score_id"], "decision": "no_action",
                              "reason": "benchmark"},
                    )  # fmt: skip


def _timed(call: Callable[[str], Any], families: list[str]) -> tuple[dict[str, float], int]:
    latencies, errors = [], 0
    for i in range(REQUESTS + WARM_UP):
        started = time.perf_counter()
        response = call(families[(i * 7) % len(families)])
        elapsed = time.perf_counter() - started
        if i >= WARM_UP:
            latencies.append(elapsed)
            errors += response.status_code != 200
    return _percentiles(latencies), errors


def _served(
    env: dict[str, str], root: Path, families: list[str], *, synchronous: str
) -> dict[str, Any]:
    import httpx

    from benchmarks.review_session import review_sign_in
    from serving.local_server import begin_audit_log, start_local_server
    from serving.store.tokens import SqlTokenStore

    token = SqlTokenStore(env["EARLYRISK_TOKEN_DB_PATH"]).create("caseworker").token
    headers = {"Authorization": f"Bearer {token}"}
    begin_audit_log(env)
    server = start_local_server(
        {
            **env,
            "BENTOML_HOME": str(root / "bentoml_home"),
            "EARLYRISK_AUDIT_SYNCHRONOUS": synchronous,
        },
        root / f"server_{synchronous}.log",
        timeout=240,
    )
    try:
        if synchronous == "FULL":
            _fill_history(server.url, headers, families)
        figures: dict[str, Any] = {}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            # the yardstick: /score of one family on the same server, at the same load
            figures["score"] = _timed(
                lambda fid: client.post("/score", json={"family_ids": [fid]}, headers=headers),
                families,
            )
            figures["family"] = _timed(
                lambda fid: client.post(
                    "/family", json={"family_id": fid, "lang": "ru"}, headers=headers
                ),
                families,
            )
            review_sign_in(client, token)
            figures["page"] = _timed(
                lambda fid: client.get("/review", params={"family_id": fid, "lang": "kk"}),
                families,
            )
            if synchronous != "FULL":  # item 6 of issue 21, measured on every page viewed
                figures["languages"] = _language_sweep(client, families)
            sample = client.post("/family", json={"family_id": families[0]}, headers=headers)
            body = sample.json()
            figures["shape"] = (
                len(body["history"]),
                sum(len(i["records"] or []) for i in body["indicators"]),
                len(sample.content),
            )
    finally:
        server.stop(timeout=30)
    return figures


def _language_sweep(client: Any, families: list[str]) -> tuple[int, int, dict[str, int]]:
    """(pages read, pages with a language problem, the commonest problems): every family's
    review page in kk, ru and en through the page checker (a raw code on any page, a Latin
    word on a ru or kk page). The test suite reads the pages that show every code; this
    reads them all."""
    from collections import Counter

    from serving.i18n.page_check import page_problems

    kinds: Counter[str] = Counter()
    bad = read = 0
    for lang in ("kk", "ru", "en"):
        for fid in families:
            page = client.get("/review", params={"family_id": fid, "lang": lang}).text
            problems = page_problems(page, lang)
            read += 1
            bad += bool(problems)
            kinds.update(p.split(" in '")[0] for p in problems)
    return read, bad, dict(kinds.most_common(5))


def main() -> None:
    """Build the world, profile in-process, measure the real server, print the figures."""
    with tempfile.TemporaryDirectory(prefix="earlyrisk-bench-family-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        env, ranked = _build_world(root)
        families = ranked[:BENCH_FAMILIES]
        print(f"world: {N_FAMILIES:,} families, built in {time.perf_counter() - started:.0f} s")
        served = {mode: _served(env, root, families, synchronous=mode) for mode in SYNC_MODES}
        steps, profile = _in_process(env, families)
    try:
        load = f"load average {os.getloadavg()[0]:.1f}"
    except OSError:
        load = "load average unknown"
    history, records, size = served["FULL"]["shape"]
    print(
        f"{os.cpu_count()} cores, {load}; a viewed family: {history} scores in its history, "
        f"{records} records, {size:,} bytes of JSON"
    )
    labels = {
        "score": ("/score, 1 family (the yardstick)", "p50 < 10"),
        "family": ("/family (JSON, ru)", "p50 < 10"),
        "page": ("/review page (HTML, kk)", "< 100"),
    }
    for mode in SYNC_MODES:
        note = "" if mode == "FULL" else " [audit log synchronous=NORMAL: without its fsync]"
        for name, (label, target) in labels.items():
            figures, errors = served[mode][name]
            print(
                f"{label}, real server, 1 client, {REQUESTS} requests: p50 "
                f"{figures['p50']:.1f} ms, p95 {figures['p95']:.1f} ms, p99 "
                f"{figures['p99']:.1f} ms, errors {errors} (target {target} ms){note}"
            )
    read, bad, kinds = served["NORMAL"]["languages"]
    print(
        f"language check (issue 21 item 6): {read} review pages (kk, ru, en) read, {bad} "
        f"with an untranslated code or a Latin word on a ru/kk page (target 0){kinds or ''}"
    )
    for name, figures in steps.items():
        print(
            f"in-process {name}: p50 {figures['p50']:.2f} ms, p95 {figures['p95']:.2f} ms "
            f"({PROFILE_CALLS} calls)"
        )
    print("cProfile of the in-process view (engine.family + response JSON), cumulative:")
    print(profile)


if __name__ == "__main__":
    main()
