"""The card's caseworker facts: bands set and audited on the test slice, and the same
training without the support-received inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from training_frames import QUICK_SPEC, fake_feature_table

from features.catalogue import FEATURES
from training.caseworker_facts import band_facts, caseworker_card_fields, support_inputs
from training.config import load_config
from training.model_card import ModelCardFacts, build_model_card
from training.pipeline import run_training
from training.run_card import model_card_facts


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import yaml

    tmp = tmp_path_factory.mktemp("caseworker_facts")
    spec = tmp / "quick.yaml"
    spec.write_text(yaml.safe_dump(QUICK_SPEC), encoding="utf-8")
    config = load_config(
        None,
        model_spec=str(spec),
        report_dir=str(tmp / "report"),
        evaluation={"n_bootstrap": 20},
        gates={"fairness": None},
        # the card's facts come from the held-out design: no earlier origins, no refit
        backtest={"origins": 1, "n_bootstrap": 20},
        final_refit=False,
    )
    return run_training(
        config,
        feature_table=fake_feature_table(1200, seed=5),
        n_threads=1,
        log_to_mlflow=False,
        write_reports=False,
    )


def test_support_ablation_drops_exactly_the_support_inputs(trained):
    fields = caseworker_card_fields(trained)
    ablation = fields["support_ablation"]
    names = trained.evaluated_model.feature_names
    assert ablation.support_inputs == [n for n in names if FEATURES[n].kind == "support"]
    assert ablation.support_inputs and "econ_tsa_payments_365d" in ablation.support_inputs
    assert ablation.capacity_k == trained.config.capacity.k(len(trained.split.test))
    # "with" is this run's own model, measured the same way as the evaluation
    auc = trained.evaluation.models["lightgbm"].metrics["roc_auc"].estimate
    assert ablation.roc_auc_with == pytest.approx(auc)
    assert 0.0 <= ablation.precision_at_k_without <= 1.0
    assert 0.0 < ablation.roc_auc_without < 1.0


def test_the_card_states_bands_policy_and_ablation(trained):
    card = build_model_card(model_card_facts(trained))
    text = card.to_markdown()
    assert "## Risk levels" in text and "## Reasons shown to caseworkers" in text
    assert "without support inputs" in text
    bands = card.facts.risk_bands
    assert [b.level for b in bands.bands] == ["low", "elevated", "high"]
    test = trained.split.test
    k = trained.config.capacity.k(len(test))
    assert (
        0 < bands.bands[-1].families <= int(np.ceil(trained.config.capacity.fraction * len(test)))
    )
    assert abs(bands.bands[-1].families - k) <= k  # the high band is the capacity, not more
    # bands are set on the eligible families only (the test slice holds no other), like the
    # service's: every test family is in exactly one band
    assert trained.eligibility_rule.mask(test).all()
    assert sum(b.families for b in bands.bands) == len(test)
    assert ModelCardFacts.model_validate(card.facts.model_dump()) == card.facts


def test_band_audit_counts_each_group_at_the_band_cutoff():
    rng = np.random.default_rng(0)
    n = 400
    test = pd.DataFrame(
        {
            "label": rng.integers(0, 2, n),
            "audit_settlement": np.where(np.arange(n) < 300, "urban", "rural"),
            "audit_tiny": np.where(np.arange(n) < 5, "few", "many"),
        }
    )
    probability = np.where(test["audit_settlement"] == "urban", 0.3, 0.01) * rng.uniform(
        0.5, 1.5, n
    )
    facts = band_facts(
        test,
        probability,
        capacity_count=40,
        capacity_fraction=None,
        groups=["audit_settlement", "audit_tiny"],
        min_group_size=11,
    )
    high_cut = next(b for b in facts.bands if b.level == "high").min_probability
    urban = next(a for a in facts.audit if a.band == "high" and a.group == "urban")
    flagged = probability[:300] >= high_cut
    assert urban.flagged_share == pytest.approx(flagged.mean())
    assert urban.precision == pytest.approx(test["label"][:300][flagged].mean())
    # the 5-family group is suppressed, as in the fairness audit
    assert not any(a.group == "few" for a in facts.audit)
    assert {a.band for a in facts.audit} == {"high", "elevated or higher"}


def test_support_inputs_are_the_catalogue_support_kind():
    assert support_inputs(["econ_tsa_payments_365d", "hh_children", "edu_school_dropouts_3y"]) == [
        "econ_tsa_payments_365d"
    ]
