"""A staged rollout and the display hold-out: which version serves a family, and whether
its caseworker sees the level, as a pure function of the sealed config.

The one randomized design this field has (Grimon and Mills: the risk score shown or
hidden at random per referral) needs an assignment that nobody can steer after seeing the
scores. So the assignment is not stored per family and not drawn at request time: it is a
seeded hash of the family id and the cycle (:func:`assign`), fixed by a config whose
SHA-256 is sealed in the audit log (a ``rollout`` entry) before the first score of the
cycle. Anyone holding the log can recompute every family's arm from the sealed config and
compare it with the arm each score entry records (:func:`replay`); a config changed within
a cycle is refused at start (:func:`seal`), because re-drawing the arms after seeing
outcomes would break the randomization.

The hold-out arm hides the level from the caseworker, never the service: the family stays
on the caseworker's usual path (no programme is withheld), the score is computed and
logged for the evaluation, and the response says the level is withheld for evaluation.

Only pure functions and a pydantic config live here; the audit-log entry is written by the
caller through :meth:`AuditLogBase.record_rollout`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.errors import EarlyriskError

Arm = Literal["shown", "holdout"]
#: the arm names as the audit log's score entries record them
ARMS: tuple[Arm, ...] = ("shown", "holdout")
#: what a region not named in the config gets: the champion, every level shown
DEFAULT_REGION = "*"


class RolloutError(EarlyriskError, ValueError):
    """A rollout config that cannot be used, or a cycle whose sealed assignment differs."""


class RegionRollout(BaseModel):
    """One region's stage: the version serving it and the share whose level is hidden."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str | None = Field(
        default=None,
        description="The registered version serving this region's families (null: the "
        "champion the service loaded).",
    )
    holdout_share: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="Share of the region's families whose caseworker does not see the level "
        "this cycle (at most half: the hold-out is an evaluation, not the service).",
    )


class PowerTarget(BaseModel):
    """The effect the hold-out is meant to detect, for the power calculation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseline_rate: float = Field(
        default=0.10, gt=0.0, lt=1.0, description="Outcome rate in the hold-out arm."
    )
    relative_reduction: float = Field(
        default=0.21,
        gt=0.0,
        lt=1.0,
        description="Relative fall of the outcome rate when the level is shown (0.21: "
        "Grimon and Mills' fall in child injury admissions).",
    )
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    power: float = Field(default=0.80, gt=0.5, lt=1.0)


class RolloutConfig(BaseModel):
    """A cycle's rollout (YAML): the seed, the cycle, each region's stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cycle: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="The assignment period (e.g. 2025-Q1): a new cycle re-draws the arms.",
    )
    seed: int = Field(ge=0, description="Seed of the assignment hash.")
    regions: dict[str, RegionRollout] = Field(
        default_factory=dict,
        description=f"Stage per audit_region; {DEFAULT_REGION!r} is every region not named.",
    )
    power: PowerTarget = Field(default_factory=PowerTarget)

    def stage(self, region: str | None) -> RegionRollout:
        """The stage of a region (the default stage for one not named, or unknown)."""
        if region is not None and region in self.regions:
            return self.regions[region]
        return self.regions.get(DEFAULT_REGION, RegionRollout())

    def versions(self) -> set[str]:
        """Every version the config names (the champion is implied by null)."""
        return {s.version for s in self.regions.values() if s.version is not None}

    def canonical_json(self) -> str:
        """The config as sorted, compact JSON: what is hashed and sealed."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        """The config's fingerprint (sealed in the audit log's ``rollout`` entry)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def load_rollout_config(path: Path | str) -> RolloutConfig:
    """The rollout config in a YAML file, or RolloutError naming the file and the field."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RolloutError(f"cannot read the rollout config {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise RolloutError(f"rollout config {path}: expected a mapping, got {type(doc).__name__}")
    try:
        return RolloutConfig.model_validate(doc)
    except ValidationError as exc:
        raise RolloutError(f"rollout config {path} is invalid:\n{exc}") from exc


@dataclass(frozen=True)
class Assignment:
    """One family's stage in one cycle."""

    family_id: str
    region: str | None
    version: str | None
    arm: Arm
    draw: float

    @property
    def withheld(self) -> bool:
        return self.arm == "holdout"


def draw(seed: int, cycle: str, family_id: str) -> float:
    """A uniform number in [0, 1) fixed by the seed, the cycle and the family id.

    SHA-256 of ``seed:cycle:family_id``, its first 8 bytes over 2**64: stable across
    processes, machines and Python versions (unlike ``hash``), and unrelated to anything a
    caseworker or the model sees.
    """
    digest = hashlib.sha256(f"{seed}:{cycle}:{family_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(config: RolloutConfig, family_id: str, region: str | None) -> Assignment:
    """The family's version and arm in the config's cycle (a pure function)."""
    stage = config.stage(region)
    u = draw(config.seed, config.cycle, family_id)
    arm: Arm = "holdout" if u < stage.holdout_share else "shown"
    return Assignment(family_id, region, stage.version, arm, u)


def assign_all(
    config: RolloutConfig, families: Iterable[tuple[str, str | None]]
) -> list[Assignment]:
    """:func:`assign` of each ``(family_id, region)``."""
    return [assign(config, fid, region) for fid, region in families]


# --------------------------------------------------------------------------- sealing


def rollout_entry_id(config: RolloutConfig) -> str:
    """The ``score_id`` of the audit entry that seals a config (unique per cycle and hash)."""
    return f"rollout:{config.cycle}:{config.sha256()}"


def sealed_configs(entries: Iterable[Mapping[str, Any]]) -> dict[str, RolloutConfig]:
    """The configs sealed in ``rollout`` entries, by hash (a tampered one is refused)."""
    out: dict[str, RolloutConfig] = {}
    for entry in entries:
        if entry.get("kind") != "rollout":
            continue
        detail = entry.get("detail") or {}
        if isinstance(detail, str):
            detail = json.loads(detail)
        config = RolloutConfig.model_validate(detail["config"])
        if config.sha256() != detail.get("config_sha256"):
            raise RolloutError(
                f"audit entry {entry.get('seq')}: the sealed config hashes to "
                f"{config.sha256()}, the entry says {detail.get('config_sha256')}"
            )
        out[config.sha256()] = config
    return out


def seal_problem(config: RolloutConfig, sealed: Mapping[str, RolloutConfig]) -> str | None:
    """Why the config must not be served, given the configs already sealed (None: fine).

    A cycle is sealed once: another config for a cycle already sealed would re-draw the
    arms (or move regions) in the middle of an evaluation.
    """
    for digest, other in sealed.items():
        if other.cycle == config.cycle and digest != config.sha256():
            return (
                f"cycle {config.cycle!r} is already sealed in the audit log with config "
                f"{digest[:12]}…; this config ({config.sha256()[:12]}…) differs. Start a new "
                "cycle (a new `cycle:` name) to change the rollout"
            )
    return None


def score_detail(assignment: Assignment, config: RolloutConfig) -> dict[str, Any]:
    """What a score entry records of its assignment (replayed by :func:`replay`)."""
    return {
        "rollout": config.sha256(),
        "cycle": config.cycle,
        "region": assignment.region,
        "arm": assignment.arm,
    }


@dataclass(frozen=True)
class ReplayReport:
    """Scores whose recorded arm the sealed config reproduces, and those it does not."""

    checked: int
    mismatches: list[dict[str, Any]]
    unsealed: list[int]

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.unsealed


def replay(entries: Sequence[Mapping[str, Any]]) -> ReplayReport:
    """Recompute every logged score's arm from the config sealed before it.

    ``entries`` are audit-log entries (``/audit_log`` pages or ``AuditLog.page``), oldest
    first. A score entry that names a config not sealed *earlier* in the log is listed in
    ``unsealed``; one whose arm or version the config does not reproduce in ``mismatches``.
    """
    sealed: dict[str, RolloutConfig] = {}
    mismatches: list[dict[str, Any]] = []
    unsealed: list[int] = []
    checked = 0
    for entry in entries:
        if entry.get("kind") == "rollout":
            sealed.update(sealed_configs([entry]))
            continue
        if entry.get("kind") != "score":
            continue
        detail = entry.get("detail") or {}
        if isinstance(detail, str):
            detail = json.loads(detail)
        if "rollout" not in detail:
            continue
        config = sealed.get(detail["rollout"])
        if config is None:
            unsealed.append(int(entry["seq"]))
            continue
        checked += 1
        expected = assign(config, str(entry["family_id"]), detail.get("region"))
        if expected.arm != detail.get("arm"):
            mismatches.append(
                {"seq": entry["seq"], "recorded": detail.get("arm"), "replayed": expected.arm}
            )
    return ReplayReport(checked, mismatches, unsealed)


# --------------------------------------------------------------------------- evaluation design

#: the largest standardized difference of a covariate between the arms a balanced
#: randomization shows (the usual 0.1 of the propensity-score literature)
MAX_STANDARDIZED_DIFFERENCE = 0.1


def standardized_difference(a: Sequence[float], b: Sequence[float]) -> float | None:
    """(mean a - mean b) / sqrt((var a + var b) / 2), on the finite values (None when either
    arm has fewer than two, or neither varies)."""
    xs = [float(x) for x in a if x is not None and math.isfinite(float(x))]
    ys = [float(y) for y in b if y is not None and math.isfinite(float(y))]
    if len(xs) < 2 or len(ys) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    vx = sum((x - mx) ** 2 for x in xs) / (len(xs) - 1)
    vy = sum((y - my) ** 2 for y in ys) / (len(ys) - 1)
    pooled = math.sqrt((vx + vy) / 2)
    if pooled == 0:
        return 0.0 if mx == my else math.inf
    return (mx - my) / pooled


def balance_check(
    covariates: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    threshold: float = MAX_STANDARDIZED_DIFFERENCE,
    min_per_arm: int = 30,
) -> dict[str, Any]:
    """Standardized differences of each covariate between hold-out and shown arms.

    ``covariates``: name -> (hold-out values, shown values). Status ``fail`` (an alarm) when
    any covariate differs by more than ``threshold``: the arms were not drawn at random, or
    the draw was steered; ``insufficient_evidence`` when an arm has fewer than
    ``min_per_arm`` families; else ``pass``.
    """
    rows = []
    sizes = {len(h) for h, _ in covariates.values()}, {len(s) for _, s in covariates.values()}
    n_hold = max(sizes[0], default=0)
    n_shown = max(sizes[1], default=0)
    for name, (held, shown) in covariates.items():
        d = standardized_difference(held, shown)
        rows.append(
            {
                "covariate": name,
                "standardized_difference": d,
                "imbalanced": d is not None and abs(d) > threshold,
            }
        )
    if n_hold < min_per_arm or n_shown < min_per_arm:
        status = "insufficient_evidence"
    elif any(r["imbalanced"] for r in rows):
        status = "fail"
    else:
        status = "pass"
    return {
        "status": status,
        "threshold": threshold,
        "n_holdout": n_hold,
        "n_shown": n_shown,
        "covariates": rows,
    }


def _z(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def power_calculation(
    target: PowerTarget, *, n_holdout: int | None = None, n_shown: int | None = None
) -> dict[str, Any]:
    """Families needed per arm to detect the stated effect (two proportions, two-sided),
    and the power the arms' actual sizes give.

    Needed per arm (equal arms): (z_{1-a/2} sqrt(2 p̄ q̄) + z_{1-b} sqrt(p0 q0 + p1 q1))^2
    / (p0 - p1)^2, with p0 the hold-out rate and p1 = p0 (1 - reduction).
    """
    p0 = target.baseline_rate
    p1 = p0 * (1 - target.relative_reduction)
    pbar = (p0 + p1) / 2
    za, zb = _z(1 - target.alpha / 2), _z(target.power)
    needed = (
        za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))
    ) ** 2 / (p0 - p1) ** 2
    out: dict[str, Any] = {
        "baseline_rate": p0,
        "shown_rate": p1,
        "relative_reduction": target.relative_reduction,
        "alpha": target.alpha,
        "target_power": target.power,
        "needed_per_arm": math.ceil(needed),
    }
    if n_holdout and n_shown:
        from scipy.stats import norm

        se = math.sqrt(p0 * (1 - p0) / n_holdout + p1 * (1 - p1) / n_shown)
        achieved = float(norm.cdf(abs(p0 - p1) / se - za))
        out.update(
            {
                "n_holdout": n_holdout,
                "n_shown": n_shown,
                "achieved_power": achieved,
                "status": "pass" if achieved >= target.power else "insufficient_evidence",
            }
        )
    return out


__all__ = [
    "ARMS",
    "Assignment",
    "PowerTarget",
    "RegionRollout",
    "ReplayReport",
    "RolloutConfig",
    "RolloutError",
    "assign",
    "assign_all",
    "balance_check",
    "draw",
    "load_rollout_config",
    "power_calculation",
    "replay",
    "rollout_entry_id",
    "score_detail",
    "seal_problem",
    "sealed_configs",
    "standardized_difference",
]
