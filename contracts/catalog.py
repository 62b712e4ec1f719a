"""Enumerations of the catalog that cross the wire: HTTP schemas, OpenAPI and clients use
them as they are. Codes are English and stable; names are Russian, as people see them."""

DIRECTIONS: dict[str, str] = {
    "technical": "Техническая",
    "natural_science": "Естественнонаучная",
    "sports": "Физкультурно-спортивная",
    "arts": "Художественная",
    "tourism": "Туристско-краеведческая",
    "social_humanitarian": "Социально-гуманитарная",
}

LEVELS: dict[str, str] = {
    "intro": "Стартовый (ознакомительный)",
    "basic": "Базовый",
    "advanced": "Продвинутый (углублённый)",
}

FORMATS: dict[str, str] = {
    "in_person": "Очная",
    "distance": "Дистанционная",
    "mixed": "Очная с применением дистанционных технологий",
}

REGISTRIES: dict[str, str] = {
    "certified": "Сертифицированные программы",
    "significant": "Социально значимые программы",
    "pre_professional": "Предпрофессиональные программы",
    "general": "Общеразвивающие программы",
    "paid": "Платные программы",
}

PAYMENT_TYPES: dict[str, str] = {
    "free": "Бесплатно",
    "certificate": "По сертификату",
    "own_money": "За счёт собственных средств",
}

ORGANIZATION_STATUSES = ("pending", "active", "suspended")
PROGRAM_STATUSES = ("draft", "on_review", "published", "archived")

SEARCH_SORTS = ("relevance", "price", "distance", "start_date")

# Additional education serves children from pre-school age up to school leavers.
AGE_MIN = 3
AGE_MAX = 18
