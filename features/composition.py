"""Household composition as of a date, from the memberships valid on that date.

A family's composition on T is read from the membership rows with
``start_date <= T`` and (``end_date`` null or ``end_date >= T``), never from today's
household: a child born after T, or a father who left after T, does not exist at T.

Assumption (documented in ``docs/features.md``): membership rows carry no
``recorded_date``; a membership is taken to be known from its ``start_date`` and its end
from its ``end_date``. A registry whose memberships arrive late should add a recorded date
to the contract; the point-in-time test deletes late events and outcomes, not memberships.

Only ``persons.birth_date`` is read from the persons table: sex never enters composition
(the head's sex is an audit group, see :mod:`features.audit_groups`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.catalogue import household_columns

_LAST_YEAR = pd.Timedelta(days=365)


def valid_on(memberships: pd.DataFrame, as_of: pd.Timestamp) -> np.ndarray:
    """Boolean mask of the membership rows valid on ``as_of`` (end date inclusive)."""
    t = pd.Timestamp(as_of).to_datetime64()
    start = memberships["start_date"].to_numpy()
    end = memberships["end_date"].to_numpy()
    return (start <= t) & (np.isnat(end) | (end >= t))


def age_in_years(birth_date: pd.Series, as_of: pd.Timestamp) -> np.ndarray:
    """Completed years of age on ``as_of`` (float; NaN where the birth date is missing)."""
    as_of = pd.Timestamp(as_of)
    birth = pd.DatetimeIndex(birth_date)
    before_birthday = (birth.month > as_of.month) | (
        (birth.month == as_of.month) & (birth.day > as_of.day)
    )
    years = (as_of.year - birth.year).to_numpy(dtype="float64") - before_birthday.astype(float)
    years[np.asarray(birth.isna())] = np.nan
    return years


def members_on(
    memberships: pd.DataFrame, persons: pd.DataFrame, *, as_of: pd.Timestamp
) -> pd.DataFrame:
    """The members of every family on ``as_of``: family_id, person_id, role, birth_date, age.

    Sorted by family and person so that ties (two heads in broken data) resolve the same
    way whatever the input order.
    """
    valid = memberships.loc[valid_on(memberships, as_of), ["family_id", "person_id", "role"]]
    members = valid.merge(persons[["person_id", "birth_date"]], on="person_id", how="left")
    members["age"] = age_in_years(members["birth_date"], as_of)
    return members.sort_values(["family_id", "person_id"], kind="stable").reset_index(drop=True)


def head_of_household(members: pd.DataFrame) -> pd.Series:
    """person_id of each family's head (the first by person_id if the data has two)."""
    heads = members.loc[members["role"] == "head"].drop_duplicates("family_id", keep="first")
    return heads.set_index("family_id")["person_id"]


def household_composition(
    memberships: pd.DataFrame,
    persons: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    members: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per family with at least one member on ``as_of``; the household columns.

    Index: ``family_id`` (sorted). Columns: exactly :func:`features.catalogue.household_columns`,
    float64. Children are members under 18 whatever their role; the head's age is NaN for a
    family without a head on the date. ``members`` may pass :func:`members_on` for the same
    date when the caller already has it.
    """
    as_of = pd.Timestamp(as_of)
    if members is None:
        members = members_on(memberships, persons, as_of=as_of)
    age = members["age"]
    role = members["role"]
    flags = pd.DataFrame(
        {
            "family_id": members["family_id"],
            "hh_members": 1.0,
            "hh_adults": (age >= 18).astype(float),
            "hh_children": (age < 18).astype(float),
            "hh_children_under_3": (age < 3).astype(float),
            "hh_children_under_6": (age < 6).astype(float),
            "hh_children_school_age": ((age >= 6) & (age < 18)).astype(float),
            "hh_members_65_plus": (age >= 65).astype(float),
            "spouse": (role == "spouse").astype(float),
            "head": (role == "head").astype(float),
            "hh_other_adults": (role == "other_adult").astype(float),
            "hh_births_last_year": (
                (members["birth_date"] > as_of - _LAST_YEAR) & (members["birth_date"] <= as_of)
            ).astype(float),
        }
    )
    out = flags.groupby("family_id", sort=True).sum()
    out["hh_spouse_present"] = (out.pop("spouse") > 0).astype(float)
    has_head = out.pop("head") > 0
    out["hh_single_parent"] = (
        has_head & (out["hh_spouse_present"] == 0) & (out["hh_children"] > 0)
    ).astype(float)
    out["hh_large_family"] = (out["hh_children"] >= 4).astype(float)

    heads = members.loc[role == "head"].drop_duplicates("family_id", keep="first")
    out["hh_head_age"] = heads.set_index("family_id")["age"].reindex(out.index)

    out["hh_separation_last_year"] = _separations(memberships, members, as_of).reindex(
        out.index, fill_value=0.0
    )
    return out[household_columns()].astype("float64")


def _separations(
    memberships: pd.DataFrame, members: pd.DataFrame, as_of: pd.Timestamp
) -> pd.Series:
    """1.0 for families a head or spouse left in ``(T-365d, T)`` and is not back on T."""
    end = memberships["end_date"]
    left = memberships.loc[
        memberships["role"].isin(["head", "spouse"]) & (end < as_of) & (end > as_of - _LAST_YEAR),
        ["family_id", "person_id"],
    ].drop_duplicates()
    still = members[["family_id", "person_id"]].assign(still=True)
    left = left.merge(still, on=["family_id", "person_id"], how="left")
    gone = left.loc[left["still"].isna(), "family_id"].drop_duplicates()
    return pd.Series(1.0, index=pd.Index(gone, name="family_id"))
