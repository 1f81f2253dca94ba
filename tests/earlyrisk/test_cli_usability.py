"""The command line as a user meets it: help readable at 80 columns, no third-party noise,
and the hint that names the next step (the contract file, ``--model``, the planted shift)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from earlyrisk.cli import app

ROOT = Path(__file__).resolve().parents[2]
ELLIPSIS = "\u2026"


def _every_command() -> list[list[str]]:
    """The argv (without ``--help``) of the group and of every verb and sub-verb."""
    group = typer.main.get_command(app)
    found: list[list[str]] = [[]]

    def walk(command: object, path: list[str]) -> None:
        # typer vendors its own click: a group is what has sub-commands
        for name, sub in getattr(command, "commands", {}).items():
            found.append([*path, name])
            walk(sub, [*path, name])

    walk(group, [])
    return found


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("PYTHONWARNINGS", None)
    return env


def test_every_help_fits_80_columns_without_a_cut_word() -> None:
    commands = _every_command()
    assert len(commands) > 15  # the walk found the verbs, not only the group
    runner = CliRunner()
    for argv in commands:
        result = runner.invoke(app, [*argv, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert result.exit_code == 0, (argv, result.output)
        for line in result.output.splitlines():
            assert ELLIPSIS not in line, f"earlyrisk {' '.join(argv)} --help cuts: {line!r}"
            assert len(line) <= 80, f"earlyrisk {' '.join(argv)} --help: {line!r}"


def test_option_help_is_shown_whole_at_80_columns() -> None:
    """The default config's path was cut to "training/default_config.y…" at 80 columns."""
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "80"})
    assert "training/default_config.yaml" in " ".join(result.output.split())


def test_validate_help_cites_the_contract_file_that_exists() -> None:
    result = CliRunner().invoke(app, ["validate", "--help"], env={"COLUMNS": "80"})
    said = " ".join(result.output.split())
    assert "docs/data_contract.md" in said and "DATA_CONTRACT.md" not in said
    assert (ROOT / "docs" / "data_contract.md").is_file()


def test_validate_help_prints_no_warning() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "earlyrisk", "validate", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(COLUMNS="80"),
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("preload", ["", "import mlflow.types.schema"])
def test_the_schemas_never_load_pandas_on_spark(preload: str) -> None:
    """pandera imports pyspark.pandas when it can (its FutureWarning on every command); the
    schemas hide it, both when nothing loaded pyspark and when MLflow already had."""
    probe = (
        "import sys, warnings\n"
        "warnings.simplefilter('always')\n"
        "class Spy:\n"  # sees every import the finders are asked for
        "    tried = []\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('pyspark.pandas'):\n"
        "            Spy.tried.append(name)\n"
        "sys.meta_path.insert(0, Spy())\n"
        f"{preload}\n"
        "import features.schemas\n"
        "print(bool(Spy.tried), 'pyspark' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    pandas_on_spark_tried, pyspark = done.stdout.split()
    assert pandas_on_spark_tried == "False"
    assert pyspark == ("True" if preload else "False")  # a pandas-only path never loads it
    assert "FutureWarning" not in done.stderr, done.stderr
    # hidden for pandera's import only: a Spark path can still import pyspark afterwards
    assert "pyspark" not in sys.modules or sys.modules["pyspark"] is not None


def test_monitor_without_a_champion_says_to_pass_model(
    small_registry_dir: Path, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "--raw",
            str(small_registry_dir),
            "--as-of",
            "2024-12-31",
            "--out",
            str(tmp_path / "monitor"),
            "--tracking-uri",
            uri,
        ],
        # the model name is the default one whatever an earlier test left in the environment
        env={
            "COLUMNS": "80",
            "EARLYRISK_MODEL_URI": "",
            "EARLYRISK_MODEL_NAME": "earlyrisk-family-risk",
        },
    )
    said = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "cannot monitor" in said
    assert "--model models:/earlyrisk-family-risk@challenger" in said
    assert "--model models:/earlyrisk-family-risk/VERSION" in said


def test_monitor_with_an_explicit_model_gets_no_alias_hint(
    small_registry_dir: Path, tmp_path: Path
) -> None:
    """The hint is about the default alias; a user who named a version gets the error only."""
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "--raw",
            str(small_registry_dir),
            "--as-of",
            "2024-12-31",
            "--out",
            str(tmp_path / "monitor"),
            "--tracking-uri",
            uri,
            "--model",
            "models:/earlyrisk-family-risk/7",
        ],
    )
    assert result.exit_code == 1 and "cannot monitor" in result.output
    assert "hint:" not in result.output


def test_synth_says_what_the_shift_month_planted(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    argv = ["synth", "--families", "60", "--seed", "3", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(app, [*argv, "--shift-month", "2024-06"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "planted from 2024-06-01 on" in said
    assert "benefit_payment paid at x1.6 the amount" in said
    assert "school_absence in half-days (value x2)" in said
    assert "only 60% of child_protection_case and child_placed_in_care outcomes" in said
    plain = CliRunner().invoke(app, [*argv, "--overwrite"], env={"COLUMNS": "80"})
    assert plain.exit_code == 0 and "planted" not in plain.output
