"""The caseworker's worklist: the flagged families of the latest snapshot, as one list.

A pure function of the cases (:mod:`serving.store.cases`), the filters, today's date in the
service's zone and the families that contest a record: no scoring happens here (the
flagged families were scored once, as a batch, when the snapshot and model version were
first listed), so a page of a region with thousands of flagged families is one keyed read
and a sort.

Statuses (:data:`STATUSES`), each case has exactly one, the first that applies:

1. ``contested``: the family contests a record (a correction is open), from the
   ``open_contests`` callable the service is given (none: no family is contested);
2. ``follow_up_due``: the follow-up date set with the decision in force is today or past;
3. ``decided``: a decision is in force;
4. ``viewed``: a caseworker opened the family, nobody decided yet;
5. ``new``: flagged, not opened yet.

Filters are checked against what exists: an unknown status or level, a region outside the
caller's regions, a page past the end is a :class:`~serving.errors.RequestError` naming
the field and the values allowed (400).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, get_args

from serving.errors import RequestError
from serving.store.cases import Case, CaseStore, ListScope

WorklistStatus = Literal["new", "viewed", "decided", "follow_up_due", "contested"]
STATUSES: tuple[WorklistStatus, ...] = get_args(WorklistStatus)
LEVELS: tuple[str, ...] = ("high", "elevated", "low")
#: What the service is given to know which families contest a record (None: none do).
OpenContests = Callable[[Sequence[str]], set[str]]


@dataclass(frozen=True)
class WorklistQuery:
    """The filters and page a caseworker asked for (None: no filter)."""

    region: str | None = None
    level: str = "high"
    status: str | None = None
    page: int = 1
    page_size: int = 25


@dataclass(frozen=True)
class WorklistItem:
    """One family on the list, with its status as of today."""

    case: Case
    status: WorklistStatus
    days_flagged: int | None


@dataclass(frozen=True)
class Worklist:
    """One page of the list, the counts per status (before the status filter) and paging."""

    items: list[WorklistItem]
    counts: dict[str, int]
    total: int
    page: int
    pages: int
    query: WorklistQuery


def case_status(case: Case, *, today: date, contested: bool) -> WorklistStatus:
    """The case's status today (see the module docstring for the order)."""
    if contested:
        return "contested"
    if case.follow_up is not None and date.fromisoformat(case.follow_up) <= today:
        return "follow_up_due"
    return case.status


def days_since(first_flagged: str | None, today: date) -> int | None:
    """Whole days since the family was first flagged (None: never flagged)."""
    if first_flagged is None:
        return None
    return max((today - date.fromisoformat(first_flagged)).days, 0)


def check_query(query: WorklistQuery, *, allowed_regions: Sequence[str]) -> None:
    """Refuse a filter outside what exists, naming the field and the allowed values."""
    if query.region is not None and query.region not in allowed_regions:
        allowed = ", ".join(allowed_regions) or "(none)"
        raise RequestError("region", f"unknown region {query.region!r}; allowed: {allowed}")
    if query.level not in LEVELS:
        raise RequestError("level", f"unknown level {query.level!r}; allowed: {', '.join(LEVELS)}")
    if query.status is not None and query.status not in STATUSES:
        raise RequestError(
            "status", f"unknown status {query.status!r}; allowed: {', '.join(STATUSES)}"
        )
    if query.page < 1:
        raise RequestError("page", f"page {query.page} does not exist; allowed: 1 or more")


def build_worklist(
    cases: Iterable[Case],
    query: WorklistQuery,
    *,
    today: date,
    contested: set[str],
) -> Worklist:
    """The page of ``cases`` (already in the list's order: highest probability first) the
    query asks for; a page past the end is a RequestError naming ``page`` and the range."""
    items = [
        WorklistItem(
            case,
            case_status(case, today=today, contested=case.family_id in contested),
            days_since(case.first_flagged, today),
        )
        for case in cases
    ]
    counted = Counter(item.status for item in items)
    counts: dict[str, int] = {status: counted.get(status, 0) for status in STATUSES}
    if query.status is not None:
        items = [item for item in items if item.status == query.status]
    total = len(items)
    pages = max(1, -(-total // query.page_size))
    if query.page > pages:
        raise RequestError(
            "page", f"page {query.page} is past the end; allowed: 1 to {pages} ({total} families)"
        )
    start = (query.page - 1) * query.page_size
    return Worklist(
        items=items[start : start + query.page_size],
        counts=counts,
        total=total,
        page=query.page,
        pages=pages,
        query=query,
    )


def read_worklist(
    store: CaseStore,
    scope: ListScope,
    query: WorklistQuery,
    *,
    today: date,
    contested: set[str],
) -> Worklist:
    """:func:`build_worklist` read from the store: the counts grouped and one page read in
    SQL (LIMIT/OFFSET), so a region of thousands of flagged families costs two keyed reads,
    not a fetch of the whole list; the same statuses and refusals (a test holds them equal)."""
    day = today.isoformat()
    found = sorted(contested)
    grouped = store.status_counts(scope, today=day, contested=found)
    counts: dict[str, int] = {status: grouped.get(status, 0) for status in STATUSES}
    total = counts[query.status] if query.status in counts else sum(counts.values())
    pages = max(1, -(-total // query.page_size))
    if query.page > pages:
        raise RequestError(
            "page", f"page {query.page} is past the end; allowed: 1 to {pages} ({total} families)"
        )
    cases = store.page(
        scope,
        today=day,
        status=query.status,
        contested=found,
        limit=query.page_size,
        offset=(query.page - 1) * query.page_size,
    )
    items = [
        WorklistItem(
            case,
            case_status(case, today=today, contested=case.family_id in contested),
            days_since(case.first_flagged, today),
        )
        for case in cases
    ]
    return Worklist(
        items=items, counts=counts, total=total, page=query.page, pages=pages, query=query
    )


def contested_families(open_contests: OpenContests | None, family_ids: Sequence[str]) -> set[str]:
    """The families among family_ids with an open contest (none without a callable)."""
    if open_contests is None or not family_ids:
        return set()
    return set(open_contests(family_ids)) & set(family_ids)


def item_json(item: WorklistItem, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The language-free part of an item (the caller adds the words)."""
    case = item.case
    return {
        "family_id": case.family_id,
        "region": case.region,
        "score_id": case.score_id,
        "probability": case.probability,
        "risk_level": case.risk_level,
        "status": item.status,
        "first_flagged": case.first_flagged,
        "days_flagged": item.days_flagged,
        "follow_up": case.follow_up,
        **(extra or {}),
    }
