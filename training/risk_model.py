"""The trained model that crosses from training to serving: calibrated, explainable, portable.

A :class:`RiskModel` turns model-input columns into three things the service needs:

* ``raw_score(X)``: the model's margin (log-odds) — LightGBM's raw score, or the linear
  predictor of the logistic baseline;
* ``contributions(X)``: one column per feature plus ``bias``, summing exactly to the raw
  score (exact TreeSHAP through LightGBM ``pred_contrib``; coefficient x standardized value
  for the linear model), so reasons can be shown in plain words;
* ``predict_proba(X)``: the calibrated probability of the label.

The calibrator is a function of the margin only and is non-decreasing in it
(:class:`MarginCalibrator`), so a contribution that raises the raw score never lowers the
probability: the reasons and the probability always point the same way.

Why a JSON serialization rather than pickle: MLflow 3 refuses untrusted pickled sklearn
objects, pickles break across library versions, and a plain-text artifact can be
checksummed (``model_sha256`` on the registry version) and read by an auditor. The LightGBM
booster is stored as its own text model format, the calibrator and the linear model as
numbers.
"""

from __future__ import annotations

import copy
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from features.errors import EarlyriskError
from training import lightgbm_adapter as lgbx

FORMAT_VERSION = 1

CalibrationMethod = Literal["isotonic", "sigmoid", "none"]


class ModelInputError(EarlyriskError, ValueError):
    """The frame handed to a model lacks model inputs or holds values that are not numbers."""


class ModelArtifactError(EarlyriskError, ValueError):
    """A serialized model cannot be read back (unknown format, kind or version)."""


# --------------------------------------------------------------------------- calibrator


@dataclass(frozen=True)
class MarginCalibrator:
    """A non-decreasing map from the model margin to a probability.

    ``isotonic``: piecewise-linear interpolation through ``x_thresholds``/``y_thresholds``
    (the fitted :class:`sklearn.isotonic.IsotonicRegression` with ``out_of_bounds="clip"``),
    non-decreasing by construction.
    ``sigmoid``: Platt's ``1 / (1 + exp(a * margin + b))``; monotone increasing when
    ``a < 0``, which :meth:`__post_init__` demands.
    ``none``: the logistic function of the margin (an uncalibrated model, for comparison).
    """

    method: CalibrationMethod
    x_thresholds: tuple[float, ...] = ()
    y_thresholds: tuple[float, ...] = ()
    a: float = -1.0
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.method == "isotonic":
            x = np.asarray(self.x_thresholds, dtype=float)
            y = np.asarray(self.y_thresholds, dtype=float)
            if x.size == 0 or x.size != y.size:
                raise ValueError(
                    f"isotonic calibrator needs equally long non-empty thresholds, got "
                    f"{x.size} x and {y.size} y values"
                )
            for name, values in (("x_thresholds", x), ("y_thresholds", y)):
                falls = np.flatnonzero(np.diff(values) < 0)
                if falls.size:
                    i = int(falls[0])
                    raise ValueError(
                        f"isotonic calibrator {name} must be non-decreasing; "
                        f"{name}[{i}]={values[i]:.6g} > {name}[{i + 1}]={values[i + 1]:.6g}"
                    )
        elif self.method == "sigmoid" and not self.a < 0:
            raise ValueError(
                f"sigmoid calibrator slope a={self.a:.6g} is not negative: the probability "
                "would fall as the margin rises (the model ranks the wrong way round on the "
                "calibration slice)"
            )

    def transform(self, margin: np.ndarray) -> np.ndarray:
        """Map margins to calibrated probabilities."""
        m = np.asarray(margin, dtype=float)
        if self.method == "isotonic":
            return np.interp(m, self.x_thresholds, self.y_thresholds)
        if self.method == "sigmoid":
            return 1.0 / (1.0 + np.exp(self.a * m + self.b))
        return 1.0 / (1.0 + np.exp(-m))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "x_thresholds": [float(v) for v in self.x_thresholds],
            "y_thresholds": [float(v) for v in self.y_thresholds],
            "a": float(self.a),
            "b": float(self.b),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MarginCalibrator:
        return cls(
            method=d["method"],
            x_thresholds=tuple(d.get("x_thresholds", ())),
            y_thresholds=tuple(d.get("y_thresholds", ())),
            a=float(d.get("a", -1.0)),
            b=float(d.get("b", 0.0)),
        )


UNCALIBRATED = MarginCalibrator(method="none")


# --------------------------------------------------------------------------- base class


class RiskModel(ABC):
    """A scoring model with a monotone calibrator; see the module docstring.

    Concrete kinds: :class:`LightGBMRiskModel` (the main model) and
    :class:`LogisticRiskModel` (the baseline). Both take a DataFrame holding at least
    ``feature_names`` (extra columns, such as keys or audit groups, are ignored: the model
    reads only its own inputs, by name, in its own order).
    """

    kind: ClassVar[str] = ""

    def __init__(
        self,
        *,
        feature_names: Sequence[str],
        calibrator: MarginCalibrator = UNCALIBRATED,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        names = list(feature_names)
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"duplicate feature names: {', '.join(dupes)}")
        self.feature_names: list[str] = names
        self.calibrator = calibrator
        self.metadata: dict[str, Any] = dict(metadata or {})

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self.feature_names)} features, "
            f"calibrator={self.calibrator.method!r})"
        )

    # ---- scoring
    def feature_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The model inputs of ``X`` as a float64 matrix in ``feature_names`` order."""
        if not isinstance(X, pd.DataFrame):
            raise ModelInputError(f"expected a pandas DataFrame, got {type(X).__name__}")
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise ModelInputError(
                f"{len(missing)} model input column(s) missing from the frame: {shown}"
            )
        cols = X.loc[:, self.feature_names]
        try:
            return cols.to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError) as exc:
            bad = [c for c in self.feature_names if not pd.api.types.is_numeric_dtype(X[c])]
            raise ModelInputError(
                f"model input column(s) are not numeric: {', '.join(bad) or '?'} ({exc})"
            ) from exc

    @abstractmethod
    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """The margin (log-odds scale) of each row."""

    @abstractmethod
    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions plus ``bias``; each row sums to :meth:`raw_score`."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The calibrated probability of the label for each row (1-D array)."""
        return self.calibrator.transform(self.raw_score(X))

    def with_calibrator(self, calibrator: MarginCalibrator) -> RiskModel:
        """A copy of this model with another calibrator (the fitted parts are shared)."""
        clone = copy.copy(self)
        clone.feature_names = list(self.feature_names)
        clone.metadata = dict(self.metadata)
        clone.calibrator = calibrator
        return clone

    # ---- serialization
    @abstractmethod
    def _payload(self) -> dict[str, Any]:
        """The fitted parts of this kind as JSON-ready values (see :meth:`_fitted_parts`)."""

    def to_bytes(self) -> bytes:
        """A deterministic UTF-8 JSON document holding everything needed to score."""
        doc = {
            "format": "earlyrisk.risk_model",
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "feature_names": list(self.feature_names),
            "calibrator": self.calibrator.to_dict(),
            "metadata": self.metadata,
            "model": self._payload(),
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def sha256(self) -> str:
        """Checksum of :meth:`to_bytes`, recorded on the registry version."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @staticmethod
    def from_bytes(data: bytes) -> RiskModel:
        """Read a model written by :meth:`to_bytes`, whatever its kind."""
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelArtifactError(f"not a risk model document: {exc}") from exc
        if not isinstance(doc, dict):
            raise ModelArtifactError(
                f"not a risk model document: a JSON {type(doc).__name__}, not an object"
            )
        if doc.get("format") != "earlyrisk.risk_model":
            raise ModelArtifactError(f"unknown model format {doc.get('format')!r}")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ModelArtifactError(
                f"model format version {doc.get('format_version')} is not supported "
                f"(this code reads version {FORMAT_VERSION})"
            )
        kinds: dict[str, type[RiskModel]] = {
            LightGBMRiskModel.kind: LightGBMRiskModel,
            LogisticRiskModel.kind: LogisticRiskModel,
        }
        cls = kinds.get(str(doc.get("kind")))
        if cls is None:
            raise ModelArtifactError(
                f"unknown model kind {doc.get('kind')!r}; known: {', '.join(kinds)}"
            )
        missing = [key for key in ("feature_names", "calibrator", "model") if key not in doc]
        if missing:
            raise ModelArtifactError(f"{cls.kind} model document lacks {', '.join(missing)}")
        return cls(
            **cls._fitted_parts(doc["model"]),
            feature_names=list(doc["feature_names"]),
            calibrator=MarginCalibrator.from_dict(doc["calibrator"]),
            metadata=dict(doc.get("metadata") or {}),
        )

    @staticmethod
    @abstractmethod
    def _fitted_parts(payload: dict[str, Any]) -> dict[str, Any]:
        """The constructor's kind-specific keyword arguments, read back from :meth:`_payload`.

        The shared ones (feature names, calibrator, metadata) are read by :meth:`from_bytes`
        for every kind, so each kind only says how its own fitted parts are rebuilt.
        """


# --------------------------------------------------------------------------- LightGBM


class LightGBMRiskModel(RiskModel):
    """The main model: a LightGBM booster whose margin is explained by exact TreeSHAP."""

    kind: ClassVar[str] = "lightgbm"

    def __init__(
        self,
        booster: Any,
        *,
        feature_names: Sequence[str] | None = None,
        calibrator: MarginCalibrator = UNCALIBRATED,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        trained = lgbx.feature_names(booster)
        names = list(feature_names) if feature_names is not None else trained
        if trained != names:
            i = next(
                (i for i, (a, b) in enumerate(zip(trained, names, strict=False)) if a != b),
                min(len(trained), len(names)),
            )
            booster_has = repr(trained[i]) if i < len(trained) else "nothing"
            given_has = repr(names[i]) if i < len(names) else "nothing"
            raise ValueError(
                f"booster feature names differ from feature_names at position {i}: "
                f"the booster has {booster_has}, feature_names {given_has} "
                f"({len(trained)} vs {len(names)} names)"
            )
        super().__init__(feature_names=names, calibrator=calibrator, metadata=metadata or {})
        self.booster = booster

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        matrix = self.feature_matrix(X)
        return lgbx.predict_raw(self.booster, matrix)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        matrix = self.feature_matrix(X)
        contrib = lgbx.predict_contributions(self.booster, matrix)
        return pd.DataFrame(contrib, columns=[*self.feature_names, "bias"], index=X.index)

    def feature_importance(self) -> pd.Series:
        """Total split gain per feature (for the report; not an explanation of one score)."""
        gain = lgbx.gain_importance(self.booster)
        return pd.Series(gain, index=self.feature_names, name="gain").sort_values(ascending=False)

    def _payload(self) -> dict[str, Any]:
        return {"booster": lgbx.booster_to_string(self.booster)}

    @staticmethod
    def _fitted_parts(payload: dict[str, Any]) -> dict[str, Any]:
        return {"booster": lgbx.load_booster(payload["booster"])}


# --------------------------------------------------------------------------- logistic


class LogisticRiskModel(RiskModel):
    """The baseline: median imputation, standardization, then a linear predictor.

    Held as plain numbers (the fitted medians, means, scales, coefficients), so the
    contributions are exact: ``coef_j * z_j`` per feature and the intercept as ``bias``.
    """

    kind: ClassVar[str] = "logistic"

    def __init__(
        self,
        *,
        feature_names: Sequence[str],
        medians: Sequence[float],
        means: Sequence[float],
        scales: Sequence[float],
        coef: Sequence[float],
        intercept: float,
        calibrator: MarginCalibrator = UNCALIBRATED,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            feature_names=list(feature_names), calibrator=calibrator, metadata=metadata or {}
        )
        n = len(self.feature_names)
        arrays = {"medians": medians, "means": means, "scales": scales, "coef": coef}
        for name, arr in arrays.items():
            if len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} values for {n} features")
        self.medians = np.asarray(medians, dtype=float)
        self.means = np.asarray(means, dtype=float)
        self.scales = np.asarray(scales, dtype=float)
        self.coef = np.asarray(coef, dtype=float)
        self.intercept = float(intercept)

    def _standardized(self, X: pd.DataFrame) -> np.ndarray:
        m = self.feature_matrix(X)
        m = np.where(np.isnan(m), self.medians, m)
        return (m - self.means) / self.scales

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        return self._standardized(X) @ self.coef + self.intercept

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        z = self._standardized(X) * self.coef
        out = pd.DataFrame(z, columns=self.feature_names, index=X.index)
        out["bias"] = self.intercept
        return out

    def _payload(self) -> dict[str, Any]:
        return {
            "medians": self.medians.tolist(),
            "means": self.means.tolist(),
            "scales": self.scales.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @staticmethod
    def _fitted_parts(payload: dict[str, Any]) -> dict[str, Any]:
        return dict(payload)
