"""Weighted calibration raises no scikit-learn warning, whatever the process's filters.

The support weights reach the calibrator through ``CalibratedClassifierCV``; when the frozen
model's ``fit`` named no ``sample_weight``, scikit-learn warned, and a process-wide warnings
filter meant to hide it could be undone by another thread (a clean-clone CI run failed on
it under ``filterwarnings = error``). The wrapper now accepts the weights, so nothing is
raised even with every warning an error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from training.calibration import fit_margin_calibrator


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_weighted_calibration_raises_no_warning(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    margin = rng.normal(size=2_000)
    y = (rng.random(2_000) < 1 / (1 + np.exp(-(margin - 2.5)))).astype(int)
    weight = rng.uniform(0.5, 2.0, size=2_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # what another thread's catch_warnings did to a filter installed here: it is gone
        monkeypatch.setattr(warnings, "filterwarnings", lambda *args, **kwargs: None)
        calibrator = fit_margin_calibrator(margin, y, method=method, sample_weight=weight)
    probabilities = calibrator.transform(np.array([-2.0, 0.0, 2.0]))
    assert np.all(np.diff(probabilities) >= 0)
    assert probabilities[-1] > probabilities[0]
