"""A run records every check's outcome; blocking_checks reads a version's back from MLflow.

A real SQLite MLflow store: the run logs ``checks/outcomes.json`` (as training does), a
version is registered from that run, and :func:`blocking_checks` lists exactly the failed and
the inconclusive checks, failed first, leaving out passes and configured waivers.
"""

from __future__ import annotations

import pandas as pd
import pytest

from training.audit.gates import Waiver
from training.check_record import (
    CHECKS_ARTIFACT,
    LEGACY_GATES_ARTIFACT,
    TAG_BLOCKING,
    TAG_INCONCLUSIVE,
    blocking_checks,
    check_tags,
    checks_document,
    read_checks,
)
from training.gates import GateResult, decide
from training.outcome import Outcome
from training.tracking import TrackingStore

NAME = "checks-test-model"


def _decision():
    gates = [
        GateResult.of("max_ece", "pass", value=0.01, threshold=0.05, detail="ece ok"),
        GateResult.of(
            "calibration_slope[audit_region/KZ-PAV]",
            "inconclusive",
            value=0.334,
            threshold=0.8,
            detail="0.334 [-0.452, 1.121]",
        ),
        GateResult.of("auc_margin_over_logistic", "fail", value=-0.01, threshold=0.0, detail="d"),
        GateResult.of(
            "top_band_oe[audit_g/tiny]", "insufficient_evidence", value=1, threshold=0.8, detail=""
        ),
    ]
    waiver = Waiver(check="top_band_oe[*]", reason="a pilot group with too few outcomes so far")
    return decide(gates, waivers=[waiver])


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking = TrackingStore(uri)
    experiment = tracking.experiment("checks", artifact_location=(tmp_path / "art").as_uri())
    return uri, tracking, experiment


def _register(tracking: TrackingStore, run_id: str) -> str:
    client = tracking.client
    if not client.search_registered_models(filter_string=f"name='{NAME}'"):
        client.create_registered_model(NAME)
    source = client.get_run(run_id).info.artifact_uri
    return str(client.create_model_version(NAME, source, run_id=run_id).version)


def test_blocking_checks_of_a_version_are_its_failed_then_inconclusive_checks(store) -> None:
    uri, tracking, experiment = store
    decision = _decision()
    with tracking.run(experiment) as run:
        run.set_tags(check_tags(decision))
        run.log_dict(checks_document(decision), CHECKS_ARTIFACT)
    version = _register(tracking, run.run_id)

    blocking = blocking_checks(uri, model_name=NAME, version=version)
    assert [(c.name, c.outcome) for c in blocking] == [
        ("auc_margin_over_logistic", Outcome.FAIL),
        ("calibration_slope[audit_region/KZ-PAV]", Outcome.INCONCLUSIVE),
    ]
    everything = read_checks(uri, run_id=run.run_id)
    waived = next(c for c in everything if c.name == "top_band_oe[audit_g/tiny]")
    assert waived.waived and waived.outcome is Outcome.INCONCLUSIVE and not waived.blocks
    assert waived.status == "insufficient_evidence" and waived.waiver
    tags = tracking.client.get_run(run.run_id).data.tags
    # the waived check is counted with the inconclusive ones, but is not among the blocking
    assert tags[TAG_INCONCLUSIVE] == "2"
    assert tags[TAG_BLOCKING] == "auc_margin_over_logistic,calibration_slope[audit_region/KZ-PAV]"


def test_a_run_logged_before_the_outcomes_artifact_is_read_from_its_gates_table(
    store, tmp_path
) -> None:
    uri, tracking, experiment = store
    table = tmp_path / "gates.csv"
    pd.DataFrame(
        [
            {"name": "max_ece", "passed": True, "status": "pass", "detail": "", "waiver": ""},
            {"name": "proxy_x", "passed": False, "status": "fail", "detail": "", "waiver": ""},
            {"name": "t[g/a]", "passed": False, "status": "not_evaluable", "detail": ""},
        ]
    ).to_csv(table, index=False)
    with tracking.run(experiment) as run:
        run.log_artifact(table, artifact_path=LEGACY_GATES_ARTIFACT.split("/")[0])
    assert [c.name for c in blocking_checks(uri, run_id=run.run_id)] == ["proxy_x", "t[g/a]"]


def test_a_run_without_recorded_checks_is_a_clear_error(store) -> None:
    uri, tracking, experiment = store
    with tracking.run(experiment) as run:
        pass
    with pytest.raises(LookupError, match=f"run {run.run_id} records neither"):
        blocking_checks(uri, run_id=run.run_id)
