"""The ``--engine`` and ``--spark-master`` options shared by ``validate``, ``features`` and
``score``: one definition, one help text."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from features.spark.session import DEFAULT_MASTER


class Engine(StrEnum):
    """Where the data path runs: in this process (pandas) or on a Spark cluster."""

    pandas = "pandas"
    spark = "spark"


EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="pandas: this machine, partitions in worker processes. spark: a Spark "
        "cluster (or local Spark); raw tables are read and processed by Spark, never "
        "collected. Both give the same results (docs/scale.md).",
        case_sensitive=False,
    ),
]
SparkMasterOption = Annotated[
    str,
    typer.Option(
        "--spark-master",
        metavar="URL",
        help="Spark master for --engine spark: local[*], local[N], spark://HOST:7077, "
        "yarn, k8s://https://HOST:PORT, or a Spark Connect sc://HOST:15002.",
    ),
]
ValidatedOption = Annotated[
    Path | None,
    typer.Option(
        "--validated",
        metavar="RECORD",
        help="With --engine spark: skip validating DIR again when RECORD (written by "
        "`earlyrisk validate --record RECORD`) says it passed, the raw files are byte for "
        "byte the ones validated and the validator is this one; otherwise refuse and write "
        "nothing. Without it, the registry is validated first.",
        show_default=False,
    ),
]


def refuse_validated_on_pandas(validated: Path | None, engine: Engine, err: Console) -> None:
    """``--validated`` is for Spark: the pandas engine validates in the pass that reads the
    registry anyway (features.partitioned_raw), so there is nothing to skip."""
    if validated is not None and engine is Engine.pandas:
        err.print(
            "[red]error:[/red] --validated is for --engine spark; the pandas engine checks "
            "the registry in the same pass that reads it"
        )
        raise typer.Exit(2)


def start_spark(master: str, err: Console) -> Any:
    """The SparkSession for ``master``; a clear message and exit code 2 when it cannot start."""
    from features.spark.session import SparkUnavailableError, spark_session

    try:
        session = spark_session(master)
    except SparkUnavailableError as error:
        err.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(2) from None
    if not master.startswith("sc://"):  # a Connect client has no SparkContext
        session.sparkContext.setLogLevel("ERROR")
    return session


__all__ = [
    "DEFAULT_MASTER",
    "Engine",
    "EngineOption",
    "SparkMasterOption",
    "ValidatedOption",
    "refuse_validated_on_pandas",
    "start_spark",
]
