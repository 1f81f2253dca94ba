"""The fixed words of a score in English, Russian and Kazakh: risk levels and what each
band means, indicator kinds, units, the advisory notice and the little phrases around
numbers. Templates use ``str.format`` fields; every language has the same fields (a test
checks it), so a missing field cannot crash one language only.

A native reviewer should start with :data:`NOTICE`, :data:`BAND_MEANING` and
:data:`KIND_NAME`: these are the sentences a caseworker reads on every score.
"""

from __future__ import annotations

from typing import Final

from serving.i18n.words import Words

LEVEL_NAME: Final[dict[str, Words]] = {
    "low": {"en": "low", "ru": "низкий", "kk": "төмен"},
    "elevated": {"en": "elevated", "ru": "повышенный", "kk": "жоғарылаған"},
    "high": {"en": "high", "ru": "высокий", "kk": "жоғары"},
}

# {cut}: the band's lower bound in %; {upper}: the next band's bound in %; {share}: the
# capacity as a % of eligible families; {count}: families in the band on the reference
# date; {ratio}: the elevated multiple; {base}: the eligible families' average in %.
BAND_MEANING: Final[dict[str, Words]] = {
    "high": {
        "en": "probability {cut} % or more: the {count} families with the highest "
        "probability, within the {share} % of eligible families caseworkers can reach",
        "ru": "вероятность {cut} % и выше: {count} семей с самой высокой вероятностью, в "
        "пределах {share} % семей, которых специалисты могут охватить",
        "kk": "ықтималдық {cut} % және одан жоғары: ықтималдығы ең жоғары {count} отбасы, "
        "мамандар қамти алатын отбасылардың {share} % шегінде",
    },
    "elevated": {
        "en": "probability from {cut} % to below {upper} %: at least {ratio} times the "
        "average eligible family ({base} %), beyond what caseworkers can reach",
        "ru": "вероятность от {cut} % до {upper} %: не меньше чем в {ratio} раза выше "
        "средней по семьям ({base} %), но сверх того, что специалисты могут охватить",
        "kk": "ықтималдық {cut} %-дан {upper} %-ға дейін: отбасылардың орташа деңгейінен "
        "({base} %) кемінде {ratio} есе жоғары, бірақ мамандар қамти алатын шектен тыс",
    },
    "low": {
        "en": "probability below {upper} %",
        "ru": "вероятность ниже {upper} %",
        "kk": "ықтималдық {upper} %-дан төмен",
    },
}

# A band whose bounds were set by the operator (EARLYRISK_RISK_BANDS), not derived.
BAND_MEANING_FIXED: Final[Words] = {
    "en": "probability from {cut} % to below {upper} % (cut-offs set by the operator)",
    "ru": "вероятность от {cut} % до {upper} % (границы заданы администратором)",
    "kk": "ықтималдық {cut} %-дан {upper} %-ға дейін (шекараларын әкімші белгілеген)",
}

KIND_NAME: Final[dict[str, Words]] = {
    "need": {"en": "need", "ru": "трудность семьи", "kk": "отбасының қиындығы"},
    "context": {"en": "family situation", "ru": "состав семьи", "kk": "отбасы құрамы"},
    "support": {"en": "support received", "ru": "полученная помощь", "kk": "алынған көмек"},
}

NOT_RECORDED: Final[Words] = {
    "en": "not recorded",
    "ru": "нет данных",
    "kk": "дерек жоқ",
}

YES_NO: Final[dict[str, tuple[str, str]]] = {
    "en": ("yes", "no"),
    "ru": ("да", "нет"),
    "kk": ("иә", "жоқ"),
}

# Unit after a number; days and years in Russian follow its plural rules (see _ru_plural).
UNIT: Final[dict[str, Words]] = {
    "KZT": {"en": "KZT", "ru": "тенге", "kk": "теңге"},
    "persons per room": {"en": "persons per room", "ru": "чел. на комнату", "kk": "адам/бөлме"},
    "count": {"en": "", "ru": "", "kk": ""},
    "yes/no": {"en": "", "ru": "", "kk": ""},
    "days": {"en": "days", "ru": "дней", "kk": "күн"},
    "years": {"en": "years", "ru": "лет", "kk": "жас"},
}
RU_PLURAL: Final[dict[str, tuple[str, str, str]]] = {
    "days": ("день", "дня", "дней"),
    "years": ("год", "года", "лет"),
}

# {points}: signed percentage points with one decimal.
CONTRIBUTION: Final[Words] = {
    "en": "{points} percentage points",
    "ru": "{points} п. п.",
    "kk": "{points} пайыздық пункт",
}

NOTICE: Final[Words] = {
    "en": "Advisory only: this score estimates the chance of a child protection case within "
    "the model's horizon from administrative records. It is not a finding about the family. "
    "A caseworker decides, and records the decision through /feedback.",
    "ru": "Только для сведения: оценка показывает вероятность дела о защите ребёнка в "
    "пределах срока прогноза модели по административным данным. Это не вывод о семье. "
    "Решение принимает специалист и записывает его через /feedback.",
    "kk": "Тек ақпарат үшін: бұл баға әкімшілік деректер бойынша модельдің болжам мерзімі "
    "ішінде баланы қорғау ісінің ашылу ықтималдығын көрсетеді. Бұл отбасы туралы қорытынды "
    "емес. Шешімді маман қабылдайды және оны /feedback арқылы тіркейді.",
}
