"""``import serving.service`` loads the service's definition, not its engine.

``bentoml serve serving.service:EarlyRiskScoring`` imports the module in its main process
only to read the service (name, workers, routes, middlewares), then again in each worker,
which builds the engine. Every real-server start of the suite, and every ``earlyrisk
serve``, paid the engine's libraries (pandas, scipy, scikit-learn: about 3.5 CPU-s) in the
main process too. serving/service.py imports them where a worker first needs them; a
module-level import added to it (or to the gate it installs) would bring the cost back
silently, so a fresh process checks what the import loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: what only a worker's engine, stores and pages use
ENGINE_ONLY = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "sklearn",
    "lightgbm",
    "mlflow",
    "serving.engine",
    "serving.store.stores",
    "serving.review",
    "training",
)

PROBE = """
import json, sys
import serving.service as service
routes = sorted(api.route for api in service.EarlyRiskScoring.apis.values())
middlewares = [getattr(m, "__name__", str(m)) for m, _ in service.EarlyRiskScoring.middlewares]
print("ROUTES " + json.dumps(routes))
print("MIDDLEWARES " + json.dumps(middlewares))
print("MODULES " + json.dumps(sorted(sys.modules)))
"""


def _line(stdout: str, tag: str) -> object:
    line = next(x for x in stdout.splitlines() if x.startswith(tag + " "))
    return json.loads(line.removeprefix(tag + " "))


def test_importing_the_service_defines_every_route_without_loading_the_engine() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    routes = _line(done.stdout, "ROUTES")
    assert isinstance(routes, list)
    # the definition is whole: every endpoint, and both middlewares (the gate, /review)
    for route in ("/score", "/family", "/worklist", "/feedback", "/dossier", "/correction"):
        assert route in routes, routes
    modules = _line(done.stdout, "MODULES")
    assert isinstance(modules, list) and "bentoml" in modules  # the probe reads the real list
    eager = sorted(
        m for m in ENGINE_ONLY if any(name == m or name.startswith(m + ".") for name in modules)
    )
    assert not eager, (
        f"`import serving.service` loads {eager}: import them where a worker uses them"
    )
    # the request gate, then the /review pages (built by a function, in the worker)
    assert _line(done.stdout, "MIDDLEWARES") == ["RequestGate", "_review_pages"]
