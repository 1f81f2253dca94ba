"""MLflow side of monitoring: a run per monitoring pass, linked to the model version.

The run goes into an experiment of its own beside the training one, ``<training
experiment>-monitoring`` (a monitoring pass among the training runs made the runs table
hard to compare), with its artifacts in a ``monitoring`` folder of the training
experiment's artifact location; it is named ``monitor v3 2025-03-31`` (the version
monitored and the as-of date), tagged with the model name, version and run id, and the
model version gets tags naming its latest monitoring run, as-of date and alert count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.tracking import TrackingStore


def monitoring_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The report's headline numbers as flat MLflow metrics.

    A figure at capacity names the capacity (``estimated.precision_at_5pct``), as the
    training run's do (:mod:`training.metric_names`), so that no key mixes capacities.
    """
    capacity = (report.get("reference") or {}).get("capacity_name")
    at = f"_at_{capacity}" if capacity else "_at_capacity"
    drift = report["drift"]
    out: dict[str, float] = {
        "drift.features.n_drifted": float(sum(f["drifted"] for f in drift["features"])),
        "drift.features.max_psi": float(max((f["value"] for f in drift["features"]), default=0)),
        "drift.multivariate.value": float(drift["multivariate"]["value"]),
        "drift.multivariate.drifted": float(drift["multivariate"]["drifted"]),
        "drift.score.psi": float(drift["score"]["value"]),
        "drift.score.selection_rate_at_reference_threshold": float(
            drift["score"]["selection_rate_at_reference_threshold"]
        ),
        "alerts": float(len(report["alerts"])),
    }
    for name, iv in (report["performance"]["estimated"] or {}).items():
        if isinstance(iv, dict) and iv.get("value") is not None:
            out[f"estimated.{name}".replace("_at_capacity", at)] = float(iv["value"])
    realized = report["performance"]["realized"] or []
    closed = [r for r in realized if r["label_window_closed"]]
    if closed:
        for name, iv in closed[-1]["realized"].items():
            if iv.get("value") is not None:
                out[f"realized_latest.{name}".replace("_at_capacity", at)] = float(iv["value"])
        for name, err in (closed[-1]["estimate_error"] or {}).items():
            if err is not None:
                key = f"estimate_error_latest.{name}".replace("_at_capacity", at)
                out[key] = float(err)
    d = report["decisions"]
    if d.get("available") and d.get("n_decisions"):
        out["decisions.n"] = float(d["n_decisions"])
        out["decisions.disagreement_rate"] = float(d["disagreement_rate"]["value"])
    return out


MONITORING_SUFFIX = "-monitoring"
DEFAULT_MONITORING_EXPERIMENT = "earlyrisk" + MONITORING_SUFFIX


def monitoring_experiment(store: TrackingStore, training_run_id: str | None) -> str:
    """The id of the monitoring experiment that belongs beside the model's training run's."""
    if training_run_id is None:  # a model registered elsewhere: no training experiment known
        return store.experiment(DEFAULT_MONITORING_EXPERIMENT)
    training = store.client.get_experiment(store.experiment_of_run(training_run_id))
    location = training.artifact_location.rstrip("/") + "/monitoring"
    return store.experiment(training.name + MONITORING_SUFFIX, artifact_location=location)


def log_monitoring_run(
    report: dict[str, Any], json_path: Path, html_path: Path, *, tracking_uri: str
) -> str:
    """Log the report as a run beside the model's training run; return the run id.

    Through the store's own client (:class:`training.tracking.TrackingStore`): a service or
    notebook in this process keeps whatever MLflow store it uses.
    """
    model = report["model"]
    store = TrackingStore(tracking_uri)
    experiment_id = monitoring_experiment(store, model.get("run_id") or None)
    run_name = f"monitor v{model['version']} {report['as_of']}"
    with store.run(experiment_id, run_name=run_name) as run:
        run.set_tags(
            {
                "earlyrisk.kind": "monitoring",
                "earlyrisk.as_of": report["as_of"],
                "earlyrisk.model_name": model["name"],
                "earlyrisk.model_version": model["version"],
                "earlyrisk.model_run_id": model.get("run_id") or "",
                "earlyrisk.alerts": ",".join(sorted({a["check"] for a in report["alerts"]})),
            }
        )
        run.log_metrics(monitoring_metrics(report))
        run.log_artifact(json_path, artifact_path="monitoring")
        run.log_artifact(html_path, artifact_path="monitoring")
    for key, value in {
        "monitoring.last_run_id": run.run_id,
        "monitoring.last_as_of": report["as_of"],
        "monitoring.last_alerts": str(len(report["alerts"])),
    }.items():
        store.client.set_model_version_tag(model["name"], model["version"], key, value)
    return run.run_id
