"""The plain peer every quality benchmark compares with (`benchmarks.peer.plain_peer`): it
learns from the dates before T only, and its scores line up with the families asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmarks.peer import plain_peer


def _frame(rng: np.random.Generator, n: int = 600) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Two earlier dates where the feature says nothing about the label, and T where it
    decides it: a peer that trained on T's rows would rank T perfectly."""
    latest = pd.Timestamp("2024-12-31")
    rows = []
    for as_of in (pd.Timestamp("2024-03-31"), pd.Timestamp("2024-06-30"), latest):
        x = rng.normal(size=n)
        noise = rng.random(n) < 0.5
        label = (x > 0) if as_of == latest else noise
        rows.append(
            pd.DataFrame(
                {
                    "family_id": [f"f{i:04d}" for i in range(n)],
                    "as_of": as_of,
                    "label": label.astype(int),
                    "label_observed": True,
                    "x": x,
                }
            )
        )
    return pd.concat(rows, ignore_index=True), latest


def test_the_peer_learns_only_from_dates_before_t() -> None:
    frame, latest = _frame(np.random.default_rng(3))
    ids = pd.Series(sorted(frame["family_id"].unique()))
    peer = plain_peer(frame, latest, ids)
    at_t = frame.loc[frame["as_of"] == latest].set_index("family_id").loc[ids]
    assert peer.train["as_of"].max() < latest
    assert peer.features == ["x"]
    # T's rows decide the label; earlier rows carry none of it: near chance unless T leaked
    assert roc_auc_score(at_t["label"], peer.scores) < 0.65


def test_scores_follow_the_order_of_the_families_asked_for() -> None:
    frame, latest = _frame(np.random.default_rng(5))
    ids = pd.Series(sorted(frame["family_id"].unique()))
    forward = plain_peer(frame, latest, ids).scores
    backward = plain_peer(frame, latest, ids[::-1].reset_index(drop=True)).scores
    np.testing.assert_allclose(backward, forward[::-1])
    assert len(np.unique(forward)) > 1
