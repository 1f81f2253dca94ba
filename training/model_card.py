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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field

from training.audit.summary import summarize

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
    "for those groups (surveillance bias).",
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
    failed_checks: list[str] = Field(default_factory=list)
    summary: list[str] = Field(default_factory=list)
    groups: list[GroupFact] = Field(default_factory=list)
    min_group_size: int = 11
    n_suppressed: int = 0
    flagged_proxies: list[str] = Field(default_factory=list)


class GateFact(_Facts):
    """One promotion gate of the run: its outcome, what it means and what was measured."""

    name: str
    status: str
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
    if fairness is None:
        warnings.append(
            "No fairness audit is recorded for this model: it must not be promoted or used."
        )
    else:
        if fairness.gates_passed is False:
            warnings.append(
                f"{len(fairness.failed_checks)} of {fairness.n_checks} fairness checks failed; "
                "the model must not be the champion until they pass: "
                + "; ".join(fairness.failed_checks[:10])
            )
        elif fairness.gates_passed is None:
            warnings.append("Fairness gates were not evaluated for this model.")
        if fairness.flagged_proxies:
            limitations.append(
                "Features that stand in for a protected attribute (proxy check): "
                + "; ".join(fairness.flagged_proxies)
                + ". The model may treat these groups differently through them."
            )
        if fairness.n_suppressed:
            limitations.append(
                f"{fairness.n_suppressed} audited group(s) had fewer than "
                f"{fairness.min_group_size} families and are not reported."
            )
    if facts.data.synthetic:
        warnings.append("Trained on synthetic data: for demonstration and testing only.")
    return ModelCard(facts=facts, known_biases=biases, limitations=limitations, warnings=warnings)


def _clean(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def fairness_facts_from_audit(
    result: AuditResult, outcomes: list[GateOutcome] | None = None
) -> FairnessFacts:
    """Summarise an audit (and its gate outcomes) for the card; suppressed groups left out."""
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
    if result.proxies is not None and not result.proxies.empty:
        for proxy in result.proxies[result.proxies["flagged"]].itertuples(index=False):
            flagged.append(
                f"{proxy.feature} -> {proxy.attribute} (AUC {proxy.auc:.2f} for {proxy.auc_group})"
            )
    failed = [o.message for o in outcomes if not o.passed] if outcomes is not None else []
    return FairnessFacts(
        rule=result.rule.describe(),
        attributes=list(result.attributes),
        references=dict(result.references),
        gates_passed=None if outcomes is None else not failed,
        n_checks=0 if outcomes is None else len(outcomes),
        failed_checks=failed,
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
