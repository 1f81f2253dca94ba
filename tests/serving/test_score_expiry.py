"""Flags that expire (issue 23, item 5): a score on data older than the configured age is
never shown as a current level: not by /score (an old as_of), not in the history of /family
and the review page, not on the review page's estimate, not in a batch score file read by
the service. The audit log keeps the level as it was made.

The service runs in this process over HTTP (Starlette's TestClient), on the world's data,
with score ages counted to 2025-07-01 and an expiry age of 300 days: the snapshot of
2024-12-31 is 182 days old (current), the one of 2024-06-30 is 366 days old (expired).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
from serving_world import auth, review_sign_in
from starlette.testclient import TestClient

from serving.batch import read_current_scores, read_scores
from serving.expiry import EXPIRED, is_expired, shown_level
from serving.i18n.page import PAGE

TODAY = "2025-07-01"


@pytest.fixture(scope="module")
def client(service_env: dict[str, str]) -> Iterator[TestClient]:
    from serving.service import EarlyRiskScoring

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EARLYRISK_SCORE_EXPIRY_TODAY", TODAY)
        mp.setenv("EARLYRISK_SCORE_EXPIRY_DAYS", "300")
        with TestClient(cast(Any, EarlyRiskScoring).to_asgi(), raise_server_exceptions=False) as c:
            yield c


def test_the_age_rule_at_its_boundary() -> None:
    today = date(2025, 7, 1)
    assert not is_expired("2025-01-02", today=today, days=180)  # exactly 180 days: current
    assert is_expired("2025-01-01", today=today, days=180)  # 181 days: expired
    assert not is_expired(None, today=today, days=1)  # scored from sent indicators: no age
    assert shown_level("high", "2024-01-01", today=today, days=180) == EXPIRED
    assert shown_level("high", "2025-06-01", today=today, days=180) == "high"
    assert shown_level(None, "2024-01-01", today=today, days=180) is None


def test_score_with_an_old_as_of_says_expired_and_the_log_keeps_the_level(
    client: TestClient, tokens: dict[str, str]
) -> None:
    from serving.service import served_engine

    old = client.post(
        "/score",
        json={"family_ids": ["F00003"], "as_of": "2024-06-30"},
        headers=auth(tokens["caseworker"]),
    )
    assert old.status_code == 200, old.text
    result = old.json()["results"][0]
    assert result["risk_level"] == EXPIRED and result["risk_level_name"] == "expired"
    current = client.post(
        "/score",
        json={"family_ids": ["F00003"], "as_of": "2024-12-31", "lang": "ru"},
        headers=auth(tokens["caseworker"]),
    ).json()["results"][0]
    assert current["risk_level"] in {"low", "elevated", "high"}
    engine = served_engine()
    assert engine is not None
    logged = engine.audit_log.score_entry(result["score_id"])
    assert logged is not None and logged["risk_level"] in {"low", "elevated", "high"}


def test_family_history_shows_an_old_score_as_expired(
    client: TestClient, tokens: dict[str, str]
) -> None:
    for as_of in ("2024-06-30", "2024-12-31"):
        client.post(
            "/score",
            json={"family_ids": ["F00010"], "as_of": as_of},
            headers=auth(tokens["caseworker"]),
        )
    response = client.post(
        "/family", json={"family_id": "F00010", "lang": "kk"}, headers=auth(tokens["caseworker"])
    )
    assert response.status_code == 200, response.text
    levels = {item["as_of"]: item for item in response.json()["history"]}
    assert levels["2024-06-30"]["risk_level"] == EXPIRED
    assert levels["2024-06-30"]["risk_level_name"] == "мерзімі өтті"
    assert levels["2024-12-31"]["risk_level"] in {"low", "elevated", "high"}


def test_the_review_page_shows_an_expired_estimate_and_history_as_expired(
    client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.service import served_engine

    client.post(
        "/score",
        json={"family_ids": ["F00011"], "as_of": "2024-06-30"},
        headers=auth(tokens["caseworker"]),
    )
    review_sign_in(client, tokens["caseworker"])
    page = client.get("/review", params={"family_id": "F00011"})
    assert page.status_code == 200, page.text
    assert 'id="level" class="level-expired"' not in page.text  # 2024-12-31 is current
    assert "<td>expired</td>" in page.text  # the 2024-06-30 score in the history
    engine = served_engine()
    assert engine is not None  # a later day: the snapshot itself is past the age
    monkeypatch.setattr(
        engine, "settings", engine.settings.model_copy(update={"score_expiry_days": 100})
    )
    page = client.get("/review", params={"family_id": "F00011"})
    assert page.status_code == 200, page.text
    assert 'id="level" class="level-expired">expired<' in page.text
    assert PAGE["expired_meaning"]["en"] in page.text


def test_a_batch_score_file_read_by_the_service_shows_old_rows_as_expired(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scores.parquet"
    pd.DataFrame(
        {
            "family_id": ["A", "B", "C"],
            "as_of": pd.to_datetime(["2024-06-30", "2025-06-30", "2024-06-30"]),
            "risk_level": pd.array(["high", "high", None], dtype="string"),
        }
    ).to_parquet(path)
    shown = read_current_scores(path, today=date(2025, 7, 1), expiry_days=180)
    assert shown["risk_level"].tolist()[:2] == [EXPIRED, "high"]
    assert pd.isna(shown["risk_level"].iloc[2])  # an ineligible row gets no level
    assert read_scores(path)["risk_level"].tolist()[0] == "high"  # the file is as written
