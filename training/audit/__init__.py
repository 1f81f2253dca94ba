"""Fairness audit of a risk score: per-group error rates, calibration, disparities, proxies, gates.

Typical use (training's promotion gate, or an auditor's notebook)::

    from training.audit import FairnessGates, TopFraction, audit, evaluate_fairness_gates

    result = audit(frame, score="probability", label="label",
                   groups=["audit_settlement", "audit_head_sex"], rule=TopFraction(0.1))
    outcomes = evaluate_fairness_gates(result, FairnessGates())
    gates_passed(outcomes)
"""

from training.audit.audit import audit
from training.audit.disparity import holm_adjust
from training.audit.gates import (
    FairnessGates,
    GateOutcome,
    RatioBound,
    Waiver,
    apply_waivers,
    evaluate_fairness_gates,
    failed_gates,
    gates_passed,
)
from training.audit.groups import MISSING_GROUP
from training.audit.metrics import COUNT_METRICS, METRIC_LABELS
from training.audit.result import AuditResult
from training.audit.rules import DecisionRule, Threshold, TopFraction, TopK, rule_from_dict
from training.audit.suppression import DEFAULT_MIN_GROUP_SIZE
from training.audit.validation import AuditInputError

__all__ = [
    "COUNT_METRICS",
    "DEFAULT_MIN_GROUP_SIZE",
    "METRIC_LABELS",
    "MISSING_GROUP",
    "AuditInputError",
    "AuditResult",
    "DecisionRule",
    "FairnessGates",
    "GateOutcome",
    "RatioBound",
    "Threshold",
    "TopFraction",
    "TopK",
    "Waiver",
    "apply_waivers",
    "audit",
    "evaluate_fairness_gates",
    "failed_gates",
    "gates_passed",
    "holm_adjust",
    "rule_from_dict",
]
