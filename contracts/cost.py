"""Contract cost rules (docs/design.md, section 3, "Contract cost"), in integer kopecks.

Standard library and the shared words (contracts/) only: enrollment's quote and payments'
contracts import this one module, so a parent is quoted exactly what the contract later
bills. No framework, no database.

- Contract period: the chosen start date (within the group's dates and the period) to the
  earlier of the group's end and the period's end; days are counted inclusively.
- total = ceil(days_in_contract / days_in_group x group_price);
  normative_cost = ceil(days_in_contract / days_in_group x group_normative).
- certificate_share = min(total, normative_cost, available); 0 for the `paid` registry;
  copay = total - certificate_share.
- Schedule over the calendar months the contract touches: every month but the first gets
  floor((days after the first month) / days_in_contract x amount / (months - 1)); the first
  takes the remainder, so the parts add up exactly. Separately for certificate and co-payment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from contracts.refusals import InvalidField


class InvalidTerms(InvalidField):
    """An input breaks a cost rule: the shared InvalidField (field, message, code), so
    servicekit.errors.rpc_error answers it 422 with the field message."""


@dataclass(frozen=True)
class MonthPart:
    month: str  # "YYYY-MM"
    certificate: int
    copay: int

    @property
    def total(self) -> int:
        return self.certificate + self.copay


@dataclass(frozen=True)
class ContractTerms:
    start_date: date
    end_date: date
    total: int
    normative_cost: int
    certificate_share: int
    copay: int
    schedule: list[MonthPart] = field(default_factory=list)

    @property
    def days(self) -> int:
        return days_inclusive(self.start_date, self.end_date)

    def month(self, month: str) -> MonthPart | None:
        return next((part for part in self.schedule if part.month == month), None)


def days_inclusive(start: date, end: date) -> int:
    return (end - start).days + 1


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_end(day: date) -> date:
    first_of_next = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def months_between(start: date, end: date) -> list[str]:
    """The calendar months a [start, end] span touches, as "YYYY-MM", in order."""
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def split_by_month(amount: int, start: date, end: date) -> list[tuple[str, int]]:
    """`amount` over the months of [start, end]: equal floors for all but the first month,
    which takes the remainder (docs/design.md's schedule rule, exact in integers)."""
    months = months_between(start, end)
    if len(months) == 1:
        return [(months[0], amount)]
    contract_days = days_inclusive(start, end)
    days_after_first = contract_days - days_inclusive(start, min(end, month_end(start)))
    others = len(months) - 1
    # floor(days_after_first / contract_days x amount / others), in integers
    each = (days_after_first * amount) // (contract_days * others)
    return [(months[0], amount - each * others)] + [(month, each) for month in months[1:]]


def contract_terms(
    *,
    group_start: date,
    group_end: date,
    period_start: date,
    period_end: date,
    start_date: date,
    group_price: int,
    group_normative: int,
    available: int,
    paid_registry: bool = False,
) -> ContractTerms:
    """The money terms of a contract starting `start_date` (see the module's rules)."""
    for name, value in (
        ("group_price", group_price),
        ("group_normative", group_normative),
        ("available", available),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidTerms(name, "must be an integer number of kopecks", "not_kopecks")
        if value < 0:
            raise InvalidTerms(name, "must not be negative", "negative_amount")
    if group_end < group_start:
        raise InvalidTerms("group_end", "the group ends before it starts", "group_dates")
    if period_end < period_start:
        raise InvalidTerms("period_end", "the period ends before it starts", "period_dates")
    if not group_start <= start_date <= group_end:
        raise InvalidTerms(
            "start_date",
            f"must be within the group's dates {group_start.isoformat()}..{group_end.isoformat()}",
            "outside_group_dates",
        )
    if not period_start <= start_date <= period_end:
        raise InvalidTerms(
            "start_date",
            f"must be within the period {period_start.isoformat()}..{period_end.isoformat()}",
            "outside_period",
        )

    end_date = min(group_end, period_end)
    contract_days = days_inclusive(start_date, end_date)
    group_days = days_inclusive(group_start, group_end)
    total = _ceil_div(contract_days * group_price, group_days)
    normative_cost = _ceil_div(contract_days * group_normative, group_days)
    certificate_share = 0 if paid_registry else min(total, normative_cost, available)
    copay = total - certificate_share

    certificate_parts = split_by_month(certificate_share, start_date, end_date)
    copay_parts = split_by_month(copay, start_date, end_date)
    schedule = [
        MonthPart(month=month, certificate=certificate, copay=copay_part)
        for (month, certificate), (_, copay_part) in zip(
            certificate_parts, copay_parts, strict=True
        )
    ]
    return ContractTerms(
        start_date=start_date,
        end_date=end_date,
        total=total,
        normative_cost=normative_cost,
        certificate_share=certificate_share,
        copay=copay,
        schedule=schedule,
    )
