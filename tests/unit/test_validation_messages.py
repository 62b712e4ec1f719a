"""One language for people: every field message a person can see is Russian (marshmallow's
English translated in one place, servicekit/messages.py), and a request with several faults
gets them all in one answer."""

import inspect
import json

import pytest
from marshmallow import ValidationError, fields, validate
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

import gateway.service  # noqa: F401 - registers every route
from gateway.http import ROUTES, load_body, load_query
from servicekit import messages
from servicekit.errors import InvalidInput, NavigatorError, invalid_from_marshmallow


def is_russian(message: str) -> bool:
    return any("а" <= ch.lower() <= "я" or ch in "ёЁ" for ch in message)


def every_message(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from every_message(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from every_message(value)
    else:
        yield tree


def marshmallow_defaults() -> list[str]:
    """Every default message marshmallow can give, formatted as it formats them."""
    found = []
    for _, cls in inspect.getmembers(fields, inspect.isclass):
        for template in getattr(cls, "default_error_messages", {}).values():
            found.append(
                template.format(obj_type="date", awareness="naive", input="x", choices="a, b")
            )
    samples = [
        validate.Length(min=1, max=5),
        validate.Length(min=2),
        validate.Length(max=3),
        validate.Length(equal=4),
        validate.Range(1, 100),
        validate.Range(min=1),
        validate.Range(max=9),
        validate.Range(min=0, max=1, min_inclusive=False, max_inclusive=False),
        validate.OneOf(["a", "b"]),
        validate.Equal(True),
        validate.Regexp("^x$"),
        validate.Email(),
        validate.URL(),
        validate.ContainsOnly(["a"]),
        validate.NoneOf(["a"]),
    ]
    for validator in samples:
        for value in ("", "zzzzzzzzzz", 0, 1000, -5, "c", ["z"], "a", False):
            try:
                validator(value)
            except (ValidationError, TypeError) as error:
                if isinstance(error, ValidationError):
                    found.extend(error.messages)
    return found + ["Unknown field.", "Invalid input type."]


def test_every_marshmallow_message_has_a_russian_translation():
    untranslated = sorted({m for m in marshmallow_defaults() if messages.untranslated(m)})
    assert untranslated == []
    for message in marshmallow_defaults():
        assert is_russian(messages.russian(message)), message


def test_formatted_messages_keep_their_figures():
    assert messages.russian("Length must be between 1 and 200.") == "Длина от 1 до 200 символов."
    assert (
        messages.russian("Must be greater than or equal to 1 and less than or equal to 100.")
        == "Значение не меньше 1 и не больше 100."
    )
    assert messages.russian("Must be one of: male, female.") == "Допустимые значения: male, female."
    assert messages.russian("уже по-русски") == "уже по-русски"


def request_with(body: dict | None = None, query: str = "") -> Request:
    data = json.dumps(body) if body is not None else None
    return Request(
        EnvironBuilder(
            method="POST", path="/x", query_string=query, data=data, content_type="application/json"
        ).get_environ()
    )


HOSTILE = {
    "unexpected": 1,
    "email": 5,
    "password": "",
    "full_name": None,
    "capacity": "many",
    "birth_date": "2020-13-45",
    "sex": "robot",
    "price": 12.5,
    "schedule": "every day",
}


@pytest.mark.parametrize("spec", [s for s in ROUTES if s.body is not None], ids=lambda s: s.path)
def test_every_body_fault_a_route_finds_is_said_in_russian(spec):
    for body in ({}, HOSTILE):
        try:
            load_body(spec.body, request_with(body))
        except InvalidInput as error:
            assert is_russian(error.message), error.message
            for message in every_message(error.fields):
                assert is_russian(message), (spec.path, message)


@pytest.mark.parametrize("spec", [s for s in ROUTES if s.query is not None], ids=lambda s: s.path)
def test_every_query_fault_a_route_finds_is_said_in_russian(spec):
    names = [f.data_key or n for n, f in spec.query._declared_fields.items() if not f.dump_only]
    for query in ("&".join(f"{name}=%%%zz" for name in names), "nonsense=1"):
        try:
            load_query(spec.query, request_with(query=query))
        except NavigatorError as error:
            assert is_russian(error.message), error.message
            for message in every_message(error.fields):
                assert is_russian(message), (spec.path, message)


def test_a_registration_with_several_faults_gets_them_all_in_one_answer():
    (register,) = [s for s in ROUTES if s.path.endswith("/auth/register")]
    body = {
        "email": "no-at-sign",
        "password": "short",
        "full_name": "Иванова\x00",
        "phone": 79131234567,
        "colour": "blue",
    }
    with pytest.raises(InvalidInput) as refused:
        load_body(register.body, request_with(body))
    faults = refused.value.fields
    assert set(faults) == {
        "email",
        "password",
        "full_name",
        "phone",
        "consent_personal_data",
        "colour",
    }
    assert faults["password"] == ["пароль должен быть не короче 10 символов"]
    assert faults["consent_personal_data"] == ["Обязательное поле."]
    assert refused.value.code == "invalid_characters"
    assert all(is_russian(m) for m in every_message(faults))


def test_a_child_with_a_malformed_snils_and_a_missing_name_hears_both_at_once():
    (add_child,) = [s for s in ROUTES if s.method == "POST" and s.path.endswith("/children")]
    body = {
        "first_name": "Пётр",
        "sex": "male",
        "birth_date": "2016-05-01",
        "snils": "112-233",
        "birth_certificate_series": "IV-БА",
        "birth_certificate_number": "123456",
        "municipality_code": "krasnoyarsk",
    }
    with pytest.raises(InvalidInput) as refused:
        load_body(add_child.body, request_with(body))
    assert set(refused.value.fields) == {"last_name", "snils"}


def test_the_one_translation_point_also_serves_the_services():
    try:
        fields.Integer(strict=True).deserialize("4")
    except ValidationError as error:
        translated = invalid_from_marshmallow(ValidationError({"age": error.messages}))
    assert translated.fields == {"age": ["Ожидается целое число."]}
    assert is_russian(translated.message)
