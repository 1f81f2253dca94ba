"""The monitoring report's deployment section on a real audit log: who was served, the
hold-out, the decision audit and the design's balance and power (the balance alarm fires
on arms that were steered)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.monitor.config import MonitorConfig
from serving.monitor.deployment import deployment_checks, deployment_section
from serving.rollout import RolloutConfig, assign, score_detail
from serving.store.audit_log import FeedbackRecord, ScoreRecord, open_audit_log

N = 1200
ROLLOUT = RolloutConfig.model_validate(
    {"cycle": "2025-Q1", "seed": 11, "regions": {"North": {"holdout_share": 0.5}}}
)
CONFIG = MonitorConfig(min_group_size=11)


def _families(*, steer: bool = False, labels: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    ids = [f"F{i:05d}" for i in range(N)]
    region = np.where(np.arange(N) % 2 == 0, "North", "South")
    frame = pd.DataFrame(
        {
            "family_id": ids,
            "debt": rng.gamma(2.0, 1.0, N),
            "absences": rng.poisson(3.0, N).astype(float),
            "audit_region": region,
            "audit_settlement": np.where(np.arange(N) % 3 == 0, "rural", "urban"),
        }
    )
    if steer:  # the "hold-out" families are the indebted ones: not a random draw
        held = np.array([assign(ROLLOUT, f, r).withheld for f, r in zip(ids, region, strict=True)])
        frame.loc[held, "debt"] += 2.0
    if labels:
        frame["label"] = (rng.random(N) < 0.1).astype(int)
        frame["label_observed"] = True
    return frame


def _log(path: Path, frame: pd.DataFrame, probability: np.ndarray) -> dict[str, str]:
    """Seal the rollout, score the first 600 families, record decisions on 400 of them."""
    log = open_audit_log(path, new_log=True)
    log.record_rollout(
        config_json=ROLLOUT.canonical_json(), config_sha256=ROLLOUT.sha256(), cycle="2025-Q1"
    )
    levels = np.where(probability >= np.quantile(probability, 0.9), "high", "low")
    decided: dict[str, str] = {}
    scores = []
    for i in range(600):
        fid, region = frame.at[i, "family_id"], frame.at[i, "audit_region"]
        scores.append(
            ScoreRecord(
                score_id=uuid.uuid4().hex,
                request_id="r",
                token_id="t",
                role="caseworker",
                endpoint="score",
                family_id=fid,
                as_of="2024-12-31",
                model_version="1",
                probability=float(probability[i]),
                risk_level=str(levels[i]),
                reasons=[],
                detail=score_detail(assign(ROLLOUT, fid, region), ROLLOUT),
            )
        )
    log.record_scores(scores)
    for i, score in enumerate(scores[:400]):
        # agree on every other decision; override the rest (higher on low, lower on high)
        if i % 2 == 0:
            decision = "support_offered" if score.risk_level == "high" else "no_action"
        else:
            decision = "override_lower" if score.risk_level == "high" else "override_higher"
        decided[score.family_id or ""] = decision
        log.record_feedback(
            FeedbackRecord(score.score_id, "r", "t", "caseworker", score.family_id, decision, "x")
        )
    log.close()
    return decided


def _section(tmp_path: Path, frame: pd.DataFrame) -> tuple[dict, dict[str, str]]:
    probability = np.clip(0.02 + 0.05 * frame["debt"].to_numpy() / 2, 0, 1)
    decided = _log(tmp_path / "audit.sqlite", frame, probability)
    section = deployment_section(
        tmp_path / "audit.sqlite",
        after="2024-12-30",
        until="2024-12-31",
        current=frame,
        probability=probability,
        covariates=["debt", "absences"],
        capacity_k=lambda n: max(1, round(0.05 * n)),
        calibrate=None,
        config=CONFIG,
    )
    return section, decided


def test_who_was_served_the_holdout_and_the_decision_audit(tmp_path: Path) -> None:
    frame = _families()
    section, decided = _section(tmp_path, frame)
    served = {f for f, d in decided.items() if d in ("support_offered", "override_higher")}
    assert section["n_scored"] == 600 and section["n_served"] == len(served)
    assert section["not_served"]["n_rows"] == N - len(served)
    held = [
        f
        for f, r in zip(frame["family_id"][:600], frame["audit_region"][:600], strict=True)
        if assign(ROLLOUT, f, r).withheld
    ]
    assert section["holdout"]["n_rows"] == len(held) > 100
    assert section["holdout"]["realized"] is not None  # labels are in
    d = section["decisions"]
    shown = [f for f in decided if f not in set(held)]
    assert d["n_decisions"] == 400 and d["n_decisions_holdout"] == 400 - len(shown)
    agree = sum(decided[f] in ("support_offered", "no_action") for f in shown)
    assert d["agreement_with_level"]["value"] == pytest.approx(agree / len(shown))
    assert d["override_rate"]["value"] == pytest.approx(1 - agree / len(shown))
    north = next(
        g for g in d["by_group"] if g["attribute"] == "audit_region" and g["group"] == "North"
    )
    north_ids = set(frame.loc[frame["audit_region"] == "North", "family_id"])
    assert north["support_rate_with_caseworker"]["value"] == pytest.approx(
        len(served & north_ids) / len(north_ids)
    )
    rate = north["support_rate_with_caseworker"]
    assert rate["low"] < rate["value"] < rate["high"]
    design = section["design"]
    assert design["balance"]["status"] == "pass"
    assert design["power"]["needed_per_arm"] > 0 and "achieved_power" in design["power"]
    assert next(c["status"] for c in deployment_checks(section)) == "pass"
    from serving.monitor.deployment_html import with_deployment

    page = with_deployment("<html><body><p>x</p></body></html>", section)
    assert "Decision audit" in page and page.endswith("</body></html>")


def test_balance_alarm_fires_on_steered_arms(tmp_path: Path) -> None:
    section, _ = _section(tmp_path, _families(steer=True))
    assert section["design"]["balance"]["status"] == "fail"
    checks = {c["check"]: c for c in deployment_checks(section)}
    assert checks["holdout_balance"]["status"] == "alert"
    assert "debt" in checks["holdout_balance"]["evidence"]


def test_without_labels_the_holdout_has_only_the_estimate(tmp_path: Path) -> None:
    section, _ = _section(tmp_path, _families(labels=False))
    assert section["holdout"]["status"] == "evaluated"
    assert section["holdout"]["realized"] is None
    assert section["holdout"]["estimated"]["roc_auc"]["value"] is not None
