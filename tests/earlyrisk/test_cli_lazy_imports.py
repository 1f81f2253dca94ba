"""The ``earlyrisk`` command imports a verb's heavy libraries only when that verb runs.

Every ``earlyrisk`` process (a user's shell, ``make demo``'s steps, the tests' subprocesses)
pays for what ``earlyrisk.cli`` imports before it parses its arguments: importing MLflow
alone costs 3.5 CPU-seconds here, LightGBM 2.5 (``python -X importtime``), which a ``--help``
or a ``validate`` never uses. The command modules import them inside the command bodies; a
module-level import added to any of them would make every verb pay again, silently.

The same run checks that a pandas ``validate`` prints no third-party warning (pandera's
pyspark import used to print one on every command).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: libraries that only training, scoring, serving or monitoring verbs need
HEAVY = ("lightgbm", "mlflow", "bentoml", "sklearn", "fairlearn", "pyspark", "weasyprint")
#: ...and the data libraries, which a bare ``import earlyrisk.cli`` (``--help``) never needs
DATA = ("pandas", "pyarrow", "pandera", "scipy")

# One process: what `import earlyrisk.cli` loaded, then what `earlyrisk validate DIR` added.
PROBE = """
import json, sys
import earlyrisk.cli
print("AFTER_IMPORT " + json.dumps(sorted(m for m in sys.modules if "." not in m)))
sys.argv = ["earlyrisk", "validate", sys.argv[1]]
try:
    earlyrisk.cli.app()
except SystemExit as done:
    print("EXIT " + json.dumps(done.code))
print("AFTER_VALIDATE " + json.dumps(sorted(m for m in sys.modules if "." not in m)))
"""


def _loaded(stdout: str, tag: str) -> set[str]:
    line = next(x for x in stdout.splitlines() if x.startswith(tag + " "))
    return set(json.loads(line.removeprefix(tag + " ")))


def test_the_cli_and_a_pandas_validate_load_no_heavy_library_and_warn_of_nothing(
    small_registry_dir: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(small_registry_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    at_import = _loaded(done.stdout, "AFTER_IMPORT")
    assert "typer" in at_import  # the probe reads the real module list
    eager = sorted(at_import & {*HEAVY, *DATA})
    assert not eager, f"`import earlyrisk.cli` loads {eager}: import them inside the verb"
    assert "EXIT 0" in done.stdout, done.stdout + done.stderr  # the registry is valid
    at_validate = _loaded(done.stdout, "AFTER_VALIDATE")
    assert "pandas" in at_validate  # the verb did run
    eager = sorted(at_validate & set(HEAVY))
    assert not eager, f"`earlyrisk validate` loads {eager}, which it never uses"
    assert "Warning" not in done.stderr and "warn" not in done.stderr.lower(), done.stderr
