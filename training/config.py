"""The training job's configuration: one YAML file, validated by pydantic (``extra="forbid"``).

A typo in a key is an error, not a silently ignored setting, because a retrained model that
quietly used a default instead of the intended horizon or capacity would be a wrong model
that looks right. The defaults (``training/default_config.yaml``) work out of the box on the
output of ``earlyrisk synth`` (period 2020-01-01 .. 2024-12-31).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.contract import DEFAULT_HORIZON_MONTHS, DEFAULT_LABEL_OUTCOMES, OUTCOME_TYPES
from training.audit import FairnessGates

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.yaml")
REPO_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(ValueError):
    """The configuration file cannot be read or breaks a rule (the message names the key)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelConfig(_Strict):
    """What the model learns to anticipate: any of ``outcome_types`` within the horizon."""

    outcome_types: tuple[str, ...] = DEFAULT_LABEL_OUTCOMES
    horizon_months: int = Field(default=DEFAULT_HORIZON_MONTHS, ge=1, le=36)
    extraction_date: dt.date | None = Field(
        default=None,
        description="date up to which the data is complete; default: latest recorded_date",
    )

    @field_validator("outcome_types")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(OUTCOME_TYPES))
        if not value or unknown:
            raise ValueError(f"outcome_types must be a non-empty subset of {list(OUTCOME_TYPES)}")
        return value


SliceName = Literal["train", "calibration", "test"]
SLICE_ORDER: tuple[SliceName, ...] = ("train", "calibration", "test")


class SlicesConfig(_Strict):
    """As-of dates of the three temporal slices and the share of families each receives.

    Families are assigned to exactly one slice by a stable hash of their id (salted with
    ``salt``), so no family's history informs two slices.
    """

    train: tuple[dt.date, ...] = (dt.date(2021, 6, 30), dt.date(2021, 12, 31))
    calibration: tuple[dt.date, ...] = (dt.date(2022, 12, 31),)
    test: tuple[dt.date, ...] = (dt.date(2023, 12, 31),)
    family_fractions: dict[SliceName, float] = Field(
        default_factory=lambda: {"train": 0.6, "calibration": 0.2, "test": 0.2}
    )
    salt: str = "earlyrisk-slices-v1"

    @field_validator("train", "calibration", "test")
    @classmethod
    def _non_empty_sorted(cls, value: tuple[dt.date, ...]) -> tuple[dt.date, ...]:
        if not value:
            raise ValueError("each slice needs at least one as-of date")
        if len(set(value)) != len(value):
            raise ValueError(f"as-of dates repeat: {[d.isoformat() for d in value]}")
        return tuple(sorted(value))

    @field_validator("family_fractions")
    @classmethod
    def _fractions(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != set(SLICE_ORDER):
            raise ValueError(f"family_fractions needs exactly {list(SLICE_ORDER)}")
        if any(v <= 0 for v in value.values()) or abs(sum(value.values()) - 1) > 1e-9:
            raise ValueError(f"family_fractions must be positive and sum to 1, got {value}")
        return value

    def dates(self, name: SliceName) -> tuple[dt.date, ...]:
        return getattr(self, name)

    def all_dates(self) -> list[dt.date]:
        return sorted({d for name in SLICE_ORDER for d in self.dates(name)})


class CapacityConfig(_Strict):
    """How many families caseworkers can reach: a count or a fraction of the scored families."""

    count: int | None = Field(default=None, ge=1)
    fraction: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> CapacityConfig:
        if (self.count is None) == (self.fraction is None):
            raise ValueError(
                "capacity needs exactly one of count or fraction; "
                f"got count={self.count}, fraction={self.fraction}"
            )
        return self

    def k(self, n_rows: int) -> int:
        """Number of families reached among ``n_rows`` scored (at least 1)."""
        if self.count is not None:
            return max(1, min(self.count, n_rows))
        assert self.fraction is not None
        return max(1, min(n_rows, round(self.fraction * n_rows)))

    def describe(self) -> str:
        if self.count is not None:
            return f"top {self.count} families"
        return f"top {self.fraction:.1%} of families"


class GatesConfig(_Strict):
    """Promotion gates; every one must pass for the alias ``champion`` to move.

    ``min_auc_margin``: the model's test ROC AUC must exceed each baseline's by at least this.
    ``max_ece``: highest expected calibration error on the test slice.
    ``fairness``: the fairness audit's gates (:class:`training.audit.FairnessGates`), checked
    on the calibrated test scores at capacity; ``null`` switches them off.
    """

    min_auc_margin: float = Field(default=0.0, ge=-1, le=1)
    max_ece: float = Field(default=0.05, gt=0, le=1)
    fairness: FairnessGates | None = Field(default_factory=FairnessGates)


class MlflowConfig(_Strict):
    """Where runs and models are recorded; any SQLAlchemy URL works (e.g. PostgreSQL)."""

    tracking_uri: str = "sqlite:///mlflow.db"
    artifact_location: str = "./mlartifacts"
    experiment: str = "earlyrisk-training"
    model_name: str = Field(default="earlyrisk-family-risk", pattern=r"^[A-Za-z0-9_.\-]+$")

    @field_validator("tracking_uri")
    @classmethod
    def _postgres_driver(cls, uri: str) -> str:
        """``postgresql://`` runs on psycopg 3, the project's one PostgreSQL driver
        (SQLAlchemy reads a bare ``postgresql://`` as psycopg2, which is not installed)."""
        scheme, sep, rest = uri.partition("://")
        return (
            f"postgresql+psycopg://{rest}" if sep and scheme in {"postgresql", "postgres"} else uri
        )


class EvaluationConfig(_Strict):
    """Bootstrap and binning settings of the test-slice evaluation."""

    n_bootstrap: int = Field(default=200, ge=20, le=5000)
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    n_bins: int = Field(default=10, ge=3, le=50)


class LightGBMSpec(_Strict):
    """LightGBM model specification (``models/lightgbm.yaml``).

    ``validation_fraction`` of the *training* families is held out (by hash) for early
    stopping and for choosing among ``tune`` candidates; calibration and test slices are
    never seen while fitting.
    """

    kind: Literal["lightgbm"] = "lightgbm"
    params: dict[str, Any] = Field(default_factory=dict)
    num_boost_round: int = Field(default=1000, ge=1)
    early_stopping_rounds: int = Field(default=50, ge=1)
    validation_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    tune: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _no_overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        owned = {"objective", "seed", "deterministic", "metric", "verbose", "verbosity"}
        clash = sorted(owned & set(value))
        if clash:
            raise ValueError(f"params {clash} are set by the trainer and may not be configured")
        return value


class LogisticSpec(_Strict):
    """Logistic-regression baseline: median imputation, standardization, L2 penalty ``C``."""

    kind: Literal["logistic"] = "logistic"
    C: float = Field(default=1.0, gt=0)
    max_iter: int = Field(default=1000, ge=10)


ModelSpec = Annotated[LightGBMSpec | LogisticSpec, Field(discriminator="kind")]


class TrainConfig(_Strict):
    """Everything one ``earlyrisk train`` run needs besides the raw data itself."""

    raw_dir: Path | None = None
    label: LabelConfig = Field(default_factory=LabelConfig)
    slices: SlicesConfig = Field(default_factory=SlicesConfig)
    model_spec: Path = Path("models/lightgbm.yaml")
    baseline_spec: Path = Path("models/logistic.yaml")
    capacity: CapacityConfig = Field(default_factory=lambda: CapacityConfig(fraction=0.05))
    gates: GatesConfig = Field(default_factory=GatesConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    seed: int = 42
    lightgbm_threads: int = Field(
        default=2,
        ge=1,
        description="LightGBM threads, fixed so that the same data, config and seed give the "
        "same model on any machine (the summation order depends on the thread count)",
    )
    audit_groups: tuple[str, ...] | None = Field(
        default=None,
        description="audit group columns of the fairness audit; None: every audit_* column",
    )
    report_dir: Path = Path("var/training_report")
    config_dir: Path | None = Field(
        default=None, description="directory of the YAML file; relative spec paths start here"
    )

    def resolve(self, path: Path) -> Path:
        """A spec path as given, else beside the config file, else under the repository."""
        if path.is_absolute():
            return path
        for base in (Path.cwd(), self.config_dir, REPO_ROOT):
            if base is not None and (base / path).exists():
                return base / path
        raise ConfigError(
            f"model specification {path} not found in the working directory, beside the "
            f"config ({self.config_dir}) or in the repository ({REPO_ROOT})"
        )

    def load_model_spec(self, which: Literal["model", "baseline"] = "model") -> ModelSpec:
        path = self.resolve(self.model_spec if which == "model" else self.baseline_spec)
        return load_model_spec(path)


class _SpecFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: ModelSpec


def load_model_spec(path: Path) -> ModelSpec:
    """Read a ``models/*.yaml`` model specification."""
    data = _read_yaml(path)
    try:
        return _SpecFile(spec=data).spec
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_explain(exc)}") from exc


def load_config(path: Path | None = None, **overrides: Any) -> TrainConfig:
    """Read a TrainConfig from YAML (default: the packaged defaults), then apply overrides."""
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    data = _read_yaml(source)
    data.setdefault("config_dir", str(source.resolve().parent))
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc)}") from exc


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
