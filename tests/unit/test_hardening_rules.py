"""The rules behind issue 13's fixes, without a server: e-mail lookalikes, throttles that
only slow, the refresh grace period, text no route accepts, and sealed values."""

from datetime import UTC, datetime, timedelta

import pytest

from gateway.input import MAX_DEPTH, check_json_text
from servicekit import sealing
from servicekit.errors import InvalidInput
from services.accounts.domain import (
    InvalidField,
    LoginThrottle,
    RefreshToken,
    canonical_email,
    check_refresh,
    normalize_email,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "email, code",
    [
        ("p\u0430rent@navigator.example", "mixed_scripts"),
        ("parent@navig\u0430tor.example", "mixed_scripts"),
        ("par\u200bent@navigator.example", "invisible_characters"),
        ("\ufeffparent@navigator.example", "invisible_characters"),
        ("parent\u202e@navigator.example", "invisible_characters"),
        ("parent\u0000@navigator.example", "invisible_characters"),
        ("pa rent@navigator.example", "invisible_characters"),
    ],
)
def test_email_lookalikes_are_refused(email, code):
    with pytest.raises(InvalidField) as refused:
        normalize_email(email)
    assert refused.value.code == code and refused.value.field == "email"


def test_fullwidth_letters_are_the_plain_address():
    assert normalize_email("ｐａｒｅｎｔ＠Navigator.example") == "parent@navigator.example"
    assert canonical_email(" ＰＡＲＥＮＴ@navigator.example") == "parent@navigator.example"


def test_an_address_in_one_other_script_is_allowed():
    assert normalize_email("Мария@Почта.РФ") == "мария@почта.рф"


def test_a_throttle_without_a_lock_only_slows_up_to_its_ceiling():
    throttle = LoginThrottle(lock_after=None, delay_after=10, max_delay=timedelta(seconds=8))
    assert throttle.wait_after(9) == timedelta(0)
    assert throttle.wait_after(10) == timedelta(seconds=1)
    assert throttle.wait_after(12) == timedelta(seconds=4)
    assert throttle.wait_after(10_000) == timedelta(seconds=8)
    assert throttle.decide(10_000, NOW, NOW).retry_after_seconds == 8


def test_a_limit_is_a_throttle_that_locks_at_once():
    limit = LoginThrottle(lock_after=10, delay_after=10, lock_for=timedelta(minutes=10))
    assert limit.decide(9, NOW, NOW).allowed
    assert limit.decide(10, NOW, NOW).retry_after_seconds == 600


def _rotated(seconds_ago: float) -> RefreshToken:
    return RefreshToken(
        "family", "hash", NOW - timedelta(seconds=seconds_ago), None, NOW + timedelta(days=1)
    )


def test_a_rotated_token_within_the_grace_period_is_a_second_tab():
    assert check_refresh(_rotated(1), NOW, timedelta(seconds=30)) == "grace"


def test_a_rotated_token_after_the_grace_period_is_reuse():
    assert check_refresh(_rotated(31), NOW, timedelta(seconds=30)) == "reuse"
    assert check_refresh(_rotated(0), NOW) == "reuse"  # no grace given: none


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "a\x00b"}, "email"),
        ({"child": {"name": "x\x07"}}, "child.name"),
        ({"list": ["ok", "\ud800"]}, "list.1"),
        ({"bad\x00key": 1}, "bad\x00key"),
    ],
)
def test_control_characters_and_lone_surrogates_are_refused_with_their_field(body, field):
    with pytest.raises(InvalidInput) as refused:
        check_json_text(body)
    assert field in refused.value.fields


def test_json_deeper_than_any_route_needs_is_refused():
    deep: dict = {}
    cursor = deep
    for _ in range(MAX_DEPTH + 1):
        cursor["a"] = {}
        cursor = cursor["a"]
    with pytest.raises(InvalidInput) as refused:
        check_json_text(deep)
    assert refused.value.code == "too_deep"
    check_json_text({"schedule": [{"weekday": 1, "start": "10:00\n"}]})  # tabs, newlines: fine


def test_a_sealed_value_opens_only_with_its_secret_and_context():
    sealed = sealing.seal("the-key", "user:1", {"snils": "112-233-445 95"})
    assert "112" not in sealed
    assert sealing.unseal("the-key", "user:1", sealed) == {"snils": "112-233-445 95"}
    for secret, context in (("other-key", "user:1"), ("the-key", "user:2")):
        with pytest.raises(ValueError):
            sealing.unseal(secret, context, sealed)


# --- issue 24: the account-wide wait is felt only by addresses that failed on it ----------


def test_the_account_wide_wait_spares_an_address_without_failures():
    from services.accounts.domain import decide_for_address

    account = LoginThrottle(lock_after=None, delay_after=10, max_delay=timedelta(seconds=8))
    owner = decide_for_address(account, 10_000, 0, None, NOW)
    assert owner.allowed
    attacker = decide_for_address(account, 10_000, 3, NOW - timedelta(seconds=1), NOW)
    assert not attacker.allowed and attacker.retry_after_seconds == 7
    # the wait runs from this address's own last failure, not from anyone's
    own = decide_for_address(account, 10_000, 1, NOW - timedelta(seconds=9), NOW)
    assert own.allowed


# --- issue 24: one text rule for every field ----------------------------------------------


def test_the_invisible_ranges_are_unicodes_format_and_separator_characters():
    import sys
    import unicodedata

    from gateway.input import _INVISIBLE, INVISIBLE_RANGES

    wanted = {
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cf", "Zl", "Zp")
    }
    found = {chr(c) for c in range(sys.maxunicode + 1) if _INVISIBLE.fullmatch(chr(c))}
    assert found == wanted, INVISIBLE_RANGES


@pytest.mark.parametrize(
    "text",
    ["Группа\x9b1", "Группа \u202e1", "Группа\u20281", "Гру\u200bппа", "\ufeffГруппа", "a\x85b"],
)
def test_c1_controls_and_invisible_characters_are_refused(text):
    from gateway.input import text_problem

    assert text_problem(text) is not None


def test_ordinary_text_passes_the_text_rule():
    from gateway.input import text_problem

    assert text_problem("Робототехника: 5–7 лет, «Кванториум»\nвторая строка\tтаб") is None


# --- issue 24: lookalike e-mails, by Unicode's properties and TR39 skeletons --------------


@pytest.mark.parametrize(
    "email, code",
    [
        ("parent\u034f@navigator.example", "invisible_characters"),  # combining grapheme joiner
        ("parent\ufe0f@navigator.example", "invisible_characters"),  # variation selector 16
        ("parent\U000e0100@navigator.example", "invisible_characters"),  # variation sel. 17
        ("par\u17b4ent@navigator.example", "invisible_characters"),  # Khmer vowel inherent
        ("par\u180bent@navigator.example", "invisible_characters"),  # Mongolian FVS1
        ("prov\u0131der1@navigator.example", "lookalike"),  # dotless ı
        ("\u0455\u0441\u04bb\u043e\u043e\u04cf1@navigator.example", "lookalike"),  # ѕсһооӏ1
    ],
)
def test_default_ignorable_and_whole_script_lookalikes_are_refused(email, code):
    with pytest.raises(InvalidField) as refused:
        normalize_email(email)
    assert refused.value.code == code


def test_lookalike_addresses_share_a_skeleton_and_others_do_not():
    from services.accounts.domain import email_skeleton

    plain = email_skeleton("provider1@navigator.example")
    dotted = normalize_email("prov\u0130der1@navigator.example")  # İ lowers to i + dot above
    assert email_skeleton(dotted) == plain
    assert email_skeleton("prov\u0131der1@navigator.example") == plain
    assert email_skeleton("providerl@navigator.example") == plain  # 1 and l look alike
    assert email_skeleton("provider2@navigator.example") != plain
    assert email_skeleton("мария@почта.рф") != email_skeleton("мира@почта.рф")
