"""Rules of payments in plain Python (no Nameko, no SQLAlchemy): lessons scheduled in a month,
completeness, the month's charge, early termination, invoices, report shapes.

Contract cost (total, share, schedule) lives in contracts/cost.py, shared with enrollment's quote.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from contracts.cost import InvalidTerms, month_end, months_between
from contracts.payments import (
    ATTENDED,
    COMPLETENESS_MODES,
    CONTRACT_STATUSES,
    DELIVERED,
    INVOICE_KINDS,
    INVOICE_STATUSES,
    LESSON_STATUSES,
)
from contracts.refusals import Conflicting

__all__ = [
    "ATTENDED", "COMPLETENESS_MODES", "CONTRACT_STATUSES", "DELIVERED", "INVOICE_KINDS",
    "INVOICE_STATUSES", "LESSON_STATUSES",
]  # fmt: skip

ADVANCE_SHARE = Fraction(80, 100)
SUBMISSION_WORKDAY = 3  # attendance of a month is final after the 3rd working day of the next
UNRECORDED_PERCENT = 100  # a month with no lesson recorded: billed as delivered by schedule

_MONTH = re.compile(r"^(20\d\d)-(0[1-9]|1[0-2])$")


class Refused(Conflicting):
    """A request that breaks a payments rule in the current state (answered 409)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


# --- months -------------------------------------------------------------------------------


def parse_month(text: str, field: str = "month") -> tuple[date, date]:
    """ "2026-10" -> (2026-10-01, 2026-10-31)."""
    match = _MONTH.match(text or "")
    if not match:
        raise InvalidTerms(field, "месяц в формате ГГГГ-ММ, например 2026-10", "month_format")
    first = date(int(match.group(1)), int(match.group(2)), 1)
    return first, month_end(first)


def next_month(month: str) -> str:
    first, last = parse_month(month)
    following = last + timedelta(days=1)
    return f"{following.year:04d}-{following.month:02d}"


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def days_of(start: date, end: date) -> Iterable[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def submission_deadline(month: str, workday: int = SUBMISSION_WORKDAY) -> date:
    """The last day attendance of `month` can be corrected: the `workday`-th working day
    (Monday to Friday) of the next month. Public holidays are not modelled."""
    if workday < 1:
        raise ValueError("the submission deadline is a working day from the 1st: 1 or more")
    _, last = parse_month(month)
    day, counted = last, 0
    while counted < workday:
        day += timedelta(days=1)
        if day.isoweekday() <= 5:
            counted += 1
    return day


def month_is_final(month: str, today: date, workday: int = SUBMISSION_WORKDAY) -> bool:
    """A month can be billed once it has ended and its submission deadline has passed."""
    return today > submission_deadline(month, workday)


# --- lessons and completeness -------------------------------------------------------------


def scheduled_lessons(
    schedule: Iterable[Mapping[str, object]], start: date, end: date
) -> list[tuple[date, str]]:
    """(date, start "HH:MM") of every lesson the weekly schedule puts in [start, end]."""
    by_weekday: dict[int, list[str]] = {}
    for lesson in schedule:
        by_weekday.setdefault(int(lesson["weekday"]), []).append(str(lesson["start"]))
    return [
        (day, begins)
        for day in days_of(start, end)
        for begins in sorted(by_weekday.get(day.isoweekday(), ()))
    ]


def contract_days_in_month(
    contract_start: date, contract_end: date, month: str
) -> tuple[date, date] | None:
    """The contract's days within the month, or None when the month is outside it."""
    first, last = parse_month(month)
    start, end = max(first, contract_start), min(last, contract_end)
    return (start, end) if start <= end else None


@dataclass(frozen=True)
class MonthAttendance:
    """One child's month: lessons due by the schedule, held by the provider, attended."""

    scheduled: int
    held: int
    attended: int
    # lessons (held or cancelled) the provider recorded for the group in the month; None:
    # not counted (taken as recorded)
    recorded: int | None = None


def completeness(
    month: MonthAttendance, mode: str = DELIVERED, unrecorded: Fraction = Fraction(1)
) -> Fraction:
    """Share of the month's service delivered, 0..1 (docs/design.md, "completeness").

    `delivered`: lessons held over lessons scheduled; `attended` (a municipality's choice):
    lessons attended over lessons held. Extra lessons never push it above 1. A month whose
    contract days hold no scheduled lesson owed nothing, so nothing was missed: 1. A month
    in which the provider recorded no lesson of the group at all is billed at `unrecorded`
    (the municipality's setting; by default 1, "as delivered by schedule", which the
    provider lowers by recording what was not held).
    """
    if mode not in COMPLETENESS_MODES:
        raise ValueError(f"unknown completeness mode {mode!r}")
    if not 0 <= unrecorded <= 1:
        raise ValueError("the share of an unrecorded month is between 0 and 1")
    if month.scheduled == 0:
        return Fraction(1)
    if month.recorded == 0:
        return unrecorded
    if mode == DELIVERED:
        return min(Fraction(1), Fraction(month.held, month.scheduled))
    if month.held == 0:
        return Fraction(0)
    return min(Fraction(1), Fraction(month.attended, month.held))


def round_half_up(value: Fraction) -> int:
    """Kopecks rounded half up (banker's rounding would make a bill depend on parity)."""
    return (value.numerator * 2 + value.denominator) // (value.denominator * 2)


@dataclass(frozen=True)
class MonthCharge:
    certificate_planned: int
    certificate_charged: int  # debited from the reservation
    certificate_released: int  # the rest of the month's reservation, back to the balance
    copay_planned: int
    copay_charged: int  # the parent's bill for the month


def month_charge(certificate_part: int, copay_part: int, share: Fraction) -> MonthCharge:
    """`round(month_part x completeness)` for the certificate and for the co-payment."""
    if not 0 <= share <= 1:
        raise ValueError("completeness is a share between 0 and 1")
    certificate = round_half_up(certificate_part * share)
    return MonthCharge(
        certificate_planned=certificate_part,
        certificate_charged=certificate,
        certificate_released=certificate_part - certificate,
        copay_planned=copay_part,
        copay_charged=round_half_up(copay_part * share),
    )


# --- early termination --------------------------------------------------------------------


def termination_end(effective_end: date, contract_start: date, contract_end: date) -> date:
    """A contract ended early runs to the end of the month of the effective date (never
    before its start, never past its own end)."""
    return max(contract_start, min(contract_end, month_end(effective_end)))


def months_released_on_termination(
    schedule: Mapping[str, int], new_end: date, billed: Iterable[str] = ()
) -> dict[str, int]:
    """Certificate parts of the months after the new end that were not billed: they go back."""
    last = month_of(new_end)
    done = set(billed)
    return {m: part for m, part in schedule.items() if m > last and m not in done}


# --- invoices -----------------------------------------------------------------------------


def advance_amount(planned: int) -> int:
    """80 % of the planned certificate money of the month, rounded half up."""
    return round_half_up(planned * ADVANCE_SHARE)


def final_amount(actual: int, advance: int) -> int:
    """What the final invoice asks: actual minus the advance (negative: the provider owes)."""
    return actual - advance


# --- reports ------------------------------------------------------------------------------


def share_percent(part: int, whole: int) -> str:
    """ "12.34" (percent, two places, half up); "0.00" when the whole is zero."""
    if whole <= 0:
        return "0.00"
    hundredths = round_half_up(Fraction(part * 10000, whole))
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def csv_for_spreadsheet(header: list[str], rows: Iterable[Iterable[object]]) -> bytes:
    """UTF-8 with a BOM and `;` between fields: Excel with a Russian locale opens it as
    columns with Cyrillic intact (a comma is the decimal separator there)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def months_of_contract(start: date, end: date) -> list[str]:
    return months_between(start, end)
