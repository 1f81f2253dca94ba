"""The explanation record (issue 23, item 1): its content, its "what would change" found by
re-scoring, its bit-for-bit reproduction from the audit log, model and snapshot, its log
entry, and the refusals (a score that no longer re-derives, a catalogue that names a
circumstance, support or a protected attribute as something to change)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from dossier_world import dossier_engine
from serving_world import ServingWorld

from features.catalogue import FEATURES
from features.snapshot_store import read_feature_table
from serving.auth import Principal
from serving.dossier.build import NotReproducibleError
from serving.dossier.counterfactual import smallest_changes
from serving.dossier.mutable import (
    MUTABLE_CHANGES,
    MUTABLE_INDICATORS,
    Change,
    MutableCatalogueError,
    check_catalogue,
)
from serving.dossier.produce import DossierDesk
from serving.dossier.render import numbers_of
from serving.dossier.texts import text_problems
from serving.engine import RequestError, ServingEngine, UnknownFamilyError, UnknownScoreError
from serving.i18n import LANGUAGE_CODES
from serving.i18n.phrases import LEVEL_NAME
from serving.i18n.words import words
from serving.scoring import Scorer, derive_bands
from serving.store.audit_log import FeedbackRecord, ScoreRecord
from training.registry import load_risk_model

CASEWORKER = Principal("cwdossier01", "caseworker")


@pytest.fixture(scope="module")
def engine(
    serving_world: ServingWorld, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServingEngine]:
    made, _ = dossier_engine(serving_world, tmp_path_factory.mktemp("dossier"))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def desk(engine: ServingEngine) -> DossierDesk:
    return DossierDesk(engine, contact="Office 12, +7 700 000 00 00")


@pytest.fixture(scope="module")
def flagged(engine: ServingEngine) -> list[str]:
    """Families of the world at a level above the lowest on the latest snapshot."""
    results = [
        r
        for start in (0, 50)
        for r in engine.score(
            [f"F{i:05d}" for i in range(start, start + 50)],
            as_of=None,
            principal=CASEWORKER,
            request_id="flag-probe",
        )
    ]
    out = [r["family_id"] for r in results if r.get("risk_level") in ("elevated", "high")]
    assert len(out) >= 10
    return out


def _forbidden_changes() -> set[str]:
    """Every model input a dossier must never name as something to change."""
    return {n for n, spec in FEATURES.items() if spec.kind != "need"}


def test_every_dossier_names_only_mutable_needs_and_every_change_is_rescored_below(
    engine: ServingEngine, desk: DossierDesk, flagged: list[str]
) -> None:
    found = 0
    for family_id in flagged:
        facts = desk.facts(
            family_id=family_id,
            as_of=None,
            score_id=None,
            principal=CASEWORKER,
            request_id=f"t-{family_id}",
        )
        cf = facts.counterfactual
        named = {i.indicator for c in cf.changes for i in c.indicators}
        assert named <= MUTABLE_INDICATORS
        assert not named & _forbidden_changes()
        if not cf.found:
            continue
        found += 1
        # re-score the changed row on the served path (Scorer.score_matrix), apart from the search
        row = facts.row.copy()
        names = facts.model.scorer.feature_names
        for change in cf.changes:
            for moved in change.indicators:
                row[names.index(moved.indicator)] = moved.after
        rescored = facts.model.scorer.score_matrix(row[None, :])
        assert float(rescored.probability[0]) == cf.probability
        assert cf.cutoff is not None and cf.probability is not None
        assert cf.probability < cf.cutoff
        bands = engine.bands(str(facts.entry["as_of"]), facts.model)
        assert bands.levels(rescored.probability)[0] != facts.entry["risk_level"]
    assert found >= 5, f"only {found} of {len(flagged)} flagged families had a change found"


def test_the_change_found_is_the_smallest(engine: ServingEngine, desk: DossierDesk, flagged):
    """No smaller subset of the applicable changes brings the family below the cut-off."""
    from itertools import combinations

    from serving.dossier.counterfactual import applicable, rescored_probabilities

    checked = 0
    for family_id in flagged:
        facts = desk.facts(
            family_id=family_id, as_of=None, score_id=None, principal=CASEWORKER, request_id="s"
        )
        cf = facts.counterfactual
        if not cf.found or len(cf.changes) < 2:
            continue
        scorer = facts.model.scorer
        options = applicable(facts.row, scorer.feature_names, MUTABLE_CHANGES)
        for combo in combinations(options, len(cf.changes) - 1):
            row = facts.row.copy()
            for change in combo:
                for moved in change.indicators:
                    row[scorer.feature_names.index(moved.indicator)] = moved.after
            assert rescored_probabilities(scorer, row[None, :])[0] >= cf.cutoff
        checked += 1
    assert checked >= 1


def test_a_family_at_the_lowest_level_has_nothing_to_change(engine: ServingEngine) -> None:
    scorer = engine.scorer
    bands = engine.bands(engine.snapshot_date)
    _, matrix = engine.lookup.get_matrix(["F00001"], as_of=engine.snapshot_date)
    cf = smallest_changes(scorer, matrix[0], level="low", bands=bands)
    assert cf.cutoff is None and not cf.changes and not cf.found


def test_the_record_is_reproduced_bit_for_bit_from_log_model_and_snapshot(
    serving_world: ServingWorld, engine: ServingEngine, desk: DossierDesk, flagged: list[str]
) -> None:
    """From the audit-log entry (score_id), the model version (loaded afresh from MLflow)
    and the snapshot file, every number of the record is computed again and is equal."""
    family_id = next(
        f
        for f in flagged
        if desk.facts(
            family_id=f, as_of=None, score_id=None, principal=CASEWORKER, request_id="p"
        ).counterfactual.found
    )
    made = desk.produce(
        family_id=family_id, lang="kk", fmt="html", principal=CASEWORKER, request_id="repro-1"
    )
    numbers = numbers_of(made.content.decode("utf-8"))
    entry = engine.audit_log.score_entry(numbers["score_id"])
    assert entry is not None
    # the audit log's dossier entry names what it explains and the hash of its numbers
    (logged,) = [
        e
        for e in engine.audit_log.page(after_seq=made.audit_seq - 1, limit=1)
        if e["kind"] == "dossier"
    ]
    detail = logged["detail"]
    canonical = json.dumps(numbers, sort_keys=True, separators=(",", ":")).encode()
    import hashlib

    assert detail["numbers_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert detail["explains_score_id"] == entry["score_id"]

    # model version of the entry, loaded afresh; the family's row from the snapshot file
    loaded = load_risk_model(
        f"models:/{numbers['model_name']}/{entry['model_version']}",
        tracking_uri=serving_world.tracking_uri,
    )
    s = engine.settings
    scorer = Scorer(
        loaded.risk_model,
        min_contribution=s.min_contribution,
        n_raising=s.reasons_raising,
        n_lowering=s.reasons_lowering,
        n_context=s.reasons_context,
    )
    table = read_feature_table(serving_world.snapshot_path)
    day = table.loc[table["as_of"].astype(str).str[:10] == entry["as_of"]]
    row = day.loc[day["family_id"] == entry["family_id"], scorer.feature_names].to_numpy(float)
    scored = scorer.score_matrix(row)
    assert float(scored.probability[0]) == entry["probability"] == numbers["probability"]
    assert numbers["baseline"] == scored.explanations[0].baseline
    assert numbers["needs"] == [
        {"indicator": r.indicator, "value": r.value, "contribution": r.contribution}
        for r in scored.explanations[0].needs_raising
    ]
    # the cut-off: the capacity rule over the eligible population of that date
    from features.eligibility import EligibilityRule
    from training.registry import TAG_ELIGIBILITY

    rule = EligibilityRule.from_tag(loaded.tags.get(TAG_ELIGIBILITY))
    population = day.loc[rule.mask(day), scorer.feature_names]
    bands = derive_bands(
        scorer.probabilities(population),
        capacity_count=s.capacity_count,
        capacity_fraction=s.capacity_fraction,
        elevated_ratio=s.elevated_ratio,
    )
    assert bands.levels(scored.probability)[0] == entry["risk_level"] == numbers["risk_level"]
    assert numbers["cutoff"] == bands.cutoffs()[numbers["risk_level"]]
    # what would change: the named changes applied to the row, scored again
    cf = numbers["counterfactual"]
    changed = row.copy()
    for change in cf["changes"]:
        for moved in change["indicators"]:
            changed[0, scorer.feature_names.index(moved["indicator"])] = moved["after"]
    again = scorer.score_matrix(changed)
    assert float(again.probability[0]) == cf["probability"]
    assert cf["probability"] < numbers["cutoff"]
    assert bands.levels(again.probability)[0] == cf["new_level"]


def test_the_record_says_what_a_family_must_know_in_each_language(
    engine: ServingEngine, desk: DossierDesk, flagged: list[str]
) -> None:
    family_id = flagged[0]
    first = desk.facts(
        family_id=family_id, as_of=None, score_id=None, principal=CASEWORKER, request_id="d0"
    )
    engine.audit_log.record_feedback(
        FeedbackRecord(
            str(first.entry["score_id"]), "d1", "cw77decide", "caseworker", family_id,
            "support_offered", "family agreed to a visit",
        )
    )  # fmt: skip
    for lang in LANGUAGE_CODES:
        made = desk.produce(
            family_id=family_id, lang=lang, fmt="html", principal=CASEWORKER, request_id=f"l{lang}"
        )
        html = made.content.decode("utf-8")
        assert f'<html lang="{lang}">' in html
        level = str(made.facts.entry["risk_level"])
        assert LEVEL_NAME[level][lang] in html  # the level in words
        assert str(made.facts.entry["model_version"]) in html
        assert made.score_id in html
        assert "cw77decide" in html and "family agreed to a visit" in html  # decision and who
        assert "Office 12" in html  # where to contest
        for reason in made.facts.explanation.needs_raising:  # each raising need is named
            from html import unescape

            from serving.i18n import describe_indicator

            # as the family reads it: "a child's" is written "a child&#39;s" in the HTML
            assert describe_indicator(reason.indicator, lang) in unescape(html)
        if lang != "en":
            assert "automated assessment" not in html  # not English on a kk/ru page
    assert text_problems() == []


def test_a_pdf_is_a_pdf(desk: DossierDesk, flagged: list[str]) -> None:
    made = desk.produce(
        family_id=flagged[0], lang="ru", fmt="pdf", principal=CASEWORKER, request_id="pdf"
    )
    assert made.media_type == "application/pdf"
    assert made.content.startswith(b"%PDF-") and len(made.content) > 5_000


def test_the_pdf_renderer_fetches_nothing(tmp_path: Path) -> None:
    """An <img> of a local file (as an unescaped text could inject) is not read into the
    PDF; the same page rendered with WeasyPrint's default fetcher does embed it."""
    from PIL import Image
    from weasyprint import HTML  # type: ignore[import-untyped]

    from serving.dossier.render import render_pdf

    image = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(image)
    page = f'<html><body><p>x</p><img src="{image.as_uri()}"></body></html>'
    assert b"/Image" in HTML(string=page).write_pdf()  # the check can see an image
    assert b"/Image" not in render_pdf(page)


def test_a_score_that_no_longer_re_derives_is_refused(
    engine: ServingEngine, desk: DossierDesk, flagged: list[str]
) -> None:
    """A logged score whose number the model and snapshot do not give (a snapshot rebuilt
    or a record changed since) gets no record, and none is logged."""
    real = desk.facts(
        family_id=flagged[1], as_of=None, score_id=None, principal=CASEWORKER, request_id="r"
    )
    engine.audit_log.record_scores(
        [
            ScoreRecord(
                "forged-score-0001", "forge", "cw", "caseworker", "score", flagged[1],
                str(real.entry["as_of"]), str(real.entry["model_version"]),
                float(real.entry["probability"]) - 0.0001, str(real.entry["risk_level"]),
                json.loads(real.entry["reasons"]) if isinstance(real.entry["reasons"], str)
                else real.entry["reasons"],
            )
        ]
    )  # fmt: skip
    before = engine.audit_log.count("dossier")
    with pytest.raises(NotReproducibleError, match="bit for bit: probability"):
        desk.produce(
            family_id=flagged[1],
            score_id="forged-score-0001",
            lang="en",
            fmt="html",
            principal=CASEWORKER,
            request_id="forged",
        )
    assert engine.audit_log.count("dossier") == before


def test_bad_requests_are_refused_naming_the_field(desk: DossierDesk, flagged: list[str]) -> None:
    with pytest.raises(UnknownFamilyError):
        desk.produce(
            family_id="F99999", lang="en", fmt="html", principal=CASEWORKER, request_id="u"
        )
    made = desk.produce(
        family_id=flagged[0], lang="en", fmt="html", principal=CASEWORKER, request_id="a"
    )
    with pytest.raises(RequestError, match=r"^as_of: score .* was made on the snapshot of 2024"):
        desk.produce(
            family_id=flagged[0], as_of="2024-06-30", score_id=made.score_id, lang="en",
            fmt="html", principal=CASEWORKER, request_id="b",
        )  # fmt: skip
    with pytest.raises(RequestError, match=f"^score_id: is not a score of family '{flagged[1]}'"):
        desk.produce(
            family_id=flagged[1], score_id=made.score_id, lang="en", fmt="html",
            principal=CASEWORKER, request_id="b2",
        )  # fmt: skip
    with pytest.raises(UnknownScoreError):
        desk.produce(
            family_id=flagged[0], score_id="never-served", lang="en", fmt="html",
            principal=CASEWORKER, request_id="b3",
        )  # fmt: skip
    with pytest.raises(RequestError, match=r"^as_of: no snapshot for 2023-01-01"):
        desk.produce(
            family_id=flagged[0], as_of="2023-01-01", lang="en", fmt="html",
            principal=CASEWORKER, request_id="c",
        )  # fmt: skip
    with pytest.raises(RequestError, match=r"^family_id: 'F00109' has no score"):
        desk.produce(
            family_id="F00109", lang="en", fmt="html", principal=CASEWORKER, request_id="i"
        )


def test_a_scoped_caseworker_gets_no_record_of_another_region(
    desk: DossierDesk, flagged: list[str]
) -> None:
    from serving.dossier.build import OutOfScopeDossierError

    south = next(f for f in flagged if int(f[1:]) % 3 != 0)
    north_only = Principal("cwnorth0001", "caseworker", frozenset({"North"}))
    with pytest.raises(OutOfScopeDossierError):
        desk.produce(family_id=south, lang="en", fmt="html", principal=north_only, request_id="n")


@pytest.mark.parametrize(
    ("indicator", "why"),
    [
        ("hh_children", "kind 'context'"),
        ("econ_benefits_total_365d", "kind 'support'"),
        ("soc_support_center_visits_365d", "kind 'support'"),
        ("audit_sex", "protected attribute"),
        ("disability_in_family", "protected attribute"),
        ("no_such_indicator", "not in the feature catalogue"),
    ],
)
def test_the_catalogue_refuses_what_a_family_must_never_be_asked_to_change(
    indicator: str, why: str
) -> None:
    bad = Change("bad", {indicator: ("at_most", 0.0)}, words("a", "б", "ә"))
    with pytest.raises(MutableCatalogueError, match=why):
        check_catalogue([*MUTABLE_CHANGES, bad])


def test_the_shipped_catalogue_holds_only_needs() -> None:
    assert check_catalogue(MUTABLE_CHANGES) == MUTABLE_CHANGES
    assert all(FEATURES[name].kind == "need" for name in MUTABLE_INDICATORS)
    assert not any(re.match(r"^(hh_|audit_)", name) for name in MUTABLE_INDICATORS)
    assert all(not math.isnan(b[1]) for c in MUTABLE_CHANGES for b in c.indicators.values())
    assert np.isfinite(len(MUTABLE_CHANGES))


def test_an_open_contest_is_shown_and_logged(engine: ServingEngine, flagged: list[str]) -> None:
    """With the corrections store's open_contests, a family with an open correction is told
    its records are being corrected; another family is not."""
    from serving.dossier.texts import DOSSIER

    contested, other = flagged[2], flagged[3]
    desk = DossierDesk(engine, open_contests=lambda ids: {i for i in ids if i == contested})
    for family, shown in ((contested, True), (other, False)):
        made = desk.produce(
            family_id=family, lang="ru", fmt="html", principal=CASEWORKER, request_id="k"
        )
        assert (DOSSIER["contested"]["ru"] in made.content.decode("utf-8")) is shown
        (entry,) = engine.audit_log.page(after_seq=made.audit_seq - 1, limit=1)
        assert entry["detail"]["contested"] is shown
