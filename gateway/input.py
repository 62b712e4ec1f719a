"""What no route accepts, checked once for all of them before any schema, hashing or RPC:
JSON nested deeper than a request ever needs, and text PostgreSQL or UTF-8 cannot hold
(NUL and other control characters, unpaired surrogates). Each is a 422 naming the field."""

import re

from servicekit.errors import InvalidInput

MAX_DEPTH = 16  # the deepest body of the API is 3 levels (a group's schedule)
# C0 controls except tab, line feed and carriage return; DEL
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why this text is refused, or None."""
    if _CONTROL.search(value):
        return "Управляющие символы (например, NUL) недопустимы."
    if _SURROGATE.search(value):
        return "Непарные суррогаты UTF-16 недопустимы."
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
