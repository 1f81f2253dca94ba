"""The governance facts of a registered model, read from and written to MLflow.

A thin adapter under :mod:`training.governance`'s rules, through one
:class:`training.tracking.TrackingStore` (never MLflow's process-wide URIs). Where each
fact lives:

- on a **model version** (tags): ``trained_by`` (set by training), ``waiver.<key>`` and
  ``approval.<token_id>`` (JSON), ``retired``; waivers and approvals are the version's own,
  so a new version starts with none;
- on the **registered model** (tags): ``decision.<seq>``, one JSON record per promotion,
  rollback and retirement, the source of ``earlyrisk model history``;
- in the version's **training run** (artifacts): ``governance/approval_record.json``, the
  whole record of the version, and the model card (``model_card/``) with its "Decisions"
  section, rewritten after every act.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.aliases import CHALLENGER, CHAMPION
from training.governance import (
    Approval,
    Check,
    Decision,
    GovernanceRefusal,
    VersionFacts,
    Waiver,
    outcome_of_gate,
    timeline,
)
from training.tracking import TrackingStore

TAG_TRAINED_BY = "trained_by"
TAG_RETIRED = "retired"
WAIVER_PREFIX = "waiver."
APPROVAL_PREFIX = "approval."
DECISION_PREFIX = "decision."
RECORD_ARTIFACT = "governance/approval_record.json"
CARD_DIR = "model_card"
# the run tag MLflow sets to the OS user who ran training (mlflow.start_run's context)
MLFLOW_USER_TAG = "mlflow.user"


def trained_by() -> str:
    """Who is training now: ``EARLYRISK_TRAINED_BY`` (the name on their approver-style
    token, so the two-person rule can compare), else the operating-system user."""
    import getpass
    import os

    return os.environ.get("EARLYRISK_TRAINED_BY", "").strip() or getpass.getuser()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _millis(ms: int | None) -> datetime:
    return datetime.fromtimestamp((ms or 0) / 1000, tz=UTC)


def waiver_key(check: str) -> str:
    """A tag key for a check's waiver (check names hold characters tag keys refuse)."""
    return WAIVER_PREFIX + hashlib.sha256(check.encode("utf-8")).hexdigest()[:16]


def checks_from_metrics(metrics: dict[str, float]) -> tuple[Check, ...]:
    """The checks a training run recorded, one per ``gate.<name>.passed`` metric.

    The one reader of how training records a check's outcome (see
    :func:`training.governance.outcome_of_gate`); the check's name is ``<name>``.
    """
    out = []
    for key, value in sorted(metrics.items()):
        if key.startswith("gate.") and key.endswith(".passed"):
            name = key[len("gate.") : -len(".passed")]
            out.append(Check(name, outcome_of_gate(value), metrics.get(f"gate.{name}.value")))
    return tuple(out)


class GovernanceStore:
    """The governance facts of registered model ``name`` in one MLflow store."""

    def __init__(
        self,
        store: TrackingStore,
        name: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.client = store.client
        self.name = name
        self.clock = clock

    # ---- reading
    def versions(self) -> list[str]:
        """Every version of the model, oldest first."""
        found = self.client.search_model_versions(f"name = '{self.name}'")
        return sorted((str(v.version) for v in found), key=int)

    def champion(self) -> str | None:
        """The version the ``champion`` alias names, or None."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.name, CHAMPION).version)
        except MlflowException:
            return None

    def facts(self, version: str) -> VersionFacts:
        """What the rules need of one version (GovernanceRefusal when it does not exist)."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(self.name, str(version))
        except MlflowException:
            known = ", ".join(self.versions()) or "none"
            raise GovernanceRefusal(
                f"model {self.name} has no version {version!r} (versions: {known})"
            ) from None
        tags = dict(mv.tags)
        metrics: dict[str, float] = {}
        trained_by = tags.get(TAG_TRAINED_BY, "")
        if mv.run_id:
            run = self.client.get_run(mv.run_id)
            metrics = dict(run.data.metrics)
            trained_by = trained_by or run.data.tags.get(MLFLOW_USER_TAG, "")
        waivers = {}
        approvals = {}
        for key, value in tags.items():
            if key.startswith(WAIVER_PREFIX):
                w = json.loads(value)
                waivers[w["check"]] = Waiver(
                    w["check"], w["reason"], w["person"], w["token_id"], _at(w["at"])
                )
            elif key.startswith(APPROVAL_PREFIX):
                a = json.loads(value)
                approvals[a["token_id"]] = Approval(
                    a["person"], a["token_id"], a["role"], _at(a["at"]), frozenset(a["waived"])
                )
        return VersionFacts(
            version=str(mv.version),
            trained_by=trained_by or "unknown",
            created_at=_millis(mv.creation_timestamp),
            checks=self._checks(mv.run_id, metrics),
            waivers=waivers,
            approvals=approvals,
            retired=TAG_RETIRED in tags,
            gates_passed=tags.get("gates") == "passed",
        )

    def _checks(self, run_id: str | None, metrics: dict[str, float]) -> tuple[Check, ...]:
        """The version's checks with their three outcomes, as training recorded them
        (:func:`training.check_record.read_checks`: pass, fail, inconclusive, a check its
        config waived keeping its outcome, since only a named person's waiver counts here);
        a run from before that record is read from its ``gate.*.passed`` metrics."""
        from training.check_record import read_checks

        if run_id:
            try:
                records = read_checks(self.store.uri, run_id=run_id)
            except LookupError:
                return checks_from_metrics(metrics)
            return tuple(Check(r.name, r.outcome.value) for r in records)
        return checks_from_metrics(metrics)

    def decisions(self) -> list[Decision]:
        """Every recorded promotion, rollback and retirement, in order."""
        model = self.client.get_registered_model(self.name)
        rows = sorted((k, v) for k, v in model.tags.items() if k.startswith(DECISION_PREFIX))
        out = []
        for _, value in rows:
            d = json.loads(value)
            out.append(
                Decision(
                    d["action"], d["version"], _at(d["at"]), d["person"], d["previous"], d["detail"]
                )
            )
        return out

    def changes(self) -> list[tuple[datetime, str | None]]:
        """The champion's timeline (see :func:`training.governance.timeline`)."""
        decisions = self.decisions()
        # a version first named as the champion a decision replaced was made champion
        # outside the decisions (by hand): it counts from its creation
        before: set[str] = set()
        decided: set[str] = set()
        for d in decisions:
            if d.previous and d.previous not in decided:
                before.add(d.previous)
            if d.action in ("promote", "rollback"):
                decided.add(d.version)
        # a version whose gates all passed was made champion by training at its creation
        known = [
            dataclasses.replace(f, gates_passed=True)
            for f in (self.facts(v) for v in self.versions())
            if f.gates_passed or f.version in before
        ]
        return timeline(known, decisions)

    # ---- writing
    def add_waiver(self, version: str, waiver: Waiver) -> None:
        self._version_tag(
            version,
            waiver_key(waiver.check),
            {
                "check": waiver.check,
                "reason": waiver.reason,
                "person": waiver.person,
                "token_id": waiver.token_id,
                "at": waiver.at.isoformat(),
            },
        )

    def add_approval(self, version: str, approval: Approval) -> None:
        self._version_tag(
            version,
            APPROVAL_PREFIX + approval.token_id,
            {
                "person": approval.person,
                "token_id": approval.token_id,
                "role": approval.role,
                "at": approval.at.isoformat(),
                "waived": sorted(approval.waived),
            },
        )

    def move_champion(self, version: str) -> None:
        """Point ``champion`` at version (and drop its ``challenger`` alias)."""
        self.store.set_alias(self.name, version, CHAMPION)
        mv = self.client.get_model_version(self.name, version)
        if CHALLENGER in (mv.aliases or []):
            self.client.delete_registered_model_alias(self.name, CHALLENGER)

    def mark_retired(self, version: str, decision: Decision) -> None:
        self._version_tag(
            version, TAG_RETIRED, {"at": decision.at.isoformat(), "by": decision.person}
        )
        mv = self.client.get_model_version(self.name, version)
        if CHALLENGER in (mv.aliases or []):
            self.client.delete_registered_model_alias(self.name, CHALLENGER)

    def add_decision(self, decision: Decision) -> None:
        seq = len(self.decisions()) + 1
        self.client.set_registered_model_tag(
            self.name,
            f"{DECISION_PREFIX}{seq:05d}",
            json.dumps(
                {
                    "action": decision.action,
                    "version": decision.version,
                    "at": decision.at.isoformat(),
                    "person": decision.person,
                    "previous": decision.previous,
                    "detail": decision.detail,
                },
                sort_keys=True,
            ),
        )

    def _version_tag(self, version: str, key: str, value: dict[str, Any]) -> None:
        self.client.set_model_version_tag(
            self.name, str(version), key, json.dumps(value, sort_keys=True)
        )

    # ---- the record, in the run and its model card
    def record(self, version: str) -> dict[str, Any]:
        """The version's whole governance record (what the card and the artifact show)."""
        facts = self.facts(version)
        decisions = [d for d in self.decisions() if version in (d.version, d.previous)]
        return {
            "model_name": self.name,
            "version": facts.version,
            "trained_by": facts.trained_by,
            "blocking_checks": [
                {"check": c.name, "outcome": c.outcome} for c in facts.checks if c.outcome != "pass"
            ],
            "waivers": [
                {"check": w.check, "reason": w.reason, "by": w.person, "at": w.at.isoformat()}
                for w in sorted(facts.waivers.values(), key=lambda w: w.check)
            ],
            "approvals": [
                {"by": a.person, "role": a.role, "token_id": a.token_id, "at": a.at.isoformat()}
                for a in sorted(facts.approvals.values(), key=lambda a: a.at)
            ],
            "decisions": [
                {
                    "action": d.action,
                    "version": d.version,
                    "previous": d.previous,
                    "by": d.person,
                    "at": d.at.isoformat(),
                    "detail": d.detail,
                }
                for d in decisions
            ],
            "retired": facts.retired,
        }

    def publish(self, version: str) -> dict[str, Any]:
        """Write the record into the version's run: the artifact and the model card."""
        from training.model_card import with_decisions

        record = self.record(version)
        mv = self.client.get_model_version(self.name, version)
        if not mv.run_id:
            return record
        run_id = str(mv.run_id)
        self.client.log_dict(run_id, record, RECORD_ARTIFACT)
        with tempfile.TemporaryDirectory() as tmp:
            card_json, card_md = self._card_files(run_id, Path(tmp))
            card: dict[str, Any] = json.loads(card_json) if card_json else {}
            markdown, document = with_decisions(card_md, card, record)
            out = Path(tmp) / "out"
            out.mkdir()
            (out / "model_card.json").write_text(
                json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            (out / "model_card.md").write_text(markdown, encoding="utf-8")
            self.client.log_artifacts(run_id, str(out), artifact_path=CARD_DIR)
        return record

    def _card_files(self, run_id: str, tmp: Path) -> tuple[str, str]:
        """The run's model card (JSON text, markdown text); empty when it has none."""
        from mlflow.artifacts import download_artifacts
        from mlflow.exceptions import MlflowException

        texts = []
        for name in ("model_card.json", "model_card.md"):
            try:
                path = download_artifacts(
                    run_id=run_id,
                    artifact_path=f"{CARD_DIR}/{name}",
                    dst_path=str(tmp),
                    tracking_uri=self.store.uri,
                )
                texts.append(Path(path).read_text(encoding="utf-8"))
            except (MlflowException, OSError):
                texts.append("")
        return texts[0], texts[1]
