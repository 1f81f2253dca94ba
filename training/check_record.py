"""The outcome of every check of a training run, as MLflow records it and reads it back.

A promotion (``earlyrisk model promote VERSION``) must answer every check of the version that
failed or was inconclusive: each needs a named waiver (design rule 12). This module is the
one place that writes those outcomes into a run and reads them back:

* :func:`checks_document` is the run's ``checks/outcomes.json`` artifact: every check with
  its outcome (pass / fail / inconclusive, :mod:`training.outcome`), status, waiver and
  detail, failed first, then inconclusive, then passed;
* :func:`check_tags` are the run's and the model version's tags (counts per outcome and the
  names of the blocking checks), so the MLflow UI shows the three apart;
* :func:`blocking_checks` lists the checks that block a registered version (or a run): the
  governance CLI calls it before a promotion and asks a waiver for each.

Runs logged before ``checks/outcomes.json`` existed are read from their ``tables/gates.csv``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.outcome import Outcome, count_outcomes, outcome_of, sort_checks

if TYPE_CHECKING:
    from training.gates import PromotionDecision

CHECKS_ARTIFACT = "checks/outcomes.json"
LEGACY_GATES_ARTIFACT = "tables/gates.csv"
SCHEMA_VERSION = 1
#: tag keys (run and model version): counts per outcome, and the blocking checks' names
TAG_FAILED = "checks.failed"
TAG_INCONCLUSIVE = "checks.inconclusive"
TAG_PASSED = "checks.passed"
TAG_BLOCKING = "checks.blocking"
_MAX_TAG = 5000  # MLflow's limit on a tag value


@dataclass(frozen=True)
class CheckRecord:
    """One check of a run as recorded: its name, outcome and why.

    ``waived`` is True when the run's configuration accepted the check with ``waiver`` as its
    reason (only inconclusive checks can be waived by configuration); a waived check keeps
    its outcome and does not block.
    """

    name: str
    outcome: Outcome
    status: str
    detail: str = ""
    waived: bool = False
    waiver: str | None = None

    @property
    def blocks(self) -> bool:
        """True when the check stops a promotion: failed or inconclusive, and not waived."""
        return self.outcome is not Outcome.PASS and not self.waived

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome.value,
            "status": self.status,
            "blocks": self.blocks,
            "waived": self.waived,
            "waiver": self.waiver,
            "detail": self.detail,
        }


def records_of(decision: PromotionDecision) -> list[CheckRecord]:
    """Every gate of a decision as a record, failed first, then inconclusive, then passed."""
    return [
        CheckRecord(
            name=g.name,
            outcome=g.outcome,
            status=g.waived_from if g.status == "waived" and g.waived_from else g.status,
            detail=g.detail,
            waived=g.status == "waived",
            waiver=g.waiver,
        )
        for g in sort_checks(decision.gates)
    ]


def checks_document(decision: PromotionDecision) -> dict[str, Any]:
    """The ``checks/outcomes.json`` artifact of a run."""
    records = records_of(decision)
    counts = count_outcomes(records)
    return {
        "schema_version": SCHEMA_VERSION,
        "counts": {outcome.value: n for outcome, n in counts.items()},
        "blocking": [r.name for r in records if r.blocks],
        "checks": [r.to_dict() for r in records],
    }


def check_tags(decision: PromotionDecision) -> dict[str, str]:
    """Counts per outcome and the blocking checks' names, as MLflow tags."""
    records = records_of(decision)
    counts = count_outcomes(records)
    blocking = ",".join(r.name for r in records if r.blocks)
    if len(blocking) > _MAX_TAG:
        blocking = blocking[: _MAX_TAG - 40].rsplit(",", 1)[0] + f",... (see {CHECKS_ARTIFACT})"
    return {
        TAG_FAILED: str(counts[Outcome.FAIL]),
        TAG_INCONCLUSIVE: str(counts[Outcome.INCONCLUSIVE]),
        TAG_PASSED: str(counts[Outcome.PASS]),
        TAG_BLOCKING: blocking,
    }


def parse_checks(document: dict[str, Any]) -> list[CheckRecord]:
    """Records from a ``checks/outcomes.json`` document (raises naming a bad entry)."""
    out = []
    for entry in document.get("checks", []):
        try:
            outcome = Outcome(entry["outcome"])
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"{CHECKS_ARTIFACT}: check entry {entry!r} has no valid outcome"
            ) from exc
        out.append(
            CheckRecord(
                name=str(entry["name"]),
                outcome=outcome,
                status=str(entry.get("status", outcome.value)),
                detail=str(entry.get("detail", "")),
                waived=bool(entry.get("waived", False)),
                waiver=entry.get("waiver"),
            )
        )
    return out


def _legacy_checks(path: Path) -> list[CheckRecord]:
    """Records from the ``tables/gates.csv`` of a run logged before the outcomes artifact:
    its status column mapped to outcomes (a configured waiver only ever accepted an
    inconclusive status)."""
    import pandas as pd

    table = pd.read_csv(path, keep_default_na=False)
    out = []
    for row in table.to_dict("records"):
        status = str(row["status"])
        waived = status == "waived"
        original = str(row.get("waived_from") or "") or ("inconclusive" if waived else status)
        out.append(
            CheckRecord(
                name=str(row["name"]),
                outcome=outcome_of(original),
                status=original,
                detail=str(row.get("detail", "")),
                waived=waived,
                waiver=str(row.get("waiver") or "") or None,
            )
        )
    return sort_checks(out)


def read_checks(
    tracking_uri: str,
    *,
    model_name: str | None = None,
    version: str | int | None = None,
    run_id: str | None = None,
) -> list[CheckRecord]:
    """Every check of a registered version (``model_name`` and ``version``) or of a run.

    Raises ``LookupError`` naming the version or run when neither the outcomes artifact nor
    the legacy gates table is recorded (such a version cannot be judged, so it cannot be
    promoted either).
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if run_id is None:
        if model_name is None or version is None:
            raise ValueError("read_checks needs a run_id, or a model_name and a version")
        run_id = client.get_model_version(model_name, str(version)).run_id
        what = f"version {version} of {model_name} (run {run_id})"
    else:
        what = f"run {run_id}"
    if not run_id:
        raise LookupError(f"{what} has no training run: its checks are not recorded")
    with tempfile.TemporaryDirectory() as tmp:
        for artifact in (CHECKS_ARTIFACT, LEGACY_GATES_ARTIFACT):
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=artifact, dst_path=tmp, tracking_uri=tracking_uri
                )
            except (MlflowException, OSError):
                continue
            path = Path(local)
            if not path.is_file():
                continue
            if artifact == CHECKS_ARTIFACT:
                return parse_checks(json.loads(path.read_text(encoding="utf-8")))
            return _legacy_checks(path)
    raise LookupError(
        f"{what} records neither {CHECKS_ARTIFACT} nor {LEGACY_GATES_ARTIFACT}: its checks "
        "cannot be read"
    )


def blocking_checks(
    tracking_uri: str,
    *,
    model_name: str | None = None,
    version: str | int | None = None,
    run_id: str | None = None,
) -> list[CheckRecord]:
    """The checks that block promotion of a version (or a run): failed, then inconclusive.

    Each needs a named waiver before the version may become ``champion``; an empty list
    means nothing blocks. Arguments as :func:`read_checks`.
    """
    checks = read_checks(tracking_uri, model_name=model_name, version=version, run_id=run_id)
    return [c for c in checks if c.blocks]
