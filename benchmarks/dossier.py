"""Benchmark of the family's explanation record (issue 23): ``earlyrisk dossier`` for the
flagged families of a demo registry, in each language.

Builds a demo-like world: a synthetic registry of ``N_FAMILIES`` families (the demo's
generator), its feature snapshot on two dates (fingerprinted against the raw directory, so
the records behind each need are shown), and a LightGBM champion trained on the earlier
date's real outcome labels (so the needs the model uses are the registry's, not made up).
Then, in this process, on the service's own engine:

* ``BENCH_FAMILIES`` flagged families (level ``high`` or ``elevated`` on the latest date)
  get a dossier in each of kk, ru and en (HTML, logged as ``dossier`` entries): total time
  against the target (all of them together in under 30 s), per-dossier p50 / p95;
* every "what would change" is re-scored apart from the search (``Scorer.score_matrix`` on
  the changed row) and counted when below its level's cut-off; dossiers naming anything
  but a mutable need (a circumstance, support received, a protected attribute) as
  something to change are counted (must be 0);
* ``PDF_FAMILIES`` of them as PDF (WeasyPrint), timed apart: its cost beside the HTML's.

Run: ``python -m benchmarks.dossier`` (also ``python -m benchmarks dossier``).
Sizes: ``EARLYRISK_BENCH_DOSSIER_FAMILIES`` (registry, default 6000).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

N_FAMILIES = int(os.environ.get("EARLYRISK_BENCH_DOSSIER_FAMILIES", "6000"))
TRAIN_AS_OF = "2023-06-30"
AS_OF = "2024-06-30"
BENCH_FAMILIES = 100
PDF_FAMILIES = 10
LANGS: tuple[Literal["kk", "ru", "en"], ...] = ("kk", "ru", "en")
TARGET_S = 30.0
MODEL_NAME = "earlyrisk-bench-dossier"


def _build_world(root: Path) -> dict[str, str]:
    """Registry, snapshot with records, champion on real labels; the service's env."""
    from benchmarks.serving import register_champion, server_env
    from features.catalogue import model_input_columns
    from features.partitions import build_feature_table
    from features.snapshot_store import write_feature_table
    from features.synth import SynthConfig, synthesize

    raw = root / "raw"
    synthesize(SynthConfig(families=N_FAMILIES, seed=23), raw, workers=1)
    table = build_feature_table(raw, [TRAIN_AS_OF, AS_OF], n_jobs=1)
    snapshot = write_feature_table(table, root / "features.parquet")
    train = table.loc[(table["as_of"] == TRAIN_AS_OF) & (table["hh_children"] > 0)]
    X = train.loc[:, model_input_columns()].astype(float)
    y = train["label"].astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": 1,
              "min_data_in_leaf": 20, "deterministic": True}  # fmt: skip
    register_champion(root, X, y, name=MODEL_NAME, params=params, trees=150)
    return server_env(
        root,
        name=MODEL_NAME,
        snapshot=snapshot,
        EARLYRISK_RAW_DIR=str(raw),
        EARLYRISK_MODEL_RELOAD_INTERVAL_S="0",
    )


def _flagged(engine: Any, principal: Any) -> list[str]:
    """The first BENCH_FAMILIES families at level high or elevated on AS_OF."""
    (frame,) = list(engine.lookup.iter_population(as_of=AS_OF))
    ids = [str(i) for i in frame.index]
    flagged: list[str] = []
    size = engine.settings.max_batch_size
    for start in range(0, len(ids), size):
        for result in engine.score(
            ids[start : start + size], as_of=AS_OF, principal=principal, request_id="flag"
        ):
            if result.get("risk_level") in ("high", "elevated"):
                flagged.append(result["family_id"])
        if len(flagged) >= BENCH_FAMILIES:
            break
    return flagged[:BENCH_FAMILIES]


def _check(made: Any) -> tuple[bool, bool, bool]:
    """(change found, re-scored below the cut-off, names a forbidden change)."""
    from features.catalogue import FEATURES
    from serving.dossier.mutable import MUTABLE_INDICATORS

    facts = made.facts
    cf = facts.counterfactual
    named = {i.indicator for c in cf.changes for i in c.indicators}
    forbidden = bool(named - MUTABLE_INDICATORS or any(FEATURES[n].kind != "need" for n in named))
    if not cf.found:
        return False, False, forbidden
    scorer = facts.model.scorer
    row = facts.row.copy()
    for change in cf.changes:
        for moved in change.indicators:
            row[scorer.feature_names.index(moved.indicator)] = moved.after
    p = float(scorer.score_matrix(row[None, :]).probability[0])
    return True, p == cf.probability and cf.cutoff is not None and p < cf.cutoff, forbidden


def main() -> None:
    from serving.auth import Principal
    from serving.dossier.produce import DossierDesk
    from serving.engine import load_engine
    from serving.local_server import begin_audit_log
    from serving.settings import ServingSettings

    with tempfile.TemporaryDirectory(prefix="bench-dossier-") as tmp:
        started = time.perf_counter()
        env = _build_world(Path(tmp))
        for key, value in env.items():
            os.environ[key] = value
        begin_audit_log(env)
        engine = load_engine(ServingSettings())
        principal = Principal("benchdossier", "caseworker")
        desk = DossierDesk(engine)
        flagged = _flagged(engine, principal)
        print(f"world: {N_FAMILIES} families, snapshot {AS_OF}, model trained on "
              f"{TRAIN_AS_OF} labels, records held: {engine.records is not None} "
              f"(built in {time.perf_counter() - started:.1f} s)")  # fmt: skip
        print(f"flagged families taken: {len(flagged)} (level high or elevated)")
        times: list[float] = []
        found = below = forbidden = 0
        total_started = time.perf_counter()
        for lang in LANGS:
            for i, family_id in enumerate(flagged):
                t0 = time.perf_counter()
                made = desk.produce(family_id=family_id, lang=lang, fmt="html",
                                    principal=principal, request_id=f"{lang}-{i}")  # fmt: skip
                times.append(time.perf_counter() - t0)
                f, b, bad = _check(made)
                found, below, forbidden = found + f, below + b, forbidden + bad
        total = time.perf_counter() - total_started
        load = os.getloadavg()[0]
        n = len(times)
        ms = np.asarray(times) * 1000
        print(f"dossiers (HTML, {', '.join(LANGS)}): {n} in {total:.1f} s "
              f"(target < {TARGET_S:.0f} s: {'met' if total < TARGET_S else 'MISSED'}, "
              f"{total / TARGET_S:.2f} x the budget); per dossier p50 "
              f"{np.percentile(ms, 50):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms; load average "
              f"{load:.1f}")  # fmt: skip
        print(f"'what would change' found: {found} of {n}; re-scored below the cut-off: "
              f"{below} of {found} found (must be all)")  # fmt: skip
        print(f"dossiers naming a circumstance, support or protected attribute as something "
              f"to change: {forbidden} (must be 0)")  # fmt: skip
        pdf_times = []
        for i, family_id in enumerate(flagged[:PDF_FAMILIES]):
            t0 = time.perf_counter()
            desk.produce(family_id=family_id, lang="kk", fmt="pdf", principal=principal,
                         request_id=f"pdf-{i}")  # fmt: skip
            pdf_times.append(time.perf_counter() - t0)
        pdf_ms = float(np.median(pdf_times) * 1000)
        print(f"PDF (WeasyPrint), {len(pdf_times)} dossiers: p50 {pdf_ms:.0f} ms "
              f"({pdf_ms / max(np.percentile(ms, 50), 1e-9):.1f} x the HTML p50)")  # fmt: skip
        print(f"dossier entries on the audit log: {engine.audit_log.count('dossier')}")
        engine.close()


if __name__ == "__main__":
    main()
