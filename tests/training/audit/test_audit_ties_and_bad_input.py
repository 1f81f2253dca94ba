"""`earlyrisk audit` on a heavily tied scale, and inputs that used to end in a traceback.

Issue 10, items 20-22: the same file in another row order gives the same audit; the tie at
the cut-off is reported; --out naming a file, reports already in --out, malformed gates
YAML, "$" in group labels and scores near 1e308 each end in a message and exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from training.audit import TopK
from training.audit.audit import audit

runner = CliRunner()


def _tied_frame(n: int = 600, seed: int = 4) -> pd.DataFrame:
    """A 1-5 risk scale whose ties split unevenly between two groups."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.5, "north", "south")
    score = rng.integers(1, 6, size=n)
    # Among rows scoring 4, north rows come first in the file: order-based tie-breaking
    # would select north rows only.
    order = np.lexsort((group != "north", -score))
    frame = pd.DataFrame({"score": score, "group": group})
    frame["label"] = (rng.random(n) < 0.1 + 0.1 * score).astype(int)
    return frame.iloc[order].reset_index(drop=True)


def _numbers(result) -> pd.DataFrame:
    table = result.by_group.set_index(["attribute", "group"]).sort_index()
    return table[["n", "n_selected", "selection_rate", "fpr", "fnr"]]


def test_the_audit_of_a_tied_scale_does_not_depend_on_row_order() -> None:
    frame = _tied_frame()
    k = int((frame["score"] == 5).sum()) + 40  # the cut-off falls inside the 4s
    base = audit(frame, score="score", label="label", groups=["group"], rule=TopK(k), n_boot=0)
    assert base.settings["ties_at_cutoff"]["cutoff"] == 4.0
    assert base.n_selected == int((frame["score"] >= 4).sum()) > k
    for seed in range(4):
        shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        again = audit(
            shuffled, score="score", label="label", groups=["group"], rule=TopK(k), n_boot=0
        )
        pd.testing.assert_frame_equal(_numbers(again), _numbers(base))
        assert again.disparities["p_value"].tolist() == pytest.approx(
            base.disparities["p_value"].tolist(), nan_ok=True
        )


def test_the_cli_warns_about_a_tie_at_the_cut_off(tmp_path: Path) -> None:
    frame = _tied_frame()
    path = tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    k = int((frame["score"] == 5).sum()) + 40
    result = runner.invoke(
        app,
        [
            *("audit", "--scores", str(path), "--score", "score", "--label", "label"),
            *("--group", "group", "--top-k", str(k), "--bootstrap", "0"),
            *("--out", str(tmp_path / "out")),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "share the cut-off score 4" in " ".join(result.output.split())
    report = json.loads((tmp_path / "out" / "audit_report.json").read_text())
    assert report["population"]["ties_at_cutoff"]["capacity"] == k
    assert report["population"]["n_selected"] == report["population"]["ties_at_cutoff"]["selected"]


@pytest.fixture
def scores_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "score": rng.random(n),
            "label": rng.integers(0, 2, n),
            "group": np.where(rng.random(n) < 0.5, "$_$", "x$^$y"),
        }
    )
    path = tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    return path


def _run(scores: Path, out: Path, *extra: str):
    return runner.invoke(
        app,
        [
            *("audit", "--scores", str(scores), "--score", "score", "--label", "label"),
            *("--group", "group", "--top-k", "30", "--bootstrap", "5", "--out", str(out)),
            *extra,
        ],
    )


def _clean_refusal(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    text = " ".join(result.output.split())
    for needle in needles:
        assert needle in text, text


def test_dollar_signs_in_group_labels_are_drawn_not_parsed(scores_csv: Path, tmp_path: Path):
    result = _run(scores_csv, tmp_path / "out")
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "audit_report.html").read_text()
    assert "$_$" in html and "x$^$y" in html


def test_out_naming_a_file_or_holding_reports_is_refused(scores_csv: Path, tmp_path: Path):
    a_file = tmp_path / "report.txt"
    a_file.write_text("keep")
    _clean_refusal(_run(scores_csv, a_file), "is a file")
    assert a_file.read_text() == "keep"
    out = tmp_path / "out"
    assert _run(scores_csv, out).exit_code == 0
    before = (out / "audit_report.json").read_bytes()
    _clean_refusal(_run(scores_csv, out), "already holds audit_report.json", "--overwrite")
    assert (out / "audit_report.json").read_bytes() == before
    assert _run(scores_csv, out, "--overwrite").exit_code == 0


def test_malformed_gates_yaml_is_a_message(scores_csv: Path, tmp_path: Path):
    gates = tmp_path / "gates.yaml"
    gates.write_text("gates: [unclosed\n  - x: {")
    _clean_refusal(_run(scores_csv, tmp_path / "out", "--gates", str(gates)), "not valid YAML")


def test_scores_near_the_float_limit_are_a_message(tmp_path: Path):
    rng = np.random.default_rng(1)
    n = 200
    frame = pd.DataFrame(
        {
            "score": rng.random(n) * 1e308,
            "label": rng.integers(0, 2, n),
            "group": np.where(rng.random(n) < 0.5, "a", "b"),
        }
    )
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    _clean_refusal(_run(path, tmp_path / "out"), "cannot be audited")
    assert not (tmp_path / "out" / "audit_report.json").exists()
