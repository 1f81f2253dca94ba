"""The quality levers one at a time, without the whole pipeline: origins and peers at 20k.

``python -m benchmarks quality`` trains through ``run_training`` (backtest, calibration,
audit, gates) twice per registry, which takes too long on a loaded machine to compare
levers over many registries. This benchmark isolates what issue 25 asks about: on each
variant's registry (:func:`benchmarks.quality.registry`), the catalogue's feature table at
every quarter end up to ``T`` (the latest fully observed one), the trainer's own LightGBM
(:func:`training.models.fit_lightgbm`: its tuning grid and early stopping) trained on the
latest 4 and 8 origins and on every origin (the final refit's dates under each setting),
and beside it the plain peer, the tuned peer (:mod:`benchmarks.peer`) and the oracle (the
true probability), all ranked at ``T`` on the eligible families. Printed: ROC AUC of each
and the margin over the plain peer with its 95 % paired bootstrap interval.

One candidate lever is measured here before it could enter the catalogue: **prior recorded
outcomes** (:func:`outcome_history`), a family-level history the peer cannot build from
per-event-type counts: the family's child protection cases and placements and its family
crises recorded by the as-of date within the last 3 years (the catalogue's bound), and
the days since its latest case, added to the latest 8 origins' inputs.

And two that ask why the long registry (``long_foreign``, 8 years) helps the plain peer but
not earlyrisk: the **plain peer with its history bounded at 3 years**
(:func:`benchmarks.peer.generic_counts` with ``history_days``), the bound design rule 3
puts on every earlyrisk indicator: the peer's "all history" counts read up to 7 years back
on that registry; and **the peer's counts under that bound added to the catalogue**
("8 + 3y counts"), which says whether the catalogue misses something the generic counts
hold within the bound.

Sizes: the ``EARLYRISK_QUALITY_*`` variables of :mod:`benchmarks.quality` (default 20,000
families, seed 1, every variant). Run: ``python -m benchmarks quality_origins``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

ORIGINS = {"4 origins": 4, "8 origins": 8, "every origin": 0}
CASE_TYPES = ("child_protection_case", "child_placed_in_care")
HISTORY_DAYS = 3 * 365  # features.aggregations.MAX_LOOKBACK_DAYS: no record marks forever


def outcome_history(outcomes: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Per row of ``rows`` (family_id, as_of): recorded cases and crises in the 3 years
    before as_of and days since the latest case (NaN: none), reading only outcomes
    recorded by as_of and dated by it (the point-in-time rule of the catalogue)."""
    recorded = pd.to_datetime(outcomes["recorded_date"])
    happened = pd.to_datetime(outcomes["outcome_date"])
    family = outcomes["family_id"].astype(str)
    out = pd.DataFrame(
        index=rows.index, columns=["oc_cases_3y", "oc_crises_3y", "oc_days_since_case"], dtype=float
    )
    for as_of, group in rows.groupby("as_of"):
        seen = (recorded <= as_of) & (happened <= as_of)
        seen &= happened > as_of - pd.Timedelta(days=HISTORY_DAYS)
        case = seen & outcomes["outcome_type"].isin(CASE_TYPES)
        crisis = seen & (outcomes["outcome_type"] == "family_crisis")
        ids = group["family_id"].astype(str)
        out.loc[group.index, "oc_cases_3y"] = ids.map(family[case].value_counts()).fillna(0.0)
        out.loc[group.index, "oc_crises_3y"] = ids.map(family[crisis].value_counts()).fillna(0.0)
        latest = happened[case].groupby(family[case]).max()
        out.loc[group.index, "oc_days_since_case"] = (as_of - ids.map(latest)).dt.days
    return out


def measure(variant: str, seed: int, families: int) -> None:
    """Print one block: the oracle, both peers, and the model on each number of origins."""
    from benchmarks.peer import peer_frame, plain_peer, tuned_peer_scores
    from benchmarks.quality import fast_auc, margin_interval, registry
    from features.catalogue import model_input_columns
    from features.engine import build_feature_table
    from features.validation import load_validated
    from training.config import LightGBMSpec, load_config
    from training.design import period_ends
    from training.models import fit_lightgbm

    raw_dir, start, end = registry(variant, seed, families)
    raw = load_validated(raw_dir)
    ends = [pd.Timestamp(d) for d in period_ends(start, end) if d > start]
    latest = max(d for d in ends if d <= ends[-1] - pd.DateOffset(months=12))
    closed = [d for d in ends if d + pd.DateOffset(months=12) <= latest]
    config = load_config(None)
    table = build_feature_table(raw, [d.date() for d in [*closed, latest]], n_jobs=1)
    table["as_of"] = pd.to_datetime(table["as_of"])
    eligible = table.loc[config.eligibility.mask(table)].reset_index(drop=True)
    at_t = eligible.loc[eligible["as_of"] == latest]
    y = at_t["label"].to_numpy(dtype=int)

    frame = peer_frame(raw, [*closed, latest], horizon=12)
    family_ids = at_t["family_id"].astype(str)
    plain = plain_peer(frame, latest, family_ids)
    peer, features = plain.scores, plain.features
    tuned, _ = tuned_peer_scores(plain.train, plain.test, plain.features, seed=seed)
    # the same plain peer under design rule 3 (history bounded at 3 years): what the
    # unbounded "all history" counts alone are worth to it
    bounded = peer_frame(raw, [*closed, latest], horizon=12, history_days=HISTORY_DAYS)
    peer_3y = plain_peer(bounded, latest, family_ids).scores
    truth = pd.read_parquet(raw_dir / "ground_truth.parquet")
    truth = truth.loc[pd.to_datetime(truth["as_of"]) == latest].set_index("family_id")
    oracle = truth["true_probability"].reindex(at_t["family_id"].astype(str)).to_numpy(float)
    known = ~np.isnan(oracle)
    print(
        f"\n{variant}, seed {seed}: T {latest.date()}, {len(y):,} eligible families, "
        f"{int(y.sum())} outcomes; oracle {fast_auc(y[known], oracle[known]):.4f}, plain peer "
        f"{fast_auc(y, peer):.4f} (its history bounded at 3 years: "
        f"{fast_auc(y, peer_3y):.4f}), tuned peer {fast_auc(y, tuned):.4f}",
        flush=True,
    )
    spec = config.load_model_spec("model")
    assert isinstance(spec, LightGBMSpec), f"the default model spec is {spec.kind}, not lightgbm"
    history = outcome_history(raw.outcomes, eligible)
    with_history = pd.concat([eligible, history], axis=1)
    at_t = with_history.loc[with_history["as_of"] == latest]
    runs = [(name, count, model_input_columns()) for name, count in ORIGINS.items()]
    runs.append(("8 + outcomes", 8, [*model_input_columns(), *history.columns]))
    # the peer's generic per-event-type counts under the 3-year bound, beside the catalogue
    counts = bounded.set_index(["family_id", "as_of"])[features].add_prefix("generic_")
    key = pd.MultiIndex.from_arrays(
        [with_history["family_id"].astype(str), pd.to_datetime(with_history["as_of"])]
    )
    generic = counts.reindex(key).fillna(0.0).set_axis(with_history.index)
    with_history = pd.concat([with_history, generic], axis=1)
    at_t = with_history.loc[with_history["as_of"] == latest]
    runs.append(("8 + 3y counts", 8, [*model_input_columns(), *generic.columns]))
    for name, count, inputs in runs:
        dates = closed[-count:] if count else closed
        rows = with_history.loc[with_history["as_of"].isin(dates)]
        fit = fit_lightgbm(rows, feature_names=inputs, spec=spec, seed=config.seed, n_threads=2)
        score = fit.model.raw_score(at_t)
        low, high = margin_interval(y, score, peer, seed=seed)
        auc = fast_auc(y, score)
        print(
            f"  earlyrisk, {name:<13} ({len(dates):>2} dates, {len(rows):>7,} rows): "
            f"{auc:.4f}  over the plain peer {auc - fast_auc(y, peer):+.4f} "
            f"[{low:+.4f}, {high:+.4f}]  over the tuned peer {auc - fast_auc(y, tuned):+.4f}",
            flush=True,
        )


def main() -> None:
    """Every chosen variant and seed, one block each."""
    from benchmarks.quality import _env_list
    from features.synth.variants import VARIANTS

    os.nice(10)
    families = int(os.environ.get("EARLYRISK_QUALITY_FAMILIES", "20000"))
    seeds = [int(s) for s in _env_list("EARLYRISK_QUALITY_SEEDS", "1")]
    variants = _env_list("EARLYRISK_QUALITY_VARIANTS", ",".join(VARIANTS))
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose among {', '.join(VARIANTS)}")
    print(
        f"quality levers at {families:,} families: ROC AUC at T of the trainer's LightGBM on "
        "4, 8 and every origin (and 8 with prior recorded outcomes), the plain and the tuned "
        "peer, and the oracle"
    )
    for variant in variants:
        for seed in seeds:
            measure(variant, seed, families)


if __name__ == "__main__":
    main()
