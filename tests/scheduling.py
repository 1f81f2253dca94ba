"""How ``make test`` hands the suite to its xdist workers (``--dist loadfile``; two on the two
cores, the Makefile says why).

A worker takes one *unit* at a time: a test file, or a group of files that share a
session-scoped real part, so that part starts once per run instead of once per worker
(the Spark files: one JVM per run instead of one per worker; the files of each of the
serving tests' session servers: one server start per run). Units are handed out longest
first (the classic longest-processing-time rule): a long unit started last keeps one
worker busy while the others idle, which is where a run loses its minutes.
``LONGEST_FIRST`` holds the measured longest units; the other files follow, those with
slow tests first, in collection order. The order only moves time around: a unit missing
from the list (a new file) still runs, just not first.

xdist's own ``--loadscope-reorder`` (on by default) would sort units by test count and undo
this order; tests/conftest.py turns it off when xdist builds its scheduler.
"""

from __future__ import annotations

from typing import Any

#: files using the session's ``spark`` fixture: one unit, so one JVM per run
SPARK_FILES = frozenset(
    {
        "features/test_spark_engine.py",
        "features/test_spark_buckets.py",
        "features/test_spark_scratch.py",
        "features/test_spark_validation_units.py",
        "features/test_corrections_spark.py",
        "features/test_interventions_table.py",
        "features/test_validation_record.py",
        "serving/test_spark_batch.py",
    }
)
SPARK_UNIT = "spark"
#: files using tests/serving/conftest.py's session servers, ``real_server`` and
#: ``registry_world_server`` (test_review_page.py uses both): one unit, so each
#: `bentoml serve` (about 15 CPU-s to start; the second one after a feature build) starts
#: once per run instead of once per worker
SERVER_FILES = frozenset(
    {
        "serving/test_real_server.py",
        "serving/test_dossier_server.py",
        "serving/test_family_page.py",
        "serving/test_review_page.py",
        "serving/test_corrections_http.py",
    }
)
SERVER_UNIT = "session_servers"
#: each unit of several files: the files
SHARED_UNITS: dict[str, frozenset[str]] = {SPARK_UNIT: SPARK_FILES, SERVER_UNIT: SERVER_FILES}
#: ...and the session fixtures that make them one unit
UNIT_FIXTURES: dict[str, tuple[str, ...]] = {
    SPARK_UNIT: ("spark",),
    SERVER_UNIT: ("real_server", "registry_world_server"),
}

#: the longest units, longest first: the sum of their tests' wall seconds (setup included)
#: in the junit report of main's whole-suite run at 822bccd (`pytest -n 2 --dist loadfile
#: --durations=0 --junitxml`, 1,557 tests, 23 min under other jobs' load, 1,157 CPU-s), the
#: files grouped into the units above: Spark 416 s, the session servers 318 s (two starts
#: of each server then; one now), the monitor registry 303 s (it builds the run's shared
#: monitor world), then 126 s down to 23 s. Under that load the seconds are inflated
#: (the run before it, quiet: Spark 188 s, the servers 184 s, the monitor registry 181 s);
#: only their order is used.
LONGEST_FIRST: tuple[str, ...] = (
    SPARK_UNIT,
    SERVER_UNIT,
    "serving/test_monitor_registry.py",
    "serving/test_batch_runs.py",
    "training/test_support_training.py",
    "serving/test_model_cli.py",
    "training/test_notebook.py",
    "serving/test_shadow_rollout_server.py",
    "serving/test_monitor_seasons.py",
    "serving/test_worklist.py",
    "training/test_train_cli.py",
    "serving/test_real_server_audit_guard.py",
    "training/test_mlflow_ui.py",
    "serving/test_pg_replicas.py",
    "serving/test_monitor_postgres_run.py",
    "training/test_pipeline.py",
    "features/test_validation_stream.py",
    "training/test_train_postgres.py",
    "serving/test_champion_reload.py",
    "training/audit/test_audit_cli.py",
    "features/test_validation_background.py",
    "features/test_corrections.py",
    "earlyrisk/test_cli_usability.py",
)


def unit_of(path: str) -> str:
    """The unit of a test file, given its path relative to ``tests/``."""
    return next((unit for unit, files in SHARED_UNITS.items() if path in files), path)


def order_key(path: str, *, slow: bool) -> tuple[int, int]:
    """Sort key of a file's tests: listed long units by their rank, then the files with
    slow tests, then the rest (a stable sort keeps collection order inside each class)."""
    unit = unit_of(path)
    if unit in LONGEST_FIRST:
        return (0, LONGEST_FIRST.index(unit))
    return (1, 0) if slow else (2, 0)


def make_scheduler(config: Any, log: Any) -> Any:
    """xdist's loadfile scheduler with files grouped into :func:`unit_of`'s units."""
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class UnitScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return unit_of(path.removeprefix("tests/"))

    return UnitScheduling(config, log)
