"""What no route accepts, checked once for all of them before any schema, hashing or RPC:
JSON nested deeper than a request ever needs, and text PostgreSQL or UTF-8 cannot hold
(NUL and other control characters, unpaired surrogates), and invisible characters that make
a text look other than it is. Each is a 422 naming the field."""

import re

from servicekit.errors import InvalidInput

MAX_DEPTH = 16  # the deepest body of the API is 3 levels (a group's schedule)
# Controls (Unicode category Cc: C0 but tab, line feed and carriage return; DEL; C1 such as
# \x9b, a terminal's CSI)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What is not seen but changes what is seen: format characters (Cf: zero-width ones, the BOM,
# bidirectional overrides such as U+202E, soft hyphen, tags) and the line and paragraph
# separators (Zl, Zp: U+2028, U+2029). Python's Unicode 14 categories as ranges, so that a
# check is one regex scan; tests/unit/test_hardening_rules.py recomputes them from unicodedata.
INVISIBLE_RANGES = (
    "\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
)
_INVISIBLE = re.compile(f"[{INVISIBLE_RANGES}]")


def text_problem(value: str) -> str | None:
    """Why this text is refused, or None. The one text rule of every path, query and body
    field (C1 controls, U+202E, U+2028 and zero-width characters were once accepted in group
    and period names: what a reader of the name is shown is not what is stored)."""
    if _CONTROL.search(value):
        return "Управляющие символы (например, NUL) недопустимы."
    if _SURROGATE.search(value):
        return "Непарные суррогаты UTF-16 недопустимы."
    if _INVISIBLE.search(value):
        return "Невидимые символы и символы смены направления текста недопустимы."
    return None


TITLE = "Проверьте введённые данные"


def check_text(field: str, value: str) -> None:
    problem = text_problem(value)
    if problem:
        raise InvalidInput(TITLE, code="invalid_characters", fields={field: [problem]})


def json_text_faults(data) -> dict[str, list[str]]:
    """Walks a parsed JSON document without recursion: bad text in a key or a string value,
    every one with the dotted path of its field; too deep is InvalidInput at once."""
    faults: dict[str, list[str]] = {}

    def note(field: str, value: str) -> None:
        problem = text_problem(value)
        if problem:
            faults.setdefault(field, []).append(problem)

    stack = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(
                "Слишком глубокая вложенность",
                code="too_deep",
                fields={path or "_schema": [f"Не больше {MAX_DEPTH} уровней вложенности."]},
            )
        if isinstance(value, str):
            note(path or "_schema", value)
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                note(child, key)
                stack.append((item, child, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{path}.{index}" if path else str(index), depth + 1))
    return faults


def check_json_text(data) -> None:
    """Too deep, or bad text anywhere (every such field named), is InvalidInput."""
    faults = json_text_faults(data)
    if faults:
        raise InvalidInput(TITLE, code="invalid_characters", fields=faults)
