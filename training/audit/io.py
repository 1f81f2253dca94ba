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


#: What --scores accepts, said in every refusal about it.
ACCEPTED = (
    "a score file (.csv, .csv.gz, .parquet or .pq) or a directory of Parquet part files "
    "(as `earlyrisk score --engine spark` writes)"
)
#: Entries of a directory named in a refusal (the rest are counted).
_SHOWN_ENTRIES = 8


def read_scores(path: str | Path) -> pd.DataFrame:
    """Read a score table; the format follows the suffix (.csv, .csv.gz, .parquet, .pq).

    A directory is read as one Parquet dataset (its ``*.parquet``/``*.pq`` part files,
    ``key=value`` subfolders as columns, names starting with ``_`` or ``.`` skipped): the
    folder ``earlyrisk score --engine spark`` writes. A directory without part files is
    refused with what it holds. Only rows of an ``earlyrisk score`` file whose ``status``
    is ``scored`` carry a probability: ``ineligible`` families are outside the scored
    population (design rule 10), a display hold-out's ``withheld`` row keeps only its score
    id (the rollout's randomized arm, so leaving it out does not bias the audit), and an
    ``expired`` score is no longer in force. The others are left out.
    """
    source = Path(path)
    if not source.exists():
        raise AuditInputError(f"score file {str(source)!r} does not exist; give {ACCEPTED}")
    if source.is_dir():
        return _scored_only(_read_parquet_folder(source))
    if not source.is_file():
        raise AuditInputError(
            f"score file {str(source)!r} is not a regular file (a device, socket or pipe); "
            f"give {ACCEPTED}"
        )
    name = source.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return _scored_only(pd.read_parquet(source))
        if name.endswith((".csv", ".csv.gz")):
            return _scored_only(pd.read_csv(source))
    except (OSError, ValueError) as error:
        raise AuditInputError(f"could not read {str(source)!r}: {error}") from error
    raise AuditInputError(f"score file {str(source)!r} has an unknown format; give {ACCEPTED}")


def _read_parquet_folder(folder: Path) -> pd.DataFrame:
    """The Parquet part files under ``folder`` as one table, or a refusal naming what the
    folder holds instead."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    parts = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in (".parquet", ".pq")
        and not any(piece.startswith(("_", ".")) for piece in p.relative_to(folder).parts)
    )
    if not parts:
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        if not entries:
            held = "it is empty"
        else:
            shown = ", ".join(entries[:_SHOWN_ENTRIES])
            more = len(entries) - _SHOWN_ENTRIES
            held = f"it holds {shown}{f' and {more} more' if more > 0 else ''}"
        raise AuditInputError(
            f"--scores {str(folder)!r} is a directory without Parquet part files ({held}); "
            f"give {ACCEPTED}"
        )
    try:
        # exactly these files, in name order (other files, e.g. a run record, are not rows)
        dataset = ds.dataset(
            [str(p) for p in parts],
            format="parquet",
            partitioning="hive",
            partition_base_dir=str(folder),
        )
        return dataset.to_table().to_pandas()
    except (OSError, ValueError, pa.ArrowException) as error:
        raise AuditInputError(
            f"could not read the Parquet part files of directory {str(folder)!r} "
            f"({len(parts)} found): {error}"
        ) from error


#: the one ``status`` of a score file's rows that carries a probability to audit
SCORED_STATUS = "scored"


def _scored_only(frame: pd.DataFrame) -> pd.DataFrame:
    if "status" not in frame.columns:
        return frame
    return frame.loc[frame["status"] == SCORED_STATUS].reset_index(drop=True)


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
