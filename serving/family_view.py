"""What ``/family`` and the review page show of one family, in the caseworker's language.

:func:`indicator_rows` turns the family's snapshot row and its records into the indicator
list; :func:`history_rows` turns the audit log's history into the score history. Codes stay
in the response (``event_type``, ``source``, ``domain``, ``endpoint``, ``decision``) next to
their words (``event_name``, ``source_name``, ``domain_name``, ``endpoint_name``,
``decision_name``), so a caseworker system can use either.

The texts that do not depend on the family (an indicator's description, kind and domain in
a language; a record type's words) are computed once and cached: a family view is then the
family's values, records and history, not a re-translation of the catalogue per request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from serving.expiry import shown_level
from serving.explain import IndicatorInfo
from serving.i18n import (
    Language,
    channel_name,
    decision_name,
    describe_indicator,
    domain_name,
    event_name,
    format_value,
    kind_name,
    level_name,
    rounded_value,
    source_name,
)


@lru_cache(maxsize=4096)
def _record_words(
    event_type: str, detail: str | None, source: str, lang: Language
) -> tuple[str, str]:
    return event_name(event_type, detail, lang), source_name(source, lang)


@lru_cache(maxsize=1024)
def _indicator_texts(
    name: str, kind: str, domain: str, unit: str, lang: Language
) -> dict[str, Any]:
    """An indicator's fixed words in lang (the same for every family)."""
    return {
        "indicator": name,
        "kind": kind,
        "kind_name": kind_name(kind, lang),
        "domain": domain,
        "domain_name": domain_name(domain, lang),
        "description": describe_indicator(name, lang),
        "unit": unit,
    }


def named_records(records: Iterable[dict[str, Any]], lang: Language) -> list[dict[str, Any]]:
    """The records with their event and source in words (each dict once, in place: a record
    behind several indicators is one dict)."""
    out = []
    for record in records:
        if "event_name" not in record:
            record["event_name"], record["source_name"] = _record_words(
                record["event_type"], record["detail"], record["source"], lang
            )
        out.append(record)
    return out


def indicator_rows(
    *,
    names: Sequence[str],
    values: Sequence[float],
    info: Mapping[str, IndicatorInfo],
    records: Mapping[str, list[dict[str, Any]]] | None,
    lang: Language,
) -> list[dict[str, Any]]:
    """The family's model inputs as a caseworker reads them, each with its records (None
    for every indicator when the service holds no records)."""
    rows = []
    for name, value in zip(names, values, strict=True):
        spec = info[name]
        number = None if math.isnan(value) else float(value)
        rows.append(
            {
                **_indicator_texts(name, spec.kind, spec.domain, spec.unit, lang),
                "value": format_value(name, number, unit=spec.unit, lang=lang),
                "value_number": rounded_value(number, spec.unit),
                "records": None if records is None else named_records(records.get(name, ()), lang),
            }
        )
    return rows


def history_rows(
    entries: Iterable[dict[str, Any]],
    lang: Language,
    *,
    digits: int,
    today: date,
    expiry_days: int,
) -> list[dict[str, Any]]:
    """The family's scores (newest first) with the decisions on each, in words; the
    probability rounded to ``digits`` like every served probability, and the level of a
    score on data older than ``expiry_days`` on ``today`` shown as expired
    (:mod:`serving.expiry`)."""
    shown = [
        {
            **entry,
            "risk_level": shown_level(
                entry["risk_level"], entry["as_of"], today=today, days=expiry_days
            ),
        }
        for entry in entries
    ]
    return [
        {
            "score_id": entry["score_id"],
            "recorded_at": entry["recorded_at"],
            "endpoint": entry["endpoint"],
            "endpoint_name": channel_name(str(entry["endpoint"]), lang),
            "as_of": entry["as_of"],
            "model_version": entry["model_version"],
            "probability": None
            if entry["probability"] is None
            else round(float(entry["probability"]), digits),
            "risk_level": entry["risk_level"],
            "risk_level_name": level_name(str(entry["risk_level"]), lang),
            "decisions": [
                {
                    "seq": d["seq"],
                    "recorded_at": d["recorded_at"],
                    "decision": d["decision"],
                    "decision_name": decision_name(str(d["decision"]), lang),
                    "reason": d["reason"],
                    "token_id": d["token_id"],
                    "current": d["current"],
                }
                for d in entry["decisions"]
            ],
        }
        for entry in shown
    ]
