"""The catalogue: bounded windows, plain descriptions, and no protected attribute as input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from featurekit import random_registry
from pydantic import ValidationError

import features.catalogue as catalogue
from features.aggregations import MAX_LOOKBACK_DAYS, lookback_days
from features.audit_groups import AUDIT_PREFIX
from features.catalogue import (
    FEATURES,
    FeatureSpec,
    catalogue_markdown,
    describe,
    event_features,
    feature_list_fingerprint,
    household_columns,
    model_input_columns,
)
from features.composition import household_composition
from features.contract import DOMAINS, TABLE_COLUMNS
from features.engine import compute_partition

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def spec(**overrides) -> FeatureSpec:
    fields = {
        "name": "x_test",
        "domain": "social",
        "description": "social service contacts, last 12 months",
        "aggregation": "count",
        "event_types": ("social_service_contact",),
        "window_days": 365,
        "kind": "support",
    }
    return FeatureSpec(**{**fields, **overrides})


def test_every_indicator_declares_its_kind_and_household_is_context() -> None:
    with pytest.raises(ValidationError, match="kind"):
        FeatureSpec(
            name="x_test",
            domain="social",
            description="social service contacts, last 12 months",
            aggregation="count",
            event_types=("social_service_contact",),
            window_days=365,
        )
    with pytest.raises(ValidationError, match="kind"):
        spec(kind="risk")
    with pytest.raises(ValidationError, match="household composition is context"):
        FeatureSpec(
            name="hh_x",
            domain="household",
            description="people living in the household",
            aggregation="household",
            kind="need",
        )
    kinds = {name: f.kind for name, f in FEATURES.items()}
    assert all(kinds[name] == "context" for name in household_columns())
    # help received is support, never a need (design rule 11)
    for name in ("econ_tsa_payments_365d", "soc_support_center_visits_365d"):
        assert kinds[name] == "support"
    assert kinds["econ_utility_debt_last"] == "need"


# ---------------------------------------------------------------- definition-time rules


def test_window_longer_than_three_years_is_refused_at_definition() -> None:
    spec(window_days=MAX_LOOKBACK_DAYS)  # the bound itself is allowed
    with pytest.raises(ValidationError, match="beyond the bound of 1095 days"):
        spec(window_days=MAX_LOOKBACK_DAYS + 1)


def test_change_reads_two_windows_so_both_count_against_the_bound() -> None:
    spec(aggregation="count_change", window_days=547)
    with pytest.raises(ValidationError, match="reads 1096 days back"):
        spec(aggregation="count_change", window_days=548)


def test_household_window_is_bounded_too() -> None:
    with pytest.raises(ValidationError, match="exceeds the bound"):
        FeatureSpec(
            name="hh_x",
            domain="household",
            description="members who joined, last 4 years",
            aggregation="household",
            window_days=4 * 365,
            kind="context",
        )


def test_every_catalogue_entry_is_within_the_bound() -> None:
    for entry in event_features():
        assert lookback_days(entry.aggregation, entry.window_days) <= MAX_LOOKBACK_DAYS, entry.name


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"event_types": ("school_absense",)}, "unknown event type"),
        ({"detail": ("burglary",), "event_types": ("police_contact",)}, "not a detail of"),
        ({"aggregation": "sum"}, "carry none in the contract"),
        ({"event_types": ()}, "at least one event type"),
        ({"window_days": None}, "need window_days"),
        ({"domain": "household"}, "household is for composition only"),
        ({"name": "Bad Name"}, "pattern"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_entries_are_refused_with_a_clear_message(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**overrides)


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        catalogue._index((spec(), spec()))


# ---------------------------------------------------------------- content of the catalogue


def test_size_and_domain_coverage() -> None:
    assert 30 <= len(FEATURES) <= 60
    domains = {entry.domain for entry in FEATURES.values()}
    assert domains == {*DOMAINS, "household"}
    for domain in DOMAINS:
        assert sum(e.domain == domain for e in FEATURES.values()) >= 4, domain


def test_required_aggregations_are_all_used() -> None:
    used = {entry.aggregation for entry in FEATURES.values()}
    required = {"count", "sum", "mean", "max", "last", "days_since_last", "count_persons"}
    assert required <= used
    assert used & {"count_change", "sum_change"}


def test_descriptions_are_plain_language_and_distinct() -> None:
    descriptions = [entry.description for entry in FEATURES.values()]
    assert len(set(descriptions)) == len(descriptions)
    for entry in FEATURES.values():
        assert "_" not in entry.description, entry.name
        assert entry.description[0].islower() or entry.description[0].isdigit(), entry.name
        assert entry.name not in entry.description


def test_event_window_is_stated_in_the_description() -> None:
    for entry in event_features():
        assert re.search(r"last|latest|within", entry.description), entry.name


def test_model_input_columns_are_stable_unique_and_ordered() -> None:
    columns = model_input_columns()
    assert columns == model_input_columns()
    assert len(set(columns)) == len(columns)
    assert columns == [e.name for e in event_features()] + household_columns()


# ---------------------------------------------------------------- protected attributes


def test_no_protected_attribute_sex_or_audit_column_is_a_model_input() -> None:
    protected_table_columns = {c.name for c in TABLE_COLUMNS["protected"]} - {"family_id"}
    forbidden_words = ("sex", "gender", "ethnic", "language", "religion", "nationality")
    for column in model_input_columns():
        assert not column.startswith(AUDIT_PREFIX), column
        assert column not in protected_table_columns, column
        assert not any(word in column for word in forbidden_words), column


def test_household_composition_never_reads_sex() -> None:
    raw = random_registry(40, seed=5)
    as_of = pd.Timestamp("2022-06-30")
    before = household_composition(raw.memberships, raw.persons, as_of=as_of)
    flipped = raw.persons.assign(sex=raw.persons["sex"].map({"F": "M", "M": "F"}))
    without = raw.persons.drop(columns="sex")
    pd.testing.assert_frame_equal(
        before, household_composition(raw.memberships, flipped, as_of=as_of)
    )
    pd.testing.assert_frame_equal(
        before, household_composition(raw.memberships, without, as_of=as_of)
    )


@pytest.mark.slow
def test_no_model_input_reproduces_a_protected_audit_column() -> None:
    """Synthetic check: no input column is a relabelling of head sex or a protected group."""
    table = compute_partition(random_registry(120, seed=11), ["2021-12-31", "2023-06-30"])
    protected_audit = ["audit_head_sex", "audit_ethnicity", "audit_primary_language"]
    for audit in protected_audit:
        groups = table[audit].fillna("<missing>")
        assert groups.nunique() >= 2, audit
        for column in model_input_columns():
            x = table[column].fillna(-1.0)
            a_determines_x = (table.assign(g=groups).groupby("g")[column].nunique() <= 1).all()
            x_determines_a = (
                pd.DataFrame({"x": x, "g": groups}).groupby("x")["g"].nunique() <= 1
            ).all()
            assert not (a_determines_x and x_determines_a), (column, audit)
            assert not np.array_equal(x.to_numpy(), pd.factorize(groups)[0].astype(float))


# ---------------------------------------------------------------- fingerprint and docs


def test_fingerprint_is_sha256_and_changes_with_any_definition(monkeypatch) -> None:
    original = feature_list_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", original)
    assert feature_list_fingerprint() == original
    name = "edu_school_absence_days_90d"
    changed = dict(FEATURES)
    changed[name] = FEATURES[name].model_copy(update={"window_days": 60})
    monkeypatch.setattr(catalogue, "FEATURES", changed)
    assert feature_list_fingerprint() != original
    reworded = dict(FEATURES)
    reworded[name] = FEATURES[name].model_copy(update={"description": "absences, last 90 days"})
    monkeypatch.setattr(catalogue, "FEATURES", reworded)
    assert feature_list_fingerprint() != original


def test_describe_gives_the_description_and_the_computation() -> None:
    text = describe("hea_children_missed_vaccination_365d")
    assert text.startswith("children with a missed vaccination, last 12 months")
    assert "count_persons of missed_vaccination of child over 365 days" in text
    assert "household composition" in describe("hh_single_parent")
    with pytest.raises(KeyError, match="did you mean hh_single_parent"):
        describe("hh_single_parnet")


def test_docs_hold_the_current_catalogue_table() -> None:
    assert catalogue_markdown() in DOCS.read_text(encoding="utf-8"), (
        "docs/features.md is out of date: paste features.catalogue.catalogue_markdown()"
    )
