"""Model fitting: protected inputs refused, early stopping inside training, reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from training_frames import fake_feature_table

from features.catalogue import model_input_columns
from training.config import LightGBMSpec, LogisticSpec
from training.models import (
    ProtectedInputError,
    RuleBaseline,
    check_model_inputs,
    column_medians,
    fit_lightgbm,
    fit_logistic,
    validation_mask,
)

QUICK = LightGBMSpec(
    params={"learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20},
    num_boost_round=60,
    early_stopping_rounds=10,
    tune={"num_leaves": [3, 7]},
)


@pytest.fixture(scope="module")
def train_frame():
    table = fake_feature_table(800, dates=("2021-06-30", "2021-12-31"), seed=4)
    return table


@pytest.mark.parametrize(
    "column",
    [
        "audit_region",
        "audit_ethnicity",
        "sex",
        "head_sex",
        "ethnicity",
        "label",
        "wellbeing_score",
        "deprived_health",
    ],
)
def test_protected_and_audit_columns_are_refused(column):
    with pytest.raises(ProtectedInputError, match=column):
        check_model_inputs([*model_input_columns()[:3], column])


def test_every_protected_name_is_refused_whatever_its_prefix():
    from training.protected import PROTECTED_NAMES

    for name in sorted(PROTECTED_NAMES):
        for column in (name, f"person_{name}", name.upper()):
            with pytest.raises(ProtectedInputError, match=column):
                check_model_inputs([*model_input_columns()[:3], column])


def test_attribute_of_the_protected_table_is_refused_by_name():
    with pytest.raises(ProtectedInputError, match="caste"):
        check_model_inputs(["econ_debt", "caste"], protected=["caste"])


def test_catalogue_inputs_pass_the_check():
    assert check_model_inputs(model_input_columns()) == model_input_columns()


def test_fit_refuses_an_audit_column_as_input(train_frame):
    names = [*model_input_columns()[:5], "audit_region"]
    with pytest.raises(ProtectedInputError, match="audit_region"):
        fit_lightgbm(train_frame, feature_names=names, spec=QUICK, seed=1, n_threads=1)
    with pytest.raises(ProtectedInputError, match="audit_region"):
        fit_logistic(train_frame, feature_names=names, spec=LogisticSpec(), seed=1)


def test_lightgbm_fit_is_reproducible_and_tunes_within_training(train_frame):
    names = model_input_columns()
    a = fit_lightgbm(train_frame, feature_names=names, spec=QUICK, seed=7, n_threads=1)
    b = fit_lightgbm(train_frame, feature_names=names, spec=QUICK, seed=7, n_threads=1)
    assert a.model.to_bytes() == b.model.to_bytes()
    assert len(a.tuning) == 2 and a.validation_logloss == a.tuning["validation_logloss"].min()
    held = validation_mask(train_frame["family_id"], fraction=QUICK.validation_fraction)
    assert a.n_validation_rows == int(held.sum()) and a.n_fit_rows == int((~held).sum())
    # the hold-out is by family: no family is on both sides
    fams_held = set(train_frame.loc[held, "family_id"])
    assert not fams_held & set(train_frame.loc[~held, "family_id"])
    assert a.best_iteration == a.model.booster.num_trees()


def test_logistic_baseline_learns_the_signal(train_frame):
    from sklearn.metrics import roc_auc_score

    model = fit_logistic(
        train_frame, feature_names=model_input_columns(), spec=LogisticSpec(), seed=0
    )
    auc = roc_auc_score(train_frame["label"], model.raw_score(train_frame))
    assert auc > 0.65
    contrib = model.contributions(train_frame)
    np.testing.assert_allclose(contrib.sum(axis=1), model.raw_score(train_frame), atol=1e-9)


def test_rule_baseline_ranks_by_the_wellbeing_score(train_frame):
    rule = RuleBaseline()
    np.testing.assert_array_equal(rule.raw_score(train_frame), train_frame["wellbeing_score"])
    with pytest.raises(KeyError, match="wellbeing_score"):
        rule.raw_score(train_frame.drop(columns=["wellbeing_score"]))


def test_logistic_baseline_reads_a_missing_days_since_as_never_not_the_median():
    from training.models import never_value

    rng = np.random.default_rng(0)
    n = 3000
    had_event = rng.random(n) < 0.3
    days = np.where(had_event, rng.integers(1, 60, n), np.nan).astype(float)
    # recent events raise the risk; families without any event are the safest
    y = (rng.random(n) < np.where(had_event, 0.3, 0.02)).astype(int)
    frame = pd.DataFrame(
        {
            "family_id": [f"f{i}" for i in range(n)],
            "soc_days_since_dv_report": days,
            "label": y,
        }
    )
    model = fit_logistic(
        frame, feature_names=["soc_days_since_dv_report"], spec=LogisticSpec(), seed=0
    )
    never = never_value("soc_days_since_dv_report")
    assert never == 3 * 365 + 1 and model.medians[0] == never
    missing = frame.head(1).assign(soc_days_since_dv_report=np.nan)
    recent = frame.head(1).assign(soc_days_since_dv_report=10.0)
    # "no report in 3 years" ranks below a recent report (a median fill would rank it with them)
    assert model.raw_score(missing)[0] < model.raw_score(recent)[0]


@pytest.mark.parametrize("n", [1, 2, 7, 400, 401])
def test_column_medians_equal_scikit_learns_median_imputer(n):
    from sklearn.impute import SimpleImputer

    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 5)).round(1)  # ties, as in counts
    X[rng.random((n, 5)) < 0.3] = np.nan
    X[:, 2] = np.nan  # a column with no value at all: 0, as keep_empty_features gives
    X[0, 4] = np.nan
    expected = SimpleImputer(strategy="median", keep_empty_features=True).fit(X).statistics_
    np.testing.assert_array_equal(column_medians(X), expected)
    assert column_medians(X)[2] == 0.0
