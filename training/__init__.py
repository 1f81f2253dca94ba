"""Temporal splits, calibrated models, evaluation, fairness audit, MLflow tracking and gates.

OpenMP wait policy: LightGBM's threads meet at a barrier many times per boosting round, and
by default the OpenMP runtime (libgomp) keeps a waiting thread spinning on its core. When
the machine has more runnable threads than cores (a shared server, several jobs at once),
the spinning thread steals the time slice of the one it waits for, and a 2-thread fit ran
8 times slower than a 1-thread fit (measured: 100 rounds on 430k rows, load average 13 on
2 cores: 84 s spinning, 10.5 s passive; benchmarks/train.py). ``PASSIVE`` makes waiting
threads sleep. libgomp reads the variable once, when LightGBM first loads it, so it is set
here, before lightgbm is imported (only :mod:`training.lightgbm_adapter` imports it, lazily);
``setdefault``: a value the user exported wins. It changes no result, only scheduling.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
