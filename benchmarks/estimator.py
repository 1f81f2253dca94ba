"""The label-free performance estimate on clean setups, beside NannyML's CBPE.

A clean setup (issue 25): a model is trained (``earlyrisk train``, default config) on the
registry **as extracted a year earlier** (every table cut at ``X`` = one year before the
registry's end, as an export taken that day would be), then monitors the later dates
``D`` = the four quarter ends up to ``X`` on the full registry, whose labels arrived by its
end. No date estimated is one the model was fitted or calibrated on (the in-sample ones are
left out, as the monitor's report does).

At each ``D``: the monitor's estimate of ROC AUC with its 95 % interval, its calibration
map (the configured rule, :mod:`serving.monitor.recalibration`) fitted on the reference's
labelled year as the extract holds it
(:func:`serving.monitor.seasonal.labelled_year_calibration`, what ``earlyrisk monitor``
does) and its interval widened by the calibration's transfer error, measured leaving one
quarter of that year out (:func:`serving.monitor.transfer.year_transfer`, column ``+tse``),
and CBPE's (NannyML, fitted on the same rows and probabilities, in its own environment:
:mod:`benchmarks.cbpe_env`), each against the realized ROC AUC; beside them the estimate
with the test slice's calibration check alone (``stored``, the monitor before the labelled
year). Printed: per setup the errors and whether each interval covered the realized value;
then over all setups the mean error, the mean absolute error and the coverage (also without
the transfer term), and a verdict per target: |error| <= 0.015 on average and smaller than
CBPE's; coverage >= 90 %.

The trained setups (model, reference statistics, the labelled year's and the later dates'
rows) are kept in ``var/bench/estimator/`` and reused, CBPE's estimates beside them
(``<setup>.cbpe.json``): the estimate can be re-measured without retraining. Seed 3 is the
one round 9's choices were made on, seeds 4 and 5 the ones round 10's recalibration rule
(``MonitorConfig.recalibration``, logistic) was chosen on, and seeds 1, 2, 4 and 5 the ones
round 11 compared every map with CBPE on (:mod:`benchmarks.estimator_compare`; the default
stayed); the default seeds 6 and 7 are the ones reported, never used for a choice. After
them the setups of the chosen-on seeds that are cached (``EARLYRISK_ESTIMATOR_POOLED_SEEDS``,
default ``1,2,4,5``; never trained here) are pooled in: the same summary over every seed,
with the paired interval of ``|ours| - |CBPE's|`` over registries. Beside the default
rule's estimate the table prints round 9's rule (``ece``: the 20-bin ECE check) and the
interval's terms: ``+tse`` the transfer term, ``+map`` the map's bootstrap spread. Last,
what the map term costs at 1,000,000 rows (:mod:`benchmarks.estimator_boot`).

Why 20,000 families: the realized ROC AUC itself is a draw. On 8,000 families (about 5,200
eligible, 290 outcomes) its standard error is about 0.018, so even an exact estimate of its
expectation would be off by 0.014 on average, the target's size; on 20,000 it is about 0.011.

Sizes: ``EARLYRISK_ESTIMATOR_FAMILIES`` (default 20000), ``EARLYRISK_ESTIMATOR_SEEDS``
(default ``6,7``), ``EARLYRISK_ESTIMATOR_VARIANTS`` (default standard, seasonal,
slow_recording, event_mix). Run: ``python -m benchmarks estimator``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.quality import ROOT, _env_list, fast_auc, registry

DEFAULT_VARIANTS = "standard,seasonal,slow_recording,event_mix"
# the seeds the monitor's choices were made on (round 9: 3; round 10: 4, 5; round 11: 1, 2,
# 4, 5) and the ones reported by default, which must never be among them
CHOSEN_ON_SEEDS = (1, 2, 3, 4, 5)
REPORTED_SEEDS = "6,7"


def earlier_extract(raw_dir: Path, until: dt.date, out: Path) -> Path:
    """``raw_dir`` as an export taken on ``until``: nothing recorded, registered, born or
    begun after it; memberships that ended after it are still open."""
    if (out / "protected.parquet").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    cut = pd.Timestamp(until)
    read = {n: pq.read_table(raw_dir / f"{n}.parquet") for n in
            ("families", "persons", "memberships", "events", "outcomes", "protected")}  # fmt: skip
    frames = {n: t.to_pandas() for n, t in read.items()}
    fam = frames["families"]
    fam = fam.loc[pd.to_datetime(fam["registered_date"]) <= cut]
    persons = frames["persons"]
    persons = persons.loc[pd.to_datetime(persons["birth_date"]) <= cut]
    m = frames["memberships"]
    m = m.loc[
        (pd.to_datetime(m["start_date"]) <= cut)
        & m["family_id"].isin(fam["family_id"])
        & m["person_id"].isin(persons["person_id"])
    ].copy()
    m.loc[pd.to_datetime(m["end_date"]) > cut, "end_date"] = None
    ev = frames["events"]
    ev = ev.loc[
        (pd.to_datetime(ev["recorded_date"]) <= cut)
        & (ev["family_id"].isna() | ev["family_id"].isin(fam["family_id"]))
        & (ev["person_id"].isna() | ev["person_id"].isin(persons["person_id"]))
    ]
    oc = frames["outcomes"]
    oc = oc.loc[
        (pd.to_datetime(oc["recorded_date"]) <= cut) & oc["family_id"].isin(fam["family_id"])
    ]
    oc = oc.loc[oc["person_id"].isna() | oc["person_id"].isin(persons["person_id"])]
    pr = frames["protected"]
    pr = pr.loc[pr["family_id"].isin(fam["family_id"])]
    kept = {"families": fam, "persons": persons, "memberships": m, "events": ev,
            "outcomes": oc, "protected": pr}  # fmt: skip
    for name, frame in kept.items():
        table = pa.Table.from_pandas(frame, schema=read[name].schema, preserve_index=False)
        pq.write_table(table, out / f"{name}.parquet")
    return out


CACHE = Path("var/bench/estimator")


def _cache_path(variant: str, seed: int, families: int) -> Path:
    return CACHE / f"{variant}-s{seed}-n{families}.pkl"


def _slim(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The columns the monitor's estimate reads (model inputs, labels, dates)."""
    keep = ["family_id", "as_of", "label", "label_observed", *names]
    return frame.loc[:, [c for c in keep if c in frame.columns]].reset_index(drop=True)


def prepare(variant: str, seed: int, families: int) -> dict[str, Any]:
    """One registry's model (trained on the earlier extract), its reference statistics,
    the labelled year as the extract holds it and the four later dates on the full
    registry: the expensive part, kept in ``var/bench/estimator`` (a pickle of this
    machine's own making) so that the estimate can be re-measured without retraining."""
    from features.eligibility import eligible_rows
    from features.engine import build_feature_table
    from features.validation import load_validated
    from serving.monitor.seasonal import calibration_reference_dates
    from training.config import load_config
    from training.pipeline import run_training
    from training.reference_stats import reference_stats_for

    cached = _cache_path(variant, seed, families)
    if cached.exists():
        with cached.open("rb") as fh:
            loaded: dict[str, Any] = pickle.load(fh)
        return loaded
    raw_dir, _, end = registry(variant, seed, families)
    until = dt.date(end.year - 1, 12, 31)
    extract = earlier_extract(raw_dir, until, ROOT / f"{raw_dir.name}-extract-{until}")
    with tempfile.TemporaryDirectory() as tmp:
        train_config = load_config(
            None,
            report_dir=str(Path(tmp) / "report"),
            mlflow={"tracking_uri": f"sqlite:///{Path(tmp) / 'm.db'}"},
        )
        result = run_training(
            train_config, raw_dir=extract, write_reports=False, log_to_mlflow=False, n_jobs=1
        )
    stats = reference_stats_for(result, result.split.test)
    model = result.risk_model
    names = list(model.feature_names)
    # the monitor's calibration check: the reference's labelled year, as the extract the
    # model was trained on holds it (serving.monitor.seasonal.labelled_year_calibration)
    calibration_days = calibration_reference_dates(stats.as_of, horizon_months=stats.horizon_months)
    year = eligible_rows(
        build_feature_table(load_validated(extract), calibration_days, n_jobs=1),
        result.eligibility_rule,
    )
    dates = [dt.date(until.year, m, d) for m, d in ((3, 31), (6, 30), (9, 30), (12, 31))]
    table = eligible_rows(
        build_feature_table(load_validated(raw_dir), dates, n_jobs=1), result.eligibility_rule
    )
    for frame in (year, table):
        frame["as_of"] = pd.to_datetime(frame["as_of"])
    prepared = {
        "variant": variant,
        "seed": seed,
        "families": families,
        "stats": stats,
        "model": model,
        "calibration_days": calibration_days,
        "year": _slim(year, names),
        "dates": dates,
        "table": _slim(table, names),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    with cached.open("wb") as fh:
        pickle.dump(prepared, fh)
    return prepared


def cbpe_by_date(prepared: dict[str, Any]) -> dict[str, dict[str, float]]:
    """CBPE's estimate at each later date (NannyML, fitted on the same rows and
    probabilities as the monitor's calibration: the labelled year's), kept beside the
    setup's cache (``<setup>.cbpe.json``) so that a second run only re-measures ours."""
    from benchmarks.cbpe_env import cbpe_estimates

    cached = _cache_path(prepared["variant"], prepared["seed"], prepared["families"]).with_suffix(
        ".cbpe.json"
    )
    if cached.exists():
        loaded: dict[str, dict[str, float]] = json.loads(cached.read_text(encoding="utf-8"))
        return loaded
    model, year, table = prepared["model"], prepared["year"], prepared["table"]
    work = Path(tempfile.mkdtemp(prefix="cbpe-"))
    try:
        pd.DataFrame({"p": model.predict_proba(year), "y": year["label"].astype(int)}).to_csv(
            work / "reference.csv", index=False
        )
        analyses = []
        for day in prepared["dates"]:
            frame = table.loc[table["as_of"] == pd.Timestamp(day)].reset_index(drop=True)
            p = model.predict_proba(frame)
            pd.DataFrame({"p": p}).to_csv(work / f"{day}.csv", index=False)
            analyses.append((work / f"{day}.csv", float(np.quantile(p, 0.95))))
        found = cbpe_estimates(work / "reference.csv", analyses, work / "cbpe.json")
        out = {day.isoformat(): r for day, r in zip(prepared["dates"], found, strict=True)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cached.write_text(json.dumps(out), encoding="utf-8")
    return out


def setups(variant: str, seed: int, families: int) -> list[dict[str, object]]:
    """The four clean setups of one registry (one model, four later dates)."""
    from serving.monitor.config import MonitorConfig
    from serving.monitor.core import monitor
    from serving.monitor.recalibration import year_map_spread
    from serving.monitor.seasonal import choose_reference
    from serving.monitor.transfer import year_transfer

    prepared = prepare(variant, seed, families)
    stats, model, year = prepared["stats"], prepared["model"], prepared["year"]
    config = MonitorConfig(history_months=0, n_boot=0)
    stored = stats
    # the monitor's own path (serving.monitor.run): the labelled year's calibration by the
    # configured rule, the transfer term measured leaving one of its quarters out and the
    # spread of the map over resamples of the year
    stats, season = choose_reference(
        stats,
        model,
        year,
        season_day=None,
        calibration_days=prepared["calibration_days"],
        config=config,
    )
    transfer, note = year_transfer(stats, model, year, season, rule=config.recalibration)
    spread = year_map_spread(stats, model, year, season, config=config)
    # the rule before this round (the 20-bin ECE check), for comparison
    ece_config = config.model_copy(update={"recalibration": "ece_check"})
    ece_stats, _ = choose_reference(
        stored,
        model,
        year,
        season_day=None,
        calibration_days=prepared["calibration_days"],
        config=ece_config,
    )
    table = prepared["table"]
    cbpe_at = cbpe_by_date(prepared)
    out = []
    for day in prepared["dates"]:
        frame = table.loc[table["as_of"] == pd.Timestamp(day)].reset_index(drop=True)
        snapshot = {day.isoformat(): frame}
        report = monitor(
            stats,
            model,
            snapshot,
            config=config,
            transfer=transfer,
            transfer_note=note,
            spread=spread,
        )
        estimated = report["performance"]["estimated"]["roc_auc"]
        ece_rule = monitor(ece_stats, model, snapshot, config=ece_config)
        narrow = monitor(stats, model, snapshot, config=config)
        narrow_auc = narrow["performance"]["estimated"]["roc_auc"]
        before = monitor(stored, model, snapshot, config=config)
        p = model.predict_proba(frame)
        y = frame["label"].to_numpy(dtype=int)
        realized = fast_auc(y, p)
        cbpe = cbpe_at[day.isoformat()]
        out.append(
            {
                "variant": variant,
                "seed": seed,
                "as_of": day.isoformat(),
                "realized": realized,
                "ours": estimated["value"],
                "ours_low": estimated["low"],
                "ours_high": estimated["high"],
                "narrow_low": narrow_auc["low"],
                "narrow_high": narrow_auc["high"],
                "transfer_se": transfer.extra_se if transfer else None,
                "map_se": report["performance"]["calibration_map_spread"].get("se_at_as_of"),
                "ece_check": ece_rule["performance"]["estimated"]["roc_auc"]["value"],
                "stored": before["performance"]["estimated"]["roc_auc"]["value"],
                "cbpe": cbpe["value"],
                "cbpe_low": cbpe["low"],
                "cbpe_high": cbpe["high"],
                "recalibration": stats.calibration.method if stats.calibration else None,
                "ece_recalibration": ece_stats.calibration.method
                if ece_stats.calibration
                else None,
                "calibration": season["calibration"],
            }
        )
    return out


def main() -> None:
    """Every setup's errors, then the summary beside CBPE's."""
    os.nice(max(0, 10 - os.nice(0)))  # trains for minutes on shared cores: niced to 10
    families = int(os.environ.get("EARLYRISK_ESTIMATOR_FAMILIES", "20000"))
    seeds = [int(s) for s in _env_list("EARLYRISK_ESTIMATOR_SEEDS", REPORTED_SEEDS)]
    variants = _env_list("EARLYRISK_ESTIMATOR_VARIANTS", DEFAULT_VARIANTS)
    from serving.monitor.config import MonitorConfig

    print(
        f"recalibration rule: {MonitorConfig().recalibration} (MonitorConfig's default); "
        f"map spread from {MonitorConfig().calibration_boot} bootstrap refits"
    )
    print(
        f"label-free ROC AUC estimate on clean setups: {families:,} families, seeds {seeds}, "
        f"variants {variants}; model trained on the extract one year before the registry's "
        "end, estimated at its 4 quarter ends on the full registry (labels arrived since)"
    )
    print(
        f"{'variant':<15}{'seed':>5}{'as of':>12}{'realized':>10}{'ours':>8}{'err':>8}"
        f"{'cov':>5}{'+tse':>7}{'+map':>7}{'CBPE':>8}{'err':>8}{'cov':>5}{'ece':>8}{'err':>8}"
        f"{'stored':>8}{'err':>8}  recalibration (ece_check's)"
    )
    # the seeds the rule was chosen on, cached: pooled with the reported ones afterwards
    pooled = [int(s) for s in _env_list("EARLYRISK_ESTIMATOR_POOLED_SEEDS", "1,2,4,5")]
    pooled = [s for s in pooled if s not in seeds]
    rows = []
    for variant in variants:
        for seed in [*seeds, *pooled]:
            if seed in pooled and not _cache_path(variant, seed, families).exists():
                continue  # pooled seeds are never trained here, only re-measured
            try:
                found = setups(variant, seed, families)
            except ValueError as exc:  # e.g. a model not fit to serve on a small extract
                print(f"{variant:<15}{seed:>5}  no setup: {exc}", flush=True)
                continue
            for r in found:
                rows.append(r)
                real = float(r["realized"])  # type: ignore[arg-type]
                cells = []
                for name in ("ours", "cbpe"):
                    value = float(r[name])  # type: ignore[arg-type]
                    low, high = float(r[f"{name}_low"]), float(r[f"{name}_high"])  # type: ignore[arg-type]
                    covered = "yes" if low <= real <= high else "no"
                    cells.append(f"{value:>8.4f}{value - real:>+8.4f}{covered:>5}")
                    if name == "ours":  # the terms the interval was widened by
                        for term in ("transfer_se", "map_se"):
                            v = r[term]
                            cells[-1] += f"{float(v):>7.4f}" if v is not None else f"{'-':>7}"  # type: ignore[arg-type]
                stored = float(r["stored"])  # type: ignore[arg-type]
                ece = float(r["ece_check"])  # type: ignore[arg-type]
                print(
                    f"{variant:<15}{seed:>5}{r['as_of']:>12}{real:>10.4f}{cells[0]}{cells[1]}"
                    f"{ece:>8.4f}{ece - real:>+8.4f}{stored:>8.4f}{stored - real:>+8.4f}  "
                    f"{r['recalibration']} ({r['ece_recalibration']})",
                    flush=True,
                )
    if not rows:
        print("no setup could be measured")
        return
    frame = pd.DataFrame(rows)
    reported = frame.loc[frame["seed"].isin(seeds)]
    print(f"reported seeds {seeds} (not used for choosing the rule):")
    summarize(reported)
    if len(frame) > len(reported):
        measured = sorted(int(s) for s in frame["seed"].unique())
        print(f"pooled over every seed measured ({measured}):")
        summarize(frame)
    # what the interval's map term costs at a national registry's size
    from benchmarks import estimator_boot

    estimator_boot.main()


def summarize(frame: pd.DataFrame) -> None:
    """The mean errors and coverages over ``frame``'s setups, and the verdicts."""
    for name in ("ours", "cbpe"):
        err = frame[name] - frame["realized"]
        cov = (frame[f"{name}_low"] <= frame["realized"]) & (
            frame["realized"] <= frame[f"{name}_high"]
        )
        label = "earlyrisk monitor" if name == "ours" else "NannyML CBPE"
        print(
            f"{label:<18} {len(frame)} setups: mean error {err.mean():+.4f}, mean |error| "
            f"{err.abs().mean():.4f}, 95 % interval coverage {cov.mean():.0%}"
        )
    narrow = (frame["narrow_low"] <= frame["realized"]) & (
        frame["realized"] <= frame["narrow_high"]
    )
    print(
        f"{'Hanley-McNeil only':<18} {len(frame)} setups: 95 % interval coverage "
        f"{narrow.mean():.0%} (the same estimate, without the transfer and map terms)"
    )
    err = frame["ece_check"] - frame["realized"]
    print(
        f"{'ece_check rule':<18} {len(frame)} setups: mean error {err.mean():+.4f}, mean "
        f"|error| {err.abs().mean():.4f} (last round's rule: the 20-bin ECE check)"
    )
    err = frame["stored"] - frame["realized"]
    print(
        f"{'stored check':<18} {len(frame)} setups: mean error {err.mean():+.4f}, mean |error| "
        f"{err.abs().mean():.4f} (the test slice's calibration check alone, as before)"
    )
    print("target: mean |error| <= 0.015 and below CBPE's; coverage >= 90 %")
    for line in verdicts(frame):
        print(line)


def paired_interval(diff: pd.Series) -> tuple[float, float, float, int]:
    """Mean of per-setup differences ``diff`` (indexed by variant, seed and date) with its
    95 % t interval over **registries**: a registry's four dates share families and label
    windows, so they are one draw, not four. Returns (mean, low, high, registries)."""
    from scipy import stats as st

    per_registry = diff.groupby(level=["variant", "seed"]).mean()
    n = int(per_registry.size)
    mean = float(per_registry.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    half = float(st.t.ppf(0.975, n - 1) * per_registry.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half, n


def verdicts(frame: pd.DataFrame) -> list[str]:
    """One line per target of issue 25 item 3, met or not, on the setups of ``frame``."""
    ours = (frame["ours"] - frame["realized"]).abs().mean()
    cbpe = (frame["cbpe"] - frame["realized"]).abs().mean()
    cov = (
        (frame["ours_low"] <= frame["realized"]) & (frame["realized"] <= frame["ours_high"])
    ).mean()
    indexed = frame.set_index(["variant", "seed", "as_of"])
    diff = (indexed["ours"] - indexed["realized"]).abs() - (
        indexed["cbpe"] - indexed["realized"]
    ).abs()
    mean, low, high, n = paired_interval(diff)
    return [
        f"mean |error| {ours:.4f} <= 0.015: {'met' if ours <= 0.015 else 'NOT met'}",
        f"mean |error| {ours:.4f} below CBPE's {cbpe:.4f}: {'met' if ours < cbpe else 'NOT met'} "
        f"(paired, |ours| - |CBPE's| per setup: {mean:+.4f}, 95 % interval over {n} registries "
        f"[{low:+.4f}, {high:+.4f}]; {int((diff < 0).sum())} of {diff.size} setups closer)",
        f"interval coverage {cov:.0%} >= 90 %: {'met' if cov >= 0.9 else 'NOT met'}",
    ]


if __name__ == "__main__":
    main()
