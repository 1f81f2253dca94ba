"""Batch scoring: every family of a raw registry as of a date, with reasons, to Parquet.

The same :class:`~serving.scoring.Scorer` (and so the same reasons) as the HTTP service.
Memory stays bounded by the partition, not the registry: families are split into
partitions by the feature engine's stable hash of ``family_id``; each partition's
features are computed by the engine's driver (:func:`features.engine.feature_partitions`)
with the training run's feature configuration (its label outcomes and horizon, recorded on
the model version; the extraction date is this registry's own), scored and appended to
the output file as one Parquet row group, then dropped. Only the raw tables themselves
(already loaded by the validator) live for the whole run.

Every family with a member on the date gets a row with a ``status``: ``scored``, or
``ineligible`` with ``ineligible_reason`` (the model's eligibility rule, e.g. no child under
18 in the household: design rule 10), in which case probability, level and reasons are null
and no score is logged, because none was made.

Output columns: ``family_id``, ``as_of``, ``status``, ``ineligible_reason``,
``probability``, ``risk_level``,
``reasons_raising`` / ``reasons_lowering`` (lists of {indicator, description, value,
contribution}), ``model_name``, ``model_version``, then the feature table's non-input
columns, so the file can go straight to ``earlyrisk audit``: ``label``,
``label_observed``, ``wellbeing_score``, ``wellbeing_level`` and the ``audit_*`` groups.
Model inputs are not copied (the reasons carry the values that matter). The file's
key-value metadata records the model URI, version, checksum and the feature-list and raw
fingerprints.
"""

from __future__ import annotations

import fcntl
import math
import os
import pwd
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.config import FeatureConfig
from features.engine import feature_partitions, normalise_as_of, raw_fingerprint
from features.errors import EarlyriskError
from features.partitions import DEFAULT_FAMILIES_PER_PARTITION
from features.snapshot_store import META_FEATURE_LIST, META_PREFIX, META_RAW
from serving.audit_log import AuditLogBase, AuditLogUnavailable, ScoreRecord, audit_reasons
from serving.scoring import Scorer

if TYPE_CHECKING:
    from features.raw import RawTables
    from training.registry import LoadedRiskModel

REASON_TYPE = pa.list_(
    pa.struct(
        [
            ("indicator", pa.string()),
            ("description", pa.string()),
            ("value", pa.float64()),
            ("contribution", pa.float64()),
        ]
    )
)


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
) -> pd.DataFrame:
    """Score a feature-table frame: one output row per input row, in the same order.

    Rows the scorer's eligibility rule excludes get ``status`` ``ineligible`` with the
    reason, and null probability, level and reasons.
    """
    eligible = scorer.eligible(features)
    scored = scorer.score(features.loc[eligible, scorer.feature_names])
    n = len(features)
    probability = np.full(n, np.nan)
    probability[eligible] = scored.probability
    level: list[str | None] = [None] * n
    raising: list[list[dict[str, object]] | None] = [None] * n
    lowering: list[list[dict[str, object]] | None] = [None] * n
    for j, i in enumerate(np.flatnonzero(eligible)):
        level[i] = scored.risk_level[j]
        raising[i] = [r.as_dict() for r in scored.explanations[j].raising]
        lowering[i] = [r.as_dict() for r in scored.explanations[j].lowering]
    out = pd.DataFrame(
        {
            "family_id": features["family_id"].to_numpy(),
            "as_of": features["as_of"].to_numpy(),
            "status": np.where(eligible, "scored", "ineligible"),
            "ineligible_reason": pd.array(
                [None if ok else scorer.eligibility.reason() for ok in eligible], dtype="string"
            ),
            "probability": probability,
            "risk_level": pd.array(level, dtype="string"),
            "reasons_raising": raising,
            "reasons_lowering": lowering,
            "model_name": model_name,
            "model_version": model_version,
        }
    )
    inputs = set(scorer.feature_names)
    for column in features.columns:
        if column not in inputs and column not in out.columns:
            out[column] = features[column].to_numpy()
    if "label" in out.columns and "label_observed" in out.columns:
        # A label whose horizon is not over yet is unknown, not 0: null it, so an audit of
        # this file refuses it (missing labels) instead of reading 0 as "no outcome".
        out["label"] = out["label"].astype("Int8").where(out["label_observed"].astype(bool))
    return out


def record_batch_scores(
    frame: pd.DataFrame, audit_log: AuditLogBase, *, run_id: str, operator: str
) -> pd.DataFrame:
    """Log every score of ``frame`` (one transaction) and return it with a ``score_id`` column.

    Batch scores reach caseworkers like served ones, so they are on record the same way (a
    score that cannot be logged is not served): endpoint ``batch``, role ``batch``, the
    operator in place of a token id, one ``request_id`` per run. Ineligible rows carry no
    score: nothing is logged for them and their ``score_id`` is null. Raises
    AuditLogUnavailable when the log cannot be written; the caller then publishes nothing.
    """
    if "status" in frame.columns:
        scored_rows = (frame["status"] == "scored").to_numpy()
    else:
        scored_rows = np.ones(len(frame), dtype=bool)
    full = frame
    frame = frame.loc[scored_rows]
    score_ids = [uuid.uuid4().hex for _ in range(len(frame))]
    as_of = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
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
                    (r["indicator"], r["contribution"]) for r in (*raising, *lowering)
                ),
            )
            for score_id, family_id, day, version, probability, level, raising, lowering in zip(
                score_ids,
                frame["family_id"],
                as_of,
                frame["model_version"],
                frame["probability"],
                frame["risk_level"],
                frame["reasons_raising"],
                frame["reasons_lowering"],
                strict=True,
            )
        ]
    )
    ids = pd.array([None] * len(full), dtype="string")
    ids[np.flatnonzero(scored_rows)] = score_ids
    return full.assign(score_id=ids)


def _arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    """The output schema: reasons as list<struct>, all-null columns typed as strings."""
    fields = []
    for column in frame.columns:
        if column in ("reasons_raising", "reasons_lowering"):
            fields.append(pa.field(column, REASON_TYPE))
            continue
        inferred = pa.Table.from_pandas(frame[[column]], preserve_index=False).schema.field(0)
        kind = pa.string() if pa.types.is_null(inferred.type) else inferred.type
        fields.append(pa.field(column, kind))
    return pa.schema(fields)


def score_registry(
    raw_dir: Path | str,
    *,
    as_of: str,
    out: Path | str,
    model_uri: str,
    tracking_uri: str,
    audit_log: AuditLogBase,
    operator: str,
    reasons_raising: int = 5,
    reasons_lowering: int = 3,
    families_per_partition: int = DEFAULT_FAMILIES_PER_PARTITION,
    on_partition: Callable[[int, int], None] | None = None,
) -> BatchSummary:
    """Score every family of raw_dir as of as_of and write the Parquet file out.

    Every score is appended to ``audit_log`` (as ``operator``, one request id for the run)
    before its partition is written; the file is only published once all are on record.
    ``on_partition(done, total)`` is called after each partition (the CLI's progress bar).
    Raises InvalidRawDataError for broken raw data and BatchScoringError / the registry's
    errors when the model cannot be used.
    """
    from features.catalogue import feature_list_fingerprint
    from features.eligibility import EligibilityRule
    from features.validation import load_validated
    from serving.explain import catalogue_descriptions
    from serving.settings import ServingSettings
    from training.registry import TAG_ELIGIBILITY, TAG_FEATURE_CONFIG, load_risk_model

    # load_risk_model talks to ``tracking_uri`` through its own client: MLflow's
    # process-wide URI is left alone
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
    # The run's label and well-being settings; whether a label is observed is decided by
    # this registry's own extraction date, not the training data's.
    feature_config = FeatureConfig.model_validate_json(loaded.tags[TAG_FEATURE_CONFIG]).model_copy(
        update={"extraction_date": None}
    )
    model = loaded.risk_model
    scorer = Scorer(
        model,
        descriptions=catalogue_descriptions(model.feature_names),
        bands=ServingSettings().risk_bands,
        n_raising=reasons_raising,
        n_lowering=reasons_lowering,
        eligibility=EligibilityRule.from_tag(loaded.tags.get(TAG_ELIGIBILITY)),
    )
    dates = normalise_as_of([as_of])
    raw = load_validated(raw_dir)
    n_families = int(raw.families["family_id"].nunique())
    if n_families == 0:
        raise BatchScoringError(f"the registry in {raw_dir} holds no families")
    n_partitions = max(1, math.ceil(n_families / families_per_partition))

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex
    tmp = partial_path(out, run_id)
    metadata: dict[bytes, bytes] = {
        f"{META_PREFIX}{key}".encode(): value.encode()
        for key, value in (
            ("model_uri", model_uri),
            ("model_name", loaded.name),
            ("model_version", loaded.version),
            ("model_sha256", loaded.model_sha256),
            ("as_of", dates[0].date().isoformat()),
        )
    }
    metadata[META_FEATURE_LIST.encode()] = feature_list_fingerprint().encode()
    metadata[META_RAW.encode()] = raw_fingerprint(raw).encode()
    output = str(out.resolve())
    with output_lock(out) as cleaned:
        _close_unfinished_runs(audit_log, output=output, operator=operator, by_run=run_id)
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
            },
        )
        try:
            written, levels = _write_partitions(
                raw=raw,
                dates=dates,
                n_partitions=n_partitions,
                feature_config=feature_config,
                scorer=scorer,
                loaded=loaded,
                audit_log=audit_log,
                run_id=run_id,
                operator=operator,
                tmp=tmp,
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
    raw: RawTables,
    dates: list[pd.Timestamp],
    n_partitions: int,
    feature_config: FeatureConfig,
    scorer: Scorer,
    loaded: LoadedRiskModel,
    audit_log: AuditLogBase,
    run_id: str,
    operator: str,
    tmp: Path,
    metadata: dict[bytes, bytes],
    on_partition: Callable[[int, int], None] | None,
) -> tuple[int, dict[str, int]]:
    """Score, log and append every partition to ``tmp``; (families written, levels)."""
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    written = 0
    done = 0
    levels: dict[str, int] = {}
    try:
        for _, features in feature_partitions(
            raw, dates, config=feature_config, n_partitions=n_partitions
        ):
            done += 1
            if len(features):
                frame = score_features(
                    features, scorer, model_name=loaded.name, model_version=loaded.version
                )
                frame = record_batch_scores(frame, audit_log, run_id=run_id, operator=operator)
                if writer is None:
                    schema = _arrow_schema(frame).with_metadata(metadata)
                    writer = pq.ParquetWriter(tmp, schema)
                table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
                writer.write_table(table)
                written += len(frame)
                for level, count in frame["risk_level"].fillna("ineligible").value_counts().items():
                    levels[str(level)] = levels.get(str(level), 0) + int(count)
            if on_partition is not None:
                on_partition(done, n_partitions)
    except BaseException:
        if writer is not None:
            writer.close()
            writer = None
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if writer is not None:
            writer.close()
    return written, levels


def read_scores(path: Path | str) -> pd.DataFrame:
    """Read a batch score file (reasons come back as lists of dicts)."""
    return pd.read_parquet(path)
