"""The monitoring report's ``deployment`` section: monitoring that knows who was served.

Once caseworkers act on the scores, the families they support are no longer the families
the model was trained and calibrated on: support lowers their risk, so the label-free
estimate (which trusts the calibrated probability) and any realized figure on them mix
the model's quality with the support's effect. This section keeps them apart:

* **who was served**: a family is served when its latest recorded decision offers support
  (``support_offered`` or ``override_higher``, the ``feedback`` entries of the audit log);
* **the label-free estimate on the families not served** and **on the display hold-out**
  (families whose caseworker did not see the level; :mod:`serving.rollout`), and realized
  performance on the hold-out when its labels are in: the hold-out is the one arm whose
  outcomes the score did not change;
* **a decision audit**: caseworkers' agreement with the level (support on ``high``, no
  action below), override rates, and per audit group the selection rate of the algorithm
  alone (the capacity's top) beside that of the algorithm plus the caseworker (the
  decisions), and the support rate of each among the group's eligible families, with
  Wilson intervals; the hold-out arm's selection rate is the caseworker alone;
* **the design**: the balance of the arms (standardized differences of the model inputs
  between hold-out and shown families of the hold-out regions; an alarm beyond 0.1) and
  the power the arms give for the effect the sealed rollout config states.

Read from the audit log (read-only, a SQLite file or PostgreSQL:
:mod:`serving.monitor.audit_source`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from serving.monitor.audit_source import AuditSource, exists, read_frame, read_rows
from serving.monitor.config import MonitorConfig
from serving.monitor.decisions import SELECTING
from serving.rollout import RolloutConfig, assign, balance_check, power_calculation, sealed_configs
from training.performance_estimate import (
    as_dicts,
    estimate_performance,
    realized_performance,
    wilson_interval,
)

_SCORES = """
SELECT seq, score_id, family_id, as_of, probability, risk_level, detail
FROM audit_entries WHERE kind = 'score' AND family_id IS NOT NULL AND as_of > ? AND as_of <= ?
"""
_DECISIONS = """
SELECT f.seq, f.family_id, f.decision, s.risk_level, s.detail
FROM audit_entries AS f
JOIN audit_entries AS s ON s.kind = 'score' AND s.score_id = f.score_id
WHERE f.kind = 'feedback' AND s.as_of > ? AND s.as_of <= ?
"""
_ROLLOUTS = "SELECT seq, kind, detail FROM audit_entries WHERE kind = 'rollout' ORDER BY seq"


def _arm(detail: str | None) -> str | None:
    if not detail:
        return None
    return json.loads(detail).get("arm")


def read_deployment(
    path: AuditSource, *, after: str, until: str
) -> tuple[pd.DataFrame, pd.DataFrame, RolloutConfig | None]:
    """The latest score per family (with its arm), the latest decision per family (with
    the level it answered and the arm), and the latest sealed rollout config."""
    scores = read_frame(path, _SCORES, (after, until))
    decisions = read_frame(path, _DECISIONS, (after, until))
    rollouts = read_rows(path, _ROLLOUTS)
    scores["arm"] = [_arm(d) for d in scores["detail"]]
    decisions["arm"] = [_arm(d) for d in decisions["detail"]]
    scores = scores.sort_values("seq").drop_duplicates("family_id", keep="last")
    decisions = decisions.sort_values("seq").drop_duplicates("family_id", keep="last")
    configs = sealed_configs(
        {"kind": kind, "seq": seq, "detail": detail} for seq, kind, detail in rollouts
    )
    config = list(configs.values())[-1] if configs else None
    return (
        scores.drop(columns="detail").reset_index(drop=True),
        decisions.drop(columns="detail").reset_index(drop=True),
        config,
    )


def _z(config: MonitorConfig) -> float:
    return float(norm.ppf(0.5 + config.confidence_level / 2))


def _rate(successes: int, n: int, config: MonitorConfig) -> dict[str, float | None]:
    return wilson_interval(float(successes), float(n), _z(config)).as_dict()


def _performance(
    frame: pd.DataFrame,
    probability: np.ndarray,
    *,
    capacity_k: Callable[[int], int],
    calibrate: Callable[[np.ndarray], np.ndarray] | None,
    config: MonitorConfig,
    what: str,
) -> dict[str, Any]:
    """Label-free (and, labels in, realized) performance of a subset, or why not."""
    n = len(frame)
    if n < config.min_group_size:
        return {"n_rows": n, "status": "insufficient_evidence", "note": f"{n} {what}"}
    k = capacity_k(n)
    trusted = calibrate(probability) if calibrate is not None else probability
    out: dict[str, Any] = {
        "n_rows": n,
        "capacity_k": k,
        "status": "evaluated",
        "estimated": as_dicts(
            estimate_performance(
                trusted, probability, k=k, confidence_level=config.confidence_level
            )
        ),
        "realized": None,
    }
    closed = (
        "label" in frame.columns
        and "label_observed" in frame.columns
        and bool(frame["label_observed"].astype(bool).all())
        and bool(frame["label"].notna().all())
    )
    if closed:
        y = frame["label"].to_numpy().astype(int)
        out["realized"] = as_dicts(
            realized_performance(y, probability, k=k, confidence_level=config.confidence_level)
        )
    return out


def decision_audit(
    decisions: pd.DataFrame,
    current: pd.DataFrame,
    algorithm_selected: np.ndarray,
    *,
    config: MonitorConfig,
) -> dict[str, Any]:
    """Agreement with the level, overrides, and selection / support rates by group."""
    n = len(decisions)
    selecting = decisions["decision"].isin(SELECTING).to_numpy()
    high = (decisions["risk_level"] == "high").to_numpy()
    shown = (decisions["arm"] != "holdout").to_numpy()
    agree = np.where(
        high, decisions["decision"] == "support_offered", decisions["decision"] == "no_action"
    )
    overrides = decisions["decision"].str.startswith("override_").to_numpy()
    out: dict[str, Any] = {
        "n_decisions": n,
        "n_decisions_holdout": int((~shown).sum()),
        # agreement is only defined where the caseworker saw the level
        "agreement_with_level": _rate(int((agree & shown).sum()), int(shown.sum()), config),
        "override_rate": _rate(int((overrides & shown).sum()), int(shown.sum()), config),
        "override_higher_rate": _rate(
            int(((decisions["decision"] == "override_higher").to_numpy() & shown).sum()),
            int(shown.sum()),
            config,
        ),
        "override_lower_rate": _rate(
            int(((decisions["decision"] == "override_lower").to_numpy() & shown).sum()),
            int(shown.sum()),
            config,
        ),
        "selection_rate_shown": _rate(int((selecting & shown).sum()), int(shown.sum()), config),
        "selection_rate_holdout": _rate(
            int((selecting & ~shown).sum()), int((~shown).sum()), config
        ),
        "by_group": [],
    }
    groups = [c for c in current.columns if c.startswith("audit_")]
    population = current[["family_id", *groups]].assign(_algorithm=algorithm_selected)
    decided = decisions.assign(_selected=selecting).merge(population, on="family_id", how="inner")
    supported = set(decided.loc[decided["_selected"], "family_id"])
    population["_supported"] = population["family_id"].isin(supported)
    for column in groups:
        pop_group = population[column].astype("string").fillna("(missing)")
        dec_group = decided[column].astype("string").fillna("(missing)")
        for group in sorted(pop_group.unique()):
            pop = population.loc[pop_group == group]
            dec = decided.loc[dec_group == group]
            entry: dict[str, Any] = {"attribute": column, "group": str(group)}
            if len(dec) < config.min_group_size:
                out["by_group"].append({**entry, "suppressed": True, "n_decisions": None})
                continue
            m, size = len(dec), len(pop)
            out["by_group"].append(
                {
                    **entry,
                    "suppressed": False,
                    "n_decisions": m,
                    "n_families": size,
                    # among the decided families: what the level alone selects vs the decision
                    "selection_rate_algorithm": _rate(int(dec["_algorithm"].sum()), m, config),
                    "selection_rate_with_caseworker": _rate(int(dec["_selected"].sum()), m, config),
                    # among all eligible families of the group: who gets support
                    "support_rate_algorithm": _rate(int(pop["_algorithm"].sum()), size, config),
                    "support_rate_with_caseworker": _rate(
                        int(pop["_supported"].sum()), size, config
                    ),
                }
            )
    kept = [r for r in out["by_group"] if not r["suppressed"]]
    for kind in ("algorithm", "with_caseworker"):
        rates = [r[f"support_rate_{kind}"]["value"] for r in kept]
        rates = [r for r in rates if r is not None]
        out[f"support_rate_min_max_ratio_{kind}"] = (
            min(rates) / max(rates) if rates and max(rates) > 0 else None
        )
    return out


def design_section(
    rollout: RolloutConfig | None,
    current: pd.DataFrame,
    covariates: list[str],
) -> dict[str, Any]:
    """Balance of the arms and the power of the design, on the eligible families of the
    regions with a hold-out (their arms recomputed from the sealed config)."""
    if rollout is None:
        return {"available": False, "note": "no rollout sealed in the audit log"}
    region = (
        current["audit_region"]
        if "audit_region" in current.columns
        else pd.Series([None] * len(current))
    )
    arms = np.array(
        [
            assign(rollout, str(fid), None if pd.isna(r) else str(r)).arm
            for fid, r in zip(current["family_id"], region, strict=True)
        ]
    )
    shares = np.array([rollout.stage(None if pd.isna(r) else str(r)).holdout_share for r in region])
    scope = current.loc[shares > 0]
    scope_arms = arms[shares > 0]
    held = scope_arms == "holdout"
    balance = balance_check(
        {
            c: (
                scope.loc[held, c].astype(float).tolist(),
                scope.loc[~held, c].astype(float).tolist(),
            )
            for c in covariates
        }
    )
    return {
        "available": True,
        "cycle": rollout.cycle,
        "config_sha256": rollout.sha256(),
        "balance": balance,
        "power": power_calculation(
            rollout.power, n_holdout=int(held.sum()), n_shown=int((~held).sum())
        ),
    }


def deployment_section(
    path: AuditSource | None,
    *,
    after: str,
    until: str,
    current: pd.DataFrame,
    probability: np.ndarray,
    covariates: list[str],
    capacity_k: Callable[[int], int],
    calibrate: Callable[[np.ndarray], np.ndarray] | None,
    config: MonitorConfig,
) -> dict[str, Any]:
    """The report's ``deployment`` section (see the module doc); unavailable without a log."""
    if path is None or not exists(path):
        return {"available": False, "note": f"no audit log at {path}: who was served is unknown"}
    scores, decisions, rollout = read_deployment(path, after=after, until=until)
    k = capacity_k(len(current))
    algorithm = np.zeros(len(current), dtype=bool)
    algorithm[np.argsort(-probability, kind="stable")[:k]] = True
    served = set(decisions.loc[decisions["decision"].isin(SELECTING), "family_id"])
    is_served = current["family_id"].isin(served).to_numpy()
    held_ids = set(scores.loc[scores["arm"] == "holdout", "family_id"])
    is_held = current["family_id"].isin(held_ids).to_numpy()
    common: dict[str, Any] = {"capacity_k": capacity_k, "calibrate": calibrate, "config": config}
    return {
        "available": True,
        "n_families": len(current),
        "n_scored": int(current["family_id"].isin(set(scores["family_id"])).sum()),
        "n_served": int(is_served.sum()),
        "not_served": _performance(
            current.loc[~is_served], probability[~is_served], what="families not served", **common
        ),
        "holdout": _performance(
            current.loc[is_held], probability[is_held], what="hold-out families", **common
        ),
        "decisions": decision_audit(decisions, current, algorithm, config=config),
        "design": design_section(rollout, current, covariates),
    }


def deployment_checks(section: dict[str, Any]) -> list[dict[str, str]]:
    """The design's checks for the report: the balance alarm and the power."""
    design = section.get("design") or {}
    if not section.get("available") or not design.get("available"):
        return []
    balance = design["balance"]
    worst = max(
        (r for r in balance["covariates"] if r["standardized_difference"] is not None),
        key=lambda r: abs(r["standardized_difference"]),
        default=None,
    )
    evidence = (
        f"largest standardized difference {worst['standardized_difference']:.3f} "
        f"({worst['covariate']}) between {balance['n_holdout']} hold-out and "
        f"{balance['n_shown']} shown families (alarm above {balance['threshold']})"
        if worst
        else "no covariate to compare"
    )
    status = {"fail": "alert", "pass": "pass"}.get(balance["status"], "not_evaluable")
    power = design["power"]
    return [
        {
            "check": "holdout_balance",
            "subject": "hold-out arms",
            "status": status,
            "evidence": evidence,
        },
        {
            "check": "holdout_power",
            "subject": "hold-out arms",
            "status": "pass" if power.get("status") == "pass" else "not_evaluable",
            "evidence": f"power {power.get('achieved_power', float('nan')):.2f} to detect a "
            f"{power['relative_reduction']:.0%} fall from {power['baseline_rate']:.1%} "
            f"(needs {power['needed_per_arm']} per arm for {power['target_power']:.0%})",
        },
    ]
