"""The family page's needs (serving.needs_view), the support catalogue and the page-language
checker, without a server: each safeguard fails on a constructed bad case."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from serving.family_view import named_records
from serving.i18n.page_check import page_problems
from serving.needs_view import MIN_BAND_WIDTH, needs_page, record_text, visible_bands
from serving.support_catalogue import (
    DEFAULT_PATH,
    SupportCatalogueError,
    load_support_catalogue,
)

AS_OF = "2024-12-31"


def _record(event_type, event_date, *, value=None, child_age=None, detail=None):
    return {
        "event_type": event_type,
        "detail": detail,
        "event_date": event_date,
        "recorded_date": event_date,
        "source": "police",
        "value": value,
        "child_age": child_age,
    }


def _indicator(name, domain, value, records, *, kind="need", number=1.0):
    return {
        "indicator": name,
        "kind": kind,
        "domain": domain,
        "description": f"description of {name}",
        "value": value,
        "value_number": number,
        "records": named_records(records, "ru") if records is not None else None,
    }


def _reason(name, contribution):
    return {
        "indicator": name,
        "contribution": contribution,
        "contribution_text": f"+{contribution}",
    }


def _family(n_raising: int = 7):
    """A family with a violence report of last week the model gave nothing to, seven
    school and debt needs, and one absence record behind two indicators."""
    absence = _record("school_absence", "2024-12-10", value=6.0, child_age=9)
    debt = _record("utility_debt", "2024-11-05", value=84000.0)
    violence = _record("domestic_violence_report", "2024-12-20")
    indicators = [
        _indicator("soc_dv_reports_3y", "social", "1", [violence]),
        _indicator("edu_school_absence_days_90d", "education", "6 дней", [absence]),
        _indicator("edu_children_absent_90d", "education", "1", [absence]),
        _indicator("econ_utility_debt_last", "economic", "84 000 тенге", [debt]),
        _indicator("hh_children", "household", "2", [], kind="context"),
    ]
    extra = [
        "edu_max_monthly_absence_365d",
        "econ_loan_overdue_max_365d",
        "hea_missed_vaccinations_365d",
        "hou_eviction_notices_365d",
    ]
    indicators += [_indicator(n, n.split("_")[0], "1", []) for n in extra]
    names = [
        "edu_school_absence_days_90d",
        "edu_children_absent_90d",
        "econ_utility_debt_last",
        *extra,
    ]
    raising = [_reason(n, 0.05 - 0.005 * i) for i, n in enumerate(names[:n_raising])]
    view = {"as_of": AS_OF, "indicators": indicators}
    score = {
        "probability": 0.3,
        "baseline_probability": 0.1,
        "contribution_by_kind": {"need": 0.25, "context": -0.03, "support": -0.02},
        "needs_raising": raising,
        "reasons_raising": raising[:5],
        "risk_bands": [],
    }
    return view, score


def test_acute_needs_come_first_and_are_never_cut():
    view, score = _family()
    page = needs_page(view, score, lang="ru", catalogue=load_support_catalogue())
    first = page["groups"][0]
    assert first["domain"] == "social"
    assert first["needs"][0]["indicator"] == "soc_dv_reports_3y" and first["needs"][0]["acute"]
    assert first["needs"][0]["effect"] is None  # shown although the model gave it nothing
    shown = [n["indicator"] for g in page["groups"] for n in g["needs"]]
    # every raising need, not the first five only
    assert set(shown) >= {r["indicator"] for r in score["needs_raising"]}
    assert len(shown) == 8 and "hh_children" not in shown
    # an old violence report is not acute
    view["indicators"][0]["records"][0]["event_date"] = "2024-06-01"
    later = needs_page(view, score, lang="ru", catalogue=load_support_catalogue())
    assert "soc_dv_reports_3y" not in [n["indicator"] for g in later["groups"] for n in g["needs"]]


def test_records_are_shown_once_with_values_and_the_child_by_age():
    view, score = _family()
    page = needs_page(view, score, lang="ru", catalogue=load_support_catalogue())
    education = next(g for g in page["groups"] if g["domain"] == "education")
    days, children = education["needs"][0], education["needs"][1]
    assert days["indicator"] == "edu_school_absence_days_90d"
    assert len(days["records"]) == 1 and "6 дней" in days["records"][0]
    assert "ребёнок 9" in days["records"][0] and "10 дек. 2024" in days["records"][0]
    assert (
        children["records"] == []
        and "description of edu_school_absence_days_90d" in (children["records_ref"])
    )
    economic = next(g for g in page["groups"] if g["domain"] == "economic")
    debt = next(n for n in economic["needs"] if n["indicator"] == "econ_utility_debt_last")
    assert "84\xa0000 тенге" in debt["records"][0]
    # the programmes that answer them sit beside the group, in Russian
    names = [p["name"] for p in economic["programmes"]]
    assert "Консультация по долгам" in names


def test_the_split_adds_up_and_is_in_locale_numbers():
    view, score = _family()
    split = needs_page(view, score, lang="kk", catalogue=load_support_catalogue())["split"]
    assert split["baseline"] == "10,0\xa0%" and split["probability"] == "30,0\xa0%"
    assert split["needs"] == "+25,0" and split["context"] == "−5,0"
    seg = split["segments"]
    # on a scale whose 100 is the highest point (baseline + needs = 35 %), the bar ends at
    # the probability: baseline + needs - context = 30 / 35
    end = seg["baseline"]["width"] + seg["needs"]["width"] - seg["context"]["width"]
    assert end == pytest.approx(100 * 0.30 / 0.35, abs=0.02)
    assert seg["context"]["x"] + seg["context"]["width"] == pytest.approx(100, abs=0.02)


def test_a_degenerate_or_empty_band_is_not_shown():
    bands = [
        {"level": "low", "min_probability": 0.0, "max_probability": 0.1166, "families": 300},
        {"level": "elevated", "min_probability": 0.1166, "max_probability": 0.1171, "families": 2},
        {"level": "high", "min_probability": 0.1171, "max_probability": None, "families": 20},
    ]
    assert [b["level"] for b in visible_bands(bands)] == ["low", "high"]
    bands[1]["max_probability"] = 0.1166 + MIN_BAND_WIDTH
    assert [b["level"] for b in visible_bands(bands)] == ["low", "elevated", "high"]
    bands[1]["families"] = 0
    assert [b["level"] for b in visible_bands(bands)] == ["low", "high"]


def test_record_text_names_no_person():
    record = named_records([_record("injury_emergency_visit", "2024-12-01", child_age=4)], "kk")[0]
    text = record_text(record, "kk")
    assert "4 жастағы бала" in text and "person" not in text


def test_a_childs_age_is_its_age_on_the_event_date_and_only_a_childs():
    import pandas as pd

    from serving.records import child_ages

    persons = pd.DataFrame(
        {
            "person_id": ["c", "a"],
            "birth_date": pd.to_datetime(["2015-12-10", "1980-01-01"]),
        }
    )
    events = pd.DataFrame(
        {
            "person_id": ["c", "c", "a", None],
            "role": pd.Categorical(["child", "child", "head", None]),
            "event_date": pd.to_datetime(["2024-12-09", "2024-12-10", "2024-12-10", "2024-12-10"]),
        }
    )
    ages = child_ages(events, persons)
    assert ages[:2].tolist() == [8.0, 9.0]  # the day before the birthday, and on it
    assert pd.isna(ages[2]) and pd.isna(ages[3])  # an adult's, a family's record: no age


# ---------------------------------------------------------------- support catalogue
def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _shipped() -> dict:
    return yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_the_shipped_catalogue_answers_every_area():
    from features.contract import DOMAINS

    catalogue = load_support_catalogue()
    assert all(catalogue.for_need("x", d) for d in DOMAINS)
    for programme in catalogue.programmes.values():
        for lang in ("ru", "kk"):
            assert (
                page_problems(f"<p>{programme.name[lang]}. {programme.what[lang]}</p>", lang) == []
            )


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (
            lambda d: d["programmes"]["debt_counselling"]["name"].pop("kk"),
            "programmes.debt_counselling.name.kk",
        ),
        (
            lambda d: d["programmes"]["debt_counselling"].update(url="x"),
            "programmes.debt_counselling.url",
        ),
        (lambda d: d["needs"].update(economic=["no_such_programme"]), "needs.economic"),
        (
            lambda d: d["needs"].update(financial_trouble=["debt_counselling"]),
            "needs.financial_trouble",
        ),
        (lambda d: d["needs"].update(hh_children=["debt_counselling"]), "needs.hh_children"),
        (lambda d: d.update(extra={}), "extra"),
    ],
)
def test_a_bad_catalogue_is_refused_naming_the_field(tmp_path, spoil, field):
    data = _shipped()
    spoil(data)
    with pytest.raises(SupportCatalogueError, match=field.replace(".", r"\.")):
        load_support_catalogue(_write(tmp_path, data))


def test_a_deployment_replaces_the_catalogue_and_a_bad_one_stops_the_review_pages(tmp_path):
    from serving.review import ReviewPages
    from serving.settings import ServingSettings

    data = _shipped()
    data["programmes"]["debt_counselling"]["name"]["ru"] = "Финансовый омбудсмен"
    own = _write(tmp_path, data)
    settings = ServingSettings(
        support_catalogue_path=own, review_sessions_path=tmp_path / "sessions.sqlite"
    )
    pages = ReviewPages(None, engine=lambda: None, settings=settings)
    assert pages.support.programmes["debt_counselling"].name["ru"] == "Финансовый омбудсмен"
    data["programmes"]["debt_counselling"]["name"]["ru"] = ""
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(SupportCatalogueError, match=r"programmes\.debt_counselling\.name\.ru"):
        ReviewPages(
            None,
            engine=lambda: None,
            settings=ServingSettings(
                support_catalogue_path=_write(bad, data),
                review_sessions_path=tmp_path / "sessions.sqlite",
            ),
        )
