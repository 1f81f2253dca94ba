"""Model cards: what a registered model is for, what it is not for, and how fair it is.

The card is built from plain facts of a training run (:class:`ModelCardFacts`: names,
metrics, data description, fairness results), never by reading MLflow or files, so training
can build it in memory and log ``model_card/model_card.json`` and ``model_card/model_card.md``
with the run, and the service can show the JSON at ``/model_card``. The fixed texts
(intended use, out-of-scope uses, known biases of administrative data) live here so every
card says them the same way; run-specific warnings (failed gates, flagged proxies, missing
audit) are derived by :func:`build_model_card`. The facts of one training run are gathered
by :mod:`training.run_card`, which imports this module (never the other way round).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field

from training.audit.summary import summarize
from training.outcome import Outcome, sort_checks

if TYPE_CHECKING:
    from training.audit.gates import GateOutcome
    from training.audit.result import AuditResult

TEMPLATE = Path(__file__).resolve().parents[1] / "models" / "model_card.md.j2"
CARD_SCHEMA_VERSION = 1

INTENDED_USE: tuple[str, ...] = (
    "Advisory support only: the score helps a caseworker decide which families to offer "
    "voluntary, early support (a visit, a benefit check, a referral) within the service's "
    "capacity.",
    "A person always decides. The score, its risk level and its reasons are one input to "
    "that decision, shown with the family's record, and every score served is logged.",
    "Prioritising outreach across families the service already knows, as of a date, using "
    "only information recorded by that date.",
)
OUT_OF_SCOPE: tuple[str, ...] = (
    "Any automated decision: opening a child protection case, removing a child, reducing or "
    "denying a benefit, or any sanction must never follow from the score.",
    "Investigations, policing or eligibility checks: the score is not evidence about a "
    "family and must not be used to justify scrutiny.",
    "Scoring families or periods unlike the training data (other countries, a changed "
    "registry, a period after a policy change) without a new evaluation and audit.",
    "Ranking or comparing groups (regions, ethnicities) or individual caseworkers.",
    "Telling a family it is 'high risk': the score describes recorded patterns, not a "
    "person's future.",
)
GENERAL_BIASES: tuple[str, ...] = (
    "The label is a *recorded* child protection case or placement, not harm itself: it "
    "measures contact with agencies as much as family crisis. Groups watched more closely "
    "get more records and more recorded outcomes, so a model trained on them over-predicts "
    "those groups' true risk (surveillance bias), while against their recorded outcomes, "
    "which closer watching inflates more than the model can see, it can look "
    "under-predicted: both are the same bias of the label.",
    "Coverage differs: families far from services (often rural) have fewer support-centre "
    "and health records, so a missing record is weaker evidence of well-being there.",
    "Records arrive late and are sometimes back-dated; features use only what was recorded "
    "by the as-of date, so the newest months look calmer than they were.",
)
SYNTHETIC_BIASES: tuple[str, ...] = (
    "Trained on the synthetic registry (docs/synthetic_registry.md), which plants a "
    "surveillance bias on purpose: for the same latent state, `uzbek` families get 1.8 times "
    "as many police, social-service, domestic-violence and juvenile-offense records, and "
    "their child protection cases are recorded with probability 0.95 instead of 0.62. It "
    "also shows, diluted, in the regions KZ-TUR and KZ-SHY.",
    "In the synthetic registry `disability_benefit` payments are a direct proxy of the "
    "protected attribute `disability_in_family`.",
    "Synthetic data says nothing about real families or real regional rates: metrics here "
    "show that the pipeline works, not that a model is fit for use.",
)
BASE_LIMITATIONS: tuple[str, ...] = (
    "Probabilities are calibrated on a later slice of data the model never saw; they drift "
    "as practice and recording change, so calibration must be re-checked on new data.",
    "Fairness was audited only for the listed groups; groups smaller than the suppression "
    "threshold are not reported and may be treated differently without anyone seeing it.",
    "Correlation, not cause: the reasons shown are the features that moved the score, not "
    "causes of risk, and changing them does not change a family's situation.",
)
REASON_POLICY: tuple[str, ...] = (
    "Only a need the family has (debts, lost income, school absences, violence, unsafe "
    "housing) is shown as a reason that raises or lowers the risk. Household composition is "
    "shown as context, and support received (benefits, social-service contacts, centre "
    "visits, housing assistance) as support: never as a reason that raises the risk, because "
    "reading help as a mark against a family would punish asking for it.",
    "The model still uses context and support inputs; every response states their total "
    "contribution (contribution_by_kind), and the comparison below shows what the support "
    "inputs buy in accuracy.",
    "Contributions are in probability points from the population baseline (the calibrated "
    "probability at the model's expected score) and sum to the family's distance from it; "
    "those under the service's threshold are not shown.",
)
DEFAULT_CONTACT = (
    "The earlyrisk maintainers (open an issue in the project repository); for a deployment, "
    "the data protection officer and the model owner named by the ministry."
)


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricFact(_Facts):
    """One evaluation figure, with its interval when known."""

    name: str
    value: float | None
    lower: float | None = None
    upper: float | None = None
    split: str = "test"
    note: str | None = None


class DataFacts(_Facts):
    """Where the training data came from and what it is known to get wrong."""

    source: str
    synthetic: bool = False
    period: str | None = None
    n_families: int | None = None
    rows_per_split: dict[str, int] = Field(default_factory=dict)
    label_definition: str = (
        "any child_protection_case or child_placed_in_care recorded for the family within "
        "12 months after the as-of date"
    )
    horizon_months: int = 12
    raw_sha256: str | None = None
    feature_list_sha256: str | None = None
    eligibility: str | None = Field(
        default=None, description="which families are scored (design rule 10)"
    )
    design: list[str] = Field(
        default_factory=list,
        description="the temporal design and which data each stage saw (evaluation, refit)",
    )
    known_biases: list[str] = Field(
        default_factory=list, description="data-specific biases, added to the general ones"
    )
    corrections: str | None = Field(
        default=None,
        description="how accepted corrections of records entered training and how many "
        "records they corrected (issue 23)",
    )


class GroupFact(_Facts):
    """One audited group's headline numbers (suppressed groups are never listed)."""

    attribute: str
    group: str
    n: int
    is_reference: bool = False
    selection_rate: float | None = None
    fpr: float | None = None
    fnr: float | None = None
    precision: float | None = None
    ece: float | None = None
    observed_to_expected: float | None = None


class FairnessFacts(_Facts):
    """The fairness audit of the model, as plain data (see :func:`fairness_facts_from_audit`)."""

    rule: str
    attributes: list[str]
    references: dict[str, str] = Field(default_factory=dict)
    gates_passed: bool | None = None
    n_checks: int = 0
    failed_checks: list[str] = Field(
        default_factory=list, description="checks that failed (outside the band, clear)"
    )
    inconclusive_checks: list[str] = Field(
        default_factory=list,
        description="checks that neither passed nor failed, not waived (they block as well)",
    )
    protected: list[str] = Field(
        default_factory=list,
        description="audit groups that are protected attributes (the proxy gate covers these)",
    )
    summary: list[str] = Field(default_factory=list)
    groups: list[GroupFact] = Field(default_factory=list)
    min_group_size: int = 11
    n_suppressed: int = 0
    flagged_proxies: list[str] = Field(
        default_factory=list, description="inputs predicting a protected attribute (gated)"
    )
    audit_group_proxies: list[str] = Field(
        default_factory=list,
        description="inputs predicting an audit group that is not a protected attribute "
        "(informative, not gated: often the group is defined from that very input)",
    )


class GateFact(_Facts):
    """One promotion gate of the run: its outcome (pass / fail / inconclusive), the status
    behind it, whether a waiver accepted it, what it means and what was measured."""

    name: str
    status: str
    outcome: str = ""
    waived: str = ""
    value: float | None = None
    meaning: str = ""
    detail: str = ""


class BandFact(_Facts):
    """One risk level's cut-offs and size on the test slice."""

    level: str
    min_probability: float
    max_probability: float | None
    families: int


class BandAuditFact(_Facts):
    """One group's share flagged by a band and how often the flag was right."""

    band: str
    attribute: str
    group: str
    n: int
    flagged_share: float
    precision: float | None
    recall: float | None


class RiskBandFacts(_Facts):
    """The risk levels the service derives (same rule), set and audited on the test slice."""

    rule: str
    bands: list[BandFact]
    audit: list[BandAuditFact] = Field(default_factory=list)


class SupportAblationFacts(_Facts):
    """The same training without the support-received inputs, on the same test rows."""

    support_inputs: list[str]
    capacity_k: int
    roc_auc_with: float | None
    roc_auc_without: float | None
    precision_at_k_with: float | None
    precision_at_k_without: float | None


class ModelCardFacts(_Facts):
    """Everything a card says that depends on the run; the rest are fixed texts."""

    model_name: str
    model_version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    created_at: datetime
    model_type: str
    model_description: str | None = None
    features: list[str] = Field(default_factory=list)
    excluded_inputs: list[str] = Field(
        default_factory=lambda: ["protected table attributes", "sex", "audit_* groups"],
        description="what never enters the model: protected attributes audit, never predict",
    )
    capacity: str | None = None
    data: DataFacts
    metrics: list[MetricFact] = Field(default_factory=list)
    fairness: FairnessFacts | None = None
    intended_use: list[str] = Field(default_factory=lambda: list(INTENDED_USE))
    out_of_scope: list[str] = Field(default_factory=lambda: list(OUT_OF_SCOPE))
    limitations: list[str] = Field(
        default_factory=list, description="run-specific limitations, added to the standard ones"
    )
    gates: list[GateFact] = Field(
        default_factory=list, description="promotion gates of the run and their outcomes"
    )
    waivers: list[str] = Field(
        default_factory=list,
        description="checks accepted although not evaluable / without evidence, with reasons",
    )
    allowed_proxies: list[str] = Field(
        default_factory=list,
        description="inputs allowed although they predict a protected attribute, and why",
    )
    reason_policy: list[str] = Field(
        default_factory=list, description="how reasons are chosen and shown (design rule 11)"
    )
    risk_bands: RiskBandFacts | None = None
    support_ablation: SupportAblationFacts | None = None
    support_method: str | None = Field(
        default=None,
        description="how training and evaluation account for support given to flagged "
        "families (issue 24): the method, or that no interventions were recorded",
    )
    contact: str = DEFAULT_CONTACT


class ModelCard(_Facts):
    """A finished card: the facts plus the derived sections, ready to serialise."""

    schema_version: int = CARD_SCHEMA_VERSION
    facts: ModelCardFacts
    known_biases: list[str]
    limitations: list[str]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (NaN metric values become null)."""
        return _without_nan(self.model_dump(mode="json"))

    def to_json(self) -> str:
        """The card as JSON (``model_card.json``)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def to_markdown(self, *, template: Path | None = None) -> str:
        """The card as Markdown (``model_card.md``), from ``models/model_card.md.j2``."""
        path = template or TEMPLATE
        if not path.exists():
            raise FileNotFoundError(f"model card template {str(path)!r} is missing")
        environment = Environment(
            loader=FileSystemLoader(path.parent),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        environment.filters["num"] = _number
        environment.filters["pct"] = _percent
        return environment.get_template(path.name).render(card=self.to_dict())


def _without_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nan(v) for v in value]
    return value


def _number(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"


def build_model_card(facts: ModelCardFacts) -> ModelCard:
    """Assemble the card: fixed texts, data biases, and warnings derived from the facts."""
    biases = [
        *GENERAL_BIASES,
        *(SYNTHETIC_BIASES if facts.data.synthetic else ()),
        *facts.data.known_biases,
    ]
    limitations = [*BASE_LIMITATIONS, *facts.limitations]
    warnings: list[str] = []
    fairness = facts.fairness
    blocking = _gate_warning(facts.gates)
    if blocking:
        warnings.append(blocking)
    if fairness is None:
        warnings.append(
            "No fairness audit is recorded for this model: it must not be promoted or used."
        )
    else:
        if fairness.gates_passed is False and not facts.gates:
            warnings.append(
                f"Of {fairness.n_checks} fairness checks, {len(fairness.failed_checks)} failed "
                f"and {len(fairness.inconclusive_checks)} were inconclusive; the model must "
                "not be the champion unless each is waived: "
                + "; ".join([*fairness.failed_checks, *fairness.inconclusive_checks][:10])
            )
        elif fairness.gates_passed is None:
            warnings.append("Fairness gates were not evaluated for this model.")
        if fairness.flagged_proxies:
            limitations.append(
                "Features that stand in for a protected attribute (proxy check): "
                + "; ".join(fairness.flagged_proxies)
                + ". The model may treat these groups differently through them."
            )
        if fairness.audit_group_proxies:
            found = "; ".join(fairness.audit_group_proxies)
            limitations.append(f"{PROXY_SCOPE} Found here: {found}.")
        if any(_under_predicted(g) for g in facts.gates):
            biases.append(LABEL_BIAS)
        if fairness.n_suppressed:
            limitations.append(
                f"{fairness.n_suppressed} audited group(s) had fewer than "
                f"{fairness.min_group_size} families and are not reported."
            )
    if facts.data.synthetic:
        warnings.append("Trained on synthetic data: for demonstration and testing only.")
    return ModelCard(facts=facts, known_biases=biases, limitations=limitations, warnings=warnings)


PROXY_SCOPE = (
    "The proxy gate covers protected attributes only (the configuration's `protected` list: "
    "they audit and never predict, design rule 2). The audit also reports inputs that "
    "predict the other audit groups (household composition, region, settlement); those "
    "groups are not protected, are often defined from the very input that predicts them "
    "(a single-parent household flag predicts the single-parent audit group with AUC 1.00 "
    "by construction), and do not block promotion."
)
LABEL_BIAS = (
    "A calibration gate fails where a group has *more* recorded outcomes than the model "
    "predicts (observed / expected above the band). This is the surveillance bias above "
    "seen from the other side: the model has no protected inputs, so it predicts the same "
    "risk for the same needs in every group, while the recorded label of a watched group is "
    "inflated by closer watching. Against recorded outcomes the group therefore looks "
    "under-predicted, although against the family's true risk it is not (on the synthetic "
    "registry the generator's true probabilities show it). No model without protected "
    "inputs can pass that gate; it is the recorded label that is biased, not the model. "
    "Such a check can only be accepted on the record: a named waiver per check with a "
    "written reason and two approvers other than the trainer "
    "(`earlyrisk model promote VERSION --waive CHECK --reason TEXT`), never by configuration."
)


def _under_predicted(gate: GateFact) -> bool:
    """A failed observed / expected calibration check with more outcomes than expected."""
    calibration = ("top_band_oe", "calibration_in_the_large", "fairness_group_oe")
    if gate.outcome != "fail" or not gate.name.startswith(calibration):
        return False
    return gate.value is not None and gate.value > 1.0


def _gate_warning(gates: list[GateFact]) -> str | None:
    """One warning naming every blocking gate (performance, calibration, fairness, ...)."""
    failed = [g.name for g in gates if g.outcome == "fail" and not g.waived]
    unclear = [g.name for g in gates if g.outcome == "inconclusive" and not g.waived]
    if not failed and not unclear:
        return None
    listed = [*failed, *unclear]
    more = f" and {len(listed) - 12} more" if len(listed) > 12 else ""
    return (
        f"Of {len(gates)} promotion gates, {len(failed)} failed and {len(unclear)} were "
        "inconclusive (neither shown within the band nor clearly outside it); each blocks "
        "promotion to champion unless a named waiver accepts it: "
        + ", ".join(f"`{name}`" for name in listed[:12])
        + more
        + "."
    )


def _clean(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def fairness_facts_from_audit(
    result: AuditResult,
    outcomes: list[GateOutcome] | None = None,
    *,
    protected: Iterable[str] | None = None,
) -> FairnessFacts:
    """Summarise an audit (and its gate outcomes) for the card; suppressed groups left out.

    ``protected`` names the protected attributes (with or without the ``audit_`` prefix): a
    proxy of one is a limitation; a proxy of any other audit group is listed apart, because
    the proxy gate does not cover it (see :data:`PROXY_SCOPE`). Without ``protected`` (an
    audit of a score file, which knows no protected list) every flagged proxy is listed.
    """
    wanted = None if protected is None else {n for p in protected for n in (p, f"audit_{p}")}
    rows = result.by_group[
        (result.by_group["kind"] == "attribute") & ~result.by_group["suppressed"]
    ]
    groups = [
        GroupFact(
            attribute=str(row["attribute"]),
            group=str(row["group"]),
            n=int(row["n"]),
            is_reference=bool(row["is_reference"]),
            **{
                metric: _clean(row[metric]) if metric in row.index else None
                for metric in (
                    "selection_rate",
                    "fpr",
                    "fnr",
                    "precision",
                    "ece",
                    "observed_to_expected",
                )
            },
        )
        for _, row in rows.iterrows()
    ]
    flagged: list[str] = []
    others: list[str] = []
    if result.proxies is not None and not result.proxies.empty:
        for proxy in result.proxies[result.proxies["flagged"]].itertuples(index=False):
            text = (
                f"{proxy.feature} -> {proxy.attribute} (AUC {proxy.auc:.2f} for {proxy.auc_group})"
            )
            (flagged if wanted is None or proxy.attribute in wanted else others).append(text)
    checks = sort_checks(outcomes) if outcomes is not None else []
    failed = [o.message for o in checks if o.blocks and o.outcome is Outcome.FAIL]
    unclear = [o.message for o in checks if o.blocks and o.outcome is Outcome.INCONCLUSIVE]
    return FairnessFacts(
        rule=result.rule.describe(),
        attributes=list(result.attributes),
        references=dict(result.references),
        gates_passed=None if outcomes is None else not (failed or unclear),
        n_checks=0 if outcomes is None else len(outcomes),
        failed_checks=failed,
        inconclusive_checks=unclear,
        protected=sorted(protected or ()),
        audit_group_proxies=others,
        summary=summarize(result),
        groups=groups,
        min_group_size=result.min_group_size,
        n_suppressed=int(result.groupings["n_suppressed"].sum()),
        flagged_proxies=flagged,
    )


def write_model_card(card: ModelCard, directory: str | Path) -> tuple[Path, Path]:
    """Write ``model_card.json`` and ``model_card.md`` into ``directory`` (thin adapter)."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    json_path = target / "model_card.json"
    md_path = target / "model_card.md"
    json_path.write_text(card.to_json(), encoding="utf-8")
    md_path.write_text(card.to_markdown(), encoding="utf-8")
    return json_path, md_path


# --------------------------------------------------------------------------- decisions
DECISIONS_HEADING = "## Decisions"


def decisions_markdown(record: dict[str, Any]) -> str:
    """The card's "Decisions" section: the version's waivers, approvals and decisions.

    Built from the governance record (:mod:`training.governance_store`), so the card says
    who accepted which failed or inconclusive check, in their words, and who approved.
    """
    lines = [DECISIONS_HEADING, "", f"Trained by **{record['trained_by']}**."]
    blocking = record.get("blocking_checks", [])
    waived = {w["check"]: w for w in record.get("waivers", [])}
    lines.append("")
    if blocking:
        lines += ["| Check | Outcome | Waiver | Reason |", "|---|---|---|---|"]
        for check in blocking:
            w = waived.get(check["check"])
            by = f"{w['by']}, {w['at'][:10]}" if w else "**none**"
            reason = w["reason"].replace("|", "/") if w else ""
            lines.append(f"| {check['check']} | {check['outcome']} | {by} | {reason} |")
    else:
        lines.append("Every check passed: nothing needed a waiver.")
    lines.append("")
    approvals = record.get("approvals", [])
    if approvals:
        lines.append("Approved by:")
        lines += [f"- {a['by']} ({a['role']}), {a['at']}" for a in approvals]
    else:
        lines.append("No approvals yet.")
    decisions = record.get("decisions", [])
    if decisions:
        lines += ["", "| When | Act | Version | Before | By |", "|---|---|---|---|---|"]
        for d in decisions:
            lines.append(
                f"| {d['at']} | {d['action']} | {d['version']} | {d['previous'] or ''} "
                f"| {d['by']} |"
            )
    return "\n".join(lines) + "\n"


def with_decisions(
    markdown: str, card: dict[str, Any], record: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The card (Markdown, JSON document) with its "Decisions" section replaced by the
    record's: the section is always last, so it is cut at its heading and written anew."""
    head = markdown.split(f"\n{DECISIONS_HEADING}\n", 1)[0].rstrip("\n")
    text = (head + "\n\n" if head else "") + decisions_markdown(record)
    return text, {**card, "decisions": record}
