"""One item per record type on the family page: the needs read from the same records.

The catalogue describes some record types by several indicators: school absences by the
days missed in the last 90 days, their change, the children absent, the worst month and,
since issue 25, the days missed over 3 years; missed vaccinations in the household over
12 months and 3 years and the children with one. Shown as needs of their own, a caseworker
read the same absences up to five times, each with its own records link and programmes,
and the family page grew past its 4,000 px bound once the 3-year counts came in. A
caseworker acts on "school absences", not on five statistics of them.

So the review page shows the needs that read the same event types (in the same area) as
one item: the one that raised the estimate most leads, the others are named under it,
each with its own value and effect, and the item holds their records and programmes.
Nothing is hidden (every need shown keeps its description, value and effect on the page),
and the model and its reasons (``needs_raising`` in the API) are unchanged: this is layout.

Pure: names and numbers in, names out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from features.catalogue import FEATURES


def records_key(name: str) -> tuple[str, tuple[str, ...]] | None:
    """The record type a need reads: its area and event types; None for an indicator that
    is not a need (context and support are never reasons) or is not in the catalogue."""
    spec = FEATURES.get(name)
    if spec is None or spec.kind != "need" or spec.is_household:
        return None
    return spec.domain, tuple(sorted(spec.event_types))


def same_records(a: str, b: str) -> bool:
    """Whether needs ``a`` and ``b`` read the same record type (one item on the page)."""
    key = records_key(a)
    return key is not None and key == records_key(b)


def need_items(names: Sequence[str], effect: Callable[[str], float]) -> list[list[str]]:
    """The shown needs ``names`` as page items, each a list of names, the leading one first.

    Needs of one record type (:func:`same_records`) share an item; in it they are ordered
    by effect (largest first, ties by name), so the one that raised the estimate most
    leads. Items keep the order of their first name in ``names``."""
    items: dict[object, list[str]] = {}
    for name in dict.fromkeys(names):
        key = records_key(name)
        items.setdefault(name if key is None else key, []).append(name)
    return [sorted(item, key=lambda n: (-effect(n), n)) for item in items.values()]
