"""The label: did the family meet a configured outcome within the horizon after T?

Default (DATA_CONTRACT.md): any ``child_protection_case`` or ``child_placed_in_care`` with
``T < outcome_date <= T + 12 months``. The types and the horizon come from
:class:`features.config.FeatureConfig`.

The label looks forward by design, so it is the one column that reads after T. It uses
the outcomes **as recorded in the data**, whatever their ``recorded_date``: an outcome that
happened within the horizon but was recorded after the data's extraction is missing, and
an outcome that never reached the registry (a family that moved away, a case handled
informally) is a 0. A label of 0 therefore means "no recorded outcome", not "no harm".
``label_observed`` says whether the whole horizon lies before the extraction date
(``T + horizon <= extraction_date``); training must use only observed labels, or accept
that unobserved ones are censored.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from features.errors import EarlyriskError


def horizon_end(as_of: pd.Timestamp, horizon_months: int) -> pd.Timestamp:
    """``as_of`` plus the horizon in calendar months (month ends are clipped)."""
    return pd.Timestamp(as_of) + pd.DateOffset(months=horizon_months)


def label_outcomes(
    outcomes: pd.DataFrame,
    *,
    families: pd.Index,
    as_of: pd.Timestamp,
    outcome_types: tuple[str, ...],
    horizon_months: int,
    extraction_date: pd.Timestamp,
) -> pd.DataFrame:
    """``label`` (int8) and ``label_observed`` (bool) for each family in ``families``."""
    as_of = pd.Timestamp(as_of)
    end = horizon_end(as_of, horizon_months)
    hit = outcomes.loc[
        outcomes["outcome_type"].isin(outcome_types)
        & (outcomes["outcome_date"] > as_of)
        & (outcomes["outcome_date"] <= end),
        "family_id",
    ]
    label = np.asarray(families.isin(hit.unique()), dtype="int8")
    observed = np.full(len(families), end <= pd.Timestamp(extraction_date), dtype=bool)
    return pd.DataFrame({"label": label, "label_observed": observed}, index=families)


def extraction_date_of(events: pd.DataFrame, outcomes: pd.DataFrame) -> pd.Timestamp:
    """The date up to which the data is taken to be complete: its latest recorded date."""
    candidates = [events["recorded_date"].max(), outcomes["recorded_date"].max()]
    present = [c for c in candidates if not pd.isna(c)]
    if not present:
        raise ValueError(
            "cannot infer the extraction date: events and outcomes hold no recorded_date; "
            "set FeatureConfig.extraction_date"
        )
    return pd.Timestamp(max(present))


class AsOfAfterExtractionError(EarlyriskError, ValueError):
    """An as-of date after the data's extraction date: the registry cannot describe it.

    Nothing recorded after the extraction is in the data, so a family "as of" a later date
    is only its last known state carried forward (a membership with no end date still
    selects it, a move or a death after the extraction is not there) and its score would
    describe a registry that does not exist. ``earlyrisk features``, ``score`` and
    ``monitor`` exit 2 with this message.
    """


def refuse_as_of_after_extraction(
    dates: Iterable[pd.Timestamp], extraction_date: pd.Timestamp, *, configured: bool
) -> None:
    """Raise :class:`AsOfAfterExtractionError` naming every date after ``extraction_date``.

    ``configured`` says where the extraction date came from (the feature configuration's
    ``extraction_date``, or the data's latest ``recorded_date``), so the message says it.
    """
    extraction = pd.Timestamp(extraction_date)
    late = sorted({pd.Timestamp(d) for d in dates if pd.Timestamp(d) > extraction})
    if not late:
        return
    source = (
        "set by the feature configuration's extraction_date"
        if configured
        else "the latest recorded_date of events and outcomes"
    )
    named = ", ".join(f"{d:%Y-%m-%d}" for d in late)
    raise AsOfAfterExtractionError(
        f"as-of date {named} is after the data's extraction date {extraction:%Y-%m-%d} "
        f"({source}): the registry cannot describe families on a later date; use an as-of "
        f"date on or before {extraction:%Y-%m-%d}"
    )
