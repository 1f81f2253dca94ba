"""The ``earlyrisk monitor`` job: model and reference from the registry, snapshots from the
raw data, decisions from the audit log; the report to files and, optionally, to MLflow.

The side effects of monitoring live here; :func:`serving.monitor.core.monitor` does the
computing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.coverage import (
    TableCoverage,
    coverage_of_raw,
    coverage_warnings,
    mask_labels_past_outcomes,
    outcomes_through,
)
from features.errors import EarlyriskError
from features.private_files import write_private_text
from serving.monitor import seasonal
from serving.monitor.config import MonitorConfig
from serving.monitor.core import capacity_threshold, labels_closed, monitor
from serving.monitor.decisions import decisions_section
from serving.monitor.recalibration import year_map_spread
from serving.monitor.seasonal import seasonal_reference_date
from serving.monitor.transfer import year_transfer
from training.config import CapacityConfig
from training.reference_stats import ARTIFACT_PATH, ReferenceStats, compute_reference_stats
from training.registry import TAG_DATA_THROUGH

REPORT_JSON = "monitor_report.json"
REPORT_HTML = "monitor_report.html"
DEFAULT_CAPACITY = CapacityConfig(fraction=0.05)


class MonitorError(EarlyriskError, ValueError):
    """The monitor cannot run on this input (the message says what to change)."""


@dataclass(frozen=True)
class MonitorOutcome:
    """What a run wrote and whether anything fired."""

    report: dict[str, Any]
    json_path: Path
    html_path: Path
    mlflow_run_id: str | None

    @property
    def alerts(self) -> list[dict[str, str]]:
        return list(self.report["alerts"])

    @property
    def not_evaluable(self) -> list[dict[str, str]]:
        return [c for c in self.report["checks"] if c["status"] == "not_evaluable"]


def history_dates(
    as_of: dt.date, *, months: int, not_before: dt.date | None = None
) -> list[dt.date]:
    """Quarter ends within ``months`` before ``as_of`` (exclusive), plus ``as_of`` itself."""
    start = pd.Timestamp(as_of) - pd.DateOffset(months=months)
    ends = pd.date_range(start=start, end=pd.Timestamp(as_of), freq="QE")
    out = {d.date() for d in ends if d.date() < as_of and d > start}
    if not_before is not None:
        out = {d for d in out if d >= not_before}
    return sorted(out | {as_of})


def load_reference_stats(run_id: str, *, tracking_uri: str) -> ReferenceStats | None:
    """The reference statistics logged with a training run, or None if it has none."""
    from serving.store.served_stats import load_reference

    return load_reference(run_id, tracking_uri=tracking_uri)


def run_monitor(
    raw_dir: Path | str,
    *,
    as_of: dt.date,
    out_dir: Path | str,
    model_uri: str,
    tracking_uri: str,
    reference_as_of: dt.date | None = None,
    audit_log_path: Path | str | None = None,
    config: MonitorConfig | None = None,
    log_to_mlflow: bool = True,
    n_jobs: int | None = None,
) -> MonitorOutcome:
    """Monitor the model at ``model_uri`` on the families of ``raw_dir`` as of ``as_of``."""
    from features.config import FeatureConfig
    from features.eligibility import EligibilityRule, eligible_rows
    from features.engine import build_feature_table
    from features.labels import extraction_date_of, refuse_as_of_after_extraction
    from features.validation import load_validated
    from features.validation.corrections import load_corrections
    from serving.monitor.report_html import render_html
    from training.registry import TAG_ELIGIBILITY, load_risk_model, refuse_other_feature_list

    config = config or MonitorConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails before any work
    loaded = load_risk_model(model_uri, tracking_uri=tracking_uri)
    refuse_other_feature_list(
        loaded, MonitorError, remedy="monitor a model trained on the current catalogue"
    )
    model = loaded.risk_model
    stored = (
        load_reference_stats(loaded.run_id, tracking_uri=tracking_uri) if loaded.run_id else None
    )
    if stored is None and reference_as_of is None:
        raise MonitorError(
            f"model {loaded.name}/{loaded.version} has no stored reference statistics "
            f"({ARTIFACT_PATH}: trained before monitoring existed?); pass --reference-as-of "
            "DATE to compute a reference from the raw data"
        )
    raw = load_validated(raw_dir)
    extraction = extraction_date_of(raw.events, raw.outcomes).date()
    refuse_as_of_after_extraction([pd.Timestamp(as_of)], pd.Timestamp(extraction), configured=False)
    if reference_as_of is not None and reference_as_of >= as_of:
        raise MonitorError(
            f"--reference-as-of {reference_as_of.isoformat()} must be before --as-of "
            f"{as_of.isoformat()}"
        )
    dates = history_dates(as_of, months=config.history_months)
    feature_config = (
        FeatureConfig(
            label_outcome_types=tuple(stored.label_outcome_types),
            horizon_months=stored.horizon_months,
        )
        if stored is not None and stored.label_outcome_types and stored.horizon_months
        else FeatureConfig()
    )
    reference_dates = (
        [reference_as_of.isoformat()]
        if reference_as_of is not None
        else list(stored.as_of if stored else [])
    )
    tagged_through = loaded.tags.get(TAG_DATA_THROUGH)
    season_day = (
        seasonal_reference_date(
            as_of,
            reference_dates,
            data_through=dt.date.fromisoformat(tagged_through) if tagged_through else None,
        )
        if config.seasonal_reference
        else None
    )
    calibration_days = (
        seasonal.calibration_reference_dates(
            reference_dates, horizon_months=feature_config.horizon_months
        )
        if config.seasonal_reference and reference_as_of is None
        else []
    )
    wanted = sorted(
        set(dates)
        | ({reference_as_of} if reference_as_of else set())
        | ({season_day} if season_day else set())
        | set(calibration_days)
    )
    table = build_feature_table(
        raw,
        wanted,
        config=feature_config,
        n_jobs=n_jobs,
        corrections=load_corrections(raw_dir),  # each known from its decided date
    )
    coverage, through, outcomes_early = _coverage(raw, extraction)
    if outcomes_early:  # realized figures wait for outcomes the table does not hold yet
        table = mask_labels_past_outcomes(
            table, through=through, horizon_months=feature_config.horizon_months
        )
    del raw
    # the population the model scores: its eligibility rule (a version tag) leaves out the
    # families it never scores, as training did for the reference statistics
    table = eligible_rows(table, EligibilityRule.from_tag(loaded.tags.get(TAG_ELIGIBILITY)))
    table["as_of"] = pd.to_datetime(table["as_of"])
    snapshots = {
        d.isoformat(): table.loc[table["as_of"] == pd.Timestamp(d)].reset_index(drop=True)
        for d in dates
    }
    if reference_as_of is not None:
        ref_frame = table.loc[table["as_of"] == pd.Timestamp(reference_as_of)].reset_index(
            drop=True
        )
        if ref_frame.empty:
            raise MonitorError(f"no family in the data as of {reference_as_of.isoformat()}")
        stats = compute_reference_stats(
            ref_frame,
            model=model,
            capacity=stored.capacity if stored is not None else DEFAULT_CAPACITY,
            source=f"raw data as of {reference_as_of.isoformat()} (--reference-as-of)",
            label="label" if labels_closed(ref_frame) else None,
            label_outcome_types=feature_config.label_outcome_types,
            horizon_months=feature_config.horizon_months,
            seed=config.seed,
        ).model_copy(
            update={
                "rows": f"the eligible families as of {reference_as_of.isoformat()} "
                "(--reference-as-of): the model may have been fitted or calibrated on them, "
                "so its calibration check and realized figures there may be optimistic"
            }
        )
    else:
        assert stored is not None
        stats = stored
    current = snapshots[as_of.isoformat()]
    if current.empty:
        raise MonitorError(f"no family in the data as of {as_of.isoformat()}")
    stats, season = seasonal.choose_reference(
        stats, model, table, season_day=season_day, calibration_days=calibration_days, config=config
    )
    # the calibration's transfer between the year's quarters, and the spread of its map over
    # resamples of the year, widen the ROC AUC interval
    transfer, transfer_note = year_transfer(stats, model, table, season, rule=config.recalibration)
    spread = year_map_spread(stats, model, table, season, config=config)
    groups = current[["family_id", *[c for c in current.columns if c.startswith("audit_")]]]
    decisions = decisions_section(
        audit_log_path,
        after=(dates[0] - dt.timedelta(days=1)).isoformat(),
        until=as_of.isoformat(),
        threshold=capacity_threshold(model, current, stats),
        groups=groups,
        config=config,
    )
    body = monitor(
        stats,
        model,
        snapshots,
        config=config,
        decisions=decisions,
        trained_through=_trained_through(
            loaded.tags.get(TAG_DATA_THROUGH), feature_config.horizon_months
        ),
        transfer=transfer,
        transfer_note=transfer_note,
        spread=spread,
    )
    body["reference"]["seasonal"] = season
    _add_deployment(
        body,
        audit_log_path,
        after=dates[0] - dt.timedelta(days=1),
        until=as_of,
        current=current,
        model=model,
        stats=stats,
        config=config,
    )
    report = {
        "format": "earlyrisk.monitor_report",
        "format_version": 1,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": {
            "uri": model_uri,
            "name": loaded.name,
            "version": loaded.version,
            "run_id": loaded.run_id,
            "model_sha256": loaded.model_sha256,
        },
        "extraction_date": extraction.isoformat(),
        "coverage": {name: cov.to_dict() for name, cov in coverage.items()},
        "coverage_warnings": coverage_warnings(coverage, extraction),
        "config": config.model_dump(mode="json"),
        **body,
    }
    json_path = out / REPORT_JSON
    write_private_text(json_path, json.dumps(report, indent=2, allow_nan=False) + "\n")
    html_path = out / REPORT_HTML
    from serving.monitor.deployment_html import with_deployment

    write_private_text(html_path, with_deployment(render_html(report), report.get("deployment")))
    run_id = None
    if log_to_mlflow:
        from serving.monitor.tracking import log_monitoring_run

        run_id = log_monitoring_run(report, json_path, html_path, tracking_uri=tracking_uri)
        report["mlflow_run_id"] = run_id
    return MonitorOutcome(
        report=report, json_path=json_path, html_path=html_path, mlflow_run_id=run_id
    )


def _trained_through(data_through: str | None, horizon_months: int) -> str | None:
    """The latest as-of date whose outcomes the model saw: its ``data_through`` tag (the
    last outcome date) less the label horizon; None when the version has no such tag."""
    if not data_through:
        return None
    from training.design import shift_date

    return shift_date(dt.date.fromisoformat(data_through), -horizon_months).isoformat()


def _coverage(raw: object, extraction: dt.date) -> tuple[dict[str, TableCoverage], dt.date, bool]:
    """Each table's coverage, the date labels are observed through, and whether the outcomes
    table ends early (:mod:`features.coverage`)."""
    coverage = coverage_of_raw(raw)
    through, early = outcomes_through(coverage, extraction)
    return coverage, through, early


def _add_deployment(
    body: dict[str, Any],
    audit_log_path: Path | str | None,
    *,
    after: dt.date,
    until: dt.date,
    current: pd.DataFrame,
    model: Any,
    stats: ReferenceStats,
    config: MonitorConfig,
) -> None:
    """The ``deployment`` section (who was served, the hold-out, the decision audit, the
    design) and its checks, added to the report body."""
    from serving.monitor.deployment import deployment_checks, deployment_section

    section = deployment_section(
        audit_log_path,
        after=after.isoformat(),
        until=until.isoformat(),
        current=current,
        probability=model.predict_proba(current),
        covariates=list(model.feature_names),
        capacity_k=stats.capacity.k,
        calibrate=stats.calibration.apply if stats.calibration else None,
        config=config,
    )
    body["deployment"] = section
    checks = deployment_checks(section)
    body["checks"] = [*body["checks"], *checks]
    body["alerts"] = [
        *body["alerts"],
        *(
            {"check": c["check"], "subject": c["subject"], "evidence": c["evidence"]}
            for c in checks
            if c["status"] == "alert"
        ),
    ]


def run_served_monitor(
    source: str,
    *,
    since: dt.date,
    until: dt.date,
    out_dir: Path | str,
    tracking_uri: str,
    as_of: dt.date | None = None,
    token: str | None = None,
    model_uri: str | None = None,
    config: MonitorConfig | None = None,
    log_to_mlflow: bool = True,
) -> MonitorOutcome:
    """Monitor what a service scored (its ``/served_stats``, or a saved copy) against the
    reference statistics of the model version that scored it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from serving.monitor.report_html import render_html
    from serving.monitor.served import (
        ServedStatsSourceError,
        choose_version,
        monitor_served,
        read_served_stats,
    )
    from serving.store.served_stats import load_reference

    config = config or MonitorConfig()
    if until < since:
        raise MonitorError(f"--until {until.isoformat()} is before --since {since.isoformat()}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        document = read_served_stats(source, since=since, until=until, as_of=as_of, token=token)
        name, version = choose_version(document, model=model_uri)
    except ServedStatsSourceError as exc:
        raise MonitorError(str(exc)) from exc
    try:
        run_id = (
            # the registry is the tracking store: never the process-wide registry URI, which
            # an earlier in-process service may have pointed elsewhere
            mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            .get_model_version(name, version)
            .run_id
        )
    except MlflowException as exc:
        raise MonitorError(
            f"model {name}/{version} (which served these statistics) is not in the registry at "
            f"{tracking_uri}: {exc.message}"
        ) from exc
    stats = load_reference(run_id, tracking_uri=tracking_uri)
    if stats is None:
        raise MonitorError(
            f"model {name}/{version} has no stored reference statistics ({ARTIFACT_PATH})"
        )
    try:
        body = monitor_served(stats, document, name=name, version=version, config=config)
    except ServedStatsSourceError as exc:
        raise MonitorError(str(exc)) from exc
    if isinstance(body.get("reference"), dict):
        body["reference"]["seasonal"] = seasonal.describe(
            seasonal.METHOD_STORED,
            reason="served statistics are counts in the stored reference's bins; no raw data "
            "to build the same quarter of the training period",
        )
    report = {
        "format": "earlyrisk.monitor_report",
        "format_version": 1,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": "served_stats",
        "model": {
            "uri": f"models:/{name}/{version}",
            "name": name,
            "version": version,
            "run_id": run_id,
            "model_sha256": None,
        },
        "extraction_date": None,
        "config": config.model_dump(mode="json"),
        **body,
    }
    json_path = out / REPORT_JSON
    write_private_text(json_path, json.dumps(report, indent=2, allow_nan=False) + "\n")
    html_path = out / REPORT_HTML
    write_private_text(html_path, render_html(report))
    mlflow_run = None
    if log_to_mlflow:
        from serving.monitor.tracking import log_monitoring_run

        mlflow_run = log_monitoring_run(report, json_path, html_path, tracking_uri=tracking_uri)
        report["mlflow_run_id"] = mlflow_run
    return MonitorOutcome(
        report=report, json_path=json_path, html_path=html_path, mlflow_run_id=mlflow_run
    )
