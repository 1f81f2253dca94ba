"""Where a data scientist opens the MLflow UI: the runs table of the training experiment.

MLflow 3's UI is a single-page app with hash routes (``mlflow/server/js``: the route
``/experiments/:experimentId/runs`` is its "Runs" tab); opened at its root or on an
experiment without a tab, it shows the experiments list or the experiment's default tab,
which MLflow picks from the experiment's kind (the ``mlflow.experimentKind`` tag: a
``genai_development`` experiment, or one it infers to be, opens on traces and the GenAI
overview). :class:`training.tracking.TrackingStore` tags the project's experiments
``custom_model_development``, and the URL printed here names the runs tab outright, so the
browser lands on the runs whatever MLflow would infer.

``python -m training.mlflow_ui [--tracking-uri URI] [--experiment NAME] [--url URL]``
prints it (``make demo`` does, for the store it trained into).
"""

from __future__ import annotations

import argparse
import sys

from mlflow import MlflowClient

DEFAULT_UI_URL = "http://127.0.0.1:5000"


class ExperimentNotFoundError(LookupError):
    """The store holds no experiment of that name (nothing was trained into it yet)."""


# The UI's sidebar has two modes, "GenAI" (its default: traces, judges, prompts) and "Model
# training"; the app reads the mode from this query parameter of the route (else from the
# browser's storage), so the printed URL opens in model-training mode.
WORKFLOW_QUERY = "workflowType=machine_learning"


def runs_view_url(ui_url: str, experiment_id: str) -> str:
    """The UI's runs table of experiment ``experiment_id`` (a hash route of the app), in
    its model-training mode."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{WORKFLOW_QUERY}"


def training_runs_url(tracking_uri: str, experiment: str, *, ui_url: str = DEFAULT_UI_URL) -> str:
    """The runs view of the training experiment ``experiment`` in store ``tracking_uri``."""
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ExperimentNotFoundError(
            f"no experiment {experiment!r} in {tracking_uri}: run `earlyrisk train` first"
        )
    return runs_view_url(ui_url, str(found.experiment_id))


def main(argv: list[str] | None = None) -> int:
    """Print the URL of the training runs; exit 1 (with the reason) when there are none."""
    from training.config import load_config

    defaults = load_config().mlflow
    parser = argparse.ArgumentParser(prog="python -m training.mlflow_ui", description=__doc__)
    parser.add_argument("--tracking-uri", default=defaults.tracking_uri)
    parser.add_argument("--experiment", default=defaults.experiment)
    parser.add_argument("--url", default=DEFAULT_UI_URL, help="where the MLflow UI listens")
    args = parser.parse_args(argv)
    try:
        print(training_runs_url(args.tracking_uri, args.experiment, ui_url=args.url))
    except ExperimentNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through the demo and the tests
    sys.exit(main())
