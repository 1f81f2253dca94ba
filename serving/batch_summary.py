"""How a finished batch run is shown on the terminal, for both engines' ``earlyrisk score``
(pandas in :mod:`serving.score_cli`, Spark in :mod:`serving.spark_batch`): one table, so the
two print the same columns in the same words and a user comparing the engines reads one
layout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from serving.batch import BatchSummary


def print_batch_summary(summary: BatchSummary, *, written: Literal["file", "directory"]) -> None:
    """Print the run's families, model, levels with their lower bounds and where it wrote
    (``written``: the pandas engine writes one file, Spark a directory of parts)."""
    table = Table("families", "model", "risk levels (lower bound)", written)
    levels = ", ".join(
        f"{k}: {v} (>= {summary.band_cutoffs.get(k, 0.0):.3f})" for k, v in summary.levels.items()
    )
    table.add_row(
        str(summary.families),
        f"{summary.model_uri} (version {summary.model_version})",
        levels,
        str(summary.path),
    )
    Console().print(table)
