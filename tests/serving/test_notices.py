"""Notices (issue 23, item 4): families assessed for the first time or whose level rose
since the previous snapshot get a notice in their language that an automated assessment
is used to offer support and how to ask for the explanation record; the notice never names
the level or a risk; opt-out is a recorded configuration honoured only where the legal
basis allows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dossier_world import dossier_engine, dossier_env
from serving_world import ServingWorld
from typer.testing import CliRunner

from earlyrisk.cli import app
from serving.dossier.counterfactual import LEVEL_ORDER, rescored_probabilities
from serving.dossier.notices import (
    NoticeConfig,
    NoticeConfigError,
    load_notice_config,
    notice_text,
    notices,
)
from serving.engine import RequestError, ServingEngine
from serving.i18n import LANGUAGE_CODES
from serving.i18n.phrases import LEVEL_NAME

#: Words a notice must never hold: a level's name, or risk, in any language.
FORBIDDEN = {
    *(w[lang] for w in LEVEL_NAME.values() for lang in LANGUAGE_CODES),
    "risk", "риск", "қауіп", "high", "высок", "жоғары", "%",
}  # fmt: skip


@pytest.fixture(scope="module")
def engine(
    serving_world: ServingWorld, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServingEngine]:
    made, _ = dossier_engine(serving_world, tmp_path_factory.mktemp("notices"))
    try:
        yield made
    finally:
        made.close()


def _levels(engine: ServingEngine, day: str) -> dict[str, str]:
    """Every eligible family's level on day, computed here apart from the module."""
    (frame,) = list(engine.lookup.iter_population(as_of=day))
    matrix = frame.to_numpy(float)
    keep = engine.scorer.eligible_matrix(matrix)
    levels = engine.bands(day).levels(rescored_probabilities(engine.scorer, matrix[keep]))
    return dict(zip(frame.index[keep], levels, strict=True))


def test_first_assessed_and_risen_families_are_notified_and_no_one_else(engine):
    first, second = sorted(engine.as_of_dates)
    run = notices(engine, as_of=second, langs=["kk", "ru"], config=NoticeConfig())
    before, now = _levels(engine, first), _levels(engine, second)
    rank = {level: i for i, level in enumerate(LEVEL_ORDER)}
    expected_first = {f for f in now if f not in before}
    expected_rose = {f for f in now if f in before and rank[now[f]] > rank[before[f]]}
    got = run.notices.groupby("reason")["family_id"].apply(set).to_dict()
    assert expected_rose  # (every family of the world is eligible on both dates or neither)
    assert got.get("first_assessment", set()) == expected_first
    assert got.get("level_rose", set()) == expected_rose
    assert run.previous == first and run.assessed == len(now)
    # on the first snapshot every eligible family is assessed for the first time
    everyone = notices(engine, as_of=first, langs=["en"], config=NoticeConfig())
    assert set(everyone.notices["family_id"]) == set(before)
    assert set(everyone.notices["reason"]) == {"first_assessment"}


def test_a_notice_never_names_the_level_or_a_risk(engine):
    (_, second) = sorted(engine.as_of_dates)
    run = notices(
        engine,
        as_of=second,
        langs=list(LANGUAGE_CODES),
        config=NoticeConfig(legal_basis="Law on AI, art. 17", opt_out_allowed=True),
    )
    assert len(run.notices) > 0
    for lang in LANGUAGE_CODES:
        for text in run.notices[f"notice_{lang}"]:
            lowered = text.lower()
            assert not [w for w in FORBIDDEN if w.lower() in lowered], text
    sample = run.notices.iloc[0]
    assert sample["family_id"] in sample["notice_kk"]
    assert "explanation record" in sample["notice_en"]
    assert "разъяснение" in sample["notice_ru"] and "түсіндірме" in sample["notice_kk"]
    assert "Law on AI, art. 17" in sample["notice_en"]  # the opt-out sentence, with its basis


def test_the_forbidden_word_check_would_catch_a_level():
    """The check above is not vacuous: a notice that named the level fails it."""
    bad = notice_text("F1", "2024-12-31", "ru", NoticeConfig()) + " Уровень: высокий."
    assert [w for w in FORBIDDEN if w.lower() in bad.lower()]


def test_opt_out_is_honoured_only_where_the_legal_basis_allows_it(engine, tmp_path: Path):
    (_, second) = sorted(engine.as_of_dates)
    full = notices(engine, as_of=second, langs=["en"], config=NoticeConfig())
    leaving = tuple(full.notices["family_id"].iloc[:3])
    allowed = NoticeConfig(legal_basis="consent", opt_out_allowed=True, opted_out=leaving)
    run = notices(engine, as_of=second, langs=["en"], config=allowed)
    assert run.opted_out == 3
    assert not set(leaving) & set(run.notices["family_id"])
    assert len(run.notices) == len(full.notices) - 3
    # without the legal basis for it, an opt-out list is refused, naming the field
    path = tmp_path / "notices.yaml"
    path.write_text("legal_basis: public task\nopt_out_allowed: false\nopted_out: [F00001]\n")
    with pytest.raises(NoticeConfigError, match="opt_out_allowed is false"):
        load_notice_config(path)
    path.write_text("legal_basis: public task\nopt_outs: []\n")
    with pytest.raises(NoticeConfigError, match="field opt_outs"):
        load_notice_config(path)
    with pytest.raises(RequestError, match=r"^as_of: no snapshot for 2020-01-01"):
        notices(engine, as_of="2020-01-01", langs=["en"], config=NoticeConfig())


def test_the_cli_writes_the_notices_and_records_the_run_with_its_configuration(
    serving_world: ServingWorld, tmp_path: Path
):
    env = dossier_env(serving_world, tmp_path / "cli")
    config = tmp_path / "notices.yaml"
    config.write_text("legal_basis: Law on AI 2025, art. 17\nopt_out_allowed: true\n")
    out = tmp_path / "notices.csv"
    result = CliRunner().invoke(
        app,
        ["notices", "--as-of", "2024-12-31", "--lang", "kk", "--lang", "ru", "--config",
         str(config), "--out", str(out)],
        env={**env, "COLUMNS": "400"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["family_id", "reason", "as_of", "notice_kk", "notice_ru"]
    from serving.store.audit_log import open_audit_log

    log = open_audit_log(Path(env["EARLYRISK_AUDIT_LOG_PATH"]))
    try:
        (entry,) = [e for e in log.page(limit=1000) if e["kind"] == "dossier"]
    finally:
        log.close()
    assert entry["endpoint"] == "notices" and entry["role"] == "operator"
    assert entry["detail"]["config"]["legal_basis"] == "Law on AI 2025, art. 17"
    assert entry["detail"]["notices"] == len(frame)
    assert entry["detail"]["languages"] == ["kk", "ru"]


def test_the_dossier_cli_writes_a_record_and_refuses_bad_input(
    serving_world: ServingWorld, tmp_path: Path
):
    env = {**dossier_env(serving_world, tmp_path / "cli"), "COLUMNS": "400"}
    out = tmp_path / "out" / "dossier.pdf"
    ok = CliRunner().invoke(
        app, ["dossier", "--family", "F00011", "--lang", "ru", "--out", str(out)], env=env
    )
    assert ok.exit_code == 0, ok.output
    assert out.read_bytes().startswith(b"%PDF-") and "explains score" in ok.output
    unknown = CliRunner().invoke(
        app, ["dossier", "--family", "F99999", "--lang", "en", "--out", str(out)], env=env
    )
    assert unknown.exit_code == 1 and "F99999" in unknown.output
    both = CliRunner().invoke(
        app,
        ["dossier", "--family", "F00011", "--as-of", "2024-12-31", "--score-id", "x",
         "--lang", "en", "--out", str(out)],
        env=env,
    )  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output
    bad_lang = CliRunner().invoke(
        app, ["dossier", "--family", "F00011", "--lang", "de", "--out", str(out)], env=env
    )
    assert bad_lang.exit_code == 2 and "'de' is not one of en, ru, kk" in bad_lang.output
