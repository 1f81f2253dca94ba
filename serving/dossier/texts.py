"""The explanation record's and the notice's words, in English, Russian and Kazakh.

Written for a family member, not a caseworker: short sentences, no model vocabulary, every
number with its unit. ``{fields}`` are filled by :mod:`serving.dossier.document`; every
language has the same fields (checked by :func:`serving.dossier.texts.text_problems`).
A notice (:data:`NOTICE_TEXT`) never names a level or a risk: it says that an automated
assessment is used to offer support and how to ask for the explanation record.
"""

from __future__ import annotations

from string import Formatter
from typing import Final

from serving.i18n.words import LANGUAGE_CODES, Words, words

DOSSIER: Final[dict[str, Words]] = {
    "title": words(
        "Explanation of an automated assessment",
        "Разъяснение автоматизированной оценки",
        "Автоматтандырылған бағалау туралы түсіндірме",
    ),
    "intro": words(
        "Social services use an automated assessment to decide to which families they offer "
        "early, voluntary support first. It took part in the assessment of your family. It "
        "decides nothing on its own: a caseworker looks at it and decides. This record "
        "explains what it found, on which records, and what you can do.",
        "Социальные службы используют автоматизированную оценку, чтобы решить, каким семьям "
        "в первую очередь предложить раннюю добровольную помощь. Она участвовала в оценке "
        "вашей семьи. Сама она ничего не решает: решение принимает специалист, который её "
        "изучает. Здесь объясняется, что она показала, на основании каких записей и что вы "
        "можете сделать.",
        "Әлеуметтік қызметтер ерте, ерікті көмекті алдымен қай отбасыларға ұсыну керектігін "
        "шешу үшін автоматтандырылған бағалауды пайдаланады. Ол сіздің отбасыңызды бағалауға "
        "қатысты. Ол өз бетінше ештеңе шешпейді: оны маман қарап, шешім қабылдайды. Бұл "
        "құжат оның не көрсеткенін, қандай жазбалар негізінде екенін және сіз не істей "
        "алатыныңызды түсіндіреді.",
    ),
    "facts_heading": words("The assessment", "Оценка", "Бағалау"),
    "family": words("Family number", "Номер семьи", "Отбасы нөмірі"),
    "data_date": words("Data as of", "Данные на дату", "Деректер күні"),
    "assessed_on": words("Assessed on", "Дата оценки", "Бағаланған күні"),
    "model": words("Model version", "Версия модели", "Модель нұсқасы"),
    "reference": words("Reference", "Номер оценки", "Бағалау нөмірі"),
    "level_line": words(
        "The assessment placed your family at the level “{level}”.",
        "Оценка отнесла вашу семью к уровню «{level}».",
        "Бағалау сіздің отбасыңызды «{level}» деңгейіне жатқызды.",
    ),
    "level_high": words(
        "This means: among the families to whom support is offered first.",
        "Это значит: среди семей, которым помощь предлагается в первую очередь.",
        "Бұл көмек бірінші кезекте ұсынылатын отбасылар қатарында дегенді білдіреді.",
    ),
    "level_elevated": words(
        "This means: more likely than most families to benefit from support.",
        "Это значит: помощь может быть полезна вашей семье чаще, чем большинству семей.",
        "Бұл көмек сіздің отбасыңызға көптеген отбасыларға қарағанда пайдалырақ болуы "
        "мүмкін дегенді білдіреді.",
    ),
    "level_low": words(
        "This means: no sign that support is needed now.",
        "Это значит: признаков того, что сейчас нужна помощь, нет.",
        "Бұл қазір көмек қажет екенінің белгісі жоқ дегенді білдіреді.",
    ),
    "estimate_line": words(
        "The estimate was {probability}; the level “{level}” starts at {cutoff}.",
        "Оценка составила {probability}; уровень «{level}» начинается с {cutoff}.",
        "Бағалау {probability} болды; «{level}» деңгейі {cutoff} бастап басталады.",
    ),
    "estimate_low": words(
        "The estimate was {probability}.",
        "Оценка составила {probability}.",
        "Бағалау {probability} болды.",
    ),
    "needs_heading": words(
        "What raised the estimate", "Что повысило оценку", "Бағалауды не арттырды"
    ),
    "needs_intro": words(
        "These needs, found in records of state agencies, raised the estimate. Each is "
        "listed with the records behind it: what happened, when, when it was recorded and "
        "by which agency.",
        "Эти нужды, найденные в записях государственных органов, повысили оценку. У каждой "
        "указаны записи: что произошло, когда, когда это записано и каким ведомством.",
        "Мемлекеттік органдардың жазбаларында табылған мына қажеттіліктер бағалауды "
        "арттырды. Әрқайсысының жазбалары көрсетілген: не болды, қашан, қашан тіркелді және "
        "қай ведомство тіркеді.",
    ),
    "need_effect": words("raised it by {effect}", "повысило на {effect}", "{effect} арттырды"),
    "need_value": words("your value: {value}", "ваше значение: {value}", "сіздің мәніңіз: {value}"),
    "no_needs": words(
        "No single need raised the estimate noticeably.",
        "Ни одна нужда заметно не повысила оценку.",
        "Бірде-бір қажеттілік бағалауды айтарлықтай арттырған жоқ.",
    ),
    "no_records": words(
        "The records behind this need are held by the agency; ask your caseworker for them.",
        "Записи по этой нужде хранятся в ведомстве; попросите их у специалиста.",
        "Бұл қажеттіліктің жазбалары ведомствода сақталады; оларды маманнан сұраңыз.",
    ),
    "change_heading": words(
        "What would change the level",
        "Что изменило бы уровень",
        "Деңгейді не өзгертер еді",
    ),
    "change_found": words(
        "We ran the same assessment again with these changes to your family's records. "
        "With them the estimate would be {probability}, below {cutoff}, and the level "
        "would be “{new_level}”:",
        "Мы повторили ту же оценку с такими изменениями в записях вашей семьи. С ними "
        "оценка была бы {probability}, ниже {cutoff}, и уровень был бы «{new_level}»:",
        "Біз отбасыңыздың жазбаларына мына өзгерістер енгізіп, сол бағалауды қайта жүргіздік. "
        "Олармен бағалау {probability} болар еді, яғни {cutoff} шегінен төмен, ал деңгей "
        "«{new_level}» болар еді:",
    ),
    "change_item": words(
        "{change} (now: {values})", "{change} (сейчас: {values})", "{change} (қазір: {values})"
    ),
    "change_not_found": words(
        "No change that a family can make to the needs above would on its own bring the "
        "level down (all of them together would give {probability}; the level starts at "
        "{cutoff}). The level rests on records of past events; talk to your caseworker "
        "about the support on offer.",
        "Никакое изменение перечисленных нужд, доступное семье, само по себе не снизило бы "
        "уровень (все вместе дали бы {probability}; уровень начинается с {cutoff}). Уровень "
        "основан на записях о прошлых событиях; обсудите со специалистом, какую помощь "
        "вам могут предложить.",
        "Жоғарыдағы қажеттіліктердің отбасы жасай алатын ешбір өзгерісі өз бетінше деңгейді "
        "төмендетпес еді (барлығы бірге {probability} берер еді; деңгей {cutoff} бастап "
        "басталады). Деңгей бұрынғы оқиғалардың жазбаларына негізделген; ұсынылатын көмек "
        "туралы маманмен сөйлесіңіз.",
    ),
    "change_nothing": words(
        "No change to what a family can change applies to your family's records.",
        "Ничего из того, что семья может изменить, к записям вашей семьи не относится.",
        "Отбасы өзгерте алатын ештеңе сіздің отбасыңыздың жазбаларына қатысты емес.",
    ),
    "change_low": words(
        "Your family is at the lowest level: nothing needs to change.",
        "Ваша семья на самом низком уровне: ничего менять не нужно.",
        "Сіздің отбасыңыз ең төменгі деңгейде: ештеңені өзгертудің қажеті жоқ.",
    ),
    "change_note": words(
        "This is not a condition: support never depends on it. Only needs a family can "
        "change are considered, never the household's composition, support it receives or "
        "any personal characteristic.",
        "Это не условие: помощь от этого не зависит. Рассматриваются только нужды, которые "
        "семья может изменить, и никогда состав семьи, получаемая помощь или личные "
        "характеристики.",
        "Бұл шарт емес: көмек бұған байланысты емес. Тек отбасы өзгерте алатын "
        "қажеттіліктер қарастырылады, ешқашан отбасы құрамы, алатын көмегі немесе жеке "
        "сипаттамалары емес.",
    ),
    "decision_heading": words(
        "The caseworker's decision", "Решение специалиста", "Маманның шешімі"
    ),
    "decision_line": words(
        "{decision} — on {date}, by {who}. Reason given: {reason}",
        "{decision} — {date}, принял(а): {who}. Причина: {reason}",
        "{decision} — {date}, шешім қабылдаған: {who}. Себебі: {reason}",
    ),
    "decision_earlier": words(
        "Replaced by a later decision:",
        "Заменено более поздним решением:",
        "Кейінгі шешіммен ауыстырылды:",
    ),
    "decision_none": words(
        "No decision has been recorded yet. A caseworker will decide; the assessment alone "
        "decides nothing.",
        "Решение ещё не записано. Решение примет специалист; сама оценка ничего не решает.",
        "Шешім әлі тіркелмеген. Шешімді маман қабылдайды; бағалаудың өзі ештеңе шешпейді.",
    ),
    "who": words(
        "caseworker (access {token_id})",
        "специалист (доступ {token_id})",
        "маман (кіру {token_id})",
    ),
    "contest_heading": words(
        "If a record is wrong: how to contest and correct it",
        "Если запись неверна: как оспорить и исправить её",
        "Жазба қате болса: оған қалай дау айтып, түзетуге болады",
    ),
    "contest_text": words(
        "You have the right to have a wrong or incomplete record corrected. Tell your "
        "caseworker which record is wrong (its date and agency, as listed above) and bring "
        "a document that shows the correct fact. The caseworker files the correction; a "
        "registry officer decides it. While it is open your family is marked as contested, "
        "and after the decision your family is assessed again. You may ask for a new "
        "explanation record at any time, quoting the reference {reference}.",
        "Вы имеете право на исправление неверной или неполной записи. Сообщите специалисту, "
        "какая запись неверна (её дата и ведомство, как указано выше), и принесите документ, "
        "подтверждающий верные сведения. Специалист подаёт заявление на исправление; решение "
        "принимает сотрудник регистра. Пока заявление рассматривается, ваша семья отмечена "
        "как оспаривающая, а после решения ваша семья оценивается заново. Вы можете в любое "
        "время запросить новое разъяснение, указав номер {reference}.",
        "Қате немесе толық емес жазбаны түзетуге құқығыңыз бар. Маманға қай жазба қате "
        "екенін (жоғарыда көрсетілгендей, оның күні мен ведомствосын) айтып, дұрыс мәліметті "
        "растайтын құжатты әкеліңіз. Маман түзету туралы өтініш береді; шешімді тіркелім "
        "қызметкері қабылдайды. Өтініш қаралып жатқанда отбасыңыз дау айтушы ретінде "
        "белгіленеді, ал шешімнен кейін отбасыңыз қайта бағаланады. {reference} нөмірін "
        "көрсетіп, кез келген уақытта жаңа түсіндірме сұрай аласыз.",
    ),
    "contested": words(
        "A correction of your family's records is being decided. Until it is, your family is "
        "marked as contested, and after the decision it is assessed again.",
        "Сейчас рассматривается исправление записей вашей семьи. До решения ваша семья "
        "отмечена как оспаривающая, а после решения она будет оценена заново.",
        "Қазір отбасыңыздың жазбаларын түзету қаралуда. Шешім шыққанға дейін отбасыңыз дау "
        "айтушы ретінде белгіленеді, ал шешімнен кейін қайта бағаланады.",
    ),
    "corrections_heading": words(
        "Corrections of your records",
        "Исправления ваших записей",
        "Жазбаларыңызды түзету",
    ),
    "correction_item": words(
        "Record {record} ({day}): {action}, {status}.",
        "Запись {record} ({day}): {action}, {status}.",
        "{record} жазбасы ({day}): {action}, {status}.",
    ),
    "correction_void": words(
        "removed as wrong", "удалена как ошибочная", "қате деп алынып тасталды"
    ),
    "correction_amend": words("corrected", "исправлена", "түзетілді"),
    "correction_requested": words(
        "the decision is pending", "решение ещё не принято", "шешім әлі қабылданбаған"
    ),
    "correction_accepted": words(
        "accepted; this assessment was made again with the corrected record",
        "принято; оценка проведена заново с исправленной записью",
        "қабылданды; бағалау түзетілген жазбамен қайта жүргізілді",
    ),
    "correction_rejected": words(
        "not accepted (the documents did not show the record was wrong)",
        "не принято (документы не подтвердили ошибку в записи)",
        "қабылданбады (құжаттар жазбаның қате екенін растамады)",
    ),
    "contact": words("Contact: {contact}", "Контакты: {contact}", "Байланыс: {contact}"),
    "footer": words(
        "Produced on {produced} from the assessment {reference} (model {model}, data as of "
        "{as_of}). Every number here can be recomputed from these.",
        "Составлено {produced} по оценке {reference} (модель {model}, данные на {as_of}). "
        "Каждое число здесь можно пересчитать по этим данным.",
        "{produced} күні {reference} бағалауы бойынша жасалды (модель {model}, деректер "
        "{as_of} күнгі). Мұндағы әр санды осылар бойынша қайта есептеуге болады.",
    ),
}

#: The notice sent to a family assessed for the first time or whose level rose: that an
#: automated assessment is used to offer support, and how to ask for the explanation.
#: Never the level, never a risk.
NOTICE_TEXT: Final[Words] = words(
    "Dear family {family_id}: social services use an automated assessment of records held "
    "by state agencies to decide to which families they offer early, voluntary support. "
    "Your family's records were included on {as_of}. The assessment decides nothing on its "
    "own: a caseworker decides. You may ask for an explanation record (which records were "
    "used, what they showed, and how to correct a wrong one) at your local social services "
    "office or from your caseworker, quoting your family number.",
    "Уважаемая семья {family_id}: социальные службы используют автоматизированную оценку "
    "записей государственных органов, чтобы решить, каким семьям предложить раннюю "
    "добровольную помощь. Записи вашей семьи были учтены {as_of}. Сама оценка ничего не "
    "решает: решение принимает специалист. Вы можете запросить разъяснение (какие записи "
    "использованы, что они показали и как исправить неверную) в местном отделе социальной "
    "защиты или у специалиста, указав номер вашей семьи.",
    "Құрметті {family_id} отбасы: әлеуметтік қызметтер ерте, ерікті көмекті қай "
    "отбасыларға ұсыну керектігін шешу үшін мемлекеттік органдардың жазбаларын "
    "автоматтандырылған түрде бағалауды пайдаланады. Отбасыңыздың жазбалары {as_of} күні "
    "ескерілді. Бағалаудың өзі ештеңе шешпейді: шешімді маман қабылдайды. Отбасы нөміріңізді "
    "көрсетіп, жергілікті әлеуметтік қорғау бөлімінен немесе маманнан түсіндірме (қандай "
    "жазбалар пайдаланылғанын, олар не көрсеткенін және қатесін қалай түзетуге болатынын) "
    "сұрай аласыз.",
)

NOTICE_OPT_OUT: Final[Words] = words(
    "You may also ask that your family's records are not assessed ({legal_basis}).",
    "Вы также можете попросить не оценивать записи вашей семьи ({legal_basis}).",
    "Сондай-ақ отбасыңыздың жазбаларын бағаламауды сұрай аласыз ({legal_basis}).",
)


def text_problems() -> list[str]:
    """Texts whose ``{fields}`` differ between languages, or that are empty."""
    problems = []
    tables = {**{f"dossier {k}": v for k, v in DOSSIER.items()}}
    tables["notice"] = NOTICE_TEXT
    tables["notice opt-out"] = NOTICE_OPT_OUT
    for where, entry in tables.items():
        fields = None
        for lang in LANGUAGE_CODES:
            text = entry[lang]
            if not text.strip():
                problems.append(f"{where} [{lang}]: empty")
            found = sorted(f for _, f, _, _ in Formatter().parse(text) if f)
            if fields is not None and found != fields:
                problems.append(f"{where} [{lang}]: fields {found} differ from {fields}")
            fields = found if fields is None else fields
    return problems
