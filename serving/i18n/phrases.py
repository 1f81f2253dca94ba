"""The fixed words of a score in English, Russian and Kazakh: risk levels and what each
band means, indicator kinds, units, the advisory notice and the little phrases around
numbers. Templates use ``str.format`` fields; every language has the same fields (a test
checks it), so a missing field cannot crash one language only.

A native reviewer should start with :data:`NOTICE`, :data:`BAND_MEANING` and
:data:`KIND_NAME`: these are the sentences a caseworker reads on every score.
"""

from __future__ import annotations

from typing import Final

from serving.i18n.words import Words, words

LEVEL_NAME: Final[dict[str, Words]] = {
    "low": words("low", "низкий", "төмен"),
    "elevated": words("elevated", "повышенный", "жоғарылаған"),
    "high": words("high", "высокий", "жоғары"),
    # a score older than score_expiry_days (serving.expiry): never shown as a level
    "expired": words("expired", "срок истёк", "мерзімі өтті"),
}

# {cut}: the band's lower bound in %; {upper}: the next band's bound in %; {share}: the
# capacity as a % of eligible families; {count}: families in the band on the reference
# date; {ratio}: the elevated multiple; {base}: the eligible families' average in %.
BAND_MEANING: Final[dict[str, Words]] = {
    "high": words(
        (
            "probability {cut} % or more: the {count} families with the highest "
            "probability, within the {share} % of eligible families caseworkers can reach"
        ),
        (
            "вероятность {cut} % и выше: {count} семей с самой высокой вероятностью, в "
            "пределах {share} % семей, которых специалисты могут охватить"
        ),
        (
            "ықтималдық {cut} % және одан жоғары: ықтималдығы ең жоғары {count} отбасы, "
            "мамандар қамти алатын отбасылардың {share} % шегінде"
        ),
    ),
    "elevated": words(
        (
            "probability from {cut} % to below {upper} %: at least {ratio} times the "
            "average eligible family ({base} %), beyond what caseworkers can reach"
        ),
        (
            "вероятность от {cut} % до {upper} %: не меньше чем в {ratio} раза выше "
            "средней по семьям ({base} %), но сверх того, что специалисты могут охватить"
        ),
        (
            "ықтималдық {cut} %-дан {upper} %-ға дейін: отбасылардың орташа деңгейінен "
            "({base} %) кемінде {ratio} есе жоғары, бірақ мамандар қамти алатын шектен тыс"
        ),
    ),
    "low": words(
        "probability below {upper} %",
        "вероятность ниже {upper} %",
        "ықтималдық {upper} %-дан төмен",
    ),
}

# A band whose bounds were set by the operator (EARLYRISK_RISK_BANDS), not derived.
BAND_MEANING_FIXED: Final[Words] = words(
    "probability from {cut} % to below {upper} % (cut-offs set by the operator)",
    "вероятность от {cut} % до {upper} % (границы заданы администратором)",
    "ықтималдық {cut} %-дан {upper} %-ға дейін (шекараларын әкімші белгілеген)",
)

KIND_NAME: Final[dict[str, Words]] = {
    "need": words("need", "трудность семьи", "отбасының қиындығы"),
    "context": words("family situation", "состав семьи", "отбасы құрамы"),
    "support": words("support received", "полученная помощь", "алынған көмек"),
}

NOT_RECORDED: Final[Words] = words("not recorded", "нет данных", "дерек жоқ")

YES_NO: Final[dict[str, tuple[str, str]]] = {
    "en": ("yes", "no"),
    "ru": ("да", "нет"),
    "kk": ("иә", "жоқ"),
}

# Unit after a number; days and years in Russian follow its plural rules (see _ru_plural).
UNIT: Final[dict[str, Words]] = {
    "KZT": words("KZT", "тенге", "теңге"),
    "persons per room": words("persons per room", "чел. на комнату", "адам/бөлме"),
    "count": words("", "", ""),
    "yes/no": words("", "", ""),
    "days": words("days", "дней", "күн"),
    "years": words("years", "лет", "жас"),
}
RU_PLURAL: Final[dict[str, tuple[str, str, str]]] = {
    "days": ("день", "дня", "дней"),
    "years": ("год", "года", "лет"),
}

# {points}: signed percentage points with one decimal.
CONTRIBUTION: Final[Words] = words(
    "{points} percentage points", "{points} п. п.", "{points} пайыздық пункт"
)

NOTICE: Final[Words] = words(
    (
        "Advisory only: this score estimates the chance of a child protection case within "
        "the model's horizon from administrative records. It is not a finding about the family. "
        "A caseworker decides and records the decision."
    ),
    (
        "Только для сведения: оценка показывает вероятность дела о защите ребёнка в "
        "пределах срока прогноза модели по административным данным. Это не вывод о семье. "
        "Решение принимает специалист и записывает его."
    ),
    (
        "Тек ақпарат үшін: бұл баға әкімшілік деректер бойынша модельдің болжам мерзімі "
        "ішінде баланы қорғау ісінің ашылу ықтималдығын көрсетеді. Бұл отбасы туралы қорытынды "
        "емес. Шешімді маман қабылдайды және оны тіркейді."
    ),
)

# Why a family outside the scored population has no score (features.eligibility): {n} is
# the least number of children under 18 the rule asks for.
INELIGIBLE_REASON: Final[dict[str, Words]] = {
    "children_under_18": words(
        "no child under 18 in the household on the data date",
        "на дату данных в семье нет ребёнка младше 18 лет",
        "деректер күнінде отбасында 18 жасқа толмаған бала жоқ",
    ),
    "children_under_18_many": words(
        "fewer than {n} children under 18 in the household on the data date",
        "на дату данных в семье меньше {n} детей младше 18 лет",
        "деректер күнінде отбасында 18 жасқа толмаған балалар {n}-ден аз",
    ),
}
