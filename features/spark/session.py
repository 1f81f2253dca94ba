"""Starting the SparkSession the ``--engine spark`` paths run on.

Spark is an existing distributed engine (DESIGN.md, "Scale"): the same per-partition
pandas code runs inside its Python workers, so a cluster changes where the work runs, not
what it computes. This module only builds the session, with the settings the engine's
results depend on:

- ``spark.sql.session.timeZone=UTC``: dates cross between the JVM and pandas as
  timestamps; any other zone would shift them by hours;
- ``PYSPARK_PYTHON`` defaults to this interpreter, so the workers import the same
  ``earlyrisk`` code and pinned libraries as the driver (on a cluster, set it to the
  project's environment on the executors: docs/scale.md);
- Arrow transfer for ``applyInArrow``/``mapInPandas`` batches.

``master`` is any Spark master URL (``local[*]``, ``spark://host:7077``, ``yarn``,
``k8s://...``) or a Spark Connect URL (``sc://host:15002``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"


class SparkUnavailableError(RuntimeError):
    """pyspark or Java is missing, or the session cannot start; says what to install."""


def _check_java() -> None:
    if os.environ.get("JAVA_HOME") or shutil.which("java"):
        return
    raise SparkUnavailableError(
        "--engine spark needs Java 17 (no `java` on PATH and JAVA_HOME unset); install "
        "Debian's openjdk-17-jre-headless (`make spark-deps`)"
    )


def spark_session(
    master: str = DEFAULT_MASTER,
    *,
    app_name: str = "earlyrisk",
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """The active SparkSession for ``master`` (created when there is none).

    ``conf`` adds Spark settings (e.g. ``{"spark.ui.enabled": "false"}`` in tests). Raises
    SparkUnavailableError naming what is missing when pyspark or Java is not installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:  # pragma: no cover - pyspark is a runtime dependency
        raise SparkUnavailableError(
            f"--engine spark needs pyspark ({error}); install the project (`make install`)"
        ) from error
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master.startswith("sc://"):
        builder = builder.remote(master)
    else:
        _check_java()
        builder = builder.master(master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as error:  # py4j/JVM start-up errors have no common base class
        raise SparkUnavailableError(f"cannot start Spark on {master!r}: {error}") from error


@contextlib.contextmanager
def session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Set runtime SQL settings for one job and restore the previous values after it, so
    one command's tuning (shuffle partitions, say) does not leak into the next."""
    previous: dict[str, str | None] = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)
