"""Batch scoring on Spark: every family of a registry, with reasons, logged as it is scored.

The same steps and the same file as :mod:`serving.batch`, distributed: the raw data is
validated on Spark (:mod:`features.spark.validation`, broken data refused), the features
are computed per family partition (:mod:`features.spark.features`), and Spark tasks run
the pandas path's own functions through ``mapInPandas``, so every column and value is the
pandas batch's (eligibility status, reasons, context, baseline, bands, percentiles, texts
in the run's language).

Two passes, as in the pandas batch, because the risk bands and percentiles are set on the
whole eligible population (:func:`serving.engine.bands_from_settings`):

1. each task loads the model **once** from the registry, by its exact version (the driver
   resolves an alias first, so a champion promoted mid-run cannot mix two models in one
   file; the checksum is checked), and scores its rows with
   :func:`serving.batch.score_features` into a hidden staging directory;
2. the driver reads back the eligible probabilities only (one float per family, as the
   pandas batch keeps), sets the bands and the reference population, broadcasts them, and
   each task adds level and percentile (:func:`serving.batch.assign_levels`) and logs its
   scores (:func:`serving.batch.record_batch_scores`) before it hands the rows to the
   writer.

- **No score without its entry** (DESIGN rule 5): a task appends its batch's entries in
  one transaction before its rows go to the writer; when the log cannot be written the
  task fails, the job fails, and nothing is published. The Parquet files are written to
  a hidden directory beside ``out`` and moved into place only after every task succeeded.
  A task Spark retries logs its rows again under new score ids; the entries of the failed
  attempt point to no published score ("logged, not served", the safe side of rule 5).
- **The run's outcome is recorded**: the run's ``started`` and ``completed``/``aborted``
  entries on the audit log, as for the pandas batch, and ``out/_run.json`` (counts, band
  cut-offs, language, model), which holds what the pandas file keeps in its metadata.
- **One hash chain, on the driver's backend**: the driver opens the log as ``score`` does
  (:func:`serving.store.stores.open_audit_log_for`: SQLite, or PostgreSQL when
  ``EARLYRISK_DATABASE_URL`` is set; verified first). Each task opens the same backend
  (:class:`TaskAuditLog`) and appends under its write lock (SQLite's ``BEGIN IMMEDIATE``,
  PostgreSQL's advisory lock), reading the chain's head inside it, so concurrent tasks
  extend one intact chain. On a cluster the SQLite file would have to be on a file system
  every executor can lock; the PostgreSQL log has no such limit (docs/scale.md).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from features.private_files import new_private_folder, publish_tree
from serving.batch import (
    REASON_COLUMNS,
    REASON_TYPE,
    BatchScoringError,
    BatchSummary,
    assign_levels,
    batch_operator,
    load_batch_model,
    record_batch_scores,
    score_features,
)
from serving.i18n import DEFAULT_LANGUAGE, Language
from serving.scoring import ReferencePopulation, RiskBands
from serving.settings import ServingSettings
from serving.store.audit_log import AuditLog, AuditLogBase, AuditLogUnavailable

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from rich.console import Console

RUN_RECORD = "_run.json"
CONTRIBUTION_KINDS = ("need", "context", "support")


@dataclass(frozen=True)
class TaskAuditLog:
    """Where every task appends: the driver's own log backend (plain values, shipped to the
    executors). ``target`` is the SQLite file or the PostgreSQL URL."""

    backend: Literal["sqlite", "postgres"]
    target: str
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    busy_timeout_ms: int = 5000

    @classmethod
    def of(
        cls,
        log: AuditLogBase,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 5000,
    ) -> TaskAuditLog:
        """The backend of the driver's ``log`` (SQLite settings for the tasks' writes)."""
        from serving.store.audit_log_pg import PostgresAuditLog

        if isinstance(log, PostgresAuditLog):
            return cls(backend="postgres", target=log.url)
        if isinstance(log, AuditLog):
            return cls(
                backend="sqlite",
                target=str(log.path),
                synchronous=synchronous,
                busy_timeout_ms=busy_timeout_ms,
            )
        raise BatchScoringError(
            f"the Spark batch cannot hand audit log {type(log).__name__} to its tasks; use "
            "the SQLite log or EARLYRISK_DATABASE_URL"
        )

    def open(self) -> AuditLogBase:
        """The task's connection. Not verified again: the driver verified the chain when it
        opened the log, and a task only appends to it (each append chains to the head)."""
        if self.backend == "postgres":
            from serving.store.audit_log_pg import PostgresAuditLog

            return PostgresAuditLog(self.target)
        return AuditLog(
            self.target, synchronous=self.synchronous, busy_timeout_ms=self.busy_timeout_ms
        )


@dataclass(frozen=True)
class _TaskSpec:
    """What each task needs (plain values and the settings: shipped to the executors)."""

    model_uri: str  # pinned to a version
    model_sha256: str
    model_name: str
    model_version: str
    tracking_uri: str
    settings: ServingSettings
    lang: Language
    audit_log: TaskAuditLog
    run_id: str
    operator: str


def _score_task(spec: _TaskSpec, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Pass 1, one task: load the model once, then score each Arrow batch (no level yet)."""
    from features.eligibility import EligibilityRule
    from serving.engine import scorer_from_settings
    from training.registry import TAG_ELIGIBILITY, load_risk_model

    loaded = load_risk_model(spec.model_uri, tracking_uri=spec.tracking_uri)
    if loaded.model_sha256 != spec.model_sha256:
        raise BatchScoringError(
            f"model {spec.model_uri} on this executor has checksum {loaded.model_sha256}, "
            f"the driver's has {spec.model_sha256}"
        )
    scorer = scorer_from_settings(
        loaded.risk_model,
        spec.settings,
        eligibility=EligibilityRule.from_tag(loaded.tags.get(TAG_ELIGIBILITY)),
    )
    for features in batches:
        if features.empty:
            continue
        yield score_features(
            features,
            scorer,
            model_name=spec.model_name,
            model_version=spec.model_version,
            lang=spec.lang,
        )


def _record_task(
    spec: _TaskSpec,
    bands: RiskBands | None,
    reference: ReferencePopulation | None,
    batches: Iterator[pd.DataFrame],
) -> Iterator[pd.DataFrame]:
    """Pass 2, one task: level and percentile on the population's bands, then every score
    of the batch on the audit log (one transaction) before the batch goes to the writer."""
    audit_log = spec.audit_log.open()
    try:
        for frame in batches:
            if frame.empty:
                continue
            frame = assign_levels(_plain_reasons(frame), bands=bands, reference=reference)
            yield record_batch_scores(frame, audit_log, run_id=spec.run_id, operator=spec.operator)
    finally:
        audit_log.close()


def _plain_reasons(frame: pd.DataFrame) -> pd.DataFrame:
    """The reason columns as lists of dicts, as :func:`serving.batch.score_features` made
    them (Spark hands structs back as Rows or arrays; the pandas functions read keys)."""
    out = frame.copy()
    for column in REASON_COLUMNS:
        out[column] = [
            None if reasons is None else [_as_dict(r) for r in reasons] for reasons in out[column]
        ]
    return out


def _as_dict(reason: Any) -> dict[str, Any]:
    return reason.asDict() if hasattr(reason, "asDict") else dict(reason)


def _ddl(fields: list[tuple[str, str]]) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in fields)


def scored_fields(
    feature_columns: list[str], feature_types: dict[str, str], inputs: set[str]
) -> list[tuple[str, str]]:
    """Pass 1's Spark columns: :func:`serving.batch.score_features`'s, in its order."""
    from pyspark.sql.pandas.types import from_arrow_type

    reasons = from_arrow_type(REASON_TYPE).simpleString()
    fields = [
        ("family_id", "string"),
        ("as_of", "timestamp_ntz"),
        ("status", "string"),
        ("ineligible_reason", "string"),
        ("probability", "double"),
        ("baseline_probability", "double"),
        *((column, reasons) for column in REASON_COLUMNS),
        *((f"contribution_{kind}", "double") for kind in CONTRIBUTION_KINDS),
        ("model_name", "string"),
        ("model_version", "string"),
    ]
    taken = {name for name, _ in fields}
    for column in feature_columns:
        if column not in inputs and column not in taken:
            fields.append((column, feature_types[column]))
    return fields


def output_fields(scored: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The published file's Spark columns: pass 1's with ``risk_level`` and ``percentile``
    after ``baseline_probability`` (:func:`serving.batch.assign_levels`), then
    ``score_id`` (:func:`serving.batch.record_batch_scores`)."""
    at = [name for name, _ in scored].index("baseline_probability") + 1
    return [
        *scored[:at],
        ("risk_level", "string"),
        ("percentile", "double"),
        *scored[at:],
        ("score_id", "string"),
    ]


def _record_aborted(
    audit_log: AuditLogBase, run_id: str, *, operator: str, detail: dict[str, Any]
) -> None:
    """Record ``aborted`` on the way out of a failure. The failure is what the caller
    raises; a log that cannot take the outcome (often the failure's cause) is not a second
    error: the run then shows as unfinished on the log, and published nothing."""
    try:
        audit_log.record_run(run_id, operator=operator, outcome="aborted", detail=detail)
    except AuditLogUnavailable:
        return


def _population(
    staged: DataFrame, settings: ServingSettings
) -> tuple[RiskBands | None, ReferencePopulation | None]:
    """The bands and reference of the eligible scored population (as the pandas batch:
    :func:`serving.engine.bands_from_settings` on every eligible probability); None, None
    when no family is eligible."""
    from serving.engine import bands_from_settings

    column = staged.where(staged["status"] == "scored").select("probability").toArrow()
    population = column.column(0).to_numpy().astype(np.float64)
    if population.size == 0:
        return None, None
    return bands_from_settings(settings, population), ReferencePopulation(population)


def score_registry_spark(
    spark: SparkSession,
    raw_dir: Path | str,
    *,
    as_of: str,
    out: Path | str,
    model_uri: str,
    tracking_uri: str,
    audit_log: AuditLogBase,
    operator: str | None = None,
    settings: ServingSettings | None = None,
    lang: Language = DEFAULT_LANGUAGE,
    audit_synchronous: Literal["FULL", "NORMAL"] = "FULL",
    audit_busy_timeout_ms: int = 5000,
    n_partitions: int | None = None,
    validated: Path | str | None = None,
) -> BatchSummary:
    """Score every family of ``raw_dir`` as of ``as_of`` on Spark; write the directory ``out``.

    ``validated`` names a validation record (:mod:`features.spark.record`) that
    stands for validating ``raw_dir`` again; a record that does not hold for these files
    raises ValidationRecordError (a ValueError) before anything is scored.

    ``audit_log`` is the driver's log, opened (and verified) with
    :func:`serving.store.stores.open_audit_log_for`; the tasks append to the same backend (SQLite
    with
    ``audit_synchronous`` and ``audit_busy_timeout_ms``, or the same PostgreSQL database).
    ``settings`` (default: from the environment) give the reason threshold and counts and
    the band rule, as for the pandas batch; texts are in ``lang``. The features are built
    with the model's recorded feature configuration (model-version tag ``feature_config``),
    as the pandas batch does, so both engines give the same labels.

    Raises InvalidRawDataError for broken raw data, BatchScoringError / the registry's
    errors when the model cannot be used, AuditLogUnavailable when the driver cannot
    write the log; a task that cannot write the log fails the job (nothing is published).
    """

    from features.catalogue import feature_list_fingerprint
    from features.spark.features import scratch_beside, spark_feature_frame
    from features.spark.raw import raw_files_fingerprint
    from features.spark.record import trusted_record
    from features.spark.scratch import remove as remove_scratch
    from features.spark.session import session_conf
    from features.spark.validation import validate_raw_dir_spark
    from features.validation import InvalidRawDataError

    operator = operator or batch_operator()
    settings = settings or ServingSettings()
    task_log = TaskAuditLog.of(
        audit_log, synchronous=audit_synchronous, busy_timeout_ms=audit_busy_timeout_ms
    )
    # as serving.batch: the same refusals, the model's own label settings
    loaded, feature_config = load_batch_model(model_uri, tracking_uri=tracking_uri)
    if validated is not None:
        trusted_record(validated, raw_dir)
    else:
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
        settings=settings,
        lang=lang,
        audit_log=task_log,
        run_id=run_id,
        operator=operator,
    )
    out = Path(out)
    # the registry laid out by family partition, read by pass 1's tasks; removed after it
    scratch = scratch_beside(out)
    detail: dict[str, Any] = {
        "output": str(out.resolve()),
        "as_of": as_of,
        "model_uri": spec.model_uri,
        "model_version": loaded.version,
        "engine": "spark",
    }
    # logged before any feature job: a driver that cannot log refuses before the work
    audit_log.record_run(run_id, operator=operator, outcome="started", detail=detail)
    # Spark writes both passes inside a private (0700) folder beside ``out``; the published
    # tree is made 0600/0700 there, then renamed (scores name every family and its level)
    private = new_private_folder(out, run_id)
    staging = private / "scores.partial"
    scored_staging = private / "scored.partial"
    try:
        features, _, partitions = spark_feature_frame(
            spark,
            raw_dir,
            [as_of],
            scratch=scratch,
            config=feature_config,
            n_partitions=n_partitions,
        )
        inputs = set(loaded.risk_model.feature_names)
        scored_schema = scored_fields(features.columns, dict(features.dtypes), inputs)
        tuning = {
            "spark.sql.shuffle.partitions": str(partitions),
            "spark.sql.adaptive.coalescePartitions.enabled": "false",
        }
        # pass 1: features, probabilities and reasons (nothing served yet: no level)
        with session_conf(spark, tuning):
            features.mapInPandas(
                lambda batches: _score_task(spec, batches), schema=_ddl(scored_schema)
            ).write.mode("error").parquet(str(scored_staging))
        remove_scratch(scratch)
        staged = spark.read.parquet(str(scored_staging))
        bands, reference = _population(staged, settings)
        cutoffs = bands.cutoffs() if bands is not None else {}
        # pass 2: level, percentile, the audit log, then the writer. The bands and the
        # sorted population travel with the function (pyspark broadcasts a large one
        # itself; 8 bytes per eligible family)
        staged.mapInPandas(
            lambda batches: _record_task(spec, bands, reference, batches),
            schema=_ddl(output_fields(scored_schema)),
        ).write.mode("error").parquet(str(staging))
        written = spark.read.parquet(str(staging))
        levels = {
            "ineligible" if row["risk_level"] is None else str(row["risk_level"]): int(row["count"])
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
            "band_cutoffs": cutoffs,
            "lang": lang,
            "partitions": partitions,
            "model_uri": spec.model_uri,
            "model_name": loaded.name,
            "model_version": loaded.version,
            "model_sha256": spec.model_sha256,
            "feature_list_sha256": feature_list_fingerprint(),
            "raw_files_sha256": raw_files_fingerprint(raw_dir),
            "as_of": as_of,
            "engine": "spark",
            "scores_per_audit_entry": 1,
            "audit_log": task_log.backend,
        }
        (staging / RUN_RECORD).write_text(json.dumps(summary, indent=2), encoding="utf-8")
        publish_tree(staging, out)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        _record_aborted(
            audit_log,
            run_id,
            operator=operator,
            detail={**detail, "error": f"{type(error).__name__}: {error}"[:500]},
        )
        raise
    finally:
        remove_scratch(scratch)
        shutil.rmtree(private, ignore_errors=True)
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
        band_cutoffs=cutoffs,
        run_id=run_id,
    )


# The dtypes a pandas batch file reads back with (serving.batch.read_scores) where a Parquet
# file written by Spark (no pandas metadata, microsecond timestamps) reads otherwise.
PANDAS_DTYPES = {
    "as_of": "datetime64[ns]",
    "ineligible_reason": "str",
    "risk_level": "str",
    "label": "float64",
    "score_id": "str",
}


def read_spark_scores(path: Path | str) -> pd.DataFrame:
    """A score directory written by :func:`score_registry_spark` as the pandas batch's file
    reads (:func:`serving.batch.read_scores`): the same columns and dtypes, sorted by family
    and date."""
    import pyarrow.dataset as ds

    table = ds.dataset(str(path), format="parquet").to_table().to_pandas()
    table = table.astype({k: v for k, v in PANDAS_DTYPES.items() if k in table.columns})
    return table.sort_values(["family_id", "as_of"], kind="stable").reset_index(drop=True)


def run_score_command(
    raw: Path,
    as_of: str,
    out: Path,
    *,
    model_uri: str,
    tracking_uri: str,
    master: str,
    settings: ServingSettings,
    lang: Language,
    err: Console,
    validated: Path | None = None,
) -> int:
    """``earlyrisk score --engine spark``: the exit code (0 written, 1 refused, 2 an as-of
    date after the extraction date), with the same messages as the pandas path."""
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException

    from features.engine_options import start_spark
    from features.errors import EarlyriskError
    from features.labels import AsOfAfterExtractionError
    from features.validation import InvalidRawDataError
    from serving.batch_summary import print_batch_summary
    from serving.store.stores import open_audit_log_for

    try:
        audit_log = open_audit_log_for(settings)
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
            settings=settings,
            lang=lang,
            audit_synchronous=settings.audit_synchronous,
            audit_busy_timeout_ms=settings.audit_busy_timeout_ms,
            validated=validated,
        )
    except InvalidRawDataError as exc:
        err.print(f"[red]the raw data breaks the contract:[/red]\n{exc}")
        return 1
    except AsOfAfterExtractionError as exc:
        err.print(f"[red]error:[/red] --as-of: {exc}; nothing was scored")
        return 2
    except (EarlyriskError, ValueError) as exc:  # ValueError: a malformed model URI
        err.print(f"[red]cannot score:[/red] {exc}")
        return 1
    except (PySparkException, Py4JJavaError) as exc:  # a failed job (a task could not log)
        err.print(f"[red]cannot score:[/red] the Spark job failed, nothing was published: {exc}")
        return 1
    finally:
        audit_log.close()
    print_batch_summary(summary, written="directory")
    err.print(f"run {summary.run_id} completed and recorded in the audit log")
    return 0
