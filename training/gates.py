"""Promotion gates: the new model becomes ``champion`` only when every gate passes.

A gate that fails names itself, the measured value and the threshold, so the data scientist
reads in one line why the model stayed a ``challenger``. The fairness gates of the audit
(``training.audit``) are added by the pipeline as further :class:`GateResult` rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from training.config import GatesConfig
from training.evaluation import Evaluation
from training.registry import CHALLENGER, CHAMPION


@dataclass(frozen=True)
class GateResult:
    """One gate: what was measured, against what, and whether it passed."""

    name: str
    passed: bool
    value: float
    threshold: float
    detail: str


@dataclass(frozen=True)
class PromotionDecision:
    """The alias the new version gets, and every gate that decided it."""

    alias: Literal["champion", "challenger"]
    gates: tuple[GateResult, ...]

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION

    @property
    def failed(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if not g.passed)

    def explain(self, *, max_listed: int | None = None) -> str:
        """One sentence: promoted, or which gates failed (the first ``max_listed`` in full)."""
        if self.promoted:
            return f"all {len(self.gates)} gates passed: promoted to {CHAMPION}"
        failed = self.failed
        shown = failed if max_listed is None else failed[:max_listed]
        names = "; ".join(f"{g.name} ({g.detail})" for g in shown)
        more = len(failed) - len(shown)
        tail = f"; and {more} more (see the report)" if more else ""
        return f"{len(failed)} gate(s) failed, kept as {CHALLENGER}: {names}{tail}"


def performance_gates(
    evaluation: Evaluation, *, main: str, config: GatesConfig
) -> list[GateResult]:
    """AUC margin over each baseline and the calibration error, on the test slice.

    The AUC margin is judged on the point estimate of the paired difference (the interval is
    reported beside it); requiring the whole interval above the margin would block every
    model on a small registry, however good.
    """
    results = []
    for key, diff in evaluation.auc_difference.items():
        baseline = key.split(" - ", 1)[1]
        passed = diff.estimate >= config.min_auc_margin
        results.append(
            GateResult(
                name=f"auc_margin_over_{baseline}",
                passed=bool(passed),
                value=diff.estimate,
                threshold=config.min_auc_margin,
                detail=(
                    f"test ROC AUC {main} minus {baseline} = {diff.estimate:+.4f} "
                    f"[{diff.low:+.4f}, {diff.high:+.4f}], needs >= {config.min_auc_margin:+.4f}"
                ),
            )
        )
    ece = evaluation.models[main].metrics["ece"].estimate
    results.append(
        GateResult(
            name="max_ece",
            passed=bool(ece <= config.max_ece),
            value=ece,
            threshold=config.max_ece,
            detail=f"test expected calibration error {ece:.4f}, needs <= {config.max_ece:.4f}",
        )
    )
    return results


def decide(gates: Iterable[GateResult]) -> PromotionDecision:
    """``champion`` when every gate passed (and there is at least one), else ``challenger``."""
    gates = tuple(gates)
    ok = bool(gates) and all(g.passed for g in gates)
    return PromotionDecision(alias=CHAMPION if ok else CHALLENGER, gates=gates)
