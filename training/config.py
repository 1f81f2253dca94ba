"""The training job's configuration: one YAML file, validated by pydantic (``extra="forbid"``).

A typo in a key is an error, not a silently ignored setting, because a retrained model that
quietly used a default instead of the intended horizon or capacity would be a wrong model
that looks right. The defaults (``training/default_config.yaml``) give no as-of dates: the
temporal design is derived from the data (:mod:`training.design`), so they work on any export
that follows the raw-data contract, whatever its period.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.config import FeatureConfig
from features.contract import DEFAULT_HORIZON_MONTHS, DEFAULT_LABEL_OUTCOMES, OUTCOME_TYPES
from features.corrections import CorrectionMode
from features.eligibility import EligibilityRule
from features.errors import EarlyriskError
from training.audit import FairnessGates, Waiver

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.yaml")
REPO_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(EarlyriskError, ValueError):
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


def _default_fractions() -> dict[SliceName, float]:
    return {"train": 0.6, "calibration": 0.2, "test": 0.2}


class SlicesConfig(_Strict):
    """The temporal design: as-of dates of the three slices, or the rules that derive them.

    Leave ``train``, ``calibration`` and ``test`` out (the default) and the design is
    derived from the data (:mod:`training.design`): test on the latest quarter end whose
    label window is fully observed, calibrate one horizon earlier, train on the
    ``train_dates`` quarter ends before that with full indicator history. Give all three
    and they win.

    Temporal separation is the rule: a family may appear in every slice, at different
    dates, because what is held out is the future. ``family_disjoint: true`` also keeps each
    family in one slice only (by a stable hash of its id, salted with ``salt``, split by
    ``family_fractions``), at the price of less data per slice.
    """

    train: tuple[dt.date, ...] | None = None
    calibration: tuple[dt.date, ...] | None = None
    test: tuple[dt.date, ...] | None = None
    step_months: Literal[1, 3, 6, 12] = Field(
        default=3, description="spacing of derived as-of dates (3: quarter ends)"
    )
    train_dates: int = Field(
        default=8, ge=1, le=40, description="derived training as-of dates (the latest ones)"
    )
    min_train_dates: int = Field(
        default=8,
        ge=1,
        le=40,
        description="when fewer dates have full indicator history, use this many anyway",
    )
    family_disjoint: bool = False
    family_fractions: dict[SliceName, float] = Field(default_factory=lambda: _default_fractions())
    salt: str = "earlyrisk-slices-v1"

    @field_validator("train", "calibration", "test")
    @classmethod
    def _non_empty_sorted(cls, value: tuple[dt.date, ...] | None) -> tuple[dt.date, ...] | None:
        if value is None:
            return None
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

    @model_validator(mode="after")
    def _all_or_none(self) -> SlicesConfig:
        given = [name for name in SLICE_ORDER if getattr(self, name) is not None]
        if given and len(given) != len(SLICE_ORDER):
            missing = [name for name in SLICE_ORDER if name not in given]
            raise ValueError(
                f"slices gives dates for {given} but not for {missing}: give all three, or "
                "none to derive the design from the data"
            )
        if self.min_train_dates > self.train_dates:
            raise ValueError(
                f"min_train_dates ({self.min_train_dates}) exceeds train_dates ({self.train_dates})"
            )
        return self

    @property
    def has_dates(self) -> bool:
        """True when the config fixes the as-of dates (they win over the derived design)."""
        return self.test is not None

    def dates(self, name: SliceName) -> tuple[dt.date, ...]:
        return getattr(self, name) or ()

    def all_dates(self) -> list[dt.date]:
        return sorted({d for name in SLICE_ORDER for d in self.dates(name)})


class BacktestConfig(_Strict):
    """Rolling-origin backtest: the same design evaluated at earlier origins.

    ``origins`` counts the held-out design itself; each earlier origin moves every date
    back ``slices.step_months``. The data may allow fewer (the report says so).
    """

    origins: int = Field(default=3, ge=1, le=12)
    n_bootstrap: int = Field(default=100, ge=20, le=5000)


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


class Band(_Strict):
    """An allowed band for a ratio or slope whose ideal value is 1."""

    lower: float = Field(default=0.8, gt=0, le=1)
    upper: float = Field(default=1.25, ge=1)


class CalibrationGatesConfig(_Strict):
    """Calibration where caseworkers act (see :mod:`training.reliability`).

    ``oe``: band of observed / expected outcomes overall and in the top band; ``slope``: band
    of the calibration slope; ``top_fraction``: share of the test slice ranked highest that
    forms the top band (None: the capacity). A figure fails when it lies outside its band and
    its Holm-adjusted test of "calibrated" is below ``significance``; per group, a figure
    resting on fewer than ``min_group_positives`` outcomes (observed or expected) is
    insufficient evidence.
    """

    oe: Band = Field(default_factory=Band)
    slope: Band = Field(default_factory=lambda: Band(lower=0.7, upper=1.43))
    top_fraction: float | None = Field(default=None, gt=0, le=1)
    per_group: bool = True
    significance: float = Field(default=0.05, gt=0, lt=1)
    min_group_positives: int = Field(default=10, ge=0)


class ChampionGatesConfig(_Strict):
    """Non-inferiority beside the model being served, on the same test rows.

    The lower bound of the paired bootstrap interval of (candidate - champion) must be at
    least ``-auc_margin`` (ROC AUC) and ``-precision_margin`` (precision at capacity).
    """

    auc_margin: float = Field(default=0.01, ge=0, le=1)
    precision_margin: float = Field(default=0.02, ge=0, le=1)


class AllowedProxy(_Strict):
    """A model input allowed although it predicts a protected attribute, and why."""

    feature: str
    attribute: str | None = Field(default=None, description="None: every attribute")
    justification: str = Field(min_length=20)


class ProxyGatesConfig(_Strict):
    """A model input that alone predicts a protected attribute (folded AUC >= ``max_auc``)
    blocks promotion unless listed in ``allowed`` with a justification."""

    max_auc: float = Field(default=0.9, gt=0.5, le=1)
    allowed: tuple[AllowedProxy, ...] = ()


class GatesConfig(_Strict):
    """Promotion gates; every one must pass (or be waived) for ``champion`` to move.

    ``min_auc_margin``: the lower bound of the paired interval of the model's test ROC AUC
    minus each baseline's must be at least this. ``capacity_margin``: the lower bound of the
    paired interval of (model - baseline) precision and recall at capacity must be at least
    ``-capacity_margin`` (non-inferiority against both baselines). ``max_ece``: highest
    overall expected calibration error. ``min_test_positives``: fewer outcomes in the test
    slice is insufficient evidence for every gate. ``fairness``: the audit's gates
    (:class:`training.audit.FairnessGates`; ``null`` switches them off). ``waivers``:
    checks accepted although not evaluable or without sufficient evidence (pattern on the
    gate name, ``*`` any text, and a written reason shown in the model card).
    """

    min_auc_margin: float = Field(default=0.0, ge=-1, le=1)
    capacity_margin: float = Field(default=0.03, ge=0, le=1)
    max_ece: float = Field(default=0.05, gt=0, le=1)
    min_test_positives: int = Field(default=100, ge=0)
    calibration: CalibrationGatesConfig = Field(default_factory=CalibrationGatesConfig)
    champion: ChampionGatesConfig = Field(default_factory=ChampionGatesConfig)
    proxy: ProxyGatesConfig = Field(default_factory=ProxyGatesConfig)
    fairness: FairnessGates | None = Field(default_factory=FairnessGates)
    waivers: tuple[Waiver, ...] = ()


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


class InterventionsConfig(_Strict):
    """How training and evaluation account for support given to flagged families (issue
    24; :mod:`training.support`, :mod:`training.counterfactual`, docs/interventions.md).

    Applies only when the registry has an ``interventions`` table; without one every row is
    used as recorded, and the report and model card say so."""

    method: Literal["naive", "exclude_treated", "ipw", "holdout_and_pre_deployment"] = Field(
        default="ipw",
        description="how training rows whose label window overlaps support are handled",
    )
    support_months: int = Field(
        default=12, ge=1, le=36, description="months an accepted support acts after its offer"
    )
    max_weight: float = Field(default=20.0, gt=1.0, description="cap of an ipw weight")
    n_folds: int = Field(default=2, ge=2, le=10, description="cross-fitting folds")
    positivity_epsilon: float = Field(
        default=0.02, gt=0.0, lt=0.5, description="a propensity within this of 0 or 1 is extreme"
    )
    positivity_max_share: float = Field(
        default=0.01,
        ge=0.0,
        lt=1.0,
        description="largest share of rows supported for sure (propensity > 1 - epsilon)",
    )


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
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    final_refit: bool = Field(
        default=True,
        description="refit the registered model on the most recent labelled data with the "
        "chosen hyperparameters and recalibrate it on the most recent window",
    )
    eligibility: EligibilityRule = Field(default_factory=EligibilityRule)
    interventions: InterventionsConfig = Field(default_factory=InterventionsConfig)
    corrections: CorrectionMode = Field(
        default="from_decided_date",
        description="how accepted corrections of the raw records (issue 23) enter training: "
        "from_decided_date (a snapshot before a correction's decision sees the original "
        "record, as it was known then) or rewrite_history (every accepted correction at every "
        "date: a voided record never trains the model); the model card states which",
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


def feature_config_of(config: TrainConfig) -> FeatureConfig:
    """The feature configuration of a training run (recorded on the registered model)."""
    return FeatureConfig(
        label_outcome_types=config.label.outcome_types,
        horizon_months=config.label.horizon_months,
        extraction_date=config.label.extraction_date,
    )
