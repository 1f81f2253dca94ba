"""What the interval's map term costs: ``calibration_boot`` (40) refits of the map at 1M rows.

The monitor refits the chosen map on bootstrap resamples of the labelled year's families
(:func:`serving.monitor.recalibration.map_spread`) and then evaluates the ROC AUC estimate
under every refitted map at each monitored date (:meth:`MapSpread.se`). At a national
registry's size both scale with the rows. This micro-benchmark times them on synthetic
probabilities (no model, no registry: the map fitting is the whole cost), a labelled year of
``EARLYRISK_BOOT_ROWS`` rows (default 1,000,000, four quarter ends) and a monitored date of
as many, for the default map and the others, beside one fit of the same map (the ratio is
what the term adds to the estimate's own calibration).

Run: ``python -m benchmarks.estimator_boot`` (printed by ``python -m benchmarks estimator``
too, so ``make bench`` shows it).
"""

from __future__ import annotations

import datetime as dt
import os
import time

import numpy as np
from scipy.special import expit

QUARTERS = (dt.date(2023, 3, 31), dt.date(2023, 6, 30), dt.date(2023, 9, 30), dt.date(2023, 12, 31))


def _draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and served probabilities (a little too flat) of ``n`` families, 5 % positive."""
    truth = -3.2 + 1.2 * rng.normal(size=n)
    y = (rng.random(n) < expit(truth)).astype(int)
    return y, expit(-3.2 + 0.9 * (truth + 3.2))


def _timed(fn: object, *args: object, **kwargs: object) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)  # type: ignore[operator]
    return out, time.perf_counter() - wall, time.process_time() - cpu


def measure(rows: int, options: tuple[str, ...], n_boot: int) -> list[str]:
    """One line per map: one fit, the ``n_boot`` refits and their evaluation at a date."""
    from serving.monitor.recalibration import FITS, map_spread

    rng = np.random.default_rng(0)
    year = {day: _draw(rng, rows // len(QUARTERS)) for day in QUARTERS}
    y_all = np.concatenate([y for y, _ in year.values()])
    p_all = np.concatenate([p for _, p in year.values()])
    _, p_later = _draw(rng, rows)

    def k(n: int) -> int:
        return max(1, round(0.05 * n))

    lines = []
    for option in options:
        _, one_wall, one_cpu = _timed(FITS[option], y_all, p_all, k=k(p_all.size))
        spread, fit_wall, fit_cpu = _timed(map_spread, option, year, k=k, n_boot=n_boot, seed=0)
        _, se_wall, se_cpu = _timed(spread.se, p_later)  # type: ignore[attr-defined]
        lines.append(
            f"{option:<9} one fit {one_wall:6.2f} s wall ({one_cpu:6.2f} CPU-s); "
            f"{n_boot} refits {fit_wall:7.2f} s wall ({fit_cpu:7.2f} CPU-s, "
            f"{fit_cpu / max(one_cpu, 1e-9):.0f}x one fit); their estimate at a date of "
            f"{rows:,} rows {se_wall:6.2f} s wall ({se_cpu:6.2f} CPU-s)"
        )
    return lines


def main() -> None:
    """Print the cost of the map term at ``EARLYRISK_BOOT_ROWS`` rows."""
    from serving.monitor.config import MonitorConfig

    rows = int(os.environ.get("EARLYRISK_BOOT_ROWS", "1000000"))
    config = MonitorConfig()
    from serving.monitor.recalibration import FITS

    # the default rule's map (auc_check chooses among these at run time: not timed apart)
    chosen = (config.recalibration,) if config.recalibration in FITS else ()
    options = tuple(dict.fromkeys((*chosen, "logistic", "isotonic")))
    print(
        f"calibration_boot: {config.calibration_boot} refits of the map on a labelled year of "
        f"{rows:,} rows (4 quarter ends, synthetic probabilities), default map "
        f"{config.recalibration!r}; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for line in measure(rows, options, config.calibration_boot):
        print(line, flush=True)


if __name__ == "__main__":
    main()
