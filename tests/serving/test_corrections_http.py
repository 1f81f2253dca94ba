"""``POST /correction`` on a real `bentoml serve` process: roles, refusals, the diff.

The session's server on the small registry's snapshot with its raw directory (shared with
the page tests: the correction is of a family whose page they do not read). A caseworker files
(a wrong-typed value is a 400 naming ``new_value``), a second open correction of the same
record is a 409 and a record that does not exist a 404, both naming ``record_id``, the
caseworker's decision is a 403, the registry officer's is answered without any score (the
purpose lock), the caseworker's list shows the score before and after, and an auditor reads
the ``correction`` entries on ``/audit_log``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest
from serving_world import auth

pytestmark = [pytest.mark.server, pytest.mark.slow]

AS_OF = "2024-06-30"


@pytest.fixture(scope="module")
def correction_server(registry_world_server, serving_world):
    """The session's server on the small registry with its raw directory (conftest.py),
    and a token of each role the correction desk involves."""
    store = serving_world.tokens()
    tokens = {role: store.create(role).token for role in ("caseworker", "registry_officer")}
    tokens["auditor"] = store.create("auditor").token
    return registry_world_server, tokens


def _a_debt(raw: Path, *, not_of: set[str]) -> tuple[str, str]:
    """(family, event_id) of a utility debt in the year before the snapshot, of a family
    not in ``not_of`` (the families whose pages the server's other tests read)."""
    events = pd.read_parquet(raw / "events.parquet")
    for column in ("event_date", "recorded_date"):
        events[column] = pd.to_datetime(events[column])
    day = pd.Timestamp(AS_OF)
    debts = events.loc[
        (events["event_type"] == "utility_debt")
        & events["family_id"].notna()
        & ~events["family_id"].isin(not_of)
        & (events["recorded_date"] <= day)
        & (events["event_date"] > day - pd.Timedelta(days=365))
    ].sort_values("event_id")
    row = debts.iloc[0]
    return str(row["family_id"]), str(row["event_id"])


def test_file_refuse_decide_and_read_the_log_over_http(correction_server, small_registry_dir):
    shared, tokens = correction_server
    server = shared.server
    family, event_id = _a_debt(small_registry_dir, not_of={shared.busiest, shared.busiest_eligible})
    filed = {
        "op": "file",
        "family_id": family,
        "record_table": "events",
        "record_id": event_id,
        "action": "amend",
        "field": "value",
        "new_value": "0",
        "document_ref": "letter 2024/551",
    }
    with httpx.Client(base_url=server.url, timeout=60) as client:

        def post(body: dict[str, object], role: str) -> httpx.Response:
            return client.post("/correction", json=body, headers=auth(tokens[role]))

        wrong = post({**filed, "new_value": "paid"}, "caseworker")
        assert wrong.status_code == 400 and wrong.json()["error"].startswith("new_value:")
        made = post(filed, "caseworker")
        assert made.status_code == 200, made.text
        correction_id = made.json()["correction"]["correction_id"]
        again = post(filed, "caseworker")  # a second open correction: a conflict
        assert again.status_code == 409 and again.json()["error"].startswith("record_id:")
        unknown = post({**filed, "record_id": "E-none"}, "caseworker")
        assert unknown.status_code == 404 and unknown.json()["error"].startswith("record_id:")
        decide = {"op": "decide", "correction_id": correction_id, "decision": "accepted"}
        refused = post(decide, "caseworker")
        assert refused.status_code == 403
        assert refused.json()["error"].startswith("decision: a caseworker may not decide")
        assert post(decide, "auditor").status_code == 403  # not even on the endpoint
        decided = post(decide, "registry_officer")
        assert decided.status_code == 200, decided.text
        body = decided.json()
        assert body["correction"]["status"] == "accepted"
        # the purpose lock: a registry officer decides on the record, never sees a score
        assert all(body.get(key) is None for key in ("before", "after", "diff")), body
        assert '"probability"' not in decided.text and '"risk_level"' not in decided.text
        listed = post({"op": "list", "family_id": family}, "caseworker").json()["corrections"]
        (item,) = listed  # the caseworker (support services) sees the re-score's diff
        assert item["before"]["status"] == item["after"]["status"]
        assert set(item["diff"]) == {
            "probability_change",
            "level_changed",
            "reasons_removed",
            "reasons_added",
        }
        log = client.post(
            "/audit_log", json={"kind": "correction"}, headers=auth(tokens["auditor"])
        )
        assert log.status_code == 200, log.text
        entries = log.json()["entries"]
        assert [e["decision"] for e in entries] == ["requested", "accepted"]
        assert entries[1]["detail"]["after"] == item["after"]
        assert entries[1]["detail"]["diff"] == item["diff"]
