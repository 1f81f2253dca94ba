"""Fixtures of the audit tests."""

from __future__ import annotations

import pandas as pd
import pytest
from auditkit import make_scores


@pytest.fixture
def scores() -> pd.DataFrame:
    return make_scores()
