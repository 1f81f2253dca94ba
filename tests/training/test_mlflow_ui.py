"""The URL `make demo` prints opens a real MLflow server's UI on the training runs table, in a
real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from chromium_driver import chromium_driver

from serving.monitor.tracking import monitoring_experiment
from training.mlflow_ui import ExperimentNotFoundError, main, runs_view_url, training_runs_url
from training.tracking import TrackingStore

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
# The screenshot goes to docs/ when EARLYRISK_SCREENSHOTS=1 (to refresh the committed one),
# else to a temporary folder: a test run leaves the repository unchanged.
DOCS = (
    ROOT / "docs"
    if os.environ.get("EARLYRISK_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="earlyrisk-screenshots-"))
)
EXPERIMENT = "earlyrisk-training"
RUN_NAMES = ("train v1 2024-09-30", "train v2 2024-12-31")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> TrackingStore:
    """A store as training and monitoring leave it: two training runs, one monitoring run."""
    tmp = tmp_path_factory.mktemp("mlflow_ui")
    store = TrackingStore(f"sqlite:///{tmp / 'mlflow.db'}")
    experiment = store.experiment(EXPERIMENT, artifact_location=str(tmp / "mlartifacts"))
    for i, name in enumerate(RUN_NAMES):
        with store.run(experiment, run_name=name) as run:
            run.log_params({"capacity": "top 5.0% of families", "seed": 42})
            run.log_metrics(
                {
                    "test.lightgbm.roc_auc": 0.64 + i / 100,
                    "test.lightgbm.precision_at_5pct": 0.12 + i / 100,
                    "gate.calibration_slope.disability_in_family.no.passed": 1.0,
                }
            )
            training_run = run.run_id
    with store.run(monitoring_experiment(store, training_run), run_name="monitor v2 2025-03-31"):
        pass
    return store


# `mlflow server` on a database store also starts its job runner (huey consumers for
# GenAI evaluation jobs): 8 more Python processes importing MLflow, which doubled the
# server's start-up CPU (25 against 13 CPU-s to /health here). The runs table needs none
# of them; the UI, its routes and the store are the same.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


@pytest.fixture(scope="module")
def mlflow_server(store) -> Iterator[str]:
    """A real `mlflow server` on the store's SQLite file and a free port."""
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [
                str(mlflow),
                "server",
                "--backend-store-uri",
                store.uri,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **SERVER_ENV},
        )
        try:
            yield _wait_for(server, f"http://127.0.0.1:{port}", log)
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)


def _wait_for(server: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> str:
    """``url`` once the server answers /health (bounded); its log when it died instead."""
    deadline = time.monotonic() + 180
    while True:
        if server.poll() is not None:
            log.seek(0)
            pytest.fail(f"mlflow server exited: {log.read().decode()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("mlflow server did not answer /health within 180 s")
        time.sleep(0.5)


def test_training_and_monitoring_runs_are_in_separate_experiments(store) -> None:
    client = store.client
    training = client.get_experiment_by_name(EXPERIMENT)
    monitoring = client.get_experiment_by_name(EXPERIMENT + "-monitoring")
    assert training is not None and monitoring is not None
    assert monitoring.tags["mlflow.experimentKind"] == "custom_model_development"
    names = {r.info.run_name for r in client.search_runs([training.experiment_id])}
    assert names == set(RUN_NAMES)
    [watch] = client.search_runs([monitoring.experiment_id])
    assert watch.info.run_name == "monitor v2 2025-03-31"
    assert monitoring.artifact_location.startswith(training.artifact_location)


def test_the_printed_url_names_the_runs_tab(store, capsys: pytest.CaptureFixture[str]) -> None:
    """What `python -m training.mlflow_ui` prints: its ``main`` with the command's arguments,
    in this process (a subprocess only imported MLflow again, about 6 CPU-s; the module's
    ``__main__`` line is ``sys.exit(main())``)."""
    assert main(["--tracking-uri", store.uri, "--url", "http://127.0.0.1:5001/"]) == 0
    experiment_id = store.client.get_experiment_by_name(EXPERIMENT).experiment_id
    assert capsys.readouterr().out.strip() == (
        f"http://127.0.0.1:5001/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    )
    assert runs_view_url("http://h:1", "7").startswith("http://h:1/#/experiments/7/runs?")


def test_no_training_experiment_is_a_clear_error(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(ExperimentNotFoundError, match="run `earlyrisk train` first"):
        training_runs_url(empty, EXPERIMENT)
    capsys.readouterr()
    assert main(["--tracking-uri", empty]) == 1  # the command: the reason, exit 1
    printed = capsys.readouterr()
    assert printed.out == "" and "run `earlyrisk train` first" in printed.err


def test_the_ui_opens_on_the_training_runs_table(store, mlflow_server) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url = training_runs_url(store.uri, EXPERIMENT, ui_url=mlflow_server)
    driver = chromium_driver(1366, 900)
    try:
        driver.get(url)

        def runs_listed(d) -> bool:
            text = d.find_element(By.TAG_NAME, "body").text
            return all(name in text for name in RUN_NAMES)

        WebDriverWait(driver, 120).until(runs_listed)
        # still the runs tab (the app adds its filters to the route's query)
        assert driver.current_url.split("?")[0] == url.split("?")[0], driver.current_url
        body = driver.find_element(By.TAG_NAME, "body").text
        # the runs table, not the GenAI overview nor the monitoring runs
        assert "monitor v2 2025-03-31" not in body
        assert "Detect issues" not in body
        driver.save_screenshot(str(DOCS / "mlflow_runs.png"))
    finally:
        driver.quit()
