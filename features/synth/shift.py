"""A planted change from a given month on (``earlyrisk synth --shift-month YYYY-MM``).

So that monitoring can be shown catching what it should, three changes start on the first
day of the shift month, none of them related to any family's risk:

* **benefit policy**: every ``benefit_payment`` dated from the shift on is paid at
  :attr:`ShiftParams.benefit_factor` times the amount (an indexation of all benefits);
* **reporting change in one source**: ``school_information_system`` starts reporting
  ``school_absence`` in half-days, so the recorded value is
  :attr:`ShiftParams.absence_unit_factor` times the days missed;
* **outcome recording drop**: of the default-label outcomes (``child_protection_case``,
  ``child_placed_in_care``) dated from the shift on, only :attr:`ShiftParams.outcome_kept`
  are recorded (the others are missing from ``outcomes``), a concept shift that a
  label-free estimate cannot see.

The shift is applied to each generated chunk with its own random stream
(``SeedSequence(seed, spawn_key=(chunk, SHIFT_STREAM))``), after the chunk is generated, so
the rest of the registry is identical to the unshifted one and a run without a shift month
is byte-for-byte unchanged. ``ground_truth.parquet`` still describes the unshifted process
(its ``true_probability`` over-states the recorded label of windows after the shift).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import DEFAULT_LABEL_OUTCOMES

SHIFT_STREAM = 0x5EED5  # second spawn-key element: the shift's stream, apart from the chunk's
BENEFIT_TYPE = "benefit_payment"
REPORTING_SOURCE = "school_information_system"
REPORTING_TYPE = "school_absence"


@dataclass(frozen=True)
class ShiftParams:
    """The size of each planted change (see the module docstring)."""

    benefit_factor: float = 1.6
    absence_unit_factor: float = 2.0
    outcome_kept: float = 0.6


DEFAULT_SHIFT = ShiftParams()


def describe_shift(shift_day: dt.date, params: ShiftParams = DEFAULT_SHIFT) -> list[str]:
    """What ``apply_shift`` planted from ``shift_day`` on, one change a line, in figures.

    Printed by ``earlyrisk synth --shift-month``: whoever later reads a monitoring report on
    these data must know which alarms are expected (drift in benefit amounts and school
    absences, realized performance below the estimate), or a planted change looks like a bug.
    """
    since = shift_day.isoformat()
    labels = " and ".join(DEFAULT_LABEL_OUTCOMES)
    return [
        f"planted from {since} on (docs/synthetic_registry.md), unrelated to any family's risk:",
        f"  benefit policy: every {BENEFIT_TYPE} paid at x{params.benefit_factor:g} the amount",
        f"  reporting change: {REPORTING_SOURCE} records {REPORTING_TYPE} in half-days "
        f"(value x{params.absence_unit_factor:g})",
        f"  outcome recording drop: only {params.outcome_kept:.0%} of {labels} outcomes "
        "are recorded (a concept shift no label-free estimate can see)",
        "  expected in `earlyrisk monitor` after it: input drift on benefit and absence "
        "indicators; realized performance below the estimate once labels are in",
    ]


def shift_rng(seed: int, chunk: int) -> np.random.Generator:
    """The shift's own random stream for chunk ``chunk``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk, SHIFT_STREAM)))


def _scale(table: pa.Table, where: pa.ChunkedArray, factor: float) -> pa.Table:
    value = table["value"]
    scaled = pc.if_else(where, pc.multiply(value, pa.scalar(factor)), value)
    return table.set_column(table.schema.get_field_index("value"), "value", scaled)


def apply_shift(
    tables: dict[str, pa.Table],
    *,
    shift_day: dt.date,
    seed: int,
    chunk: int,
    params: ShiftParams = DEFAULT_SHIFT,
) -> dict[str, pa.Table]:
    """The chunk's tables with the three changes applied from ``shift_day`` on."""
    day = pa.scalar(shift_day, pa.date32())
    events = tables["events"]
    after = pc.greater_equal(events["event_date"], day)
    benefit = pc.and_(after, pc.equal(events["event_type"], BENEFIT_TYPE))
    events = _scale(events, benefit, params.benefit_factor)
    reporting = pc.and_(
        pc.and_(after, pc.equal(events["source"], REPORTING_SOURCE)),
        pc.equal(events["event_type"], REPORTING_TYPE),
    )
    events = _scale(events, reporting, params.absence_unit_factor)
    outcomes = tables["outcomes"]
    label_type = pc.is_in(outcomes["outcome_type"], pa.array(DEFAULT_LABEL_OUTCOMES))
    candidate = np.asarray(
        pc.and_(label_type, pc.greater_equal(outcomes["outcome_date"], day)).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    dropped = candidate & (shift_rng(seed, chunk).random(outcomes.num_rows) >= params.outcome_kept)
    return {
        **tables,
        "events": events,
        "outcomes": outcomes.filter(pa.array(~dropped)),
    }
