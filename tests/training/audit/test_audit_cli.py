"""`earlyrisk audit` on CSV and Parquet, its error cases and the gates exit code."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from private_modes import mode, usual_umask
from typer.testing import CliRunner

from earlyrisk.cli import app

runner = CliRunner()


# a wide terminal: a long temporary path is never folded inside a word by rich
WIDE = {"COLUMNS": "400"}


def _invoke(*args: str):
    return runner.invoke(app, ["audit", *args], catch_exceptions=False, env=WIDE)


def _audit(scores: Path, options: str, out: Path):
    """`earlyrisk audit --scores SCORES <options> --out OUT`, options written as on a shell."""
    return _invoke("--scores", str(scores), *shlex.split(options), "--out", str(out))


@pytest.fixture
def small(scores: pd.DataFrame) -> pd.DataFrame:
    frame = scores.head(600).copy()
    frame.loc[frame.index[:15], "settlement"] = None  # missing groups are kept as a group
    return frame


@pytest.mark.slow
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_audit_writes_reports_from_csv_and_parquet(
    small: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"scores.{suffix}"
    small.to_csv(path, index=False) if suffix == "csv" else small.to_parquet(path)
    out = tmp_path / "out"
    options = "--score prob --label label --group sex --group settlement --top-fraction 0.2"
    result = _audit(path, f"{options} --bootstrap 50", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "audit_report.json").read_text())
    assert (out / "audit_report.html").stat().st_size > 10_000
    assert str(out / "audit_report.json") in result.output.replace("\n", "")
    settlement = next(g for g in report["groupings"] if g["name"] == "settlement")
    missing = next(g for g in settlement["groups"] if g["group"] == "(missing)")
    assert missing["counts"]["n"] == 15
    assert sum(g["counts"]["n"] for g in settlement["groups"]) == len(small)
    assert report["population"]["n_selected"] == 120
    assert "Fairness audit" in result.output


@pytest.mark.slow
def test_csv_and_parquet_give_the_same_numbers(small: pd.DataFrame, tmp_path: Path) -> None:
    small.to_csv(tmp_path / "s.csv", index=False)
    small.to_parquet(tmp_path / "s.parquet")
    reports = []
    for name in ("s.csv", "s.parquet"):
        out = tmp_path / name.replace(".", "_")
        options = "--score prob --label label --group sex --threshold 0.5 --bootstrap 30"
        assert _audit(tmp_path / name, options, out).exit_code == 0
        reports.append(json.loads((out / "audit_report.json").read_text()))
    assert reports[0]["groupings"] == reports[1]["groupings"]
    assert reports[0]["disparities"] == reports[1]["disparities"]


def test_label_free_and_binary_flag_score(small: pd.DataFrame, tmp_path: Path) -> None:
    frame = small.drop(columns="label").assign(high_risk=(small["prob"] > 0.6).astype(int))
    frame.to_csv(tmp_path / "flags.csv", index=False)
    result = _audit(
        tmp_path / "flags.csv", "--score high_risk --group sex --bootstrap 20", tmp_path / "o"
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "audit_report.json").read_text())
    assert report["config"]["label_free"] is True
    assert (
        report["config"]["rule"]["kind"] == "threshold"
        and report["config"]["rule"]["threshold"] == 0.5
    )
    assert report["population"]["n_selected"] == int(frame["high_risk"].sum())


@pytest.mark.slow
def test_gates_file_sets_exit_code_and_names_the_gate(tmp_path: Path) -> None:
    from auditkit import make_scores

    make_scores(1500, seed=2, shift=0.3).to_csv(tmp_path / "biased.csv", index=False)
    gates = tmp_path / "gates.yaml"
    gates.write_text(
        "ratio_bounds:\n  fpr: {lower: 0.8, upper: 1.25}\nrecall_parity: null\noe_bounds: null\n"
        "max_group_ece: null\n"
    )
    options = (
        "--score prob --label label --group sex --top-fraction 0.2 --bootstrap 20 "
        f"--gates {shlex.quote(str(gates))}"
    )
    failed = _audit(tmp_path / "biased.csv", options, tmp_path / "o1")
    assert failed.exit_code == 1
    assert "FAIL fpr_ratio" in failed.output and "sex=F" in failed.output
    report = json.loads((tmp_path / "o1" / "audit_report.json").read_text())
    assert report["gates"]["passed"] is False
    gates.write_text(
        "ratio_bounds:\n  fpr: {lower: 0.01, upper: 100}\nrecall_parity: null\noe_bounds: null\n"
        "max_group_ece: null\n"
    )
    assert _audit(tmp_path / "biased.csv", options, tmp_path / "o2").exit_code == 0


@pytest.mark.parametrize(
    ("change", "extra", "message"),
    [
        (None, ["--threshold", "0.5", "--top-k", "10"], "exactly one decision rule"),
        (None, [], "choose exactly one decision rule"),
        (None, ["--threshold", "0.5", "--group", "ethnicity"], "unknown column(s) 'ethnicity'"),
        ("label_nan", ["--threshold", "0.5"], "label column 'label' has 1 missing"),
        ("label_two", ["--threshold", "0.5"], "must hold 0 and 1 only; found 2"),
        ("score_nan", ["--threshold", "0.5"], "score column 'prob' has 2 missing"),
        ("score_text", ["--threshold", "0.5"], "score column 'prob' must be numeric"),
        (None, ["--top-k", "100000"], "top-k asks for 100000 rows"),
        (None, ["--threshold", "0.5", "--reference", "X"], "reference group 'X'"),
    ],
)
def test_bad_input_is_a_clear_error(
    small: pd.DataFrame, tmp_path: Path, change: str | None, extra: list[str], message: str
) -> None:
    frame = small.copy()
    if change == "label_nan":
        frame["label"] = frame["label"].astype(float)
        frame.loc[frame.index[3], "label"] = np.nan
    elif change == "label_two":
        frame.loc[frame.index[3], "label"] = 2
    elif change == "score_nan":
        frame.loc[frame.index[[1, 4]], "prob"] = np.nan
    elif change == "score_text":
        frame["prob"] = frame["prob"].astype(str).where(frame.index != frame.index[0], "high")
    frame.to_csv(tmp_path / "s.csv", index=False)
    options = f"--score prob --label label --group sex {shlex.join(extra)}"
    result = _audit(tmp_path / "s.csv", options, tmp_path / "o")
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o" / "audit_report.json").exists()


def test_missing_and_unknown_files(tmp_path: Path) -> None:
    options = "--score p --group g --threshold 0.5"
    result = _audit(tmp_path / "none.csv", options, tmp_path / "o")
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())
    (tmp_path / "x.xlsx").write_text("a")
    result = _audit(tmp_path / "x.xlsx", options, tmp_path / "o")
    assert result.exit_code == 2 and "unknown format" in " ".join(result.output.split())


def test_a_directory_without_part_files_is_refused_with_what_it_holds(tmp_path: Path) -> None:
    options = "--score p --group g --threshold 0.5"
    folder = tmp_path / "exports"
    folder.mkdir()
    result = _audit(folder, options, tmp_path / "o")
    said = " ".join(result.output.split())
    assert result.exit_code == 2
    assert f"--scores {str(folder)!r} is a directory without Parquet part files" in said
    assert "(it is empty)" in said and "a directory of Parquet part files" in said
    for name in ("scores.csv", "notes.txt"):
        (folder / name).write_text("p,g\n0.5,a\n", encoding="utf-8")
    (folder / "2024").mkdir()
    result = _audit(folder, options, tmp_path / "o")
    said = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "(it holds 2024/, notes.txt, scores.csv)" in said
    assert "a score file (.csv, .csv.gz, .parquet or .pq)" in said
    assert not (tmp_path / "o").exists()


def test_a_directory_of_part_files_is_audited_as_one_table(
    small: pd.DataFrame, tmp_path: Path
) -> None:
    """The folder `earlyrisk score --engine spark` writes: part files under key=value
    folders, a run record and a _SUCCESS marker beside them (not rows); reports 0600."""
    folder = tmp_path / "scores"
    part = folder / "as_of=2024-06-30"
    part.mkdir(parents=True)
    small.iloc[:250].to_parquet(part / "part-00000.snappy.parquet")
    small.iloc[250:].to_parquet(part / "part-00001.snappy.parquet")
    (folder / "_SUCCESS").write_text("", encoding="utf-8")
    (folder / "_run.json").write_text("{}", encoding="utf-8")
    options = "--score prob --label label --group sex --top-fraction 0.2 --bootstrap 0"
    with usual_umask():
        result = _audit(folder, options, tmp_path / "out")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "audit_report.json").read_text())
    assert report["population"]["n_rows"] == len(small)
    assert report["population"]["n_selected"] == 120  # 0.2 of all rows, both parts
    assert mode(tmp_path / "out" / "audit_report.json") == 0o600
    assert mode(tmp_path / "out" / "audit_report.html") == 0o600
    missing = _audit(folder, "--score risk --group sex --threshold 0.5", tmp_path / "o2")
    said = " ".join(missing.output.split())
    assert missing.exit_code == 2
    assert "unknown column 'risk' (--score); the table has:" in said and "prob" in said
    assert "as_of" in said  # the partition folder's key is a column too
    (part / "part-00002.parquet").write_bytes(b"not parquet at all")
    broken = _audit(folder, options, tmp_path / "o3")
    said = " ".join(broken.output.split())
    assert broken.exit_code == 2
    assert f"could not read the Parquet part files of directory {str(folder)!r} (3 found)" in said


def test_an_out_under_a_file_is_refused_before_the_audit(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("p,g\n0.5,a\n", encoding="utf-8")
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    out = tmp_path / "a_file" / "reports"
    result = _audit(tmp_path / "s.csv", "--score p --group g --threshold 0.5", out)
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert f"--out {str(out)!r} cannot hold the reports: {tmp_path / 'a_file'} is a file" in said


def test_help_explains_the_rules() -> None:
    result = runner.invoke(app, ["audit", "--help"])
    assert result.exit_code == 0
    for option in ("--top-fraction", "--gates", "--label", "label-free"):
        assert option in result.output


def test_decile_score_audit_matches_a_plain_crosstab(tmp_path: Path) -> None:
    """A published-audit style run: 1-10 deciles, "medium or high" = decile >= 5, by race."""
    rng = np.random.default_rng(12)
    n = 3000
    race = rng.choice(["African-American", "Caucasian", "Hispanic"], size=n, p=[0.5, 0.35, 0.15])
    decile = rng.integers(1, 11, size=n) + np.where(race == "African-American", 1, 0)
    decile = np.clip(decile, 1, 10)
    recid = (rng.uniform(size=n) < 0.2 + 0.05 * decile).astype(int)
    frame = pd.DataFrame({"race": race, "decile_score": decile, "two_year_recid": recid})
    frame.to_csv(tmp_path / "deciles.csv", index=False)
    options = (
        "--score decile_score --label two_year_recid --group race --threshold 5 "
        "--reference Caucasian --bootstrap 50"
    )
    result = _audit(tmp_path / "deciles.csv", options, tmp_path / "o")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "audit_report.json").read_text())
    assert report["config"]["scores_are_probabilities"] is False
    groups = {g["group"]: g for g in report["groupings"][0]["groups"]}
    assert groups["Caucasian"]["is_reference"]
    for name, rows in frame.groupby("race"):
        high = rows["decile_score"] >= 5
        fp = int((high & (rows["two_year_recid"] == 0)).sum())
        tn = int((~high & (rows["two_year_recid"] == 0)).sum())
        fn = int((~high & (rows["two_year_recid"] == 1)).sum())
        tp = int((high & (rows["two_year_recid"] == 1)).sum())
        rates = groups[name]["rates"]
        assert rates["fpr"]["estimate"] == pytest.approx(fp / (fp + tn))
        assert rates["fnr"]["estimate"] == pytest.approx(fn / (fn + tp))
        assert rates["precision"]["estimate"] == pytest.approx(tp / (tp + fp))
        assert groups[name]["score_metrics"]["ece"] is None


@pytest.mark.parametrize("case", ["one_group", "all_suppressed"])
def test_gates_with_nothing_to_compare_do_not_pass(tmp_path: Path, case: str) -> None:
    from auditkit import make_scores

    frame = make_scores(400, seed=4)
    frame["sex"] = "F" if case == "one_group" else [f"p{i}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "scores.csv", index=False)
    gates = tmp_path / "gates.yaml"
    gates.write_text("ratio_bounds:\n  tpr: {lower: 0.8, upper: 1.25}\noe_bounds: null\n")
    result = _audit(
        tmp_path / "scores.csv",
        "--score prob --label label --group sex --top-fraction 0.2 --bootstrap 20 "
        f"--gates {shlex.quote(str(gates))}",
        tmp_path / "out",
    )
    assert result.exit_code == 1, result.output
    assert "gate checks passed" not in result.output
    # inconclusive (the reason beside it), never among the passes
    assert "INCONCLUSIVE (not evaluable) group_coverage[sex]" in result.output
    assert "0 failed, 1 inconclusive, 0 passed" in result.output
    report = json.loads((tmp_path / "out" / "audit_report.json").read_text())
    assert report["gates"]["passed"] is False
