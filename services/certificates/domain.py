"""Certificate rules in plain Python: numbers, validity, nominals by age band, periods, and
the ledger's arithmetic. No Nameko, no SQLAlchemy: the unit tests call these directly, and
operations.py / ledger.py apply them to rows.

Amounts are integer kopecks. A balance of one certificate for one period always satisfies
`credited == available + reserved + spent + expired`, every part >= 0; the database holds
the same rule as CHECK constraints (models.py), so neither layer alone can break it.
"""

from __future__ import annotations

import calendar
import secrets
from dataclasses import dataclass, replace
from datetime import date

from contracts.ages import age_on
from contracts.principal import Principal
from contracts.refusals import Conflicting, InvalidField
from contracts.roles import MUNICIPAL_OPERATOR, PARENT, REGIONAL_OPERATOR
from contracts.scope import EVERYTHING, NOTHING, Scope

__all__ = ["InvalidField", "Refused"]

ACCOUNTING = "accounting"
FINANCING = "financing"
TYPES = (ACCOUNTING, FINANCING)

ACTIVE = "active"
FROZEN = "frozen"
EXPIRED = "expired"
STATUSES = (ACTIVE, FROZEN, EXPIRED)

PERIOD_OPEN = "open"
PERIOD_CLOSING = "closing"
PERIOD_CLOSED = "closed"

CERTIFICATE_MAX_AGE = 18
NUMBER_DIGITS = 10
NOMINAL_MAX = 100_000_00  # 100,000 ₽ in kopecks
LIMIT_MAX = 10**15  # anything larger is a typo, not a budget

# ledger entry kinds
CREDIT = "credit"  # a period's nominal (or a raise of it)
ADJUST = "adjust"  # a lowered nominal taken back from what is available (negative amount)
RESERVE = "reserve"
RELEASE = "release"
DEBIT = "debit"
EXPIRE = "expire"
KINDS = (CREDIT, ADJUST, RESERVE, RELEASE, DEBIT, EXPIRE)

REASONS = {
    CREDIT: "Начисление номинала за период",
    ADJUST: "Изменение номинала муниципалитетом",
    RESERVE: "Резерв средств по заявке на обучение",
    RELEASE: "Возврат резерва по заявке",
    DEBIT: "Списание за месяц обучения",
    EXPIRE: "Сгорание остатка в конце периода",
}


class Refused(Conflicting):
    """A valid request the current state does not allow: 409 with the reason, and figures
    the caller needs (e.g. `available` for `insufficient_funds`)."""

    def __init__(self, code: str, message: str, **extra):
        super().__init__(message)
        self.code, self.extra = code, extra


# --- certificates -----------------------------------------------------------------------


def new_certificate_number() -> str:
    """10 random digits from the OS's CSPRNG: no sequence, nothing to guess from a neighbour."""
    return f"{secrets.randbelow(10**NUMBER_DIGITS):0{NUMBER_DIGITS}d}"


def valid_until(birth_date: date) -> date:
    """The 18th birthday: the certificate is valid before that day."""
    try:
        return birth_date.replace(year=birth_date.year + CERTIFICATE_MAX_AGE)
    except ValueError:  # born on 29 February
        return date(birth_date.year + CERTIFICATE_MAX_AGE, 2, 28)


# a parent hears this many days before the certificate's validity ends (its 18th birthday)
EXPIRY_NOTICE_DAYS = 30


def expires_soon(until: date, status: str, today: date, horizon: int = EXPIRY_NOTICE_DAYS) -> bool:
    """Still valid today and its last day (the day before `until`) within `horizon` days: the
    parent is told the certificate is expiring (once per certificate and `until`)."""
    return is_valid_on(until, status, today) and (until - today).days <= horizon


def is_valid_on(until: date, status: str, today: date) -> bool:
    return status != EXPIRED and today < until


def check_can_use(status: str, until: date, today: date) -> None:
    """A certificate that reserves or is debited must be active and within its validity."""
    if status == FROZEN:
        raise Refused("certificate_frozen", "Сертификат заморожен")
    if status == EXPIRED or today >= until:
        raise Refused("certificate_expired", "Срок действия сертификата истёк")


def check_can_freeze(status: str, reserved: int) -> None:
    if status == EXPIRED:
        raise Refused("certificate_expired", "Срок действия сертификата истёк")
    if reserved > 0:
        raise Refused(
            "active_contracts",
            "У сертификата есть действующие договоры или заявки с резервом средств",
        )


def check_can_lower_nominal(reserved: int) -> None:
    if reserved > 0:
        raise Refused(
            "active_contracts",
            "Номинал нельзя уменьшить: у сертификата есть действующие договоры",
        )


# --- periods and nominals ---------------------------------------------------------------


def check_period(name: str, start: date, end: date) -> None:
    if not name or not name.strip():
        raise InvalidField("name", "укажите название периода")
    if end <= start:
        raise InvalidField("end_date", "конец периода должен быть позже начала")
    if (end - start).days > 366:
        raise InvalidField("end_date", "период длится не больше года")


def check_period_over(end_date: date, today: date) -> None:
    """A period is closed once its last day is over, never before: its money is spent and
    reserved to the end (item 7 of issue 18; 3 December was closing September's period)."""
    if today <= end_date:
        raise Refused(
            "period_not_over",
            f"Период заканчивается {end_date.isoformat()}: закрыть его можно после этого дня",
            end_date=end_date.isoformat(),
        )


def periods_overlap(a_start: date, a_end: date, b_start: date, b_end: date) -> bool:
    return a_start <= b_end and b_start <= a_end


@dataclass(frozen=True)
class AgeBand:
    age_from: int
    age_to: int
    amount: int


def check_amount(amount: object, field: str, maximum: int = NOMINAL_MAX) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidField(field, "сумма должна быть целым числом копеек")
    if amount < 0:
        raise InvalidField(field, "сумма не может быть отрицательной")
    if amount > maximum:
        rubles = maximum // 100
        raise InvalidField(field, f"сумма не может быть больше {rubles:,} ₽".replace(",", " "))
    return amount


def check_bands(bands: list[AgeBand]) -> list[AgeBand]:
    """Age bands of one municipality's nominal: 0..17 years, no overlaps, amounts within
    0..100,000 ₽. Sorted by age."""
    if not bands:
        raise InvalidField("bands", "укажите хотя бы один номинал")
    ordered = sorted(bands, key=lambda b: b.age_from)
    for i, band in enumerate(ordered):
        field = f"bands.{i}"
        check_amount(band.amount, f"{field}.amount")
        if not (0 <= band.age_from <= band.age_to < CERTIFICATE_MAX_AGE):
            raise InvalidField(f"{field}.age_from", "возраст от 0 до 17 лет, «от» не больше «до»")
        if i and band.age_from <= ordered[i - 1].age_to:
            raise InvalidField(f"{field}.age_from", "возрастные группы пересекаются")
    return ordered


def nominal_for(bands: list[AgeBand], birth_date: date, period_start: date) -> int | None:
    """The nominal of a child for a period: by the child's age on the period's first day
    (or 0 if younger than 0 then, i.e. born during the period). None: no band fits."""
    age = max(0, age_on(birth_date, period_start)) if birth_date <= period_start else 0
    for band in bands:
        if band.age_from <= age <= band.age_to:
            return band.amount
    return None


# --- nominals within a year, the free-place allowance (issue 18 items 11 and 13) ---------

NOMINAL_FULL = "full"  # a certificate financed mid-period gets the whole nominal
NOMINAL_PRORATED = "prorated"  # ... or the months left of it (the older regional practice)
NOMINAL_MODES = (NOMINAL_FULL, NOMINAL_PRORATED)
FREE_ALLOWANCE_DEFAULT = 2
FREE_ALLOWANCE_MAX = 20
REASON_MAX = 500


def months_between(first: date, last: date) -> int:
    """Calendar months from the month of `first` to the month of `last`, both counted."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


def nominal_on(nominal: int, mode: str, period_start: date, period_end: date, on: date) -> int:
    """The nominal a certificate financed on `on` is credited: the whole one in `full` mode
    or before the period starts; in `prorated` mode the months left of the period (the month
    of `on` counted) over its months, rounded down to the kopeck."""
    if mode != NOMINAL_PRORATED or on <= period_start:
        return nominal
    if on > period_end:
        return 0
    return nominal * months_between(on, period_end) // months_between(period_start, period_end)


def check_nominal_mode(mode: object) -> str:
    if mode not in NOMINAL_MODES:
        raise InvalidField("nominal_mode", f"одно из: {', '.join(NOMINAL_MODES)}")
    return mode


def check_free_allowance_setting(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise InvalidField("free_allowance", f"целое число от 0 до {FREE_ALLOWANCE_MAX}")
    return value


def check_reason(reason: object) -> str:
    """An operator's reason for a change of money: required, plain text up to 500."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidField("reason", "укажите причину изменения")
    if len(reason.strip()) > REASON_MAX:
        raise InvalidField("reason", f"не длиннее {REASON_MAX} символов")
    return reason.strip()


def check_effective_from(day: date, today: date) -> date:
    """A change of nominals applies from today or a later day, never backwards."""
    if day < today:
        raise InvalidField("effective_from", "дата не раньше сегодняшней")
    return day


def check_free_allowance(live: int, allowance: int) -> None:
    """One more free (budget-registry) place for a child who holds `live` of them."""
    if live >= allowance:
        raise Refused(
            "free_allowance_exhausted",
            f"Ребёнок уже занимает бесплатных мест: {live} из {allowance} допустимых",
            allowance=allowance,
            live=live,
        )


def check_limit(limit: object, used: int) -> int:
    value = check_amount(limit, "limit", LIMIT_MAX)
    if value < used:
        raise Refused(
            "limit_below_used",
            "Лимит не может быть меньше уже выданных номиналов",
            used=used,
        )
    return value


# --- the ledger's arithmetic ------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    credited: int = 0
    available: int = 0
    reserved: int = 0
    spent: int = 0
    expired: int = 0

    def is_consistent(self) -> bool:
        parts = (self.available, self.reserved, self.spent, self.expired)
        return min(parts) >= 0 and self.credited == sum(parts)


def apply(balance: Balance, kind: str, amount: int) -> Balance:
    """One ledger entry's effect on a balance (what the SQL of ledger.py does, in Python).
    Raises Refused when the entry would make a part negative."""
    if kind == CREDIT:
        return replace(
            balance, credited=balance.credited + amount, available=balance.available + amount
        )
    if kind == ADJUST:  # amount is negative when a nominal is lowered
        if balance.available + amount < 0:
            raise Refused("insufficient_funds", "Недостаточно средств", available=balance.available)
        return replace(
            balance, credited=balance.credited + amount, available=balance.available + amount
        )
    if kind == RESERVE:
        if amount > balance.available:
            raise Refused("insufficient_funds", "Недостаточно средств", available=balance.available)
        return replace(
            balance, available=balance.available - amount, reserved=balance.reserved + amount
        )
    if kind == RELEASE:
        if amount > balance.reserved:
            raise Refused("over_release", "Нельзя вернуть больше зарезервированного")
        return replace(
            balance, available=balance.available + amount, reserved=balance.reserved - amount
        )
    if kind == DEBIT:
        if amount > balance.reserved:
            raise Refused("over_debit", "Нельзя списать больше зарезервированного")
        return replace(balance, reserved=balance.reserved - amount, spent=balance.spent + amount)
    if kind == EXPIRE:
        if amount > balance.available:
            raise Refused("over_expire", "Нельзя списать больше доступного")
        return replace(
            balance, available=balance.available - amount, expired=balance.expired + amount
        )
    raise ValueError(f"unknown ledger entry kind {kind!r}")


def recount(entries: list[tuple[str, int]]) -> Balance:
    """The balance a list of (kind, amount) entries adds up to, in order."""
    balance = Balance()
    for kind, amount in entries:
        balance = apply(balance, kind, amount)
    return balance


def split_release(reserved_left: int, debit: int, release: int) -> tuple[int, int]:
    """What a month's billing can take from an enrollment's reservation: the debit first,
    then the release, never more than is left."""
    debited = min(debit, reserved_left)
    released = min(release, reserved_left - debited)
    return debited, released


def month_key(month: str) -> str:
    """ "2026-09" as given, checked."""
    year, sep, mon = month.partition("-") if isinstance(month, str) else ("", "", "")
    if not (sep and len(year) == 4 and year.isdigit() and len(mon) == 2 and mon.isdigit()):
        raise InvalidField("month", "месяц в виде ГГГГ-ММ")
    if not 1 <= int(mon) <= 12:
        raise InvalidField("month", "месяц в виде ГГГГ-ММ")
    return month


def month_bounds(month: str) -> tuple[date, date]:
    """The first and the last day of a "2026-09" month."""
    year, mon = (int(part) for part in month_key(month).split("-"))
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


# --- who may see and manage what --------------------------------------------------------


def certificate_scope(principal: Principal) -> Scope:
    """A parent sees their children's certificates; a municipal operator its municipality's;
    the regional operator all. A provider sees none here."""
    if principal.role == PARENT:
        return Scope.children_of(principal.user_id)
    if principal.role == MUNICIPAL_OPERATOR:
        return Scope.municipality(principal.municipality_code)
    return EVERYTHING if principal.role == REGIONAL_OPERATOR else NOTHING


def can_see(principal: Principal, parent_id: int, municipality: str) -> bool:
    return certificate_scope(principal).covers(parent_id=parent_id, municipality_code=municipality)


def can_manage_municipality(principal: Principal, municipality: str) -> bool:
    """Nominals, limits, the queue and freezing: the municipality's operator or the region's."""
    if principal.role == MUNICIPAL_OPERATOR:
        return bool(principal.municipality_code) and principal.municipality_code == municipality
    return principal.role == REGIONAL_OPERATOR
