"""The words of the shadow report and of the monitoring report's deployment section in
English, Russian and Kazakh (:mod:`serving.monitor.shadow_report_html`,
:mod:`serving.monitor.deployment_html`).

Why here and not in the page modules: every text a person reads lives in the i18n tables,
is a :class:`~serving.i18n.words.Words` (mypy catches a missing language) and is checked by
:func:`serving.i18n.translation_problems` (no placeholder, the same ``{fields}`` in each
language), exactly as the review page's words are. Auditors and regional supervisors read
these reports as caseworkers read the review page, in their own language.

Technical names with no settled translation stay in Latin letters in every language:
"ROC AUC" and "UTC" (:data:`REPORT_LATIN`, the words a report page may show in Latin on a
Russian or Kazakh page). Statisticians' names are written in Cyrillic (Спирмен, Кендалл,
Коэн, Уилсон, Фишер).
"""

from __future__ import annotations

from html import escape
from typing import Final

from serving.i18n.words import Language, Words, words

#: Latin words a Russian or Kazakh report may show: names of measures without a settled
#: translation (checked by :func:`serving.i18n.page_check.page_problems`'s ``allowed``).
REPORT_LATIN: Final = frozenset({"ROC", "AUC", "UTC"})

#: Each language's own name, as its readers write it (the page's language switch).
LANGUAGE_NAME: Final[dict[Language, str]] = {"en": "English", "ru": "Русский", "kk": "Қазақша"}

REPORT: Final[dict[str, Words]] = {
    # ---- the deployment section of the monitoring report
    "dep_heading": words(
        "Who was served: deployment, hold-out and decisions",
        "Кому помогли: внедрение, контрольная группа и решения",
        "Кімге көмек көрсетілді: енгізу, бақылау тобы және шешімдер",
    ),
    "dep_no_log": words(
        "No audit log at {path}: who was served is unknown.",
        "Журнал аудита не найден ({path}): неизвестно, кому помогли.",
        "Аудит журналы табылмады ({path}): кімге көмек көрсетілгені белгісіз.",
    ),
    "dep_no_rollout": words(
        "No rollout was sealed in the audit log.",
        "В журнале аудита нет зафиксированного плана внедрения.",
        "Аудит журналында бекітілген енгізу жоспары жоқ.",
    ),
    "dep_intro": words(
        "{families} eligible families; {scored} scored in the window; {served} offered "
        "support (served). Support changes the outcome it is measured on, so performance is "
        "estimated on the families not served and on the display hold-out (whose caseworkers "
        "did not see the level).",
        "Семей в оцениваемой группе: {families}; получили оценку за период: {scored}; "
        "предложена поддержка: {served}. Поддержка меняет исход, по которому измеряется качество, "
        "поэтому качество оценивается на семьях без поддержки и на контрольной группе "
        "(её специалисты не видели уровня риска).",
        "Бағаланатын топта {families} отбасы; кезеңде {scored} отбасы бағаланды; {served} "
        "отбасына қолдау ұсынылды. Қолдау сапа өлшенетін нәтижені өзгертеді, сондықтан сапа "
        "қолдау алмаған отбасыларда және бақылау тобында (оның мамандары тәуекел деңгейін "
        "көрмеген) бағаланады.",
    ),
    "dep_col_families": words("families", "семьи", "отбасылар"),
    "dep_col_n": words("number", "число", "саны"),
    "dep_col_metric": words("measure", "показатель", "көрсеткіш"),
    "dep_col_estimate": words(
        "estimate without outcomes", "оценка без исходов", "нәтижесіз бағалау"
    ),
    "dep_col_realized": words("realized", "фактически", "нақты"),
    "dep_not_served": words("not served", "без поддержки", "қолдау алмаған"),
    "dep_holdout": words("hold-out", "контрольная группа", "бақылау тобы"),
    "dep_too_few": words("too few families", "слишком мало семей", "отбасылар тым аз"),
    "dep_labels_not_in": words("outcomes not in yet", "исходов ещё нет", "нәтижелер әлі жоқ"),
    "metric_precision_at_capacity": words(
        "precision at capacity", "точность в пределах квоты", "квота шегіндегі дәлдік"
    ),
    "metric_recall_at_capacity": words(
        "recall at capacity", "полнота в пределах квоты", "квота шегіндегі толықтық"
    ),
    "metric_positive_rate": words("outcome rate", "доля исходов", "нәтижелер үлесі"),
    "dep_decisions_heading": words("Decision audit", "Аудит решений", "Шешімдер аудиті"),
    "dep_decisions_help": words(
        "How caseworkers' decisions relate to the level they saw (the shown arm), and what "
        "they chose without it (the hold-out). An override is a decision against the level: "
        "support for a family below the high band (higher), none for one in it (lower). "
        "Shares with {level} intervals.",
        "Как решения специалистов соотносятся с уровнем, который они видели (группа с "
        "показом), и что они выбирали без него (контрольная группа). Отступление — решение "
        "вопреки уровню: поддержка семьи ниже высокого уровня (вверх) или отказ семье с "
        "высоким уровнем (вниз). Доли с интервалами {level}.",
        "Мамандардың шешімдері олар көрген деңгейге (көрсетілген топ) қалай сәйкес келеді "
        "және онсыз не таңдады (бақылау тобы). Ауытқу — деңгейге қарсы шешім: жоғары "
        "деңгейден төмен отбасына қолдау (жоғары қарай) немесе жоғары деңгейдегі отбасына "
        "бас тарту (төмен қарай). Үлестер {level} аралықтарымен.",
    ),
    "col_measure": words("measure", "показатель", "көрсеткіш"),
    "col_share": words(
        "share ({level} interval)", "доля (интервал {level})", "үлес ({level} аралық)"
    ),
    "col_value": words(
        "value ({level} interval)", "значение (интервал {level})", "мәні ({level} аралық)"
    ),
    "dep_decisions_recorded": words("decisions recorded", "записано решений", "тіркелген шешімдер"),
    "dep_decisions_value": words(
        "{n}, of which {holdout} in the hold-out",
        "{n}, из них {holdout} в контрольной группе",
        "{n}, оның ішінде бақылау тобында {holdout}",
    ),
    "dep_agree": words(
        "agree with the level (shown arm)",
        "согласны с уровнем (группа с показом)",
        "деңгеймен келіседі (көрсетілген топ)",
    ),
    "dep_override": words("override the level", "отступают от уровня", "деңгейден ауытқиды"),
    "dep_override_higher": words(
        "… to support a family the level did not flag",
        "… чтобы поддержать семью, которую уровень не отметил",
        "… деңгей белгілемеген отбасына қолдау көрсету үшін",
    ),
    "dep_override_lower": words(
        "… to decline a family the level flagged",
        "… чтобы отказать семье, которую уровень отметил",
        "… деңгей белгілеген отбасынан бас тарту үшін",
    ),
    "dep_selected_shown": words(
        "families selected, level shown",
        "отобрано семей, уровень показан",
        "таңдалған отбасылар, деңгей көрсетілген",
    ),
    "dep_selected_holdout": words(
        "families selected, caseworker alone (hold-out)",
        "отобрано семей, только специалист (контрольная группа)",
        "таңдалған отбасылар, тек маман (бақылау тобы)",
    ),
    "dep_ratio_algorithm": words(
        "lowest / highest group support rate, algorithm alone (1 = equal)",
        "наименьшая / наибольшая доля поддержки по группам, только алгоритм (1 = поровну)",
        "топтар бойынша қолдаудың ең аз / ең көп үлесі, тек алгоритм (1 = тең)",
    ),
    "dep_ratio_caseworker": words(
        "lowest / highest group support rate, algorithm + caseworker",
        "наименьшая / наибольшая доля поддержки по группам, алгоритм + специалист",
        "топтар бойынша қолдаудың ең аз / ең көп үлесі, алгоритм + маман",
    ),
    "dep_groups_heading": words(
        "Selection and support by group",
        "Отбор и поддержка по группам",
        "Топтар бойынша іріктеу және қолдау",
    ),
    "dep_groups_help": words(
        "Selection: the share of the group's families the algorithm alone would flag at "
        "capacity, against those the caseworkers chose with it. Support: the share offered "
        "support. A gap that differs between groups is where caseworkers widen or narrow the "
        "algorithm's disparity.",
        "Отбор: доля семей группы, которую отметил бы один алгоритм в пределах квоты, против "
        "тех, кого выбрали специалисты вместе с ним. Поддержка: доля семей, которым её "
        "предложили. Где разрыв различается между группами, там специалисты увеличивают или "
        "сокращают неравенство алгоритма.",
        "Іріктеу: квота шегінде алгоритм жалғыз белгілейтін топ отбасыларының үлесі, "
        "мамандар онымен бірге таңдағандарға қарсы. Қолдау: қолдау ұсынылған отбасылар "
        "үлесі. Айырма топтар арасында әртүрлі болса, мамандар алгоритмнің теңсіздігін "
        "үлкейтеді немесе азайтады.",
    ),
    "col_attribute": words("attribute", "признак", "белгі"),
    "col_group": words("group", "группа", "топ"),
    "col_decisions": words("decisions", "решения", "шешімдер"),
    "col_sel_algorithm": words("selection: algorithm", "отбор: алгоритм", "іріктеу: алгоритм"),
    "col_sel_caseworker": words(
        "selection: + caseworker", "отбор: + специалист", "іріктеу: + маман"
    ),
    "col_sup_algorithm": words("support: algorithm", "поддержка: алгоритм", "қолдау: алгоритм"),
    "col_sup_caseworker": words(
        "support: + caseworker", "поддержка: + специалист", "қолдау: + маман"
    ),
    "dep_suppressed": words(
        "suppressed (too few families)", "скрыто (слишком мало семей)", "жасырылды (отбасы тым аз)"
    ),
    "dep_design_heading": words(
        "The hold-out design", "Схема контрольной группы", "Бақылау тобының сұлбасы"
    ),
    "dep_cycle": words(
        "Cycle {cycle}, sealed configuration {sha}.",
        "Цикл {cycle}, зафиксированная конфигурация {sha}.",
        "{cycle} циклі, бекітілген конфигурация {sha}.",
    ),
    "dep_balance_label": words("Balance of the arms:", "Баланс групп:", "Топтардың теңгерімі:"),
    "dep_balance": words(
        "{holdout} hold-out and {shown} shown families; the alarm fires when a covariate's "
        "standardized difference exceeds {threshold} (the draw was not random, or was "
        "steered).",
        "семей в контрольной группе: {holdout}, в группе с показом: {shown}; тревога "
        "срабатывает, когда стандартизованная разность признака больше {threshold} (выбор "
        "был не случайным или им управляли).",
        "Бақылау тобында {holdout} отбасы және көрсетілген топта {shown} отбасы; белгінің "
        "стандартталған айырмасы {threshold} мәнінен асса, дабыл қағылады (таңдау кездейсоқ "
        "болмаған немесе оған әсер еткен).",
    ),
    "dep_power_label": words("Power:", "Мощность:", "Қуаты:"),
    "dep_power": words(
        "{power} to detect a {reduction} fall of the outcome rate from {baseline} "
        "(α = {alpha}); the target {target} needs {needed} families per arm.",
        "{power} для обнаружения снижения доли исходов на {reduction} от {baseline} "
        "(α = {alpha}); для цели {target} нужно семей в каждой группе: {needed}.",
        "Нәтижелер үлесінің {baseline} деңгейінен {reduction} төмендеуін анықтауға {power} "
        "(α = {alpha}); {target} мақсатына әр топта {needed} отбасы қажет.",
    ),
    "col_covariate": words(
        "input (the 10 largest differences)",
        "признак (10 наибольших разностей)",
        "белгі (ең үлкен 10 айырма)",
    ),
    "col_std_diff": words(
        "standardized difference", "стандартизованная разность", "стандартталған айырма"
    ),
    "col_imbalanced": words("imbalanced", "дисбаланс", "теңгерімсіз"),
    "status_pass": words("passed", "пройдена", "өтті"),
    "status_fail": words("failed", "не пройдена", "өтпеді"),
    "status_insufficient_evidence": words(
        "insufficient evidence", "недостаточно данных", "дерек жеткіліксіз"
    ),
    "status_not_evaluable": words("not evaluable", "не оценить", "бағалау мүмкін емес"),
    # ---- the shadow report
    "sh_title": words(
        "Shadow report: the shadow beside the champion on the same traffic",
        "Теневой отчёт: теневая модель рядом с действующей на тех же запросах",
        "Көлеңкелі есеп: көлеңкелі модель сол сұраныстарда қолданыстағы модельдің жанында",
    ),
    "sh_intro": words(
        "Each family counts once per snapshot date (its latest pair of scores). Intervals are "
        "{level} (Wilson for shares, Fisher's z for Spearman's correlation). The shadow's "
        "scores were never shown to anyone; this page compares, it does not judge: the "
        "shadow's own gates run at {command}.",
        "Каждая семья учитывается один раз на дату среза (её последняя пара оценок). "
        "Интервалы {level} (Уилсона для долей, z-преобразование Фишера для корреляции "
        "Спирмена). Оценки теневой модели никому не показывались; эта страница сравнивает, "
        "но не выносит решения: собственные проверки теневой модели выполняет {command}.",
        "Әр отбасы кесінді күніне бір рет есептеледі (оның соңғы бағалар жұбы). Аралықтар "
        "{level} (үлестер үшін Уилсон, Спирмен корреляциясы үшін Фишердің z-түрлендіруі). "
        "Көлеңкелі модельдің бағалары ешкімге көрсетілмеген; бұл бет салыстырады, шешім "
        "шығармайды: көлеңкелі модельдің өз тексерулерін {command} орындайды.",
    ),
    "sh_no_groups": words(
        "No snapshot given: no comparison by audit group.",
        "Срез не указан: сравнения по группам аудита нет.",
        "Кесінді берілмеген: аудит топтары бойынша салыстыру жоқ.",
    ),
    "sh_pair": words(
        "Champion version {champion} against shadow version {shadow}",
        "Действующая версия {champion} против теневой версии {shadow}",
        "Қолданыстағы {champion} нұсқасы көлеңкелі {shadow} нұсқасымен салыстырғанда",
    ),
    "sh_traffic": words(
        "Traffic recorded from {first} to {last} (UTC).",
        "Запросы записаны с {first} по {last} (UTC).",
        "Сұраныстар {first} бастап {last} дейін жазылған (UTC).",
    ),
    "sh_order_too_few": words(
        "has too few families to compare the order",
        "имеет слишком мало семей, чтобы сравнить порядок",
        "ретті салыстыру үшін отбасылары тым аз",
    ),
    "sh_order_almost": words(
        "orders the families almost as the champion does (Spearman {rank})",
        "упорядочивает семьи почти так же, как действующая (Спирмен {rank})",
        "отбасыларды қолданыстағы модельге дерлік ұқсас ретке қояды (Спирмен {rank})",
    ),
    "sh_order_same": words(
        "orders the families as the champion does (Spearman {rank})",
        "упорядочивает семьи так же, как действующая (Спирмен {rank})",
        "отбасыларды қолданыстағы модель сияқты ретке қояды (Спирмен {rank})",
    ),
    "sh_order_different": words(
        "orders the families differently from the champion (Spearman {rank})",
        "упорядочивает семьи иначе, чем действующая (Спирмен {rank})",
        "отбасыларды қолданыстағы модельден басқаша ретке қояды (Спирмен {rank})",
    ),
    "sh_lead": words(
        "Families compared: {n}. The shadow {order}; {agree} would see the same level. "
        "If it were served, {enter} would enter the high band and {leave} would leave it.",
        "Сравнено семей: {n}. Теневая модель {order}; {agree} увидели бы тот же уровень. "
        "Если бы её применили, {enter} вошли бы в высокий уровень и {leave} вышли бы из него.",
        "Салыстырылған отбасылар: {n}. Көлеңкелі модель {order}; {agree} сол деңгейді көрер "
        "еді. Егер ол қолданылса, {enter} жоғары деңгейге кірер еді және {leave} одан шығар "
        "еді.",
    ),
    "sh_compared": words("families compared", "сравнено семей", "салыстырылған отбасылар"),
    "sh_spearman": words(
        "rank correlation (Spearman, interval)",
        "ранговая корреляция (Спирмен, интервал)",
        "рангтік корреляция (Спирмен, аралық)",
    ),
    "sh_kendall": words("Kendall's tau", "тау Кендалла", "Кендалл таусы"),
    "sh_agreement": words(
        "same level (band agreement)",
        "тот же уровень (совпадение уровней)",
        "сол деңгей (деңгейлердің сәйкестігі)",
    ),
    "sh_kappa": words(
        "Cohen's kappa of the levels", "каппа Коэна по уровням", "деңгейлер бойынша Коэн каппасы"
    ),
    "sh_high_champion": words(
        "in the high band: champion",
        "в высоком уровне: действующая",
        "жоғары деңгейде: қолданыстағы",
    ),
    "sh_high_shadow": words(
        "in the high band: shadow", "в высоком уровне: теневая", "жоғары деңгейде: көлеңкелі"
    ),
    "sh_enter": words(
        "would enter the high band", "вошли бы в высокий уровень", "жоғары деңгейге кірер еді"
    ),
    "sh_leave": words(
        "would leave the high band", "вышли бы из высокого уровня", "жоғары деңгейден шығар еді"
    ),
    "sh_levels_heading": words("Levels", "Уровни", "Деңгейлер"),
    "sh_levels_help": words(
        "Families by the champion's level (rows) and the shadow's (columns); the diagonal is "
        "where both agree.",
        "Семьи по уровню действующей модели (строки) и теневой (столбцы); на диагонали обе "
        "согласны.",
        "Отбасылар қолданыстағы модель деңгейі (жолдар) және көлеңкелі модель деңгейі "
        "(бағандар) бойынша; диагональда екеуі келіседі.",
    ),
    "sh_levels_corner": words(
        "champion ↓ / shadow →", "действующая ↓ / теневая →", "қолданыстағы ↓ / көлеңкелі →"
    ),
    "sh_scatter_help": words(
        "Each dot is a family: above the grey line the shadow rates it higher than the "
        "champion, below it lower.",
        "Каждая точка — семья: выше серой линии теневая модель оценивает её выше, чем "
        "действующая, ниже — ниже.",
        "Әр нүкте — отбасы: сұр сызықтан жоғары болса, көлеңкелі модель оны қолданыстағыдан "
        "жоғары бағалайды, төмен болса — төмен.",
    ),
    "sh_scatter_x": words(
        "champion's probability", "вероятность: действующая", "ықтималдық: қолданыстағы"
    ),
    "sh_scatter_y": words("shadow's probability", "вероятность: теневая", "ықтималдық: көлеңкелі"),
    "sh_scatter_title": words(
        "version {champion} against {shadow}",
        "версия {champion} против {shadow}",
        "{champion} нұсқасы {shadow} нұсқасымен",
    ),
    "sh_groups_heading": words("By audit group", "По группам аудита", "Аудит топтары бойынша"),
    "sh_groups_help": words(
        "Does the change fall on one group? Shares are of the group's families; groups under "
        "the minimum size are suppressed.",
        "Приходится ли изменение на одну группу? Доли — от семей группы; группы меньше "
        "минимального размера скрыты.",
        "Өзгеріс бір топқа түсе ме? Үлестер топ отбасыларынан алынған; ең аз мөлшерден кіші "
        "топтар жасырылған.",
    ),
    "col_families": words("families", "семьи", "отбасылар"),
    "col_spearman": words("Spearman", "Спирмен", "Спирмен"),
    "col_same_level": words("same level", "тот же уровень", "сол деңгей"),
    "col_enter": words("would enter high", "вошли бы в высокий", "жоғарыға кірер еді"),
    "col_leave": words("would leave high", "вышли бы из высокого", "жоғарыдан шығар еді"),
    "sh_suppressed": words("suppressed", "скрыто", "жасырылды"),
    "sh_chart_enter": words("would enter high", "вошли бы в высокий", "жоғарыға кірер еді"),
    "sh_chart_leave": words("would leave high", "вышли бы из высокого", "жоғарыдан шығар еді"),
    "sh_chart_y": words(
        "share of the group's families", "доля семей группы", "топ отбасыларының үлесі"
    ),
    "sh_chart_title": words(
        "Who would enter and leave the high band, by group",
        "Кто вошёл бы в высокий уровень и вышел бы из него, по группам",
        "Жоғары деңгейге кім кірер және кім шығар еді, топтар бойынша",
    ),
}

#: The audit columns' attributes (``audit_<attribute>``, :mod:`features.audit_groups`).
AUDIT_ATTRIBUTE: Final[dict[str, Words]] = {
    "settlement": words("settlement", "тип поселения", "елді мекен түрі"),
    "region": words("region", "регион", "өңір"),
    "single_parent": words("single parent", "один родитель", "жалғыз ата-ана"),
    "large_family": words("large family", "многодетная семья", "көп балалы отбасы"),
    "head_sex": words("sex of the head", "пол главы семьи", "отбасы басшысының жынысы"),
    "ethnicity": words("ethnicity", "национальность", "ұлты"),
    "primary_language": words("first language", "основной язык", "негізгі тілі"),
    "disability_in_family": words(
        "disability in the family", "инвалидность в семье", "отбасындағы мүгедектік"
    ),
}

#: The audit groups' values of the contract's closed lists (settlements, yes/no, sexes) and
#: of the synthetic registry's protected attributes; any other value is data, shown as
#: written.
AUDIT_VALUE: Final[dict[str, Words]] = {
    "urban": words("urban", "город", "қала"),
    "rural": words("rural", "село", "ауыл"),
    "yes": words("yes", "да", "иә"),
    "no": words("no", "нет", "жоқ"),
    "F": words("woman", "женщина", "әйел"),
    "M": words("man", "мужчина", "ер"),
    "None": words("unknown", "неизвестно", "белгісіз"),
    "kazakh": words("Kazakh", "казахский", "қазақ"),
    "russian": words("Russian", "русский", "орыс"),
    "uzbek": words("Uzbek", "узбекский", "өзбек"),
    "ukrainian": words("Ukrainian", "украинский", "украин"),
    "uyghur": words("Uyghur", "уйгурский", "ұйғыр"),
    "german": words("German", "немецкий", "неміс"),
    "tatar": words("Tatar", "татарский", "татар"),
    "other": words("other", "другое", "басқа"),
}

#: "семья", "семьи", "семей": Russian's forms after a number (English adds an s, Kazakh
#: does not inflect a noun after a number).
_RU_FAMILIES: Final = ("семья", "семьи", "семей")


def report_text(key: str, lang: Language, **fields: str) -> str:
    """A report's text in lang with its ``{fields}`` filled (the values already formatted
    for lang and, where they are HTML, escaped by the caller)."""
    text = REPORT[key][lang]
    return text.format(**fields) if fields else text


def families(count: int, number: str, lang: Language) -> str:
    """ "1 family", "23 семьи", "5 отбасы": ``number`` (``count`` formatted for lang) with
    the noun in the form the number takes (Russian: the review page's plural rule)."""
    from serving.i18n import _ru_plural

    if lang == "ru":
        return f"{number} {_ru_plural(count, _RU_FAMILIES)}"
    if lang == "kk":
        return f"{number} отбасы"
    return f"{number} {'family' if count == 1 else 'families'}"


def attribute_name(column: str, lang: Language) -> str:
    """An audit column as its reader knows it: ``audit_region`` is "region", "регион",
    "өңір"; an attribute without words (a registry's own protected attribute) is its name
    with spaces, as written in the data."""
    attribute = column.removeprefix("audit_")
    entry = AUDIT_ATTRIBUTE.get(attribute)
    if entry is not None:
        return escape(entry[lang])
    return _as_written(attribute.replace("_", " "))


def group_name(value: str, lang: Language) -> str:
    """An audit group's value in lang (HTML): a value of a closed list in words, any other
    value (a region's code, a registry's own category) as written, marked as of no known
    language so that a Russian page does not claim it is Russian."""
    entry = AUDIT_VALUE.get(value)
    if entry is None and value in ("nan", "<NA>", ""):
        entry = AUDIT_VALUE["None"]
    if entry is not None:
        return escape(entry[lang])
    return _as_written(value)


def _as_written(text: str) -> str:
    """Data shown as written: ``lang=""`` says its language is unknown (HTML's rule), and
    ``translate="no"`` keeps a browser's translator off it."""
    return f'<span lang="" translate="no">{escape(text)}</span>'


def as_code(text: str) -> str:
    """A command, a hash or a model's name (HTML): not words of any language (``zxx``)."""
    return f'<code lang="zxx" translate="no">{escape(text)}</code>'
