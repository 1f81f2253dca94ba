"""Three languages: every catalogue entry and fixed phrase in en/ru/kk, no placeholder,
values worded with units, the request's language negotiated with an English fallback."""

from __future__ import annotations

import pytest

import serving.i18n as i18n
from features.catalogue import FEATURES
from serving.i18n import (
    band_meaning,
    describe_indicator,
    events,
    format_contribution,
    format_value,
    negotiate,
    page,
    phrases,
    translation_problems,
)
from serving.i18n import indicators as texts
from serving.i18n.page_check import page_problems
from serving.i18n.words import Words


def test_every_catalogue_entry_and_phrase_is_in_three_languages():
    assert translation_problems() == []
    for name in FEATURES:
        words = {lang: describe_indicator(name, lang) for lang in ("en", "ru", "kk")}
        assert len(set(words.values())) == 3, words


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (lambda mp: mp.delitem(texts.DESCRIPTIONS, "hh_children"), "no translations"),
        (
            lambda mp: mp.setitem(
                texts.DESCRIPTIONS, "hh_children", {"ru": "TODO перевод", "kk": "балалар саны"}
            ),
            "placeholder",
        ),
        (
            lambda mp: mp.setitem(
                texts.DESCRIPTIONS, "hh_children", {"ru": "children under 18", "kk": "балалар"}
            ),
            "not written in Cyrillic",
        ),
        (
            lambda mp: mp.setitem(texts.DESCRIPTIONS, "hh_children", {"ru": "дети", "kk": "дети"}),
            "the same text",
        ),
        (lambda mp: mp.delitem(texts.MISSING, "econ_utility_debt_last"), "no phrase says so"),
        (
            lambda mp: mp.setitem(
                phrases.NOTICE, "kk", "Тек ақпарат үшін {horizon} ай ішінде болжам"
            ),
            "differ from English",
        ),
        (lambda mp: mp.setitem(phrases.LEVEL_NAME["high"], "kk", ""), "empty"),
        (
            lambda mp: mp.setitem(texts.DESCRIPTIONS, "no_such_indicator", {"ru": "а", "kk": "ә"}),
            "not in the catalogue",
        ),
        # the words of the records and the history (issue 12): every event type and listed
        # detail of the data contract, every domain and decision, in the three languages
        (lambda mp: mp.delitem(events.EVENT_TYPE_NAME, "school_absence"), "no words"),
        (lambda mp: mp.delitem(events.DETAIL_NAME, "overcrowded"), "detail overcrowded"),
        (lambda mp: mp.delitem(events.DOMAIN_NAME, "housing"), "domain housing: no words"),
        (lambda mp: mp.delitem(events.DECISION_NAME, "referred"), "decision referred"),
        (
            lambda mp: mp.setitem(
                events.EVENT_TYPE_NAME, "income", {"en": "income", "ru": "TBD", "kk": "табыс"}
            ),
            "placeholder",
        ),
        (
            lambda mp: mp.setitem(
                events.SOURCE_NAME, "court", {"en": "court", "ru": "court", "kk": "сот"}
            ),
            "not written in Cyrillic",
        ),
        (lambda mp: mp.setitem(events.CHANNEL_NAME["review"], "kk", " "), "empty"),
        # the review page's labels go through the same check
        (
            lambda mp: mp.setitem(page.PAGE["title"], "kk", "Family review"),
            "page label title [kk]: not written in Cyrillic",
        ),
        (
            lambda mp: mp.setitem(page.PAGE["record_line"], "ru", "{event_name}, {event_date}"),
            "page label record_line [ru]: fields",
        ),
    ],
)
def test_the_translation_check_fails_on_a_gap(monkeypatch, patch, expected):
    patch(monkeypatch)
    problems = translation_problems()
    assert any(expected in p for p in problems), problems


def test_values_are_rounded_with_units_and_missing_values_are_words():
    assert format_value(
        "econ_income_per_member_monthly", 171498.40277777778, unit="KZT", lang="en"
    ) == ("171,498 KZT")
    assert (
        format_value("econ_income_per_member_monthly", 171498.4, unit="KZT", lang="ru")
        == "171\u00a0498 тенге"
    )
    assert (
        format_value("econ_income_per_member_monthly", None, unit="KZT", lang="en")
        == "no income recorded in the last 90 days"
    )
    assert format_value("econ_income_per_member_monthly", float("nan"), unit="KZT", lang="kk") == (
        "соңғы 90 күнде табыс тіркелмеген"
    )
    assert format_value("edu_school_absence_days_90d", 21.0, unit="days", lang="ru") == "21 день"
    assert format_value("edu_school_absence_days_90d", 3.0, unit="days", lang="ru") == "3 дня"
    assert format_value("edu_school_absence_days_90d", 12.0, unit="days", lang="ru") == "12 дней"
    assert format_value("edu_school_absence_days_90d", 12.0, unit="days", lang="kk") == "12 күн"
    assert format_value("hh_single_parent", 1.0, unit="yes/no", lang="kk") == "иә"
    assert format_value("hh_single_parent", 0.0, unit="yes/no", lang="en") == "no"
    assert format_value(
        "hou_persons_per_room_last", 2.3333, unit="persons per room", lang="ru"
    ) == ("2,3 чел. на комнату")
    assert format_value("econ_income_change_90d", -12000.4, unit="KZT", lang="en") == "−12,000 KZT"
    assert format_value("edu_school_absence_change_90d", 7.0, unit="days", lang="en") == "+7 days"
    # an indicator without its own phrase still gets words, never an empty value
    assert format_value("soc_dv_reports_3y", None, unit="count", lang="ru") == "нет данных"


def test_contributions_are_signed_percentage_points():
    assert format_contribution(0.0312, "en") == "+3.1 percentage points"
    assert format_contribution(-0.004, "ru") == "−0,4 п. п."
    assert format_contribution(0.02, "kk") == "+2,0 пайыздық пункт"


def test_band_meanings_carry_the_numbers():
    text = band_meaning(
        "high", lang="en", lower=0.184, upper=None, derived=True, count=95, share=0.05
    )
    assert "18.4 %" in text and "95 families" in text and "5.0 %" in text
    assert "18,4 %" in band_meaning("high", lang="ru", lower=0.184, upper=None, derived=True)


@pytest.mark.parametrize(
    ("lang", "header", "expected"),
    [
        ("ru", None, "ru"),
        ("kk", "ru", "kk"),
        ("KK-kz", None, "kk"),
        ("kz", None, "kk"),  # the country code people often send
        ("de", "ru-RU,ru;q=0.9", "ru"),  # unknown lang: the header decides
        (None, "de-DE,de;q=0.9,kk;q=0.8,ru;q=0.7", "kk"),
        (None, "ru;q=0.5,en;q=0.6", "en"),
        (None, "ru;q=0,kk;q=0", "en"),  # q=0 means "not this one"
        (None, "fr, de", "en"),
        (None, None, "en"),
        (None, "ru;q=abc", "en"),
    ],
)
def test_language_negotiation_falls_back_to_english(lang, header, expected):
    assert negotiate(lang, header) == expected


def test_the_codes_are_the_three_languages():
    assert i18n.LANGUAGE_CODES == ("en", "ru", "kk")
    # every table of texts has exactly these: the Words shape names them
    assert tuple(Words.__annotations__) == i18n.LANGUAGE_CODES


# ---------------------------------------------------------------- page language checker
@pytest.mark.parametrize(
    ("html", "lang", "found"),
    [
        ("<td>household</td>", "ru", "raw code 'household'"),
        ("<li>обращение: financial_hardship</li>", "kk", "raw code 'financial_hardship'"),
        ("<li>contact: financial_hardship</li>", "en", "raw code 'financial_hardship'"),
        ("<p>нет ребёнка: no child under 18</p>", "kk", "Latin word 'child'"),
        ('<p aria-label="Support">Помощь</p>', "ru", "Latin word 'Support'"),
    ],
)
def test_the_page_checker_fails_on_an_untranslated_code_or_a_latin_word(html, lang, found):
    assert any(found in p for p in page_problems(html, lang)), page_problems(html, lang)


def test_the_page_checker_passes_a_page_in_its_language():
    html = (
        '<html lang="ru"><style>.a{color:red}</style><a lang="en" hreflang="en">English</a>'
        "<h2>Оценка риска: F00012</h2><p>earlyrisk · 18,3 %</p></html>"
    )
    assert page_problems(html, "ru") == []
