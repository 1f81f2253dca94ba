"""NannyML's CBPE in an environment of its own: the benchmark's peer, never a dependency.

NannyML pins its own versions of pandas, scikit-learn and more, which must not decide the
project's; so ``make bench`` runs it in a separate virtual environment,
``.bench-venv-nannyml`` at the repository root, created on first use with
``pip install nannyml==0.13.1 statsmodels==0.14.6 pandas==2.3.3`` (:data:`PINS`; NannyML
checked to resolve with binary wheels for Python 3.11:
``pip download nannyml==0.13.1 --python-version 3.11 --only-binary=:all:``). CBPE reads
the score files (CSV: ``p`` the probability, ``y`` the label on the reference) and writes
its estimate as JSON; nothing else crosses between the environments.

``PIP_FIND_LINKS`` or a pip configuration apply to the install as usual.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

VENV = Path(".bench-venv-nannyml")
NANNYML = "nannyml==0.13.1"
# NannyML 0.13.1 imports statsmodels without declaring it, and pip resolves pandas 3 for it,
# which it predates: both pinned beside it (checked here: CBPE runs with these)
PINS = (NANNYML, "statsmodels==0.14.6", "pandas==2.3.3")

# Runs inside the NannyML environment: the reference CSV, then pairs of (analysis CSV,
# threshold) in; one estimate per analysis file out, as a JSON list (one process per
# reference: NannyML's import is most of a call's cost)
CBPE_SCRIPT = r"""
import json, sys
import pandas as pd
import nannyml as nml

reference = pd.read_csv(sys.argv[1])
out = []
for analysis_csv, threshold in zip(sys.argv[3::2], sys.argv[4::2]):
    analysis = pd.read_csv(analysis_csv)
    fitted = reference.assign(pred=(reference["p"] >= float(threshold)).astype(int))
    analysis["pred"] = (analysis["p"] >= float(threshold)).astype(int)
    estimator = nml.CBPE(
        y_pred_proba="p",
        y_pred="pred",
        y_true="y",
        metrics=["roc_auc"],
        problem_type="classification_binary",
        chunk_number=1,
    )
    estimator.fit(fitted)
    result = estimator.estimate(analysis.drop(columns=["y"], errors="ignore")).to_df()
    row = result.iloc[-1]
    def pick(name):
        for key in result.columns:
            if key[0] == "roc_auc" and key[-1] == name:
                return float(row[key])
        raise KeyError(name)
    out.append({
        "value": pick("value"),
        "low": pick("lower_confidence_boundary"),
        "high": pick("upper_confidence_boundary"),
        "sampling_error": pick("sampling_error"),
        "nannyml": nml.__version__,
    })
json.dump(out, open(sys.argv[2], "w"))
"""


def python() -> Path:
    """The NannyML environment's interpreter, creating the environment on first use."""
    exe = VENV / "bin" / "python"
    stamp = VENV / f".installed-{'-'.join(PINS)}"
    if stamp.exists():
        return exe
    if not exe.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"creating {VENV} with {NANNYML} (first use; not a project dependency)", flush=True)
    subprocess.run([str(exe), "-m", "pip", "install", "-q", *PINS], check=True)
    stamp.write_text("ok\n", encoding="utf-8")
    return exe


def cbpe_estimates(
    reference_csv: Path, analyses: list[tuple[Path, float]], out_json: Path
) -> list[dict[str, float]]:
    """CBPE's ROC AUC estimate and its confidence band for each analysis file, CBPE fitted
    on ``reference_csv`` (once per file: a fit is cheap, the environment's start is not).

    Each analysis file comes with the ``threshold`` that turns probabilities into the class
    predictions CBPE insists on (unused by its ROC AUC).
    """
    args = [str(a) for path, threshold in analyses for a in (path, threshold)]
    subprocess.run(
        [str(python()), "-c", CBPE_SCRIPT, str(reference_csv), str(out_json), *args],
        check=True,
        # NannyML sends usage statistics to segment.io unless told not to: nothing of a
        # benchmark leaves the machine (and offline, each upload stalls on retries)
        env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"},
    )
    result: list[dict[str, float]] = json.loads(out_json.read_text(encoding="utf-8"))
    return result


if __name__ == "__main__":
    print(python())
    sys.exit(0)
