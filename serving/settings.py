"""Service configuration, read from ``EARLYRISK_*`` environment variables.

One pydantic-settings object is the only place the service, the batch scorer and the CLI
read their paths and limits from, so `earlyrisk serve --port 3100` and
`bentoml serve serving.service:EarlyRiskScoring` with the same environment behave the same.
Nested values (``EARLYRISK_RISK_BANDS``) are JSON. By default the risk levels' cut-offs
are derived from the caseworkers' capacity (``EARLYRISK_CAPACITY_COUNT`` or
``EARLYRISK_CAPACITY_FRACTION``), see :func:`serving.scoring.derive_bands`.
"""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.database_url import check_url, sqlalchemy_uri


class RiskBand(BaseModel):
    """A risk level fixed by the operator: every calibrated probability >=
    ``min_probability`` (up to the next band's bound) gets this ``level``. The levels are
    the three the service can name in every language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Literal["low", "elevated", "high"]
    min_probability: float = Field(ge=0.0, le=1.0)


class ServingSettings(BaseSettings):
    """Where the service finds its model, data and logs, and the limits it enforces.

    Defaults are the embedded, no-server setup of docs/architecture.md: MLflow in
    ``sqlite:///mlflow.db`` and the service's own SQLite files under ``var/serving/``.
    """

    model_config = SettingsConfigDict(
        env_prefix="EARLYRISK_", extra="forbid", frozen=True, protected_namespaces=()
    )

    tracking_uri: str = "sqlite:///mlflow.db"
    database_url: str | None = Field(
        default=None,
        description="postgresql://user@host:port/db: the lookup store, audit log, token "
        "store and security log live in this database, shared by every replica (the "
        "*_path settings are then unused). Unset: one SQLite file each.",
    )
    model_name: str = "earlyrisk-family-risk"
    model_alias: str = "champion"
    model_uri: str | None = Field(
        default=None,
        description="Explicit model URI (e.g. models:/earlyrisk/3); overrides name and alias.",
    )
    snapshot_path: Path = Path("var/features.parquet")
    support_catalogue_path: Path | None = Field(
        default=None,
        description="A deployment's own support catalogue (YAML, the shape of "
        "serving/support_catalogue.yaml): which programmes answer which need, in en/ru/kk. "
        "Unset: the catalogue shipped with the service. Validated at start.",
    )
    lookup_db_path: Path = Path("var/serving/lookup.sqlite")
    raw_dir: Path | None = Field(
        default=None,
        description="The raw directory the snapshot was built from: /family and /review "
        "show the records behind each indicator (null: indicators without records).",
    )
    audit_log_path: Path = Path("var/serving/audit_log.sqlite")
    audit_anchor_path: Path | None = Field(
        default=None,
        description="The audit log's anchor file (default: .<log name>.anchor.json next to "
        "the log); put it on another volume to keep it apart from the log.",
    )
    audit_verify_on_start: Literal["full", "since_anchor"] = Field(
        default="full",
        description="How much of the audit log's hash chain a start walks: every entry, "
        "or only those after the anchored head (for very large logs; then run "
        "`earlyrisk audit-log verify` on a schedule).",
    )
    audit_anchor_interval_s: float = Field(
        default=60.0,
        ge=1.0,
        le=86_400.0,
        description="Seconds between two refreshes of the audit log's anchor while the "
        "service runs (it is also refreshed at every clean shutdown): entries cut from the "
        "end within one interval of being written can escape the anchor, not older ones.",
    )
    model_reload_interval_s: float = Field(
        default=30.0,
        ge=0.0,
        le=86_400.0,
        description="Seconds between two looks at the model alias while the service runs; "
        "when `earlyrisk model promote` or `rollback` moves it, each worker loads the new "
        "champion and swaps it in between two requests (0: never; a pinned "
        "EARLYRISK_MODEL_URI is never reloaded).",
    )
    token_db_path: Path = Path("var/serving/tokens.sqlite")
    max_batch_size: int = Field(default=1000, ge=1, le=100_000)
    risk_bands: tuple[RiskBand, ...] | None = Field(
        default=None,
        description="Fixed cut-offs; default (null): derived from capacity (capacity_*).",
    )
    capacity_count: int | None = Field(
        default=None,
        ge=1,
        description="Families caseworkers can reach (the 'high' band); overrides the fraction.",
    )
    capacity_fraction: float = Field(
        default=0.05, gt=0.0, le=1.0, description="Share of eligible families they can reach."
    )
    elevated_ratio: float = Field(
        default=2.0,
        gt=1.0,
        description="'elevated' starts at this multiple of the eligible families' average.",
    )
    min_contribution: float = Field(
        default=0.002,
        ge=0.0,
        le=1.0,
        description="Reasons and context moving the probability less than this are left out "
        "(probability units: 0.002 = 0.2 percentage points).",
    )
    reasons_raising: int = Field(default=5, ge=0, le=50)
    reasons_lowering: int = Field(default=3, ge=0, le=50)
    reasons_context: int = Field(default=5, ge=0, le=50)
    audit_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite synchronous mode of the audit log: FULL survives power loss.",
    )
    audit_busy_timeout_ms: int = Field(default=5000, ge=0)
    audit_page_limit: int = Field(default=1000, ge=1)
    advisory_notice: str | None = Field(
        default=None,
        description="Operator's own notice (shown as is in every language); default (null): "
        "the built-in notice in the request's language.",
    )
    dossier_contact: str | None = Field(
        default=None,
        max_length=500,
        description="Where a family contests a record (office, phone, address), printed as "
        "is in every explanation record (issue 23); default: none printed.",
    )
    workers: int = Field(default=1, ge=1, le=64)
    # ---- request limits (over them: 413 for the body, 400 naming the field otherwise)
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=64 * 1_048_576,
        description="Largest request body accepted (bytes); a larger one is 413, unread.",
    )
    max_id_length: int = Field(default=64, ge=1, le=1024, description="Longest id accepted.")
    max_reason_length: int = Field(
        default=2000, ge=1, le=100_000, description="Longest /feedback reason accepted."
    )
    # ---- security log, failed-authentication throttling, per-token quotas
    security_log_path: Path = Path("var/serving/security_log.sqlite")
    served_stats_path: Path = Field(
        default=Path("var/serving/served_stats.sqlite"),
        description="Aggregate statistics of what was scored (no family id, no value), for "
        "`earlyrisk monitor --served-stats`; in the shared database when database_url is set.",
    )
    auth_failure_limit: int = Field(
        default=10,
        ge=1,
        description="Requests without a valid token (or review sign-ins and sessions that "
        "fail) from one address per window before that address's requests without a valid "
        "token are refused with 429. A request with a valid token is never refused for "
        "them, and a token id alone never blocks its token.",
    )
    auth_failure_window_s: int = Field(default=300, ge=1, le=86_400)
    quota_requests_per_minute: int = Field(
        default=120, ge=1, description="Requests one token may make per minute."
    )
    quota_families_per_minute: int = Field(
        default=1000,
        ge=1,
        description="Families one token may score per minute (ids in /score, 1 per "
        "/score_indicators).",
    )
    token_default_ttl_days: int = Field(default=90, ge=1, le=3650)
    trusted_proxies: tuple[str, ...] = Field(
        default=(),
        description='Addresses or networks (JSON list: ["10.0.0.5", "10.1.0.0/16"]) of '
        "the reverse proxies in front of the service. Only a request whose peer is one of "
        "them has its X-Forwarded-For believed; default: none, the peer address is the "
        "client (for throttling and the security log).",
    )
    review_session_idle_minutes: float = Field(
        default=30.0,
        gt=0,
        le=24 * 60,
        description="A review-page session unused this long is ended (sign in again).",
    )
    review_sessions_path: Path | None = Field(
        default=None,
        description="The review page's server-side sessions (default: review_sessions.sqlite "
        "next to the token store; in the shared database when database_url is set, so every "
        "replica knows them).",
    )
    # ---- retention (issue 23, item 5): flags that expire, logs kept no longer than needed
    score_expiry_days: int = Field(
        default=180,
        ge=1,
        le=3650,
        description="A score older than this many days (its as-of date before today minus "
        "this) is never shown as a current level: /score, /family, the review page and "
        "batch score files answer 'expired' instead.",
    )
    score_expiry_today: date | None = Field(
        default=None,
        description="The date score ages are counted to (default: today, UTC); set it only "
        "to replay historical data, e.g. a demo on a synthetic registry that ends in the past.",
    )
    audit_retention_days: int = Field(
        default=365,
        ge=183,
        le=36_500,
        description="How long audit-log entries are kept: `earlyrisk audit-log prune "
        "--before DATE` refuses a DATE less than this many days ago (never under 183 days, "
        "about six months: EU AI Act Art. 26(6)).",
    )
    snapshot_retention_days: int = Field(
        default=400,
        ge=1,
        le=36_500,
        description="`earlyrisk retention apply` removes feature snapshots whose as-of "
        "date is older than this many days (never the newest snapshot).",
    )
    score_file_retention_days: int = Field(
        default=180,
        ge=1,
        le=36_500,
        description="`earlyrisk retention apply` removes batch score files whose as-of "
        "date is older than this many days.",
    )
    retention_dirs: tuple[Path, ...] = Field(
        default=(),
        description="Folders `earlyrisk retention apply` looks in for snapshots and score "
        "files (JSON list; default: the folder of the served snapshot).",
    )
    # ---- the caseworker's worklist and cases (issue 21)
    cases_path: Path | None = Field(
        default=None,
        description="The cases (one score per family, snapshot and model version, its "
        "status, the decision in force, the follow-up): default ``<audit log>.cases.sqlite`` "
        "beside the audit log its scores are in; in the shared database when database_url "
        "is set.",
    )
    time_zone: str = Field(
        default="Asia/Almaty",
        description="The service's time zone (IANA name): the review page shows times in "
        "it, labelled, and 'today' (a follow-up due, days since first flagged) is its date.",
    )
    worklist_page_size: int = Field(
        default=25, ge=1, le=500, description="Families per page of the worklist."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        """An IANA zone the system knows, so a typo stops the service naming it."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"time_zone: {value!r} is not a known IANA time zone (for example "
                "Asia/Almaty, Asia/Aqtobe, UTC)"
            ) from exc
        return value

    @property
    def resolved_cases_path(self) -> Path:
        """Where the SQLite cases live: the setting, else beside the audit log (a case holds
        a score of that log)."""
        if self.cases_path is not None:
            return self.cases_path
        log = self.audit_log_path
        return log.with_name(f"{log.stem}.cases.sqlite")

    # issue 23: corrections filed through the service (serving.store.corrections)
    corrections_path: Path | None = Field(
        default=None,
        description="Corrections filed and decided through the service (default: "
        "corrections.sqlite next to the audit log; in the shared database when database_url "
        "is set).",
    )

    # ---- shadow mode and staged rollout (serving.shadow, serving.rollout)
    shadow_model_uri: str | None = Field(
        default=None,
        description="A second registered version (models:/NAME/VERSION) that scores every "
        "request too; its scores go to the audit log as shadow entries, never to a client "
        "(`earlyrisk serve --shadow`, `earlyrisk shadow-report`).",
    )
    rollout_config_path: Path | None = Field(
        default=None,
        description="A rollout config (YAML: cycle, seed, a version and a hold-out share per "
        "region), sealed in the audit log before the first score (`earlyrisk serve "
        "--rollout`, docs/shadow_and_rollout.md).",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each entry must parse as an address or network, so a typo is not silently inert."""
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or network"
                ) from exc
        return tuple(entry.strip() for entry in value)

    @model_validator(mode="after")
    def _bands_are_ordered(self) -> ServingSettings:
        if self.risk_bands is None:
            return self
        bounds = [band.min_probability for band in self.risk_bands]
        if not bounds or bounds[0] != 0.0:
            raise ValueError(f"risk_bands must start at min_probability 0.0, got {bounds}")
        if any(b <= a for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"risk_bands must have strictly increasing bounds, got {bounds}")
        return self

    @field_validator("tracking_uri")
    @classmethod
    def _postgres_driver(cls, uri: str) -> str:
        """``postgresql://`` runs on psycopg 3, the project's one PostgreSQL driver."""
        return sqlalchemy_uri(uri)

    @model_validator(mode="after")
    def _database_url_is_postgres(self) -> ServingSettings:
        if self.database_url is not None:
            check_url(self.database_url)
        return self

    @property
    def resolved_review_sessions_path(self) -> Path:
        """Where the SQLite review sessions live: the setting, else beside the tokens."""
        if self.review_sessions_path is not None:
            return self.review_sessions_path
        return self.token_db_path.with_name("review_sessions.sqlite")

    @property
    def resolved_model_uri(self) -> str:
        """The registry URI to load: the explicit one, else ``models:/<name>@<alias>``."""
        return self.model_uri or f"models:/{self.model_name}@{self.model_alias}"
