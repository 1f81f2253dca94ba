"""`earlyrisk monitor` end to end on a synthetic registry with a planted change.

One registry (2020-2025) with the documented shift from January 2024 and one model trained
on it before the shift (test slice 2022-12-31, whose label window ends before the shift).
Before the shift the registry is unchanged, so the same registry gives the "no change"
cases (as-of dates up to 2023-12-31) and the "changed" cases (2024-12-31).

A run of the monitor costs about 7 CPU-s (features at the as-of date and the labelled
year's quarter ends, validation, the report's charts), so each as-of date is run once, by
the CLI, and every test that reads that date's report reads that run's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from monitor_world import MONITOR_MODEL, monitor_world
from private_modes import mode, usual_umask
from typer.testing import CliRunner, Result

from earlyrisk.cli import app
from serving.monitor.config import MonitorConfig
from serving.monitor.run import MonitorError, run_monitor

SHIFTED = (
    "econ_benefits_total_365d",
    "econ_benefit_payment_mean_365d",
    "edu_school_absence_days_90d",
    "edu_max_monthly_absence_365d",
)
MODEL = MONITOR_MODEL
# pandera imports pyspark.pandas when pyspark is installed (the Spark engine), which warns
# about pandas 3 at import; not our code (whoever imports pandera first meets it).
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support:FutureWarning")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return monitor_world(tmp_path_factory)


def _drifted(report: dict) -> set[str]:
    return {f["name"] for f in report["drift"]["features"] if f["drifted"]}


def _cli_common(world: dict) -> list[str]:
    """`earlyrisk monitor` on the world's registry and model, with an audit log that does
    not exist (no decisions: their checks are not evaluable)."""
    return [
        "monitor",
        "--raw",
        str(world["raw"]),
        "--model",
        f"models:/{MODEL}/{world['version']}",
        "--tracking-uri",
        world["tracking"],
        "--audit-log",
        str(world["root"] / "no_log.sqlite"),
    ]


def _cli_config(world: dict, **settings: object) -> Path:
    """No earlier quarter ends and no fairness resamples (neither is read here): each
    quarter end costs a feature build on the 3,000 families; ``settings`` on top."""
    config = {"history_months": 0, "n_boot": 0, **settings}
    cfg = world["root"] / f"monitor_{len(settings)}.yaml"
    cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
    return cfg


@dataclass(frozen=True)
class CliRun:
    """One `earlyrisk monitor` run through the CLI: its arguments, result and folder."""

    args: list[str]
    result: Result
    out: Path

    @property
    def report(self) -> dict:
        return json.loads((self.out / "monitor_report.json").read_text())


@pytest.fixture(scope="module")
def after_run(world: dict) -> CliRun:
    """`earlyrisk monitor` a year after the shift (2024-12-31), logged to MLflow: the CLI
    test reads its exit code, files and MLflow run, the shift tests its report, and the
    served-statistics test compares its drift with this snapshot mode's (one run serves
    all three). Against the stored reference, as served statistics have it (they hold no
    raw data for a seasonal one); seasonal references are test_monitor_seasons.py's."""
    out = world["root"] / "cli_after"
    args = [*_cli_common(world), "--as-of", "2024-12-31", "--out", str(out)]
    args += ["--config", str(_cli_config(world, seasonal_reference=False))]
    with usual_umask():
        result = CliRunner().invoke(app, args)
    return CliRun(args=args, result=result, out=out)


@pytest.fixture(scope="module")
def after(after_run: CliRun) -> dict:
    """The report a year after the shift, read by the two tests below."""
    assert after_run.result.exit_code == 3, after_run.result.output
    return after_run.report


@pytest.fixture(scope="module")
def calm_run(world: dict) -> CliRun:
    """`earlyrisk monitor` at 2022-12-31, the latest as-of date whose label window (2023)
    ends before the shift: the CLI test reads its exit code, the unchanged-registry and
    reference tests its report (one run for the three)."""
    out = world["root"] / "cli_calm"
    args = [*_cli_common(world), "--as-of", "2022-12-31", "--out", str(out)]
    args += ["--config", str(_cli_config(world)), "--no-mlflow"]
    return CliRun(args=args, result=CliRunner().invoke(app, args), out=out)


@pytest.fixture(scope="module")
def unchanged(calm_run: CliRun) -> dict:
    assert calm_run.result.exit_code == 0, calm_run.result.output
    return calm_run.report


def test_shifted_indicators_are_flagged_after_the_shift_and_not_before(
    world: dict, after: dict
) -> None:
    # before the shift: the world's own monitoring run at 2023-12-31 (monitor_world.py; its
    # shorter history and fewer resamples change neither the drift nor the alerts)
    before = json.loads((world["root"] / "monitor" / "monitor_report.json").read_text())
    assert before["as_of"] == "2023-12-31"
    assert not _drifted(before) & set(SHIFTED)
    assert set(SHIFTED) <= _drifted(after)
    assert after["drift"]["score"]["value"] > before["drift"]["score"]["value"]
    alerted = {a["subject"] for a in after["alerts"]}
    assert set(SHIFTED) <= alerted


def test_recording_drop_shows_in_realized_performance_once_labels_arrive(after: dict) -> None:
    report = after
    rows = {r["as_of"]: r for r in report["performance"]["realized"]}
    # windows after the shift (2024-) are closed by the 2025-12-31 extraction
    assert rows["2024-12-31"]["label_window_closed"]
    late = rows["2024-12-31"]
    assert late["realized"]["positive_rate"]["value"] < late["estimated"]["positive_rate"]["low"]
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["realized_positive_rate"]["status"] == "alert"
    assert "concept shift" in checks["realized_positive_rate"]["evidence"]


def test_unchanged_registry_estimate_matches_realized_and_drift_stays_quiet(
    world: dict, unchanged: dict
) -> None:
    # 2022-12-31: the latest as-of date whose label window (2023) ends before the shift
    report = unchanged
    latest = report["performance"]["realized"][-1]
    assert latest["label_window_closed"]
    # the registered model was recalibrated on this date's outcomes: in-sample, so its error
    # is shown apart and left out of the estimator's error (issue 25)
    assert latest["in_sample"] and latest["estimate_error"] is None
    assert "2022-12-31" in report["performance"]["estimator_error"]["in_sample_dates"]
    assert "2022-12-31" not in report["performance"]["estimator_error"]["out_of_sample_dates"]
    error = latest["estimate_error_in_sample"]["roc_auc"]
    print(f"estimated - realized ROC AUC at 2022-12-31 (in-sample): {error:+.4f}")
    # The reference's checks rest on out-of-fold probabilities (the refit's calibrator saw
    # this date). 2022-12-31 is also the reference date here (the only unshifted date whose
    # labels are in), so a recalibration map the check keeps was fitted on these outcomes:
    # on later dates the monitor's own `performance.realized` tracks the estimate's error.
    # The bound is the realized ROC AUC's own sampling noise: on 3,000 families (about 170
    # outcomes at this date) its 95 % interval is about +-0.057 wide, so a fixed 0.03 was
    # tighter than the truth can be known. The default rule (`shrunk_logistic`) keeps the
    # served probability here (the labelled year does not reject it): -0.032, against
    # -0.022 with the logistic map. The estimator's accuracy is judged on 20,000-family
    # registries in `make bench`; here a gross error (a flat or inverted estimate) fails.
    realized = latest["realized"]["roc_auc"]
    assert abs(error) < (realized["high"] - realized["low"]) / 2
    assert latest["estimate_within_interval"]["roc_auc"] is True
    # two as-of dates of the unchanged registry (the reference computed from 2022-12-31)
    config = MonitorConfig(history_months=0, n_boot=0)
    quiet = run_monitor(
        world["raw"],
        as_of=dt.date(2023, 12, 31),
        out_dir=world["root"] / "quiet",
        model_uri=f"models:/{MODEL}/{world['version']}",
        tracking_uri=world["tracking"],
        reference_as_of=dt.date(2022, 12, 31),
        config=config,
        log_to_mlflow=False,
        n_jobs=1,
    ).report
    share = len(_drifted(quiet)) / len(quiet["drift"]["features"])
    assert share <= 2 * config.false_alarm_rate


def test_reference_checks_use_probabilities_no_calibrator_that_saw_the_row_produced(
    world: dict, unchanged: dict
) -> None:
    """The final refit recalibrates on the test date, whose rows are the reference: its
    calibration check and realized figures use out-of-fold probabilities, and the report
    says which rows the reference is and why."""
    import numpy as np

    from training.pipeline import row_keys
    from training.reference_stats import ReferenceLeakError, check_held_out

    final, test = world["final"], world["test"]
    assert final is not None and final.cross_fitted is not None
    assert row_keys(test).isin(final.calibrated_on).all()  # the calibrator saw them...
    with pytest.raises(ReferenceLeakError, match="used to fit the calibrator"):
        check_held_out(test, final.calibrated_on, cross_fitted=False)
    check_held_out(test, final.calibrated_on, cross_fitted=True)  # ...so they are cross-fitted
    served = final.model.predict_proba(test)
    assert not np.allclose(final.cross_fitted, served)
    report = unchanged  # the monitor at 2022-12-31, the test date
    assert report["reference"]["n_rows"] == len(test)
    assert "out-of-fold" in report["reference"]["rows"]


def test_cli_exit_codes_reports_and_mlflow_link(
    world: dict, after_run: CliRun, calm_run: CliRun
) -> None:
    import mlflow

    runner = CliRunner(env={"COLUMNS": "400"})  # rich folds a long --out path
    common = _cli_common(world)
    out = after_run.out
    alerted = after_run.result
    assert alerted.exit_code == 3, alerted.output
    # the reports hold audit groups' figures: owner-only
    assert mode(out / "monitor_report.json") == mode(out / "monitor_report.html") == 0o600
    report = after_run.report
    assert report["alerts"] and all(a["evidence"] for a in report["alerts"])
    html = (out / "monitor_report.html").read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r"(src|href)=[\"']https?://", html)
    client = mlflow.MlflowClient(tracking_uri=world["tracking"], registry_uri=world["tracking"])
    version = client.get_model_version(MODEL, world["version"])
    run_id = version.tags["monitoring.last_run_id"]
    run = client.get_run(run_id)
    assert run.data.tags["earlyrisk.model_version"] == world["version"]
    assert run.data.metrics["drift.features.n_drifted"] >= len(SHIFTED)
    # its own experiment beside the training one, named for what and when, capacity named
    training = client.get_run(client.get_model_version(MODEL, world["version"]).run_id)
    assert run.info.experiment_id != training.info.experiment_id
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == client.get_experiment(training.info.experiment_id).name + (
        "-monitoring"
    )
    assert run.info.run_name == f"monitor v{world['version']} 2024-12-31"
    capacity = report["reference"]["capacity_name"]
    assert f"estimated.precision_at_{capacity}" in run.data.metrics
    assert not any("_at_capacity" in key for key in run.data.metrics)

    # no alert but checks that cannot be evaluated (one date: no fairness change; no
    # decisions): exit 0, and 4 with --strict
    quiet = calm_run.result
    assert quiet.exit_code == 0, quiet.output
    assert "not evaluable" in quiet.output
    calm_out = calm_run.out
    # a second run into the same folder keeps the first report unless told --overwrite
    first = (calm_out / "monitor_report.json").read_bytes()
    first_inode = (calm_out / "monitor_report.json").stat().st_ino
    kept = runner.invoke(app, [*calm_run.args, "--strict"])
    assert kept.exit_code == 2, kept.output
    said = " ".join(kept.output.split())
    assert f"--out {calm_out} already holds monitor_report.json and monitor_report.html" in said
    assert "--overwrite" in said and (calm_out / "monitor_report.json").read_bytes() == first
    strict = runner.invoke(app, [*calm_run.args, "--strict", "--overwrite"])
    assert strict.exit_code == 4, strict.output
    assert (calm_out / "monitor_report.json").stat().st_ino != first_inode  # a new report
    replaced = json.loads((calm_out / "monitor_report.json").read_text())
    assert replaced["checks"] == json.loads(first)["checks"]
    # the alerted run's folder is kept too (refused before any work)
    again = runner.invoke(app, [*after_run.args, "--no-mlflow"])
    assert again.exit_code == 2 and "--overwrite" in " ".join(again.output.split()), again.output

    bad = runner.invoke(app, [*common, "--as-of", "2024-13-01", "--out", str(out)])
    assert bad.exit_code == 2 and "not a date" in bad.output
    late = runner.invoke(app, [*common, "--as-of", "2030-01-01", "--out", str(out / "late")])
    said = " ".join(late.output.split())
    assert late.exit_code == 2 and "as-of date 2030-01-01 is after" in said, late.output
    assert "extraction date 2025-12-31" in said, late.output
    blocker = world["root"] / "a_file"
    blocker.write_text("", encoding="utf-8")
    unwritable = runner.invoke(
        app, [*common, "--as-of", "2024-12-31", "--out", str(blocker / "reports")]
    )
    assert unwritable.exit_code == 1 and "cannot write the reports" in unwritable.output
    unknown = world["root"] / "unknown.yaml"
    unknown.write_text("min_pis: 0.2\n", encoding="utf-8")
    typo = runner.invoke(
        app, [*common, "--as-of", "2024-12-31", "--out", str(out), "--config", str(unknown)]
    )
    assert typo.exit_code == 2 and "min_pis" in typo.output


def test_a_model_without_reference_statistics_is_refused_with_a_way_out(
    world: dict, tmp_path: Path
) -> None:
    from mlflow.tracking.default_experiment import DEFAULT_EXPERIMENT_ID

    from features.catalogue import feature_list_fingerprint
    from training.registry import load_risk_model, log_risk_model
    from training.tracking import TrackingStore

    model = load_risk_model(
        f"models:/{MODEL}/{world['version']}", tracking_uri=world["tracking"]
    ).risk_model
    import pandas as pd

    example = pd.DataFrame([[0.0] * len(model.feature_names)], columns=model.feature_names)
    with TrackingStore(world["tracking"]).run(DEFAULT_EXPERIMENT_ID) as run:
        logged = log_risk_model(
            model,
            run=run,
            input_example=example,
            feature_list_sha256=feature_list_fingerprint(),
            registered_model_name=MODEL + "-bare",
        )
    with pytest.raises(MonitorError, match="--reference-as-of"):
        run_monitor(
            world["raw"],
            as_of=dt.date(2023, 12, 31),
            out_dir=tmp_path,
            model_uri=logged.model_uri,
            tracking_uri=world["tracking"],
            log_to_mlflow=False,
        )


@pytest.mark.server
def test_monitor_on_a_real_servers_statistics_flags_the_planted_shift(
    world: dict, after_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real `bentoml serve` scores every family of the shifted registry at a date before
    and one after the shift; `earlyrisk monitor --served-stats URL` on what it served flags
    the shifted indicators after the shift only, as the snapshot mode does; only an auditor
    (or admin) token reads the statistics."""
    import httpx

    from features.catalogue import feature_list_fingerprint
    from features.engine import build_feature_table
    from features.snapshot_store import write_feature_table
    from features.validation import load_validated
    from serving.local_server import begin_audit_log, start_local_server
    from serving.store.tokens import SqlTokenStore

    # the child server inherits this process's environment: only this test's settings count
    for key in [k for k in os.environ if k.startswith("EARLYRISK_")]:
        monkeypatch.delenv(key)
    root = world["root"] / "served"
    (root / "serving").mkdir(parents=True)
    dates = [dt.date(2023, 12, 31), dt.date(2024, 12, 31)]
    table = build_feature_table(load_validated(world["raw"]), dates, n_jobs=1)
    snapshot = write_feature_table(
        table, root / "features.parquet", feature_list_sha256=feature_list_fingerprint()
    )
    env = {
        "EARLYRISK_TRACKING_URI": world["tracking"],
        "EARLYRISK_MODEL_URI": f"models:/{MODEL}/{world['version']}",
        "EARLYRISK_SNAPSHOT_PATH": str(snapshot),
        "BENTOML_HOME": str(root / "bentoml_home"),
        "EARLYRISK_QUOTA_FAMILIES_PER_MINUTE": "1000000",
        "EARLYRISK_QUOTA_REQUESTS_PER_MINUTE": "1000000",
        **{
            f"EARLYRISK_{name.upper()}": str(root / "serving" / f"{name}.sqlite")
            for name in ("lookup_db_path", "audit_log_path", "token_db_path")
        },
        "EARLYRISK_SECURITY_LOG_PATH": str(root / "serving" / "security.sqlite"),
        "EARLYRISK_SERVED_STATS_PATH": str(root / "serving" / "served_stats.sqlite"),
    }
    tokens = SqlTokenStore(root / "serving" / "token_db_path.sqlite")
    caseworker = tokens.create("caseworker").token
    auditor = tokens.create("auditor").token
    begin_audit_log(env)
    server = start_local_server(env, root / "bentoml.log")
    try:
        served = 0
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for day in dates:
                ids = list(table.loc[table["as_of"] == pd.Timestamp(day), "family_id"])
                for start in range(0, len(ids), 500):
                    response = client.post(
                        "/score",
                        json={"family_ids": ids[start : start + 500], "as_of": day.isoformat()},
                        headers={"Authorization": f"Bearer {caseworker}"},
                    )
                    assert response.status_code == 200, response.text
                    served += sum(r["status"] == "scored" for r in response.json()["results"])
            today = dt.datetime.now(dt.UTC).date().isoformat()
            body = {"since": today, "until": today}
            refused = client.post(
                "/served_stats", json=body, headers={"Authorization": f"Bearer {caseworker}"}
            )
            assert refused.status_code == 403
            assert client.post("/served_stats", json=body).status_code == 401
            answer = client.post(
                "/served_stats", json=body, headers={"Authorization": f"Bearer {auditor}"}
            )
            assert answer.status_code == 200
            document = answer.json()
        assert sum(p["n"] for p in document["periods"]) == served
        assert not any(fid in answer.text for fid in table["family_id"])
        runner = CliRunner()
        common = ["monitor", "--served-stats", server.url, "--tracking-uri", world["tracking"]]
        common += ["--since", today, "--until", today, "--no-mlflow"]
        before = runner.invoke(
            app,
            [*common, "--as-of", "2023-12-31", "--out", str(root / "before")],
            env={"EARLYRISK_TOKEN": auditor},
        )
        assert before.exit_code in (0, 3), before.output
        after = runner.invoke(
            app,
            [*common, "--as-of", "2024-12-31", "--out", str(root / "after")],
            env={"EARLYRISK_TOKEN": auditor},
        )
        assert after.exit_code == 3, after.output
        denied = runner.invoke(
            app,
            [*common, "--as-of", "2024-12-31", "--out", str(root / "denied")],
            env={"EARLYRISK_TOKEN": caseworker},
        )
        assert denied.exit_code == 1 and "403" in denied.output
    finally:
        server.stop()
    report_before = json.loads((root / "before" / "monitor_report.json").read_text())
    report_after = json.loads((root / "after" / "monitor_report.json").read_text())
    assert not _drifted(report_before) & set(SHIFTED)
    assert set(SHIFTED) <= _drifted(report_after)
    assert report_after["source"] == "served_stats"
    assert report_after["performance"]["realized"] is None
    assert report_after["performance"]["not_applicable"]
    # the server scored every eligible family: the same drift as the snapshot mode against
    # the same (stored) reference; served statistics have no raw data for a seasonal one
    snapshot_mode = after_run.report
    assert snapshot_mode["reference"]["seasonal"]["method"] == "stored"
    assert report_after["n_families"] == snapshot_mode["n_families"]
    for a, b in zip(
        report_after["drift"]["features"], snapshot_mode["drift"]["features"], strict=True
    ):
        assert a["value"] == pytest.approx(b["value"], abs=1e-9), a["name"]
    groups = {g["attribute"] for g in report_after["fairness"][-1]["groups"]}
    assert groups and all(a.startswith("audit_") for a in groups)
