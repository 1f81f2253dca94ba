"""Batch scoring: every family of a raw registry as of a date, with reasons, to Parquet.

The same :class:`~serving.scoring.Scorer` (and so the same reasons) as the HTTP service.
Memory stays bounded by the partition, not the registry: families are split into
partitions by the feature engine's stable hash of ``family_id``; each partition's
features are computed by the engine's driver (:func:`features.engine.feature_partitions`)
with the training run's feature configuration (its label outcomes and horizon, recorded on
the model version; the extraction date is this registry's own), scored and appended to
the output file as one Parquet row group, then dropped. The raw events are never held
whole: the validator reads them in slices and lays them out by partition on scratch disk
(:mod:`features.partitioned_raw`); only the five small tables live for the whole run.

Every family with a member on the date gets a row with a ``status``: ``scored``, or
``ineligible`` with ``ineligible_reason`` (the model's eligibility rule, e.g. no child under
18 in the household: design rule 10), in which case probability, level, percentile, reasons
and contributions are null and no score is logged, because none was made.

Risk levels are set like the service's (:func:`serving.engine.bands_from_settings`): on
the probabilities of the whole eligible scored population, so they are known only after the
last partition. The run therefore writes the scored partitions to a hidden file first, sets
the bands, then reads that file back one row group at a time, adds the level and percentile,
logs every score and writes the published file (memory stays one row group plus one float
per family).

Output columns: ``family_id``, ``as_of``, ``status``, ``ineligible_reason``,
``probability``, ``baseline_probability``, ``risk_level``, ``percentile``,
``reasons_raising`` / ``reasons_lowering`` / ``context`` (lists of the service's reason
objects, in the run's language), ``contribution_need`` / ``contribution_context`` /
``contribution_support``, ``model_name``, ``model_version``, then the feature table's
non-input columns, so the file can go straight to ``earlyrisk audit``: ``label``,
``label_observed``, ``wellbeing_score``, ``wellbeing_level`` and the ``audit_*`` groups.
Model inputs are not copied (the reasons carry the values that matter). The file's
key-value metadata records the model URI, version, checksum, the feature-list and raw
fingerprints and each band's lower bound (``earlyrisk.band.<level>``: audit the served
bands with ``earlyrisk audit --threshold``).
"""

from __future__ import annotations

import fcntl
import os
import pwd
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.config import FeatureConfig
from features.engine import feature_partitions, normalise_as_of
from features.errors import EarlyriskError
from features.labels import AsOfAfterExtractionError
from features.partitions import (
    DEFAULT_FAMILIES_PER_PARTITION,
    PartitionSource,
    refuse_dates_after_extraction,
)
from features.private_files import new_private_file
from features.snapshot_store import META_FEATURE_LIST, META_PREFIX, META_RAW
from serving.batch_stages import (
    Banding,
    BatchModel,
    BatchStages,
    bandings,
    level_by_version,
    load_stages,
    publishable,
    score_details,
    seal,
    shadow_records,
    stage_partition,
)
from serving.explain import reason_json
from serving.i18n import DEFAULT_LANGUAGE, Language
from serving.scoring import ReferencePopulation, RiskBands, Scorer
from serving.settings import ServingSettings
from serving.store.audit_log import AuditLogBase, AuditLogUnavailable, ScoreRecord, audit_reasons

if TYPE_CHECKING:
    from training.registry import LoadedRiskModel

REASON_TYPE = pa.list_(
    pa.struct(
        [
            ("indicator", pa.string()),
            ("kind", pa.string()),
            ("kind_name", pa.string()),
            ("domain", pa.string()),
            ("description", pa.string()),
            ("value", pa.string()),
            ("value_number", pa.float64()),
            ("unit", pa.string()),
            ("contribution", pa.float64()),
            ("contribution_text", pa.string()),
        ]
    )
)
REASON_COLUMNS = ("reasons_raising", "reasons_lowering", "context")


class BatchScoringError(EarlyriskError, RuntimeError):
    """The batch cannot run (model/feature list mismatch, no families); says what to do."""


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run wrote."""

    path: Path
    families: int
    partitions: int
    model_uri: str
    model_version: str
    levels: dict[str, int]
    band_cutoffs: dict[str, float]
    run_id: str = ""
    cleaned: tuple[str, ...] = ()


def batch_operator() -> str:
    """Who runs the batch, for the audit log: the passwd name of the real uid.

    Not ``$LOGNAME``/``$USER`` (what :func:`getpass.getuser` reads first): anyone can set
    those to another person's name.
    """
    uid = os.getuid()
    try:
        return f"cli:{pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"cli:uid{uid}"


def partial_path(out: Path, run_id: str) -> Path:
    """The run's temporary file, renamed to ``out`` once every score is on record."""
    return out.with_name(f".{out.name}.{run_id}.partial")


@contextmanager
def output_lock(out: Path) -> Iterator[list[str]]:
    """Hold the output's lock file for a run; yield the stale temporaries it removed.

    One run at a time writes an output (a second one is refused, it does not wait). While
    the lock is held no other run can be writing this output, so any ``.partial`` file
    of it left in the folder belongs to a run that was killed: it is removed. The lock is
    an ``flock`` on ``.<name>.lock``, released by the kernel when the process dies.
    """
    lock_path = out.with_name(f".{out.name}.lock")
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchScoringError(
                f"another batch run is writing {out} (it holds {lock_path}); wait for it to "
                "finish or write to another file"
            ) from None
        stale = sorted(out.parent.glob(f".{out.name}.*partial"))
        for path in stale:
            path.unlink(missing_ok=True)
        yield [path.name for path in stale]
    finally:
        os.close(fd)


def score_features(
    features: pd.DataFrame,
    scorer: Scorer,
    *,
    model_name: str,
    model_version: str,
    lang: Language = DEFAULT_LANGUAGE,
    bands: RiskBands | None = None,
) -> pd.DataFrame:
    """Score a feature-table frame: one output row per input row, in the same order.

    Rows the scorer's eligibility rule excludes get ``status`` ``ineligible`` with the
    reason, and null probability, level, reasons and contributions. ``risk_level`` is
    filled only when ``bands`` are given (otherwise :func:`assign_levels` adds it once the
    eligible population's bands are known).
    """
    eligible = scorer.eligible(features)
    scored = scorer.score(features.loc[eligible, scorer.feature_names], bands=bands)
    n = len(features)
    rows = np.flatnonzero(eligible)

    def spread(values: Sequence[Any] | np.ndarray, fill: Any) -> list[Any]:
        out_values: list[Any] = [fill] * n
        for j, i in enumerate(rows):
            out_values[i] = values[j]
        return out_values

    explanations = scored.explanations
    probability = np.full(n, np.nan)
    probability[eligible] = scored.probability
    baseline = np.full(n, np.nan)
    baseline[eligible] = scored.baseline
    out = pd.DataFrame(
        {
            "family_id": features["family_id"].to_numpy(),
            "as_of": features["as_of"].to_numpy(),
            "status": np.where(eligible, "scored", "ineligible"),
            "ineligible_reason": pd.array(
                [None if ok else scorer.eligibility.reason() for ok in eligible], dtype="string"
            ),
            "probability": probability,
            "baseline_probability": baseline,
            **{
                column: spread(
                    [[reason_json(r, lang) for r in getattr(e, attr)] for e in explanations],
                    None,
                )
                for column, attr in (
                    ("reasons_raising", "raising"),
                    ("reasons_lowering", "lowering"),
                    ("context", "context"),
                )
            },
            **{
                f"contribution_{kind}": np.asarray(
                    spread([e.by_kind[kind] for e in explanations], np.nan), dtype=np.float64
                )
                for kind in ("need", "context", "support")
            },
            "model_name": model_name,
            "model_version": model_version,
        }
    )
    if scored.risk_level is not None:
        at = list(out.columns).index("baseline_probability") + 1
        out.insert(at, "risk_level", pd.array(spread(scored.risk_level, None), dtype="string"))
    inputs = set(scorer.feature_names)
    for column in features.columns:
        if column not in inputs and column not in out.columns:
            out[column] = features[column].to_numpy()
    if "label" in out.columns and "label_observed" in out.columns:
        # A label whose horizon is not over yet is unknown, not 0: null it, so an audit of
        # this file refuses it (missing labels) instead of reading 0 as "no outcome".
        out["label"] = out["label"].astype("Int8").where(out["label_observed"].astype(bool))
    return out


def assign_levels(
    frame: pd.DataFrame, bands: RiskBands | None, reference: ReferencePopulation | None
) -> pd.DataFrame:
    """``frame`` with ``risk_level`` and ``percentile`` (after ``baseline_probability``);
    both null on ineligible rows (no score: no level, no place in the population).
    ``bands``/``reference`` are None only when no row of the population is eligible."""
    probability = frame["probability"].to_numpy(dtype=np.float64)
    if "status" in frame.columns:
        scored_rows = (frame["status"] == "scored").to_numpy()
    else:
        scored_rows = np.ones(len(frame), dtype=bool)
    if bands is None or reference is None:
        if scored_rows.any():
            raise ValueError("scored rows need the population's bands and reference")
        scored_rows = np.zeros(len(frame), dtype=bool)
        bands_levels: list[str] = []
    else:
        bands_levels = bands.levels(probability[scored_rows])
    levels: list[str | None] = [None] * len(frame)
    for i, level in zip(np.flatnonzero(scored_rows), bands_levels, strict=True):
        levels[i] = level
    percentile = np.full(len(frame), np.nan)
    if reference is not None and scored_rows.any():
        percentile[scored_rows] = reference.percentile(probability[scored_rows])
    out = frame.drop(columns=["risk_level", "percentile"], errors="ignore")
    at = list(out.columns).index("baseline_probability") + 1
    out.insert(at, "risk_level", pd.array(levels, dtype="string"))
    out.insert(at + 1, "percentile", percentile)
    return out


def record_batch_scores(
    frame: pd.DataFrame,
    audit_log: AuditLogBase,
    *,
    run_id: str,
    operator: str,
    stages: BatchStages | None = None,
    banding: dict[str, Banding] | None = None,
) -> pd.DataFrame:
    """Log every score of ``frame`` (one transaction) and return it with a ``score_id`` column.

    Batch scores reach caseworkers like served ones, so they are on record the same way (a
    score that cannot be logged is not served): endpoint ``batch``, role ``batch``, the
    operator in place of a token id, one ``request_id`` per run. Ineligible rows carry no
    score: nothing is logged for them and their ``score_id`` is null. Raises
    AuditLogUnavailable when the log cannot be written; the caller then publishes nothing.

    ``stages`` (:mod:`serving.batch_stages`): each score entry records its rollout arm, and
    the shadow's scores of the same rows go in the same transaction (``banding`` holds the
    shadow's bands under ``shadow``).
    """
    if "status" in frame.columns:
        scored_rows = (frame["status"] == "scored").to_numpy()
    else:
        scored_rows = np.ones(len(frame), dtype=bool)
    full = frame
    frame = frame.loc[scored_rows]
    score_ids = [uuid.uuid4().hex for _ in range(len(frame))]
    as_of = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
    details = score_details(frame, stages) if stages is not None else None
    shadow = (
        shadow_records(frame, score_ids, stages, banding or {}, run_id=run_id, as_of=list(as_of))
        if stages is not None
        else []
    )
    audit_log.record_scores(
        [
            ScoreRecord(
                score_id=score_id,
                request_id=run_id,
                token_id=operator,
                role="batch",
                endpoint="batch",
                family_id=str(family_id),
                as_of=day,
                model_version=str(version),
                probability=float(probability),
                risk_level=str(level),
                reasons=audit_reasons(
                    (r["indicator"], r["contribution"]) for r in (*raising, *lowering, *context)
                ),
                detail=None if details is None else details[k],
            )
            for k, (
                score_id,
                family_id,
                day,
                version,
                probability,
                level,
                raising,
                lowering,
                context,
            ) in enumerate(
                zip(
                    score_ids,
                    frame["family_id"],
                    as_of,
                    frame["model_version"],
                    frame["probability"],
                    frame["risk_level"],
                    frame["reasons_raising"],
                    frame["reasons_lowering"],
                    frame["context"],
                    strict=True,
                )
            )
        ],
        shadow,
    )
    ids = pd.array([None] * len(full), dtype="string")
    ids[np.flatnonzero(scored_rows)] = score_ids
    return full.assign(score_id=ids)


def _arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    """The output schema: reasons as list<struct>, all-null columns typed as strings."""
    fields = []
    for column in frame.columns:
        if column in REASON_COLUMNS:
            fields.append(pa.field(column, REASON_TYPE))
            continue
        inferred = pa.Table.from_pandas(frame[[column]], preserve_index=False).schema.field(0)
        kind = pa.string() if pa.types.is_null(inferred.type) else inferred.type
        fields.append(pa.field(column, kind))
    return pa.schema(fields)


def load_batch_model(model_uri: str, *, tracking_uri: str) -> tuple[LoadedRiskModel, FeatureConfig]:
    """The registered model a batch run scores with, and the feature configuration its
    labels are rebuilt with; both engines (pandas here, :mod:`serving.spark_batch`) load
    through this one function so they refuse the same models with the same words.

    Raises BatchScoringError when the model was trained on another feature list than this
    code computes, or records no feature configuration (its label could not be rebuilt);
    the registry's own errors when no version answers ``model_uri``.
    """
    from training.registry import TAG_FEATURE_CONFIG, load_risk_model, refuse_other_feature_list

    # load_risk_model talks to ``tracking_uri`` through its own client: MLflow's
    # process-wide URI is left alone
    loaded = load_risk_model(model_uri, tracking_uri=tracking_uri)
    refuse_other_feature_list(
        loaded, BatchScoringError, remedy="score with a model trained on the current catalogue"
    )
    if TAG_FEATURE_CONFIG not in loaded.tags:
        raise BatchScoringError(
            f"model {loaded.name}/{loaded.version} records no feature configuration (model "
            f"version tag {TAG_FEATURE_CONFIG!r}), so its label cannot be rebuilt; score with "
            "a model registered by `earlyrisk train`"
        )
    # The run's label and well-being settings; whether a label is observed is decided by
    # the scored registry's own extraction date, not the training data's.
    feature_config = FeatureConfig.model_validate_json(loaded.tags[TAG_FEATURE_CONFIG]).model_copy(
        update={"extraction_date": None}
    )
    return loaded, feature_config


def score_registry(
    raw_dir: Path | str,
    *,
    as_of: str,
    out: Path | str,
    model_uri: str,
    tracking_uri: str,
    audit_log: AuditLogBase,
    operator: str,
    settings: ServingSettings | None = None,
    lang: Language = DEFAULT_LANGUAGE,
    families_per_partition: int = DEFAULT_FAMILIES_PER_PARTITION,
    on_partition: Callable[[int, int], None] | None = None,
    rollout_path: Path | None = None,
    shadow_uri: str | None = None,
) -> BatchSummary:
    """Score every family of raw_dir as of as_of and write the Parquet file out.

    ``settings`` (default: from the environment) give the reason threshold and counts and
    the band rule, as for the service; texts are in ``lang``. Every score is appended to
    ``audit_log`` (as ``operator``, one request id for the run) before its row group is
    written; the file is only published once all are on record. ``on_partition(done,
    total)`` is called after each partition (the CLI's progress bar). Raises
    InvalidRawDataError for broken raw data and BatchScoringError / the registry's errors
    when the model cannot be used.

    ``rollout_path`` / ``shadow_uri``: apply a staged rollout (a version per region, the
    hold-out's level withheld in the file) and score with a shadow on record only, as
    `earlyrisk serve --rollout --shadow` do (:mod:`serving.batch_stages`); BatchStageError
    when either cannot be applied, before anything is logged.
    """
    from features.catalogue import feature_list_fingerprint
    from features.eligibility import EligibilityRule
    from features.partitioned_raw import open_registry
    from serving.engine import scorer_from_settings
    from training.registry import TAG_ELIGIBILITY

    settings = settings or ServingSettings()
    loaded, feature_config = load_batch_model(model_uri, tracking_uri=tracking_uri)
    model = loaded.risk_model
    scorer = scorer_from_settings(
        model,
        settings,
        eligibility=EligibilityRule.from_tag(loaded.tags.get(TAG_ELIGIBILITY)),
    )
    stages = load_stages(
        BatchModel(loaded.name, loaded.version, scorer),
        settings,
        rollout_path=rollout_path,
        shadow_uri=shadow_uri,
        tracking_uri=tracking_uri,
        expected_features=feature_list_fingerprint(),
    )
    dates = normalise_as_of([as_of])
    # validated in slices, events laid out by partition on scratch disk (removed on close)
    raw = open_registry(raw_dir, families_per_partition=families_per_partition)
    if raw.n_families == 0:
        raw.close()
        raise BatchScoringError(f"the registry in {raw_dir} holds no families")
    try:  # before anything is logged or written: a date the registry cannot describe
        refuse_dates_after_extraction(raw, dates, feature_config)
    except AsOfAfterExtractionError:
        raw.close()
        raise
    n_partitions = raw.n_partitions

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex
    tmp = partial_path(out, run_id)
    scored_tmp = out.with_name(f".{out.name}.{run_id}.scored.partial")
    metadata: dict[bytes, bytes] = {
        f"{META_PREFIX}{key}".encode(): value.encode()
        for key, value in (
            ("model_uri", model_uri),
            ("model_name", loaded.name),
            ("model_version", loaded.version),
            ("model_sha256", loaded.model_sha256),
            ("as_of", dates[0].date().isoformat()),
            ("lang", lang),
        )
    }
    metadata[META_FEATURE_LIST.encode()] = feature_list_fingerprint().encode()
    metadata[META_RAW.encode()] = raw.raw_sha256.encode()
    output = str(out.resolve())
    with output_lock(out) as cleaned:
        _close_unfinished_runs(audit_log, output=output, operator=operator, by_run=run_id)
        try:  # the rollout's config is on record before the first score of its cycle
            seal(stages, audit_log)
        except BaseException:
            raw.close()
            raise
        audit_log.record_run(
            run_id,
            operator=operator,
            outcome="started",
            detail={
                "output": output,
                "as_of": dates[0].date().isoformat(),
                "model_uri": model_uri,
                "model_version": loaded.version,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "cleaned_stale_files": cleaned,
                **(
                    {"rollout": stages.rollout.sha256(), "cycle": stages.rollout.cycle}
                    if stages.rollout is not None
                    else {}
                ),
                **(
                    {"shadow": f"{stages.shadow.name}/{stages.shadow.version}"}
                    if stages.shadow is not None
                    else {}
                ),
            },
        )
        try:
            written, levels, band_cutoffs = _write_partitions(
                raw=raw,
                dates=dates,
                n_partitions=n_partitions,
                feature_config=feature_config,
                scorer=scorer,
                settings=settings,
                lang=lang,
                loaded=loaded,
                stages=stages,
                audit_log=audit_log,
                run_id=run_id,
                operator=operator,
                tmp=tmp,
                scored_tmp=scored_tmp,
                metadata=metadata,
                on_partition=on_partition,
            )
            if written == 0:
                raise BatchScoringError(f"no family in {raw_dir} has a member on {as_of}")
            tmp.replace(out)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            _record_outcome(
                audit_log,
                run_id,
                operator=operator,
                outcome="aborted",
                detail={"output": output, "error": f"{type(exc).__name__}: {exc}"[:500]},
            )
            raise
        finally:
            raw.close()
        audit_log.record_run(
            run_id,
            operator=operator,
            outcome="completed",
            detail={"output": output, "families": written, "partitions": n_partitions},
        )
    return BatchSummary(
        path=out,
        families=written,
        partitions=n_partitions,
        model_uri=model_uri,
        model_version=loaded.version,
        levels=dict(sorted(levels.items())),
        band_cutoffs=band_cutoffs,
        run_id=run_id,
        cleaned=tuple(cleaned),
    )


def _record_outcome(
    audit_log: AuditLogBase,
    run_id: str,
    *,
    operator: str,
    outcome: Literal["aborted"],
    detail: dict[str, object],
) -> None:
    """Record a run's outcome on the way out of a failure; the failure itself is what the
    caller raises, so a log that cannot take the outcome (the usual cause) is not a second
    error (the run then shows as unfinished, and the next run on the output closes it)."""
    try:
        audit_log.record_run(run_id, operator=operator, outcome=outcome, detail=detail)
    except AuditLogUnavailable:
        return


def _close_unfinished_runs(
    audit_log: AuditLogBase, *, output: str, operator: str, by_run: str
) -> None:
    """Record ``aborted`` for earlier runs on this output that never recorded an outcome.

    Called with the output's lock held, so none of them can still be running.
    """
    for run in audit_log.unfinished_runs(output=output):
        audit_log.record_run(
            run["run_id"],
            operator=operator,
            outcome="aborted",
            detail={
                "output": output,
                "error": "the run ended without an outcome (killed or crashed); its file "
                "was not published",
                "closed_by_run": by_run,
            },
        )


def _write_partitions(
    *,
    raw: PartitionSource,
    dates: list[pd.Timestamp],
    n_partitions: int,
    feature_config: FeatureConfig,
    scorer: Scorer,
    settings: ServingSettings,
    lang: Language,
    loaded: LoadedRiskModel,
    stages: BatchStages,
    audit_log: AuditLogBase,
    run_id: str,
    operator: str,
    tmp: Path,
    scored_tmp: Path,
    metadata: dict[bytes, bytes],
    on_partition: Callable[[int, int], None] | None,
) -> tuple[int, dict[str, int], dict[str, float]]:
    """Score every partition to ``scored_tmp``, set the bands on the whole eligible
    population, then level, log and append every row group to ``tmp``; (families written,
    levels, band cut-offs). Both temporaries end in ``partial``, so a killed run's are
    cleaned by the next run's :func:`output_lock`; both are created 0600 before a row is
    written (the published file is ``tmp`` renamed: every family, its level and reasons)."""
    written = 0
    done = 0
    # each version's (and the shadow's) probabilities of its eligible families: its bands
    populations: dict[str, list[np.ndarray]] = {loaded.version: []}
    levels: dict[str, int] = {}
    try:
        # pass 1: features, probabilities and reasons, partition by partition
        writer: pq.ParquetWriter | None = None
        schema: pa.Schema | None = None
        try:
            for _, features in feature_partitions(
                raw, dates, config=feature_config, n_partitions=n_partitions
            ):
                done += 1
                if len(features):
                    frame = score_features(
                        features,
                        scorer,
                        model_name=loaded.name,
                        model_version=loaded.version,
                        lang=lang,
                    )
                    if stages.staged:  # rollout versions, arms, the shadow (serving.batch_stages)
                        frame = stage_partition(
                            features,
                            frame,
                            stages,
                            score=lambda rows, m: score_features(
                                rows, m.scorer, model_name=m.name, model_version=m.version,
                                lang=lang,
                            ),
                            populations=populations,
                        )  # fmt: skip
                    else:
                        # the eligible families only: the population bands and percentiles use
                        scored_rows = (frame["status"] == "scored").to_numpy()
                        populations[loaded.version].append(
                            frame["probability"].to_numpy(dtype=np.float64)[scored_rows]
                        )
                    if writer is None:
                        schema = _arrow_schema(frame)
                        writer = pq.ParquetWriter(new_private_file(scored_tmp), schema)
                    writer.write_table(
                        pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
                    )
                if on_partition is not None:
                    on_partition(done, n_partitions)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            return 0, {}, {}
        # the bands and percentiles of the whole eligible scored population (none when no
        # family is eligible: every row then says why, and none has a level)
        banding = bandings(populations, settings)
        bands, reference = banding[loaded.version].bands, banding[loaded.version].reference
        cutoffs = bands.cutoffs() if bands is not None else {}
        for level, cut in cutoffs.items():
            metadata[f"{META_PREFIX}band.{level}".encode()] = repr(cut).encode()
        # pass 2: levels, audit log, published file
        final_writer: pq.ParquetWriter | None = None
        final_schema: pa.Schema | None = None
        try:
            source = pq.ParquetFile(scored_tmp)
            for i in range(source.num_row_groups):
                frame = source.read_row_group(i).to_pandas()
                if stages.staged:  # each row on the bands of the version that scored it
                    frame = level_by_version(frame, banding, assign_levels)
                else:
                    frame = assign_levels(frame, bands=bands, reference=reference)
                frame = record_batch_scores(
                    frame,
                    audit_log,
                    run_id=run_id,
                    operator=operator,
                    stages=stages if stages.staged else None,
                    banding=banding,
                )
                frame = publishable(frame)  # hold-out rows withheld, helper columns gone
                if final_writer is None:
                    final_schema = _arrow_schema(frame).with_metadata(metadata)
                    final_writer = pq.ParquetWriter(new_private_file(tmp), final_schema)
                table = pa.Table.from_pandas(frame, schema=final_schema, preserve_index=False)
                final_writer.write_table(table)
                written += len(frame)
                shown = (
                    frame["risk_level"]
                    .astype(object)
                    .where(frame["status"] != "withheld", "withheld")
                )
                for level, count in shown.fillna("ineligible").value_counts().items():
                    levels[str(level)] = levels.get(str(level), 0) + int(count)
        finally:
            if final_writer is not None:
                final_writer.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        scored_tmp.unlink(missing_ok=True)
    return written, levels, cutoffs


def read_scores(path: Path | str) -> pd.DataFrame:
    """Read a batch score file as written (reasons come back as lists of dicts): for
    comparing and auditing files. What a service shows reads :func:`read_current_scores`."""
    return pd.read_parquet(path)


def read_current_scores(
    path: Path | str, *, today: date | None = None, expiry_days: int | None = None
) -> pd.DataFrame:
    """A batch score file as the service may show it: the level of every row scored on
    data older than the expiry age says ``expired`` (:mod:`serving.expiry`; defaults: the
    serving settings' ``score_expiry_days`` and ``score_expiry_today``/today). The file
    keeps the levels as made (the audit log has them too)."""
    from serving.expiry import expire_frame, expiry_today
    from serving.settings import ServingSettings

    if today is None or expiry_days is None:
        settings = ServingSettings()
        today = expiry_today(settings) if today is None else today
        expiry_days = settings.score_expiry_days if expiry_days is None else expiry_days
    return expire_frame(read_scores(path), today=today, days=expiry_days)
