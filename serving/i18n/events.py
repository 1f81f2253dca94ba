"""The words for the records behind an indicator and for a family's history, in English,
Russian and Kazakh: event types and their details (the data contract's closed lists, see
:data:`features.contract.EVENT_TYPES`), the agency systems records come from, the indicator
domains, where a score was served, and the decisions a caseworker records.

Every event type and every listed detail of the contract has all three languages (a test
checks it with :func:`serving.i18n.translation_problems`). A source outside
:data:`SOURCE_NAME` (the contract lets each agency name its own system) is shown as its code.

A native reviewer should start with the entries marked ``# review:`` (terms with more than
one usual rendering) and with :data:`DECISION_NAME`, the words a caseworker chooses between.
"""

from __future__ import annotations

from typing import Final

from serving.i18n.words import Words, words

EVENT_TYPE_NAME: Final[dict[str, Words]] = {
    "income": words("income", "доход", "табыс"),
    "benefit_payment": words("benefit payment", "выплата пособия", "жәрдемақы төлемі"),
    "unemployment_registered": words(
        "registered as unemployed",
        "регистрация в качестве безработного",
        "жұмыссыз ретінде тіркелу",
    ),
    "loan_overdue": words(
        "overdue loan payment", "просрочка по кредиту", "несие бойынша мерзімі өткен төлем"
    ),
    "utility_debt": words(
        "debt for utilities", "долг за коммунальные услуги", "коммуналдық қызметтер үшін қарыз"
    ),
    "social_service_contact": words(
        "contact with social services",
        "обращение в социальную службу",
        "әлеуметтік қызметке жүгіну",
    ),
    "family_support_center_visit": words(
        "visit to a family support centre",
        "посещение центра поддержки семьи",
        "отбасын қолдау орталығына бару",
    ),
    "domestic_violence_report": words(
        "report of domestic violence",
        "сообщение о бытовом насилии",
        "тұрмыстық зорлық-зомбылық туралы хабарлама",
    ),
    # review: "контакт с полицией" is the register's usual wording
    "police_contact": words("police contact", "контакт с полицией", "полициямен байланыс"),
    "juvenile_offense": words(
        "offence by a child of the family",
        "правонарушение несовершеннолетнего",
        "кәмелетке толмағанның құқық бұзушылығы",
    ),
    "housing_inspection": words(
        "housing inspection", "обследование жилищных условий", "тұрғын үй жағдайын тексеру"
    ),
    "eviction_notice": words(
        "eviction notice", "уведомление о выселении", "үйден шығару туралы хабарлама"
    ),
    "homelessness_episode": words("period without a home", "период без жилья", "баспанасыз кезең"),
    "missed_vaccination": words(
        "missed vaccination", "пропущенная прививка", "уақтылы салынбаған екпе"
    ),
    "injury_emergency_visit": words(
        "emergency visit for a child's injury",
        "обращение за неотложной помощью из-за травмы",
        "жарақатқа байланысты жедел көмекке жүгіну",
    ),
    # review: женская консультация / әйелдер консультациясы
    "prenatal_visit_missed": words(
        "missed antenatal check-up",
        "пропущенный приём в женской консультации во время беременности",
        "жүктілік кезінде әйелдер консультациясына келмеу",
    ),
    "substance_use_treatment": words(
        "treatment for alcohol or drug use",
        "лечение от алкогольной или наркотической зависимости",
        "алкоголь немесе есірткі тәуелділігінен емделу",
    ),
    "mental_health_treatment": words(
        "mental health treatment",
        "лечение по поводу психического здоровья",
        "психикалық денсаулыққа байланысты емделу",
    ),
    "school_absence": words(
        "days absent from school", "пропуски занятий в школе", "мектептегі сабақтан қалу"
    ),
    "school_dropout": words("left school", "отчисление из школы", "мектептен шығып қалу"),
    "preschool_not_enrolled": words(
        "not enrolled in a preschool",
        "ребёнок не записан в детский сад",
        "бала балабақшаға тіркелмеген",
    ),
    # review: ООП / ЕБҚ are the official abbreviations
    "special_education_needs": words(
        "special educational needs",
        "особые образовательные потребности",
        "ерекше білім беру қажеттіліктері",
    ),
}

# The contract's closed detail lists (benefit kinds, police contact roles, inspection results).
DETAIL_NAME: Final[dict[str, Words]] = {
    "targeted_social_assistance": words(
        "targeted social assistance",
        "адресная социальная помощь (АСП)",
        "атаулы әлеуметтік көмек (АӘК)",
    ),
    "child_benefit": words("child benefit", "пособие на ребёнка", "бала жәрдемақысы"),
    "large_family_benefit": words(
        "large-family benefit", "пособие многодетной семье", "көп балалы отбасыға жәрдемақы"
    ),
    "disability_benefit": words(
        "disability benefit", "пособие по инвалидности", "мүгедектік бойынша жәрдемақы"
    ),
    "housing_assistance": words("housing assistance", "жилищная помощь", "тұрғын үй көмегі"),
    "offense": words("offence", "правонарушение", "құқық бұзушылық"),
    "victim": words("as a victim", "в качестве потерпевшего", "жәбірленуші ретінде"),
    "witness": words("as a witness", "в качестве свидетеля", "куәгер ретінде"),
    "adequate": words("adequate", "условия в норме", "жағдайы талапқа сай"),
    "overcrowded": words("overcrowded", "теснота", "тым тар"),
    "unsafe": words("unsafe", "опасно для проживания", "тұруға қауіпті"),
    # why a family contacted social services (free text in the contract; the usual codes of
    # the social services' register, which the synthetic registry writes)
    "financial_hardship": words(
        "financial hardship", "материальные трудности", "материалдық қиындықтар"
    ),
    "child_welfare_concern": words(
        "concern for a child's welfare",
        "беспокойство о благополучии ребёнка",
        "баланың әл-ауқатына алаңдаушылық",
    ),
    "housing_problem": words("housing problem", "жилищная проблема", "тұрғын үй мәселесі"),
    "disability_support": words(
        "support with a disability",
        "помощь в связи с инвалидностью",
        "мүгедектікке байланысты көмек",
    ),
    "family_conflict": words("family conflict", "конфликт в семье", "отбасылық жанжал"),
}

# The agency systems of the synthetic registry (and of the ministry's data as far as known).
SOURCE_NAME: Final[dict[str, Words]] = {
    "state_revenue_committee": words(
        "State Revenue Committee",
        "Комитет государственных доходов",
        "Мемлекеттік кірістер комитеті",
    ),
    "labour_social_protection": words(
        "labour and social protection office",
        "отдел занятости и социальной защиты",
        "жұмыспен қамту және әлеуметтік қорғау бөлімі",
    ),
    "employment_center": words(
        "employment centre", "центр занятости", "халықты жұмыспен қамту орталығы"
    ),
    "credit_bureau": words("credit bureau", "кредитное бюро", "кредиттік бюро"),
    "utility_billing": words(
        "utility billing centre",
        "расчётный центр коммунальных услуг",
        "коммуналдық қызметтердің есеп айырысу орталығы",
    ),
    "social_services": words("social services", "социальная служба", "әлеуметтік қызмет"),
    "family_support_center": words(
        "family support centre", "центр поддержки семьи", "отбасын қолдау орталығы"
    ),
    "police": words("police", "полиция", "полиция органдары"),
    "housing_inspectorate": words(
        "housing inspectorate", "жилищная инспекция", "тұрғын үй инспекциясы"
    ),
    "court": words("court", "суд", "сот"),
    "polyclinic": words("polyclinic", "поликлиника", "емхана"),
    "emergency_care": words("emergency care", "скорая помощь", "жедел жәрдем"),
    "health_dispensary": words("dispensary", "диспансер", "диспансер (мамандандырылған емхана)"),
    "school_information_system": words(
        "school information system",
        "школьная информационная система",
        "мектептің ақпараттық жүйесі",
    ),
    "education_department": words("education department", "отдел образования", "білім бөлімі"),
}

DOMAIN_NAME: Final[dict[str, Words]] = {
    "economic": words("income and work", "доходы и занятость", "табыс және жұмыс"),
    "social": words("family and safety", "семья и безопасность", "отбасы және қауіпсіздік"),
    "housing": words("housing", "жильё", "тұрғын үй"),
    "health": words("health", "здоровье", "денсаулық"),
    "education": words("education", "образование", "білім"),
    "household": words("household", "состав семьи", "отбасы құрамы"),
}

# Where a score in a family's history was served (the audit log's endpoint).
CHANNEL_NAME: Final[dict[str, Words]] = {
    "score": words(
        "caseworker system", "информационная система специалиста", "маманның ақпараттық жүйесі"
    ),
    "review": words("review page", "страница рассмотрения", "қарау беті"),
    "batch": words("batch scoring", "пакетная оценка", "топтамалық бағалау"),
    # issue 23: a score made for an explanation record
    "dossier": words("explanation record", "разъяснение оценки", "бағалау түсіндірмесі"),
}

DECISION_NAME: Final[dict[str, Words]] = {
    "support_offered": words("Support offered", "Предложена помощь", "Көмек ұсынылды"),
    "no_action": words("No action needed", "Меры не требуются", "Шара қажет емес"),
    "referred": words(
        "Referred to another service", "Направлена в другую службу", "Басқа қызметке жіберілді"
    ),
    "disagree": words(
        "I disagree with the estimate", "Не согласен(на) с оценкой", "Бағамен келіспеймін"
    ),
    "override_higher": words(
        "The risk is higher than estimated", "Риск выше оценки", "Тәуекел бағадан жоғары"
    ),
    "override_lower": words(
        "The risk is lower than estimated", "Риск ниже оценки", "Тәуекел бағадан төмен"
    ),
}
