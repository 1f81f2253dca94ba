"""Evaluation: metrics equal scikit-learn's on the plain sample; bootstrap is paired and sane."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from training.evaluation import (
    ScoredModel,
    _bin_index,
    capacity_metrics,
    evaluate,
    expected_calibration_error,
    point_metrics,
    weighted_metrics,
)


def _sample(n=3000, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    truth = rng.beta(1.2, 12, n)
    y = (rng.random(n) < truth).astype(int)
    p = np.clip(truth + rng.normal(0, 0.03, n), 0.001, 0.999)
    if ties:
        p = np.round(p, 2)
    return y, p, truth


@pytest.mark.parametrize("ties", [False, True])
def test_point_metrics_match_scikit_learn(ties):
    y, p, _ = _sample(ties=ties)
    m = point_metrics(y, p, p, k=150, n_bins=10)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-9)
    top = np.argsort(-p, kind="stable")[:150]
    assert m["precision_at_k"] == pytest.approx(y[top].mean())
    assert m["recall_at_k"] == pytest.approx(y[top].sum() / y.sum())
    assert m["lift_at_k"] == pytest.approx(y[top].mean() / y.mean())


def test_weighted_metrics_equal_metrics_on_the_materialised_resample():
    y, p, _ = _sample(800, seed=3, ties=True)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(y), len(y))
    counts = np.bincount(idx, minlength=len(y))
    bins, nb = _bin_index(p, 10)
    w = weighted_metrics(y, p, p, counts[None, :], k=40, bin_index=bins, n_bins=nb)
    yb, pb = y[idx], p[idx]
    assert w["roc_auc"][0] == pytest.approx(roc_auc_score(yb, pb), abs=1e-12)
    assert w["pr_auc"][0] == pytest.approx(average_precision_score(yb, pb), abs=1e-12)
    assert w["brier"][0] == pytest.approx(brier_score_loss(yb, pb), abs=1e-12)
    # top-k of the resample: copies of a row are adjacent in score order
    order = np.argsort(-pb, kind="stable")
    assert w["precision_at_k"][0] == pytest.approx(yb[order[:40]].mean())


@pytest.mark.parametrize("ties", [False, True])
def test_ranking_only_gives_exactly_the_full_passes_ranking_metrics(ties):
    y, p, _ = _sample(900, seed=4, ties=ties)
    rng = np.random.default_rng(2)
    counts = rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=7)
    bins, nb = _bin_index(p, 10)
    full = weighted_metrics(y, p, p, counts, k=45, bin_index=bins, n_bins=nb)
    lean = weighted_metrics(y, p, p, counts, k=45, bin_index=bins, n_bins=nb, ranking_only=True)
    assert set(lean) == {"roc_auc", "precision_at_k", "recall_at_k", "lift_at_k"}
    for name, values in lean.items():
        np.testing.assert_array_equal(values, full[name], err_msg=name)


def test_ece_is_small_for_calibrated_and_large_for_shifted_scores():
    y, _, truth = _sample(20000, seed=5)
    good = expected_calibration_error(y, truth, n_bins=10)
    bad = expected_calibration_error(y, np.clip(truth * 2, 0, 1), n_bins=10)
    assert good < 0.01 < bad


def test_intervals_and_paired_auc_difference():
    y, p, truth = _sample(3000, seed=7)
    rng = np.random.default_rng(0)
    noisy = np.clip(p + rng.normal(0, 0.08, len(p)), 0, 1)
    ev = evaluate(
        y,
        {"main": ScoredModel(p, p), "noisy": ScoredModel(noisy, noisy)},
        k=150,
        main="main",
        n_bootstrap=100,
        seed=1,
        true_probability=truth,
    )
    for model in ev.models.values():
        iv = model.metrics["roc_auc"]
        assert iv.low <= iv.estimate <= iv.high
        assert iv.high - iv.low < 0.1
    diff = ev.auc_difference["main - noisy"]
    assert diff.estimate == pytest.approx(
        ev.models["main"].metrics["roc_auc"].estimate
        - ev.models["noisy"].metrics["roc_auc"].estimate
    )
    assert diff.low > 0  # the clean score is clearly better, and pairing shows it
    assert ev.oracle["roc_auc"].estimate == pytest.approx(roc_auc_score(y, truth))
    assert ev.models["main"].truth["mae_vs_truth"] < ev.models["noisy"].truth["mae_vs_truth"]
    table = ev.comparison_table()
    assert list(table.index) == ["main", "noisy", "oracle (true probability)"]


def test_same_seed_same_intervals_other_seed_other_intervals():
    y, p, _ = _sample(1000, seed=2)

    def run(seed):
        return evaluate(y, {"m": ScoredModel(p, p)}, k=50, main="m", n_bootstrap=50, seed=seed)

    assert run(3).models["m"].metrics == run(3).models["m"].metrics
    assert run(3).models["m"].metrics["roc_auc"] != run(4).models["m"].metrics["roc_auc"]


def test_reliability_table_counts_every_row():
    y, p, _ = _sample(2000, seed=9)
    ev = evaluate(y, {"m": ScoredModel(p, p)}, k=100, main="m", n_bootstrap=20, seed=0)
    rel = ev.models["m"].reliability
    assert rel["n"].sum() == len(y)
    assert (rel["observed_low"] <= rel["observed"] + 1e-12).all()
    assert (rel["observed"] <= rel["observed_high"] + 1e-12).all()


def test_capacity_counts_ties_in_stable_order():
    y = np.array([0, 1, 1, 0, 1])
    s = np.array([0.5, 0.5, 0.9, 0.1, 0.2])
    m = capacity_metrics(y, s, k=2)  # rows 2 (0.9) and 0 (first of the 0.5 tie)
    assert m["precision_at_k"] == 0.5


def test_one_class_test_slice_is_refused():
    with pytest.raises(ValueError, match="both classes"):
        evaluate(np.zeros(10), {"m": ScoredModel(np.zeros(10), np.zeros(10))}, k=1, main="m")


def test_bootstrap_resamples_families_not_rows():
    from training.evaluation import bootstrap_weights

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(50), 4)  # 50 families, 4 snapshots each
    weights = bootstrap_weights(rng, 200, len(groups), groups=groups)
    # every snapshot of a family is drawn as often as the family
    per_family = weights.reshape(200, 50, 4)
    assert (per_family == per_family[:, :, :1]).all()
    assert (per_family[:, :, 0].sum(axis=1) == 50).all()
    # rows drawn independently would split families apart
    rows = bootstrap_weights(np.random.default_rng(0), 200, len(groups))
    assert not (rows.reshape(200, 50, 4) == rows.reshape(200, 50, 4)[:, :, :1]).all()


def test_family_bootstrap_widens_the_interval_of_repeated_snapshots():
    from training.evaluation import ScoredModel, evaluate

    rng = np.random.default_rng(3)
    n_families = 300
    p = rng.uniform(0.05, 0.6, n_families)
    y_family = (rng.random(n_families) < p).astype(int)
    # 4 identical snapshots per family: rows are not independent
    y = np.repeat(y_family, 4)
    score = np.repeat(p + rng.normal(0, 0.2, n_families), 4)
    groups = np.repeat(np.arange(n_families), 4)
    scored = {"m": ScoredModel(probability=np.clip(score, 0.01, 0.99), rank_score=score)}
    by_row = evaluate(y, scored, k=50, main="m", n_bootstrap=200, seed=1)
    by_family = evaluate(y, scored, k=50, main="m", n_bootstrap=200, seed=1, groups=groups)

    def width(ev):
        return ev.models["m"].metrics["roc_auc"].high - ev.models["m"].metrics["roc_auc"].low

    assert width(by_family) > 1.5 * width(by_row)
