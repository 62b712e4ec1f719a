"""The `data` of the events certificates publishes, as emitted today (docs/asyncapi.yaml is
generated from them; the owner of certificates keeps them in step with its `emit` calls)."""

from marshmallow import Schema, fields

from servicekit.asyncapi import EventSpec, money


class CertificateIssuedSchema(Schema):
    certificate_number = fields.String(required=True)
    child_id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True)
    municipality_code = fields.String(required=True)
    type = fields.String(required=True)
    valid_until = fields.String(required=True, metadata={"format": "date"})


class TypeChangedSchema(Schema):
    certificate_number = fields.String(required=True)
    child_id = fields.Integer(required=True)
    municipality_code = fields.String(required=True)
    type = fields.String(required=True)
    period_id = fields.Integer(required=True)
    nominal = money()


class FundsSchema(Schema):
    certificate_number = fields.String(required=True)
    child_id = fields.Integer(required=True)
    enrollment_id = fields.String(required=True)
    period_id = fields.Integer(required=True)


class ReservedSchema(FundsSchema):
    amount = money()
    available = money()


class ReleasedSchema(FundsSchema):
    amount = money()
    reserved_left = money()
    reason = fields.String(required=True)


class DebitedSchema(FundsSchema):
    month = fields.String(required=True)
    debited = money()
    released = money()


class ExpiredSchema(Schema):
    certificate_number = fields.String(required=True)
    child_id = fields.Integer(required=True)
    period_id = fields.Integer(required=True)
    expired = money()
    reason = fields.String(required=True)


class CertificateExpiringSchema(Schema):
    certificate_number = fields.String(required=True)
    child_id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True)
    municipality_code = fields.String(required=True)
    valid_until = fields.String(
        required=True, metadata={"format": "date", "description": "valid before this day"}
    )
    days_left = fields.Integer(required=True, metadata={"description": "from the region's today"})


EVENTS = [
    EventSpec("certificates", "certificate_issued", CertificateIssuedSchema,
              "A child got a certificate"),
    EventSpec("certificates", "certificate_type_changed", TypeChangedSchema,
              "A certificate became a financing one for a period"),
    EventSpec("certificates", "funds_reserved", ReservedSchema,
              "Money was set aside for an enrollment"),
    EventSpec("certificates", "funds_released", ReleasedSchema,
              "Reserved money went back to the balance"),
    EventSpec("certificates", "funds_debited", DebitedSchema, "A month of study was paid"),
    EventSpec("certificates", "certificate_expired", ExpiredSchema,
              "What was left at the period's end expired"),
    EventSpec("certificates", "certificate_expiring", CertificateExpiringSchema,
              "Added in issue 23: the certificate's validity ends within "
              "CERTIFICATE_EXPIRY_NOTICE_DAYS (30) days, at the 18th birthday `valid_until`. "
              "Emitted once per certificate and `valid_until` by the calendar's "
              "`announce_expiring`"),
]  # fmt: skip
