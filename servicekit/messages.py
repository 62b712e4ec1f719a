"""marshmallow's field messages in Russian, in one place.

A person sees field messages (the portal shows them beside each field); the services' own
rules already speak Russian, marshmallow speaks English ("Missing data for required
field."). Every marshmallow error becomes InvalidInput through `errors.invalid_from_marshmallow`,
which passes its messages through `translate`; whatever schema raised them, whenever it was
declared. A message of marshmallow's that is not in this table (a new release's) still
reaches the person in Russian, as "Неверное значение.", and `untranslated` lets a test find it.
"""

import re

# marshmallow 4's defaults (fields, schema, validators), exactly as it formats them
_EXACT = {
    "Missing data for required field.": "Обязательное поле.",
    "Field may not be null.": "Поле не может быть пустым (null).",
    "Invalid value.": "Неверное значение.",
    "Invalid input.": "Неверное значение.",
    "Invalid type.": "Неверный тип: ожидается объект.",
    "Invalid input type.": "Неверный тип: ожидается объект.",
    "Unknown field.": "Неизвестное поле.",
    "Not a valid string.": "Ожидается строка.",
    "Not a valid utf-8 string.": "Строка не в кодировке UTF-8.",
    "Not a valid number.": "Ожидается число.",
    "Not a valid integer.": "Ожидается целое число.",
    "Number too large.": "Слишком большое число.",
    "Special numeric values (nan or infinity) are not permitted.": "Ожидается конечное число.",
    "Not a valid boolean.": "Ожидается true или false.",
    "Not a valid list.": "Ожидается список.",
    "Not a valid tuple.": "Ожидается список.",
    "Not a valid mapping type.": "Ожидается объект.",
    "Not a valid date.": "Ожидается дата в формате ГГГГ-ММ-ДД.",
    "Not a valid datetime.": "Ожидаются дата и время в формате ISO 8601.",
    "Not a valid time.": "Ожидается время в формате ЧЧ:ММ.",
    "Not a valid period of time.": "Ожидается промежуток времени.",
    "Not a valid UUID.": "Ожидается UUID.",
    "Not a valid URL.": "Ожидается адрес (URL).",
    "Not a valid email address.": "Ожидается адрес электронной почты.",
    "String does not match expected pattern.": "Значение не в нужном формате.",
}

_OPS = {
    "greater than or equal to": "не меньше",
    "greater than": "больше",
    "less than or equal to": "не больше",
    "less than": "меньше",
}
_OP = "|".join(sorted(map(re.escape, _OPS), key=len, reverse=True))

# formatted defaults: (pattern, Russian with the pattern's groups)
_PATTERNS = [
    (r"Length must be between (\d+) and (\d+)\.", "Длина от {0} до {1} символов."),
    (r"Shorter than minimum length (\d+)\.", "Не короче {0} символов."),
    (r"Longer than maximum length (\d+)\.", "Не длиннее {0} символов."),
    (r"Length must be (\d+)\.", "Длина ровно {0} символов."),
    (rf"Must be ({_OP}) (\S+) and ({_OP}) (\S+)\.", "Значение {op0} {1} и {op2} {3}."),
    (rf"Must be ({_OP}) (\S+)\.", "Значение {op0} {1}."),
    (r"Must be one of: (.*)\.", "Допустимые значения: {0}."),
    (r"Must be equal to (.*)\.", "Значение должно быть {0}."),
    (r"Not a valid (.+)\.", "Неверное значение ({0})."),
    (r"""["'](.*)["'] cannot be formatted as a (\w+)\.""", "Значение не записать как {1}."),
    (r"One or more of the choices you made was not in: (.*)\.", "Допустимые значения: {0}."),
    (r"One or more of the choices you made was in: (.*)\.", "Недопустимые значения: {0}."),
]
_COMPILED = [(re.compile(pattern, re.S), russian) for pattern, russian in _PATTERNS]
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
FALLBACK = "Неверное значение."


def russian(message: str) -> str:
    """One message in Russian: marshmallow's English translated, Russian kept as it is."""
    if not isinstance(message, str) or _CYRILLIC.search(message):
        return message
    if message in _EXACT:
        return _EXACT[message]
    for pattern, template in _COMPILED:
        match = pattern.fullmatch(message)
        if match:
            groups = match.groups()
            ops = {f"op{i}": _OPS.get(g, g) for i, g in enumerate(groups)}
            return template.format(*groups, **ops)
    return FALLBACK


def untranslated(message: str) -> bool:
    """True for an English message this table does not know (a test looks for them)."""
    return russian(message) == FALLBACK and message not in ("Invalid value.", "Invalid input.")


def translate(messages):
    """marshmallow's `err.messages` (dicts of lists, nested by field) in Russian."""
    if isinstance(messages, dict):
        return {key: translate(value) for key, value in messages.items()}
    if isinstance(messages, list | tuple):
        return [translate(item) for item in messages]
    return russian(messages)
