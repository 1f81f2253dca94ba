"""Model cards from plain facts: fixed sections, derived warnings, JSON and Markdown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from training.audit import FairnessGates, TopFraction, audit, evaluate_fairness_gates
from training.model_card import (
    INTENDED_USE,
    OUT_OF_SCOPE,
    SYNTHETIC_BIASES,
    DataFacts,
    MetricFact,
    ModelCardFacts,
    build_model_card,
    fairness_facts_from_audit,
    write_model_card,
)


def _facts(scores: pd.DataFrame | None, *, synthetic: bool = True, gates: bool = True):
    fairness = None
    if scores is not None:
        frame = scores.assign(proxy=(scores["sex"] == "F").astype(float))
        result = audit(
            frame,
            score="prob",
            label="label",
            groups=["sex", "region"],
            rule=TopFraction(0.2),
            n_boot=50,
            proxy_features=["proxy"],
        )
        outcomes = evaluate_fairness_gates(result, FairnessGates()) if gates else None
        fairness = fairness_facts_from_audit(result, outcomes)
    return ModelCardFacts(
        model_name="earlyrisk-family-risk",
        model_version="4",
        alias="challenger",
        run_id="0123abcd",
        created_at=datetime(2026, 11, 28, tzinfo=UTC),
        model_type="LightGBM with isotonic calibration",
        features=["econ_tsa_payments_365d", "soc_service_contacts_365d"],
        capacity="top 20% of families",
        data=DataFacts(
            source="earlyrisk synth, 3000 families, seed 7",
            synthetic=synthetic,
            n_families=3000,
            rows_per_split={"train": 9000, "test": 3000},
        ),
        metrics=[
            MetricFact(name="roc_auc", value=0.81, lower=0.78, upper=0.84),
            MetricFact(name="brier", value=float("nan")),
        ],
        fairness=fairness,
    )


@pytest.mark.slow
def test_card_states_intended_use_scope_biases_and_contact(scores: pd.DataFrame) -> None:
    card = build_model_card(_facts(scores))
    markdown = card.to_markdown()
    for heading in (
        "## Intended use",
        "## Out of scope",
        "## Data",
        "### Known biases",
        "## Metrics",
        "## Fairness",
        "## Limitations",
        "## Contact",
    ):
        assert heading in markdown
    assert INTENDED_USE[0] in markdown and OUT_OF_SCOPE[0] in markdown
    assert "never follow from the score" in markdown  # never an automated decision
    assert SYNTHETIC_BIASES[0] in markdown and "uzbek" in markdown
    assert "| roc_auc | test | 0.810 | 0.780 – 0.840 |" in markdown
    assert "| brier | test | n/a |" in markdown


def test_fairness_section_lists_groups_failed_gates_and_proxies() -> None:
    from auditkit import make_scores

    facts = _facts(make_scores(2000, shift=0.3))  # scores of group F raised: gates fail
    card = build_model_card(facts)
    fairness = facts.fairness
    assert fairness is not None
    assert {g.group for g in fairness.groups if g.attribute == "region"} == {"R1", "R2", "R3"}
    assert "R9" not in card.to_markdown().split("## Fairness")[1].split("## Limitations")[0]
    assert fairness.n_suppressed >= 1
    assert fairness.flagged_proxies and fairness.flagged_proxies[0].startswith("proxy -> sex")
    assert any("proxy -> sex" in item for item in card.limitations)
    assert fairness.gates_passed is False
    assert any("fairness checks," in w and " failed and " in w for w in card.warnings)
    assert fairness.failed_checks[0] in card.to_markdown()
    assert any("sex=F" in check for check in fairness.failed_checks)


def test_missing_audit_and_real_data_change_the_warnings() -> None:
    card = build_model_card(_facts(None, synthetic=False))
    assert any("No fairness audit" in w for w in card.warnings)
    assert not any("synthetic" in w.lower() for w in card.warnings)
    assert not set(SYNTHETIC_BIASES) & set(card.known_biases)
    assert "No fairness audit was recorded" in card.to_markdown()


def test_json_and_markdown_files(scores: pd.DataFrame, tmp_path: Path) -> None:
    card = build_model_card(_facts(scores, gates=False))
    json_path, md_path = write_model_card(card, tmp_path / "model_card")
    assert json_path.name == "model_card.json" and md_path.name == "model_card.md"
    data = json.loads(json_path.read_text())  # strict: no NaN
    assert data["facts"]["metrics"][1]["value"] is None
    assert data["facts"]["fairness"]["gates_passed"] is None
    assert any("not evaluated" in w for w in data["warnings"])
    assert md_path.read_text().startswith("# Model card: earlyrisk-family-risk version 4")


def test_facts_are_validated() -> None:
    with pytest.raises(ValidationError, match="unexpected"):
        DataFacts(source="x", unexpected=1)
    with pytest.raises(ValidationError, match="created_at"):
        ModelCardFacts(model_name="m", model_type="t", data=DataFacts(source="x"))


def _gate(name: str, outcome: str, *, value: float | None = None, status: str | None = None):
    from training.model_card import GateFact

    return GateFact(name=name, status=status or outcome, outcome=outcome, value=value, detail="d")


def test_the_warning_counts_every_blocking_gate_not_only_fairness_checks() -> None:
    gates = [
        _gate("auc_margin_over_logistic", "fail"),
        _gate("fairness_group_oe[audit_ethnicity/uzbek]", "fail", value=1.6),
        _gate("calibration_slope[audit_region/KZ-PAV]", "inconclusive"),
        _gate("max_ece", "pass"),
    ]
    card = build_model_card(_facts(None).model_copy(update={"gates": gates}))
    (warning,) = [w for w in card.warnings if "promotion gates" in w]
    assert "Of 4 promotion gates, 2 failed and 1 were inconclusive" in warning
    assert "`auc_margin_over_logistic`" in warning and "KZ-PAV" in warning
    markdown = card.to_markdown()
    # failed and inconclusive shown apart, never as a pass
    assert "| `calibration_slope[audit_region/KZ-PAV]` | **INCONCLUSIVE** |" in markdown
    assert "| `auc_margin_over_logistic` | **FAIL** |" in markdown


def test_an_under_predicted_group_is_explained_by_the_label_and_the_waiver_path() -> None:
    from training.model_card import LABEL_BIAS

    under = [_gate("fairness_group_oe[audit_ethnicity/uzbek]", "fail", value=1.6)]
    over = [_gate("fairness_group_oe[audit_ethnicity/uzbek]", "fail", value=0.6)]
    base = _facts(make_scores_frame())
    assert LABEL_BIAS in build_model_card(base.model_copy(update={"gates": under})).known_biases
    assert LABEL_BIAS not in build_model_card(base.model_copy(update={"gates": over})).known_biases
    assert "--waive CHECK --reason" in LABEL_BIAS and "recorded label" in LABEL_BIAS


def test_proxies_of_audit_groups_that_are_not_protected_are_listed_apart() -> None:
    frame = make_scores_frame().assign(proxy=lambda f: (f["sex"] == "F").astype(float))
    result = audit(
        frame,
        score="prob",
        label="label",
        groups=["sex", "region"],
        rule=TopFraction(0.2),
        n_boot=0,
        proxy_features=["proxy"],
    )
    protected = fairness_facts_from_audit(result, protected=["sex"])
    other = fairness_facts_from_audit(result, protected=["disability"])
    assert protected.flagged_proxies and not protected.audit_group_proxies
    assert other.audit_group_proxies and not other.flagged_proxies
    facts = _facts(None).model_copy(update={"fairness": other})
    card = build_model_card(facts)
    assert any("covers protected attributes only" in item for item in card.limitations)
    assert "not a protected attribute" in card.to_markdown()


def make_scores_frame() -> pd.DataFrame:
    from auditkit import make_scores

    return make_scores(2000, seed=2)
