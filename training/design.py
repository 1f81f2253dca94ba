"""The temporal design of a training run, derived from the data when the config gives no dates.

A retraining command must work on a new export without anyone editing dates, so the design
follows from three facts of the data and one of the catalogue:

* the **extraction date** (the latest recorded date, or ``label.extraction_date``): a label
  window must end by it to be fully observed;
* the **outcomes table's coverage**: when the outcomes end more than a month before the
  extraction date (extracted earlier, or a stalled feed; :mod:`features.coverage`), a
  label window must end by the outcomes' latest ``recorded_date`` instead, or its zeros
  would only mean "not recorded yet"; when no quarter end's window fits, the design
  refuses, naming both tables and their dates;
* the **horizon** of the label;
* the **data start** (the earliest event date): nothing before it is known;
* the **longest indicator window** of the catalogue (3 years): a snapshot earlier than
  data start + that window sees only part of the history its indicators describe
  (left-censored), so it does not look like the snapshots the model will score.

From them, on quarter ends (``step_months``):

``test``         the latest quarter end whose label window is fully observed;
``calibration``  the latest quarter end whose label window ends by the test date (one
                 horizon earlier);
``train``        the latest ``train_dates`` quarter ends whose label windows end by the
                 calibration date, none earlier than data start + the longest window; when
                 the data is too short for that, the latest ``min_train_dates`` quarter ends
                 anyway, and the design says how many months of history they lack.

The **backtest** repeats the same design at earlier origins (the test date moved back one
step at a time); the **final refit** moves it one horizon forward: train on the quarter ends
whose labels end by the test date, calibrate on the test date itself, so the registered
model has seen the most recent labelled data (its figures stay those of the held-out design).

Dates in the config win: when ``slices`` lists them, they are used as given, the backtest
shifts them back step by step and the final refit trains on the train and calibration
dates and calibrates on the test dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from features.errors import EarlyriskError
from training.config import SLICE_ORDER, SliceName, SlicesConfig
from training.splits import check_label_windows, label_window_end

DesignSource = Literal["config", "data", "feature table"]


class DesignError(EarlyriskError, ValueError):
    """The data is too short for any temporal design (the message gives the dates)."""


def shift_date(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months``; a month end stays a month end (2021-06-30 -3 -> 03-31)."""
    stamp = pd.Timestamp(day)
    moved = stamp + pd.DateOffset(months=months)
    if stamp.is_month_end:
        moved = moved + pd.offsets.MonthEnd(0)
    return moved.date()


def period_ends(start: dt.date, end: dt.date, *, step_months: int = 3) -> list[dt.date]:
    """Month ends in ``[start, end]`` whose month is a multiple of ``step_months`` (3: quarters)."""
    if end < start:
        return []
    months = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="ME")
    return [m.date() for m in months if m.month % step_months == 0]


@dataclass(frozen=True)
class Design:
    """As-of dates of one design: train, calibration and (except for a final refit) test."""

    train: tuple[dt.date, ...]
    calibration: tuple[dt.date, ...]
    test: tuple[dt.date, ...] = ()

    def dates(self, name: SliceName) -> tuple[dt.date, ...]:
        return getattr(self, name)

    def all_dates(self) -> list[dt.date]:
        return sorted({d for name in SLICE_ORDER for d in self.dates(name)})

    def shifted(self, months: int) -> Design:
        return Design(
            train=tuple(shift_date(d, months) for d in self.train),
            calibration=tuple(shift_date(d, months) for d in self.calibration),
            test=tuple(shift_date(d, months) for d in self.test),
        )

    def describe(self) -> str:
        parts = [
            f"{name} {', '.join(d.isoformat() for d in self.dates(name))}"
            for name in SLICE_ORDER
            if self.dates(name)
        ]
        return "; ".join(parts)


@dataclass(frozen=True)
class DesignPlan:
    """The held-out design, its backtest origins, the final refit, and why they are so."""

    evaluation: Design
    origins: tuple[Design, ...]  # latest first; origins[0] is ``evaluation``
    final: Design | None
    source: DesignSource
    horizon_months: int
    reasons: tuple[str, ...] = ()
    extraction_date: dt.date | None = None
    data_start: dt.date | None = None
    longest_window_days: int | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    outcomes_through: dt.date | None = None  # set when the outcomes table ends early

    def all_dates(self) -> list[dt.date]:
        """Every as-of date any stage needs (the feature snapshots to build)."""
        designs = [self.evaluation, *self.origins, *([self.final] if self.final else [])]
        return sorted({d for design in designs for d in design.all_dates()})


# --------------------------------------------------------------------------- derivation


def _latest_observed(candidates: list[dt.date], *, by: dt.date, horizon: int) -> dt.date | None:
    ok = [d for d in candidates if label_window_end(d, horizon) <= by]
    return ok[-1] if ok else None


@dataclass(frozen=True)
class _Rules:
    candidates: list[dt.date]
    horizon: int
    floor: dt.date | None
    train_dates: int
    min_train_dates: int


def _train_dates(rules: _Rules, calibration: dt.date) -> tuple[tuple[dt.date, ...], bool]:
    """Training as-of dates for a calibration date, and whether they are left-censored."""
    usable = [d for d in rules.candidates if label_window_end(d, rules.horizon) <= calibration]
    full = [d for d in usable if rules.floor is None or d >= rules.floor]
    if len(full) >= rules.min_train_dates:
        return tuple(full[-rules.train_dates :]), False
    chosen = tuple(usable[-max(rules.min_train_dates, len(full)) :])
    return chosen, any(rules.floor is not None and d < rules.floor for d in chosen)


def _design_for_test(rules: _Rules, test: dt.date) -> tuple[Design, bool] | None:
    calibration = _latest_observed(rules.candidates, by=test, horizon=rules.horizon)
    if calibration is None:
        return None
    train, censored = _train_dates(rules, calibration)
    if not train:
        return None
    return Design(train=train, calibration=(calibration,), test=(test,)), censored


def derive_design(
    *,
    extraction_date: dt.date,
    data_start: dt.date,
    horizon_months: int,
    longest_window_days: int,
    slices: SlicesConfig,
    backtest_origins: int,
    final_refit: bool,
    outcomes_through: dt.date | None = None,
) -> DesignPlan:
    """The design from the data (see the module docstring); config dates win.

    ``outcomes_through``: the outcomes table's latest recorded date when it ends more than
    a month before the extraction date (:func:`features.coverage.outcomes_through`); every
    label window then ends by it.
    """
    bound = extraction_date if outcomes_through is None else min(extraction_date, outcomes_through)
    if slices.has_dates:
        plan = _design_from_config(
            slices,
            horizon_months=horizon_months,
            backtest_origins=backtest_origins,
            final_refit=final_refit,
            extraction_date=extraction_date,
            data_start=data_start,
        )
        if outcomes_through is not None:
            late = [
                d
                for d in plan.evaluation.all_dates()
                if label_window_end(d, horizon_months) > bound
            ]
            if late:
                raise DesignError(
                    f"{_outcomes_note(outcomes_through, extraction_date)}; the configured "
                    f"as-of date(s) {', '.join(d.isoformat() for d in late)} have "
                    f"{horizon_months}-month label windows that end after "
                    f"{bound.isoformat()}, where nothing is recorded: re-extract the outcomes "
                    "table up to the other tables' date, or configure earlier dates"
                )
            plan = _with_outcomes_note(plan, outcomes_through)
        return plan
    step = slices.step_months
    # an as-of date needs at least one day of data before it
    candidates = [
        d for d in period_ends(data_start, extraction_date, step_months=step) if d > data_start
    ]
    floor = (pd.Timestamp(data_start) + pd.Timedelta(days=longest_window_days)).date()
    rules = _Rules(candidates, horizon_months, floor, slices.train_dates, slices.min_train_dates)
    test = _latest_observed(candidates, by=bound, horizon=horizon_months)
    if test is None and outcomes_through is not None:
        raise DesignError(
            f"{_outcomes_note(outcomes_through, extraction_date)}; no {step}-monthly as-of date "
            f"after the data start {data_start.isoformat()} has a {horizon_months}-month "
            f"label window that ends by {outcomes_through.isoformat()}, so no label can be "
            "observed: re-extract the outcomes table up to the other tables' date"
        )
    if test is None:
        raise DesignError(
            f"no {step}-monthly as-of date between the data start {data_start.isoformat()} and "
            f"the extraction date {extraction_date.isoformat()} has a fully observed "
            f"{horizon_months}-month label window; the data is too short for this horizon"
        )
    main = _design_for_test(rules, test)
    if main is None:
        need = 2 * horizon_months
        limit = (
            ""
            if outcomes_through is None
            else f"{_outcomes_note(outcomes_through, extraction_date)}, so label windows "
            f"must end by {outcomes_through.isoformat()}; "
        )
        raise DesignError(
            f"{limit}the data from {data_start.isoformat()} to {extraction_date.isoformat()} "
            f"is too short for a train / calibration / test design with a {horizon_months}-month "
            f"horizon: it needs more than {need} months of data (test {test.isoformat()})"
        )
    evaluation, censored = main
    origins = [evaluation]
    when = test
    while len(origins) < backtest_origins:
        when = shift_date(when, -step)
        earlier = _design_for_test(rules, when)
        if earlier is None:
            break
        origins.append(earlier[0])
    final = None
    if final_refit:
        train, _ = _train_dates(rules, test)
        final = Design(train=train, calibration=(test,))
    history = (pd.Timestamp(evaluation.train[0]) - pd.Timestamp(data_start)).days
    reasons = [
        f"data from {data_start.isoformat()} (earliest event) to {extraction_date.isoformat()} "
        "(extraction date: latest recorded date unless label.extraction_date is set)",
        f"test as of {test.isoformat()}: the latest quarter end whose {horizon_months}-month "
        + (
            "label window ends by the extraction date"
            if outcomes_through is None
            else f"label window ends by {outcomes_through.isoformat()}, the outcomes "
            "table's latest recorded date (it ends more than a month before the extraction "
            "date)"
        ),
        f"calibration as of {evaluation.calibration[0].isoformat()}: the latest quarter end "
        "whose label window ends by the test date",
        f"training as of {', '.join(d.isoformat() for d in evaluation.train)}: the latest "
        f"{len(evaluation.train)} quarter end(s) whose label windows end by the calibration date"
        + (
            f", none before {floor.isoformat()} (data start + the longest indicator window, "
            f"{longest_window_days} days)"
            if not censored
            else ""
        ),
        f"backtest: {len(origins)} origin(s) a quarter apart"
        + (
            f" (the data allows no more than {len(origins)})"
            if len(origins) < backtest_origins
            else ""
        ),
    ]
    if final is not None:
        reasons.append(
            f"final refit: trained as of {', '.join(d.isoformat() for d in final.train)}, "
            f"recalibrated as of {test.isoformat()} (the most recent labelled data)"
        )
    warnings = []
    if outcomes_through is not None:
        warnings.append(
            f"{_outcomes_note(outcomes_through, extraction_date)}: every label window ends by "
            f"{outcomes_through.isoformat()} (test {test.isoformat()})"
        )
    if censored:
        warnings.append(
            "left-censored history: the first training snapshot "
            f"({evaluation.train[0].isoformat()}) "
            f"has {history / 30.44:.0f} months of data before it, while indicators look back up "
            f"to {longest_window_days / 30.44:.0f} months; the data is too short to train only "
            f"on snapshots with full history (from {floor.isoformat()}), so the latest "
            f"{len(evaluation.train)} are used and long-window indicators read less history "
            "in training than when scoring"
        )
    return DesignPlan(
        evaluation=evaluation,
        origins=tuple(origins),
        final=final,
        source="data",
        horizon_months=horizon_months,
        reasons=tuple(reasons),
        extraction_date=extraction_date,
        data_start=data_start,
        longest_window_days=longest_window_days,
        warnings=tuple(warnings),
        outcomes_through=outcomes_through,
    )


def _outcomes_note(outcomes_through: dt.date, extraction_date: dt.date) -> str:
    """The two tables and their dates, for the refusal and the warning."""
    return (
        f"the outcomes table ends on {outcomes_through.isoformat()} (its latest recorded_date) "
        f"while the events run to the extraction date {extraction_date.isoformat()}"
    )


def _with_outcomes_note(plan: DesignPlan, outcomes_through: dt.date) -> DesignPlan:
    from dataclasses import replace

    assert plan.extraction_date is not None
    note = (
        f"{_outcomes_note(outcomes_through, plan.extraction_date)}: the configured label "
        f"windows all end by {outcomes_through.isoformat()}"
    )
    return replace(plan, warnings=(*plan.warnings, note), outcomes_through=outcomes_through)


def _design_from_config(
    slices: SlicesConfig,
    *,
    horizon_months: int,
    backtest_origins: int,
    final_refit: bool,
    extraction_date: dt.date | None,
    data_start: dt.date | None,
    source: DesignSource = "config",
) -> DesignPlan:
    evaluation = Design(
        train=slices.dates("train"),
        calibration=slices.dates("calibration"),
        test=slices.dates("test"),
    )
    check_label_windows(evaluation, horizon_months=horizon_months)
    origins = [evaluation]
    for i in range(1, backtest_origins):
        earlier = evaluation.shifted(-slices.step_months * i)
        if data_start is not None and min(earlier.all_dates()) <= data_start:
            break
        origins.append(earlier)
    final = None
    if final_refit:
        first_test = min(evaluation.test)
        train = tuple(
            d
            for d in sorted({*evaluation.train, *evaluation.calibration})
            if label_window_end(d, horizon_months) <= first_test
        )
        final = Design(train=train, calibration=evaluation.test)
    reasons = (
        f"as-of dates from the config ({evaluation.describe()}); config dates win over the "
        "design derived from the data",
        f"backtest: the configured design shifted back {slices.step_months} months at a time, "
        f"{len(origins)} origin(s)",
        *(
            (
                f"final refit: trained as of {', '.join(d.isoformat() for d in final.train)}, "
                f"recalibrated as of {', '.join(d.isoformat() for d in final.calibration)}",
            )
            if final
            else ()
        ),
    )
    return DesignPlan(
        evaluation=evaluation,
        origins=tuple(origins),
        final=final,
        source=source,
        horizon_months=horizon_months,
        reasons=reasons,
        extraction_date=extraction_date,
        data_start=data_start,
    )


def design_from_table(
    as_of_observed: dict[dt.date, bool],
    *,
    horizon_months: int,
    slices: SlicesConfig,
    backtest_origins: int,
    final_refit: bool,
) -> DesignPlan:
    """The design for a ready feature table: only its own as-of dates can be used.

    ``as_of_observed`` maps each as-of date of the table to whether every label there is
    fully observed. The history floor is unknown here (no raw data), so it is not applied.
    """
    if slices.has_dates:
        return _design_from_config(
            slices,
            horizon_months=horizon_months,
            backtest_origins=backtest_origins,
            final_refit=final_refit,
            extraction_date=None,
            data_start=None,
            source="feature table",
        )
    candidates = sorted(d for d, ok in as_of_observed.items() if ok)
    if not candidates:
        raise DesignError("the feature table has no as-of date whose labels are fully observed")
    rules = _Rules(candidates, horizon_months, None, slices.train_dates, slices.min_train_dates)
    origins: list[Design] = []
    for test in reversed(candidates):
        found = _design_for_test(rules, test)
        if found is not None:
            origins.append(found[0])
        if len(origins) >= backtest_origins:
            break
    if not origins:
        raise DesignError(
            f"the feature table's as-of dates {[d.isoformat() for d in candidates]} allow no "
            f"train / calibration / test design with a {horizon_months}-month horizon"
        )
    evaluation = origins[0]
    final = None
    if final_refit:
        train, _ = _train_dates(rules, evaluation.test[0])
        final = Design(train=train, calibration=evaluation.test)
    return DesignPlan(
        evaluation=evaluation,
        origins=tuple(origins),
        final=final,
        source="feature table",
        horizon_months=horizon_months,
        reasons=(
            f"derived from the feature table's as-of dates ({len(candidates)} fully observed): "
            f"{evaluation.describe()}",
            f"backtest: {len(origins)} origin(s) among the table's dates",
        ),
    )


def longest_indicator_window_days() -> int:
    """How far back the catalogue's longest indicator reads (two windows for a change)."""
    from features.aggregations import lookback_days
    from features.catalogue import event_features

    return max(
        lookback_days(spec.aggregation, spec.window_days)  # type: ignore[arg-type]
        for spec in event_features()
        if spec.window_days is not None
    )
