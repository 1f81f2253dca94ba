"""The audit reads only the rows of a score file that carry a probability.

A batch run under a rollout writes hold-out families as ``withheld`` rows (score id kept,
probability, level and reasons blank); ineligible families have no score at all. Auditing
them as if they were scored would feed blanks into every metric, so the reader keeps the
``scored`` rows only, and a file without a ``status`` column (a plain score table) whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.audit.io import read_scores


def _score_file() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "family_id": ["F1", "F2", "F3", "F4", "F5"],
            "score_id": ["s1", "s2", None, "s4", "s5"],
            "status": ["scored", "withheld", "ineligible", "scored", "expired"],
            "prob": [0.3, np.nan, np.nan, 0.7, 0.5],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_withheld_ineligible_and_expired_rows_are_left_out(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"scores{suffix}"
    frame = _score_file()
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    read = read_scores(path)
    assert read["family_id"].tolist() == ["F1", "F4"]
    assert read["prob"].notna().all()


def test_a_table_without_status_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    _score_file().drop(columns="status").to_csv(path, index=False)
    assert len(read_scores(path)) == 5
