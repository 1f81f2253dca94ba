"""Quality on registries the features were not written beside: earlyrisk against a plain peer.

For each generator variant (:mod:`features.synth.variants`: seasonal, slow recording, another
event mix, rarer outcomes, a long foreign registry, and the standard one) and each seed, one
registry is generated and three models score the same eligible families at the latest
quarter end ``T`` whose 12-month label window is fully observed:

* **earlyrisk**: ``earlyrisk train`` with the packaged default config (no dates), the
  registered model (the final refit), ranked by its raw score at ``T``;
* **peer** (:mod:`benchmarks.peer`): plain LightGBM on generic per-event-type counts over
  every quarter end whose label window ends by ``T``;
* **tuned peer** (:func:`benchmarks.peer.tuned_peer_scores`): the same counts and rows with
  small trees and early stopping on held-out families, the stricter comparison: the plain
  peer's 200 full trees overfit a rare label, so a margin over it alone may only measure that;
* **oracle**: the true probability of ``ground_truth.parquet``, the ceiling any model can
  reach on these families (the peer is "near chance" when its AUC is close to 0.5 while
  the oracle's is not).

Printed per registry: ROC AUC of each, the margin over both peers with its 95 % paired
bootstrap interval (families resampled), and the registered model's calibration against
the truth (``ground_truth.parquet``): ECE with 20 equal-mass bins of the calibrated
probability at the registry's last quarter end, a date no model saw a label of. Then per
variant the mean margin over seeds with its 95 % interval (the figure judged) and whether
the lowest per-seed bound clears +0.02 too. Target (issue 25): margin >= +0.02 on every
variant, ECE <= 0.005.

(The number of training origins is compared in :mod:`benchmarks.quality_origins`, which
fits the trainer's LightGBM alone; this benchmark trains the registered model once per
registry, through the whole pipeline, so its ECE is the one a user gets.)

Sizes: ``EARLYRISK_QUALITY_FAMILIES``, a number of families for every variant and
``variant=N`` entries for some, comma-separated (default ``20000,long_foreign=40000``: at
8,000 and below the peer is near chance and the intervals are too wide to judge a +0.02
margin; the long foreign registry's margin is the closest to +0.02, so its test population
is doubled to narrow the interval; peer and model always score the same families; note
that the plain peer trains on the same registry, so it gains from the size too: measured
in docs/synthetic_registry.md),
``EARLYRISK_QUALITY_SEEDS`` (default ``1,2``), ``EARLYRISK_QUALITY_VARIANTS`` (default
all). Registries are kept in ``var/bench/quality/``, and each registry's measured row in its
``results/`` (``EARLYRISK_QUALITY_REUSE=1`` prints a kept row of the same catalogue instead
of training again, so registries measured by separate processes are judged together). Run:
``python -m benchmarks quality`` (niced: it trains one model per registry through the
whole pipeline).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path("var/bench/quality")
BOOTSTRAP = 200
ECE_BINS = 20
DEFAULT_FAMILIES = "20000,long_foreign=40000"


def _env_list(name: str, default: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


def families_by_variant(spec: str, variants: list[str]) -> dict[str, int]:
    """Families per variant from ``EARLYRISK_QUALITY_FAMILIES``: a bare number applies to
    every variant, ``variant=N`` to one (it wins); a bad entry names itself."""
    default: int | None = None
    chosen: dict[str, int] = {}
    for entry in (x.strip() for x in spec.split(",") if x.strip()):
        name, _, count = entry.rpartition("=")
        if not count.isdigit() or int(count) < 100:
            raise SystemExit(
                f"EARLYRISK_QUALITY_FAMILIES entry {entry!r}: give N or variant=N, N >= 100"
            )
        if name:
            chosen[name] = int(count)
        else:
            default = int(count)
    unknown = sorted(set(chosen) - set(variants))
    if unknown:
        raise SystemExit(
            f"EARLYRISK_QUALITY_FAMILIES names variant(s) {unknown} that are not measured; "
            f"measured: {', '.join(variants)}"
        )
    missing = [v for v in variants if v not in chosen and default is None]
    if missing:
        raise SystemExit(f"EARLYRISK_QUALITY_FAMILIES gives no size for {', '.join(missing)}")
    return {v: chosen.get(v, default or 0) for v in variants}


def registry(variant: str, seed: int, families: int) -> tuple[Path, dt.date, dt.date]:
    """The registry of ``variant`` and ``seed`` (generated once), with its period."""
    from features.synth import SynthConfig, synthesize
    from features.synth.variants import VARIANTS

    years = VARIANTS[variant].years
    start, end = dt.date(2021 - (years - 5), 1, 1), dt.date(2025, 12, 31)
    out = ROOT / f"{variant}-s{seed}-n{families}"
    done = out.with_name(out.name + ".done")
    if not done.exists():
        synthesize(
            SynthConfig(families=families, seed=seed, start=start, end=end, variant=variant),
            out,
            workers=min(2, os.cpu_count() or 1),
            overwrite=True,
        )
        done.write_text("ok\n", encoding="utf-8")
    return out, start, end


def fast_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged): the Mann-Whitney statistic."""
    ranks = pd.Series(score).rank(method="average").to_numpy()
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def margin_draws(y: np.ndarray, ours: np.ndarray, peer: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Paired bootstrap draws of AUC(ours) - AUC(peer), families resampled (a draw whose
    resample holds one class only is left out)."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        diffs.append(fast_auc(y[i], ours[i]) - fast_auc(y[i], peer[i]))
    return np.asarray(diffs, dtype=float)


def margin_interval(
    y: np.ndarray, ours: np.ndarray, peer: np.ndarray, *, seed: int = 0
) -> tuple[float, float]:
    """95 % paired bootstrap interval of AUC(ours) - AUC(peer), families resampled."""
    low, high = np.quantile(margin_draws(y, ours, peer, seed=seed), [0.025, 0.975])
    return float(low), float(high)


def mean_margin_interval(draws: list[np.ndarray]) -> tuple[float, float]:
    """95 % interval of the mean margin over seeds: the seeds' registries are independent,
    so the i-th draws of each seed's bootstrap averaged are a draw of the mean."""
    n = min(len(d) for d in draws)
    low, high = np.quantile(np.mean([d[:n] for d in draws], axis=0), [0.025, 0.975])
    return float(low), float(high)


def ece_against_truth(probability: np.ndarray, truth: np.ndarray) -> float:
    """Weighted mean |mean truth - mean probability| over equal-mass probability bins."""
    edges = np.unique(np.quantile(probability, np.linspace(0, 1, ECE_BINS + 1)))
    which = np.clip(np.searchsorted(edges, probability, side="right") - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"b": which, "p": probability, "t": truth})
    grouped = frame.groupby("b").agg(n=("p", "size"), p=("p", "mean"), t=("t", "mean"))
    return float((grouped["n"] * (grouped["p"] - grouped["t"]).abs()).sum() / len(frame))


def _train(raw_dir: Path, tmp: Path, **slices: object):  # type: ignore[no-untyped-def]
    from training.config import load_config
    from training.pipeline import run_training

    config = load_config(
        None,
        report_dir=str(tmp / "report"),
        mlflow={
            "tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}",
            "artifact_location": str(tmp / "mlartifacts"),
        },
    )
    if slices:
        config = config.model_copy(update={"slices": config.slices.model_copy(update=slices)})
    return run_training(
        config,
        raw_dir=raw_dir,
        keep_feature_table=True,
        write_reports=False,
        log_to_mlflow=False,
        n_jobs=1,
    )


def measure(variant: str, seed: int, families: int) -> dict[str, object]:
    """One registry: the models' AUC at T, the margins and the ECE against the truth."""
    from benchmarks.peer import peer_frame, plain_peer, tuned_peer_scores
    from features.engine import build_feature_table
    from features.validation import load_validated
    from training.design import period_ends

    raw_dir, _, end = registry(variant, seed, families)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ours = _train(raw_dir, Path(tmp) / "a")
    seconds = time.perf_counter() - started
    plan = ours.plan
    assert plan is not None and ours.feature_table is not None
    latest = pd.Timestamp(plan.evaluation.test[0])
    table = ours.feature_table
    at_t = table.loc[pd.to_datetime(table["as_of"]) == latest]
    at_t = at_t.loc[ours.eligibility_rule.mask(at_t)]
    y = at_t["label"].to_numpy(dtype=int)
    ours_score = ours.risk_model.raw_score(at_t)

    raw = load_validated(raw_dir)
    quarter_ends = [
        pd.Timestamp(d)
        for d in period_ends(plan.data_start, plan.extraction_date)
        if pd.Timestamp(d) > pd.Timestamp(plan.data_start)
    ]
    train_dates = [d for d in quarter_ends if d + pd.DateOffset(months=12) <= latest]
    frame = peer_frame(raw, [*train_dates, latest], horizon=12)
    peer = plain_peer(frame, latest, at_t["family_id"].astype(str))
    peer_score = peer.scores
    tuned_score, tuned_trees = tuned_peer_scores(peer.train, peer.test, peer.features, seed=seed)
    truth_at_t = pd.read_parquet(raw_dir / "ground_truth.parquet")
    truth_at_t = truth_at_t.loc[pd.to_datetime(truth_at_t["as_of"]) == latest]
    oracle = (
        truth_at_t.set_index("family_id")["true_probability"]
        .reindex(at_t["family_id"].astype(str))
        .to_numpy(dtype=float)
    )
    known = ~np.isnan(oracle)

    # calibration against the truth at the last quarter end: no label there is known
    last = max(d for d in quarter_ends if d <= pd.Timestamp(end))
    snap = build_feature_table(raw, [last.date()], n_jobs=1)
    snap = snap.loc[ours.eligibility_rule.mask(snap)]
    truth = pd.read_parquet(raw_dir / "ground_truth.parquet")
    truth = truth.loc[pd.to_datetime(truth["as_of"]) == last].set_index("family_id")
    joined = snap.assign(family_id=snap["family_id"].astype(str)).join(
        truth["true_probability"], on="family_id"
    )
    joined = joined.loc[joined["true_probability"].notna()]
    ece = ece_against_truth(
        ours.risk_model.predict_proba(joined), joined["true_probability"].to_numpy()
    )
    draws = margin_draws(y, ours_score, peer_score, seed=seed)
    low, high = (float(q) for q in np.quantile(draws, [0.025, 0.975]))
    tuned_low, tuned_high = margin_interval(y, ours_score, tuned_score, seed=seed)
    return {
        "variant": variant,
        "seed": seed,
        "T": latest.date().isoformat(),
        "families": len(y),
        "positives": int(y.sum()),
        "auc_ours": fast_auc(y, ours_score),
        "auc_peer": fast_auc(y, peer_score),
        "auc_tuned_peer": fast_auc(y, tuned_score),
        "tuned_trees": tuned_trees,
        "auc_oracle": fast_auc(y[known], oracle[known]),
        "margin_low": low,
        "margin_high": high,
        "margin_draws": draws,
        "tuned_low": tuned_low,
        "tuned_high": tuned_high,
        "ece_truth": ece,
        "ece_date": last.date().isoformat(),
        "train_seconds": seconds,
    }


def result_path(variant: str, seed: int, families: int) -> Path:
    """Where one registry's measured row is kept, named by the catalogue's fingerprint: a
    row measured on another catalogue is never reused for this one."""
    from features.catalogue import feature_list_fingerprint

    name = f"{variant}-s{seed}-n{families}-{feature_list_fingerprint()[:12]}.pkl"
    return ROOT / "results" / name


def measured(variant: str, seed: int, families: int) -> dict[str, object]:
    """:func:`measure`, its row kept in :func:`result_path`; with
    ``EARLYRISK_QUALITY_REUSE=1`` a kept row of the same registry and catalogue is printed
    instead of training again (registries measured in separate processes are then judged
    together). Off by default: the row also depends on the trainer's code, which the
    fingerprint does not cover, so reuse is for one checkout only."""
    import pickle

    path = result_path(variant, seed, families)
    if os.environ.get("EARLYRISK_QUALITY_REUSE") == "1" and path.is_file():
        row: dict[str, object] = pickle.loads(path.read_bytes())
        return row
    row = measure(variant, seed, families)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(row))
    return row


MARGIN_TARGET = 0.02
ECE_TARGET = 0.005


def verdict(rows: pd.DataFrame) -> list[str]:
    """Issue 25's targets, one line per variant and one for the calibration.

    The figure judged per variant is the **mean margin over its seeds** (one registry's
    margin moves by about +-0.01 with the seed alone), printed with its 95 % interval when
    the bootstrap draws are there; the line also says whether the lowest per-seed 95 %
    bound clears +0.02 too, the stricter reading. The largest ECE against the truth must be
    at most 0.005."""
    lines = []
    for variant, group in rows.groupby("variant", sort=False):
        margins = group["auc_ours"] - group["auc_peer"]
        mean = float(margins.mean())
        low = float(group["margin_low"].min())
        met = "met" if mean >= MARGIN_TARGET else "NOT met"
        interval = ""
        if "margin_draws" in group:
            m_low, m_high = mean_margin_interval(list(group["margin_draws"]))
            interval = f" [{m_low:+.4f}, {m_high:+.4f}]"
        clears = "clears" if low >= MARGIN_TARGET else "does not clear"
        lines.append(
            f"{variant}: mean margin over the plain peer {mean:+.4f}{interval} over "
            f"{len(group)} seed(s) >= +{MARGIN_TARGET:.2f} {met}; lowest bound {low:+.4f} "
            f"{clears} +{MARGIN_TARGET:.2f} (smallest point {float(margins.min()):+.4f})"
        )
    worst = float(rows["ece_truth"].max())
    met = "met" if worst <= ECE_TARGET else "NOT met"
    lines.append(f"calibration: largest ECE against the truth {worst:.4f} <= {ECE_TARGET} {met}")
    return lines


def main() -> None:
    """Measure every chosen variant and seed; print one row each, then the verdicts."""
    from features.synth.variants import VARIANTS

    os.nice(10)  # trains models for minutes on cores others share
    seeds = [int(s) for s in _env_list("EARLYRISK_QUALITY_SEEDS", "1,2")]
    variants = _env_list("EARLYRISK_QUALITY_VARIANTS", ",".join(VARIANTS))
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose among {', '.join(VARIANTS)}")
    sizes = families_by_variant(
        os.environ.get("EARLYRISK_QUALITY_FAMILIES", DEFAULT_FAMILIES), variants
    )
    print(
        f"quality on generated variants: families per registry "
        f"{', '.join(f'{v} {n:,}' for v, n in sizes.items())}; seeds {seeds}; ROC AUC at "
        "the latest fully observed quarter end T (eligible families); margin = earlyrisk - "
        "peer with its 95 % paired bootstrap interval (plain peer, then the tuned peer); "
        "oracle = the true probability; ECE of the registered model against the true "
        "probability at the last quarter end (20 equal-mass bins)"
    )
    header = (
        f"{'variant':<15}{'seed':>5}{'T':>12}{'n':>7}{'pos':>5}{'oracle':>8}{'earlyrisk':>10}"
        f"{'peer':>8}{'margin [95% CI]':>26}{'tuned':>8}"
        f"{'margin [95% CI]':>26}{'ECE':>8}{'train s':>9}"
    )
    print(header)
    rows = []
    for variant in variants:
        for seed in seeds:
            r = measured(variant, seed, sizes[variant])
            rows.append(r)
            margin = r["auc_ours"] - r["auc_peer"]  # type: ignore[operator]
            tuned = r["auc_ours"] - r["auc_tuned_peer"]  # type: ignore[operator]
            print(
                f"{variant:<15}{seed:>5}{r['T']:>12}{r['families']:>7,}{r['positives']:>5}"
                f"{r['auc_oracle']:>8.4f}{r['auc_ours']:>10.4f}{r['auc_peer']:>8.4f}"
                f"{margin:>+10.4f} [{r['margin_low']:+.4f}, {r['margin_high']:+.4f}]"
                f"{r['auc_tuned_peer']:>8.4f}"
                f"{tuned:>+10.4f} [{r['tuned_low']:+.4f}, {r['tuned_high']:+.4f}]"
                f"{r['ece_truth']:>8.4f}{r['train_seconds']:>9.0f}",
                flush=True,
            )
    frame = pd.DataFrame(rows)
    print("\ntargets (issue 25, item 1):")
    for line in verdict(frame):
        print(f"  {line}")
    print(
        f"over the tuned peer (not a target): smallest margin "
        f"{(frame['auc_ours'] - frame['auc_tuned_peer']).min():+.4f}"
    )


if __name__ == "__main__":
    main()
