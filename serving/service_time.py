"""The service's time zone: what "today" is, and times as a caseworker reads them, labelled.

Every time is stored in UTC (the audit log, the cases). A caseworker in Almaty reading
"08:15" must not have to know that it is UTC: the page shows times in the service's zone
(``EARLYRISK_TIME_ZONE``, default ``Asia/Almaty``) with the zone named in the page's
language ("время Алматы (+05:00)"), and "today" (a follow-up due, days since first flagged,
a follow-up date in the past) is the date in that zone, not in UTC: between 00:00 and 05:00
in Almaty the UTC date is still yesterday's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, get_timezone_location

from serving.i18n.words import Language, Words, words

#: "Almaty time (+05:00)": the label beside every time shown.
_LABEL: Words = words(
    "{city} time ({offset})", "время {city} ({offset})", "{city} уақыты ({offset})"
)


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """The zone of an IANA name (checked when the settings load)."""
    return ZoneInfo(name)


def now_utc() -> datetime:
    return datetime.now(UTC)


def today(tz: str, *, now: datetime | None = None) -> date:
    """Today's date in the service's zone."""
    return (now or now_utc()).astimezone(zone(tz)).date()


def utc_text(at: datetime | None = None) -> str:
    """A UTC time as stored (ISO 8601, microseconds)."""
    return (at or now_utc()).astimezone(UTC).isoformat(timespec="microseconds")


def zone_label(tz: str, lang: Language, *, at: datetime | None = None) -> str:
    """The zone in lang with its UTC offset: "Almaty time (+05:00)"."""
    here = zone(tz)
    city = get_timezone_location(here, locale=lang, return_city=True)
    offset = (at or now_utc()).astimezone(here).strftime("%z")
    return _LABEL[lang].format(city=city, offset=f"{offset[:3]}:{offset[3:]}")


def local_time(stored: str, tz: str, lang: Language) -> str:
    """A stored UTC time in the service's zone, as lang writes it ("07.12.2026, 13:36")."""
    parsed = datetime.fromisoformat(stored)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return format_datetime(parsed, "short", tzinfo=zone(tz), locale=lang)


def local_iso(stored: str, tz: str) -> str:
    """A stored UTC time as ISO 8601 in the service's zone, with its offset (for JSON)."""
    parsed = datetime.fromisoformat(stored)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(zone(tz)).isoformat(timespec="seconds")
