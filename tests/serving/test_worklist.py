"""The caseworker's worklist and cases on a real server (issue 21, items 1, 2 and 8):
``POST /worklist`` (scope, quota, bad input), the family scored once per snapshot and
model version (views reuse the score), one decision in force naming the one it superseded,
a double submit recorded once, follow-ups, and the whole path in headless Chromium
(sign in -> worklist -> family -> decision -> the worklist's status changed) in kk, ru and
en at 360 and 1280 px, with screenshots (docs/worklist_*.png, EARLYRISK_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from chromium_driver import chromium_driver, replaced
from serving_world import auth, review_sign_in

from serving.i18n.events import DECISION_NAME
from serving.i18n.page import PAGE
from serving.i18n.worklist_words import STATUS_NAME, WORKLIST
from serving.local_server import LocalServer

pytestmark = [pytest.mark.server, pytest.mark.slow]

CAPACITY = 40  # flagged families of the latest snapshot (the "high" band)
REQUESTS_PER_MINUTE = 60
FAMILIES_PER_MINUTE = 30  # fewer than the flagged families: a worklist is one request
LANGS = ("kk", "ru", "en")
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs"
    if os.environ.get("EARLYRISK_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="earlyrisk-worklist-shots-"))
)


@pytest.fixture(scope="module")
def worklist_server(serving_world, tmp_path_factory) -> Iterator[tuple[LocalServer, Path]]:
    """A real server on the world with its own audit log and cases, 40 flagged families and
    low quotas (each test uses its own tokens, so the quotas are each test's own)."""
    from serving.local_server import begin_audit_log, start_local_server

    root = tmp_path_factory.mktemp("worklist_server")
    env = {
        **serving_world.env,
        "EARLYRISK_AUDIT_LOG_PATH": str(root / "audit_log.sqlite"),
        "EARLYRISK_LOOKUP_DB_PATH": str(root / "lookup.sqlite"),
        "EARLYRISK_SECURITY_LOG_PATH": str(root / "security_log.sqlite"),
        "EARLYRISK_CAPACITY_COUNT": str(CAPACITY),
        "EARLYRISK_QUOTA_REQUESTS_PER_MINUTE": str(REQUESTS_PER_MINUTE),
        "EARLYRISK_QUOTA_FAMILIES_PER_MINUTE": str(FAMILIES_PER_MINUTE),
        "EARLYRISK_AUTH_FAILURE_LIMIT": "1000000",
        "EARLYRISK_WORKLIST_PAGE_SIZE": "10",
        "EARLYRISK_TIME_ZONE": "Asia/Almaty",
        "BENTOML_HOME": str(root / "bentoml_home"),
    }
    begin_audit_log(env)
    server = start_local_server(env, root / "bentoml.log")
    try:
        yield server, root / "audit_log.sqlite"
    finally:
        server.stop()


def _token(serving_world, **kwargs) -> tuple[str, str]:
    issued = serving_world.tokens().create("caseworker", **kwargs)
    return issued.token, issued.token_id


def _rows(log: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(log) as conn:
        return conn.execute(sql, params).fetchall()


def _almaty_today() -> date:
    return datetime.now(ZoneInfo("Asia/Almaty")).date()


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, name
    return found.group(1)


# ---------------------------------------------------------------- POST /worklist
def test_worklist_lists_the_flagged_families_of_the_token_regions(worklist_server, serving_world):
    server, log = worklist_server
    everywhere, _ = _token(serving_world)
    north, _ = _token(serving_world, regions=["North"])
    with httpx.Client(base_url=server.url, timeout=120) as client:
        first = client.post("/worklist", json={"page_size": 100}, headers=auth(everywhere))
        assert first.status_code == 200, first.text
        body = first.json()
        again = client.post("/worklist", json={"page_size": 100}, headers=auth(everywhere))
        scoped = client.post(
            "/worklist", json={"page_size": 100, "lang": "ru"}, headers=auth(north)
        ).json()
        page2 = client.post("/worklist", json={"page": 2}, headers=auth(everywhere)).json()
    items = body["items"]
    assert body["regions"] == ["North", "South"] and body["time_zone"] == "Asia/Almaty"
    assert CAPACITY - 5 <= body["total"] <= CAPACITY + 5 and len(items) == body["total"]
    probabilities = [i["probability"] for i in items]
    assert probabilities == sorted(probabilities, reverse=True)
    assert {i["risk_level"] for i in items} == {"high"}
    assert body["counts"]["new"] == body["total"] and body["filters"]["level"] == "high"
    assert all(i["days_flagged"] == 0 and i["decision"] is None for i in items)
    # the flagged families were scored once, as one batch; the second call scored nobody
    batch = _rows(log, "SELECT family_id FROM audit_entries WHERE endpoint = 'worklist'")
    assert sorted(f for (f,) in batch) == sorted(i["family_id"] for i in items)
    assert again.json()["items"] == items
    # a token of one region sees that region only (in its language)
    assert scoped["regions"] == ["North"] and scoped["lang"] == "ru"
    assert {i["region"] for i in scoped["items"]} == {"North"}
    assert [i["family_id"] for i in scoped["items"]] == [
        i["family_id"] for i in items if i["region"] == "North"
    ]
    assert scoped["items"][0]["status_name"] == STATUS_NAME["new"]["ru"]
    # paging: the server's page size (10), page 2 is the next ten
    assert page2["page_size"] == 10 and page2["pages"] == -(-body["total"] // 10)
    assert [i["family_id"] for i in page2["items"]] == [i["family_id"] for i in items[10:20]]


def test_worklist_refuses_bad_filters_naming_the_field_and_the_allowed_values(
    worklist_server, serving_world, tokens
):
    server, _ = worklist_server
    north, _ = _token(serving_world, regions=["North"])
    with httpx.Client(base_url=server.url, timeout=120, headers=auth(north)) as client:
        region = client.post("/worklist", json={"region": "South"})
        status = client.post("/worklist", json={"status": "done"})
        level = client.post("/worklist", json={"level": "urgent"})
        past = client.post("/worklist", json={"page": 99})
        zero = client.post("/worklist", json={"page": 0})
        unknown = client.post("/worklist", json={"sort": "name"})
        auditor = client.post("/worklist", json={}, headers=auth(tokens["auditor"]))
        nobody = client.post("/worklist", json={}, headers={"Authorization": ""})
    assert region.status_code == 400 and "region" in region.json()["error"]
    assert "unknown region 'South'; allowed: North" in region.json()["error"]
    assert status.status_code == 400 and "status" in status.json()["error"]
    assert "'follow_up_due'" in status.json()["error"] and "'contested'" in status.json()["error"]
    assert level.status_code == 400 and "'elevated'" in level.json()["error"]
    assert past.status_code == 400
    assert re.search(r"page: page 99 is past the end; allowed: 1 to \d+", past.json()["error"])
    assert zero.status_code == 400 and "page" in zero.json()["error"]
    assert unknown.status_code == 400 and "sort" in unknown.json()["error"]
    assert auditor.status_code == 403 and nobody.status_code == 401


def test_a_worklist_is_one_request_of_the_quota(worklist_server, serving_world):
    """The list names more families than the families quota allows a minute: it is one
    request, never counted as families; the requests quota still stops a flood."""
    server, _ = worklist_server
    token, _ = _token(serving_world)
    with httpx.Client(base_url=server.url, timeout=120, headers=auth(token)) as client:
        listed = client.post("/worklist", json={"page_size": 100})
        assert listed.status_code == 200 and listed.json()["total"] > FAMILIES_PER_MINUTE
        ids = [f"F{i:05d}" for i in range(FAMILIES_PER_MINUTE + 1)]
        too_many = client.post("/score", json={"family_ids": ids})
        assert too_many.status_code == 429 and "families" in too_many.json()["error"]
        used = 2  # the worklist and the refused score are requests of the quota
        for _ in range(REQUESTS_PER_MINUTE - used):
            assert client.post("/worklist", json={}).status_code == 200
        flood = client.post("/worklist", json={})
    assert flood.status_code == 429 and "requests per minute" in flood.json()["error"]


def test_views_reuse_the_case_score_and_are_logged_as_views(worklist_server, serving_world):
    server, log = worklist_server
    token, _ = _token(serving_world)
    with httpx.Client(base_url=server.url, timeout=120) as client:
        listed = client.post("/worklist", json={}, headers=auth(token)).json()
        flagged = listed["items"][-1]
        review_sign_in(client, token)
        pages = [client.get("/review", params={"family_id": flagged["family_id"]}) for _ in "ab"]
        family = client.post(
            "/family", json={"family_id": flagged["family_id"]}, headers=auth(token)
        ).json()
        # a family that is not flagged: its first view scores it, the second reuses it
        low = next(
            f"F{i:05d}"
            for i in range(100)
            if f"F{i:05d}" not in {x["family_id"] for x in listed["items"]}
        )
        low_pages = [client.get("/review", params={"family_id": low}) for _ in "ab"]
    assert all(p.status_code == 200 for p in pages + low_pages)
    assert {_field(p.text, "score_id") for p in pages} == {flagged["score_id"]}
    assert family["case"]["score_id"] == flagged["score_id"]
    assert family["case"]["status"] == "viewed" and family["case"]["decision"] is None
    kinds = _rows(
        log,
        "SELECT kind, endpoint FROM audit_entries WHERE family_id = ? ORDER BY seq",
        (flagged["family_id"],),
    )
    assert kinds == [("score", "worklist"), ("view", "review"), ("view", "review"),
                     ("view", "family")]  # fmt: skip
    assert len({_field(p.text, "score_id") for p in low_pages}) == 1
    low_kinds = _rows(
        log, "SELECT kind FROM audit_entries WHERE family_id = ? ORDER BY seq", (low,)
    )
    assert low_kinds == [("view",), ("score",), ("view",)]
    # the history shows one estimate, not one per view
    history = pages[1].text[pages[1].text.index('id="history"') :]
    history = history[: history.index("</table>")]
    assert history.count("<tr>") == 2  # the header and the one estimate


def test_one_decision_in_force_superseded_explicitly_once_per_form(worklist_server, serving_world):
    server, log = worklist_server
    token, token_id = _token(serving_world)
    today = _almaty_today()
    with httpx.Client(base_url=server.url, timeout=120) as client:
        listed = client.post("/worklist", json={}, headers=auth(token)).json()
        family = listed["items"][-2]["family_id"]
        review_sign_in(client, token)
        page = client.get("/review", params={"family_id": family}).text
        # no option is chosen for the caseworker; times are labelled with the zone
        form_html = page[page.index('action="/review/decision"') :]
        assert " checked" not in form_html[: form_html.index("</form>")]
        assert "Almaty time (+05:00)" in page
        form = {
            "csrf": _field(page, "csrf"),
            "lang": "en",
            "family_id": family,
            "score_id": _field(page, "score_id"),
            "form_token": _field(page, "form_token"),
            "in_force": _field(page, "in_force"),
            "decision": "support_offered",
            "reason": "housing assistance offered",
            "follow_up": (today + timedelta(days=7)).isoformat(),
        }
        assert form["in_force"] == ""
        first = client.post("/review/decision", data=form, follow_redirects=False)
        twice = client.post("/review/decision", data=form, follow_redirects=False)
        assert first.status_code == twice.status_code == 303
        assert "already=1" in twice.headers["location"]
        # a follow-up in the past: 400 naming the date allowed, nothing recorded
        page = client.get("/review", params={"family_id": family}).text
        later = {
            **form,
            "form_token": _field(page, "form_token"),
            "in_force": _field(page, "in_force"),
        }
        past = client.post(
            "/review/decision",
            data={**later, "follow_up": (today - timedelta(days=1)).isoformat()},
        )
        assert past.status_code == 400
        assert WORKLIST["follow_up_past"]["en"].split(";")[0] in past.text
        # a form read before the first decision (stale): 409, nothing recorded
        stale = client.post(
            "/review/decision",
            data={**later, "in_force": "", "form_token": "x" * 24, "decision": "no_action"},
        )
        assert stale.status_code == 409 and WORKLIST["decision_stale"]["en"][:30] in stale.text
        # the second decision supersedes the first, explicitly; its follow-up is today: due
        second = client.post(
            "/review/decision",
            data={**later, "decision": "referred", "reason": "school social pedagogue",
                  "follow_up": today.isoformat()},
            follow_redirects=True,
        )  # fmt: skip
        assert second.status_code == 200 and "It supersedes the decision" in second.text
        case = client.post("/family", json={"family_id": family}, headers=auth(token)).json()[
            "case"
        ]
        api_past = client.post(
            "/feedback",
            json={"score_id": form["score_id"], "decision": "no_action", "reason": "x",
                  "follow_up": (today - timedelta(days=3)).isoformat()},
            headers=auth(token),
        )  # fmt: skip
        due = client.post("/worklist", json={"status": "follow_up_due"}, headers=auth(token))
    feedback = _rows(
        log,
        "SELECT seq, decision, detail FROM audit_entries WHERE kind = 'feedback' AND score_id = ?"
        " ORDER BY seq",
        (form["score_id"],),
    )
    assert [d for _, d, _ in feedback] == ["support_offered", "referred"]  # once each
    (first_seq, _, first_detail), (second_seq, _, second_detail) = feedback
    assert '"supersedes_seq":null' in first_detail
    assert f'"supersedes_seq":{first_seq}' in second_detail
    assert case["decision"]["seq"] == second_seq and case["decision"]["token_id"] == token_id
    assert case["decision"]["recorded_at"].endswith("+05:00")
    assert [(h["seq"], h["supersedes_seq"], h["in_force"]) for h in case["history"]] == [
        (first_seq, None, False),
        (second_seq, first_seq, True),
    ]
    assert case["status"] == "follow_up_due" and case["follow_up"] == today.isoformat()
    assert api_past.status_code == 400 and api_past.json()["error"].startswith("follow_up: ")
    assert "allowed: today" in api_past.json()["error"]
    assert due.status_code == 200
    assert family in [i["family_id"] for i in due.json()["items"]]
    assert due.json()["items"][0]["decision"]["decision"] == "referred"


# ---------------------------------------------------------------- in a browser
def _after(driver, action) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    action()
    WebDriverWait(driver, 60).until(replaced(old))


def _shot(driver, width: int, name: str) -> None:
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": width, "deviceScaleFactor": 1, "mobile": width < 500}
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**metrics, "height": min(height, 4000)}
    )
    driver.save_screenshot(str(SHOTS / name))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**metrics, "height": 740 if width < 500 else 800}
    )


def test_sign_in_worklist_family_decision_status_changes_in_a_browser(
    worklist_server, serving_world
):
    """The caseworker's path in Chromium, in kk, ru and en at 360 and 1280 px: the worklist
    after sign-in, a new family opened, a decision recorded (no option pre-selected), and the
    family's status on the worklist is now "decided" in the page's language."""
    from selenium.webdriver.common.by import By

    server, log = worklist_server
    for width in (360, 1280):
        driver = chromium_driver(width, 740 if width < 500 else 800, exact_viewport=True)
        token, _ = _token(serving_world)
        try:
            driver.get(f"{server.url}/review?lang=en")
            driver.find_element(By.ID, "token").send_keys(token)
            _after(
                driver,
                driver.find_element(By.CSS_SELECTOR, "form[action='/review/signin'] button").click,
            )
            # after sign-in the page opens on the worklist
            assert (
                driver.find_element(By.ID, "worklist-h").text == WORKLIST["worklist_heading"]["en"]
            )
            for lang in LANGS:
                driver.get(f"{server.url}/review?lang={lang}&status=new")
                rows = driver.find_elements(By.CSS_SELECTOR, "#worklist-table tbody tr")
                assert rows, (lang, width)
                family = rows[0].get_attribute("data-family")
                status = rows[0].find_element(By.CSS_SELECTOR, "td.status").text
                assert status == STATUS_NAME["new"][lang]
                scroll, inner = driver.execute_script(
                    "return [document.documentElement.scrollWidth, window.innerWidth]"
                )
                assert scroll <= inner, (lang, width, scroll, inner)
                _after(driver, rows[0].find_element(By.CSS_SELECTOR, "a").click)
                assert family in driver.find_element(By.ID, "score-h").text
                radios = driver.find_elements(By.CSS_SELECTOR, "input[name=decision]")
                assert radios and not any(r.is_selected() for r in radios)  # nothing chosen
                driver.find_element(By.ID, "decision-support_offered").click()
                driver.find_element(By.ID, "reason").send_keys("family support centre")
                button = "form[action='/review/decision'] button"
                _after(driver, driver.find_element(By.CSS_SELECTOR, button).click)
                assert (
                    driver.find_element(By.CSS_SELECTOR, "[role=status]").text
                    == PAGE["recorded"][lang]
                )
                assert (
                    driver.find_element(By.ID, "case-status").text == STATUS_NAME["decided"][lang]
                )
                assert (
                    DECISION_NAME["support_offered"][lang]
                    in driver.find_element(By.ID, "case-decision").text
                )
                _shot(driver, width, f"worklist_family_{lang}_{width}.png")
                link = driver.find_element(By.LINK_TEXT, WORKLIST["back_to_worklist"][lang])
                _after(driver, link.click)
                row = driver.find_element(By.CSS_SELECTOR, f"tr[data-family='{family}']")
                assert (
                    row.find_element(By.CSS_SELECTOR, "td.status").text
                    == STATUS_NAME["decided"][lang]
                )
                scroll, inner = driver.execute_script(
                    "return [document.documentElement.scrollWidth, window.innerWidth]"
                )
                assert scroll <= inner, (lang, width, scroll, inner)
                _shot(driver, width, f"worklist_{lang}_{width}.png")
        finally:
            driver.quit()
    decided = _rows(log, "SELECT COUNT(*) FROM audit_entries WHERE kind = 'feedback' AND "
                         "reason = 'family support centre'")  # fmt: skip
    assert decided == [(6,)]


def test_a_stored_score_that_no_longer_matches_its_inputs_is_not_reused(
    worklist_server, serving_world
):
    """A case's score is reused only while the model and the inputs give its logged numbers
    (a snapshot rebuilt under the same date changes them): then the family is scored anew,
    never shown under an id whose logged probability differs."""
    server, log = worklist_server
    token, _ = _token(serving_world)
    with httpx.Client(base_url=server.url, timeout=120) as client:
        family = client.post("/worklist", json={}, headers=auth(token)).json()["items"][-3]
        review_sign_in(client, token)
        client.get("/review", params={"family_id": family["family_id"]})
        with sqlite3.connect(log.with_name("audit_log.cases.sqlite")) as conn:
            conn.execute(
                "UPDATE cases SET probability = probability / 2 WHERE family_id = ?",
                (family["family_id"],),
            )
        changed = client.get("/review", params={"family_id": family["family_id"]})
        again = client.get("/review", params={"family_id": family["family_id"]})
    scores = _rows(
        log,
        "SELECT score_id, endpoint FROM audit_entries WHERE kind = 'score' AND family_id = ? "
        "ORDER BY seq",
        (family["family_id"],),
    )
    assert [e for _, e in scores] == ["worklist", "review"]  # one new score, then reused
    assert _field(changed.text, "score_id") == _field(again.text, "score_id") == scores[1][0]
