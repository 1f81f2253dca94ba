"""/family and the review page /review: records behind indicators, history, decisions,
sessions and CSRF, in three languages, in a real headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium; `make test` installs them when missing)."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import httpx
import pandas as pd
import pytest
from chromium_driver import chromium_driver, replaced
from serving_world import auth, review_sign_in

from features.catalogue import event_features
from serving.i18n.events import CHANNEL_NAME, DECISION_NAME, DOMAIN_NAME, EVENT_TYPE_NAME
from serving.i18n.page import PAGE
from serving.records import RECORD_COLUMNS, FamilyRecords, RecordsError, build_records
from serving.review import SESSION_COOKIE, csrf_for

# Screenshots go to docs/ when EARLYRISK_SCREENSHOTS=1 (to refresh the committed ones),
# else to a temporary folder: a test run leaves the repository unchanged.
DOCS = (
    Path(__file__).resolve().parents[2] / "docs"
    if os.environ.get("EARLYRISK_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="earlyrisk-screenshots-"))
)


# ---------------------------------------------------------------- records (no server)
def _events() -> pd.DataFrame:
    rows = [
        # family, role, type, detail, event, recorded, source, value
        ("A", "child", "school_absence", None, "2024-12-01", "2024-12-02", "edu", 1.0),
        ("A", "child", "school_absence", None, "2024-06-01", "2024-06-02", "edu", 1.0),  # old
        ("A", "child", "school_absence", None, "2024-12-20", "2025-01-05", "edu", 1.0),  # late
        ("A", "head", "utility_debt", None, "2024-11-01", "2024-11-01", "util", 5000.0),
        ("B", "head", "utility_debt", None, "2024-11-01", "2024-11-01", "util", 7000.0),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "family_id",
            "role",
            "event_type",
            "detail",
            "event_date",
            "recorded_date",
            "source",
            "value",
        ],
    )
    for column in ("event_date", "recorded_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def test_records_are_those_in_the_window_recorded_by_the_date():
    names = [s.name for s in event_features()]
    records = FamilyRecords(_events(), feature_names=names)
    got = records.for_family("A", "2024-12-31")
    absences = next(
        n
        for n in names
        if n in records.windows
        and records.windows[n].spec.event_types == ("school_absence",)
        and records.windows[n].days == 90
    )
    dates = [r["event_date"] for r in got[absences]]
    assert dates == ["2024-12-01"]  # the June one is outside 90 days, the late one unrecorded
    debt = next(n for n, w in records.windows.items() if w.spec.event_types == ("utility_debt",))
    assert [r["value"] for r in got[debt]] == [5000.0]  # never family B's
    assert set(got[debt][0]) == {
        "event_type",
        "detail",
        "event_date",
        "recorded_date",
        "source",
        "value",
        "child_age",  # null here: the frame has no ages (build_records adds them)
    }
    assert all(not v for v in records.for_family("nobody", "2024-12-31").values())


def test_records_of_the_registry_match_a_filter_per_indicator(small_registry_dir):
    """The one-pass lookup gives, for every family, what filtering the attributed events
    once per indicator (type, detail, role, recorded by as_of, within the window) gives."""
    from features.aggregations import lookback_days
    from features.engine import attribute_events
    from features.validation import load_validated

    raw = load_validated(small_registry_dir)
    events = attribute_events(raw.events, raw.memberships)
    names = [s.name for s in event_features()]
    records = FamilyRecords(
        events.loc[:, ["family_id", "role", *RECORD_COLUMNS]], feature_names=names
    )
    as_of = pd.Timestamp("2024-06-30")
    families = sorted(events["family_id"].astype(str).unique())[::7]
    checked = 0
    for name, window in records.windows.items():
        spec = window.spec
        mask = events["event_type"].isin(spec.event_types)
        mask &= (events["recorded_date"] <= as_of) & (events["event_date"] <= as_of)
        mask &= events["event_date"] > as_of - pd.Timedelta(
            days=lookback_days(spec.aggregation, spec.window_days or 1)
        )
        if spec.detail is not None:
            mask &= events["detail"].isin(spec.detail)
        if spec.person_roles is not None:
            mask &= events["role"].isin(spec.person_roles)
        expected = events.loc[mask].sort_values(["family_id", "event_date"], kind="stable")
        by_family = expected.groupby(expected["family_id"].astype(str))
        for family in families:
            got = records.for_family(family, "2024-06-30")[name]
            want = by_family.get_group(family) if family in by_family.groups else expected.iloc[:0]
            assert [r["event_date"] for r in got] == [
                str(d)[:10] for d in want["event_date"][::-1]
            ], (name, family)
            assert [r["source"] for r in got] == list(want["source"][::-1]), (name, family)
            checked += len(got)
    assert checked > 100  # the comparison saw records, not only empty lists


def test_records_from_another_raw_directory_are_refused(small_registry_dir):
    with pytest.raises(RecordsError, match="fingerprint"):
        build_records(
            small_registry_dir,
            as_of_dates=["2024-06-30"],
            feature_names=["econ_income_per_member_monthly"],
            expected_raw_sha256="0" * 64,
        )


def test_every_page_label_is_in_three_languages_without_placeholders():
    for key, texts in PAGE.items():
        assert set(texts) == {"en", "ru", "kk"}, key
        for lang, text in texts.items():
            assert (text.strip() and "TODO" not in text and text != texts["en"]) or lang == "en", (
                key,
                lang,
            )


# ---------------------------------------------------------------- a server with records
AS_OF = "2024-06-30"


@pytest.fixture(scope="module")
def registry_server(registry_world_server):
    """The session's server on a snapshot of the small registry, with its raw directory
    (so /family and /review show the records behind the indicators; conftest.py), and the
    family with the most recorded difficulties: its page shows records."""
    shared = registry_world_server
    return shared.server, shared.audit_log, shared.busiest


# ---------------------------------------------------------------- /family over HTTP
def test_family_shows_records_history_and_is_audited(registry_server, tokens):
    server, log, family = registry_server
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/score", json={"family_ids": [family]}, headers=auth(tokens["caseworker"]))
        response = client.post(
            "/family",
            json={"family_id": family, "lang": "ru"},
            headers=auth(tokens["caseworker"]),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["records_available"] and body["lang"] == "ru"
        with_records = [i for i in body["indicators"] if i["records"]]
        assert with_records, "the family with the most difficulties shows no record"
        for item in with_records:
            for record in item["records"]:
                assert record["recorded_date"] <= AS_OF and record["event_date"] <= AS_OF
                assert "person_id" not in record and "sex" not in record
        household = [i for i in body["indicators"] if i["domain"] == "household"]
        assert household and all(i["records"] == [] for i in household)
        assert body["history"][0]["endpoint"] == "score"
        # codes come with their words in the request's language (here Russian)
        assert body["history"][0]["endpoint_name"] == CHANNEL_NAME["score"]["ru"]
        assert all(i["domain_name"] == DOMAIN_NAME.get(i["domain"], {}).get("ru", i["domain"])
                   for i in body["indicators"])  # fmt: skip
        types = {r["event_type"] for item in with_records for r in item["records"]}
        for item in with_records:
            for record in item["records"]:
                assert record["event_name"].startswith(EVENT_TYPE_NAME[record["event_type"]]["ru"])
        # the review page shows the same records in words, never their codes
        review_sign_in(client, tokens["caseworker"])
        page = client.get("/review", params={"family_id": family, "lang": "kk"})
        assert page.status_code == 200, page.text
        records_html = page.text[page.text.index('id="reasons-h"') :]
        for event_type in types:
            assert EVENT_TYPE_NAME[event_type]["kk"] in records_html, event_type
            assert event_type not in records_html, event_type
    with sqlite3.connect(log) as conn:
        views = conn.execute("SELECT family_id FROM audit_entries WHERE kind = 'view'").fetchall()
    assert (family,) in views


def test_family_refusals_and_audit(real_server, serving_world, tokens):
    log = serving_world.root / "server" / "audit_log.sqlite"
    with httpx.Client(base_url=real_server.url, timeout=30) as client:
        client.post("/score", json={"family_ids": ["F00012"]}, headers=auth(tokens["caseworker"]))
        response = client.post(
            "/family",
            json={"family_id": "F00012", "lang": "ru"},
            headers=auth(tokens["caseworker"]),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["lang"] == "ru" and body["indicators"] and body["history"]
        assert body["history"][0]["endpoint"] == "score"
        first = body["indicators"][0]
        assert first["description"] and first["unit"] and first["value"]
        missing = client.post(
            "/family", json={"family_id": "nope"}, headers=auth(tokens["caseworker"])
        )
        assert missing.status_code == 404
        denied = client.post(
            "/family", json={"family_id": "F00012"}, headers=auth(tokens["auditor"])
        )
        assert denied.status_code == 403
        strict = client.post(
            "/family", json={"family_id": "F00012", "x": 1}, headers=auth(tokens["caseworker"])
        )
        assert strict.status_code == 400
    with sqlite3.connect(log) as conn:
        views = conn.execute(
            "SELECT family_id, endpoint FROM audit_entries WHERE kind = 'view'"
        ).fetchall()
    assert ("F00012", "family") in views and ("nope", "family") not in views


# ---------------------------------------------------------------- the page in a browser
def _after(driver, action) -> None:
    """Run an action that loads a page and wait (bounded) until the old page is gone, so
    what is read next is the new page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(driver, 60).until(replaced(old))


def _sign_in(driver, url: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/review?lang=en")
    driver.find_element(By.ID, "token").send_keys(token)
    button = driver.find_element(By.CSS_SELECTOR, "form[action='/review/signin'] button")
    _after(driver, button.click)


def _screenshot(driver, name: str) -> None:
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1366, min(int(height) + 100, 4000))
    driver.save_screenshot(str(DOCS / name))
    driver.set_window_size(1366, 900)


def test_review_page_in_a_real_browser(registry_server, tokens):
    from selenium.webdriver.common.by import By

    server, log, family = registry_server
    url = server.url
    driver = chromium_driver(1366, 900)
    try:
        # a wrong token is refused
        _sign_in(driver, url, "er_wrong.token")
        assert "refused" in driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
        assert driver.get_cookie(SESSION_COOKIE) is None
        # the right one signs in; the cookie is HttpOnly and SameSite=Strict
        _sign_in(driver, url, tokens["caseworker"])
        cookie = driver.get_cookie(SESSION_COOKIE)
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        _screenshot(driver, "review_signed_in.png")
        # find a family
        box = driver.find_element(By.ID, "family_id")
        box.send_keys(family)
        _after(driver, box.submit)
        assert family in driver.find_element(By.ID, "score-h").text
        assert driver.find_elements(By.CSS_SELECTOR, "section.need-group details ul.records li")
        assert driver.find_element(By.ID, "band-meaning").text
        assert driver.find_element(By.CSS_SELECTOR, "[role=note]").text  # advisory notice
        # the reasons in each language
        for lang, heading in (
            ("ru", PAGE["reasons_heading"]["ru"]),
            ("kk", PAGE["reasons_heading"]["kk"]),
            ("en", PAGE["reasons_heading"]["en"]),
        ):
            _after(driver, driver.find_element(By.CSS_SELECTOR, f"a[hreflang='{lang}']").click)
            assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
            assert driver.find_element(By.ID, "reasons-h").text == heading
        # the family page's screenshots (kk/ru/en, 360 and 1280 px) are taken by
        # tests/serving/test_family_page.py
        # record a decision: it shows in the history and the audit log
        driver.find_element(By.ID, "decision-referred").click()
        driver.find_element(By.ID, "reason").send_keys("referred to the family support centre")
        _after(
            driver,
            driver.find_element(By.CSS_SELECTOR, "form[action='/review/decision'] button").click,
        )
        assert driver.find_element(By.CSS_SELECTOR, "[role=status]").text == PAGE["recorded"]["en"]
        history = driver.find_element(By.ID, "history").text
        assert "referred to the family support centre" in history
        assert DECISION_NAME["referred"]["en"] in history
        with sqlite3.connect(log) as conn:
            rows = conn.execute(
                "SELECT kind, endpoint, decision FROM audit_entries WHERE family_id = ?",
                (family,),
            ).fetchall()
        assert ("feedback", "feedback", "referred") in rows
        assert ("view", "review", None) in rows and ("score", "review", None) in rows
        # a form without its CSRF value is refused, and records nothing
        before = len(rows)
        driver.execute_script(
            "document.querySelector(\"form[action='/review/decision'] input[name=csrf]\").remove()"
        )
        driver.find_element(By.ID, "decision-no_action").click()  # nothing is pre-selected
        driver.find_element(By.ID, "reason").send_keys("should not be recorded")
        _after(
            driver,
            driver.find_element(By.CSS_SELECTOR, "form[action='/review/decision'] button").click,
        )
        assert (
            PAGE["form_refused"]["en"] in driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
        )
        with sqlite3.connect(log) as conn:
            after = conn.execute(
                "SELECT COUNT(*) FROM audit_entries WHERE family_id = ? AND kind = 'feedback'",
                (family,),
            ).fetchone()[0]
        assert after == sum(1 for r in rows if r[0] == "feedback") and before == len(rows)
    finally:
        driver.quit()


def test_forms_need_their_csrf_value_and_a_session(real_server, tokens, serving_world):
    with httpx.Client(base_url=real_server.url, timeout=30) as client:
        signin = client.post("/review/signin", data={"token": tokens["caseworker"], "csrf": "x"})
        assert signin.status_code == 403  # the sign-in form's value must match its cookie
        nobody = client.post("/review/decision", data={"csrf": "x", "score_id": "s"})
        assert nobody.status_code == 401  # no session at all
        session_id = review_sign_in(client, tokens["caseworker"])
        page = client.get("/review")
        assert (
            page.status_code == 200
            and "default-src 'none'" in page.headers["content-security-policy"]
        )
        bad = client.post(
            "/review/decision",
            data={"csrf": "0" * 64, "score_id": "s", "family_id": "F1", "decision": "no_action"},
        )
        assert bad.status_code == 403
        good_csrf = client.post(
            "/review/decision",
            data={
                "csrf": csrf_for(session_id),
                "score_id": "not-a-score",
                "family_id": "F00011",
                "decision": "no_action",
                "reason": "x",
            },
        )
        assert good_csrf.status_code == 400  # past the CSRF check; the score is unknown
        # a token revoked after sign-in: its session is over at the next request
        doomed = serving_world.tokens().create("caseworker")
        client.cookies.clear()
        review_sign_in(client, doomed.token)
        assert serving_world.tokens().revoke(doomed.token_id)
        ended = client.get("/review")
        assert ended.status_code == 401 and "token" in ended.text


def test_an_ineligible_family_is_shown_without_an_estimate(real_server, tokens):
    """Design rule 10 on the page: a family outside the scored population gets the reason,
    no probability, level or decision form (there is no score to decide on)."""
    with httpx.Client(base_url=real_server.url, timeout=30) as client:
        review_sign_in(client, tokens["caseworker"])
        page = client.get("/review", params={"family_id": "F00109"})
        assert page.status_code == 200, page.text
        assert PAGE["ineligible"]["en"] in page.text and "no child under 18" in page.text
        assert 'id="probability"' not in page.text and "/review/decision" not in page.text
        scored = client.get("/review", params={"family_id": "F00003"})
        assert scored.status_code == 200
        assert 'id="probability"' in scored.text and PAGE["ineligible"]["en"] not in scored.text


def test_family_history_is_a_keyed_read_not_a_scan(tmp_path):
    """/family's p50 target needs the history read to use the audit log's family index."""
    from serving.store.audit_log import _FAMILY_HISTORY_SQL, ScoreRecord, open_audit_log

    log = open_audit_log(tmp_path / "audit_log.sqlite", new_log=True)
    record = ScoreRecord(
        "s1", "r1", "t1", "caseworker", "score", "F1", "2024-06-30", "1", 0.1, "low", []
    )
    log.record_scores([record])
    assert [e["score_id"] for e in log.family_history("F1")] == ["s1"]
    log.close()
    with sqlite3.connect(tmp_path / "audit_log.sqlite") as conn:
        plan = " | ".join(
            str(row[3])
            for row in conn.execute(f"EXPLAIN QUERY PLAN {_FAMILY_HISTORY_SQL}", ("F1", "F1", 50))
        )
    # every read of audit_entries is a keyed search of the family index, none a scan
    assert "SCAN audit_entries" not in plan, plan
    assert plan.count("audit_entries USING") == 2 and "INDEX audit_family_kind" in plan, plan
