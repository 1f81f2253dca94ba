"""Promotion gates: the new model becomes ``champion`` only when every gate passes.

A gate that does not pass names itself, the measured value and the threshold, so the data
scientist reads in one line why the model stayed a ``challenger``. Each gate ends in one of
three outcomes (:class:`training.outcome.Outcome`): **pass** (the estimate and its interval
inside the band), **fail** (outside, and clear after the multiplicity correction),
**inconclusive** (neither). Its status (:data:`GateStatus`) says why:

* ``pass`` / ``fail`` / ``inconclusive``: judged on the evidence (intervals and tests);
* ``not_evaluable`` (inconclusive): the number is undefined (a baseline without an interval,
  an attribute with one reported group, a champion that cannot score these rows);
* ``insufficient_evidence`` (inconclusive): too few outcomes to judge (a tiny test slice, a
  small group);
* ``waived``: an inconclusive check accepted by a waiver in the config, with its reason (it
  keeps its outcome; ``waived_from`` says which status was accepted);
* ``no_champion`` (pass): the first model of a registry has nothing to be compared with.

Only ``pass``, ``waived`` and ``no_champion`` let a model be promoted: a failed or
inconclusive check is never a pass (design rule 8). :data:`GATE_MEANINGS` says in one
sentence what each gate protects; the README and the model card repeat it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from training.aliases import CHALLENGER, CHAMPION
from training.audit.disparity import holm_adjust
from training.audit.gates import Waiver
from training.config import GatesConfig, ProxyGatesConfig
from training.evaluation import Evaluation, Interval
from training.outcome import WAIVABLE, Outcome, judge_band, outcome_of, outcome_summary
from training.outcome import outside as _outside
from training.pooled_evidence import PooledDifferences
from training.reliability import (
    CalibrationStat,
    calibration_slope,
    observed_to_expected,
    top_band,
)

GateStatus = Literal[
    "pass",
    "fail",
    "inconclusive",
    "not_evaluable",
    "insufficient_evidence",
    "waived",
    "no_champion",
]
PROMOTABLE: frozenset[str] = frozenset({"pass", "waived", "no_champion"})

#: What each gate protects, by the start of its name (the README and model card say the same).
GATE_MEANINGS: dict[str, str] = {
    # --- issue 24: when the registry records interventions (training/support_training.py)
    "positivity": "every family had a chance of going without support, so the no-support "
    "figures are identified by the data (share with a propensity near 1 at most "
    "positivity_max_share)",
    "counterfactual_auc_margin_over_": "on the outcome without support (doubly robust), the "
    "model ranks better than the baseline: lower bound of the paired difference >= "
    "min_auc_margin",
    "counterfactual_recall_at_k_vs_": "on the outcome without support (doubly robust), the "
    "model reaches at capacity at least as many of the families who would have the outcome "
    "as the baseline, within capacity_margin",
    "test_slice_evidence": "the test slice holds enough outcomes to judge any gate at all",
    "auc_margin_over_": "the model ranks better than the baseline: the lower bound of the "
    "paired ROC AUC difference, averaged over the backtest origins, is at least "
    "min_auc_margin",
    "precision_at_k_vs_": "at the caseworkers' capacity, the share of reached families who "
    "go on to the outcome is not worse than the baseline's by more than capacity_margin "
    "(lower bound of the paired difference)",
    "recall_at_k_vs_": "at capacity, the share of families with the outcome who are reached "
    "is not worse than the baseline's by more than capacity_margin (lower bound)",
    "max_ece": "overall expected calibration error (equal-mass bins) at most max_ece",
    "calibration_in_the_large": "observed / expected outcomes over the test slice within the "
    "band (the probabilities are right on average)",
    "calibration_slope": "calibration slope within the band (probabilities neither too "
    "extreme nor too timid)",
    "top_band_oe": "observed / expected outcomes among the top-ranked families (where "
    "caseworkers act), overall and per group, within the band",
    "champion_": "non-inferior to the model being served, on the same test rows (lower "
    "bound of the paired difference at least minus the margin)",
    "proxy_": "no model input predicts a protected attribute alone (AUC below max_auc) "
    "unless allowed with a justification",
    "fairness_recall_parity": "each group's families with the outcome are reached at "
    "capacity as often as its calibrated probabilities promise (recall over promised "
    "recall), within the band of the reference group's: the model does not miss one "
    "group's needs more than its scores admit",
    "fairness_tpr_ratio": "each group's share of its families with the outcome who are "
    "reached at capacity (recall, TPR) is within the band of the reference group's",
    "fairness_group_oe": "each group's observed / expected outcome rate is within the band "
    "(a score means the same in every group)",
    "fairness_group_coverage": "the attribute has at least two reported groups to compare",
    "fairness_": "a fairness check of the audit (see the fairness report)",
}


def gate_meaning(name: str) -> str:
    """The plain-language meaning of a gate, from :data:`GATE_MEANINGS` (longest prefix)."""
    matches = [key for key in GATE_MEANINGS if name.startswith(key)]
    return GATE_MEANINGS[max(matches, key=len)] if matches else ""


@dataclass(frozen=True)
class GateResult:
    """One gate: what was measured, against what, and its outcome.

    ``passed`` is True only for an outcome that lets the model be promoted; ``status`` is the
    outcome itself (default: ``pass`` or ``fail`` from ``passed``).
    """

    name: str
    passed: bool
    value: float
    threshold: float
    detail: str
    status: str = ""
    waiver: str | None = None
    waived_from: str | None = None

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", "pass" if self.passed else "fail")
        if self.passed != (self.status in PROMOTABLE):
            raise ValueError(
                f"gate {self.name!r}: passed={self.passed} contradicts status {self.status!r}"
            )
        outcome_of(self.status, self.waived_from)  # an unknown status is refused here

    @property
    def outcome(self) -> Outcome:
        """Pass, fail or inconclusive (a waived check keeps the outcome it had)."""
        return outcome_of(self.status, self.waived_from)

    @property
    def blocks(self) -> bool:
        """True when this gate stops a promotion: failed or inconclusive, not waived."""
        return not self.passed

    @classmethod
    def of(
        cls, name: str, status: str, *, value: float, threshold: float, detail: str
    ) -> GateResult:
        """A gate result from its status (``passed`` follows from it)."""
        return cls(
            name=name,
            passed=status in PROMOTABLE,
            value=float(value),
            threshold=float(threshold),
            detail=detail,
            status=status,
        )


@dataclass(frozen=True)
class PromotionDecision:
    """The alias the new version gets, and every gate that decided it."""

    alias: Literal["champion", "challenger"]
    gates: tuple[GateResult, ...]
    unused_waivers: tuple[str, ...] = field(default=())

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """Every gate that blocks (failed, then inconclusive), not waived."""
        return tuple(sorted((g for g in self.gates if g.blocks), key=lambda g: g.outcome.rank))

    @property
    def blocking(self) -> tuple[GateResult, ...]:
        """Same as :attr:`failed`: the gates a promotion must answer (fail, inconclusive)."""
        return self.failed

    def with_outcome(self, outcome: Outcome) -> tuple[GateResult, ...]:
        """The gates that ended in ``outcome`` (waived ones included, in order)."""
        return tuple(g for g in self.gates if g.outcome is outcome)

    @property
    def waived(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if g.status == "waived")

    def explain(self, *, max_listed: int | None = None) -> str:
        """One sentence: promoted, or which gates blocked (the first ``max_listed`` in full)."""
        if self.promoted:
            notes = []
            if self.waived:
                notes.append(f"{len(self.waived)} waived")
            if any(g.status == "no_champion" for g in self.gates):
                notes.append("first model of the registry: no champion to compare with")
            tail = f" ({'; '.join(notes)})" if notes else ""
            return (
                f"{len(self.gates)} gates ({outcome_summary(self.gates)}){tail}: "
                f"promoted to {CHAMPION}"
            )
        failed = self.failed
        shown = failed if max_listed is None else failed[:max_listed]
        names = "; ".join(
            f"{g.name} [{g.outcome.value}"
            + ("" if g.status in ("fail", "inconclusive") else f", {g.status}")
            + f"] ({g.detail})"
            for g in shown
        )
        more = len(failed) - len(shown)
        tail = f"; and {more} more (see the report)" if more else ""
        return (
            f"{len(failed)} gate(s) blocked ({outcome_summary(self.gates)}), kept as "
            f"{CHALLENGER}: {names}{tail}"
        )


def _waiver_matches(waiver: Waiver, gate: GateResult) -> bool:
    return waiver.matches(gate.name) and waiver.status in (None, gate.status)


def apply_waivers(
    gates: Iterable[GateResult], waivers: Sequence[Waiver]
) -> tuple[list[GateResult], tuple[str, ...]]:
    """Waive the inconclusive gates a waiver names; a failure stays.

    Returns the gates and the patterns of waivers that matched nothing (reported, so a stale
    waiver is seen).
    """
    out: list[GateResult] = []
    used: set[int] = set()
    for gate in gates:
        if gate.status in WAIVABLE:
            for i, waiver in enumerate(waivers):
                if _waiver_matches(waiver, gate):
                    used.add(i)
                    gate = replace(
                        gate,
                        passed=True,
                        status="waived",
                        waived_from=gate.status,
                        waiver=waiver.reason,
                        detail=f"{gate.detail} [{gate.status} waived, see the waivers]",
                    )
                    break
        out.append(gate)
    unused = tuple(w.check for i, w in enumerate(waivers) if i not in used)
    return out, unused


def decide(gates: Iterable[GateResult], *, waivers: Sequence[Waiver] = ()) -> PromotionDecision:
    """``champion`` when every gate passed or was waived (and there is one), else ``challenger``."""
    checked, unused = apply_waivers(gates, waivers)
    ok = bool(checked) and all(g.passed for g in checked)
    alias: Literal["champion", "challenger"] = "champion" if ok else "challenger"
    return PromotionDecision(alias=alias, gates=tuple(checked), unused_waivers=unused)


# --------------------------------------------------------------------------- performance


def _lower_bound_gate(
    name: str, diff: Interval, *, threshold: float, what: str, note: str = ""
) -> GateResult:
    """Pass when the interval's lower bound of a paired difference is >= threshold."""
    text = f"{what} = {diff.estimate:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]{note}"
    if np.isnan(diff.low):
        return GateResult.of(
            name,
            "not_evaluable",
            value=diff.estimate,
            threshold=threshold,
            detail=f"{text}: no interval (too few resamples with both classes)",
        )
    status = _at_least(diff, threshold)
    verdict = {
        Outcome.PASS: "pass: the whole interval is at or above",
        Outcome.FAIL: "fail: the whole interval is below",
        Outcome.INCONCLUSIVE: "inconclusive: the interval straddles",
    }[status]
    return GateResult.of(
        name,
        status.value,
        value=diff.low,
        threshold=threshold,
        detail=f"{text}; {verdict} {threshold:+.4f} (a pass needs the lower bound >= it)",
    )


def _at_least(diff: Interval, threshold: float) -> Outcome:
    """A one-sided band ``[threshold, inf)``: pass when the interval is inside, fail when
    it lies wholly below, inconclusive when it straddles the threshold."""
    inf = float("inf")
    clear = _outside(diff.low, diff.high, lower=threshold, upper=inf)
    return judge_band(diff.estimate, diff.low, diff.high, lower=threshold, upper=inf, clear=clear)


def _at_most(value: Interval, bound: float) -> Outcome:
    """A one-sided band ``(-inf, bound]``, judged like :func:`_at_least`."""
    inf = float("inf")
    clear = _outside(value.low, value.high, lower=-inf, upper=bound)
    return judge_band(value.estimate, value.low, value.high, lower=-inf, upper=bound, clear=clear)


def performance_gates(
    evaluation: Evaluation,
    *,
    main: str,
    config: GatesConfig,
    pooled: PooledDifferences | None = None,
) -> list[GateResult]:
    """Evidence, ranking, capacity and calibration error of the model on the test slice.

    Margins are judged on the lower bound of the paired bootstrap interval, so a model whose
    advantage may be noise (+0.07 with interval [-0.0004, +0.149]) does not pass. At
    capacity the gate is non-inferiority (lower bound >= -capacity_margin): a model may
    rank better overall and still pick worse families at the top, which is what caseworkers
    see. With ``pooled`` (differences over two or more backtest origins,
    :mod:`training.pooled_evidence`) the baseline margins are judged on all of that evidence,
    with the same bounds; the held-out slice's own figures stay in the report.
    """
    results = []
    need = config.min_test_positives
    have = evaluation.n_positive
    results.append(
        GateResult.of(
            "test_slice_evidence",
            "pass" if have >= need else "insufficient_evidence",
            value=have,
            threshold=need,
            detail=f"{have} outcomes among {evaluation.n_rows} test rows, needs >= {need} "
            "(min_test_positives)",
        )
    )
    use_pooled = pooled is not None and pooled.n_origins > 1

    def difference(metric: str, key: str, held_out: Interval) -> tuple[Interval, str]:
        if not use_pooled or pooled is None or key not in pooled.differences.get(metric, {}):
            return held_out, ""
        each = ", ".join(f"{d:+.4f}" for d in pooled.per_origin[metric][key])
        return pooled.differences[metric][key], (
            f" (mean over {pooled.n_origins} backtest origins, each {each}; held-out slice "
            f"alone {held_out.estimate:+.4f} [{held_out.low:+.4f}, {held_out.high:+.4f}])"
        )

    for key, diff in evaluation.auc_difference.items():
        baseline = key.split(" - ", 1)[1]
        judged, note = difference("roc_auc", key, diff)
        results.append(
            _lower_bound_gate(
                f"auc_margin_over_{baseline}",
                judged,
                threshold=config.min_auc_margin,
                what=f"test ROC AUC {main} minus {baseline}",
                note=note,
            )
        )
    for metric in ("precision_at_k", "recall_at_k"):
        for key, diff in evaluation.differences.get(metric, {}).items():
            baseline = key.split(" - ", 1)[1]
            judged, note = difference(metric, key, diff)
            results.append(
                _lower_bound_gate(
                    f"{metric}_vs_{baseline}",
                    judged,
                    threshold=-config.capacity_margin,
                    what=f"{metric.replace('_at_k', '')} at capacity {main} minus {baseline}",
                    note=note,
                )
            )
    ece_interval = evaluation.models[main].metrics["ece"]
    ece = ece_interval.estimate
    ece_outcome = _at_most(ece_interval, config.max_ece)
    results.append(
        GateResult.of(
            "max_ece",
            ece_outcome.value,
            value=ece,
            threshold=config.max_ece,
            detail=f"test expected calibration error {ece:.4f} [{ece_interval.low:.4f}, "
            f"{ece_interval.high:.4f}], needs <= {config.max_ece:.4f}: {ece_outcome.value}",
        )
    )
    return results


# --------------------------------------------------------------------------- calibration


def _band_status(
    stat: CalibrationStat,
    *,
    lower: float,
    upper: float,
    p_adjusted: float,
    significance: float,
    min_count: int | None,
) -> str:
    if min_count is not None and max(stat.observed, stat.expected) < min_count:
        return "insufficient_evidence"  # also when the figure is undefined for lack of outcomes
    if np.isnan(stat.estimate):
        return "not_evaluable"
    # fail: interval wholly outside and the (Holm-adjusted) test below its level
    clear = (
        _outside(stat.low, stat.high, lower=lower, upper=upper)
        and not np.isnan(p_adjusted)
        and p_adjusted < significance
    )
    return judge_band(
        stat.estimate, stat.low, stat.high, lower=lower, upper=upper, clear=clear
    ).value


def _calibration_gate(
    name: str,
    stat: CalibrationStat,
    *,
    what: str,
    lower: float,
    upper: float,
    p_adjusted: float,
    significance: float,
    min_count: int | None,
) -> GateResult:
    status = _band_status(
        stat,
        lower=lower,
        upper=upper,
        p_adjusted=p_adjusted,
        significance=significance,
        min_count=min_count,
    )
    detail = (
        f"{what} {stat} ({stat.observed:.0f} observed, {stat.expected:.1f} expected, "
        f"n={stat.n}), band [{lower:g}, {upper:g}]"
    )
    if status == "insufficient_evidence":
        detail += f": fewer than {min_count} outcomes (observed or expected), insufficient evidence"
    elif status == "not_evaluable":
        detail += ": undefined"
    elif status == "fail":
        detail += f": outside, clear (adjusted p = {p_adjusted:.3g})"
    elif status == "inconclusive" and not lower <= stat.estimate <= upper:
        detail += (
            f": inconclusive, outside but not statistically clear (adjusted p = {p_adjusted:.3g})"
        )
    elif status == "inconclusive":
        detail += ": inconclusive, the estimate is within the band but its interval reaches outside"
    else:
        detail += ": pass, estimate and interval within the band"
    return GateResult.of(name, status, value=stat.estimate, threshold=lower, detail=detail)


def calibration_gates(
    y: np.ndarray,
    probability: np.ndarray,
    rank_score: np.ndarray,
    *,
    groups: Mapping[str, np.ndarray] | pd.DataFrame,
    k: int,
    config: GatesConfig,
    confidence_level: float = 0.95,
    min_group_size: int = 11,
) -> list[GateResult]:
    """Calibration in the large, slope, and O/E in the top band, overall and per group.

    The top band is the ``k`` highest-ranked rows (capacity) unless
    ``calibration.top_fraction`` sets it. Per-group checks of one kind share a Holm
    adjustment; groups smaller than ``min_group_size`` are left out (as in the audit).
    """
    cfg = config.calibration
    y = np.asarray(y, dtype=float)
    p = np.asarray(probability, dtype=float)
    n_top = k if cfg.top_fraction is None else max(1, round(cfg.top_fraction * len(y)))
    top = top_band(rank_score, n_top)
    band_text = f"top {n_top} of {len(y)}"
    overall = [
        (
            "calibration_in_the_large",
            observed_to_expected(y, p, confidence_level=confidence_level),
            cfg.oe,
            "observed / expected",
        ),
        (
            "calibration_slope",
            calibration_slope(y, p, confidence_level=confidence_level),
            cfg.slope,
            "calibration slope",
        ),
        (
            "top_band_oe",
            observed_to_expected(y[top], p[top], confidence_level=confidence_level),
            cfg.oe,
            f"observed / expected in the {band_text}",
        ),
    ]
    results = [
        _calibration_gate(
            name,
            stat,
            what=what,
            lower=band.lower,
            upper=band.upper,
            p_adjusted=stat.p_value,
            significance=cfg.significance,
            min_count=None,
        )
        for name, stat, band, what in overall
    ]
    if not cfg.per_group:
        return results
    frame = pd.DataFrame(dict(groups)) if not isinstance(groups, pd.DataFrame) else groups
    per_kind: dict[str, list[tuple[str, CalibrationStat, str]]] = {
        "top_band_oe": [],
        "calibration_slope": [],
    }
    for attribute in frame.columns:
        labels = frame[attribute].astype("string").fillna("(missing)").to_numpy()
        for group in sorted(set(labels)):
            mask = labels == group
            if mask.sum() < min_group_size:
                continue
            where = f"{attribute}/{group}"
            in_top = mask & top
            per_kind["top_band_oe"].append(
                (
                    where,
                    observed_to_expected(y[in_top], p[in_top], confidence_level=confidence_level),
                    f"observed / expected of {attribute}={group} in the {band_text}",
                )
            )
            per_kind["calibration_slope"].append(
                (
                    where,
                    calibration_slope(y[mask], p[mask], confidence_level=confidence_level),
                    f"calibration slope of {attribute}={group}",
                )
            )
    for kind, rows in per_kind.items():
        band = cfg.oe if kind == "top_band_oe" else cfg.slope
        adjusted = holm_adjust(np.array([s.p_value for _, s, _ in rows], dtype=float))
        for (where, stat, what), p_adj in zip(rows, adjusted, strict=True):
            results.append(
                _calibration_gate(
                    f"{kind}[{where}]",
                    stat,
                    what=what,
                    lower=band.lower,
                    upper=band.upper,
                    p_adjusted=float(p_adj),
                    significance=cfg.significance,
                    min_count=cfg.min_group_positives,
                )
            )
    return results


# --------------------------------------------------------------------------- fairness, proxies


def fairness_gate_results(outcomes: Iterable[Any]) -> list[GateResult]:
    """The audit's gate outcomes (:class:`training.audit.GateOutcome`) as gate results.

    Statuses carry over (a waived audit check stays waived, with its reason).
    """
    gates = []
    for o in outcomes:
        threshold = o.upper if o.upper is not None else (o.lower if o.lower is not None else None)
        gates.append(
            GateResult(
                name=f"fairness_{o.name}",
                passed=o.status in PROMOTABLE,
                value=float(o.value) if o.value is not None else float("nan"),
                threshold=float(threshold) if threshold is not None else float("nan"),
                detail=o.message,
                status=o.status,
                waiver=getattr(o, "waiver", None),
                waived_from=getattr(o, "waived_from", None),
            )
        )
    return gates


def audit_waivers(waivers: Sequence[Waiver]) -> list[Waiver]:
    """The training waivers that apply to the fairness audit's own check names.

    A training gate ``fairness_<check>`` is the audit's ``<check>``: a waiver written for the
    training name is rewritten for the audit's, and one starting with ``*`` applies to both,
    so the fairness report and the model card show the same waived checks as the decision.
    """
    out = []
    for waiver in waivers:
        if waiver.check.startswith("fairness_"):
            out.append(waiver.model_copy(update={"check": waiver.check.removeprefix("fairness_")}))
        elif waiver.check.startswith("*"):
            out.append(waiver)
    return out


def proxy_gates(
    proxies: pd.DataFrame | None, *, protected: Sequence[str], config: ProxyGatesConfig
) -> list[GateResult]:
    """One gate per (feature, protected attribute) whose folded AUC reaches ``max_auc``.

    A listed (allowed) proxy passes with its justification in the detail; any other fails.
    Without a proxy check (no audit groups) the gate is not evaluable. Audit groups that are
    not protected attributes (region, settlement) are not gated here.
    """
    if proxies is None:
        return [
            GateResult.of(
                "proxy_check",
                "not_evaluable",
                value=float("nan"),
                threshold=config.max_auc,
                detail="no proxy check was run (no audit group columns)",
            )
        ]
    wanted = {f"audit_{p}" for p in protected} | set(protected)
    rows = proxies[proxies["attribute"].isin(wanted) & (proxies["auc"] >= config.max_auc)]
    results = []
    for row in rows.itertuples(index=False):
        allowed = next(
            (
                a
                for a in config.allowed
                if a.feature == row.feature and a.attribute in (None, row.attribute)
            ),
            None,
        )
        text = (
            f"{row.feature} alone predicts {row.attribute} (group {row.auc_group}) with "
            f"AUC {row.auc:.3f} >= {config.max_auc:g}"
        )
        if allowed is not None:
            text += f"; allowed: {allowed.justification}"
        results.append(
            GateResult.of(
                f"proxy_{row.feature}[{row.attribute}]",
                "pass" if allowed is not None else "fail",
                value=row.auc,
                threshold=config.max_auc,
                detail=text,
            )
        )
    if not results:
        n_pairs = int(proxies["attribute"].isin(wanted).sum())
        results.append(
            GateResult.of(
                "proxy_check",
                "pass" if n_pairs else "not_evaluable",
                value=float(proxies.loc[proxies["attribute"].isin(wanted), "auc"].max())
                if n_pairs
                else float("nan"),
                threshold=config.max_auc,
                detail=f"no model input predicts a protected attribute with AUC >= "
                f"{config.max_auc:g} ({n_pairs} feature/attribute pairs checked)"
                if n_pairs
                else "no protected attribute among the audit groups: nothing to check",
            )
        )
    return results


_NAME = re.compile(r"[^A-Za-z0-9_.\-/ ]")


def gate_metric_name(name: str) -> str:
    """A gate name as an MLflow metric key (brackets and other characters replaced)."""
    return "gate." + _NAME.sub("_", name.replace("[", ".").replace("]", ""))


def gate_facts(decision: PromotionDecision) -> list[dict[str, Any]]:
    """Each gate of a decision as plain facts for the model card (name, status, meaning)."""
    return [
        {
            "name": g.name,
            "outcome": g.outcome.value,
            "status": g.status,
            "waived": "yes" if g.status == "waived" else "",
            "value": None if np.isnan(g.value) else float(g.value),
            "meaning": gate_meaning(g.name),
            "detail": g.detail,
        }
        for g in sorted(decision.gates, key=lambda g: g.outcome.rank)
    ]


def waiver_facts(config: GatesConfig) -> tuple[list[str], list[str]]:
    """The configured waivers and allowed proxies, each with its written reason."""
    waivers = [
        f"`{w.check}`" + (f" ({w.status})" if w.status else "") + f": {w.reason}"
        for w in config.waivers
    ]
    proxies = [
        f"`{a.feature}`" + (f" for {a.attribute}" if a.attribute else "") + f": {a.justification}"
        for a in config.proxy.allowed
    ]
    return waivers, proxies
