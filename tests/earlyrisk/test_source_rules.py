"""Source rules the import graph cannot check, read from the code itself (AST, not grep).

* Only :mod:`training.lightgbm_adapter` imports LightGBM or calls a booster: its lock
  protects only the calls that take it (the service's explanations once ran outside it).
* Library code never touches MLflow's process-wide state (``mlflow.set_tracking_uri``, the
  fluent run API, an argument-less ``MlflowClient()``, ``MLFLOW_*`` environment variables):
  a notebook, service or test in the same process keeps its own store.
* Library code installs no signal handler (only a CLI module may: ``cli.py``, ``*_cli.py``)
  and never forks (a fork after a thread started copies held locks; spawn or forkserver).

Each rule is also run on a constructed offender, so a rule that stopped matching fails.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADAPTER = Path("training/lightgbm_adapter.py")
# every package and the benchmarks use LightGBM only through the adapter
LIGHTGBM_SCOPE = ("features", "training", "serving", "earlyrisk", "benchmarks")
MLFLOW_SCOPE = ("features", "training", "serving", "earlyrisk")
# features still installs its scratch-directory handlers and forks its workers itself
# (issue 20 item 4, its own part); these packages already keep both rules
PROCESS_SCOPE = ("training", "serving", "earlyrisk")

BOOSTER_METHODS = frozenset(
    {
        "predict",
        "model_to_string",
        "model_from_string",
        "save_model",
        "dump_model",
        "feature_name",
        "feature_importance",
        "refit",
        "update",
        "rollback_one_iter",
        "num_trees",
        "trees_to_dataframe",
        "set_leaf_output",
        "get_leaf_output",
    }
)
FLUENT_MLFLOW = frozenset(
    {
        "set_tracking_uri",
        "set_registry_uri",
        "set_experiment",
        "start_run",
        "end_run",
        "active_run",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "log_artifact",
        "log_artifacts",
        "log_dict",
        "log_input",
        "log_model",
        "set_tag",
        "set_tags",
        "register_model",
    }
)
FORK_CALLS = frozenset({"fork", "forkpty"})


def _modules(root: Path, scope: tuple[str, ...]) -> Iterator[tuple[Path, ast.Module]]:
    for package in scope:
        for path in sorted((root / package).rglob("*.py")):
            yield path.relative_to(root), ast.parse(path.read_text(encoding="utf-8"))


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # an exotic node: no name to match
        return ""


def lightgbm_offences(root: Path) -> list[str]:
    """Imports of lightgbm and booster calls outside the adapter."""
    out = []
    for rel, tree in _modules(root, LIGHTGBM_SCOPE):
        if rel == ADAPTER:
            continue
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "lightgbm" or n.startswith("lightgbm.") for n in names):
                out.append(f"{rel}:{node.lineno} imports lightgbm")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in BOOSTER_METHODS
                and "booster" in _dotted(node.func.value).lower()
            ):
                out.append(f"{rel}:{node.lineno} calls {_dotted(node.func)}")
    return out


def _is_mlflow_env(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and str(node.value).startswith("MLFLOW_")


def mlflow_offences(root: Path) -> list[str]:
    """Process-wide MLflow state in library code."""
    out = []
    for rel, tree in _modules(root, MLFLOW_SCOPE):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                parts = name.split(".")
                if parts[0] == "mlflow" and parts[-1] in FLUENT_MLFLOW:
                    out.append(f"{rel}:{node.lineno} calls {name}")
                if parts[-1] == "MlflowClient" and not node.args and not node.keywords:
                    out.append(f"{rel}:{node.lineno} calls {name}() (the process-wide URI)")
                if (
                    parts[-1] in ("setdefault", "pop", "putenv", "unsetenv")
                    and node.args
                    and _is_mlflow_env(node.args[0])
                ):
                    out.append(f"{rel}:{node.lineno} changes {node.args[0].value}")
            if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
                targets = (
                    node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
                )
                for target in targets:
                    if isinstance(target, ast.Subscript) and _is_mlflow_env(target.slice):
                        out.append(f"{rel}:{node.lineno} changes {target.slice.value}")
    return out


def _is_cli(rel: Path) -> bool:
    return rel.name == "cli.py" or rel.name.endswith("_cli.py")


def process_offences(root: Path) -> list[str]:
    """Signal handlers outside CLI modules; forks anywhere in library code."""
    out = []
    for rel, tree in _modules(root, PROCESS_SCOPE):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            if name == "signal.signal" and not _is_cli(rel):
                out.append(f"{rel}:{node.lineno} installs a signal handler")
            if name in {f"os.{c}" for c in FORK_CALLS}:
                out.append(f"{rel}:{node.lineno} calls {name}")
            if name.split(".")[-1] in ("get_context", "set_start_method") and any(
                isinstance(a, ast.Constant) and a.value == "fork" for a in node.args
            ):
                out.append(f"{rel}:{node.lineno} starts processes by fork")
    return out


RULES: dict[str, Callable[[Path], list[str]]] = {
    "lightgbm": lightgbm_offences,
    "mlflow": mlflow_offences,
    "process": process_offences,
}

OFFENDERS = {
    "lightgbm": [
        ("serving/scoring.py", "import lightgbm as lgb\n"),
        (
            "serving/scoring.py",
            "def f(model, m):\n    return model.booster.predict(m, pred_contrib=True)\n",
        ),
        ("benchmarks/bench.py", "def f(booster, m):\n    return booster.predict(m)\n"),
        ("training/models.py", "from lightgbm import Booster\n"),
    ],
    "mlflow": [
        ("training/registry.py", "import mlflow\n\nmlflow.set_tracking_uri('sqlite:///x.db')\n"),
        ("serving/monitor/tracking.py", "import mlflow\n\nmlflow.set_registry_uri('x')\n"),
        ("training/registry.py", "import mlflow\n\nwith mlflow.start_run():\n    pass\n"),
        ("serving/engine.py", "import mlflow\n\nclient = mlflow.MlflowClient()\n"),
        ("training/registry.py", "import os\n\nos.environ['MLFLOW_TRACKING_URI'] = 'x'\n"),
        ("training/registry.py", "import os\n\nos.environ.pop('MLFLOW_REGISTRY_URI', None)\n"),
    ],
    "process": [
        (
            "serving/store/served_stats.py",
            "import signal\n\nsignal.signal(signal.SIGTERM, print)\n",
        ),
        ("training/pipeline.py", "import multiprocessing\n\nmultiprocessing.get_context('fork')\n"),
        ("serving/batch.py", "import os\n\nos.fork()\n"),
    ],
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_code_keeps_the_rule(rule: str) -> None:
    assert RULES[rule](REPO) == []


def test_a_cli_module_may_install_a_signal_handler(tmp_path: Path) -> None:
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "serve_cli.py").write_text(
        "import signal\n\nsignal.signal(signal.SIGTERM, print)\n", encoding="utf-8"
    )
    assert process_offences(tmp_path) == []


@pytest.mark.parametrize(
    ("rule", "index"), [(rule, i) for rule, cases in OFFENDERS.items() for i in range(len(cases))]
)
def test_a_constructed_offender_is_caught(tmp_path: Path, rule: str, index: int) -> None:
    name, text = OFFENDERS[rule][index]
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    found = RULES[rule](tmp_path)
    assert len(found) == 1 and found[0].startswith(f"{name}:"), found
