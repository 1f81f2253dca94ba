"""Training on corrected data: the config chooses the mode; the model card states it.

``corrections: rewrite_history`` applies every accepted correction at every date (a voided
record never trains the model), ``from_decided_date`` (the default) only from each
decision on. The snapshots of both modes are compared with the registry edited by hand,
and the card's sentence names the mode and the count of corrected records.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.engine import build_feature_table
from features.validation.corrections import load_corrections
from tests.features.raw_factory import valid_tables
from tests.features.test_corrections import BEFORE, LATEST, _edited, correction, registry, void_e11
from training.config import load_config
from training.inputs import build_snapshots
from training.pipeline import corrections_fact
from training.run_card import describe_corrections


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table.attrs.clear()
    return table


def test_the_config_chooses_whether_corrections_rewrite_history(tmp_path: Path) -> None:
    raw = registry(tmp_path, [correction(), void_e11()])
    corrections = load_corrections(raw)
    original = valid_tables()
    edited = _edited(_edited(original, "E11"), "E9", value=0.0)
    dates = [pd.Timestamp(BEFORE).date(), pd.Timestamp(LATEST).date()]

    rewrite = load_config(corrections="rewrite_history")
    got = build_snapshots(original, rewrite, dates, n_jobs=1, corrections=corrections)
    expected = build_feature_table(edited, dates, n_jobs=1)
    pd.testing.assert_frame_equal(_plain(got), _plain(expected))  # before the decision too

    default = load_config()
    assert default.corrections == "from_decided_date"
    kept = build_snapshots(original, default, dates, n_jobs=1, corrections=corrections)
    before = kept.loc[kept["as_of"] == pd.Timestamp(BEFORE)].reset_index(drop=True)
    unchanged = build_feature_table(original, dates[:1], n_jobs=1)
    pd.testing.assert_frame_equal(_plain(before), _plain(unchanged))
    assert not _plain(before).equals(_plain(got.loc[got["as_of"] == pd.Timestamp(BEFORE)]))

    sentence = describe_corrections(corrections_fact(got, rewrite.corrections))
    assert sentence is not None
    assert "rewrite history (a voided record never trained the model" in sentence
    assert "2 record(s) corrected (1 voided, 1 amended)" in sentence
    sentence = describe_corrections(corrections_fact(kept, default.corrections))
    assert sentence is not None and "apply from their decided date" in sentence


def test_a_model_trained_without_corrections_says_so() -> None:
    table = pd.DataFrame({"family_id": ["F1"]})
    sentence = describe_corrections(corrections_fact(table, "from_decided_date"))
    assert sentence is not None and "0 record(s) corrected" in sentence
