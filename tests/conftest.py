"""Fixtures shared by every package's tests.

``small_registry_dir`` is one synthetic registry (about 400 families, seed 7, the default
period 2020-01-01..2024-12-31) written once per test session: tests that need realistic
raw data read it instead of generating their own. Treat it as read-only.

A test that uses a fixture starting a real part (Spark, a PostgreSQL server, a real
BentoML server, a browser's server) is marked ``slow`` here, so ``make test-fast``
(``-m "not slow and not server"``) leaves it out without each file remembering to; and the
files holding slow tests are handed out first, so the xdist workers do not end on one
long file started last (``--dist loadfile`` hands out files, and tests/scheduling.py's
groups of files, in collection order).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scheduling import make_scheduler, order_key

from serving.throwaway_pg import PostgresServer, new_root

SMALL_REGISTRY_FAMILIES = 400
SMALL_REGISTRY_SEED = 7
# fixtures (of this conftest and the packages') that start a real part; a test using one
# is slow whatever its file says
REAL_PART_FIXTURES = frozenset(
    {
        "spark",
        "postgres_server",
        "postgres_url",
        "real_server",
        "family_server",
        "registry_server",
        "default_limits_server",
        "mlflow_server",
    }
)

# files whose tests train models end to end or run whole pipelines (minutes of the suite
# on 2 cores, measured): slow as a whole, so `make test-fast` keeps to the unit tests
SLOW_FILES = frozenset(
    {
        "features/test_scratch_signals.py",
        "serving/test_batch_runs.py",
        "serving/test_model_cli.py",
        "serving/test_monitor_registry.py",
        "serving/test_report_pages.py",
        "training/test_champion.py",
        "training/test_check_record.py",
        "training/test_train_cli.py",
    }
)
TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that start real parts, and those of ``SLOW_FILES``, ``slow``; then
    order the files as tests/scheduling.py says: the longest units first, then the files
    holding slow tests (stable: the order inside a file is kept)."""
    for item in items:
        in_slow_file = item.path.relative_to(TESTS_DIR).as_posix() in SLOW_FILES
        if in_slow_file or REAL_PART_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    slow_files |= {item.path for item in items if item.get_closest_marker("server") is not None}
    items.sort(
        key=lambda item: order_key(
            item.path.relative_to(TESTS_DIR).as_posix(), slow=item.path in slow_files
        )
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` hands out tests/scheduling.py's units (files, Spark's together).

    xdist's ``--loadscope-reorder`` (on by default) would sort the units by test count and
    undo the collection order; it is turned off here rather than in ``addopts``, because an
    xdist option in ``addopts`` makes ``pytest -p no:xdist`` refuse to start (optional hook:
    without xdist this hook is never called, and pytest does not ask for it)."""
    config.option.loadscopereorder = False
    if config.getvalue("dist") != "loadfile":
        return None
    return make_scheduler(config, log)


@pytest.fixture(scope="session")
def small_registry_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory with the six contract tables (Parquet) and ``ground_truth.parquet``."""
    from features.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("small_registry")
    config = SynthConfig(families=SMALL_REGISTRY_FAMILIES, seed=SMALL_REGISTRY_SEED)
    synthesize(config, out, workers=1)
    return out


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for the session's Spark tests (starting one takes seconds)."""
    from features.spark.session import spark_session

    session = spark_session(
        "local[2]",
        app_name="earlyrisk-tests",
        conf={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"},
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (initdb in a temp dir; see serving.throwaway_pg)."""
    server = PostgresServer(new_root())
    server.init()
    server.start()
    server.wait_ready()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on the session's server for one test.

    Named after the test for whoever reads the server's log, plus a hash of its node id:
    two files may hold tests of the same name (``test_postgresql``), and a worker runs both
    against one server."""
    readable = "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:40]
    unique = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    return postgres_server.create_database(f"t_{readable}_{unique}_{os.getpid()}")
