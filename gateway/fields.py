"""Strict types for every route, applied once by `route()` to its body and query schemas.

marshmallow is lenient by default: `capacity: 3.9` was stored as 3, `"4"` and `2.5` were
integers, `adapted: "yes"` and `1` were booleans, `"20270105"` was a date. A JSON body
takes exactly its JSON type; a query string (text by nature) takes exactly the spelling the
OpenAPI document gives (`true`/`false`, digits, YYYY-MM-DD). Routes written later by anyone
get the same rules without knowing about them. Money is its own field: a decimal string with
exactly two places, stated as a pattern in the document.
"""

import re

from marshmallow import Schema, ValidationError, fields, validate

from servicekit.money import format_kopecks, parse_money

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONEY_PATTERN = r"^(0|[1-9]\d{0,12})\.\d{2}$"
SIGNED_MONEY_PATTERN = r"^-?(0|[1-9]\d{0,12})\.\d{2}$"


class Money(fields.String):
    """Kopecks inside, "1900.00" outside (exactly two places)."""

    def __init__(self, **kwargs):
        metadata = {"pattern": MONEY_PATTERN, "example": "1900.00", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_kopecks(value)

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        if not re.fullmatch(MONEY_PATTERN, raw):
            raise ValidationError('Сумма строкой с двумя знаками после точки, например "1900.00".')
        try:
            return parse_money(raw)
        except ValueError as error:
            raise ValidationError(str(error)) from error


class SignedMoney(Money):
    """Money in an answer that may be below zero: a final invoice when the advance was more
    than the month's actual amount, a ledger adjustment when a nominal was lowered."""

    def __init__(self, **kwargs):
        metadata = {"pattern": SIGNED_MONEY_PATTERN, "example": "-1900.00"}
        super().__init__(metadata={**metadata, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        raise ValidationError("Суммы со знаком только в ответах, не в запросах.")


class _JsonFloat(fields.Float):
    """A JSON number, not a string that looks like one (nor a boolean)."""

    def _validated(self, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class _IsoDate(fields.Date):
    """YYYY-MM-DD only (Python also reads "20270105" and week dates)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
            raise self.make_error("invalid", input=value, obj_type="date")
        return super()._deserialize(value, attr, data, **kwargs)


class _JsonBoolean(fields.Boolean):
    """true or false, not 1, "yes" or "true" (1 == True in a Python set, so truthy sets
    cannot tell them apart)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class _QueryBoolean(fields.Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if value not in ("true", "false"):
            raise self.make_error("invalid", input=value)
        return value == "true"


class _QueryInteger(fields.Integer):
    """Digits (with an optional minus), as the document's `integer` is written in a URL."""

    def _validated(self, value):
        if isinstance(value, str) and not re.fullmatch(r"-?\d{1,18}", value):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def _strict_field(field: fields.Field, body: bool) -> None:
    if isinstance(field, fields.Boolean):
        if type(field) is fields.Boolean:
            field.__class__ = _JsonBoolean if body else _QueryBoolean
    elif isinstance(field, fields.Integer):
        if body:
            field.strict = True
        elif type(field) is fields.Integer:
            field.__class__ = _QueryInteger
    elif isinstance(field, fields.Float) and body and type(field) is fields.Float:
        field.__class__ = _JsonFloat
    elif isinstance(field, fields.Date) and type(field) is fields.Date:
        field.__class__ = _IsoDate
    elif isinstance(field, fields.Nested):
        nested = field.nested
        if isinstance(nested, type) and issubclass(nested, Schema):
            make_strict(nested, body)
        elif isinstance(nested, Schema):
            make_strict(type(nested), body)
    elif isinstance(field, fields.List):
        _strict_field(field.inner, body)


_done: set[tuple[type, bool]] = set()


def make_strict(schema: type[Schema], body: bool) -> type[Schema]:
    """Makes the schema's fields strict in place (its declared fields are what every
    instance copies); `body` says JSON body rather than query string."""
    if (schema, body) in _done:
        return schema
    _done.add((schema, body))
    for field in schema._declared_fields.values():
        _strict_field(field, body)
    return schema


def must_be_true(field: fields.Boolean) -> fields.Boolean:
    """A boolean whose only acceptable value is true (a consent), said in the document."""
    field.metadata = {**field.metadata, "enum": [True]}
    field.validators = [*field.validators, validate.Equal(True, error="Должно быть true.")]
    return field
