"""File adapter of the audit: read a score table from CSV or Parquet, write both reports.

Kept apart from the pure library so the audit itself never touches the file system.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from training.audit.validation import AuditInputError

if TYPE_CHECKING:
    from training.audit.gates import GateOutcome
    from training.audit.result import AuditResult

JSON_NAME = "audit_report.json"
HTML_NAME = "audit_report.html"


def read_scores(path: str | Path) -> pd.DataFrame:
    """Read a score table; the format follows the suffix (.csv, .csv.gz, .parquet, .pq).

    Rows of an ``earlyrisk score`` file whose ``status`` is ``ineligible`` carry no score
    (the family is outside the scored population, design rule 10) and are left out.
    """
    source = Path(path)
    if not source.exists():
        raise AuditInputError(f"score file {str(source)!r} does not exist")
    name = source.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return _scored_only(pd.read_parquet(source))
        if name.endswith((".csv", ".csv.gz")):
            return _scored_only(pd.read_csv(source))
    except (OSError, ValueError) as error:
        raise AuditInputError(f"could not read {str(source)!r}: {error}") from error
    raise AuditInputError(
        f"score file {str(source)!r} has an unknown format; use .csv, .csv.gz, .parquet or .pq"
    )


def _scored_only(frame: pd.DataFrame) -> pd.DataFrame:
    if "status" not in frame.columns:
        return frame
    return frame.loc[frame["status"] != "ineligible"].reset_index(drop=True)


def write_reports(
    result: AuditResult,
    out_dir: str | Path,
    *,
    gate_outcomes: list[GateOutcome] | None = None,
    source: str | None = None,
) -> tuple[Path, Path]:
    """Write ``audit_report.json`` and ``audit_report.html`` into ``out_dir``."""
    from datetime import UTC, datetime

    from training.audit.report_html import render_html, write_html_report
    from training.audit.report_json import build_report, write_json_report

    now = datetime.now(UTC)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    report = build_report(result, gate_outcomes=gate_outcomes, source=source, generated_at=now)
    json_path = write_json_report(report, directory / JSON_NAME)
    html = render_html(result, gate_outcomes=gate_outcomes, source=source, generated_at=now)
    html_path = write_html_report(html, directory / HTML_NAME)
    return json_path, html_path
