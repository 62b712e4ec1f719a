"""The `data` of the events payments publishes, as its `emit` calls build them
(contracts.contract_event, billing.charge_event, invoices.invoice_event and the termination
in contracts.terminate); docs/asyncapi.yaml is generated from them."""

from marshmallow import Schema, fields

from servicekit.asyncapi import EventSpec, money

SIGNED_MONEY = {"pattern": r"^-?\d+\.\d{2}$", "example": "-1900.00"}
MONTH = {"pattern": r"^\d{4}-\d{2}$", "example": "2026-10"}


class MonthPartSchema(Schema):
    month = fields.String(required=True, metadata=MONTH)
    certificate = money()
    copay = money()


class ContractActivatedSchema(Schema):
    contract_id = fields.Integer(required=True)
    enrollment_id = fields.String(required=True)
    child_id = fields.Integer(required=True)
    group_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    payer_municipality_code = fields.String(required=True)
    start_date = fields.String(required=True, metadata={"format": "date"})
    end_date = fields.String(required=True, metadata={"format": "date"})
    total = money()
    certificate_share = money()
    copay = money()
    schedule = fields.List(fields.Nested(MonthPartSchema), required=True)


class ContractTerminatedSchema(Schema):
    contract_id = fields.Integer(required=True)
    enrollment_id = fields.String(required=True)
    child_id = fields.Integer(required=True)
    group_id = fields.Integer(required=True)
    end_date = fields.String(required=True, metadata={"format": "date"})
    released = money()
    released_months = fields.List(fields.String(metadata=MONTH), required=True)
    reason = fields.String(required=True, allow_none=True)


class ChargePostedSchema(Schema):
    charge_id = fields.Integer(required=True)
    contract_id = fields.Integer(required=True)
    enrollment_id = fields.String(required=True)
    child_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    payer_municipality_code = fields.String(required=True)
    month = fields.String(required=True, metadata=MONTH)
    completeness = fields.String(
        required=True, metadata={"pattern": r"^\d\.\d{6}$", "example": "0.666667"}
    )
    certificate_charged = money()
    certificate_released = money()
    copay_charged = money()


class InvoiceIssuedSchema(Schema):
    invoice_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    municipality_code = fields.String(required=True)
    month = fields.String(required=True, metadata=MONTH)
    kind = fields.String(required=True, metadata={"enum": ["advance", "final", "correction"]})
    # a final invoice is below zero when the advance was more than the month's actual amount
    amount = fields.String(required=True, metadata=SIGNED_MONEY)


class InvoicePaidSchema(InvoiceIssuedSchema):
    paid_at = fields.String(required=True, metadata={"format": "date-time"})


EVENTS = [
    EventSpec(
        "payments",
        "contract_activated",
        ContractActivatedSchema,
        "A confirmed enrollment became a contract (once per enrollment).",
    ),
    EventSpec(
        "payments",
        "contract_terminated",
        ContractTerminatedSchema,
        "A contract ended early at the end of a month; its later months went back to the "
        "certificate.",
    ),
    EventSpec(
        "payments",
        "charge_posted",
        ChargePostedSchema,
        "A contract's month was billed: the certificate debited and the co-payment recorded "
        "(once per contract and month).",
    ),
    EventSpec(
        "payments",
        "invoice_issued",
        InvoiceIssuedSchema,
        "A provider's advance (80 % of the planned month) or final invoice to a municipality.",
    ),
    EventSpec(
        "payments",
        "invoice_paid",
        InvoicePaidSchema,
        "A municipal operator marked an invoice paid.",
    ),
]
