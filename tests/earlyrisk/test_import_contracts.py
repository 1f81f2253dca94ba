"""The import-linter contracts of pyproject.toml catch what they are written against.

``make lint`` runs ``lint-imports`` on the repository. Here the same contracts run on a
small tree with the four packages (features, training, serving with its monitor, earlyrisk):
kept as built, and broken by each constructed offender (an upward import, a function-level
one included; the service's core importing the monitor; a cycle through a TYPE_CHECKING
import). A contract that no longer names the right modules fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

TREE = {
    "features/__init__.py": "",
    "features/table.py": "VALUE = 1\n",
    "training/__init__.py": "",
    "training/fit.py": "from features.table import VALUE\n",
    "training/report.py": "from training.fit import VALUE\n",
    "serving/__init__.py": "",
    "serving/core.py": "from training.fit import VALUE\n",
    "serving/other.py": "from serving.core import VALUE\n",
    "serving/monitor/__init__.py": "",
    "serving/monitor/run.py": "from serving.core import VALUE\n",
    "earlyrisk/__init__.py": "",
    "earlyrisk/cli.py": "from serving.core import VALUE\nfrom serving.monitor import run\n",
}

OFFENDERS = {
    "upward import (function level)": (
        "training/fit.py",
        "\ndef later():\n    from serving import core\n\n    return core\n",
        "layers:",
    ),
    "the service's core imports the monitor": (
        "serving/other.py",
        "from serving.monitor import run\n",
        "the monitor is its own layer",
    ),
    "a cycle through a TYPE_CHECKING import": (
        "training/fit.py",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from training import report\n",
        "no import cycles",
    ),
}


def _contracts_config(root: Path) -> Path:
    """The repository's [tool.importlinter] section, alone in a pyproject.toml under root."""
    section = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]
    lines = [
        "[tool.importlinter]",
        f"root_packages = {section['root_packages']!r}".replace("'", '"'),
    ]
    for contract in section["contracts"]:
        lines.append("\n[[tool.importlinter.contracts]]")
        for key, value in contract.items():
            rendered = repr(value).replace("'", '"') if not isinstance(value, str) else f'"{value}"'
            lines.append(f"{key} = {rendered}")
    config = root / "pyproject.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def _lint(root: Path) -> tuple[int, str]:
    for name, text in TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(text, encoding="utf-8")
    config = _contracts_config(root)
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [str(LINT_IMPORTS), str(config), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return out.returncode, out.stdout + out.stderr


def test_the_contracts_hold_on_a_tree_that_keeps_them(tmp_path: Path) -> None:
    code, output = _lint(tmp_path)
    assert code == 0, output
    assert "3 kept, 0 broken" in output


@pytest.mark.parametrize("case", sorted(OFFENDERS))
def test_each_offender_breaks_its_contract(tmp_path: Path, case: str) -> None:
    name, addition, contract = OFFENDERS[case]
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(TREE[name] + addition, encoding="utf-8")
    code, output = _lint(tmp_path)
    assert code != 0, output
    broken = output.split("Broken contracts", 1)[1]
    assert contract in broken, output
