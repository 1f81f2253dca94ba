"""`earlyrisk monitor --out DIR` keeps an earlier report unless told --overwrite (issue 20,
item 9): exit 2 with a message naming the folder, the reports and the flag, before any work.
The full run that replaces a report with --overwrite is in test_monitor_registry.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app

# a wide terminal: a long temporary path is never folded inside a word by rich
WIDE = {"COLUMNS": "400"}


def _said(output: str) -> str:
    return " ".join(output.split())


@pytest.fixture
def earlier(tmp_path: Path) -> Path:
    """A folder holding an earlier monitoring report."""
    out = tmp_path / "reports"
    out.mkdir()
    (out / "monitor_report.json").write_text('{"earlier": true}\n', encoding="utf-8")
    (out / "monitor_report.html").write_text("<p>earlier</p>\n", encoding="utf-8")
    return out


def _kept(out: Path) -> bool:
    return (out / "monitor_report.json").read_text(encoding="utf-8") == '{"earlier": true}\n'


@pytest.mark.parametrize("mode", ["snapshot", "served"])
def test_an_earlier_report_is_kept_without_overwrite(
    mode: str, earlier: Path, tmp_path: Path
) -> None:
    (tmp_path / "raw").mkdir()
    source = (
        ["--raw", str(tmp_path / "raw"), "--as-of", "2024-12-31"]
        if mode == "snapshot"
        else ["--served-stats", str(tmp_path / "saved.json")]
    )
    result = CliRunner(env=WIDE).invoke(
        app, ["monitor", *source, "--out", str(earlier), "--no-mlflow"]
    )
    said = _said(result.output)
    assert result.exit_code == 2, result.output
    assert f"--out {earlier} already holds monitor_report.json and monitor_report.html" in said
    assert "pass --overwrite to replace them" in said
    assert "Traceback" not in result.output
    assert _kept(earlier)


def test_overwrite_lets_the_run_go_on(earlier: Path, tmp_path: Path) -> None:
    """With --overwrite the folder is no obstacle: the run goes on and stops at its input
    (no saved statistics there), leaving the earlier report as it was."""
    result = CliRunner(env=WIDE).invoke(
        app,
        [
            *("monitor", "--served-stats", str(tmp_path / "saved.json")),
            *("--out", str(earlier), "--no-mlflow", "--overwrite"),
        ],
    )
    said = _said(result.output)
    assert result.exit_code == 1, result.output
    assert "cannot monitor" in said and "saved.json" in said
    assert "already holds" not in said
    assert _kept(earlier)


def test_a_file_is_not_a_report_folder(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text("{}", encoding="utf-8")
    (tmp_path / "raw").mkdir()
    result = CliRunner(env=WIDE).invoke(
        app,
        [
            *("monitor", "--raw", str(tmp_path / "raw"), "--as-of", "2024-12-31"),
            *("--out", str(out), "--no-mlflow"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert f"--out {out} is a file; name a directory for the reports" in _said(result.output)
