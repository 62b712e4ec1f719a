"""Rules of the catalog service: directions and registries, INN, the status machines of
organizations and programs, groups (seats, ages, dates, schedule, price per month), search
input and distance.

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
from datetime import date

from servicekit.money import format_kopecks, parse_money

__all__ = [
    "AGE_MAX",
    "AGE_MIN",
    "DIRECTIONS",
    "FORMATS",
    "LEVELS",
    "ORGANIZATION_STATUSES",
    "PAYMENT_TYPES",
    "PROGRAM_STATUSES",
    "REGISTRIES",
    "CapacityBelowOccupied",
    "InvalidField",
    "TransitionRefused",
    "age_on",
    "bounding_box",
    "edits_organization",
    "manages_organization",
    "program_payment_type",
    "search_words",
    "summarize_groups",
    "tsquery_text",
    "allowed_transitions",
    "check_age_range",
    "check_capacity",
    "check_capacity_change",
    "check_group_ages",
    "check_group_dates",
    "check_schedule",
    "format_kopecks",
    "free_seats",
    "haversine_km",
    "inn_check_digit",
    "inn_with_check_digits",
    "is_valid_inn",
    "months_touched",
    "monthly_price_kopecks",
    "normalize_search_text",
    "parse_money",
    "payable_by_certificate",
    "payment_type",
    "registries_for_payment_type",
    "transition",
]

# --- errors -----------------------------------------------------------------------------


class InvalidField(ValueError):
    """One input field breaks a rule; the gateway turns it into a 422 field message."""

    def __init__(self, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code


class TransitionRefused(Exception):
    """A status change that the state machine does not allow from the current status."""

    code = "transition_refused"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"переход из статуса {current!r} в {target!r} не разрешён")
        self.current = current
        self.target = target


class CapacityBelowOccupied(Exception):
    """The new capacity of a group is less than the seats already held or taken."""

    code = "capacity_below_occupied"

    def __init__(self, new_capacity: int, occupied: int) -> None:
        super().__init__(f"нельзя уменьшить число мест до {new_capacity}: занято {occupied}")
        self.new_capacity = new_capacity
        self.occupied = occupied


# --- reference lists --------------------------------------------------------------------

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

ORGANIZATION_STATUSES = ("pending", "active", "suspended")
PROGRAM_STATUSES = ("draft", "on_review", "published", "archived")

_TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "organization": {
        "pending": ("active",),
        "active": ("suspended",),
        "suspended": ("active",),  # reinstatement
    },
    "program": {
        "draft": ("on_review",),
        "on_review": ("published", "draft"),  # published, or rejected back to draft
        "published": ("archived",),
        "archived": (),
    },
}


def allowed_transitions(kind: str, current: str) -> tuple[str, ...]:
    """Statuses that an ``organization`` or a ``program`` may move to from ``current``."""
    try:
        machine = _TRANSITIONS[kind]
    except KeyError:
        raise ValueError(f"unknown status machine {kind!r}") from None
    return machine.get(current, ())


def transition(kind: str, current: str, target: str) -> str:
    """The new status, or TransitionRefused when ``kind`` may not go from current to target.

    Staying in the same status is refused too: the caller decides whether a repeat is a
    harmless replay (idempotency) or an error.
    """
    if target not in allowed_transitions(kind, current):
        raise TransitionRefused(current, target)
    return target


# --- ages -------------------------------------------------------------------------------

# Additional education serves children from pre-school age up to school leavers.
AGE_MIN = 3
AGE_MAX = 18


def _birthday_in(year: int, birth_date: date) -> date:
    # Born on 29 February: in a common year the birthday is 28 February (Civil Code, 192).
    if birth_date.month == 2 and birth_date.day == 29:
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    return birth_date.replace(year=year)


def age_on(birth_date: date, on_date: date) -> int:
    """Completed years of age on ``on_date``."""
    if on_date < birth_date:
        raise ValueError("on_date is before birth_date")
    years = on_date.year - birth_date.year
    return years if on_date >= _birthday_in(on_date.year, birth_date) else years - 1


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


# --- who may do what --------------------------------------------------------------------


def manages_organization(
    principal: Mapping[str, object] | None, organization_id: int, municipality_code: str
) -> bool:
    """Staff of the organization, the regional operator, and the municipal operator of the
    organization's municipality see everything of it (drafts, pending status)."""
    if not principal:
        return False
    role = principal.get("role")
    if role == "regional_operator":
        return True
    if role == "municipal_operator":
        return principal.get("municipality_code") == municipality_code
    return role == "provider" and principal.get("organization_id") == organization_id


def edits_organization(principal: Mapping[str, object] | None, organization_id: int) -> bool:
    """Only the organization's own staff create and change its programs and groups."""
    return bool(
        principal
        and principal.get("role") == "provider"
        and principal.get("organization_id") == organization_id
    )


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
