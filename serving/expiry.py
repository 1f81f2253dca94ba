"""Flags that expire: a score older than the configured age is never shown as a level.

A family must not stay flagged for as long as an old record says so (issue 23, item 5).
A score's age is counted from the date of the data it was made on (its ``as_of``), not
from when it was served: a level computed today on data of two years ago describes the
family of two years ago. Past ``score_expiry_days`` (default 180) every place that shows a
level shows :data:`EXPIRED` instead: ``/score`` (also with an old ``as_of``), the history of
``/family`` and the review page, and batch score files read back by the service
(:func:`serving.batch.read_current_scores`). The audit log keeps what was served, unchanged: it is
the record an auditor and the family's dossier reproduce, not a level shown as current.

"Today" is the wall-clock date, or ``score_expiry_today`` when a deployment replays
historical data (the demo and the tests, whose synthetic registry ends in the past).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from serving.settings import ServingSettings

#: What an expired score says in place of its level.
EXPIRED = "expired"


def expiry_today(settings: ServingSettings) -> date:
    """The date ages are counted to: the setting's, else today in UTC."""
    return settings.score_expiry_today or datetime.now(UTC).date()


def is_expired(as_of: Any, *, today: date, days: int) -> bool:
    """Whether a score made on data as of ``as_of`` is older than ``days`` on ``today``
    (a score without a data date, scored from indicators sent in, has no age)."""
    if as_of is None or (isinstance(as_of, float) and as_of != as_of):
        return False
    day = as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of)[:10])
    if isinstance(day, datetime):
        day = day.date()
    return day < today - timedelta(days=days)


def shown_level(level: str | None, as_of: Any, *, today: date, days: int) -> str | None:
    """The level to show: ``level``, or :data:`EXPIRED` when the score is too old (no
    level stays no level)."""
    if level is None:
        return None
    return EXPIRED if is_expired(as_of, today=today, days=days) else level


def expire_frame(frame: pd.DataFrame, *, today: date, days: int) -> pd.DataFrame:
    """A batch score frame with the ``risk_level`` of every row whose ``as_of`` is too
    old replaced by :data:`EXPIRED` (a copy; rows without a level keep none)."""
    if "risk_level" not in frame.columns or "as_of" not in frame.columns:
        return frame
    out = frame.copy()
    old = [is_expired(value, today=today, days=days) for value in out["as_of"].tolist()]
    has_level = out["risk_level"].notna().tolist()
    mask = [o and h for o, h in zip(old, has_level, strict=True)]
    out.loc[mask, "risk_level"] = EXPIRED
    return out
