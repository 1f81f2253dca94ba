"""One LightGBM native call at a time in this process.

Training overlaps independent work in threads (the baseline beside the grid, the backtest
origins beside the final refit, the model card's comparison beside the reports: see
training/pipeline.py). LightGBM's native library is not safe for concurrent boosters in
one process: shared predictor and dataset state raced, and a notebook kernel running the
pipeline died in ``lib_lightgbm.so`` (a segfault in CI, once in many runs; upstream
documents the same with several concurrent jobs). So every ``lgb.train``, ``predict`` and
model load takes this lock. The overlap of everything else (numpy, scikit-learn, scipy,
the reports) stays; a LightGBM call already uses every core through OpenMP, so running
two at once only oversubscribed them.
"""

from __future__ import annotations

import threading

# Re-entrant: a model method that predicts may be called from code already holding it.
LIGHTGBM_LOCK = threading.RLock()
