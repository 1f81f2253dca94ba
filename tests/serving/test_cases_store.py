"""The case store (issue 21) on SQLite and on a real PostgreSQL server: one score per family,
snapshot and model version; one decision in force, each naming the one it superseded; a
form token records once; the flagged batch is claimed by one process; the worklist's
statuses and its refusals of bad filters and pages."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from serving.errors import RequestError
from serving.store.cases import CaseDecision, ListScope, NewCase, SqlCaseStore
from serving.store.connection import Database
from serving.worklist import STATUSES, WorklistQuery, build_worklist, check_query, read_worklist


def _case(family: str, probability: float, *, region: str = "North", version: str = "3",
          level: str = "high", first: str | None = "2026-11-01") -> NewCase:  # fmt: skip
    return NewCase(
        model_version=version,
        as_of="2024-12-31",
        family_id=family,
        region=region,
        score_id=f"s-{version}-{family}",
        probability=probability,
        risk_level=level,
        opened_at="2026-12-01T00:00:00+00:00",
        first_flagged=first,
    )


def _decision(seq: int, supersedes: int | None, *, follow_up: str | None = None) -> CaseDecision:
    return CaseDecision(
        audit_seq=seq,
        score_id="s-3-F1",
        decision="support_offered" if seq % 2 else "referred",
        reason=f"reason {seq}",
        token_id="abcabcabcabc",
        recorded_at=f"2026-12-0{seq}T08:00:00+00:00",
        follow_up=follow_up,
        supersedes_seq=supersedes,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        target: Database = Database(tmp_path / "cases.sqlite")
    else:
        target = Database(request.getfixturevalue("postgres_url"))
    opened = SqlCaseStore(target)
    yield opened
    opened.close()


def test_one_case_per_family_snapshot_and_model_version(store: SqlCaseStore) -> None:
    assert store.open_cases([_case("F1", 0.3), _case("F2", 0.5)]) == 2
    # a second open of the same case keeps the first score (no second score per case)
    again = _case("F1", 0.9)
    assert store.open_cases([again]) == 0
    case = store.get("3", "2024-12-31", "F1")
    assert case is not None and case.probability == pytest.approx(0.3) and case.status == "new"
    # another model version is another case; first_flagged is the earliest of the family's
    store.open_cases([_case("F1", 0.4, version="4", first="2026-12-05")])
    assert store.first_flagged(["F1", "F9"]) == {"F1": "2026-11-01"}
    assert store.by_score("s-4-F1") is not None and store.by_score("nope") is None
    assert store.family_ids("3", "2024-12-31") == {"F1", "F2"}
    # listing: highest probability first, by region and level
    store.open_cases([_case("F3", 0.7, region="South"), _case("F4", 0.1, level="low")])
    listed = store.listing("3", "2024-12-31", regions=None, level="high")
    assert [c.family_id for c in listed] == ["F3", "F2", "F1"]
    assert [c.family_id for c in store.listing("3", "2024-12-31", regions=["North"],
                                               level="high")] == ["F2", "F1"]  # fmt: skip
    assert store.listing("3", "2024-12-31", regions=[], level="high") == []
    # viewed once: a new case becomes viewed, a viewed one stays
    assert store.mark_viewed("3", "2024-12-31", "F1", at="2026-12-02T00:00:00+00:00")
    assert not store.mark_viewed("3", "2024-12-31", "F1", at="2026-12-03T00:00:00+00:00")


def test_one_decision_in_force_and_the_superseded_kept(store: SqlCaseStore) -> None:
    store.open_cases([_case("F1", 0.3)])
    store.record_decision("3", "2024-12-31", "F1", _decision(5, None))
    store.record_decision("3", "2024-12-31", "F1", _decision(7, 5, follow_up="2027-01-10"))
    case = store.get("3", "2024-12-31", "F1")
    assert case is not None
    assert (case.status, case.decision_seq, case.decision, case.follow_up) == (
        "decided",
        7,
        "support_offered",
        "2027-01-10",
    )
    history = store.decisions("3", "2024-12-31", "F1")
    assert [(d.audit_seq, d.supersedes_seq) for d in history] == [(5, None), (7, 5)]
    # a decision that arrives late (an earlier audit seq) is history, not in force
    store.record_decision("3", "2024-12-31", "F1", _decision(6, 5))
    case = store.get("3", "2024-12-31", "F1")
    assert case is not None and case.decision_seq == 7
    assert len(store.decisions("3", "2024-12-31", "F1")) == 3


def test_a_form_token_is_claimed_once_and_a_failed_one_given_back(store: SqlCaseStore) -> None:
    assert store.claim_form("tok-aaaaaaaaaaaaaaaa", at="t")
    assert not store.claim_form("tok-aaaaaaaaaaaaaaaa", at="t")  # the double submit
    store.release_form("tok-aaaaaaaaaaaaaaaa")  # nothing recorded: may be sent again
    assert store.claim_form("tok-aaaaaaaaaaaaaaaa", at="t")
    store.open_cases([_case("F1", 0.3)])
    store.record_decision(
        "3", "2024-12-31", "F1", _decision(5, None), form_token="tok-aaaaaaaaaaaaaaaa"
    )
    store.release_form("tok-aaaaaaaaaaaaaaaa")  # used for a decision: never given back
    assert not store.claim_form("tok-aaaaaaaaaaaaaaaa", at="t")


def test_the_flagged_batch_is_claimed_by_one_process(store: SqlCaseStore) -> None:
    assert store.batch_state("3", "2024-12-31") == "absent"
    assert store.claim_batch("3", "2024-12-31", at="t")
    assert not store.claim_batch("3", "2024-12-31", at="t")  # another replica
    assert store.batch_state("3", "2024-12-31") == "building"
    store.release_batch("3", "2024-12-31")  # it failed: the next request retries
    assert store.claim_batch("3", "2024-12-31", at="t")
    store.finish_batch("3", "2024-12-31", at="t2", families=12)
    assert store.batch_state("3", "2024-12-31") == "built"
    store.release_batch("3", "2024-12-31")  # a finished batch is never given back
    assert store.batch_state("3", "2024-12-31") == "built"


def test_worklist_statuses_counts_and_bad_filters(store: SqlCaseStore) -> None:
    store.open_cases([_case(f"F{i}", i / 10) for i in range(1, 8)])
    store.mark_viewed("3", "2024-12-31", "F7", at="t")
    store.record_decision("3", "2024-12-31", "F6", _decision(1, None))
    store.record_decision("3", "2024-12-31", "F5", _decision(2, None, follow_up="2026-12-07"))
    store.record_decision("3", "2024-12-31", "F4", _decision(3, None, follow_up="2026-12-08"))
    cases = store.listing("3", "2024-12-31", regions=None, level="high")
    today = date(2026, 12, 7)
    page = build_worklist(cases, WorklistQuery(page_size=3), today=today, contested={"F3"})
    assert page.counts == {
        "new": 2,  # F1, F2
        "viewed": 1,
        "decided": 2,  # F6, and F4 whose follow-up is tomorrow
        "follow_up_due": 1,  # F5: due today
        "contested": 1,
    }
    assert [i.case.family_id for i in page.items] == ["F7", "F6", "F5"]
    assert (page.total, page.pages) == (7, 3)
    assert page.items[0].days_flagged == 36
    due = build_worklist(cases, WorklistQuery(status="follow_up_due"), today=today, contested=set())
    assert [i.case.family_id for i in due.items] == ["F5"] and due.counts["contested"] == 0
    with pytest.raises(RequestError, match=r"page: page 4 is past the end; allowed: 1 to 3"):
        build_worklist(cases, WorklistQuery(page=4, page_size=3), today=today, contested=set())
    with pytest.raises(RequestError, match=r"status: unknown status 'done'; allowed: new, "):
        check_query(WorklistQuery(status="done"), allowed_regions=["North"])
    with pytest.raises(RequestError, match=r"region: unknown region 'West'; allowed: North"):
        check_query(WorklistQuery(region="West"), allowed_regions=["North"])
    with pytest.raises(RequestError, match=r"level: unknown level 'urgent'; allowed: high"):
        check_query(WorklistQuery(level="urgent"), allowed_regions=["North"])


def test_the_sql_worklist_is_the_worklist(store: SqlCaseStore) -> None:
    """What the service reads (counts grouped, one page by LIMIT/OFFSET in SQL) is what the
    pure definition gives on the whole list, for every status, region and page."""
    store.open_cases(
        [_case(f"F{i:02d}", round(1 - i / 50, 3), region="North" if i % 3 else "South")
         for i in range(30)]
    )  # fmt: skip
    for i, family in enumerate(["F01", "F04", "F07", "F10"]):
        store.record_decision(
            "3", "2024-12-31", family,
            _decision(i + 1, None, follow_up=["2026-12-06", "2026-12-07", "2026-12-09", None][i]),
        )  # fmt: skip
    store.mark_viewed("3", "2024-12-31", "F02", at="t")
    today, contested = date(2026, 12, 7), {"F04", "F05", "F29"}
    for regions in (None, ["North"], ["South"]):
        scope = ListScope("3", "2024-12-31", "high", regions)
        everything = store.listing("3", "2024-12-31", regions=regions, level="high")
        for status in (None, *STATUSES):
            for page in (1, 2):
                query = WorklistQuery(status=status, page=page, page_size=4)
                try:
                    expected = build_worklist(everything, query, today=today, contested=contested)
                except RequestError as exc:
                    with pytest.raises(RequestError, match="past the end"):
                        read_worklist(store, scope, query, today=today, contested=contested)
                    assert "past the end" in str(exc)
                    continue
                got = read_worklist(store, scope, query, today=today, contested=contested)
                assert got.counts == expected.counts, (regions, status)
                assert (got.total, got.pages) == (expected.total, expected.pages)
                assert [(i.case.family_id, i.status) for i in got.items] == [
                    (i.case.family_id, i.status) for i in expected.items
                ], (regions, status, page)
