"""Which needs a family can change, and what "resolved" means for each (the dossier's
"what would change the level").

A dossier may only name as something to change what a family can actually change going
forward: a debt repaid, school attendance restored, a vaccination caught up. It must never
name a circumstance (household composition, a child's special needs), a protected
attribute (never a model input anyway), support received (benefits, centre visits) or a
past event nobody can undo (a domestic-violence report, an offence, an eviction, an injury,
a treatment): asking a family to "have fewer children" or "receive less help" is the
social scoring the law forbids, and "have had no police contact" is no advice at all.

So the catalogue is explicit, short and checked: each :class:`Change` sets one or more
**need** indicators to their resolved value, as a bound (``at_most`` 0 for a debt or a
count of missed days, ``at_least`` 0 for a change in income); a family's value already
within the bound, or not recorded (NaN), is left alone. :func:`check_catalogue` refuses an
entry that names anything other than a ``need`` of the feature catalogue, and it runs at
import, so a bad entry stops the service from starting rather than reaching a family.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from features.catalogue import FEATURES
from features.errors import EarlyriskError
from serving.i18n.words import Words, words
from training.protected import PROTECTED_NAMES

Bound = Literal["at_most", "at_least"]
BOUNDS: tuple[Bound, ...] = ("at_most", "at_least")


class MutableCatalogueError(EarlyriskError, ValueError):
    """A change in the catalogue names something a family must never be asked to change."""


@dataclass(frozen=True)
class Change:
    """One change a family can make, as the model's indicators would record it."""

    code: str
    # indicator -> (bound, resolved value)
    indicators: Mapping[str, tuple[Bound, float]]
    text: Words

    def resolve(self, name: str, value: float) -> float:
        """The indicator's value once the change is made (unchanged when already within
        the bound or not recorded)."""
        bound, target = self.indicators[name]
        if math.isnan(value):
            return value
        if bound == "at_most":
            return min(value, target)
        return max(value, target)


def _change(code: str, indicators: Mapping[str, tuple[Bound, float]], text: Words) -> Change:
    return Change(code=code, indicators=dict(indicators), text=text)


#: The changes a dossier may name, in the order it lists them when two are equally small.
MUTABLE_CHANGES: Final[tuple[Change, ...]] = (
    _change(
        "utility_debt_repaid",
        {"econ_utility_debt_last": ("at_most", 0.0)},
        words(
            "the utility debt is repaid",
            "задолженность за коммунальные услуги погашена",
            "коммуналдық қызметтер бойынша берешек өтелді",
        ),
    ),
    _change(
        "overdue_loan_repaid",
        {"econ_loan_overdue_max_365d": ("at_most", 0.0)},
        words(
            "the overdue loan is repaid",
            "просроченный кредит погашен",
            "мерзімі өткен несие өтелді",
        ),
    ),
    _change(
        "work_found",
        {"econ_unemployed_adults_180d": ("at_most", 0.0)},
        words(
            "the adults registered as unemployed find work",
            "взрослые, состоящие на учёте как безработные, находят работу",
            "жұмыссыз ретінде тіркелген ересектер жұмысқа орналасады",
        ),
    ),
    _change(
        "income_recovered",
        {"econ_income_change_90d": ("at_least", 0.0)},
        words(
            "the household income returns at least to its earlier level",
            "доход семьи возвращается как минимум к прежнему уровню",
            "отбасы табысы кем дегенде бұрынғы деңгейіне қайта оралады",
        ),
    ),
    _change(
        "school_attendance_restored",
        {
            "edu_school_absence_days_90d": ("at_most", 0.0),
            "edu_children_absent_90d": ("at_most", 0.0),
            "edu_school_absence_change_90d": ("at_most", 0.0),
        },
        words(
            "the children attend school without missed days",
            "дети посещают школу без пропусков",
            "балалар мектепке сабақ қалдырмай барады",
        ),
    ),
    _change(
        "vaccinations_caught_up",
        {
            "hea_children_missed_vaccination_365d": ("at_most", 0.0),
            "hea_missed_vaccinations_365d": ("at_most", 0.0),
        },
        words(
            "the missed vaccinations are caught up",
            "пропущенные прививки сделаны",
            "өткізіп алған екпелер салынды",
        ),
    ),
    _change(
        "prenatal_checkups_attended",
        {"hea_prenatal_visits_missed_365d": ("at_most", 0.0)},
        words(
            "the prenatal check-ups are attended",
            "дородовые осмотры пройдены",
            "жүктілік кезіндегі тексерулерден өтеді",
        ),
    ),
    _change(
        "preschool_enrolled",
        {"edu_preschool_not_enrolled_365d": ("at_most", 0.0)},
        words(
            "the pre-school children are enrolled in pre-school",
            "дети дошкольного возраста записаны в детский сад",
            "мектепке дейінгі жастағы балалар балабақшаға тіркеледі",
        ),
    ),
)

#: At most this many changes are searched exhaustively (2**n re-scored rows per family).
MAX_CHANGES = 12


def check_catalogue(changes: Sequence[Change]) -> tuple[Change, ...]:
    """The changes, or MutableCatalogueError naming the first entry that names something
    other than a need of the feature catalogue (a circumstance, support received, a
    protected attribute, an unknown indicator) or has an unknown bound."""
    codes: set[str] = set()
    for change in changes:
        if change.code in codes:
            raise MutableCatalogueError(f"change {change.code!r} is declared twice")
        codes.add(change.code)
        if not change.indicators:
            raise MutableCatalogueError(f"change {change.code!r} changes no indicator")
        for name, (bound, target) in change.indicators.items():
            where = f"change {change.code!r}, indicator {name!r}"
            if name in PROTECTED_NAMES or name.startswith(("audit_", "protected")):
                raise MutableCatalogueError(
                    f"{where}: is a protected attribute; it is never something to change"
                )
            spec = FEATURES.get(name)
            if spec is None:
                raise MutableCatalogueError(f"{where}: is not in the feature catalogue")
            if spec.kind != "need":
                raise MutableCatalogueError(
                    f"{where}: is of kind {spec.kind!r} (a circumstance or support received); "
                    "only indicators of kind 'need' may be named as something to change"
                )
            if bound not in BOUNDS:
                raise MutableCatalogueError(f"{where}: bound {bound!r} is not one of {BOUNDS}")
            if not math.isfinite(target):
                raise MutableCatalogueError(f"{where}: resolved value {target!r} is not finite")
    if len(changes) > MAX_CHANGES:
        raise MutableCatalogueError(
            f"{len(changes)} changes exceed the {MAX_CHANGES} the exhaustive search allows"
        )
    return tuple(changes)


check_catalogue(MUTABLE_CHANGES)

#: Every indicator a dossier may name as something to change.
MUTABLE_INDICATORS: Final[frozenset[str]] = frozenset(
    name for change in MUTABLE_CHANGES for name in change.indicators
)
