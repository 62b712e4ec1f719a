"""Rules of the accounts service (services/accounts/domain.py), without broker or database."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.accounts import domain
from services.accounts.domain import (
    CONSENT_TEXT_VERSION,
    MUNICIPAL_OPERATOR,
    PARENT,
    PROVIDER,
    REGIONAL_OPERATOR,
    BirthCertificate,
    InvalidField,
    LoginThrottle,
    RefreshToken,
    ThrottleDecision,
    WeakPassword,
    age_on,
    can_create_staff,
    check_birth_date,
    check_password,
    check_refresh,
    common_passwords,
    format_snils,
    hash_token,
    is_valid_snils,
    mask_document,
    mask_snils,
    new_opaque_token,
    normalize_birth_certificate,
    normalize_email,
    normalize_person_name,
    normalize_sex,
    normalize_snils,
    snils_check_number,
)

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


# --- roles ------------------------------------------------------------------------------


@pytest.mark.parametrize("new_role", [PROVIDER, MUNICIPAL_OPERATOR, REGIONAL_OPERATOR])
def test_regional_operator_creates_any_staff(new_role):
    assert can_create_staff(REGIONAL_OPERATOR, None, new_role, "04701000")


def test_municipal_operator_creates_provider_staff_in_its_own_municipality():
    assert can_create_staff(MUNICIPAL_OPERATOR, "04701000", PROVIDER, "04701000")


def test_municipal_operator_cannot_create_provider_staff_of_another_municipality():
    assert not can_create_staff(MUNICIPAL_OPERATOR, "04701000", PROVIDER, "04729000")


def test_municipal_operator_without_municipality_creates_nobody():
    assert not can_create_staff(MUNICIPAL_OPERATOR, None, PROVIDER, None)


@pytest.mark.parametrize("new_role", [MUNICIPAL_OPERATOR, REGIONAL_OPERATOR])
def test_municipal_operator_cannot_create_operators(new_role):
    assert not can_create_staff(MUNICIPAL_OPERATOR, "04701000", new_role, "04701000")


@pytest.mark.parametrize("creator", [PARENT, PROVIDER, "unknown"])
def test_parents_and_providers_create_no_staff(creator):
    assert not can_create_staff(creator, "04701000", PROVIDER, "04701000")


def test_nobody_creates_a_parent_account():
    assert not can_create_staff(REGIONAL_OPERATOR, None, PARENT, None)


# --- SNILS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "snils",
    [
        "112-233-445 95",  # sum 95 < 100: check number is the sum
        "11223344595",
        "110-704-341 93",
        "526-018-159 61",  # sum 162 > 101: 162 mod 101 = 61
        "050-234-316 00",  # sum 100 -> 00
        "016-103-396 00",  # sum 101 -> 00
        "820-981-233 00",  # sum 201, 201 mod 101 = 100 -> 00
    ],
)
def test_snils_with_right_checksum_is_valid(snils):
    assert is_valid_snils(snils)


@pytest.mark.parametrize(
    "first_nine, check",
    [("112233445", 95), ("526018159", 61), ("050234316", 0), ("016103396", 0), ("820981233", 0)],
)
def test_snils_check_number_follows_the_official_rule(first_nine, check):
    assert snils_check_number(first_nine) == check


@pytest.mark.parametrize("first_nine", ["11223344", "1122334455", "11223344a"])
def test_snils_check_number_needs_exactly_nine_digits(first_nine):
    with pytest.raises(ValueError):
        snils_check_number(first_nine)


@pytest.mark.parametrize("snils", ["112-233-445 96", "11223344594", "526-018-159 62"])
def test_snils_with_wrong_checksum_is_invalid(snils):
    assert not is_valid_snils(snils)


def test_snils_with_sum_of_100_and_check_100_is_invalid():
    assert not is_valid_snils("050-234-316 10")


def test_snils_up_to_001_001_998_is_not_checked_by_checksum():
    assert is_valid_snils("001-001-998 99")
    assert is_valid_snils("000-123-456 00")


def test_snils_from_001_001_999_is_checked_by_checksum():
    assert snils_check_number("001001999") == 65
    assert is_valid_snils("001-001-999 65")
    assert not is_valid_snils("001-001-999 66")


@pytest.mark.parametrize("snils", ["000-000-000 00", "111-111-111 45", "999-999-999 00"])
def test_snils_of_one_repeated_digit_is_invalid(snils):
    assert not is_valid_snils(snils)


@pytest.mark.parametrize(
    "snils", ["", "112-233-445", "112-233-445 955", "112-233-44a 95", "١١٢٢٣٣٤٤٥٩٥", None]
)
def test_malformed_snils_is_invalid(snils):
    assert not is_valid_snils(snils)


@pytest.mark.parametrize(
    "text", ["112-233-445 95", "11223344595", " 112 233 445 95 ", "112–233–445–95"]
)
def test_snils_is_normalized_to_eleven_digits(text):
    assert normalize_snils(text) == "11223344595"


def test_normalize_snils_names_the_field_of_a_wrong_checksum():
    with pytest.raises(InvalidField) as error:
        normalize_snils("112-233-445 96", field="child_snils")
    assert error.value.field == "child_snils"
    assert error.value.code == "checksum"


def test_normalize_snils_refuses_a_wrong_length():
    with pytest.raises(InvalidField) as error:
        normalize_snils("1122334459")
    assert error.value.field == "snils"
    assert error.value.code == "format"


def test_snils_is_formatted_with_hyphens_and_space():
    assert format_snils("11223344595") == "112-233-445 95"


def test_masked_snils_shows_only_the_last_five_digits():
    assert mask_snils("11223344595") == "***-***-445 95"
    assert mask_snils("112-233-445 95") == "***-***-445 95"


def test_masked_document_keeps_the_last_two_characters():
    assert mask_document("123456") == "****56"
    assert mask_document("IV-БА") == "***БА"


def test_short_document_is_masked_entirely():
    assert mask_document("123") == "***"
    assert mask_document("") == ""
    assert mask_document(None) == ""


# --- birth certificate ------------------------------------------------------------------


def test_birth_certificate_is_normalized():
    assert normalize_birth_certificate("IV-БА", "123456") == BirthCertificate("IV-БА", "123456")


@pytest.mark.parametrize(
    "series",
    # the last two: a Ukrainian "І" in the Roman part, a Latin "A" in the Cyrillic part
    ["iv-ба", "IV БА", "IVБА", " IV – БА ", "\u0406V-БА", "IV-Б\u0041"],
)
def test_birth_certificate_series_typed_loosely_is_normalized(series):
    series_out, number = normalize_birth_certificate(series, "123 456")
    assert (series_out, number) == ("IV-БА", "123456")


def test_birth_certificate_series_with_cyrillic_lookalikes_in_roman_part_is_normalized():
    # Cyrillic Х and С typed instead of Latin X and C.
    assert normalize_birth_certificate("ХС-ЕК", "000001").series == "XC-ЕК"


@pytest.mark.parametrize(
    "series",
    ["", "IV", "IV-Б", "IV-БАВ", "IV-12", "4-БА", "IIII-БА", "VX-БА", "M-БА", "IV-ба1"],
)
def test_birth_certificate_with_bad_series_is_refused(series):
    with pytest.raises(InvalidField) as error:
        normalize_birth_certificate(series, "123456")
    assert error.value.field == "birth_certificate_series"


@pytest.mark.parametrize("number", ["", "12345", "1234567", "12345a", "١٢٣٤٥٦"])
def test_birth_certificate_with_bad_number_is_refused(number):
    with pytest.raises(InvalidField) as error:
        normalize_birth_certificate("IV-БА", number)
    assert error.value.field == "birth_certificate_number"


# --- child data -------------------------------------------------------------------------

TODAY = date(2026, 10, 1)


def test_birth_date_in_the_future_is_refused():
    with pytest.raises(InvalidField) as error:
        check_birth_date(date(2026, 10, 2), TODAY)
    assert (error.value.field, error.value.code) == ("birth_date", "in_future")


def test_child_born_today_is_accepted():
    check_birth_date(TODAY, TODAY)


def test_child_the_day_before_eighteenth_birthday_is_accepted():
    check_birth_date(date(2008, 10, 2), TODAY)


def test_person_on_eighteenth_birthday_is_not_a_child():
    with pytest.raises(InvalidField) as error:
        check_birth_date(date(2008, 10, 1), TODAY)
    assert error.value.code == "too_old"


def test_person_older_than_eighteen_is_not_a_child():
    with pytest.raises(InvalidField):
        check_birth_date(date(1990, 1, 1), TODAY)


def test_birth_date_given_as_datetime_is_compared_by_day():
    check_birth_date(datetime(2026, 10, 1, 23, 0), NOW)


def test_born_on_29_february_is_a_year_older_on_28_february_of_a_common_year():
    assert age_on(date(2008, 2, 29), date(2026, 2, 27)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 18
    assert age_on(date(2008, 2, 29), date(2028, 2, 28)) == 19
    assert age_on(date(2008, 2, 29), date(2028, 2, 29)) == 20


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Иван", "Иван"),
        ("  Анна   Мария ", "Анна Мария"),
        ("Анна - Мария", "Анна-Мария"),
        ("Салтыков–Щедрин", "Салтыков-Щедрин"),
        ("Д’Артаньян", "Д'Артаньян"),
        ("Алёна", "Алёна"),
        ("Чыгыс Ӧлгӧн", "Чыгыс Ӧлгӧн"),  # Khakas letters are Cyrillic too
        ("Али оглы", "Али оглы"),
        ("Й", "Й"),
    ],
)
def test_cyrillic_name_is_accepted_and_whitespace_normalized(raw, expected):
    assert normalize_person_name(raw, "first_name") == expected


def test_name_typed_with_a_combining_breve_is_composed():
    assert normalize_person_name("Андрей".replace("й", "и\u0306"), "first_name") == "Андрей"


@pytest.mark.parametrize(
    "raw", ["Ivan", "Ивaн", "Иван1", "Иван!", "-Иван", "Иван-", "Анна--Мария", "Анна-'Мария"]
)
def test_name_with_latin_digits_or_stray_separators_is_refused(raw):
    with pytest.raises(InvalidField) as error:
        normalize_person_name(raw, "last_name")
    assert error.value.field == "last_name"


def test_name_longer_than_100_characters_is_refused():
    normalize_person_name("А" * 100, "last_name")
    with pytest.raises(InvalidField) as error:
        normalize_person_name("А" * 101, "last_name")
    assert error.value.code == "too_long"


def test_missing_required_name_is_refused():
    with pytest.raises(InvalidField) as error:
        normalize_person_name("   ", "first_name")
    assert error.value.code == "required"


def test_missing_patronymic_is_none():
    assert normalize_person_name("", "patronymic", required=False) is None
    assert normalize_person_name(None, "patronymic", required=False) is None


@pytest.mark.parametrize("raw, expected", [("male", "male"), (" Female ", "female")])
def test_sex_is_male_or_female(raw, expected):
    assert normalize_sex(raw) == expected


@pytest.mark.parametrize("raw", ["", "m", "other", None])
def test_other_sex_values_are_refused(raw):
    with pytest.raises(InvalidField) as error:
        normalize_sex(raw)
    assert error.value.field == "sex"


# --- e-mail -----------------------------------------------------------------------------


def test_email_is_stripped_and_lower_cased():
    assert normalize_email("  Ivan.Petrov@Mail.RU ") == "ivan.petrov@mail.ru"


def test_emails_differing_only_in_case_are_the_same_account():
    assert normalize_email("Parent@Example.com") == normalize_email("parent@example.COM")


@pytest.mark.parametrize(
    "email", ["мама@школа.рф", "a+tag@sub.example.org", "user@xn--p1ai.xn--p1ai"]
)
def test_plausible_email_is_accepted(email):
    assert normalize_email(email) == email


@pytest.mark.parametrize(
    "email",
    [
        "",
        None,
        "ivan",
        "ivan@",
        "@mail.ru",
        "ivan@mail",
        "ivan petrov@mail.ru",
        "ivan@@mail.ru",
        "ivan@mail..ru",
        ".ivan@mail.ru",
        "iv..an@mail.ru",
        "ivan@-mail.ru",
        "ivan@mail.123",
        "a" * 65 + "@mail.ru",
    ],
)
def test_obviously_invalid_email_is_refused(email):
    with pytest.raises(InvalidField) as error:
        normalize_email(email)
    assert error.value.field == "email"


# --- passwords --------------------------------------------------------------------------


def test_good_password_is_accepted():
    check_password("Крепкий-орешек-42", email="ivan@mail.ru", full_name="Иван Петров")
    check_password("correct horse battery staple")


def test_short_password_is_refused():
    with pytest.raises(WeakPassword) as error:
        check_password("Ab1!Ab1!x")
    assert error.value.code == "too_short"


def test_password_of_ten_characters_is_long_enough():
    check_password("Zt7#kq2Lmw")


def test_password_longer_than_128_characters_is_refused():
    with pytest.raises(WeakPassword) as error:
        check_password("Ab1" * 43)
    assert error.value.code == "too_long"


@pytest.mark.parametrize("password", ["qwerty123456", "Password1234", "1q2w3e4r5t6y", "ЙЦУКЕНГШЩЗ"])
def test_common_password_is_refused(password):
    with pytest.raises(WeakPassword) as error:
        check_password(password)
    assert error.value.code == "common"


def test_russian_word_typed_in_latin_layout_is_as_common_as_the_word():
    assert {"пароль12345", "gfhjkm12345"} <= common_passwords()
    with pytest.raises(WeakPassword):
        check_password("ПАРОЛЬ12345")


def test_common_password_typed_in_russian_layout_is_refused():
    # "password123" typed with the Russian layout switched on; only the Latin form is listed.
    assert "зфыыцщкв123" not in common_passwords()
    with pytest.raises(WeakPassword) as error:
        check_password("зфыыцщкв123")
    assert error.value.code == "common"


def test_common_passwords_list_is_large_lower_case_and_loaded_once():
    passwords = common_passwords()
    assert len(passwords) >= 500
    assert all(p == p.lower() and p.strip() == p for p in passwords)
    assert {"qwerty", "йцукен", "1q2w3e4r", "password1", "zaq12wsx"} <= passwords
    assert common_passwords() is passwords


def test_password_containing_the_email_local_part_is_refused():
    with pytest.raises(WeakPassword) as error:
        check_password("Ivan.Petrov2026", email="ivan.petrov@mail.ru")
    assert error.value.code == "email"


def test_password_containing_part_of_the_email_local_part_is_refused():
    with pytest.raises(WeakPassword):
        check_password("Petrov!2026x", email="ivan.petrov@mail.ru")


def test_password_containing_the_name_is_refused():
    with pytest.raises(WeakPassword) as error:
        check_password("Петров_2026!", full_name="Иван Петров")
    assert error.value.code == "name"


@pytest.mark.parametrize("password", ["zqxjvkwpmh", "98765432107", "ЯБЛОКОГРУША"])
def test_password_of_one_character_class_is_refused(password):
    with pytest.raises(WeakPassword) as error:
        check_password(password)
    assert error.value.code == "classes"


def test_password_of_few_distinct_characters_is_refused():
    with pytest.raises(WeakPassword) as error:
        check_password("Aaaaaaaaa1")
    assert error.value.code == "repetitive"


# --- login throttling -------------------------------------------------------------------

throttle = LoginThrottle()


def test_first_two_failures_do_not_slow_down():
    assert throttle.decide(0, None, NOW) == ThrottleDecision(True, 0)
    assert throttle.decide(2, NOW, NOW) == ThrottleDecision(True, 0)


def test_third_failure_delays_the_next_attempt_by_one_second():
    assert throttle.decide(3, NOW, NOW) == ThrottleDecision(False, 1)
    assert throttle.decide(3, NOW - timedelta(seconds=1), NOW).allowed


def test_fourth_failure_delays_the_next_attempt_by_two_seconds():
    assert throttle.decide(4, NOW - timedelta(milliseconds=500), NOW) == ThrottleDecision(False, 2)
    assert throttle.decide(4, NOW - timedelta(seconds=2), NOW).allowed


def test_fifth_failure_locks_the_account_for_fifteen_minutes():
    last = NOW
    assert throttle.decide(5, last, NOW) == ThrottleDecision(False, 900)
    assert throttle.decide(5, last, NOW + timedelta(minutes=10)) == ThrottleDecision(False, 300)
    assert not throttle.decide(5, last, NOW + timedelta(minutes=14, seconds=59)).allowed
    assert throttle.decide(5, last, NOW + timedelta(minutes=15)) == ThrottleDecision(True, 0)


def test_more_failures_keep_the_lock():
    assert throttle.decide(12, NOW - timedelta(minutes=1), NOW) == ThrottleDecision(False, 840)


def test_failures_without_time_count_as_just_now():
    assert throttle.decide(5, None, NOW) == ThrottleDecision(False, 900)


def test_failure_stamped_in_the_future_locks_no_longer_than_the_lock_period():
    assert throttle.decide(5, NOW + timedelta(hours=1), NOW) == ThrottleDecision(False, 900)


def test_throttle_thresholds_are_configurable():
    strict = LoginThrottle(
        lock_after=3, lock_for=timedelta(hours=1), delay_after=2, base_delay=timedelta(seconds=5)
    )
    assert strict.decide(2, NOW, NOW) == ThrottleDecision(False, 5)
    assert strict.decide(3, NOW, NOW) == ThrottleDecision(False, 3600)
    assert strict.window == timedelta(minutes=15)


def test_throttle_refuses_inconsistent_thresholds():
    with pytest.raises(ValueError):
        LoginThrottle(lock_after=3, delay_after=4)


# --- refresh tokens ---------------------------------------------------------------------


def token(**changes) -> RefreshToken:
    state = {
        "family_id": "f1",
        "token_hash": hash_token("t1"),
        "rotated_at": None,
        "revoked_at": None,
        "expires_at": NOW + timedelta(days=30),
    }
    return RefreshToken(**(state | changes))


def test_fresh_refresh_token_is_ok():
    assert check_refresh(token(), NOW) == "ok"


def test_rotated_refresh_token_presented_again_is_reuse():
    assert check_refresh(token(rotated_at=NOW - timedelta(minutes=5)), NOW) == "reuse"


def test_rotated_refresh_token_presented_after_expiry_is_still_reuse():
    state = token(rotated_at=NOW - timedelta(days=40), expires_at=NOW - timedelta(days=10))
    assert check_refresh(state, NOW) == "reuse"


def test_expired_refresh_token_is_expired():
    assert check_refresh(token(expires_at=NOW), NOW) == "expired"
    assert check_refresh(token(expires_at=NOW + timedelta(seconds=1)), NOW) == "ok"


def test_revoked_refresh_token_is_revoked_even_if_rotated():
    state = token(rotated_at=NOW - timedelta(hours=1), revoked_at=NOW - timedelta(minutes=1))
    assert check_refresh(state, NOW) == "revoked"


def test_token_hash_is_sha256_hex():
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_new_opaque_tokens_are_long_and_distinct():
    tokens = {new_opaque_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) >= 43 for t in tokens)


# --- consent and purity -----------------------------------------------------------------


def test_consent_text_version_is_set():
    assert CONSENT_TEXT_VERSION == "2026-09-01"


def test_domain_imports_no_framework():
    source = open(domain.__file__, encoding="utf-8").read()
    for framework in ("nameko", "sqlalchemy", "marshmallow", "eventlet"):
        assert f"import {framework}" not in source
        assert f"from {framework}" not in source
