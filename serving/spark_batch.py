"""Batch scoring on Spark: every family of a registry, with reasons, logged as it is scored.

The same steps as :mod:`serving.batch`, distributed: the raw data is validated on Spark
(:mod:`features.spark_validation`, broken data refused), the features are computed per
family partition (:mod:`features.spark_features`), and each Spark task scores its rows
through ``mapInPandas`` with the pandas path's own functions
(:func:`serving.batch.score_features`, :func:`serving.batch.record_batch_scores`), so the
probabilities and reasons are the service's.

- The model is loaded **once per task** from the registry, by its exact version (the
  driver resolves an alias first, so a champion promoted mid-run cannot mix two models in
  one file) and checked against the driver's checksum.
- **No score without its entry** (DESIGN rule 5): a task appends its batch's entries to the
  audit log in one transaction *before* it hands the rows to the writer; when the log
  cannot be written the task fails, the job fails, and nothing is published. The Parquet
  files are written to a hidden directory beside ``out`` and moved into place only after
  every task succeeded. A task Spark retries logs its rows again under new score ids; the
  entries of the failed attempt point to no published score (they are "logged, not
  served", the safe side of rule 5).
- **The run's outcome is recorded**: ``out/_run.json`` says ``completed`` with the counts;
  a failed run leaves no ``out`` and its audit-log entries carry the run id. The run's
  ``started`` and ``completed``/``aborted`` events go on the audit log
  (``AuditLog.record_run``), as for the pandas batch.
- **One hash chain**: the driver opens the log with :func:`serving.audit_log.open_audit_log`
  (the chain and its anchor are verified first, as the pandas batch does); each task opens
  the same file and appends its entries in a ``BEGIN IMMEDIATE`` transaction that reads
  the chain's head inside the write lock, so concurrent tasks extend one intact chain.

The audit log must be reachable from every executor: on one machine the SQLite file, on a
cluster the shared database (docs/scale.md).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from serving.audit_log import AuditLog, AuditLogUnavailable
from serving.batch import (
    BatchScoringError,
    BatchSummary,
    batch_operator,
    record_batch_scores,
    score_features,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from rich.console import Console

RUN_RECORD = "_run.json"
REASON_DDL = "array<struct<indicator:string,description:string,value:double,contribution:double>>"


@dataclass(frozen=True)
class _TaskSpec:
    """What each task needs to score (plain values: it is shipped to the executors)."""

    model_uri: str  # pinned to a version
    model_sha256: str
    model_name: str
    model_version: str
    tracking_uri: str
    audit_log_path: str
    audit_synchronous: Literal["FULL", "NORMAL"]
    audit_busy_timeout_ms: int
    run_id: str
    operator: str
    reasons_raising: int
    reasons_lowering: int


def _score_partition(spec: _TaskSpec, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """One task: load the model once, then score, log and yield each Arrow batch."""
    from serving.explain import catalogue_descriptions
    from serving.scoring import Scorer
    from serving.settings import ServingSettings
    from training.registry import load_risk_model

    loaded = load_risk_model(spec.model_uri, tracking_uri=spec.tracking_uri)
    if loaded.model_sha256 != spec.model_sha256:
        raise BatchScoringError(
            f"model {spec.model_uri} on this executor has checksum {loaded.model_sha256}, "
            f"the driver's has {spec.model_sha256}"
        )
    model = loaded.risk_model
    scorer = Scorer(
        model,
        descriptions=catalogue_descriptions(model.feature_names),
        bands=ServingSettings().risk_bands,
        n_raising=spec.reasons_raising,
        n_lowering=spec.reasons_lowering,
    )
    # The driver verified the chain when it opened the log; a task only appends to it.
    audit_log = AuditLog(
        spec.audit_log_path,
        synchronous=spec.audit_synchronous,
        busy_timeout_ms=spec.audit_busy_timeout_ms,
    )
    try:
        for features in batches:
            if features.empty:
                continue
            frame = score_features(
                features, scorer, model_name=spec.model_name, model_version=spec.model_version
            )
            frame = record_batch_scores(
                frame, audit_log, run_id=spec.run_id, operator=spec.operator
            )
            yield frame
    finally:
        audit_log.close()


def output_ddl(feature_columns: list[str], feature_types: dict[str, str], inputs: set[str]) -> str:
    """The score file's Spark schema: the pandas batch file's columns, then score_id."""
    fields = [
        ("family_id", "string"),
        ("as_of", "timestamp_ntz"),
        ("probability", "double"),
        ("risk_level", "string"),
        ("reasons_raising", REASON_DDL),
        ("reasons_lowering", REASON_DDL),
        ("model_name", "string"),
        ("model_version", "string"),
    ]
    taken = {name for name, _ in fields}
    for column in feature_columns:
        if column not in inputs and column not in taken:
            fields.append((column, feature_types[column]))
    fields.append(("score_id", "string"))
    return ", ".join(f"`{name}` {kind}" for name, kind in fields)


def _record_aborted(
    audit_log: AuditLog, run_id: str, *, operator: str, detail: dict[str, Any]
) -> None:
    """Record ``aborted`` on the way out of a failure. The failure is what the caller
    raises; a log that cannot take the outcome (often the failure's cause) is not a second
    error: the run then shows as unfinished on the log, and published nothing."""
    try:
        audit_log.record_run(run_id, operator=operator, outcome="aborted", detail=detail)
    except AuditLogUnavailable:
        return


def score_registry_spark(
    spark: SparkSession,
    raw_dir: Path | str,
    *,
    as_of: str,
    out: Path | str,
    model_uri: str,
    tracking_uri: str,
    audit_log: AuditLog,
    operator: str | None = None,
    audit_synchronous: Literal["FULL", "NORMAL"] = "FULL",
    audit_busy_timeout_ms: int = 5000,
    reasons_raising: int = 5,
    reasons_lowering: int = 3,
    n_partitions: int | None = None,
) -> BatchSummary:
    """Score every family of ``raw_dir`` as of ``as_of`` on Spark; write the directory ``out``.

    ``audit_log`` is the driver's log, opened (and verified) with
    :func:`serving.audit_log.open_audit_log`; the tasks open the same file with
    ``audit_synchronous`` and ``audit_busy_timeout_ms``. The features are built with the
    model's recorded feature configuration (model-version tag ``feature_config``), as the
    pandas batch does, so both engines give the same labels.

    Raises InvalidRawDataError for broken raw data, BatchScoringError / the registry's
    errors when the model cannot be used, AuditLogUnavailable when the driver cannot
    write the log; a task that cannot write the log fails the job (nothing is published).
    """
    import mlflow

    from features.catalogue import feature_list_fingerprint
    from features.config import FeatureConfig
    from features.spark_features import spark_feature_frame
    from features.spark_session import session_conf
    from features.spark_validation import validate_raw_dir_spark
    from features.validation import InvalidRawDataError
    from training.registry import TAG_FEATURE_CONFIG, load_risk_model

    operator = operator or batch_operator()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    loaded = load_risk_model(model_uri, tracking_uri=tracking_uri)
    if loaded.feature_list_sha256 != feature_list_fingerprint():
        raise BatchScoringError(
            f"model {loaded.name}/{loaded.version} was trained on feature list "
            f"{loaded.feature_list_sha256 or '(not recorded)'}, but this code computes "
            f"feature list {feature_list_fingerprint()}; score with a model trained on the "
            "current catalogue"
        )
    if TAG_FEATURE_CONFIG not in loaded.tags:
        raise BatchScoringError(
            f"model {loaded.name}/{loaded.version} records no feature configuration (model "
            f"version tag {TAG_FEATURE_CONFIG!r}), so its label cannot be rebuilt; score with "
            "a model registered by `earlyrisk train`"
        )
    # As serving.batch: the model's label and well-being settings; whether a label is
    # observed is decided by this registry's own extraction date.
    feature_config = FeatureConfig.model_validate_json(loaded.tags[TAG_FEATURE_CONFIG]).model_copy(
        update={"extraction_date": None}
    )
    report = validate_raw_dir_spark(spark, raw_dir)
    if not report.ok:
        raise InvalidRawDataError(report)

    run_id = uuid.uuid4().hex
    spec = _TaskSpec(
        model_uri=f"models:/{loaded.name}/{loaded.version}",
        model_sha256=loaded.model_sha256,
        model_name=loaded.name,
        model_version=loaded.version,
        tracking_uri=tracking_uri,
        audit_log_path=str(audit_log.path),
        audit_synchronous=audit_synchronous,
        audit_busy_timeout_ms=audit_busy_timeout_ms,
        run_id=run_id,
        operator=operator,
        reasons_raising=reasons_raising,
        reasons_lowering=reasons_lowering,
    )
    features, _, partitions = spark_feature_frame(
        spark, raw_dir, [as_of], config=feature_config, n_partitions=n_partitions
    )
    inputs = set(loaded.risk_model.feature_names)
    ddl = output_ddl(features.columns, dict(features.dtypes), inputs)
    scored = features.mapInPandas(lambda batches: _score_partition(spec, batches), schema=ddl)

    out = Path(out)
    staging = out.with_name(f".{out.name}.{run_id}.partial")
    detail: dict[str, Any] = {
        "output": str(out.resolve()),
        "as_of": as_of,
        "model_uri": spec.model_uri,
        "model_version": loaded.version,
        "engine": "spark",
    }
    audit_log.record_run(run_id, operator=operator, outcome="started", detail=detail)
    try:
        tuning = {
            "spark.sql.shuffle.partitions": str(partitions),
            "spark.sql.adaptive.coalescePartitions.enabled": "false",
        }
        with session_conf(spark, tuning):
            scored.write.mode("error").parquet(str(staging))
        written = spark.read.parquet(str(staging))
        levels = {
            str(row["risk_level"]): int(row["count"])
            for row in written.groupBy("risk_level").count().collect()
        }
        families = sum(levels.values())
        if families == 0:
            raise BatchScoringError(f"no family in {raw_dir} has a member on {as_of}")
        summary = {
            "run_id": run_id,
            "outcome": "completed",
            "operator": operator,
            "families": families,
            "levels": dict(sorted(levels.items())),
            "partitions": partitions,
            "model_uri": spec.model_uri,
            "model_sha256": spec.model_sha256,
            "feature_list_sha256": feature_list_fingerprint(),
            "as_of": as_of,
            "engine": "spark",
            "scores_per_audit_entry": 1,
            "audit_log": str(audit_log.path),
        }
        (staging / RUN_RECORD).write_text(json.dumps(summary, indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        staging.rename(out)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        _record_aborted(
            audit_log,
            run_id,
            operator=operator,
            detail={**detail, "error": f"{type(error).__name__}: {error}"[:500]},
        )
        raise
    audit_log.record_run(
        run_id,
        operator=operator,
        outcome="completed",
        detail={**detail, "families": families, "partitions": partitions},
    )
    return BatchSummary(
        path=out,
        families=families,
        partitions=partitions,
        model_uri=model_uri,
        model_version=loaded.version,
        levels=dict(sorted(levels.items())),
        run_id=run_id,
    )


def read_spark_scores(path: Path | str) -> pd.DataFrame:
    """A score directory written by :func:`score_registry_spark`, sorted by family and date."""
    import pyarrow.dataset as ds

    table = ds.dataset(str(path), format="parquet").to_table().to_pandas()
    return table.sort_values(["family_id", "as_of"], kind="stable").reset_index(drop=True)


def run_score_command(
    raw: Path,
    as_of: str,
    out: Path,
    model_uri: str,
    tracking_uri: str,
    master: str,
    err: Console,
) -> int:
    """``earlyrisk score --engine spark``: the exit code (0 written, 1 refused), with the
    same messages as the pandas path."""
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException
    from rich.console import Console
    from rich.table import Table

    from features.engine_options import start_spark
    from features.errors import EarlyriskError
    from features.validation import InvalidRawDataError
    from serving.audit_log import open_audit_log
    from serving.settings import ServingSettings

    settings = ServingSettings()
    try:
        audit_log = open_audit_log(
            settings.audit_log_path,
            anchor_path=settings.audit_anchor_path,
            verify=settings.audit_verify_on_start,
            synchronous=settings.audit_synchronous,
            busy_timeout_ms=settings.audit_busy_timeout_ms,
        )
    except AuditLogUnavailable as exc:
        err.print(f"[red]cannot score:[/red] {exc}; no score is produced that cannot be logged")
        return 1
    try:
        spark = start_spark(master, err)
        summary = score_registry_spark(
            spark,
            raw,
            as_of=as_of,
            out=out,
            model_uri=model_uri,
            tracking_uri=tracking_uri,
            audit_log=audit_log,
            operator=batch_operator(),
            audit_synchronous=settings.audit_synchronous,
            audit_busy_timeout_ms=settings.audit_busy_timeout_ms,
            reasons_raising=settings.reasons_raising,
            reasons_lowering=settings.reasons_lowering,
        )
    except InvalidRawDataError as exc:
        err.print(f"[red]the raw data breaks the contract:[/red]\n{exc}")
        return 1
    except (EarlyriskError, ValueError) as exc:  # ValueError: a malformed model URI
        err.print(f"[red]cannot score:[/red] {exc}")
        return 1
    except (PySparkException, Py4JJavaError) as exc:  # a failed job (a task could not log)
        err.print(f"[red]cannot score:[/red] the Spark job failed, nothing was published: {exc}")
        return 1
    finally:
        audit_log.close()
    table = Table("families", "model", "risk levels", "directory")
    levels = ", ".join(f"{k}: {v}" for k, v in summary.levels.items())
    table.add_row(
        str(summary.families),
        f"{summary.model_uri} (version {summary.model_version})",
        levels,
        str(summary.path),
    )
    Console().print(table)
    return 0
