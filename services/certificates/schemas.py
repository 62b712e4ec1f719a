"""Marshmallow schemas of what crosses RPC: checked arguments of the operator calls. The
answers are plain dicts built in operations.py (amounts in kopecks, dates as ISO strings)."""

from marshmallow import Schema, ValidationError, fields, validate

from servicekit.errors import invalid_from_marshmallow


class PeriodSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)


class BandSchema(Schema):
    age_from = fields.Integer(load_default=0, strict=True)
    age_to = fields.Integer(load_default=17, strict=True)
    amount = fields.Integer(required=True, strict=True)


class BandsSchema(Schema):
    bands = fields.List(fields.Nested(BandSchema), required=True, validate=validate.Length(1, 18))
    effective_from = fields.Date(load_default=None, allow_none=True)
    reason = fields.String(load_default=None, allow_none=True)


class SettingsSchema(Schema):
    nominal_mode = fields.String()
    free_allowance = fields.Integer(strict=True)


def load(schema: Schema, data) -> dict:
    try:
        return schema.load(data if isinstance(data, dict) else {})
    except ValidationError as err:
        raise invalid_from_marshmallow(err, "Проверьте введённые данные") from err
