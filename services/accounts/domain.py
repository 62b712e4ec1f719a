"""Rules of the accounts service: roles, personal data of children, passwords, login
throttling and refresh tokens.

Plain Python only: no Nameko, no SQLAlchemy, no marshmallow. The service and its schemas
call these functions; the unit tests call them directly.

Messages are in Russian (they reach parents through the gateway); every error also has a
stable English ``code``.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

import icu

from contracts.ages import age_on
from contracts.principal import Principal
from contracts.refusals import FieldCollector, InvalidField, InvalidFields, Refusal
from contracts.roles import MUNICIPAL_OPERATOR, PARENT, PROVIDER, REGIONAL_OPERATOR, ROLES
from contracts.roles import STAFF_ROLES as _STAFF_ROLES
from contracts.scope import Scope, staff_authority

__all__ = [  # the shared words this module's callers and tests have always imported from it
    "MUNICIPAL_OPERATOR",
    "PARENT",
    "PROVIDER",
    "REGIONAL_OPERATOR",
    "ROLES",
    "InvalidField",
    "InvalidFields",
    "Principal",
    "age_on",
]

# --- errors -----------------------------------------------------------------------------


class WeakPassword(Refusal, ValueError):
    """The password does not satisfy the password policy (``code`` says which rule)."""

    def __init__(self, message: str, code: str = "weak_password") -> None:
        super().__init__(message)
        self.code = code

    @property
    def fields(self) -> dict[str, list[str]]:
        return {"password": [self.message]}


# --- roles ------------------------------------------------------------------------------

STAFF_ROLES = frozenset(_STAFF_ROLES)


def can_create_staff(
    creator_role: str,
    creator_municipality_code: str | None,
    new_role: str,
    new_municipality_code: str | None,
) -> bool:
    """May a user of ``creator_role`` create a staff account of ``new_role``?

    ``new_municipality_code`` is the municipality of the new provider's organization, or
    of the new municipal operator. Parents register themselves; nobody creates them.
    """
    if new_role not in STAFF_ROLES:
        return False
    if creator_role == REGIONAL_OPERATOR:
        return True
    if creator_role == MUNICIPAL_OPERATOR:
        return (
            new_role == PROVIDER
            and creator_municipality_code is not None
            and new_municipality_code is not None
            and creator_municipality_code == new_municipality_code
        )
    return False


# --- SNILS ------------------------------------------------------------------------------

# The check number is verified only for numbers above 001-001-998 (Pension Fund rule).
SNILS_CHECKED_FROM = 1_001_999
_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014\u2212]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def snils_check_number(first_nine_digits: str) -> int:
    """Check number of a SNILS: weights 9..1 over the first nine digits, reduced mod 101."""
    if len(first_nine_digits) != 9 or not _ASCII_DIGITS.fullmatch(first_nine_digits):
        raise ValueError("a SNILS number is nine digits before the check number")
    weights = range(9, 0, -1)
    total = sum(
        int(digit) * weight for digit, weight in zip(first_nine_digits, weights, strict=True)
    )
    if total < 100:
        return total
    if total in (100, 101):
        return 0
    remainder = total % 101
    return 0 if remainder == 100 else remainder


def _snils_digits(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    digits = _SEPARATORS.sub("", text)
    if len(digits) != 11 or not _ASCII_DIGITS.fullmatch(digits):
        return None
    return digits


def _snils_problem(digits: str) -> str | None:
    number = digits[:9]
    if len(set(number)) == 1:
        return "СНИЛС не может состоять из одной повторяющейся цифры"
    if int(number) < SNILS_CHECKED_FROM:
        return None
    if snils_check_number(number) != int(digits[9:]):
        return "неверное контрольное число СНИЛС"
    return None


def is_valid_snils(snils: str) -> bool:
    """True for a well-formed SNILS ("112-233-445 95" or "11223344595") with a right check."""
    digits = _snils_digits(snils)
    return digits is not None and _snils_problem(digits) is None


def normalize_snils(text: str, field: str = "snils") -> str:
    """The SNILS as 11 digits, or InvalidField when malformed or the check number is wrong."""
    digits = _snils_digits(text)
    if digits is None:
        raise InvalidField(field, "СНИЛС должен состоять из 11 цифр: 123-456-789 01", "format")
    problem = _snils_problem(digits)
    if problem is not None:
        raise InvalidField(field, problem, "checksum")
    return digits


def format_snils(snils: str) -> str:
    """'11223344595' -> '112-233-445 95' (no check-number validation)."""
    digits = _snils_digits(snils)
    if digits is None:
        raise InvalidField("snils", "СНИЛС должен состоять из 11 цифр", "format")
    return f"{digits[0:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:11]}"


def mask_snils(snils: str) -> str:
    """'11223344595' -> '***-***-445 95'; anything not a SNILS is masked as a document."""
    digits = _snils_digits(snils)
    if digits is None:
        return mask_document(snils)
    return f"***-***-{digits[6:9]} {digits[9:11]}"


def mask_document(value: str | None, keep: int = 2) -> str:
    """'123456' -> '****56'. Values shorter than 2*keep are masked entirely."""
    if not value:
        return ""
    text = value.strip()
    if len(text) < 2 * keep:
        return "*" * len(text)
    return "*" * (len(text) - keep) + text[-keep:]


# --- birth certificate ------------------------------------------------------------------


class BirthCertificate(NamedTuple):
    series: str  # "IV-БА"
    number: str  # "123456"


# Canonical Roman numerals 1..399 (only I, V, X, L, C are used in series).
_ROMAN = re.compile(r"(?=[IVXLC])C{0,3}(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")
_SERIES = re.compile(r"[IVXLC]+-[А-ЯЁ]{2}")
# Letters people type in the wrong layout: Cyrillic look-alikes in the Roman part, Latin
# look-alikes in the Cyrillic part.
_TO_ROMAN = str.maketrans({"І": "I", "Х": "X", "С": "C", "Ⅰ": "I", "Ⅴ": "V", "Ⅹ": "X"})
_TO_CYRILLIC = str.maketrans("ABCEHKMOPTXY", "АВСЕНКМОРТХУ")


def normalize_birth_certificate(series: str, number: str) -> BirthCertificate:
    """A Russian birth certificate: series "IV-БА" (Roman numeral, hyphen, two Cyrillic
    capitals) and a 6-digit number. Accepts "iv ба", "IVБА", "IV–БА", "123 456"."""
    if not isinstance(series, str) or not isinstance(number, str):
        raise InvalidField("birth_certificate_series", "укажите серию и номер", "required")
    compact = _SEPARATORS.sub("-", series.strip().upper())
    roman, _, letters = compact.partition("-")
    if not letters:  # "IVБА": split where the Cyrillic letters start
        cut = len(compact) - 2
        roman, letters = compact[:cut], compact[cut:]
    roman = roman.translate(_TO_ROMAN)
    letters = letters.translate(_TO_CYRILLIC)
    candidate = f"{roman}-{letters}"
    if not _SERIES.fullmatch(candidate) or not _ROMAN.fullmatch(roman):
        raise InvalidField(
            "birth_certificate_series",
            "серия свидетельства о рождении: римское число, дефис и две русские буквы, "
            "например IV-БА",
            "format",
        )
    digits = _SEPARATORS.sub("", number)
    if len(digits) != 6 or not _ASCII_DIGITS.fullmatch(digits):
        raise InvalidField(
            "birth_certificate_number", "номер свидетельства о рождении: 6 цифр", "format"
        )
    return BirthCertificate(candidate, digits)


# --- child data -------------------------------------------------------------------------

CHILD_MAX_AGE_YEARS = 18
NAME_MAX_LENGTH = 100
SEXES = frozenset({"male", "female"})


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def check_birth_date(
    birth_date: date, today: date, max_age_years: int = CHILD_MAX_AGE_YEARS
) -> None:
    """A child's birth date is not in the future and the child is not yet 18 (on the 18th
    birthday the person is an adult and cannot be registered as a child)."""
    if not isinstance(birth_date, date):
        raise InvalidField("birth_date", "укажите дату рождения", "required")
    birth_date, today = _as_date(birth_date), _as_date(today)
    if birth_date > today:
        raise InvalidField("birth_date", "дата рождения не может быть в будущем", "in_future")
    if age_on(birth_date, today) >= max_age_years:
        raise InvalidField(
            "birth_date", f"ребёнку должно быть меньше {max_age_years} лет", "too_old"
        )


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_HYPHENS = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2212"})
_NAME_SEPARATOR = re.compile(r"\s*([-'])\s*")
_DOUBLE_SEPARATOR = re.compile(r"[ \-']{2}")


def _is_cyrillic_letter(char: str) -> bool:
    return char.isalpha() and unicodedata.name(char, "").startswith("CYRILLIC")


def normalize_person_name(value: str | None, field: str, required: bool = True) -> str | None:
    """A surname, first name or patronymic of a child, as written in a Russian document.

    Only Cyrillic letters (Russian and the other Cyrillic alphabets, e.g. Khakas), single
    hyphens, spaces and apostrophes between letters; 1..100 characters after whitespace is
    collapsed. Latin letters are refused: the name must match the birth certificate, and a
    look-alike Latin letter would make the same name two different strings.
    An empty optional name (a patronymic) gives None.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidField(field, "обязательное поле", "required")
        return None
    if not isinstance(value, str):
        raise InvalidField(field, "должно быть строкой", "type")
    text = unicodedata.normalize("NFC", value).translate(_APOSTROPHES).translate(_HYPHENS)
    text = " ".join(text.split())
    text = _NAME_SEPARATOR.sub(r"\1", text)
    if len(text) > NAME_MAX_LENGTH:
        raise InvalidField(field, f"не длиннее {NAME_MAX_LENGTH} символов", "too_long")
    if any(not _is_cyrillic_letter(c) and c not in " -'" for c in text):
        raise InvalidField(
            field, "допустимы только русские буквы, дефис, пробел и апостроф", "characters"
        )
    if (
        not _is_cyrillic_letter(text[0])
        or not _is_cyrillic_letter(text[-1])
        or _DOUBLE_SEPARATOR.search(text)
    ):
        raise InvalidField(
            field, "дефис, пробел и апостроф допустимы только между буквами", "separators"
        )
    return text


def normalize_sex(value: str | None) -> str:
    """'male' or 'female'."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in SEXES:
        raise InvalidField("sex", "укажите пол: male или female", "choice")
    return text


# --- e-mail -----------------------------------------------------------------------------

_EMAIL_LOCAL = re.compile(r"[^\s@\"(),:;<>\[\]\\]+")
_DOMAIN_LABEL = re.compile(r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?")
# invisible or layout-changing characters: controls, format (zero-width, bidi, BOM),
# surrogates, private use, unassigned, and every kind of space or separator
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def canonical_email(email: object) -> str:
    """The form an address is stored and looked up in: NFKC (fullwidth and other
    compatibility forms become plain letters), stripped and lower-cased. No validation:
    login looks up what it is given; registration validates with normalize_email."""
    if not isinstance(email, str):
        return ""
    return unicodedata.normalize("NFKC", email).strip().lower()


def _script(char: str) -> str | None:
    """The script of a letter ("LATIN", "CYRILLIC", ...); None for digits and punctuation."""
    if not char.isalpha():
        return None
    return unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]


def _mixes_scripts(text: str) -> bool:
    return len({s for s in map(_script, text) if s is not None}) > 1


# Unicode's own property (DerivedCoreProperties), as ICU has it: the combining grapheme
# joiner, variation selectors, Khmer and Mongolian fillers and the like, which category
# checks missed (U+034F, U+FE0F, U+E0100, U+17B4 and U+180B are Mn or Lo)
_DEFAULT_IGNORABLE = icu.UnicodeSet("[:Default_Ignorable_Code_Point:]")
_SPOOF = icu.SpoofChecker()


def skeleton(text: str) -> str:
    """Unicode TR39's confusable skeleton (ICU's): texts that look alike have equal ones
    ("provıder1" and "provider1" are both "providerl")."""
    return _SPOOF.getSkeleton(0, text)


def email_skeleton(email: str) -> str:
    """What an address looks like, to compare with the addresses registered: the TR39
    skeleton of the canonical address with its combining marks dropped first ("İ" lowered
    is "i" with a dot above: "provi̇der1" looks like "provider1")."""
    bare = "".join(
        c for c in unicodedata.normalize("NFD", email) if unicodedata.category(c) != "Mn"
    )
    return skeleton(bare)


def _imitates_ascii(part: str) -> bool:
    """A part written with letters outside ASCII that all look like ASCII ones (all-Cyrillic
    "ѕсһооӏ1", "provıder1"): a whole-script lookalike of an ASCII address."""
    return not part.isascii() and skeleton(part).isascii()


def normalize_email(email: str | None) -> str:
    """The canonical address (canonical_email), refused when it is obviously not one, holds
    an invisible or control character, or mixes scripts within the local part or a domain
    label: "pаrent@navigator.example" with a Cyrillic "а" is not a second "parent@...".
    Cyrillic domains (.рф) written in one script are allowed."""
    if not isinstance(email, str) or not email.strip():
        raise InvalidField("email", "укажите адрес электронной почты", "required")
    if any(
        unicodedata.category(c) in _INVISIBLE_CATEGORIES or _DEFAULT_IGNORABLE.contains(c)
        for c in email.strip()
    ):
        raise InvalidField(
            "email",
            "адрес содержит невидимые или управляющие символы",
            "invisible_characters",
        )
    text = canonical_email(email)
    local, at, domain = text.rpartition("@")
    labels = domain.split(".")
    if (
        not at
        or len(text) > 254
        or len(local) > 64
        or not _EMAIL_LOCAL.fullmatch(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidField("email", "неверный адрес электронной почты", "format")
    if _mixes_scripts(local) or any(_mixes_scripts(label) for label in labels):
        raise InvalidField(
            "email",
            "адрес смешивает буквы разных алфавитов (например, латинские и русские)",
            "mixed_scripts",
        )
    if any(_imitates_ascii(part) for part in (local, *labels)):
        raise InvalidField(
            "email",
            "адрес написан буквами, которые только похожи на латинские",
            "lookalike",
        )
    return text


# --- passwords --------------------------------------------------------------------------

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128
_COMMON_PASSWORDS_FILE = Path(__file__).with_name("data") / "common-passwords.txt"
# A Russian word typed with the Latin layout ("gfhjkm" = "пароль") is just as common.
_RU_TO_LATIN_KEYS = str.maketrans(
    "йцукенгшщзхъфывапролджэячсмитьбюё", "qwertyuiop[]asdfghjkl;'zxcvbnm,.`"
)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-case; read once, on first use."""
    with _COMMON_PASSWORDS_FILE.open(encoding="utf-8") as lines:
        return frozenset(s for line in lines if (s := line.strip().lower()))


def _character_classes(password: str) -> int:
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )


def check_password(password: str, email: str | None = None, full_name: str | None = None) -> None:
    """Raise WeakPassword unless the password is 10..128 characters, not a common password,
    does not contain the e-mail's local part or a part of the name, has at least two
    character classes (lower, upper, digit, other) and at least 4 different characters."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPassword(
            f"пароль должен быть не короче {PASSWORD_MIN_LENGTH} символов", "too_short"
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise WeakPassword(
            f"пароль должен быть не длиннее {PASSWORD_MAX_LENGTH} символов", "too_long"
        )
    lowered = password.lower()
    common = common_passwords()
    if lowered in common or lowered.translate(_RU_TO_LATIN_KEYS) in common:
        raise WeakPassword("этот пароль слишком распространён, выберите другой", "common")
    if email:
        local = email.strip().lower().rpartition("@")[0] or email.strip().lower()
        # "ivan.petrov@..." also forbids "petrov" alone.
        pieces = [local] + [p for p in re.split(r"[._+\-]", local) if len(p) >= 4]
        if any(len(piece) >= 3 and piece in lowered for piece in pieces):
            raise WeakPassword("пароль не должен содержать адрес электронной почты", "email")
    if full_name:
        for part in full_name.lower().split():
            if len(part) >= 3 and part in lowered:
                raise WeakPassword("пароль не должен содержать имя или фамилию", "name")
    if _character_classes(password) < 2:
        raise WeakPassword(
            "пароль должен содержать символы хотя бы двух видов: строчные и заглавные "
            "буквы, цифры, знаки",
            "classes",
        )
    if len(set(lowered)) < 4:
        raise WeakPassword("в пароле слишком мало разных символов", "repetitive")


# --- login throttling -------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottleDecision:
    allowed: bool
    retry_after_seconds: int  # 0 when allowed


class LoginThrottle:
    """Whether a login attempt may be checked, given the recent failures of one key (an
    account or an IP address). The caller counts failures in ``window`` ending now and
    calls ``decide`` for each key; a refused attempt is not checked and is not a failure.

    - from ``lock_after`` failures on: locked for ``lock_for`` after the last failure
      (``lock_after=None``: never locked, only slowed);
    - from ``delay_after`` failures on: wait ``base_delay * 2**(n - delay_after)`` after
      the last failure (1 s after 3 failures, 2 s after 4 with the defaults), at most
      ``max_delay``.
    """

    def __init__(
        self,
        lock_after: int | None = 5,
        window: timedelta = timedelta(minutes=15),
        lock_for: timedelta = timedelta(minutes=15),
        delay_after: int = 3,
        base_delay: timedelta = timedelta(seconds=1),
        max_delay: timedelta = timedelta(minutes=15),
    ) -> None:
        if not 0 < delay_after <= (lock_after if lock_after is not None else delay_after):
            raise ValueError("need 0 < delay_after <= lock_after")
        self.lock_after = lock_after
        self.window = window
        self.lock_for = lock_for
        self.delay_after = delay_after
        self.base_delay = base_delay
        self.max_delay = max_delay

    def wait_after(self, failures_in_window: int) -> timedelta:
        """How long after the last failure the next attempt is allowed."""
        if self.lock_after is not None and failures_in_window >= self.lock_after:
            return self.lock_for
        if failures_in_window >= self.delay_after:
            exponent = min(failures_in_window - self.delay_after, 30)
            return min(self.base_delay * 2**exponent, self.max_delay)
        return timedelta(0)

    def decide(
        self, failures_in_window: int, last_failure_at: datetime | None, now: datetime
    ) -> ThrottleDecision:
        wait = self.wait_after(failures_in_window)
        if wait <= timedelta(0):
            return ThrottleDecision(True, 0)
        # Failures without a time are treated as just now, the safe side.
        since_last = timedelta(0) if last_failure_at is None else now - last_failure_at
        remaining = wait - max(since_last, timedelta(0))  # a failure "in the future": skew
        if remaining <= timedelta(0):
            return ThrottleDecision(True, 0)
        return ThrottleDecision(False, max(1, math.ceil(remaining.total_seconds())))


def decide_for_address(
    account: LoginThrottle,
    account_failures: int,
    own_failures: int,
    own_last_failure_at: datetime | None,
    now: datetime,
) -> ThrottleDecision:
    """The account-wide throttle as one address feels it. It slows only an address that has
    itself failed on this account, and its wait runs from that address's own last failure:
    an address with no failure (the owner's) gets its password checked, and failures from
    elsewhere cannot re-arm its wait (an attacker at four addresses, a guess every 100 ms,
    kept the owner at 429 for 85 s when the wait ran from anyone's last failure)."""
    if own_failures == 0:
        return ThrottleDecision(True, 0)
    return account.decide(account_failures, own_last_failure_at, now)


# --- refresh tokens ---------------------------------------------------------------------

RefreshCheck = Literal["ok", "grace", "reuse", "expired", "revoked"]


@dataclass(frozen=True)
class RefreshToken:
    family_id: str
    token_hash: str
    rotated_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime


def check_refresh(
    token_state: RefreshToken, now: datetime, grace: timedelta = timedelta(0)
) -> RefreshCheck:
    """What presenting this refresh token means.

    "grace": it was rotated less than ``grace`` ago, as when two tabs refresh at the same
    moment; the caller answers the pair it issued then, not a new one.
    "reuse": it was rotated before that, so someone holds a copy; the caller revokes the
    whole family. Reuse is reported even past expiry, since the copy may still be in use.
    """
    if token_state.revoked_at is not None:
        return "revoked"
    if token_state.rotated_at is not None:
        return "grace" if now - token_state.rotated_at < grace else "reuse"
    if now >= token_state.expires_at:
        return "expired"
    return "ok"


def hash_token(token: str) -> str:
    """What the database keeps instead of a refresh token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


# --- consent ----------------------------------------------------------------------------

CONSENT_TEXT_VERSION = "2026-09-01"


# --- people: parents and staff ----------------------------------------------------------

FULL_NAME_MAX_LENGTH = 200
_PHONE_DIGITS = re.compile(r"[\s\-()]+")


def normalize_full_name(value: str | None) -> str:
    """A user's full name as they write it: 1..200 characters, whitespace collapsed."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidField("full_name", "укажите фамилию, имя и отчество", "required")
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if len(text) > FULL_NAME_MAX_LENGTH:
        raise InvalidField("full_name", f"не длиннее {FULL_NAME_MAX_LENGTH} символов", "too_long")
    if not any(c.isalpha() for c in text) or any(not c.isprintable() for c in text):
        raise InvalidField("full_name", "укажите фамилию, имя и отчество буквами", "characters")
    return text


def normalize_phone(value: str | None) -> str | None:
    """A Russian phone number as +7XXXXXXXXXX ("8 (913) 123-45-67" too); empty gives None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidField("phone", "должно быть строкой", "type")
    digits = _PHONE_DIGITS.sub("", value.strip())
    if digits.startswith("+7"):
        digits = digits[2:]
    elif len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    if len(digits) != 10 or not _ASCII_DIGITS.fullmatch(digits):
        raise InvalidField("phone", "номер телефона: +7 и 10 цифр", "format")
    return "+7" + digits


def check_staff_attachment(
    role: str, organization_id: int | None, municipality_code: str | None
) -> None:
    """A provider belongs to one organization, a municipal operator to one municipality, a
    regional operator to neither; anything else is refused field by field."""
    errors = FieldCollector()
    if role not in STAFF_ROLES:
        errors.add("role", "роль сотрудника: provider, municipal_operator или regional_operator")
    if role == PROVIDER and organization_id is None:
        errors.add("organization_id", "укажите организацию сотрудника поставщика")
    if role != PROVIDER and organization_id is not None:
        errors.add("organization_id", "организация указывается только для поставщика")
    if role == MUNICIPAL_OPERATOR and not municipality_code:
        errors.add("municipality_code", "укажите муниципалитет оператора")
    if role != MUNICIPAL_OPERATOR and municipality_code:
        errors.add(
            "municipality_code", "муниципалитет указывается только для муниципального оператора"
        )
    errors.raise_if_any()


# --- children: the record and who may see it -------------------------------------------

# What a provider checks against the documents; changing any of it clears the mark.
VERIFIED_FIELDS = (
    "last_name",
    "first_name",
    "middle_name",
    "sex",
    "birth_date",
    "snils",
    "birth_certificate_series",
    "birth_certificate_number",
)
CHILD_FIELDS = VERIFIED_FIELDS + ("municipality_code",)
# What a certificate takes at issue (its nominal and its payer): not changed while money is
# reserved on it
CERTIFICATE_FIELDS = ("birth_date", "municipality_code")
MUNICIPALITY_CODE_MAX_LENGTH = 100


def normalize_child(data: dict, today: date) -> dict:
    """A child's record with every field normalized, or InvalidFields listing all problems.

    ``data`` has every field of CHILD_FIELDS (``middle_name`` may be None). Whether the
    municipality exists is a question for the catalog, asked by the caller.
    """
    errors = FieldCollector()
    record: dict = {
        "last_name": errors.check(normalize_person_name, data.get("last_name"), "last_name"),
        "first_name": errors.check(normalize_person_name, data.get("first_name"), "first_name"),
        "middle_name": errors.check(
            normalize_person_name, data.get("middle_name"), "middle_name", required=False
        ),
        "sex": errors.check(normalize_sex, data.get("sex")),
        "snils": errors.check(normalize_snils, data.get("snils")),
    }
    birth_date = data.get("birth_date")
    if isinstance(birth_date, str):  # over RPC dates travel as ISO strings
        try:
            birth_date = date.fromisoformat(birth_date)
        except ValueError:
            birth_date = None
    errors.check(check_birth_date, birth_date, today)
    record["birth_date"] = _as_date(birth_date) if isinstance(birth_date, date) else None
    certificate = errors.check(
        normalize_birth_certificate,
        data.get("birth_certificate_series"),
        data.get("birth_certificate_number"),
    )
    record["birth_certificate_series"] = certificate.series if certificate else None
    record["birth_certificate_number"] = certificate.number if certificate else None
    code = data.get("municipality_code")
    if not isinstance(code, str) or not code.strip():
        errors.add("municipality_code", "укажите муниципалитет")
    elif len(code.strip()) > MUNICIPALITY_CODE_MAX_LENGTH:
        errors.add("municipality_code", "неизвестный муниципалитет")
    record["municipality_code"] = code.strip() if isinstance(code, str) else None
    errors.raise_if_any()
    return record


def change_stamp(now: datetime, previous: datetime | None) -> datetime:
    """When a child's data changed, as `child_changed` orders it for enrollment's projection:
    the business clock, but always after the child's previous change. Every change holds the
    child's row lock, so the previous stamp it reads is the last one; a stamp that only read
    the clock (SQL's now() was a transaction's start) could order two edits of one child the
    wrong way round, and enrollment would keep the older."""
    if previous is None or now > previous:
        return now
    return previous + timedelta(microseconds=1)


def verification_survives(before: dict, after: dict) -> bool:
    """A verified mark stays only while every verified field is what the provider saw."""
    return all(before.get(name) == after.get(name) for name in VERIFIED_FIELDS)


FULL = "full"
MASKED = "masked"
Access = Literal["full", "masked"]


# Who asks is contracts.principal.Principal; accounts fills a provider's municipality_code
# with their organization's. `Viewer` is the name this module used for it before.
Viewer = Principal


def child_scope(viewer: Principal) -> Scope:
    """The children a viewer may see at all: a parent their own, the regional operator
    every child, a municipal operator the children of their municipality, a provider's staff
    the children who applied to their organization (any application, whatever became of
    it: accounts records them from enrollment's events)."""
    if viewer.role == PARENT:
        return Scope.children_of(viewer.user_id)
    return staff_authority(viewer)


def child_access(
    viewer: Principal,
    parent_id: int,
    child_municipality: str,
    applied_to: Iterable[int] = (),
) -> Access | None:
    """How much of a child's record a viewer sees; None means the child does not exist for
    them (a 404, so that its existence does not leak). ``applied_to``: the organizations the
    child applied to.

    A parent sees their own children in full; the regional operator sees every child in
    full; a municipal operator sees the children of their municipality, and a provider the
    children who applied to its organization, with SNILS and document numbers masked.
    """
    scope = child_scope(viewer)
    owners = [{"organization_id": org} for org in applied_to] or [{}]
    if not any(
        scope.covers(parent_id=parent_id, municipality_code=child_municipality, **owner)
        for owner in owners
    ):
        return None
    return access_within_scope(viewer)


def access_within_scope(viewer: Principal) -> Access:
    """How much of a child inside their scope a viewer sees: a parent and the regional
    operator everything, staff of a municipality the record with documents masked."""
    return FULL if viewer.role in (PARENT, REGIONAL_OPERATOR) else MASKED


def may_change_child(viewer: Principal, parent_id: int) -> bool:
    """Only the child's own parent changes the child's data."""
    return viewer.role == PARENT and viewer.user_id == parent_id


def may_verify_child(
    viewer: Principal, parent_id: int, child_municipality: str, applied_to: Iterable[int] = ()
) -> bool:
    """A provider who may see the child (it applied to their organization) marks its data
    checked against the documents."""
    return (
        viewer.role == PROVIDER
        and child_access(viewer, parent_id, child_municipality, applied_to) is not None
    )


def present_child(record: dict, access: Access) -> dict:
    """The record as the viewer may see it: masked SNILS and certificate number unless full."""
    shown = dict(record)
    shown["masked"] = access != FULL
    if access != FULL:
        shown["snils"] = mask_snils(record["snils"])
        shown["birth_certificate_number"] = mask_document(record["birth_certificate_number"])
    else:
        shown["snils"] = format_snils(record["snils"])
    return shown
