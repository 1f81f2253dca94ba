"""Who must be told that an automated assessment is used, and what they are told.

A family is notified when its data is assessed for the first time (eligible on the
snapshot date and not on the snapshot before it, or there is none before) or when its level
rose since the previous snapshot; both snapshots are scored by the same (serving) model
with the served arithmetic and each date's own cut-offs, so a new model does not by itself
make everyone's level "rise". The notice (:data:`serving.dossier.texts.NOTICE_TEXT`) says
that an automated assessment is used to offer support and how to ask for the explanation
record; it never names the level or a risk (a test reads every notice for it).

Opting out is a configuration, not a default: :class:`NoticeConfig` states the
deployment's legal basis and whether it allows families to opt out; only then are the
families listed in ``opted_out`` left out (and told they may ask for it). Every run is on
the audit log (a ``dossier`` entry, endpoint ``notices``) with the configuration it ran
under, so an auditor sees which basis and which opt-outs applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.errors import EarlyriskError
from serving.dossier.counterfactual import LEVEL_ORDER, rescored_probabilities
from serving.dossier.texts import NOTICE_OPT_OUT, NOTICE_TEXT
from serving.engine import RequestError, ServingEngine
from serving.i18n import Language
from serving.i18n import locale_format as fmt

Reason = Literal["first_assessment", "level_rose"]


class NoticeConfigError(EarlyriskError, ValueError):
    """The notices configuration file cannot be read or breaks a rule (named)."""


class NoticeConfig(BaseModel):
    """The deployment's rules for notices (YAML: ``earlyrisk notices --config FILE``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    legal_basis: str = Field(
        default="not configured",
        min_length=3,
        max_length=300,
        description="The law or decision the assessment (and any opt-out) rests on.",
    )
    opt_out_allowed: bool = Field(
        default=False, description="Whether that legal basis lets a family opt out."
    )
    opted_out: tuple[str, ...] = Field(
        default=(), description="Families who opted out (only with opt_out_allowed)."
    )

    @model_validator(mode="after")
    def _opt_out_needs_a_basis(self) -> NoticeConfig:
        if self.opted_out and not self.opt_out_allowed:
            raise ValueError(
                f"opted_out lists {len(self.opted_out)} families but opt_out_allowed is false: "
                f"the legal basis ({self.legal_basis}) does not allow opting out"
            )
        return self


def load_notice_config(path: Path | None) -> NoticeConfig:
    """The configuration at path (default: no opt-out), or NoticeConfigError naming the
    file and the field."""
    if path is None:
        return NoticeConfig()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return NoticeConfig.model_validate(data)
    except OSError as exc:
        raise NoticeConfigError(f"notices config {path}: cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise NoticeConfigError(f"notices config {path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise NoticeConfigError(f"notices config {path}: field {field}: {first['msg']}") from exc


@dataclass(frozen=True)
class NoticeRun:
    """The families to notify on a date, and what was left out."""

    as_of: str
    previous: str | None
    notices: pd.DataFrame  # family_id, reason, as_of, notice_<lang>...
    opted_out: int
    assessed: int


def _levels(engine: ServingEngine, day: str) -> pd.Series:
    """The level of every eligible family on day (the serving model, day's cut-offs)."""
    model = engine.model
    bands = engine.bands(day, model)
    parts = []
    for chunk in engine.lookup.iter_population(as_of=day):
        matrix = chunk.to_numpy(dtype=np.float64)
        keep = model.scorer.eligible_matrix(matrix)
        probability = rescored_probabilities(model.scorer, matrix[keep])
        parts.append(pd.Series(bands.levels(probability), index=chunk.index[keep], dtype=object))
    return pd.concat(parts) if parts else pd.Series([], dtype=object)


def notice_text(family_id: str, as_of: str, lang: Language, config: NoticeConfig) -> str:
    """The notice in lang (with the opt-out sentence when the configuration allows it)."""
    text = NOTICE_TEXT[lang].format(family_id=family_id, as_of=fmt.day(as_of, lang))
    if config.opt_out_allowed:
        text += " " + NOTICE_OPT_OUT[lang].format(legal_basis=config.legal_basis)
    return text


def notices(
    engine: ServingEngine, *, as_of: str, langs: Sequence[Language], config: NoticeConfig
) -> NoticeRun:
    """The notices due on ``as_of`` (a snapshot date the engine holds)."""
    dates = sorted(engine.as_of_dates)
    if as_of not in dates:
        raise RequestError("as_of", f"no snapshot for {as_of}; available: {', '.join(dates)}")
    previous = dates[dates.index(as_of) - 1] if dates.index(as_of) > 0 else None
    now = _levels(engine, as_of)
    before = _levels(engine, previous) if previous is not None else pd.Series([], dtype=object)
    rank = {level: i for i, level in enumerate(LEVEL_ORDER)}
    earlier = before.reindex(now.index)
    first = earlier.isna()
    rose = ~first & (now.map(rank) > earlier.map(rank))
    due = now.index[first | rose]
    reasons = np.where(first.loc[due], "first_assessment", "level_rose")
    out = pd.DataFrame({"family_id": due.astype(str), "reason": reasons, "as_of": as_of})
    left_out = out["family_id"].isin(set(config.opted_out)) if config.opt_out_allowed else None
    opted = int(left_out.sum()) if left_out is not None else 0
    if left_out is not None:
        out = out.loc[~left_out].reset_index(drop=True)
    for lang in langs:
        out[f"notice_{lang}"] = [notice_text(f, as_of, lang, config) for f in out["family_id"]]
    return NoticeRun(as_of, previous, out, opted, int(now.size))
