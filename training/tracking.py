"""One MLflow store, addressed explicitly: runs, their records, aliases; no process-wide URI.

MLflow's fluent API (``mlflow.start_run``, ``mlflow.log_metrics``, ``mlflow.pyfunc.log_model``)
reads process-wide state: the tracking and registry URIs (``mlflow.set_tracking_uri`` also
exports ``MLFLOW_TRACKING_URI`` to the environment) and the "active run". Training swapped
that state for the length of a run; a notebook, a service or a test running beside it in the
same process then wrote to the wrong store, or read the wrong model. Here every call goes
through one :class:`mlflow.MlflowClient` built with the store's URI, and a run is an object
(:class:`TrackedRun`) passed to whoever records into it, never a global.

The run's context tags (user, source, git) are resolved as ``mlflow.start_run`` resolves
them, so the UI shows the same run either way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow import MlflowClient

# MLflow 3's experiment type: the UI opens a "custom_model_development" experiment on its
# runs (a "genai_development" one on traces)
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


@dataclass(frozen=True)
class TrackedRun:
    """One open MLflow run and the client of its store: what records go into."""

    client: MlflowClient
    run_id: str
    experiment_id: str

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def log_metrics(self, metrics: Mapping[str, float], *, model_id: str | None = None) -> None:
        """Metrics at step 0; with ``model_id`` also linked to that logged model."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        rows = [
            Metric(key, float(value), now, 0, model_id=model_id, run_id=self.run_id)
            for key, value in metrics.items()
        ]
        self.client.log_batch(self.run_id, metrics=rows)

    def log_artifact(self, path: Path | str, *, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path=artifact_path)

    def log_artifacts(self, directory: Path | str, *, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(directory), artifact_path=artifact_path)

    def log_dict(self, document: dict[str, Any], artifact_file: str) -> None:
        self.client.log_dict(self.run_id, document, artifact_file)

    def log_input(self, dataset: Any, *, context: str, tags: Mapping[str, str]) -> None:
        """``dataset`` (an ``mlflow.data`` dataset) as an input of the run."""
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        input_tags = [InputTag(key=k, value=v) for k, v in tags.items()]
        input_tags.append(InputTag(key=MLFLOW_DATASET_CONTEXT, value=context))
        entity = DatasetInput(dataset=dataset._to_mlflow_entity(), tags=input_tags)
        self.client.log_inputs(self.run_id, datasets=[entity])


class TrackingStore:
    """An MLflow tracking store and its model registry (one URI), through its own client."""

    def __init__(self, uri: str) -> None:
        if not uri:
            raise ValueError("an MLflow tracking URI is required (got an empty one)")
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def __repr__(self) -> str:
        return f"TrackingStore({self.uri!r})"

    def experiment(self, name: str, *, artifact_location: str | None = None) -> str:
        """The id of experiment ``name`` (created if missing), marked as model development."""
        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            experiment_id = str(existing.experiment_id)
        else:
            location = artifact_location
            if location is not None and len(urlparse(location).scheme) < 2:  # a path (C: too)
                location = Path(location).resolve().as_uri()
            experiment_id = self.client.create_experiment(name, artifact_location=location)
        self.client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return experiment_id

    @contextlib.contextmanager
    def run(
        self, experiment_id: str, *, run_name: str | None = None, start_time: int | None = None
    ) -> Iterator[TrackedRun]:
        """An open run for the block: FINISHED when it ends, FAILED or KILLED when it raises.

        ``start_time`` (ms since the epoch, default now): when the work it records began,
        so the UI's duration is the work's, not that of the logging at its end.
        """
        from mlflow.tracking.context.registry import resolve_tags

        created = self.client.create_run(
            experiment_id, tags=resolve_tags(), run_name=run_name, start_time=start_time
        )
        run = TrackedRun(self.client, created.info.run_id, str(experiment_id))
        status = "FAILED"
        try:
            yield run
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            self.client.set_terminated(run.run_id, status=status)

    def set_alias(self, name: str, version: str, alias: str) -> None:
        """Point ``alias`` of registered model ``name`` at ``version`` (moving it if set)."""
        self.client.set_registered_model_alias(name, alias, str(version))

    def experiment_of_run(self, run_id: str) -> str:
        """The experiment a run belongs to."""
        return str(self.client.get_run(run_id).info.experiment_id)
