"""The two-person rule and the champion's timeline, on constructed facts (no MLflow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from training.governance import (
    Approval,
    Check,
    Decision,
    GovernanceRefusal,
    VersionFacts,
    Waiver,
    champion_on,
    check_approver,
    check_waiver,
    counted_approvals,
    outcome_of_gate,
    promotion_refusals,
    rollback_target,
    timeline,
)

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)
FAILED = (
    Check("auc_margin", "fail"),
    Check("ece", "pass"),
    Check("recall_parity.kz", "inconclusive"),
)


def _facts(**kw) -> VersionFacts:
    base = {"version": "2", "trained_by": "Dana", "created_at": T0, "checks": FAILED}
    return VersionFacts(**{**base, **kw})


def _approval(person: str, token: str, waived=frozenset(), minutes: int = 0) -> Approval:
    return Approval(person, token, "approver", T0 + timedelta(minutes=minutes), frozenset(waived))


def _waiver(check: str) -> Waiver:
    return Waiver(check, "the recorded label is biased", "Aru", "t-aru", T0)


def test_outcome_of_a_recorded_gate_is_pass_only_when_it_says_so():
    assert outcome_of_gate(1.0) == "pass"
    assert outcome_of_gate(0.0) == "fail"
    assert outcome_of_gate(None) == "inconclusive"
    assert outcome_of_gate(0.5) == "inconclusive"


def test_the_trainer_cannot_approve_their_own_version():
    with pytest.raises(GovernanceRefusal, match="Dana trained version 2"):
        check_approver(_facts(), person=" dana ", role="approver")
    check_approver(_facts(), person="Aru", role="approver")  # someone else may


def test_a_caseworker_or_a_nameless_token_cannot_approve():
    with pytest.raises(GovernanceRefusal, match="'caseworker' token cannot approve"):
        check_approver(_facts(), person="Aru", role="caseworker")
    with pytest.raises(GovernanceRefusal, match="names nobody"):
        check_approver(_facts(), person=" ", role="admin")


def test_one_person_approving_twice_counts_once():
    waived = {"auc_margin", "recall_parity.kz"}
    facts = _facts(
        waivers={c: _waiver(c) for c in waived},
        approvals={
            "t1": _approval("Aru", "t1", waived),
            "t2": _approval("ARU", "t2", waived, minutes=5),  # another token, same person
        },
    )
    assert len(counted_approvals(facts)) == 1
    assert any("1 of 2 approvals" in r for r in promotion_refusals(facts, champion="1"))


def test_two_others_with_every_check_waived_may_promote():
    waived = {"auc_margin", "recall_parity.kz"}
    facts = _facts(
        waivers={c: _waiver(c) for c in waived},
        approvals={"t1": _approval("Aru", "t1", waived), "t2": _approval("Bek", "t2", waived)},
    )
    assert promotion_refusals(facts, champion="1") == []


def test_an_unwaived_failed_check_is_refused_by_name():
    facts = _facts(
        waivers={"auc_margin": _waiver("auc_margin")},
        approvals={"t1": _approval("Aru", "t1"), "t2": _approval("Bek", "t2")},
    )
    (reason, *_) = promotion_refusals(facts, champion="1")
    assert "no waiver for recall_parity.kz (inconclusive)" in reason
    assert "auc_margin" not in reason


def test_an_approval_given_before_a_waiver_does_not_cover_it():
    facts = _facts(
        checks=(Check("auc_margin", "fail"),),
        waivers={"auc_margin": _waiver("auc_margin")},
        approvals={"t1": _approval("Aru", "t1"), "t2": _approval("Bek", "t2", {"auc_margin"})},
    )
    assert [a.person for a in counted_approvals(facts)] == ["Bek"]
    assert any("predate a waiver" in r for r in promotion_refusals(facts, champion=None))


def test_a_waiver_names_a_real_blocking_check_with_a_reason():
    with pytest.raises(GovernanceRefusal, match="no check 'nonsense'"):
        check_waiver(_facts(), "nonsense", "a reason long enough")
    with pytest.raises(GovernanceRefusal, match="'ece' of version 2 passed"):
        check_waiver(_facts(), "ece", "a reason long enough")
    with pytest.raises(GovernanceRefusal, match="needs a reason"):
        check_waiver(_facts(), "auc_margin", "ok")


def _changes():
    v1 = _facts(version="1", created_at=T0, gates_passed=True)
    v2 = _facts(version="2", created_at=T0 + timedelta(days=1))
    decisions = [
        Decision("promote", "2", T0 + timedelta(days=3), "Aru", "1"),
        Decision("retire", "3", T0 + timedelta(days=4), "Aru"),
        Decision("rollback", "1", T0 + timedelta(days=5), "Bek", "2"),
    ]
    return timeline([v1, v2], decisions)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(seconds=-1), None),
        (timedelta(0), "1"),
        (timedelta(days=3, seconds=-1), "1"),
        (timedelta(days=3), "2"),
        (timedelta(days=5, seconds=-1), "2"),
        (timedelta(days=5), "1"),
        (timedelta(days=30), "1"),
    ],
)
def test_champion_on_a_date_around_each_change(offset, expected):
    assert champion_on(_changes(), T0 + offset) == expected


def test_rollback_goes_to_the_champion_before_and_skips_retired_ones():
    changes = timeline(
        [
            _facts(version=v, created_at=T0 + timedelta(days=int(v)), gates_passed=True)
            for v in "123"
        ],
        [],
    )
    assert rollback_target(changes, champion="3") == "2"
    assert rollback_target(changes, champion="3", retired=["2"]) == "1"
    with pytest.raises(GovernanceRefusal, match="no earlier champion"):
        rollback_target(changes[:1], champion="1")
