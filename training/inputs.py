"""What a training run reads before it fits: snapshots, its temporal design, the truth.

The data-side helpers of :mod:`training.pipeline` (which re-exports them for notebooks):
the feature snapshots a configuration asks for, the design from the data's dates, the
families the eligibility rule keeps, a synthetic registry's true probabilities, and the
configuration's fingerprint. No fitting happens here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import EarlyriskError
from training.config import TrainConfig, feature_config_of
from training.design import (
    DesignPlan,
    derive_design,
    design_from_table,
    longest_indicator_window_days,
)


class TrainingError(EarlyriskError, ValueError):
    """The job cannot run on this data or configuration (the message says what to change)."""


def config_fingerprint(config: TrainConfig) -> str:
    """sha256 of the configuration (paths excluded: moving a file changes no result)."""
    data = config.model_dump(mode="json", exclude={"raw_dir", "config_dir", "report_dir"})
    data["model_spec"] = config.load_model_spec("model").model_dump(mode="json")
    data["baseline_spec"] = config.load_model_spec("baseline").model_dump(mode="json")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def build_snapshots(
    raw: Any,
    config: TrainConfig,
    dates: list[dt.date] | None = None,
    *,
    n_jobs: int | None = None,
    progress: bool = False,
    corrections: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Feature snapshots at ``dates`` (default: the configured slices' dates).

    ``corrections`` (the registry's, validated) apply as ``config.corrections`` says: each
    from its decided date, or rewriting history (a voided record never trains the model).
    A raw directory's own are read when ``raw`` is a path and none are given."""
    from features.engine import build_feature_table

    wanted = dates if dates is not None else config.slices.all_dates()
    return build_feature_table(
        raw,
        wanted,
        config=feature_config_of(config),
        n_jobs=n_jobs,
        progress=progress,
        corrections=corrections,
        correction_mode=config.corrections,
    )


def read_ground_truth(raw_dir: Path | None) -> pd.DataFrame | None:
    """``ground_truth.parquet`` of a synthetic registry, if the directory has one."""
    if raw_dir is None:
        return None
    path = Path(raw_dir) / "ground_truth.parquet"
    if not path.exists():
        return None
    truth = pd.read_parquet(path, columns=["family_id", "as_of", "true_probability"])
    truth["as_of"] = pd.to_datetime(truth["as_of"]).astype("datetime64[ns]")
    truth["family_id"] = truth["family_id"].astype(str)
    return truth


def truth_for(test: pd.DataFrame, truth: pd.DataFrame | None) -> np.ndarray | None:
    """The true probability of each test row (synthetic registries), None when not known."""
    if truth is None:
        return None
    keys = test[["family_id", "as_of"]].assign(
        family_id=test["family_id"].astype(str),
        as_of=pd.to_datetime(test["as_of"]).astype("datetime64[ns]"),
    )
    merged = keys.merge(truth, on=["family_id", "as_of"], how="left")
    if merged["true_probability"].isna().any():
        return None  # the truth does not cover every test row (e.g. a non-quarter-end date)
    return merged["true_probability"].to_numpy(dtype=float)


def data_span(raw: Any, config: TrainConfig) -> tuple[dt.date, dt.date]:
    """(data start, extraction date) of a raw registry: earliest event, latest record."""
    from features.labels import extraction_date_of

    starts = [raw.events["event_date"].min(), raw.outcomes["outcome_date"].min()]
    starts = [s for s in starts if not pd.isna(s)]
    if not starts:
        raise TrainingError("the registry holds no events and no outcomes: nothing to learn from")
    extraction = (
        pd.Timestamp(config.label.extraction_date)
        if config.label.extraction_date is not None
        else extraction_date_of(raw.events, raw.outcomes)
    )
    return pd.Timestamp(min(starts)).date(), pd.Timestamp(extraction).date()


def eligibility_counts(table: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """Families per as-of date, and how many the eligibility rule keeps."""
    frame = pd.DataFrame({"as_of": pd.to_datetime(table["as_of"]).dt.date, "eligible": mask})
    out = frame.groupby("as_of")["eligible"].agg(families="size", eligible="sum")
    out["ineligible"] = out["families"] - out["eligible"]
    return out.reset_index()


def plan_design(config: TrainConfig, *, raw: Any | None, table: pd.DataFrame | None) -> DesignPlan:
    """The run's temporal design: derived from a raw registry's dates, or from a feature
    table's as-of dates and label coverage (a notebook that built its snapshots)."""
    from training.design import DesignError

    try:
        if raw is not None:
            from features.coverage import coverage_of_raw, outcomes_through

            start, extraction = data_span(raw, config)
            through, early = outcomes_through(coverage_of_raw(raw), extraction)
            return derive_design(
                extraction_date=extraction,
                data_start=start,
                horizon_months=config.label.horizon_months,
                longest_window_days=longest_indicator_window_days(),
                slices=config.slices,
                backtest_origins=config.backtest.origins,
                final_refit=config.final_refit,
                outcomes_through=through if early else None,
            )
        assert table is not None
        as_of = pd.to_datetime(table["as_of"]).dt.date
        observed = table["label_observed"].astype(bool).groupby(as_of.to_numpy()).all()
        return design_from_table(
            {d: bool(v) for d, v in observed.items()},
            horizon_months=config.label.horizon_months,
            slices=config.slices,
            backtest_origins=config.backtest.origins,
            final_refit=config.final_refit,
        )
    except DesignError as exc:
        raise TrainingError(str(exc)) from exc
