"""How ``make test`` hands the suite to its two xdist workers (``--dist loadfile``).

A worker takes one *unit* at a time: a test file, or a group of files that share a
session-scoped real part, so that part starts once per run instead of once per worker
(the Spark files: one JVM instead of two on two cores). Units are handed out longest
first (the classic longest-processing-time rule): a long unit started last keeps one
worker busy while the other idles, which is where a two-worker run loses its minutes.
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

#: the longest units, longest first: the sum of their tests' wall seconds (setup included)
#: in the junit report of a whole-suite run at 9fb8584 (`pytest -n 2 --dist loadfile
#: --junitxml`, load average 2 rising to 21): Spark 2,835 s of the suite's 9,133 s, the
#: monitor world 729 s (built once per run now, for the report pages too:
#: tests/shared_cache.py), then 476 s down to 102 s
LONGEST_FIRST: tuple[str, ...] = (
    SPARK_UNIT,
    "serving/test_monitor_registry.py",
    "training/test_train_cli.py",
    "serving/test_model_cli.py",
    "training/test_notebook.py",
    "serving/test_real_server.py",
    "serving/test_report_pages.py",
    "training/test_mlflow_ui.py",
    "serving/test_batch_runs.py",
    "serving/test_monitor_seasons.py",
    "serving/test_family_page.py",
    "serving/test_review_page.py",
    "features/test_validation_stream.py",
    "training/test_support_training.py",
    "training/test_champion.py",
    "serving/test_pg_replicas.py",
    "serving/test_worklist.py",
    "serving/test_real_server_audit_guard.py",
    "training/test_pipeline.py",
    "earlyrisk/test_cli_usability.py",
)


def unit_of(path: str) -> str:
    """The unit of a test file, given its path relative to ``tests/``."""
    return SPARK_UNIT if path in SPARK_FILES else path


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
