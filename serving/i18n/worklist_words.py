"""The worklist's words in English, Russian and Kazakh: the statuses of a case and the
labels of the worklist page and of a case on the family page (:mod:`serving.review`).

Checked like every table (:func:`serving.i18n.translation_problems`): each entry has the
three languages and the same ``{fields}`` in each.
"""

from __future__ import annotations

from typing import Final

from serving.i18n.words import Language, Words, words

#: A case's status (:data:`serving.worklist.STATUSES`) in words.
STATUS_NAME: Final[dict[str, Words]] = {
    "new": words("New", "Новая", "Жаңа"),
    "viewed": words("Viewed", "Просмотрена", "Қаралды"),
    "decided": words("Decided", "Решение принято", "Шешім қабылданды"),
    "follow_up_due": words(
        "Follow-up due", "Пора повторного контакта", "Қайта байланысу мерзімі келді"
    ),
    "contested": words("Contested by the family", "Оспаривается семьёй", "Отбасы дау айтуда"),
}

WORKLIST: Final[dict[str, Words]] = {
    "worklist_heading": words("Your worklist", "Ваш список семей", "Сіздің отбасылар тізіміңіз"),
    "worklist_help": words(
        "Families at the “high” level in your regions on {day}, highest estimate first. "
        "Open a family to read its needs and record a decision.",
        "Семьи с «высоким» уровнем в ваших регионах на {day}, сначала с самой высокой "
        "оценкой. Откройте семью, чтобы увидеть её трудности и записать решение.",
        "{day} күнгі сіздің өңірлеріңіздегі «жоғары» деңгейдегі отбасылар, ең жоғары "
        "бағасы барлары алдымен. Қиындықтарын көру және шешім тіркеу үшін отбасын ашыңыз.",
    ),
    "counts_heading": words(
        "Families by status", "Семьи по статусу", "Мәртебесі бойынша отбасылар"
    ),
    "all": words("All", "Все", "Барлығы"),
    "filter_region": words("Region", "Регион", "Өңір"),
    "filter_level": words("Level", "Уровень", "Деңгей"),
    "filter_status": words("Status", "Статус", "Мәртебесі"),
    "filter_button": words("Apply", "Применить", "Қолдану"),
    "col_family": words("Family", "Семья", "Отбасы"),
    "col_status": words("Status", "Статус", "Мәртебесі"),
    "col_decision": words("Decision in force", "Действующее решение", "Күшіндегі шешім"),
    "col_decided": words("Decided on", "Дата решения", "Шешім күні"),
    "col_follow_up": words("Follow-up", "Повторный контакт", "Қайта байланысу"),
    "col_days": words(
        "Days since first flagged",
        "Дней с первого попадания в список",
        "Тізімге алғаш енгеннен бері күн",
    ),
    "no_families": words(
        "No family matches these filters.",
        "Нет семей, подходящих под эти условия.",
        "Бұл шарттарға сай отбасы жоқ.",
    ),
    "page_of": words(
        "Page {page} of {pages}", "Страница {page} из {pages}", "{pages} беттің {page}-беті"
    ),
    "previous": words("Previous page", "Предыдущая страница", "Алдыңғы бет"),
    "next": words("Next page", "Следующая страница", "Келесі бет"),
    "back_to_worklist": words("Back to the worklist", "Назад к списку", "Тізімге оралу"),
    "times_in": words("Times are shown as {zone}.", "Время указано: {zone}.", "Уақыт: {zone}."),
    "case_heading": words("This case", "Это дело", "Осы іс"),
    "case_status": words("Status", "Статус", "Мәртебесі"),
    "case_first_flagged": words("First flagged", "Впервые в списке", "Тізімге алғаш енген күні"),
    "case_in_force": words("Decision in force", "Действующее решение", "Күшіндегі шешім"),
    "case_none": words("No decision yet.", "Решения ещё нет.", "Әзірге шешім жоқ."),
    "follow_up_label": words(
        "Follow-up date (optional; today or later)",
        "Дата повторного контакта (необязательно; сегодня или позже)",
        "Қайта байланысу күні (міндетті емес; бүгін немесе кейін)",
    ),
    "follow_up_past": words(
        "The follow-up date cannot be in the past; choose today ({today}) or a later date.",
        "Дата повторного контакта не может быть в прошлом; выберите сегодня ({today}) или "
        "более позднюю дату.",
        "Қайта байланысу күні өткен күн бола алмайды; бүгінді ({today}) немесе кейінгі "
        "күнді таңдаңыз.",
    ),
    "decision_stale": words(
        "Another decision was recorded on this family while you were reading; it is shown "
        "below. Read it, then decide again.",
        "Пока вы читали, по этой семье было записано другое решение; оно показано ниже. "
        "Прочитайте его и примите решение снова.",
        "Сіз оқып отырғанда бұл отбасы бойынша басқа шешім тіркелді; ол төменде көрсетілген. "
        "Оны оқып, қайта шешім қабылдаңыз.",
    ),
    "already_recorded": words(
        "This form was already sent; your decision is recorded once.",
        "Эта форма уже отправлена; решение записано один раз.",
        "Бұл форма бұрын жіберілген; шешіміңіз бір рет тіркелді.",
    ),
    "bad_filter": words(
        "This filter or page does not exist: {detail}",
        "Такого фильтра или страницы нет: {detail}",
        "Мұндай сүзгі немесе бет жоқ: {detail}",
    ),
}


def worklist_text(key: str, lang: Language) -> str:
    """A worklist label in lang."""
    return WORKLIST[key][lang]


def status_name(status: str, lang: Language) -> str:
    """A case's status in lang (the code itself when unknown)."""
    entry = STATUS_NAME.get(status)
    return entry[lang] if entry is not None else status
