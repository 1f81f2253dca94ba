"""The review page's labels in English, Russian and Kazakh (:mod:`serving.review`).

Every key has the three languages (a :class:`~serving.i18n.words.Words`, so mypy checks it;
:func:`serving.i18n.translation_problems` checks that no placeholder ships and that every
language has the same ``{fields}``). A native reviewer should look first at ``decision_help``
and at the decisions themselves (:data:`serving.i18n.events.DECISION_NAME`): the words a
caseworker chooses between when recording a decision.
"""

from __future__ import annotations

from typing import Final

from serving.i18n.words import Language, Words

PAGE: Final[dict[str, Words]] = {
    "title": {
        "en": "Family review",
        "ru": "Рассмотрение семьи",
        "kk": "Отбасын қарау",
    },
    "skip": {
        "en": "Skip to the main content",
        "ru": "Перейти к основному содержанию",
        "kk": "Негізгі мазмұнға өту",
    },
    "language": {"en": "Language", "ru": "Язык", "kk": "Тіл"},
    "signin_heading": {"en": "Sign in", "ru": "Вход", "kk": "Кіру"},
    "token_label": {
        "en": "Access token (from your administrator)",
        "ru": "Ключ доступа (выдаёт администратор)",
        "kk": "Кіру кілті (әкімші береді)",
    },
    "signin_button": {"en": "Sign in", "ru": "Войти", "kk": "Кіру"},
    "signout_button": {"en": "Sign out", "ru": "Выйти", "kk": "Шығу"},
    "signin_refused": {
        "en": "This token was refused: it is unknown, expired, revoked or not a caseworker's.",
        "ru": "Ключ не принят: он неизвестен, просрочен, отозван или не принадлежит специалисту.",
        "kk": "Кілт қабылданбады: ол белгісіз, мерзімі өткен, кері қайтарылған немесе "
        "маманға тиесілі емес.",
    },
    "form_refused": {
        "en": "This form was refused: its security token is missing or wrong. Reload the "
        "page and try again.",
        "ru": "Форма не принята: нет её защитного кода или он неверен. Обновите страницу "
        "и попробуйте снова.",
        "kk": "Форма қабылданбады: оның қорғау коды жоқ немесе қате. Бетті жаңартып, "
        "қайта көріңіз.",
    },
    "find_heading": {"en": "Find a family", "ru": "Найти семью", "kk": "Отбасын табу"},
    "family_id_label": {
        "en": "Family number",
        "ru": "Номер семьи",
        "kk": "Отбасы нөмірі",
    },
    "find_button": {"en": "Show", "ru": "Показать", "kk": "Көрсету"},
    "ineligible": {
        "en": "This family is outside the population the model scores, so it has no estimate:",
        "ru": "Семья не входит в группу, которую оценивает модель, поэтому оценки нет:",
        "kk": "Отбасы модель бағалайтын топқа кірмейді, сондықтан бағалау жоқ:",
    },
    "not_found": {
        "en": "No family with this number in the current data (or not in your regions).",
        "ru": "Семьи с таким номером нет в текущих данных (или она не в ваших регионах).",
        "kk": "Мұндай нөмірлі отбасы ағымдағы деректерде жоқ (немесе сіздің өңірлеріңізде емес).",
    },
    "score_heading": {"en": "Risk estimate", "ru": "Оценка риска", "kk": "Тәуекел бағасы"},
    "probability": {
        "en": "Probability of a crisis within the horizon",
        "ru": "Вероятность кризиса в ближайший период",
        "kk": "Жақын кезеңде дағдарыс болу ықтималдығы",
    },
    "level": {"en": "Level", "ru": "Уровень", "kk": "Деңгей"},
    "band_meaning": {
        "en": "What this level means",
        "ru": "Что означает этот уровень",
        "kk": "Бұл деңгей нені білдіреді",
    },
    "percentile": {
        "en": "Share of families with the same or a lower estimate",
        "ru": "Доля семей с такой же или более низкой оценкой",
        "kk": "Бағасы осындай немесе төмен отбасылардың үлесі",
    },
    "snapshot": {"en": "Data as of", "ru": "Данные на", "kk": "Деректер күні"},
    "reasons_heading": {
        "en": "Needs that raise the estimate",
        "ru": "Трудности, повышающие оценку",
        "kk": "Бағаны арттыратын қиындықтар",
    },
    "lowering_heading": {
        "en": "Needs that lower the estimate",
        "ru": "Трудности, снижающие оценку",
        "kk": "Бағаны төмендететін қиындықтар",
    },
    "context_heading": {
        "en": "Family situation and support received (context, not reasons)",
        "ru": "Состав семьи и полученная помощь (для сведения, не причины)",
        "kk": "Отбасы құрамы және алынған көмек (мәлімет үшін, себеп емес)",
    },
    "none": {"en": "None.", "ru": "Нет.", "kk": "Жоқ."},
    "col_indicator": {"en": "Indicator", "ru": "Показатель", "kk": "Көрсеткіш"},
    "col_value": {"en": "Value", "ru": "Значение", "kk": "Мәні"},
    "col_effect": {
        "en": "Effect on the estimate",
        "ru": "Влияние на оценку",
        "kk": "Бағаға әсері",
    },
    "col_kind": {"en": "Kind", "ru": "Вид", "kk": "Түрі"},
    "col_domain": {"en": "Area", "ru": "Сфера", "kk": "Сала"},
    "col_records": {"en": "Records", "ru": "Записи", "kk": "Жазбалар"},
    "indicators_heading": {
        "en": "Indicators and the records behind them",
        "ru": "Показатели и записи, на которых они основаны",
        "kk": "Көрсеткіштер және олардың негізіндегі жазбалар",
    },
    "records_unavailable": {
        "en": "The records are not available on this server.",
        "ru": "Записи на этом сервере недоступны.",
        "kk": "Бұл серверде жазбалар қолжетімсіз.",
    },
    "record_line": {
        "en": "{event_name} on {event_date} (recorded {recorded_date}, source: {source_name})",
        "ru": "{event_name}, {event_date} (внесено {recorded_date}, источник: {source_name})",
        "kk": "{event_name}, {event_date} (енгізілді {recorded_date}, дереккөз: {source_name})",
    },
    "history_heading": {
        "en": "Earlier estimates and decisions",
        "ru": "Прежние оценки и решения",
        "kk": "Бұрынғы бағалар мен шешімдер",
    },
    "col_when": {"en": "When", "ru": "Когда", "kk": "Қашан"},
    "col_decisions": {"en": "Decisions", "ru": "Решения", "kk": "Шешімдер"},
    "current": {"en": "current", "ru": "действует", "kk": "күшінде"},
    "superseded": {"en": "replaced", "ru": "заменено", "kk": "ауыстырылды"},
    "decision_heading": {
        "en": "Record your decision",
        "ru": "Записать ваше решение",
        "kk": "Шешіміңізді жазу",
    },
    "decision_help": {
        "en": "The estimate is advisory: you decide. Your decision is recorded with this "
        "estimate and your token id.",
        "ru": "Оценка носит рекомендательный характер: решение принимаете вы. Решение "
        "записывается вместе с этой оценкой и номером вашего ключа.",
        "kk": "Баға тек ұсыныс ретінде беріледі: шешімді сіз қабылдайсыз. Шешім осы бағамен "
        "және кілтіңіздің нөмірімен бірге жазылады.",
    },
    "decision_label": {"en": "Decision", "ru": "Решение", "kk": "Шешім"},
    "reason_label": {
        "en": "Reason (one line, no names or personal details)",
        "ru": "Причина (одной строкой, без имён и личных данных)",
        "kk": "Себебі (бір жолмен, есімдерсіз және жеке деректерсіз)",
    },
    "record_button": {"en": "Record decision", "ru": "Записать решение", "kk": "Шешімді жазу"},
    "recorded": {
        "en": "Your decision was recorded.",
        "ru": "Ваше решение записано.",
        "kk": "Шешіміңіз жазылды.",
    },
    "reason_required": {
        "en": "Give a reason in one line.",
        "ru": "Укажите причину одной строкой.",
        "kk": "Себебін бір жолмен жазыңыз.",
    },
    "unavailable": {
        "en": "The audit log cannot be written, so nothing can be shown now. Try again later "
        "or tell the operator.",
        "ru": "Журнал аудита недоступен для записи, поэтому сейчас ничего не показывается. "
        "Попробуйте позже или сообщите администратору.",
        "kk": "Аудит журналына жазу мүмкін емес, сондықтан қазір ештеңе көрсетілмейді. "
        "Кейінірек қайталаңыз немесе әкімшіге хабарлаңыз.",
    },
    "too_many": {
        "en": "Too many families viewed in the last minute; wait a moment.",
        "ru": "Слишком много семей просмотрено за минуту; подождите немного.",
        "kk": "Соңғы минутта тым көп отбасы қаралды; сәл күтіңіз.",
    },
}


def page_text(key: str, lang: Language) -> str:
    """A page label in lang."""
    return PAGE[key][lang]
