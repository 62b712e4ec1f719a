"""Rules of the catalog service: registries, INN, the status machines of organizations and
programs, who may see and change what, which program fields stay editable, groups (seats,
ages, dates, schedule, price per month), search input and distance.

The enumerations (directions, levels, formats, registries...) are contracts.catalog's, the
refusals contracts.refusals', age_on contracts.ages': they are re-exported here because the
rules below speak in them.

Plain Python only: no Nameko, no SQLAlchemy, no marshmallow. The service and its schemas
call these functions; the unit tests call them directly.

Messages are in Russian (they reach people through the gateway); every error also has a
stable English ``code``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from contracts import transitions
from contracts.ages import age_on
from contracts.catalog import (
    AGE_MAX,
    AGE_MIN,
    DIRECTIONS,
    FORMATS,
    LEVELS,
    ORGANIZATION_STATUSES,
    PAYMENT_TYPES,
    PROGRAM_STATUSES,
    REGISTRIES,
    SEARCH_SORTS,
)
from contracts.enrollment import CapacityBelowOccupied
from contracts.principal import Principal
from contracts.refusals import Conflicting, InvalidField, TransitionRefused
from contracts.roles import PROVIDER, REGIONAL_OPERATOR
from contracts.scope import Scope, staff_authority
from contracts.transitions import StateMachine
from servicekit.money import format_kopecks, parse_money

__all__ = [
    "AGE_MAX",
    "AGE_MIN",
    "AlreadyInOrganization",
    "CapacityBelowOccupied",
    "DIRECTIONS",
    "EARTH_RADIUS_KM",
    "FORMATS",
    "InvalidField",
    "KM_PER_DEGREE",
    "LEVELS",
    "MAX_QUERY_WORDS",
    "MAX_WORD_LENGTH",
    "ORGANIZATION_ACTIONS",
    "ORGANIZATION_STATUSES",
    "OrganizationNotActive",
    "PAYMENT_TYPES",
    "PREFIX_MIN_LENGTH",
    "PRE_PROFESSIONAL_DIRECTIONS",
    "PROGRAM_STATUSES",
    "PUBLIC_ORGANIZATION_STATUSES",
    "PUBLIC_PROGRAM_STATUSES",
    "PUBLISHED_EDITABLE",
    "ProgramArchived",
    "ProgramNotEditable",
    "ProgramNotPublished",
    "REGISTRIES",
    "SEARCH_DEFAULTS",
    "SEARCH_SORTS",
    "TYPO_MIN_LENGTH",
    "TransitionRefused",
    "age_on",
    "allowed_transitions",
    "bounding_box",
    "certified_on_publication",
    "changes_organization_details",
    "check_age_range",
    "check_capacity",
    "check_capacity_change",
    "check_enrollment_opening",
    "check_group",
    "check_group_ages",
    "check_group_can_be_added",
    "check_group_dates",
    "check_inn",
    "check_may_register_organization",
    "check_organization_can_submit",
    "check_program_change",
    "check_program_fields",
    "check_registry_direction",
    "check_schedule",
    "check_search_filters",
    "creates_programs_for",
    "edits_organization",
    "format_kopecks",
    "free_seats",
    "haversine_km",
    "inn_check_digit",
    "inn_with_check_digits",
    "is_valid_inn",
    "managed_scope",
    "manages_organization",
    "monthly_price_kopecks",
    "months_touched",
    "narrows_ages",
    "normalize_search_text",
    "opens_on_creation",
    "parse_money",
    "payable_by_certificate",
    "payment_type",
    "program_payment_type",
    "registries_for_payment_type",
    "reviews_programs",
    "search_words",
    "sees_organization",
    "sees_program",
    "summarize_groups",
    "transition",
    "tsquery_text",
]

# --- refusals of the catalog ------------------------------------------------------------


class ProgramNotEditable(Conflicting):
    """The program's status does not allow this change (see check_program_change)."""

    code = "program_not_editable"

    def __init__(self) -> None:
        super().__init__("В этом статусе программу так изменить нельзя")


class OrganizationNotActive(Conflicting):
    code = "organization_not_active"

    def __init__(self) -> None:
        super().__init__("Организация ещё не подтверждена или приостановлена")


class ProgramArchived(Conflicting):
    code = "program_archived"

    def __init__(self) -> None:
        super().__init__("Программа в архиве")


class ProgramNotPublished(Conflicting):
    code = "program_not_published"

    def __init__(self) -> None:
        super().__init__("Программа не опубликована")


class AlreadyInOrganization(Conflicting):
    code = "already_in_organization"

    def __init__(self) -> None:
        super().__init__("Вы уже работаете в организации")


# --- reference lists --------------------------------------------------------------------

_PAYMENT_TYPE_OF_REGISTRY: dict[str, str] = {
    "certified": "certificate",
    "significant": "free",
    "pre_professional": "free",
    "general": "free",
    "paid": "own_money",
}


def payment_type(registry: str) -> str:
    """How a parent pays for a program of this registry: free, certificate or own_money."""
    try:
        return _PAYMENT_TYPE_OF_REGISTRY[registry]
    except KeyError:
        raise InvalidField("registry", f"неизвестный реестр {registry!r}", "choice") from None


def registries_for_payment_type(payment: str) -> tuple[str, ...]:
    """The registries a search by payment type covers, in the order of REGISTRIES."""
    if payment not in PAYMENT_TYPES:
        raise InvalidField("payment_type", f"неизвестный способ оплаты {payment!r}", "choice")
    return tuple(r for r in REGISTRIES if _PAYMENT_TYPE_OF_REGISTRY[r] == payment)


def payable_by_certificate(registry: str, certified: bool) -> bool:
    """Only a program of the ``certified`` registry that a regional operator has actually
    certified can be paid from a certificate; until then it is not payable by one."""
    return registry == "certified" and certified is True


def certified_on_publication(registry: str) -> bool:
    """A program the regional operator approves is certified when it is of the ``certified``
    registry (and so becomes payable by certificate)."""
    return registry == "certified"


# Pre-professional programs exist only in the arts and in sports (Federal law 273-FZ, 83-84).
PRE_PROFESSIONAL_DIRECTIONS = ("arts", "sports")


def check_registry_direction(registry: str, direction: str) -> None:
    if registry == "pre_professional" and direction not in PRE_PROFESSIONAL_DIRECTIONS:
        raise InvalidField(
            "registry",
            "только для художественной и спортивной направленности",
            "registry_direction",
            title="Предпрофессиональные программы бывают только художественные и спортивные",
        )


def check_program_fields(data: Mapping[str, object]) -> None:
    """A program's ages, registry and direction (whole, after a change is merged in)."""
    check_age_range(data["min_age"], data["max_age"])
    payment_type(data["registry"])
    check_registry_direction(data["registry"], data["direction"])


# What a provider may still change in a published program without a new review.
PUBLISHED_EDITABLE = frozenset({"title", "description", "format", "adapted"})


def check_program_change(status: str, changed: Iterable[str]) -> None:
    """A draft changes freely; a published program only in PUBLISHED_EDITABLE; a program on
    review or archived not at all."""
    if status in ("on_review", "archived") or (
        status == "published" and set(changed) - PUBLISHED_EDITABLE
    ):
        raise ProgramNotEditable()


def narrows_ages(min_age: int, max_age: int, changes: Mapping[str, object]) -> bool:
    """Whether a change makes a program's age range narrower (its groups must still fit)."""
    return changes.get("min_age", min_age) > min_age or changes.get("max_age", max_age) < max_age


# --- INN --------------------------------------------------------------------------------

_INN_10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN_12_WEIGHTS_11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN_12_WEIGHTS_12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_ASCII_DIGITS = re.compile(r"[0-9]+")


def inn_check_digit(digits: str, weights: tuple[int, ...]) -> int:
    """One INN check digit: the weighted sum of the preceding digits mod 11, mod 10."""
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 % 10


def inn_with_check_digits(body: str) -> str:
    """Complete an INN: 9 digits -> an organization's 10, 10 digits -> an entrepreneur's 12."""
    if not isinstance(body, str) or not _ASCII_DIGITS.fullmatch(body):
        raise ValueError("INN body must be ASCII digits")
    if len(body) == 9:
        return body + str(inn_check_digit(body, _INN_10_WEIGHTS))
    if len(body) == 10:
        body += str(inn_check_digit(body, _INN_12_WEIGHTS_11))
        return body + str(inn_check_digit(body, _INN_12_WEIGHTS_12))
    raise ValueError("INN body must have 9 or 10 digits")


def check_inn(inn: str) -> None:
    if not is_valid_inn(inn):
        message = "ИНН с неверными контрольными цифрами"
        raise InvalidField("inn", message, "invalid_inn")


def is_valid_inn(inn: str) -> bool:
    """True for a Russian INN with right check digits: 10 digits for an organization,
    12 for an individual entrepreneur. Only ASCII digits, no spaces."""
    if not isinstance(inn, str) or not _ASCII_DIGITS.fullmatch(inn):
        return False
    if len(inn) == 10:
        return inn_check_digit(inn[:9], _INN_10_WEIGHTS) == int(inn[9])
    if len(inn) == 12:
        return inn_check_digit(inn[:10], _INN_12_WEIGHTS_11) == int(inn[10]) and (
            inn_check_digit(inn[:11], _INN_12_WEIGHTS_12) == int(inn[11])
        )
    return False


# --- status machines --------------------------------------------------------------------

# What the public (and search) sees; the rest only those who manage the organization.
PUBLIC_ORGANIZATION_STATUSES = ("active", "suspended")
PUBLIC_PROGRAM_STATUSES = ("published", "archived")
# the regional operator's actions on an organization and the status each leads to
ORGANIZATION_ACTIONS = {"approve": "active", "suspend": "suspended", "reinstate": "active"}

ORGANIZATION_MACHINE = StateMachine(
    "organization",
    {
        "pending": ("active",),
        "active": ("suspended",),
        "suspended": ("active",),  # reinstatement
    },
)
PROGRAM_MACHINE = StateMachine(
    "program",
    {
        "draft": ("on_review",),
        "on_review": ("published", "draft"),  # published, or rejected back to draft
        "published": ("archived",),
        "archived": (),
    },
)
_MACHINES = {"organization": ORGANIZATION_MACHINE, "program": PROGRAM_MACHINE}


def _machine(kind: str) -> StateMachine:
    try:
        return _MACHINES[kind]
    except KeyError:
        raise ValueError(f"unknown status machine {kind!r}") from None


def allowed_transitions(kind: str, current: str) -> tuple[str, ...]:
    """Statuses that an ``organization`` or a ``program`` may move to from ``current``."""
    return _machine(kind).allowed(current)


def transition(kind: str, current: str, target: str) -> str:
    """The new status, or TransitionRefused when ``kind`` may not go from current to target
    (contracts.transitions, the one check of a move).

    Staying in the same status is refused too: the shared check answers a replay as "nothing
    to do", but the catalog's status changes are an operator's or a provider's commands
    (approve, certify, archive), and repeating one is answered 409 ``transition_refused``.
    """
    if not transitions.transition(_machine(kind), current, target):
        raise TransitionRefused(current, target)
    return target


# --- ages -------------------------------------------------------------------------------


def check_age_range(min_age: int, max_age: int) -> None:
    """A program's or group's age range: whole years, AGE_MIN <= min_age <= max_age <= AGE_MAX."""
    for field, value in (("min_age", min_age), ("max_age", max_age)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidField(field, "возраст указывается целым числом лет", "type")
        if not AGE_MIN <= value <= AGE_MAX:
            raise InvalidField(field, f"возраст от {AGE_MIN} до {AGE_MAX} лет", "out_of_range")
    if min_age > max_age:
        raise InvalidField("max_age", "максимальный возраст меньше минимального", "order")


def check_group_ages(program_min: int, program_max: int, group_min: int, group_max: int) -> None:
    """A group's age range is a valid range inside its program's."""
    check_age_range(group_min, group_max)
    if group_min < program_min:
        raise InvalidField(
            "min_age", f"программа рассчитана на детей от {program_min} лет", "outside_program"
        )
    if group_max > program_max:
        raise InvalidField(
            "max_age", f"программа рассчитана на детей до {program_max} лет", "outside_program"
        )


# --- groups -----------------------------------------------------------------------------


def check_group(program_min_age: int, program_max_age: int, values: Mapping[str, object]) -> dict:
    """A group's fields checked together (dates arrive as ISO strings over RPC); returns the
    clean schedule, the dates and the price per month the search filters by."""
    start = date.fromisoformat(values["start_date"])
    end = date.fromisoformat(values["end_date"])
    schedule = check_schedule(values["schedule"])
    check_group_dates(start, end)
    check_group_ages(program_min_age, program_max_age, values["min_age"], values["max_age"])
    check_capacity(values["capacity"])
    return {
        "schedule": schedule,
        "start_date": start,
        "end_date": end,
        "monthly_price_kopecks": monthly_price_kopecks(values["price_kopecks"], start, end),
    }


def check_group_can_be_added(program_status: str) -> None:
    if program_status == "archived":
        raise ProgramArchived()


def opens_on_creation(program_status: str) -> bool:
    """Nobody can apply to an unpublished program: its new groups start closed."""
    return program_status == "published"


def check_enrollment_opening(program_status: str) -> None:
    if program_status != "published":
        raise ProgramNotPublished()


def check_organization_can_submit(organization_status: str) -> None:
    """Only an approved, not suspended organization sends programs to review."""
    if organization_status != "active":
        raise OrganizationNotActive()


# --- seats ------------------------------------------------------------------------------


def free_seats(capacity: int, held: int, enrolled: int) -> int:
    """Seats still open to a new application: capacity minus held and enrolled, never < 0."""
    return max(0, capacity - held - enrolled)


def check_capacity(capacity: int) -> None:
    """A group has at least one seat."""
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise InvalidField("capacity", "число мест: целое число не меньше 1", "out_of_range")


def check_capacity_change(new_capacity: int, held: int, enrolled: int) -> None:
    """A provider may lower a group's capacity only down to the seats already taken,
    so nobody holding or occupying a seat loses it."""
    check_capacity(new_capacity)
    occupied = held + enrolled
    if new_capacity < occupied:
        raise CapacityBelowOccupied(new_capacity, occupied)


# --- dates and schedule -----------------------------------------------------------------


def check_group_dates(
    start: date,
    end: date,
    period_start: date | None = None,
    period_end: date | None = None,
) -> None:
    """A group starts no later than it ends (a one-day group is allowed) and, when a period
    is given, lies inside it."""
    if start > end:
        raise InvalidField("end_date", "дата окончания раньше даты начала", "order")
    if period_start is not None and start < period_start:
        raise InvalidField("start_date", "группа начинается раньше периода", "outside_period")
    if period_end is not None and end > period_end:
        raise InvalidField("end_date", "группа заканчивается позже периода", "outside_period")


_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def _minutes(value: object, field: str) -> int:
    if not isinstance(value, str) or not _HH_MM.fullmatch(value):
        raise InvalidField(field, "время в формате ЧЧ:ММ, например 15:30", "format")
    return int(value[:2]) * 60 + int(value[3:])


def check_schedule(lessons: Iterable[Mapping[str, object]]) -> list[dict[str, object]]:
    """A group's weekly schedule: at least one lesson, each ``{weekday, start, end}`` with
    weekday 1 (Monday) .. 7 (Sunday), times "HH:MM", start before end, and no two lessons
    overlapping on the same day. Returns a clean copy sorted by weekday and start."""
    clean: list[dict[str, object]] = []
    for lesson in lessons:
        weekday = lesson.get("weekday")
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 1 <= weekday <= 7:
            raise InvalidField("schedule", "день недели: число от 1 (пн) до 7 (вс)", "weekday")
        start, end = lesson.get("start"), lesson.get("end")
        if _minutes(start, "schedule") >= _minutes(end, "schedule"):
            raise InvalidField(
                "schedule", "занятие должно начинаться раньше, чем закончится", "order"
            )
        clean.append({"weekday": weekday, "start": start, "end": end})
    if not clean:
        raise InvalidField("schedule", "укажите хотя бы одно занятие в неделю", "required")
    clean.sort(key=lambda lesson: (lesson["weekday"], lesson["start"]))
    for previous, lesson in zip(clean, clean[1:], strict=False):
        if previous["weekday"] == lesson["weekday"] and lesson["start"] < previous["end"]:
            raise InvalidField("schedule", "занятия в один день пересекаются", "overlap")
    return clean


# --- price ------------------------------------------------------------------------------


def group_minutes(schedule: Iterable[Mapping[str, object]], start: date, end: date) -> int:
    """Minutes of lessons a group gives over its dates: each weekly lesson on every one of
    its weekdays from ``start`` to ``end`` inclusive (the hours of the program as this group
    delivers it)."""

    def minutes(text: object) -> int:
        hours, mins = str(text).split(":")
        return int(hours) * 60 + int(mins)

    per_weekday: dict[int, int] = {}
    for lesson in schedule:
        weekday = int(lesson["weekday"])  # 1 = Monday
        per_weekday[weekday] = (
            per_weekday.get(weekday, 0) + minutes(lesson["end"]) - minutes(lesson["start"])
        )
    days = (end - start).days + 1
    total = 0
    for weekday, length in per_weekday.items():
        first = start + timedelta(days=(weekday - 1 - start.weekday()) % 7)
        if first <= end:
            total += ((end - first).days // 7 + 1) * length
    return total if days > 0 else 0


# an hour's normative above this is a typing error, and it keeps every group's normative
# (a year of lessons at most) far inside a bigint
NORMATIVE_PER_HOUR_MAX = 10**9  # kopecks: 10 000 000.00 ₽


def normative_cost_kopecks(per_hour_kopecks: int, minutes: int) -> int:
    """The normative cost of a group: the municipality's normative per hour (the operator's
    figure) times the group's hours, rounded up to the kopeck (qbeckson's
    ModuleNormativePriceCalculator: normative per hour × the module's hours)."""
    return -(-per_hour_kopecks * minutes // 60)


def needs_normative(registry: str, certified: bool) -> bool:
    """Only a certified program is paid from certificates: the others have no normative."""
    return registry == "certified" and certified


class NormativeNotSet(Conflicting):
    code = "normative_not_set"

    def __init__(self, municipality: str) -> None:
        super().__init__(
            f"Норматив стоимости часа для муниципалитета {municipality} не установлен оператором"
        )


class MoneyTermsLocked(Conflicting):
    code = "money_terms_locked"

    def __init__(self) -> None:
        super().__init__(
            "Цену и норматив группы нельзя менять, пока в ней есть зачисленные дети или "
            "занятые места: изменение применяется к новым договорам"
        )


def check_money_terms_change(changing: bool, held: int, enrolled: int) -> None:
    """A group's price and normative are the terms of its contracts and held applications:
    they change only while nobody is enrolled and no seat is held."""
    if changing and held + enrolled > 0:
        raise MoneyTermsLocked()


def months_touched(start: date, end: date) -> int:
    """Calendar months from start's month to end's month inclusive (Sep 15..Oct 2 -> 2)."""
    if start > end:
        raise ValueError("start is after end")
    return (end.year - start.year) * 12 + end.month - start.month + 1


def monthly_price_kopecks(price_kopecks: int, start_date: date, end_date: date) -> int:
    """The group's price per month, for the "maximum price per month" search filter.

    ``price_kopecks`` is the price of the whole group period; it is spread evenly over the
    calendar months the period touches, a partly covered month counting as a whole one
    (Sep 1..May 31 -> 9 months; Sep 15..Dec 27 -> 4). That is the same month set the
    contract's monthly schedule uses, and it needs no day weights, so the figure is stable
    and easy to explain to a parent. Rounded up to the kopeck, so a group shown under a
    limit never costs more than the limit on average.
    """
    if isinstance(price_kopecks, bool) or not isinstance(price_kopecks, int):
        raise TypeError("price_kopecks must be an int")
    if price_kopecks < 0:
        raise ValueError("price_kopecks is negative")
    return -(-price_kopecks // months_touched(start_date, end_date))


# --- search -----------------------------------------------------------------------------

_DASHES = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"})
_HYPHEN_RUNS = re.compile(r"-{2,}")


def normalize_search_text(text: str, max_len: int = 200) -> str:
    """Clean a free-text search query before it reaches PostgreSQL full-text search.

    Lower case, "ё" -> "е", every character that is not a letter, a digit, a space or a
    hyphen becomes a space, whitespace collapses, and the result is cut to ``max_len``.
    Hyphens survive only inside words ("3d-моделирование"): a leading one would read as
    "NOT" to websearch_to_tsquery.
    """
    if max_len < 1:
        raise ValueError("max_len must be positive")
    # NFKC first: composes "й"/"ё" typed as letter + combining mark, unfolds ligatures.
    text = unicodedata.normalize("NFKC", text).lower().replace("ё", "е").translate(_DASHES)
    kept = "".join(c if c.isalnum() or c == "-" else " " for c in text)
    words = (_HYPHEN_RUNS.sub("-", word).strip("-") for word in kept.split())
    return " ".join(word for word in words if word)[:max_len].rstrip(" -")


# --- distance ---------------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points given in degrees, in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def program_payment_type(registry: str, certified: bool) -> str:
    """How a parent pays for a published program: a program of the ``certified`` registry is
    paid from a certificate only once certified; until then the parent pays for it."""
    kind = payment_type(registry)
    if kind == "certificate" and not payable_by_certificate(registry, certified):
        return "own_money"
    return kind


MAX_QUERY_WORDS = 8
MAX_WORD_LENGTH = 40
PREFIX_MIN_LENGTH = 3
TYPO_MIN_LENGTH = 5  # only "long" words are corrected: a short one has too many neighbours


def search_words(text: str) -> list[str]:
    """The words of a search query, normalized (lower case, ё -> е, no punctuation); hyphenated
    words are split, because the index holds their parts too. At most MAX_QUERY_WORDS."""
    words = normalize_search_text(text, max_len=400).replace("-", " ").split()
    return [word[:MAX_WORD_LENGTH] for word in words][:MAX_QUERY_WORDS]


def tsquery_text(words: Iterable[str]) -> str:
    """A to_tsquery('russian', ...) expression: every word must match, and a word of three
    letters or more also matches as a prefix, so a parent typing "робот" finds
    "Робототехника". Words must come from ``search_words`` (letters and digits only)."""
    terms = []
    for word in words:
        if not word or not all(c.isalnum() for c in word):
            raise ValueError(f"not a search word: {word!r}")
        terms.append(f"{word}:*" if len(word) >= PREFIX_MIN_LENGTH else word)
    return " & ".join(terms)


# --- who may see and do what -------------------------------------------------------------

PrincipalLike = Principal | Mapping[str, object] | None  # an RPC dict is read as a Principal


def managed_scope(principal: PrincipalLike) -> Scope:
    """The organizations a principal manages, and so sees everything of (drafts, a pending
    status): the regional operator all of them, a municipal operator those of their
    municipality, a provider their own organization; anyone else none.

    What a principal sees is the public part (PUBLIC_*_STATUSES) plus this scope; an
    internal call (another service) is given ``EVERYTHING`` by name."""
    return staff_authority(Principal.from_rpc(principal))


def manages_organization(
    principal: PrincipalLike, organization_id: int, municipality_code: str
) -> bool:
    """Staff of the organization, the regional operator, and the municipal operator of the
    organization's municipality see everything of it (drafts, pending status)."""
    return managed_scope(principal).covers(
        organization_id=organization_id, municipality_code=municipality_code
    )


def sees_organization(scope: Scope, status: str, organization_id: int, municipality: str) -> bool:
    """The rule of who sees an organization, for a row in hand (SQL: operations.py)."""
    return status in PUBLIC_ORGANIZATION_STATUSES or scope.covers(
        organization_id=organization_id, municipality_code=municipality
    )


def sees_program(scope: Scope, status: str, organization_id: int, municipality: str) -> bool:
    """A program (and its groups) is seen when public or when its organization is managed."""
    return status in PUBLIC_PROGRAM_STATUSES or scope.covers(
        organization_id=organization_id, municipality_code=municipality
    )


def edits_organization(principal: PrincipalLike, organization_id: int) -> bool:
    """Only the organization's own staff create and change its programs and groups."""
    who = Principal.from_rpc(principal)
    return who.role == PROVIDER and who.organization_id == organization_id


def changes_organization_details(principal: PrincipalLike, organization_id: int) -> bool:
    """Its own staff and the regional operator change an organization's details."""
    who = Principal.from_rpc(principal)
    return edits_organization(who, organization_id) or who.role == REGIONAL_OPERATOR


# INN and municipality decide who oversees an organization (its municipal operator)
OVERSIGHT_FIELDS = ("inn", "municipality_code")


def staff_may_act(organization_status: str) -> bool:
    """A suspended organization's staff can do nothing: not change it, not create or change
    programs and groups, not open enrollment (accounts refuses them children too)."""
    return organization_status != "suspended"


def status_after_details_change(
    principal: PrincipalLike, status: str, before: Mapping[str, object], changes: Mapping
) -> str:
    """The organization's status after a change of its details. The regional operator
    changes INN and municipality as they are; when the organization's own staff change them,
    an approved organization goes back to approval (`pending`): otherwise oversight would
    silently move to another municipality's operator."""
    who = Principal.from_rpc(principal)
    moved = any(f in changes and changes[f] != before.get(f) for f in OVERSIGHT_FIELDS)
    if moved and who.role != REGIONAL_OPERATOR and status == "active":
        return "pending"
    return status


def reviews_programs(principal: PrincipalLike) -> bool:
    """Only the regional operator approves organizations and reviews programs."""
    return Principal.from_rpc(principal).role == REGIONAL_OPERATOR


def check_may_register_organization(principal: PrincipalLike) -> None:
    """A provider already attached to an organization does not register another one."""
    who = Principal.from_rpc(principal)
    if who.role == PROVIDER and who.organization_id:
        raise AlreadyInOrganization()


def creates_programs_for(principal: PrincipalLike) -> int | None:
    """The organization a principal creates programs for: a provider's own, else None."""
    who = Principal.from_rpc(principal)
    return who.organization_id if who.role == PROVIDER and who.organization_id else None


# --- search input -----------------------------------------------------------------------

SEARCH_DEFAULTS = {"limit": 20, "offset": 0, "sort": "relevance"}


def check_search_filters(filters: Mapping[str, object]) -> dict[str, object]:
    """A search's filters with defaults; a sort or a point that cannot work is refused."""
    clean = {**SEARCH_DEFAULTS, **filters}
    if clean["sort"] not in SEARCH_SORTS:
        raise InvalidField(
            "sort", "неизвестный порядок", "invalid_input", title="Неизвестный порядок"
        )
    if (clean.get("lat") is None) != (clean.get("lon") is None):
        raise InvalidField(
            "lat", "укажите lat и lon", "invalid_input", title="Точка задаётся широтой и долготой"
        )
    if clean.get("lat") is None and (
        clean["sort"] == "distance" or clean.get("radius_km") is not None
    ):
        raise InvalidField(
            "lat", "укажите lat и lon", "invalid_input", title="Для расстояния нужна точка"
        )
    return clean


# --- search results ---------------------------------------------------------------------


def summarize_groups(groups: Iterable[Mapping[str, object]]) -> dict[str, object]:
    """The summary a search result shows for the groups of one program that matched the
    filters: how many, free seats in all, the cheapest per month, the nearest (when a
    point was given) and the earliest start. Ties go to the lower group id."""
    rows = sorted(groups, key=lambda g: g["group_id"])
    if not rows:
        raise ValueError("a program in the results has at least one matching group")
    cheapest = min(rows, key=lambda g: g["monthly_price_kopecks"])
    located = [g for g in rows if g.get("distance_km") is not None]
    nearest = min(located, key=lambda g: g["distance_km"]) if located else None
    return {
        "found": len(rows),
        "free_seats": sum(int(g["free_seats"]) for g in rows),
        "cheapest": {
            "group_id": cheapest["group_id"],
            "monthly_price_kopecks": cheapest["monthly_price_kopecks"],
        },
        "nearest": None
        if nearest is None
        else {
            "group_id": nearest["group_id"],
            "distance_km": round(float(nearest["distance_km"]), 2),
            "address": nearest["address"],
        },
        "earliest_start": min(g["start_date"] for g in rows),
    }


KM_PER_DEGREE = 111.195  # of latitude, on a sphere of EARTH_RADIUS_KM


def bounding_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) of a box that contains every point within
    ``radius_km`` of (lat, lon): a cheap index prefilter before the exact haversine."""
    d_lat = radius_km / KM_PER_DEGREE
    cos_lat = math.cos(math.radians(min(89.0, abs(lat) + d_lat)))
    d_lon = min(180.0, radius_km / (KM_PER_DEGREE * max(cos_lat, 1e-6)))
    return lat - d_lat, lat + d_lat, lon - d_lon, lon + d_lon
