"""Benchmark of the served statistics: what keeping them adds to each scored batch.

After a batch is on the audit log the engine calls :class:`serving.store.served_stats.
ServedStatsRecorder`: the audit groups of the families from the side index, the bin counts
of every model input and of the score, the PCA reconstruction error, and one transaction
of upserts. Timed in-process (no HTTP) on the catalogue's model inputs with a LightGBM
model of 100 trees, 4 audit attributes, for one family per request (the caseworker's case)
and 1,000 per request (a batch), on the SQLite store (WAL, synchronous NORMAL) and on the
shared PostgreSQL store (a throwaway local server, when its binaries are installed).

Compare with ``benchmarks.serving`` (p50 of one explained, logged score).
Run: ``python -m benchmarks.served_stats``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

N_REFERENCE = 20_000
REPEATS = {1: 400, 1000: 20}
AS_OF = "2024-12-31"


def _world(root: Path):  # type: ignore[no-untyped-def]
    import pandas as pd

    from features.catalogue import feature_list_fingerprint, model_input_columns
    from features.snapshot_store import write_feature_table
    from serving.store.lookup import read_snapshot_info
    from serving.store.served_stats import AuditGroupIndex, ServedStatsAccumulator, groups_path
    from training import lightgbm_adapter as lgbx
    from training.config import CapacityConfig
    from training.reference_stats import compute_reference_stats
    from training.risk_model import LightGBMRiskModel

    rng = np.random.default_rng(0)
    columns = model_input_columns()
    X = pd.DataFrame(rng.gamma(1.0, 2.0, size=(N_REFERENCE, len(columns))), columns=columns)
    y = (rng.random(N_REFERENCE) < 1 / (1 + np.exp(-(-2.5 + 0.5 * X[columns[0]])))).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 15, "num_threads": 1}
    model = LightGBMRiskModel(lgbx.train(params, lgbx.dataset(X, y), num_boost_round=100))
    frame = X.assign(
        family_id=[f"F{i:07d}" for i in range(N_REFERENCE)],
        as_of=pd.Timestamp(AS_OF),
        **{
            f"audit_{name}": rng.choice(list(values), size=N_REFERENCE)
            for name, values in {
                "region": ("North", "South", "East", "West"),
                "settlement": ("urban", "rural"),
                "household": ("single", "couple", "extended"),
                "language": ("kk", "ru", "other"),
            }.items()
        },
    )
    stats = compute_reference_stats(
        frame, model=model, capacity=CapacityConfig(fraction=0.05), source="bench", label=None
    )
    snapshot = write_feature_table(
        frame,
        root / "features.parquet",
        raw_sha256="0" * 64,
        feature_list_sha256=feature_list_fingerprint(),
    )
    index = AuditGroupIndex.from_snapshot(
        read_snapshot_info(snapshot), groups_path(root / "lookup.sqlite")
    )
    return model, frame, ServedStatsAccumulator(stats), index


def _time(recorder, model, frame, batch: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """p50 and p99 of the time a request spends in record(), and the wall time until every
    batch is written (per batch)."""
    rng = np.random.default_rng(batch)
    times = []
    began = time.perf_counter()
    for _ in range(REPEATS[batch]):
        rows = frame.iloc[rng.choice(len(frame), size=batch, replace=False)]
        matrix = model.feature_matrix(rows)
        probability = model.predict_proba(rows)
        ids = list(rows["family_id"])
        start = time.perf_counter()
        recorder.record(matrix, probability, family_ids=ids, as_of=AS_OF)
        times.append(time.perf_counter() - start)
    assert recorder.flush(timeout=600), "the writer did not catch up"
    wall = (time.perf_counter() - began - 0.0) * 1000 / REPEATS[batch]
    assert recorder.unrecorded_batches == 0, "a write failed"
    ms = np.asarray(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), wall


def main() -> None:
    from serving.store.served_stats import ServedStatsRecorder, SqlServedStatsStore

    console = Console()
    table = Table(title="served statistics: added time per scored batch (in-process)")
    for column in (
        "store",
        "writer",
        "families per request",
        "request path p50 ms",
        "p99 ms",
        "wall ms per batch incl. scoring loop",
    ):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, frame, accumulator, index = _world(root)
        stores = [("SQLite", SqlServedStatsStore(root / "served.sqlite"))]
        server = None
        try:
            from serving.throwaway_pg import PostgresServer, new_root

            server = PostgresServer(new_root())
            server.init()
            server.start()
            server.wait_ready()
            stores.append(("PostgreSQL", SqlServedStatsStore(server.create_database("bench"))))
        except Exception as exc:  # the PostgreSQL binaries may be absent: say so
            console.print(f"PostgreSQL store not measured: {exc}")
        try:
            for name, store in stores:
                for background in (False, True):
                    recorder = ServedStatsRecorder(
                        store,
                        accumulator,
                        model_name="bench",
                        model_version="1",
                        groups=index,
                        background=background,
                    )
                    for batch in REPEATS:
                        p50, p99, wall = _time(recorder, model, frame, batch)
                        table.add_row(
                            name,
                            "background (default)" if background else "inline",
                            f"{batch:,}",
                            f"{p50:.2f}",
                            f"{p99:.2f}",
                            f"{wall:.1f}",
                        )
                    if background:
                        recorder.flush()
                store.close()
        finally:
            if server is not None:
                server.destroy()
    console.print(table)


if __name__ == "__main__":
    main()
