"""Small deterministic score tables for the audit tests (a helper module, not a conftest:
two conftest modules cannot both be imported by name)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_scores(n: int = 2000, *, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Scores, labels and three group columns; group ``sex = F`` gets scores raised by shift."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], size=n, p=[0.4, 0.6]),
            "settlement": rng.choice(["urban", "rural"], size=n, p=[0.7, 0.3]),
            "region": rng.choice(["R1", "R2", "R3", "R9"], size=n, p=[0.5, 0.3, 0.195, 0.005]),
        }
    )
    truth = rng.uniform(0.02, 0.9, size=n)
    frame["label"] = (rng.uniform(size=n) < truth).astype(int)
    noisy = np.clip(truth + rng.normal(0, 0.1, size=n), 0, 1)
    frame["prob"] = np.clip(noisy + np.where(frame["sex"] == "F", shift, 0.0), 0, 1)
    return frame
