"""Audit groups: the columns fairness is checked on, kept apart from model inputs.

Every audit column starts with ``audit_`` (:data:`AUDIT_PREFIX`): ``audit_settlement``,
``audit_region``, ``audit_single_parent``, ``audit_large_family``, ``audit_head_sex`` and
``audit_<attribute>`` for each attribute of the ``protected`` table. They are strings, and
a missing value stays null (a family without a head on the date has no head sex; a family
without a row for an attribute has a null there) so that the audit can report the
"unknown" group instead of hiding it in another.

These columns are never model inputs: the catalogue's ``model_input_columns`` cannot name
them, and training selects inputs only from that list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.contract import DERIVED_AUDIT_GROUPS

AUDIT_PREFIX = "audit_"


def audit_column(attribute: str) -> str:
    """``audit_<attribute>`` with the name made lower-case snake case.

    A protected attribute whose name equals a derived group (say ``region``) becomes
    ``audit_protected_<attribute>`` so that it never overwrites the derived column.
    """
    slug = re.sub(r"[^0-9a-z]+", "_", attribute.strip().lower()).strip("_")
    if not slug:
        raise ValueError(f"protected attribute name {attribute!r} has no usable characters")
    if slug in DERIVED_AUDIT_GROUPS:
        slug = f"protected_{slug}"
    return AUDIT_PREFIX + slug


def audit_columns(attributes: Sequence[str]) -> list[str]:
    """All audit column names, derived groups first, then protected attributes (sorted)."""
    derived = [AUDIT_PREFIX + g for g in DERIVED_AUDIT_GROUPS]
    return derived + [audit_column(a) for a in sorted(set(attributes))]


def _yes_no(flag: pd.Series) -> pd.Series:
    text = np.where(flag.to_numpy(dtype="float64") > 0, "yes", "no")
    return pd.Series(text, index=flag.index).where(flag.notna()).astype("str")


def audit_groups(
    *,
    families: pd.DataFrame,
    persons: pd.DataFrame,
    protected: pd.DataFrame,
    composition: pd.DataFrame,
    heads: pd.Series,
    attributes: Sequence[str],
) -> pd.DataFrame:
    """Audit columns for the families in ``composition.index`` (one row each, same order).

    ``heads`` maps family_id to the head's person_id on the date; ``attributes`` lists the
    protected attributes of the WHOLE registry, so that every partition yields the same
    columns even when it holds no row for some attribute. A family with two different
    values for one attribute gets them joined with ``|`` in sorted order.
    """
    index = composition.index
    fam = families.drop_duplicates("family_id").set_index("family_id")
    out = pd.DataFrame(index=index)
    out["audit_settlement"] = fam["settlement"].reindex(index).astype("str")
    out["audit_region"] = fam["region"].reindex(index).astype("str")
    out["audit_single_parent"] = _yes_no(composition["hh_single_parent"])
    out["audit_large_family"] = _yes_no(composition["hh_large_family"])
    sex = persons.drop_duplicates("person_id").set_index("person_id")["sex"]
    head_person = heads.reindex(index)
    out["audit_head_sex"] = pd.Series(
        sex.reindex(head_person.to_numpy()).to_numpy(), index=index
    ).astype("str")

    wanted = sorted(set(attributes))
    rows = protected.loc[protected["family_id"].isin(index) & protected["attribute"].isin(wanted)]
    rows = (
        rows.dropna(subset=["value"])
        .drop_duplicates()
        .sort_values(["family_id", "attribute", "value"], kind="stable")
    )
    # One value per (family, attribute) is the rule; join the rare multi-valued ones.
    several = rows.duplicated(["family_id", "attribute"], keep=False).to_numpy()
    single = rows.loc[~several].set_index(["family_id", "attribute"])["value"]
    if several.any():
        multi = rows.loc[several].groupby(["family_id", "attribute"], sort=True)["value"]
        single = pd.concat([single, multi.agg("|".join)])
    joined = single
    wide = joined.unstack("attribute") if len(joined) else pd.DataFrame(index=index)
    for attribute in wanted:
        values = wide[attribute] if attribute in wide.columns else pd.Series(dtype="str")
        out[audit_column(attribute)] = values.reindex(index).astype("str")
    return out[audit_columns(attributes)]
