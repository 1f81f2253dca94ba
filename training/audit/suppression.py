"""Small-cell suppression: groups with fewer than ``min_group_size`` rows are not reported.

A rate computed on a handful of families says little and can identify them (an auditor who
knows the only three large rural families in a district learns their outcomes). Every output
of the audit (tables, intervals, disparities, reliability bins, score distributions, proxy
checks, gates, HTML) hides the numbers of such groups and marks them as suppressed instead;
even their count is withheld, only the fact that it is below the threshold is kept.
"""

from __future__ import annotations

import numpy as np

DEFAULT_MIN_GROUP_SIZE = 11
SUPPRESSED_MARK = "suppressed"


def check_min_group_size(min_group_size: int) -> int:
    """Validate the threshold (a whole number >= 1) and return it."""
    if isinstance(min_group_size, bool) or int(min_group_size) != min_group_size:
        raise ValueError(f"min_group_size must be a whole number, got {min_group_size!r}")
    if min_group_size < 1:
        raise ValueError(f"min_group_size must be at least 1, got {min_group_size}")
    return int(min_group_size)


def suppressed(sizes: np.ndarray, min_group_size: int) -> np.ndarray:
    """Boolean mask of the groups whose size is below the threshold."""
    return np.asarray(sizes) < check_min_group_size(min_group_size)
