"""Each recalibration rule of the label-free estimate replayed on the estimator benchmark's
cached clean setups: how round 10 chose ``MonitorConfig.recalibration``'s default then (logistic;
round 12's choice, ``shrunk_logistic``, was made with :mod:`benchmarks.estimator_compare`).

For every setup kept in ``var/bench/estimator/`` by ``python -m benchmarks estimator`` (a
model trained on the extract one year before the registry's end, its labelled year and the
four later quarter ends with their realized labels) and every rule of
:mod:`serving.monitor.recalibration`: the map fitted on the labelled year, the ROC AUC
estimate at each later date against the realized value, and whether its 95 % interval
covered it: Hanley-McNeil alone (``cov_hm``), with the map's bootstrap spread
(``cov_map``), and with the leave-one-quarter-out transfer term too (``cov_all``, what the
monitor reports). No CBPE here (``python -m benchmarks estimator`` prints it).

This round the rule was chosen on seeds 4 and 5 and reported on seeds 1 and 2
(``docs/monitoring.md``). Run: ``EARLYRISK_ESTIMATOR_SEEDS=4,5 python -m
benchmarks.estimator_rules`` (default: every cached setup at 20,000 families); only cached
setups are read, nothing is trained.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.estimator import CACHE
from benchmarks.quality import _env_list, fast_auc

Z = 1.959963984540054


class _Served:
    """Stands in for the model where only its probabilities are needed (computed once)."""

    def __init__(self, column: str) -> None:
        self.column = column

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.column].to_numpy()


def _by_date(frame: pd.DataFrame, p: np.ndarray) -> dict[dt.date, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for day in sorted(frame["as_of"].unique()):
        mask = (frame["as_of"] == day).to_numpy()
        out[pd.Timestamp(day).date()] = (frame.loc[mask, "label"].to_numpy(dtype=int), p[mask])
    return out


def replay(prepared: dict[str, Any], *, n_boot: int) -> list[dict[str, Any]]:
    """Every rule's estimate, error and coverage at the setup's four later dates."""
    from serving.monitor.recalibration import RULES, map_spread, recalibrate
    from serving.monitor.transfer import auc_sampling_se, calibration_transfer

    stats, model = prepared["stats"], prepared["model"]
    year = _by_date(prepared["year"], model.predict_proba(prepared["year"]))
    later = _by_date(prepared["table"], model.predict_proba(prepared["table"]))
    frames = {
        d: pd.DataFrame({"p": p, "label": y, "label_observed": True}) for d, (y, p) in year.items()
    }
    rows = []
    for rule in RULES:
        check, info = recalibrate(rule, year, k=stats.capacity.k)
        option = "ece_check" if rule == "ece_check" else check.method
        spread = map_spread(option, year, k=stats.capacity.k, n_boot=n_boot, seed=0)
        trusted_stats = stats.model_copy(update={"calibration": check})
        transfer, _ = calibration_transfer(trusted_stats, _Served("p"), frames, rule=rule)  # type: ignore[arg-type]
        tse = transfer.extra_se if transfer is not None else 0.0
        for day, (y, p) in later.items():
            value, se = auc_sampling_se(check.apply(p), p)
            error = value - fast_auc(y, p)
            map_se = spread.se(p)
            rows.append(
                {
                    "variant": prepared["variant"],
                    "seed": prepared["seed"],
                    "as_of": day.isoformat(),
                    "rule": rule,
                    "map": info["option"],
                    "error": error,
                    "cov_hm": abs(error) <= Z * se,
                    "cov_map": abs(error) <= Z * float(np.hypot(se, map_se)),
                    "cov_all": abs(error) <= Z * float(np.sqrt(se**2 + map_se**2 + tse**2)),
                }
            )
    return rows


def main() -> None:
    """The per-rule summary over the cached setups of the chosen seeds."""
    families = int(os.environ.get("EARLYRISK_ESTIMATOR_FAMILIES", "20000"))
    seeds = set(_env_list("EARLYRISK_ESTIMATOR_SEEDS", ""))
    paths = sorted(Path(CACHE).glob(f"*-s*-n{families}.pkl"))
    rows: list[dict[str, Any]] = []
    for path in paths:
        with path.open("rb") as fh:
            prepared: dict[str, Any] = pickle.load(fh)
        if seeds and str(prepared["seed"]) not in seeds:
            continue
        rows.extend(replay(prepared, n_boot=40))
        print(f"replayed {path.name}", flush=True)
    if not rows:
        print(f"no cached setup in {CACHE} (run python -m benchmarks estimator first)")
        return
    frame = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(frame.pivot_table(index=["variant", "seed", "as_of"], columns="rule", values="error")
          .round(4).to_string())  # fmt: skip
    summary = frame.groupby("rule").agg(
        mean_abs_error=("error", lambda e: float(np.mean(np.abs(e)))),
        mean_error=("error", "mean"),
        cov_hm=("cov_hm", "mean"),
        cov_map=("cov_map", "mean"),
        cov_all=("cov_all", "mean"),
    )
    print(f"{len(frame) // frame['rule'].nunique()} dates per rule")
    print(summary.round(4).to_string())


if __name__ == "__main__":
    main()
