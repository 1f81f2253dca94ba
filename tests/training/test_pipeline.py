"""The train job: registry round trip, gates decide the alias, reproducible, fully logged."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from training_frames import QUICK_SPEC, fake_feature_table

from training.caseworker_facts import fit_support_ablation
from training.config import load_config
from training.pipeline import STAGES, run_training
from training.registry import load_risk_model

# every test here needs a trained model or a generated registry (tens of seconds)
pytestmark = pytest.mark.slow

NAME = "earlyrisk-test"


@pytest.fixture(scope="module")
def table():
    return fake_feature_table(1500, seed=21)


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory, table):
    """One full run (reports, fairness audit, MLflow) shared by the read-only tests."""
    import yaml

    tmp = tmp_path_factory.mktemp("pipeline")
    spec = tmp / "quick.yaml"
    spec.write_text(yaml.safe_dump(QUICK_SPEC), encoding="utf-8")
    config = load_config(
        None,
        model_spec=str(spec),
        report_dir=str(tmp / "report"),
        evaluation={"n_bootstrap": 40},
        # a test slice of ~300 families: bounds loose enough for its noise, so the first
        # run is a champion and a deliberately impossible gate is the only thing that fails
        # (what each gate does on a small slice is tested in test_gates.py)
        gates={
            "max_ece": 0.15,
            "min_auc_margin": -1.0,
            "capacity_margin": 1.0,
            "min_test_positives": 20,
            "calibration": {
                "oe": {"lower": 0.2, "upper": 5.0},
                "slope": {"lower": 0.2, "upper": 5.0},
            },
            "fairness": {
                "basis": "interval",
                "ratio_bounds": {"tpr": {"lower": 0.5, "upper": 2.0}},
                "max_group_ece": 0.2,
            },
            "waivers": [
                {
                    "check": "*[*/*]",
                    "reason": "a test fixture of 300 families: groups are far too small",
                },
                {
                    "check": "proxy_check",
                    "reason": "the fake feature table has no protected attribute to check",
                },
            ],
        },
        mlflow={
            "tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}",
            "artifact_location": str(tmp / "mlartifacts"),
            "model_name": NAME,
        },
    )
    seen: list[tuple[str, str]] = []
    result = run_training(
        config, feature_table=table, n_threads=1, on_stage=lambda s, e: seen.append((s, e))
    )
    return result, seen


@pytest.fixture
def tracking(logged_run, monkeypatch):
    """Point a generic MLflow client (the environment) at the run's store, for this test."""
    uri = logged_run[0].config.mlflow.tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_every_stage_reports_progress(logged_run):
    _, seen = logged_run
    done = [s for s, e in seen if e == "done"]
    assert done == [s for s in STAGES if s not in ("load", "features")]
    assert [s for s, e in seen if e == "start"] == done


def test_registered_model_round_trips_with_same_predictions(logged_run):
    result, _ = logged_run
    uri = result.config.mlflow.tracking_uri
    loaded = load_risk_model(f"models:/{NAME}@{result.alias}", tracking_uri=uri)
    assert loaded.version == result.model_version == "1"
    assert result.alias in loaded.aliases
    test = result.split.test
    np.testing.assert_array_equal(
        loaded.risk_model.predict_proba(test), result.risk_model.predict_proba(test)
    )
    pd.testing.assert_frame_equal(
        loaded.risk_model.contributions(test), result.risk_model.contributions(test)
    )
    assert loaded.feature_list_sha256 == result.fingerprints["feature_list_sha256"]
    # the served model is the final refit, calibrated with the method chosen on the
    # held-out design (on the most recent window, so with its own numbers)
    assert loaded.risk_model.calibrator == result.final.model.calibrator
    assert loaded.risk_model.calibrator.method == result.calibration["lightgbm"].method
    assert loaded.risk_model.calibrator != result.calibration["lightgbm"].calibrator


def test_run_logs_config_fingerprints_metrics_report_and_model(logged_run, table, tracking):
    result, _ = logged_run
    client = mlflow.MlflowClient(tracking_uri=tracking)
    run = client.get_run(result.run_id)
    tags = run.data.tags
    assert tags["earlyrisk.raw_sha256"] == table.attrs["earlyrisk.raw_sha256"]
    assert tags["earlyrisk.feature_list_sha256"] == result.fingerprints["feature_list_sha256"]
    assert "earlyrisk.config_sha256" in tags
    assert tags["earlyrisk.decision"] == result.alias
    assert run.data.params["slices.test"] == "2023-12-31"
    auc = result.evaluation.models["lightgbm"].metrics["roc_auc"]
    assert run.data.metrics["test.lightgbm.roc_auc"] == pytest.approx(auc.estimate)
    assert run.data.metrics["test.lightgbm.roc_auc.low"] == pytest.approx(auc.low)
    assert "test.wellbeing_index.roc_auc" in run.data.metrics
    # the metrics are also the logged model's own (MLflow 3 shows them on the model page)
    (output,) = run.outputs.model_outputs
    linked = {m.key: m.value for m in client.get_logged_model(output.model_id).metrics}
    assert linked["test.lightgbm.roc_auc"] == pytest.approx(auc.estimate)
    assert set(linked) == set(run.data.metrics)
    artifacts = {f.path for f in client.list_artifacts(result.run_id)}
    assert {"config", "report", "tables", "fairness"} <= artifacts
    report = {f.path for f in client.list_artifacts(result.run_id, "report")}
    assert {"report/training_report.md", "report/training_report.html"} <= report
    figures = {f.path for f in client.list_artifacts(result.run_id, "report/figures")}
    for name in ("reliability", "capacity", "timeline", "baseline_comparison"):
        assert f"report/figures/{name}.png" in figures
    fairness = {f.path for f in client.list_artifacts(result.run_id, "fairness")}
    assert "fairness/fairness_report.json" in fairness
    card = {f.path for f in client.list_artifacts(result.run_id, "model_card")}
    assert {"model_card/model_card.json", "model_card/model_card.md"} <= card
    local = mlflow.artifacts.download_artifacts(
        run_id=result.run_id, artifact_path="model_card/model_card.json", tracking_uri=tracking
    )
    facts = json.loads(Path(local).read_text(encoding="utf-8"))["facts"]
    assert facts["model_version"] == result.model_version
    assert facts["alias"] == result.alias
    assert facts["fairness"]["gates_passed"] is True
    assert facts["data"]["feature_list_sha256"] == result.fingerprints["feature_list_sha256"]
    # the card says how corrections of records entered training (none here)
    assert "apply from their decided date" in facts["data"]["corrections"]
    assert "0 record(s) corrected" in facts["data"]["corrections"]
    assert "audit_region" not in facts["features"]
    model = mlflow.pyfunc.load_model(f"models:/{NAME}/{result.model_version}")
    assert model.metadata.signature is not None
    assert model.metadata.saved_input_example_info is not None
    test = result.split.test
    np.testing.assert_array_equal(
        np.asarray(model.predict(test[result.risk_model.feature_names])),
        result.risk_model.predict_proba(test),
    )


def test_failing_gate_gives_challenger_and_keeps_the_champion(logged_run, table, tracking):
    first, _ = logged_run
    assert first.alias == "champion", first.decision.explain()
    config = first.config.model_copy(
        update={"gates": first.config.gates.model_copy(update={"min_auc_margin": 0.99})}
    )
    # the first run's champion is loaded and compared on the same rows (same data and seed:
    # the same model, so non-inferior)
    second = run_training(config, feature_table=table, n_threads=1, write_reports=False)
    assert second.alias == "challenger"
    assert [g.name for g in second.decision.failed] == [
        "auc_margin_over_logistic",
        "auc_margin_over_wellbeing_index",
    ]
    compared = {g.name: g for g in second.decision.gates}
    assert compared["champion_roc_auc"].status == "pass"
    assert f"champion v{first.model_version}" in compared["champion_roc_auc"].detail
    assert first.decision.gates[-1].status == "no_champion"
    client = mlflow.MlflowClient(tracking_uri=tracking)
    champion = client.get_model_version_by_alias(NAME, "champion")
    challenger = client.get_model_version_by_alias(NAME, "challenger")
    assert str(champion.version) == first.model_version
    assert str(challenger.version) == second.model_version != first.model_version
    assert client.get_run(second.run_id).data.tags["earlyrisk.decision"] == "challenger"
    assert challenger.tags["gates"] == "failed"


def test_same_data_config_seed_give_same_model_and_metrics(logged_run, table):
    config = logged_run[0].config
    quick = {"n_threads": 1, "log_to_mlflow": False, "write_reports": False}
    a = run_training(config, feature_table=table, **quick)
    b = run_training(config, feature_table=table, **quick)
    assert a.risk_model.to_bytes() == b.risk_model.to_bytes()
    pd.testing.assert_frame_equal(a.metrics_table(), b.metrics_table())
    pd.testing.assert_frame_equal(a.metrics_table(), logged_run[0].metrics_table())
    c = run_training(config.model_copy(update={"seed": 99}), feature_table=table, **quick)
    assert c.risk_model.to_bytes() != a.risk_model.to_bytes()


def test_feature_table_from_another_catalogue_is_refused(logged_run, table):
    other = table.copy()
    other.attrs["earlyrisk.feature_list_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="rebuild the snapshots"):
        run_training(logged_run[0].config, feature_table=other, log_to_mlflow=False)


def test_ineligible_families_are_left_out_of_every_slice_and_the_audit(logged_run, table):
    result, _ = logged_run
    childless = set(table.loc[table["hh_children"] < 1, "family_id"])
    assert childless
    for frame in (result.split.train, result.split.calibration, result.split.test):
        assert not set(frame["family_id"]) & childless
        assert (frame["hh_children"] >= 1).all()
    assert result.audit.by_group["n"].max() <= len(result.split.test)
    counts = result.eligibility.set_index("as_of")
    assert (counts["ineligible"] > 0).all()
    assert int(counts["ineligible"].sum()) == int((table["hh_children"] < 1).sum())


def test_backtest_and_final_refit_say_which_data_they_saw(logged_run):
    result, _ = logged_run
    plan = result.plan
    assert plan.source == "feature table"
    # the fake table allows one origin only (its dates are a year apart); the backtest says so
    assert len(result.backtest.origins) == len(plan.origins) >= 1
    assert result.backtest.origins[0].evaluation is result.evaluation
    final = result.final
    assert final.calibration.as_of == result.split.info[2].as_of  # the latest labelled date
    assert max(final.train.as_of) == result.split.info[1].as_of[0]
    assert final.model.to_bytes() != result.evaluated_model.to_bytes()
    markdown = result.report.markdown.read_text(encoding="utf-8")
    assert "Which data each stage saw" in markdown
    assert "final refit: fit" in markdown and "Who is scored" in markdown


def test_mlflow_run_is_what_a_data_scientist_expects(logged_run, tracking):
    result, _ = logged_run
    client = mlflow.MlflowClient(tracking_uri=tracking)
    run = client.get_run(result.run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # the raw data as a dataset input, with its hash
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert dataset.digest == result.fingerprints["raw_sha256"][:32]
    tags = {t.key: t.value for t in inputs[0].tags}
    assert tags["raw_sha256"] == result.fingerprints["raw_sha256"]
    assert tags["mlflow.data.context"] == "training"
    commit = run.data.tags.get("mlflow.source.git.commit")
    assert commit is not None and len(commit) == 40
    metrics = run.data.metrics
    # per-group fairness figures and each gate, as comparable metrics
    assert any(k.startswith("fairness.settlement.rural.") for k in metrics)
    assert metrics["gate.max_ece.passed"] == 1.0
    assert metrics["gates.passed"] == float(result.decision.promoted)
    assert any(k.startswith("gate.fairness_") and k.endswith(".passed") for k in metrics)
    assert "backtest.origin0.lightgbm.roc_auc" in metrics
    # readable keys (docs/mlflow.md): dotted segments, capacity named, no stray characters
    from training.metric_names import capacity_name
    from training.registry import data_through

    cap = capacity_name(result.config.capacity)
    assert f"test.lightgbm.precision_at_{cap}" in metrics
    assert f"backtest.origin0.lightgbm.precision_at_{cap}.low" in metrics
    for key in metrics:
        assert not set(key) & set("[]/ "), key
        assert "_at_k" not in key and ".." not in key and not key.endswith("_"), key
    # named for what and when; spans the whole training, not only its logging
    assert run.info.run_name == f"train v{result.model_version} {data_through(result)}"
    assert run.info.start_time == round(result.started_at * 1000)
    assert run.info.end_time - run.info.start_time >= 1000 * result.timings["fit"]
    version = client.get_model_version(NAME, result.model_version)
    assert "children under 18" not in version.tags["eligibility_rule"]  # compact JSON
    assert '"kind": "children_under_18"' in version.tags["eligibility_rule"]


def test_training_leaves_the_process_wide_tracking_uri_alone(logged_run, table, tmp_path):
    before = mlflow.get_tracking_uri()
    config = logged_run[0].config.model_copy(
        update={
            "mlflow": logged_run[0].config.mlflow.model_copy(
                update={"tracking_uri": f"sqlite:///{tmp_path / 'other.db'}"}
            ),
            "report_dir": tmp_path / "report",
        }
    )
    run_training(config, feature_table=table, n_threads=1, write_reports=False)
    assert mlflow.get_tracking_uri() == before


def test_support_comparison_fitted_beside_the_reports_equals_one_fitted_afterwards(logged_run):
    """The run fits the card's "without support inputs" model in a background thread while
    the reports are drawn; no figure may depend on that overlap."""
    result, _ = logged_run
    assert result.support_ablation is not None
    again = fit_support_ablation(
        config=result.config,
        split=result.split,
        fit=result.fit,
        calibration=result.calibration,
        evaluated_model=result.evaluated_model,
    )
    assert again == result.support_ablation


def test_the_training_summary_is_short_unless_verbose(logged_run):
    """`earlyrisk train` ends with at most 60 lines by default (at 80 columns, with the 12
    stage lines before it), the gates that did not pass first; --verbose lists every gate."""
    import io

    from rich.console import Console

    from training.train_cli import MAX_GATES_LISTED, print_summary

    result, _ = logged_run

    def render(verbose: bool, width: int) -> str:
        out = io.StringIO()
        console = Console(file=out, width=width, color_system=None)
        print_summary(result, console, verbose=verbose)
        return out.getvalue()

    short = render(False, 80)
    assert len(short.splitlines()) <= 60 - 12, short
    flat = " ".join(short.split())
    assert f"Promotion gates ({len(result.decision.gates)})" in flat
    blocking = [g for g in result.decision.gates if not g.passed]
    for gate in blocking[:MAX_GATES_LISTED]:
        assert gate.name in flat
    full = render(True, 400)  # wide: each gate's name on one line
    for gate in result.decision.gates:
        assert gate.name in full
    assert len(render(True, 80).splitlines()) > len(short.splitlines())
