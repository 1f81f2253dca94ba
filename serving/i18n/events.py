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

from serving.i18n.words import Words

EVENT_TYPE_NAME: Final[dict[str, Words]] = {
    "income": {"en": "income", "ru": "доход", "kk": "табыс"},
    "benefit_payment": {
        "en": "benefit payment",
        "ru": "выплата пособия",
        "kk": "жәрдемақы төлемі",
    },
    "unemployment_registered": {
        "en": "registered as unemployed",
        "ru": "регистрация в качестве безработного",
        "kk": "жұмыссыз ретінде тіркелу",
    },
    "loan_overdue": {
        "en": "overdue loan payment",
        "ru": "просрочка по кредиту",
        "kk": "несие бойынша мерзімі өткен төлем",
    },
    "utility_debt": {
        "en": "debt for utilities",
        "ru": "долг за коммунальные услуги",
        "kk": "коммуналдық қызметтер үшін қарыз",
    },
    "social_service_contact": {
        "en": "contact with social services",
        "ru": "обращение в социальную службу",
        "kk": "әлеуметтік қызметке жүгіну",
    },
    "family_support_center_visit": {
        "en": "visit to a family support centre",
        "ru": "посещение центра поддержки семьи",
        "kk": "отбасын қолдау орталығына бару",
    },
    "domestic_violence_report": {
        "en": "report of domestic violence",
        "ru": "сообщение о бытовом насилии",
        "kk": "тұрмыстық зорлық-зомбылық туралы хабарлама",
    },
    "police_contact": {  # review: "контакт с полицией" is the register's usual wording
        "en": "police contact",
        "ru": "контакт с полицией",
        "kk": "полициямен байланыс",
    },
    "juvenile_offense": {
        "en": "offence by a child of the family",
        "ru": "правонарушение несовершеннолетнего",
        "kk": "кәмелетке толмағанның құқық бұзушылығы",
    },
    "housing_inspection": {
        "en": "housing inspection",
        "ru": "обследование жилищных условий",
        "kk": "тұрғын үй жағдайын тексеру",
    },
    "eviction_notice": {
        "en": "eviction notice",
        "ru": "уведомление о выселении",
        "kk": "үйден шығару туралы хабарлама",
    },
    "homelessness_episode": {
        "en": "period without a home",
        "ru": "период без жилья",
        "kk": "баспанасыз кезең",
    },
    "missed_vaccination": {
        "en": "missed vaccination",
        "ru": "пропущенная прививка",
        "kk": "уақтылы салынбаған екпе",
    },
    "injury_emergency_visit": {
        "en": "emergency visit for a child's injury",
        "ru": "обращение за неотложной помощью из-за травмы",
        "kk": "жарақатқа байланысты жедел көмекке жүгіну",
    },
    "prenatal_visit_missed": {  # review: женская консультация / әйелдер консультациясы
        "en": "missed antenatal check-up",
        "ru": "пропущенный приём в женской консультации во время беременности",
        "kk": "жүктілік кезінде әйелдер консультациясына келмеу",
    },
    "substance_use_treatment": {
        "en": "treatment for alcohol or drug use",
        "ru": "лечение от алкогольной или наркотической зависимости",
        "kk": "алкоголь немесе есірткі тәуелділігінен емделу",
    },
    "mental_health_treatment": {
        "en": "mental health treatment",
        "ru": "лечение по поводу психического здоровья",
        "kk": "психикалық денсаулыққа байланысты емделу",
    },
    "school_absence": {
        "en": "days absent from school",
        "ru": "пропуски занятий в школе",
        "kk": "мектептегі сабақтан қалу",
    },
    "school_dropout": {
        "en": "left school",
        "ru": "отчисление из школы",
        "kk": "мектептен шығып қалу",
    },
    "preschool_not_enrolled": {
        "en": "not enrolled in a preschool",
        "ru": "ребёнок не записан в детский сад",
        "kk": "бала балабақшаға тіркелмеген",
    },
    "special_education_needs": {  # review: ООП / ЕБҚ are the official abbreviations
        "en": "special educational needs",
        "ru": "особые образовательные потребности",
        "kk": "ерекше білім беру қажеттіліктері",
    },
}

# The contract's closed detail lists (benefit kinds, police contact roles, inspection results).
DETAIL_NAME: Final[dict[str, Words]] = {
    "targeted_social_assistance": {
        "en": "targeted social assistance",
        "ru": "адресная социальная помощь (АСП)",
        "kk": "атаулы әлеуметтік көмек (АӘК)",
    },
    "child_benefit": {"en": "child benefit", "ru": "пособие на ребёнка", "kk": "бала жәрдемақысы"},
    "large_family_benefit": {
        "en": "large-family benefit",
        "ru": "пособие многодетной семье",
        "kk": "көп балалы отбасыға жәрдемақы",
    },
    "disability_benefit": {
        "en": "disability benefit",
        "ru": "пособие по инвалидности",
        "kk": "мүгедектік бойынша жәрдемақы",
    },
    "housing_assistance": {
        "en": "housing assistance",
        "ru": "жилищная помощь",
        "kk": "тұрғын үй көмегі",
    },
    "offense": {"en": "offence", "ru": "правонарушение", "kk": "құқық бұзушылық"},
    "victim": {"en": "as a victim", "ru": "в качестве потерпевшего", "kk": "жәбірленуші ретінде"},
    "witness": {"en": "as a witness", "ru": "в качестве свидетеля", "kk": "куәгер ретінде"},
    "adequate": {"en": "adequate", "ru": "условия в норме", "kk": "жағдайы талапқа сай"},
    "overcrowded": {"en": "overcrowded", "ru": "теснота", "kk": "тым тар"},
    "unsafe": {"en": "unsafe", "ru": "опасно для проживания", "kk": "тұруға қауіпті"},
}

# The agency systems of the synthetic registry (and of the ministry's data as far as known).
SOURCE_NAME: Final[dict[str, Words]] = {
    "state_revenue_committee": {
        "en": "State Revenue Committee",
        "ru": "Комитет государственных доходов",
        "kk": "Мемлекеттік кірістер комитеті",
    },
    "labour_social_protection": {
        "en": "labour and social protection office",
        "ru": "отдел занятости и социальной защиты",
        "kk": "жұмыспен қамту және әлеуметтік қорғау бөлімі",
    },
    "employment_center": {
        "en": "employment centre",
        "ru": "центр занятости",
        "kk": "халықты жұмыспен қамту орталығы",
    },
    "credit_bureau": {"en": "credit bureau", "ru": "кредитное бюро", "kk": "кредиттік бюро"},
    "utility_billing": {
        "en": "utility billing centre",
        "ru": "расчётный центр коммунальных услуг",
        "kk": "коммуналдық қызметтердің есеп айырысу орталығы",
    },
    "social_services": {
        "en": "social services",
        "ru": "социальная служба",
        "kk": "әлеуметтік қызмет",
    },
    "family_support_center": {
        "en": "family support centre",
        "ru": "центр поддержки семьи",
        "kk": "отбасын қолдау орталығы",
    },
    "police": {"en": "police", "ru": "полиция", "kk": "полиция органдары"},
    "housing_inspectorate": {
        "en": "housing inspectorate",
        "ru": "жилищная инспекция",
        "kk": "тұрғын үй инспекциясы",
    },
    "court": {"en": "court", "ru": "суд", "kk": "сот"},
    "polyclinic": {"en": "polyclinic", "ru": "поликлиника", "kk": "емхана"},
    "emergency_care": {"en": "emergency care", "ru": "скорая помощь", "kk": "жедел жәрдем"},
    "health_dispensary": {
        "en": "dispensary",
        "ru": "диспансер",
        "kk": "диспансер (мамандандырылған емхана)",
    },
    "school_information_system": {
        "en": "school information system",
        "ru": "школьная информационная система",
        "kk": "мектептің ақпараттық жүйесі",
    },
    "education_department": {
        "en": "education department",
        "ru": "отдел образования",
        "kk": "білім бөлімі",
    },
}

DOMAIN_NAME: Final[dict[str, Words]] = {
    "economic": {"en": "income and work", "ru": "доходы и занятость", "kk": "табыс және жұмыс"},
    "social": {
        "en": "family and safety",
        "ru": "семья и безопасность",
        "kk": "отбасы және қауіпсіздік",
    },
    "housing": {"en": "housing", "ru": "жильё", "kk": "тұрғын үй"},
    "health": {"en": "health", "ru": "здоровье", "kk": "денсаулық"},
    "education": {"en": "education", "ru": "образование", "kk": "білім"},
}

# Where a score in a family's history was served (the audit log's endpoint).
CHANNEL_NAME: Final[dict[str, Words]] = {
    "score": {
        "en": "caseworker system",
        "ru": "информационная система специалиста",
        "kk": "маманның ақпараттық жүйесі",
    },
    "review": {"en": "review page", "ru": "страница рассмотрения", "kk": "қарау беті"},
    "batch": {"en": "batch scoring", "ru": "пакетная оценка", "kk": "топтамалық бағалау"},
}

DECISION_NAME: Final[dict[str, Words]] = {
    "support_offered": {
        "en": "Support offered",
        "ru": "Предложена помощь",
        "kk": "Көмек ұсынылды",
    },
    "no_action": {"en": "No action needed", "ru": "Меры не требуются", "kk": "Шара қажет емес"},
    "referred": {
        "en": "Referred to another service",
        "ru": "Направлена в другую службу",
        "kk": "Басқа қызметке жіберілді",
    },
    "disagree": {
        "en": "I disagree with the estimate",
        "ru": "Не согласен(на) с оценкой",
        "kk": "Бағамен келіспеймін",
    },
    "override_higher": {
        "en": "The risk is higher than estimated",
        "ru": "Риск выше оценки",
        "kk": "Тәуекел бағадан жоғары",
    },
    "override_lower": {
        "en": "The risk is lower than estimated",
        "ru": "Риск ниже оценки",
        "kk": "Тәуекел бағадан төмен",
    },
}
