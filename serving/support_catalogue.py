"""Which support programmes answer which need: the catalogue beside the needs on the page.

A caseworker who reads "utility debt of 84 000 ₸" needs to know what to offer. The
catalogue (YAML, :data:`DEFAULT_PATH`, or a deployment's own file named by
``EARLYRISK_SUPPORT_CATALOGUE_PATH``) defines the programmes, each with its name and one line
of what it is in English, Russian and Kazakh, and maps needs to them: by indicator name
(``econ_utility_debt_last``) or by area (``economic``); an indicator's own entry wins over
its area's. It is checked once, at start: an unknown field, a missing or empty language, a
need that is neither an indicator nor an area, or a programme that is not defined stops
the service with the field named (a wrong catalogue would send families to the wrong help).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from serving.i18n.words import Language

DEFAULT_PATH = Path(__file__).with_name("support_catalogue.yaml")

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
_Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]


class SupportCatalogueError(ValueError):
    """The catalogue file cannot be used (unreadable, not YAML, or invalid: the field named)."""


class Text(BaseModel):
    """One text in the three languages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    en: _Text
    ru: _Text
    kk: _Text

    def __getitem__(self, lang: Language) -> str:
        return str(getattr(self, lang))


class Programme(BaseModel):
    """A support programme: its name and what it is, in one line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text
    what: Text


class SupportCatalogue(BaseModel):
    """The programmes and the needs (indicator names or areas) each answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    programmes: dict[_Code, Programme] = Field(min_length=1)
    needs: dict[_Code, list[_Code]] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> SupportCatalogue:
        from features.catalogue import FEATURES
        from features.contract import DOMAINS

        for need, codes in self.needs.items():
            if need not in FEATURES and need not in DOMAINS:
                raise ValueError(
                    f"needs.{need}: neither an indicator of the feature catalogue nor an area "
                    f"({', '.join(DOMAINS)})"
                )
            if need in FEATURES and FEATURES[need].kind != "need":
                raise ValueError(
                    f"needs.{need}: the indicator is {FEATURES[need].kind!r}, not a need"
                )
            unknown = [c for c in codes if c not in self.programmes]
            if unknown:
                raise ValueError(
                    f"needs.{need}: programme(s) {unknown} are not defined under programmes "
                    f"(defined: {', '.join(self.programmes)})"
                )
        return self

    def for_need(self, indicator: str, domain: str) -> list[str]:
        """The programmes answering a need: its indicator's entry, else its area's."""
        return list(self.needs.get(indicator, self.needs.get(domain, [])))


def load_support_catalogue(path: Path | str | None = None) -> SupportCatalogue:
    """The catalogue at ``path`` (default: the shipped one), checked; SupportCatalogueError
    names the file and the first bad field."""
    return _load(Path(path) if path is not None else DEFAULT_PATH)


@lru_cache(maxsize=8)
def _load(path: Path) -> SupportCatalogue:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SupportCatalogueError(f"support catalogue {path}: cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SupportCatalogueError(f"support catalogue {path}: not valid YAML: {exc}") from exc
    try:
        return SupportCatalogue.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise SupportCatalogueError(
            f"support catalogue {path}: field {field}: {first['msg']}"
            + (f" ({len(exc.errors())} problems in all)" if len(exc.errors()) > 1 else "")
        ) from exc
