"""Money is integer kopecks inside; decimal strings with two places outside."""

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

_MONEY = re.compile(r"^(0|[1-9]\d{0,12})(\.\d{1,2})?$")


def format_kopecks(kopecks: int) -> str:
    """12345 -> "123.45"."""
    if isinstance(kopecks, bool) or not isinstance(kopecks, int):
        raise TypeError("kopecks must be an int")
    sign = "-" if kopecks < 0 else ""
    rubles, rest = divmod(abs(kopecks), 100)
    return f"{sign}{rubles}.{rest:02d}"


def parse_money(text: str) -> int:
    """ "123.45" -> 12345. Refuses negatives, exponents, more than two decimals."""
    if not isinstance(text, str) or not _MONEY.match(text):
        raise ValueError("amount must be a decimal string with at most two places, e.g. 1900.00")
    rubles, _, fraction = text.partition(".")
    return int(rubles) * 100 + int(fraction.ljust(2, "0") or 0)


def ceil_to_kopeck(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def floor_to_kopeck(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))
