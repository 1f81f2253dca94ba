"""The family page's needs: what a caseworker can act on, grouped by area, urgent first.

:func:`needs_page` turns a family view (:meth:`serving.engine.ServingEngine.family`) and
its score into what the review page shows:

* every need that raised the estimate by at least the threshold (the score's
  ``needs_raising``, never cut to the API's top five), grouped by area (domain);
* **acute** needs first, and always: a need indicator with a record of an acute event type
  (:data:`features.contract.ACUTE_EVENT_TYPES`: domestic violence, eviction,
  homelessness, addiction or mental-health treatment, a child's injury) dated within
  :data:`features.contract.ACUTE_WINDOW_DAYS` of the data date is shown even when the model
  gave it less than the threshold, because a caseworker must see a violence report of last
  week whatever the model thinks of it. Without records on the server, an acute
  "days since" indicator at most 90 days is acute;
* each need with its value, its effect, its records (value with its unit, the child by age,
  never by name, dates per locale) and the support programmes that answer it
  (:mod:`serving.support_catalogue`);
* each record once: a record behind several indicators is listed under the first, and the
  others point to it (pages were 10,000+ px tall when every indicator repeated its records);
* on the review page, one item per record type: the needs read from the same records
  (school days missed over 90 days and over 3 years, the children absent) together, the
  strongest leading, the others named under it with their values and effects
  (:mod:`serving.need_items`);
* the split ``baseline + needs + context = probability`` for the small bar.

Pure: dicts in, dicts out, no I/O; the template only lays it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from features.catalogue import FEATURES
from features.contract import ACUTE_EVENT_TYPES, ACUTE_WINDOW_DAYS, EVENT_TYPES
from serving.i18n import Language, domain_name, format_value
from serving.i18n import locale_format as fmt
from serving.i18n.page import page_text
from serving.need_items import need_items
from serving.support_catalogue import SupportCatalogue

#: A band narrower than this (probability units) is not shown: it holds no family a
#: caseworker could tell apart from its neighbours (0.1166-0.1171 was one).
MIN_BAND_WIDTH = 0.005
_ACUTE_DAYS_SINCE = {
    name
    for name, spec in FEATURES.items()
    if spec.aggregation == "days_since_last" and set(spec.event_types) & set(ACUTE_EVENT_TYPES)
}


def _record_unit(event_type: str) -> str | None:
    """The unit of a record's value, from the contract's description of it."""
    meaning = EVENT_TYPES[event_type].value if event_type in EVENT_TYPES else None
    if meaning is None:
        return None
    if "KZT" in meaning:
        return "KZT"
    if "days" in meaning:
        return "days"
    if "per room" in meaning:
        return "persons per room"
    return "count"


def record_text(record: Mapping[str, Any], lang: Language) -> str:
    """One record in words: event, date, value with its unit, the child by age, source."""
    text = page_text("record_entry", lang).format(
        event_name=record["event_name"],
        event_date=fmt.day(record["event_date"], lang),
        recorded_date=fmt.day(record["recorded_date"], lang),
        source_name=record["source_name"],
    )
    extra = []
    unit = _record_unit(str(record["event_type"]))
    if unit is not None and record.get("value") is not None:
        value = format_value("record", float(record["value"]), unit=unit, lang=lang)
        extra.append(page_text("record_value", lang).format(value=value))
    if record.get("child_age") is not None:
        extra.append(page_text("record_child", lang).format(age=int(record["child_age"])))
    return "; ".join([text, *extra])


def is_acute(indicator: Mapping[str, Any], as_of: str) -> bool:
    """Whether a need indicator is acute on as_of (see the module docstring)."""
    spec = FEATURES.get(str(indicator["indicator"]))
    if spec is None or spec.kind != "need":
        return False
    day = date.fromisoformat(as_of[:10])
    records = indicator.get("records")
    if records is None:  # no records on this server: the "days since" indicators say it
        number = indicator.get("value_number")
        return spec.name in _ACUTE_DAYS_SINCE and number is not None and number <= ACUTE_WINDOW_DAYS
    return any(
        r["event_type"] in ACUTE_EVENT_TYPES
        and (day - date.fromisoformat(str(r["event_date"])[:10])).days < ACUTE_WINDOW_DAYS
        for r in records
    )


class _Records:
    """Each record once: the first indicator lists it, later ones name that indicator."""

    def __init__(self, lang: Language) -> None:
        self.lang = lang
        self.first: dict[int, str] = {}

    def take(self, indicator: Mapping[str, Any]) -> dict[str, Any]:
        records = indicator.get("records")
        if records is None:
            return {"records": None, "records_count": 0, "records_ref": None}
        new, earlier = [], None
        for record in records:
            if id(record) in self.first:
                earlier = earlier or self.first[id(record)]
                continue
            self.first[id(record)] = str(indicator["description"])
            new.append(record_text(record, self.lang))
        ref = (
            page_text("records_shown_above", self.lang).format(indicator=earlier)
            if earlier
            else None
        )
        return {"records": new, "records_count": len(records), "records_ref": ref}


def needs_page(
    view: Mapping[str, Any],
    score: Mapping[str, Any],
    *,
    lang: Language,
    catalogue: SupportCatalogue,
    one_item_per_record_type: bool = False,
) -> dict[str, Any]:
    """The needs (grouped, acute first), the other indicators and the split of a scored
    family, in lang.

    ``one_item_per_record_type`` (the review page): the needs that read the same record
    type are one item (:mod:`serving.need_items`): the strongest leads, the others are in
    its ``beside`` with their values and effects, their records and programmes are the
    item's. The dossier lists every need on its own line."""
    indicators = {str(row["indicator"]): row for row in view["indicators"]}
    raising = {str(r["indicator"]): r for r in score.get("needs_raising", [])}
    acute = {n for n, row in indicators.items() if is_acute(row, str(view["as_of"]))}
    shown = [n for n in indicators if n in raising or n in acute]
    records = _Records(lang)

    def effect(name: str) -> float:
        return float(raising[name]["contribution"]) if name in raising else 0.0

    items = need_items(shown, effect) if one_item_per_record_type else [[n] for n in shown]
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(
        items,
        key=lambda ns: (not any(n in acute for n in ns), -sum(map(effect, ns)), ns[0]),
    ):
        name, row = item[0], indicators[item[0]]
        groups.setdefault(str(row["domain"]), []).append(
            {
                "indicator": name,
                "description": row["description"],
                "value": row["value"],
                "acute": any(n in acute for n in item),
                "effect": raising[name]["contribution_text"] if name in raising else None,
                "beside": [_beside(indicators[n], raising.get(n)) for n in item[1:]],
                "item_effect": sum(map(effect, item)),
                **records.take(_with_records_of(row, [indicators[n] for n in item[1:]])),
                "programmes": list(
                    dict.fromkeys(
                        code
                        for n in item
                        for code in catalogue.for_need(n, str(indicators[n]["domain"]))
                    )
                ),
            }
        )
    ordered = sorted(
        groups.items(),
        key=lambda kv: (
            not any(n["acute"] for n in kv[1]),
            -sum(n["item_effect"] for n in kv[1]),
        ),
    )
    others = [{**row, **records.take(row)} for name, row in indicators.items() if name not in shown]
    return {
        "groups": [
            {
                "domain": domain,
                "domain_name": domain_name(domain, lang),
                "needs": needs,
                "programmes": _programmes(needs, catalogue, lang),
            }
            for domain, needs in ordered
        ],
        "others": others,
        "split": split(score, lang),
        "bands": visible_bands(score.get("risk_bands", [])),
    }


def _beside(row: Mapping[str, Any], reason: Mapping[str, Any] | None) -> dict[str, Any]:
    """A need shown under the one leading its item: its words, value and effect."""
    return {
        "indicator": row["indicator"],
        "description": row["description"],
        "value": row["value"],
        "effect": None if reason is None else reason["contribution_text"],
    }


def _with_records_of(
    row: Mapping[str, Any], others: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any]:
    """``row`` holding its own records, then those of ``others`` it lacks (each once)."""
    if not others or row.get("records") is None:
        return row
    records = list(row["records"])
    seen = {id(r) for r in records}
    for other in others:
        for record in other.get("records") or ():
            if id(record) not in seen:
                seen.add(id(record))
                records.append(record)
    return {**row, "records": records}


def _programmes(
    needs: Sequence[Mapping[str, Any]], catalogue: SupportCatalogue, lang: Language
) -> list[dict[str, str]]:
    """The programmes answering a group's needs, each once, in the needs' order (so an
    acute need's programme comes first), with the needs each answers."""
    order: dict[str, list[str]] = {}
    for need in needs:
        for code in need["programmes"]:
            order.setdefault(code, []).append(str(need["description"]))
    return [
        {
            "code": code,
            "name": catalogue.programmes[code].name[lang],
            "what": catalogue.programmes[code].what[lang],
        }
        for code in order
    ]


def split(score: Mapping[str, Any], lang: Language) -> dict[str, Any]:
    """baseline + needs + context = probability, as numbers and words, with the bar's
    segments on a 0-100 scale (start and width of each, and its sign)."""
    baseline = float(score["baseline_probability"])
    by_kind = score.get("contribution_by_kind", {})
    needs = float(by_kind.get("need", 0.0))
    context = float(by_kind.get("context", 0.0)) + float(by_kind.get("support", 0.0))
    probability = float(score["probability"])
    top = max(baseline, baseline + needs, probability, 1e-9)
    points = [0.0, baseline, baseline + needs, probability]

    def segment(a: float, b: float) -> dict[str, float]:
        lo, hi = sorted((max(a, 0.0), max(b, 0.0)))
        return {"x": round(100 * lo / top, 2), "width": round(100 * (hi - lo) / top, 2)}

    return {
        "baseline": fmt.percent(baseline, lang),
        "needs": fmt.points(needs, lang),
        "context": fmt.points(context, lang),
        "probability": fmt.percent(probability, lang),
        "segments": {
            "baseline": segment(points[0], points[1]),
            "needs": {**segment(points[1], points[2]), "up": needs >= 0},
            "context": {**segment(points[2], points[3]), "up": context >= 0},
        },
    }


def visible_bands(bands: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The bands worth showing: an empty one (no family in it) or a degenerate one
    (narrower than :data:`MIN_BAND_WIDTH`) is left out."""
    out = []
    for band in bands:
        upper = band.get("max_probability")
        width = (1.0 if upper is None else float(upper)) - float(band["min_probability"])
        if width >= MIN_BAND_WIDTH and int(band.get("families", 1)) > 0:
            out.append(band)
    return out
