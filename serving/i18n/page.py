"""The review page's labels in English, Russian and Kazakh (:mod:`serving.review`).

Every key has the three languages (a :class:`~serving.i18n.words.Words`, so mypy checks it;
:func:`serving.i18n.translation_problems` checks that no placeholder ships and that every
language has the same ``{fields}``). A native reviewer should look first at ``decision_help``
and at the decisions themselves (:data:`serving.i18n.events.DECISION_NAME`): the words a
caseworker chooses between when recording a decision.
"""

from __future__ import annotations

from typing import Final

from serving.i18n.words import Language, Words, words

PAGE: Final[dict[str, Words]] = {
    "title": words("Family review", "Рассмотрение семьи", "Отбасын қарау"),
    "skip": words(
        "Skip to the main content", "Перейти к основному содержанию", "Негізгі мазмұнға өту"
    ),
    "language": words("Language", "Язык", "Тіл"),
    "signin_heading": words("Sign in", "Вход", "Кіру"),
    "token_label": words(
        "Access token (from your administrator)",
        "Ключ доступа (выдаёт администратор)",
        "Кіру кілті (әкімші береді)",
    ),
    "signin_button": words("Sign in", "Войти", "Кіру"),
    "signout_button": words("Sign out", "Выйти", "Шығу"),
    "signin_refused": words(
        "This token was refused: it is unknown, expired, revoked or not a caseworker's.",
        "Ключ не принят: он неизвестен, просрочен, отозван или не принадлежит специалисту.",
        (
            "Кілт қабылданбады: ол белгісіз, мерзімі өткен, кері қайтарылған немесе "
            "маманға тиесілі емес."
        ),
    ),
    "form_refused": words(
        (
            "This form was refused: its security token is missing or wrong. Reload the "
            "page and try again."
        ),
        (
            "Форма не принята: нет её защитного кода или он неверен. Обновите страницу "
            "и попробуйте снова."
        ),
        ("Форма қабылданбады: оның қорғау коды жоқ немесе қате. Бетті жаңартып, қайта көріңіз."),
    ),
    "find_heading": words("Find a family", "Найти семью", "Отбасын табу"),
    "family_id_label": words("Family number", "Номер семьи", "Отбасы нөмірі"),
    "find_button": words("Show", "Показать", "Көрсету"),
    "ineligible": words(
        "This family is outside the population the model scores, so it has no estimate:",
        "Семья не входит в группу, которую оценивает модель, поэтому оценки нет:",
        "Отбасы модель бағалайтын топқа кірмейді, сондықтан бағалау жоқ:",
    ),
    "not_found": words(
        "No family with this number in the current data (or not in your regions).",
        "Семьи с таким номером нет в текущих данных (или она не в ваших регионах).",
        "Мұндай нөмірлі отбасы ағымдағы деректерде жоқ (немесе сіздің өңірлеріңізде емес).",
    ),
    "score_heading": words("Risk estimate", "Оценка риска", "Тәуекел бағасы"),
    "probability": words(
        "Probability of a crisis within the horizon",
        "Вероятность кризиса в ближайший период",
        "Жақын кезеңде дағдарыс болу ықтималдығы",
    ),
    "level": words("Level", "Уровень", "Деңгей"),
    "band_meaning": words(
        "What this level means", "Что означает этот уровень", "Бұл деңгей нені білдіреді"
    ),
    "expired_meaning": words(
        "The data behind this estimate is older than the expiry age: it is not a current "
        "level. Score the family on current data.",
        "Данные этой оценки старше срока действия: это не текущий уровень. Оцените семью "
        "по текущим данным.",
        "Бұл бағаның деректері жарамдылық мерзімінен ескі: бұл ағымдағы деңгей емес. "
        "Отбасын ағымдағы деректер бойынша бағалаңыз.",
    ),
    "percentile": words(
        "Share of families with the same or a lower estimate",
        "Доля семей с такой же или более низкой оценкой",
        "Бағасы осындай немесе төмен отбасылардың үлесі",
    ),
    "snapshot": words("Data as of", "Данные на", "Деректер күні"),
    "reasons_heading": words(
        "Needs that raise the estimate",
        "Трудности, повышающие оценку",
        "Бағаны арттыратын қиындықтар",
    ),
    "lowering_heading": words(
        "Needs that lower the estimate",
        "Обстоятельства, снижающие оценку",
        "Бағаны төмендететін қиындықтар",
    ),
    "context_heading": words(
        "Family situation and support received (context, not reasons)",
        "Состав семьи и полученная помощь (для сведения, не причины)",
        "Отбасы құрамы және алынған көмек (мәлімет үшін, себеп емес)",
    ),
    "needs_heading": words(
        "Needs to act on",
        "Трудности семьи, требующие внимания",
        "Назар аударуды қажет ететін қиындықтар",
    ),
    "needs_help": words(
        "Every need that raised the estimate, by area; urgent ones (in the last 90 days) "
        "first. Beside each: the support that answers it.",
        "Все трудности, повысившие оценку, по сферам; срочные (за последние 90 дней) — "
        "первыми. Рядом с каждой — помощь, которая на неё отвечает.",
        "Бағаны арттырған барлық қиындықтар салалар бойынша; шұғылдары (соңғы 90 күнде) "
        "алдымен. Әрқайсысының жанында — оған сай көмек.",
    ),
    "acute": words("urgent", "срочно", "шұғыл"),
    "acute_help": words(
        "Urgent: a record of violence, losing the home, addiction or mental-health "
        "treatment or a child's injury in the last 90 days.",
        "Срочно: запись о насилии, потере жилья, лечении зависимости или психического "
        "расстройства либо травме ребёнка за последние 90 дней.",
        "Шұғыл: соңғы 90 күнде зорлық-зомбылық, баспанадан айырылу, тәуелділіктен немесе "
        "психикалық бұзылыстан емделу не баланың жарақаты туралы жазба.",
    ),
    "no_needs": words(
        "No need raised the estimate above the threshold.",
        "Ни одна трудность не повысила оценку выше порога.",
        "Ешбір қиындық бағаны шектен жоғары көтерген жоқ.",
    ),
    "support_heading": words(
        "Support to offer", "Какую помощь предложить", "Ұсынуға болатын көмек"
    ),
    "records_summary": words(
        "Records behind it: {count}",
        "Записи, на которых основано: {count}",
        "Негізгі жазбалар: {count}",
    ),
    "records_shown_above": words(
        "the same records as “{indicator}” above",
        "те же записи, что у «{indicator}» выше",
        "жоғарыдағы «{indicator}» жазбаларымен бірдей",
    ),
    "record_value": words("value: {value}", "значение: {value}", "мәні: {value}"),
    "record_child": words("child aged {age}", "ребёнок {age}", "{age} жастағы бала"),
    "record_entry": words(
        "{event_name}, {event_date} (recorded {recorded_date}; source: {source_name})",
        "{event_name}, {event_date} (внесено {recorded_date}; источник: {source_name})",
        "{event_name}, {event_date} (енгізілді {recorded_date}; дереккөз: {source_name})",
    ),
    "split_heading": words(
        "How the estimate is made up", "Из чего складывается оценка", "Баға неден құралады"
    ),
    "split_baseline": words("average family", "средняя семья", "орташа отбасы"),
    "split_needs": words("needs", "трудности", "қиындықтар"),
    "split_context": words(
        "family situation and support", "состав семьи и помощь", "отбасы құрамы және көмек"
    ),
    "split_total": words("estimate", "оценка", "баға"),
    "bands_heading": words("Levels", "Уровни", "Деңгейлер"),
    "bands_help": words(
        "A level is a range of the estimate: “high” is as many families as caseworkers can "
        "reach, “elevated” a clear multiple of the average family.",
        "Уровень — это диапазон оценки: «высокий» — столько семей, сколько специалисты могут "
        "охватить, «повышенный» — заметно выше средней семьи.",
        "Деңгей — бағаның аралығы: «жоғары» — мамандар қамти алатын отбасылар саны, "
        "«жоғарылаған» — орташа отбасынан айтарлықтай жоғары.",
    ),
    "eligible_help": words(
        "The model estimates only eligible families: those with at least one child under 18 "
        "on the data date.",
        "Модель оценивает только семьи, подходящие под условия: с хотя бы одним ребёнком "
        "младше 18 лет на дату данных.",
        "Модель тек талапқа сай отбасыларды бағалайды: деректер күнінде 18 жасқа толмаған "
        "кемінде бір баласы барларды.",
    ),
    "all_indicators": words(
        "All indicators the estimate used ({count})",
        "Все показатели, использованные в оценке ({count})",
        "Бағада қолданылған барлық көрсеткіштер ({count})",
    ),
    "points_unit": words("percentage points", "п. п.", "пайыздық пункт"),
    "none": words("None.", "Нет.", "Жоқ."),
    "col_indicator": words("Indicator", "Показатель", "Көрсеткіш"),
    "col_value": words("Value", "Значение", "Мәні"),
    "col_effect": words("Effect on the estimate", "Влияние на оценку", "Бағаға әсері"),
    "col_kind": words("Kind", "Вид", "Түрі"),
    "col_domain": words("Area", "Сфера", "Сала"),
    "col_records": words("Records", "Записи", "Жазбалар"),
    "indicators_heading": words(
        "Indicators and the records behind them",
        "Показатели и записи, на которых они основаны",
        "Көрсеткіштер және олардың негізіндегі жазбалар",
    ),
    "records_unavailable": words(
        "The records are not available on this server.",
        "Записи на этом сервере недоступны.",
        "Бұл серверде жазбалар қолжетімсіз.",
    ),
    "record_line": words(
        "{event_name} on {event_date} (recorded {recorded_date}, source: {source_name})",
        "{event_name}, {event_date} (внесено {recorded_date}, источник: {source_name})",
        "{event_name}, {event_date} (енгізілді {recorded_date}, дереккөз: {source_name})",
    ),
    "history_heading": words(
        "Earlier estimates and decisions",
        "Прежние оценки и решения",
        "Бұрынғы бағалар мен шешімдер",
    ),
    "col_when": words("When", "Когда", "Қашан"),
    "col_decisions": words("Decisions", "Решения", "Шешімдер"),
    "current": words("current", "действует", "күшінде"),
    "superseded": words("replaced", "заменено", "ауыстырылды"),
    "decision_heading": words(
        "Record your decision", "Записать ваше решение", "Шешіміңізді тіркеу"
    ),
    "decision_help": words(
        (
            "The estimate is advisory: you decide. Your decision is recorded with this "
            "estimate and your token id."
        ),
        (
            "Оценка носит рекомендательный характер: решение принимаете вы. Решение "
            "записывается вместе с этой оценкой и номером вашего ключа."
        ),
        (
            "Баға тек ұсыныс ретінде беріледі: шешімді сіз қабылдайсыз. Шешім осы бағамен "
            "және кілтіңіздің нөмірімен бірге жазылады."
        ),
    ),
    "decision_label": words("Decision", "Решение", "Шешім"),
    "reason_label": words(
        "Reason (one line, no names or personal details)",
        "Причина (одной строкой, без имён и личных данных)",
        "Себебі (бір жолға, аты-жөнсіз және жеке деректерсіз)",
    ),
    "record_button": words("Record decision", "Записать решение", "Шешімді тіркеу"),
    "recorded": words(
        "Your decision was recorded.", "Ваше решение записано.", "Шешіміңіз тіркелді."
    ),
    "reason_required": words(
        "Give a reason in one line.",
        "Укажите причину одной строкой.",
        "Себебін бір жолмен жазыңыз.",
    ),
    "unavailable": words(
        (
            "The audit log cannot be written, so nothing can be shown now. Try again later "
            "or tell the operator."
        ),
        (
            "Журнал аудита недоступен для записи, поэтому сейчас ничего не показывается. "
            "Попробуйте позже или сообщите администратору."
        ),
        (
            "Аудит журналына жазу мүмкін емес, сондықтан қазір ештеңе көрсетілмейді. "
            "Кейінірек қайталаңыз немесе әкімшіге хабарлаңыз."
        ),
    ),
    "supersedes": words(
        "It supersedes the decision “{decision}” recorded by {token_id} at {recorded_at}.",
        "Оно заменяет решение «{decision}», записанное {token_id} в {recorded_at}.",
        "Ол {token_id} {recorded_at} жазған «{decision}» шешімін ауыстырады.",
    ),
    "session_ended": words(
        "Your session has ended (signed out, unused too long, or its token revoked). Sign "
        "in again.",
        "Сеанс завершён (выход, долгое бездействие или отзыв ключа). Войдите снова.",
        "Сеанс аяқталды (шығу, ұзақ әрекетсіздік немесе кілт қайтарылды). Қайта кіріңіз.",
    ),
    "throttled": words(
        "Too many failed sign-ins from this address; wait a few minutes.",
        "Слишком много неудачных входов с этого адреса; подождите несколько минут.",
        "Осы мекенжайдан сәтсіз кірулер тым көп; бірнеше минут күтіңіз.",
    ),
    "decided_by": words(
        "by {token_id} at {recorded_at}",
        "записал {token_id}, {recorded_at}",
        "жазған {token_id}, {recorded_at}",
    ),
    "too_many": words(
        "Too many families viewed in the last minute; wait a moment.",
        "Слишком много семей просмотрено за минуту; подождите немного.",
        "Соңғы минутта тым көп отбасы қаралды; сәл күтіңіз.",
    ),
}


def page_text(key: str, lang: Language) -> str:
    """A page label in lang."""
    return PAGE[key][lang]
