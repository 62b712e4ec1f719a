"""Marshmallow schemas of the certificates routes. Money is a decimal string ("1900.00") on
HTTP and integer kopecks in RPC (the `Money` field converts both ways)."""

from marshmallow import Schema, fields, validate

from gateway.catalog_schemas import choice, text
from gateway.fields import Money, SignedMoney
from gateway.http import PageQuery

TYPES = ("accounting", "financing")
STATUSES = ("active", "frozen", "expired")
PERIOD_STATUSES = ("open", "closing", "closed")
AGE = validate.Range(0, 17)


class PeriodSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    start_date = fields.String(required=True, metadata={"format": "date"})
    end_date = fields.String(required=True, metadata={"format": "date"})
    status = fields.String(required=True, metadata={"enum": list(PERIOD_STATUSES)})


class PeriodListSchema(Schema):
    items = fields.List(fields.Nested(PeriodSchema), required=True)


class PeriodCreateSchema(Schema):
    name = text(1, 100, required=True, metadata={"example": "2026/2027 учебный год"})
    start_date = fields.Date(required=True, metadata={"example": "2026-09-01"})
    end_date = fields.Date(required=True, metadata={"example": "2027-08-31"})


class PeriodClosedSchema(Schema):
    period_id = fields.Integer(required=True)
    expired = Money(required=True, metadata={"description": "left on balances, now expired"})
    credited = fields.Integer(required=True, metadata={"description": "certificates credited "
                                                       "the next period's nominal"})  # fmt: skip
    queued = fields.Integer(required=True, metadata={"description": "children queued for it"})


class BandSchema(Schema):
    age_from = fields.Integer(load_default=0, validate=AGE, strict=True)
    age_to = fields.Integer(load_default=17, validate=AGE, strict=True)
    amount = Money(required=True, metadata={"description": "0 to 100000.00"})


class NominalsSchema(Schema):
    bands = fields.List(
        fields.Nested(BandSchema),
        required=True,
        validate=validate.Length(1, 18),
        metadata={"description": "Nominal per age band (age on the period's first day)"},
    )
    effective_from = fields.Date(
        metadata={"description": "Certificates financed from this day get them (default today)"}
    )
    reason = text(1, 500, metadata={"description": "Why the nominals are set or changed"})


class NominalChangeRecordSchema(Schema):
    effective_from = fields.String(required=True, metadata={"format": "date"})
    bands = fields.List(fields.Dict(), required=True)
    reason = fields.String(required=True)
    actor = fields.String(required=True, allow_none=True)
    in_force = fields.Boolean(required=True)


class SettingsSchema(Schema):
    municipality_code = fields.String(required=True)
    nominal_mode = fields.String(required=True, metadata={"enum": ["full", "prorated"]})
    free_allowance = fields.Integer(required=True)


class SettingsChangeSchema(Schema):
    nominal_mode = choice(["full", "prorated"])
    free_allowance = fields.Integer(strict=True, validate=validate.Range(0, 20))


class LimitSchema(Schema):
    limit = Money(required=True, metadata={"description": "Total of nominals to hand out"})


class FundingSchema(Schema):
    municipality_code = fields.String(required=True)
    period_id = fields.Integer(required=True)
    bands = fields.List(fields.Nested(BandSchema), required=True)
    changes = fields.List(
        fields.Nested(NominalChangeRecordSchema),
        metadata={"description": "Every change of the bands with its date, reason and operator"},
    )
    limit = Money(required=True)
    used = Money(required=True)
    queue_length = fields.Integer(required=True)


class QueueItemSchema(Schema):
    position = fields.Integer(required=True)
    certificate_number = fields.String(required=True)
    child_id = fields.Integer(required=True)
    queued_at = fields.String(required=True, metadata={"format": "date-time"})


class BalanceSchema(Schema):
    nominal = Money(required=True)
    credited = Money(required=True)
    available = Money(required=True)
    reserved = Money(required=True)
    spent = Money(required=True)
    expired = Money(required=True)


class CertificateSchema(Schema):
    number = fields.String(required=True, metadata={"example": "4820193756"})
    child_id = fields.Integer(required=True)
    type = fields.String(required=True, metadata={"enum": list(TYPES)})
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    municipality_code = fields.String(required=True)
    valid_until = fields.String(required=True, metadata={"format": "date"})
    valid = fields.Boolean(required=True)
    issued_at = fields.String(required=True, metadata={"format": "date-time"})
    period = fields.Nested(PeriodSchema, allow_none=True, required=True)
    balance = fields.Nested(
        BalanceSchema,
        allow_none=True,
        required=True,
        metadata={"description": "In the current period; null when no period is current"},
    )
    queue_position = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Place in the municipality's queue for financing, or null"},
    )


class CertificateListQuery(PageQuery):
    type = choice(TYPES)
    status = choice(STATUSES)
    queued = fields.Boolean(metadata={"description": "only (or only not) queued for financing"})
    municipality_code = text(1, 64)


class TransactionSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(
        required=True,
        metadata={"enum": ["credit", "adjust", "reserve", "release", "debit", "expire"]},
    )
    amount = SignedMoney(required=True, metadata={"description": "negative for a lowered nominal"})
    period_id = fields.Integer(required=True)
    enrollment_id = fields.String(allow_none=True, required=True)
    month = fields.String(allow_none=True, required=True, metadata={"example": "2026-09"})
    reason = fields.String(required=True)
    actor = fields.String(required=True, allow_none=True, metadata={"example": "user:12"})
    actor_name = fields.String(
        required=True, allow_none=True, metadata={"description": "the operator's name then"}
    )
    created_at = fields.String(required=True, metadata={"format": "date-time"})


class NominalChangeSchema(Schema):
    amount = Money(required=True, metadata={"description": "This certificate's nominal now"})
    reason = text(1, 500, required=True, metadata={"description": "Why (kept in the ledger)"})
