"""A child's age, the one way every service counts it."""

from __future__ import annotations

from datetime import date, datetime


def _birthday_in(year: int, birth_date: date) -> date:
    # Born on 29 February: in a common year the birthday is 28 February (Civil Code, 192).
    if birth_date.month == 2 and birth_date.day == 29:
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    return birth_date.replace(year=year)


def age_on(birth_date: date, on_date: date) -> int:
    """Completed years of age on ``on_date``.

    A day before the birth has no age: ValueError, never a negative number that a range
    check could take for a real age. A caller asking about a future day (a group's start)
    checks that the child is born by then first.
    """
    if isinstance(birth_date, datetime):
        birth_date = birth_date.date()
    if isinstance(on_date, datetime):
        on_date = on_date.date()
    if on_date < birth_date:
        raise ValueError("on_date is before birth_date")
    years = on_date.year - birth_date.year
    return years if on_date >= _birthday_in(on_date.year, birth_date) else years - 1
