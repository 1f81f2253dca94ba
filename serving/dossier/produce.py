"""Produce an explanation record for a caller: find the score, re-derive it, word it,
render it, and put it on the audit log before handing it over (fail closed, like a score).

One :class:`DossierDesk` per engine (the HTTP service and ``earlyrisk dossier`` both use
it), holding the models of older logged scores and the support catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from serving.auth import Principal
from serving.dossier.build import DossierFacts, ModelVersions, derive, score_entry
from serving.dossier.document import dossier_document
from serving.dossier.render import Format, render
from serving.engine import ServingEngine
from serving.i18n import Language
from serving.support_catalogue import load_support_catalogue


@dataclass(frozen=True)
class Dossier:
    """A produced record: its bytes, media type, numbers and the audit entry's seq."""

    content: bytes
    media_type: str
    facts: DossierFacts
    audit_seq: int

    @property
    def score_id(self) -> str:
        return str(self.facts.entry["score_id"])


MEDIA_TYPES: dict[str, str] = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


class DossierDesk:
    """Makes explanation records from one engine's log, models and snapshot."""

    def __init__(
        self,
        engine: ServingEngine,
        *,
        contact: str | None = None,
        open_contests: Callable[[Sequence[str]], set[str]] | None = None,
        corrections_of: Callable[[str], list[dict[str, Any]]] | None = None,
    ) -> None:
        """``open_contests``: the families of a list with an open correction (the
        corrections store's ``open_contests``; None: no contests known), so a record says
        when the family's records are being corrected."""
        self.engine = engine
        self.models = ModelVersions(engine)
        self.catalogue = load_support_catalogue(engine.settings.support_catalogue_path)
        self.contact = contact
        self.open_contests = open_contests
        # the family's corrections filed through the service (the corrections store), so
        # the record lists what was contested and decided; None: none known
        self.corrections_of = corrections_of

    def facts(
        self,
        *,
        family_id: str | None,
        as_of: date | str | None,
        score_id: str | None,
        principal: Principal,
        request_id: str,
    ) -> DossierFacts:
        """The re-derived numbers of the score a dossier explains (no log entry yet)."""
        entry = score_entry(
            self.engine,
            family_id=family_id,
            as_of=as_of,
            score_id=score_id,
            principal=principal,
            request_id=request_id,
        )
        return derive(self.engine, entry, self.models)

    def produce(
        self,
        *,
        family_id: str | None,
        as_of: date | str | None = None,
        score_id: str | None = None,
        lang: Language,
        fmt: Format,
        principal: Principal,
        request_id: str,
        endpoint: str = "dossier",
    ) -> Dossier:
        """The record in ``lang`` and ``fmt``, logged as a ``dossier`` entry first."""
        facts = self.facts(
            family_id=family_id,
            as_of=as_of,
            score_id=score_id,
            principal=principal,
            request_id=request_id,
        )
        family = str(facts.entry["family_id"])
        contested = self.open_contests is not None and family in self.open_contests([family])
        corrections = [] if self.corrections_of is None else self.corrections_of(family)
        document = dossier_document(
            facts,
            lang=lang,
            records=self.engine.records,
            catalogue=self.catalogue,
            contact=self.contact,
            contested=contested,
            corrections=corrections,
        )
        content = render(document, fmt)
        seq = self.engine.audit_log.record_dossier(
            request_id=request_id,
            token_id=principal.token_id,
            role=principal.role,
            endpoint=endpoint,
            family_id=str(facts.entry["family_id"]),
            as_of=str(facts.entry["as_of"]),
            model_version=str(facts.entry["model_version"]),
            detail={
                "explains_score_id": facts.entry["score_id"],
                "lang": lang,
                "format": fmt,
                "numbers_sha256": facts.sha256,
                "what_would_change_found": facts.counterfactual.found,
                "contested": contested,
                "corrections": [c["correction_id"] for c in corrections],
            },
        )
        return Dossier(content, MEDIA_TYPES[fmt], facts, seq)
