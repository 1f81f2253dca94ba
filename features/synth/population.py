"""Families, persons and memberships of one chunk, and how they change month by month.

Origin families exist at the period's start (registered earlier). Each month, all families
of the chunk step at once: couples separate (the man leaves and forms a new family, the
family left behind moves up one vulnerability class), adult children leave home and form
their own families, single heads marry (a spouse joins from outside the registry), and
couples have babies. Moves happen on the first day of a month; births on any day.

Composition is drawn independently of the latent vulnerability path (only the class
raises the separation hazard), which is what lets the ground truth condition on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.synth.calendar import Calendar
from features.synth.process import ETHNICITIES, LANGUAGES, ProcessParams

ROLE_HEAD, ROLE_SPOUSE, ROLE_CHILD, ROLE_OTHER = 0, 1, 2, 3
FEMALE, MALE = 0, 1
DAYS_PER_YEAR = 365.25
COUPLE_KIDS, COUPLE, SINGLE_PARENT, SINGLE = 0, 1, 2, 3


@dataclass
class Population:
    """Everything about who lives where in one chunk (indices are chunk-local).

    ``fam_pm[p, m]`` is the family of person ``p`` on the first day of grid month ``m``
    (-1: none); a baby counts from the month after its birth month. ``class_path[f, m]`` is
    the vulnerability class of family ``f`` in month ``m``.
    """

    # families (slots), origin families first
    region: np.ndarray
    rural: np.ndarray
    registered_day: np.ndarray
    formed_month: np.ndarray  # -1 for origin families
    ethnicity: np.ndarray
    language: np.ndarray
    disability: np.ndarray
    class_path: np.ndarray
    # persons
    birth_day: np.ndarray
    sex: np.ndarray
    # memberships (unfiltered, including the 12-month tail; end -1 = open)
    m_person: np.ndarray
    m_family: np.ndarray
    m_role: np.ndarray
    m_start: np.ndarray
    m_end: np.ndarray
    # births: mother person and grid month, for pregnancy-related records
    birth_mother: np.ndarray
    birth_month: np.ndarray
    # person-month grids
    fam_pm: np.ndarray
    role_pm: np.ndarray
    age_pm: np.ndarray

    @property
    def n_families(self) -> int:
        return len(self.region)

    @property
    def n_persons(self) -> int:
        return len(self.birth_day)

    def members(self) -> np.ndarray:
        """(families, n_ext) number of members on the first day of each month."""
        return _family_counts(self.fam_pm, np.ones_like(self.fam_pm, dtype=bool), self.n_families)

    def minors(self) -> np.ndarray:
        """(families, n_ext) number of members under 18."""
        return _family_counts(self.fam_pm, self.age_pm < 18.0, self.n_families)

    def infants(self, months: int) -> np.ndarray:
        """(families, n_ext) number of members younger than ``months`` months."""
        return _family_counts(self.fam_pm, self.age_pm < months / 12.0, self.n_families)


def _family_counts(fam_pm: np.ndarray, mask: np.ndarray, n_families: int) -> np.ndarray:
    n_ext = fam_pm.shape[1]
    keep = (fam_pm >= 0) & mask
    months = np.broadcast_to(np.arange(n_ext), fam_pm.shape)[keep]
    flat = fam_pm[keep].astype(np.int64) * n_ext + months
    return np.bincount(flat, minlength=n_families * n_ext).reshape(n_families, n_ext)


class _Growing:
    """Column arrays that grow by appending blocks (families or persons)."""

    def __init__(self, **columns: np.ndarray) -> None:
        self.columns = dict(columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def append(self, **columns: np.ndarray) -> np.ndarray:
        """Append rows; return their indices."""
        first = len(self)
        for name, values in columns.items():
            self.columns[name] = np.concatenate([self.columns[name], values])
        return np.arange(first, len(self))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]


def _pick(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``weights`` (rows need not be normalised)."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return (u[:, None] > cum).sum(axis=1)


def _language(rng: np.random.Generator, ethnicity: np.ndarray, rural: np.ndarray) -> np.ndarray:
    """Primary language of the family, by ethnicity and settlement (kazakh, russian, other)."""
    kazakh, russian, other = (LANGUAGES.index(x) for x in LANGUAGES)
    n = len(ethnicity)
    weights = np.zeros((n, 3))
    eth = np.asarray(ETHNICITIES)[ethnicity]
    is_kazakh = eth == "kazakh"
    weights[is_kazakh] = np.where(rural[is_kazakh, None], [0.93, 0.07, 0.0], [0.68, 0.32, 0.0])
    slavic = np.isin(eth, ["russian", "ukrainian", "german", "tatar"])
    weights[slavic] = [0.03, 0.96, 0.01]
    central = np.isin(eth, ["uzbek", "uyghur"])
    weights[central] = [0.30, 0.15, 0.55]
    rest = eth == "other"
    weights[rest] = [0.15, 0.50, 0.35]
    return np.array([kazakh, russian, other])[_pick(rng, weights)]


def _uniform(
    rng: np.random.Generator, lo: np.ndarray | float, hi: np.ndarray | float, n: int
) -> np.ndarray:
    return lo + (np.asarray(hi) - lo) * rng.random(n)


def simulate_population(
    rng: np.random.Generator, n_origin: int, calendar: Calendar, params: ProcessParams
) -> Population:
    """Draw the origin families, then step composition through every month of the grid."""
    comp, lat = params.composition, params.latent
    start = calendar.start_day
    regions = params.regions

    # --- origin families -----------------------------------------------------------------
    region = _pick(rng, np.tile([r.population_share for r in regions], (n_origin, 1)))
    urban_share = np.array([r.urban_share for r in regions])[region]
    rural = rng.random(n_origin) >= urban_share
    type_weights = np.where(rural[:, None], comp.type_shares_rural, comp.type_shares_urban)
    ftype = _pick(rng, type_weights)
    ethnicity = _pick(rng, np.array([r.ethnic_mix for r in regions])[region])
    language = _language(rng, ethnicity, rural)
    disability = rng.random(n_origin) < params.disability_share

    couple = ftype <= COUPLE
    u = rng.random(n_origin)
    head_age = np.select(
        [ftype == COUPLE_KIDS, ftype == COUPLE, ftype == SINGLE_PARENT],
        [
            _uniform(rng, 24, 52, n_origin),
            np.where(u < 0.5, _uniform(rng, 20, 32, n_origin), _uniform(rng, 50, 78, n_origin)),
            _uniform(rng, 22, 52, n_origin),
        ],
        np.where(u < 0.5, _uniform(rng, 19, 35, n_origin), _uniform(rng, 35, 85, n_origin)),
    )
    head_male = np.where(
        couple,
        rng.random(n_origin) < comp.head_male_share_couple,
        np.where(
            ftype == SINGLE_PARENT,
            rng.random(n_origin) >= comp.head_female_share_single_parent,
            rng.random(n_origin) < 0.5,
        ),
    )
    spouse_age = np.clip(
        head_age + np.where(head_male, -2.5, 2.5) + rng.normal(0, 3, n_origin), 18.5, 90
    )
    mother_age = np.where(head_male & couple, spouse_age, head_age)
    with_kids = (ftype == COUPLE_KIDS) | (ftype == SINGLE_PARENT)
    extra_mean = np.where(rural, comp.extra_children_mean_rural, comp.extra_children_mean_urban)
    n_kids = np.where(
        with_kids, np.minimum(1 + rng.poisson(extra_mean), comp.max_children), 0
    ).astype(np.int64)
    max_child_age = np.clip(mother_age - 18.5, 0.5, 21.0)
    kid_slot = np.arange(comp.max_children)[None, :]
    kid_age = rng.random((n_origin, comp.max_children)) * max_child_age[:, None]
    kid_mask = kid_slot < n_kids[:, None]
    oldest_kid = np.where(kid_mask, kid_age, 0.0).max(axis=1)
    other_share = np.where(rural, comp.other_adult_share_rural, comp.other_adult_share_urban)
    has_other = rng.random(n_origin) < other_share

    years_ago = _uniform(rng, 0.3, np.clip(head_age - 18.2, 0.5, 30.0), n_origin)
    years_ago = np.where(
        with_kids,
        np.minimum(np.maximum(years_ago, oldest_kid + 2 * rng.random(n_origin)), head_age - 18.1),
        years_ago,
    )
    registered_day = (start - years_ago * DAYS_PER_YEAR).astype(np.int64)

    # family vulnerability class: region + settlement + family type + disability + noise
    baseline = (
        np.array([r.vulnerability_shift for r in regions])[region]
        + lat.rural_shift * rural
        + lat.single_parent_shift * (ftype == SINGLE_PARENT)
        + lat.large_family_shift * (n_kids >= 4)
        + lat.disability_shift * disability
        + rng.normal(0, lat.baseline_noise_sd, n_origin)
    )
    class_means = np.asarray(lat.class_means)
    fam_class = np.abs(baseline[:, None] - class_means[None, :]).argmin(axis=1)

    # --- origin persons and memberships ----------------------------------------------------
    fam_idx = np.arange(n_origin)

    def birth_from_age(age: np.ndarray) -> np.ndarray:
        return (start - age * DAYS_PER_YEAR - rng.random(len(age)) * 30).astype(np.int64)

    blocks = []  # (family, role, birth_day, sex, start_day)
    blocks.append(
        (fam_idx, ROLE_HEAD, birth_from_age(head_age), head_male.astype(np.int8), registered_day)
    )
    sp = fam_idx[couple]
    blocks.append(
        (
            sp,
            ROLE_SPOUSE,
            birth_from_age(spouse_age[sp]),
            (~head_male[sp]).astype(np.int8),
            registered_day[sp],
        )
    )
    kf, ks = np.nonzero(kid_mask)
    kid_birth = birth_from_age(kid_age[kf, ks])
    blocks.append(
        (
            kf,
            ROLE_CHILD,
            kid_birth,
            (rng.random(len(kf)) < 0.512).astype(np.int8),
            np.maximum(kid_birth, registered_day[kf]),
        )
    )
    of = fam_idx[has_other]
    blocks.append(
        (
            of,
            ROLE_OTHER,
            birth_from_age(_uniform(rng, 55, 85, len(of))),
            (rng.random(len(of)) >= 0.65).astype(np.int8),
            registered_day[of] + (rng.random(len(of)) * (start - registered_day[of])).astype(int),
        )
    )
    p_family = np.concatenate([b[0] for b in blocks])
    p_role = np.concatenate([np.full(len(b[0]), b[1], dtype=np.int8) for b in blocks])
    persons = _Growing(
        birth_day=np.concatenate([b[2] for b in blocks]),
        sex=np.concatenate([b[3] for b in blocks]),
        cur_family=p_family.astype(np.int64),
        cur_role=p_role,
        cur_start=np.concatenate([b[4] for b in blocks]).astype(np.int64),
    )
    head_of = np.full(n_origin, -1, dtype=np.int64)
    spouse_of = np.full(n_origin, -1, dtype=np.int64)
    head_of[p_family[p_role == ROLE_HEAD]] = np.flatnonzero(p_role == ROLE_HEAD)
    spouse_of[p_family[p_role == ROLE_SPOUSE]] = np.flatnonzero(p_role == ROLE_SPOUSE)
    families = _Growing(
        region=region,
        rural=rural,
        registered_day=registered_day,
        formed_month=np.full(n_origin, -1, dtype=np.int64),
        ethnicity=ethnicity,
        language=language,
        disability=disability,
        fam_class=fam_class.astype(np.int64),
        class0=fam_class.astype(np.int64),
        head=head_of,
        spouse=spouse_of,
        last_birth=np.full(n_origin, -10_000, dtype=np.int64),
    )
    # the youngest origin child's birth counts for the birth spacing
    young = kid_age[kf, ks] < comp.birth_min_gap_months / 12
    families["last_birth"][kf[young]] = -1

    closed: list[tuple[np.ndarray, ...]] = []  # (person, family, role, start, end)
    class_changes: list[tuple[np.ndarray, int]] = []  # (families, month) class increments
    births_mother: list[np.ndarray] = []
    births_month: list[np.ndarray] = []
    n_classes = len(class_means)

    def close(people: np.ndarray, day: int) -> None:
        closed.append(
            (
                people.copy(),
                persons["cur_family"][people].copy(),
                persons["cur_role"][people].copy(),
                persons["cur_start"][people].copy(),
                np.full(len(people), day - 1, dtype=np.int64),
            )
        )

    def new_families(origin: np.ndarray, month: int, day: int, cls: np.ndarray) -> np.ndarray:
        n = len(origin)
        return families.append(
            region=families["region"][origin],
            rural=families["rural"][origin],
            registered_day=np.full(n, day, dtype=np.int64),
            formed_month=np.full(n, month, dtype=np.int64),
            ethnicity=families["ethnicity"][origin],
            language=families["language"][origin],
            disability=rng.random(n) < params.disability_share / 3,
            fam_class=np.clip(cls, 0, n_classes - 1),
            class0=np.clip(cls, 0, n_classes - 1),
            head=np.full(n, -1, dtype=np.int64),
            spouse=np.full(n, -1, dtype=np.int64),
            last_birth=np.full(n, -10_000, dtype=np.int64),
        )

    def move(people: np.ndarray, family: np.ndarray, role: int, day: int) -> None:
        persons["cur_family"][people] = family
        persons["cur_role"][people] = role
        persons["cur_start"][people] = day

    for month in range(1, calendar.n_ext):
        day = int(calendar.month_start[month])
        n_f = len(families)
        head, spouse = families["head"], families["spouse"]

        # separations: the man leaves and forms a new family
        is_couple = spouse >= 0
        hazard = comp.separation_hazard * np.exp(
            comp.separation_class_slope * class_means[families["fam_class"]]
        )
        sep = np.flatnonzero(is_couple & (rng.random(n_f) < hazard))
        if len(sep):
            h, s = head[sep], spouse[sep]
            head_is_man = persons["sex"][h] == MALE
            man = np.where(head_is_man, h, s)
            woman = np.where(head_is_man, s, h)
            close(np.concatenate([man, woman[head_is_man]]), day)
            move(woman[head_is_man], sep[head_is_man], ROLE_HEAD, day)
            new = new_families(sep, month, day, families["fam_class"][sep])
            move(man, new, ROLE_HEAD, day)
            families["head"][sep] = woman
            families["spouse"][sep] = -1
            families["head"][new] = man
            class_changes.append((sep, month))
            families["fam_class"][sep] = np.minimum(
                families["fam_class"][sep] + lat.separation_class_step, n_classes - 1
            )

        # adult children leave home and form their own families
        age_now = (day - persons["birth_day"]) / DAYS_PER_YEAR
        leaving = np.flatnonzero(
            (persons["cur_role"] == ROLE_CHILD)
            & (persons["cur_family"] >= 0)
            & (age_now >= comp.leave_home_age)
            & (rng.random(len(persons)) < comp.leave_home_hazard)
        )
        if len(leaving):
            origin = persons["cur_family"][leaving]
            close(leaving, day)
            cls = families["fam_class"][origin] + rng.integers(-2, 1, len(leaving))
            new = new_families(origin, month, day, cls)
            move(leaving, new, ROLE_HEAD, day)
            families["head"][new] = leaving

        # single heads aged 20..40 marry; the spouse joins from outside the registry
        head, spouse = families["head"], families["spouse"]
        head_age_now = (day - persons["birth_day"][head]) / DAYS_PER_YEAR
        marry = np.flatnonzero(
            (spouse < 0)
            & (head_age_now >= 20)
            & (head_age_now <= 40)
            & (rng.random(len(families)) < comp.marriage_hazard)
        )
        if len(marry):
            head_sex = persons["sex"][head[marry]]
            age = np.clip(
                head_age_now[marry]
                + np.where(head_sex == MALE, -2.5, 2.5)
                + rng.normal(0, 3, len(marry)),
                18.2,
                60,
            )
            joined = persons.append(
                birth_day=(day - age * DAYS_PER_YEAR).astype(np.int64),
                sex=(1 - head_sex).astype(np.int8),
                cur_family=marry,
                cur_role=np.full(len(marry), ROLE_SPOUSE, dtype=np.int8),
                cur_start=np.full(len(marry), day, dtype=np.int64),
            )
            families["spouse"][marry] = joined

        # births to couples with a woman aged 18..44
        head, spouse = families["head"], families["spouse"]
        has_spouse = spouse >= 0
        mother = np.where(persons["sex"][head] == FEMALE, head, np.where(has_spouse, spouse, -1))
        mother_age = np.where(
            mother >= 0, (day - persons["birth_day"][mother]) / DAYS_PER_YEAR, 0.0
        )
        rate = np.where(families["rural"], comp.birth_hazard_rural, comp.birth_hazard_urban)
        born = np.flatnonzero(
            has_spouse
            & (mother_age >= 18)
            & (mother_age <= 44)
            & (month - families["last_birth"] >= comp.birth_min_gap_months)
            & (rng.random(len(families)) < rate)
        )
        if len(born):
            width = int(calendar.month_start[month + 1]) - day
            birth_day = day + rng.integers(0, width, len(born))
            persons.append(
                birth_day=birth_day.astype(np.int64),
                sex=(rng.random(len(born)) < 0.512).astype(np.int8),
                cur_family=born,
                cur_role=np.full(len(born), ROLE_CHILD, dtype=np.int8),
                cur_start=birth_day.astype(np.int64),
            )
            families["last_birth"][born] = month
            births_mother.append(mother[born])
            births_month.append(np.full(len(born), month, dtype=np.int64))

    # open memberships
    everyone = np.arange(len(persons))
    closed.append(
        (
            everyone,
            persons["cur_family"].copy(),
            persons["cur_role"].copy(),
            persons["cur_start"].copy(),
            np.full(len(persons), -1, dtype=np.int64),
        )
    )
    m_person, m_family, m_role, m_start, m_end = (
        np.concatenate([c[i] for c in closed]) for i in range(5)
    )

    # class path: the class at creation, raised from each separation month onwards
    class_path = np.repeat(families["class0"][:, None], calendar.n_ext, axis=1)
    for fams, month in class_changes:
        class_path[fams, month:] = np.minimum(
            class_path[fams, month:] + lat.separation_class_step, n_classes - 1
        )

    fam_pm, role_pm = _person_month_grid(
        calendar, len(persons), m_person, m_family, m_role, m_start, m_end
    )
    age_pm = (
        (calendar.month_start[None, : calendar.n_ext] - persons["birth_day"][:, None])
        / DAYS_PER_YEAR
    ).astype(np.float32)
    return Population(
        region=families["region"],
        rural=families["rural"],
        registered_day=families["registered_day"],
        formed_month=families["formed_month"],
        ethnicity=families["ethnicity"],
        language=families["language"],
        disability=families["disability"],
        class_path=class_path,
        birth_day=persons["birth_day"],
        sex=persons["sex"],
        m_person=m_person,
        m_family=m_family,
        m_role=m_role,
        m_start=m_start,
        m_end=m_end,
        birth_mother=np.concatenate(births_mother) if births_mother else np.empty(0, np.int64),
        birth_month=np.concatenate(births_month) if births_month else np.empty(0, np.int64),
        fam_pm=fam_pm,
        role_pm=role_pm,
        age_pm=age_pm,
    )


def _person_month_grid(
    calendar: Calendar,
    n_persons: int,
    person: np.ndarray,
    family: np.ndarray,
    role: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Family and role of every person on the first day of every grid month."""
    n_ext = calendar.n_ext
    firsts = calendar.month_start[:n_ext]
    lo = np.searchsorted(firsts, start, side="left")
    hi = np.where(end < 0, n_ext - 1, np.searchsorted(firsts, end, side="right") - 1)
    length = np.clip(hi - lo + 1, 0, None)
    rows = np.repeat(person, length)
    offsets = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    cols = np.repeat(lo, length) + offsets
    fam_pm = np.full((n_persons, n_ext), -1, dtype=np.int32)
    role_pm = np.full((n_persons, n_ext), -1, dtype=np.int8)
    fam_pm[rows, cols] = np.repeat(family, length)
    role_pm[rows, cols] = np.repeat(role, length)
    return fam_pm, role_pm
