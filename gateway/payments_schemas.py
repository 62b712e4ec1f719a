"""Marshmallow schemas of the payments routes: what HTTP clients send and receive.

Money is a decimal string with two places on HTTP and integer kopecks in RPC (`Money`).
Loaded bodies are ready for RPC (dates as ISO strings)."""

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from contracts.enrollment import STATUSES as ENROLLMENT_STATUSES
from contracts.payments import (
    COMPLETENESS_MODES,
    CONTRACT_STATUSES,
    INVOICE_KINDS,
    INVOICE_STATUSES,
    LESSON_STATUSES,
)
from gateway.fields import Money, SignedMoney
from gateway.http import PageQuery

MONTH = fields.String(
    validate=validate.Regexp(r"^20\d\d-(0[1-9]|1[0-2])$", error="Месяц в формате ГГГГ-ММ"),
    metadata={"example": "2026-10"},
)
TIME = fields.String(validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))


def month(**kwargs) -> fields.String:
    field = fields.String(validate=MONTH.validate, metadata=MONTH.metadata, **kwargs)
    return field


# --- attendance ----------------------------------------------------------------------------


class MarkSchema(Schema):
    child_id = fields.Integer(required=True, validate=validate.Range(1, 2147483647))
    present = fields.Boolean(required=True)


class LessonInSchema(Schema):
    date = fields.Date(required=True)
    start = fields.String(
        validate=TIME.validate,
        metadata={"description": "HH:MM; defaults to the schedule's lesson of that weekday"},
    )
    status = fields.String(required=True, validate=validate.OneOf(LESSON_STATUSES))
    attendance = fields.List(
        fields.Nested(MarkSchema), load_default=list, validate=validate.Length(max=200)
    )

    @post_load
    def plain(self, data, **kwargs):
        return {**data, "date": data["date"].isoformat()}


class LessonsInSchema(Schema):
    lessons = fields.List(
        fields.Nested(LessonInSchema), required=True, validate=validate.Length(1, 100)
    )


class LessonOutSchema(Schema):
    date = fields.String(required=True)
    start = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(LESSON_STATUSES)})
    present = fields.List(fields.Integer(), required=True)


class LessonsRecordedSchema(Schema):
    group_id = fields.Integer(required=True)
    recorded = fields.Integer(required=True)
    lessons = fields.List(fields.Nested(LessonOutSchema), required=True)


class MonthQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    month = month(required=True)


class ChildMonthSchema(Schema):
    child_id = fields.Integer(required=True)
    contract_id = fields.Integer(required=True)
    completeness_mode = fields.String(required=True, metadata={"enum": list(COMPLETENESS_MODES)})
    lessons_scheduled = fields.Integer(required=True)
    lessons_held = fields.Integer(required=True)
    lessons_attended = fields.Integer(required=True)
    completeness = fields.String(required=True, metadata={"example": "0.666667"})


class GroupMonthSchema(Schema):
    group_id = fields.Integer(required=True)
    month = fields.String(required=True)
    billed = fields.Boolean(required=True)
    submission_deadline = fields.String(
        required=True,
        metadata={"format": "date", "description": "the last day the month can be corrected"},
    )
    lessons = fields.List(fields.Nested(LessonOutSchema), required=True)
    children = fields.List(fields.Nested(ChildMonthSchema), required=True)


class CompletenessModeSchema(Schema):
    completeness_mode = fields.String(required=True, validate=validate.OneOf(COMPLETENESS_MODES))


class CompletenessSettingSchema(Schema):
    municipality_code = fields.String(required=True)
    completeness_mode = fields.String(required=True, metadata={"enum": list(COMPLETENESS_MODES)})


class BillingSettingsInSchema(Schema):
    completeness_mode = fields.String(validate=validate.OneOf(COMPLETENESS_MODES))
    submission_workday = fields.Integer(
        validate=validate.Range(1, 20),
        metadata={"description": "attendance of a month is final after this working day "
                  "(Mon-Fri) of the next month; default 3"},
    )  # fmt: skip
    unrecorded_percent = fields.Integer(
        validate=validate.Range(0, 100),
        metadata={"description": "share of the plan billed for a month in which the "
                  "provider recorded no lesson; default 100 (as delivered by schedule)"},
    )  # fmt: skip


class BillingSettingsSchema(Schema):
    municipality_code = fields.String(required=True)
    completeness_mode = fields.String(required=True, metadata={"enum": list(COMPLETENESS_MODES)})
    submission_workday = fields.Integer(required=True)
    unrecorded_percent = fields.Integer(required=True)


# --- billing -------------------------------------------------------------------------------


class RunCreateSchema(Schema):
    month = month(required=True)


class RunSchema(Schema):
    id = fields.Integer(required=True)
    month = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["running", "completed"]})
    contracts_total = fields.Integer(required=True)
    charged = fields.Integer(required=True)
    posted = fields.Integer(required=True)
    pending = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    percent = fields.Integer(required=True)
    certificate_charged = Money(required=True)
    certificate_released = Money(required=True)
    copay_charged = Money(required=True)
    started_at = fields.String(required=True)
    finished_at = fields.String(allow_none=True)


# --- invoices ------------------------------------------------------------------------------


class InvoiceQuery(PageQuery):
    month = month()
    kind = fields.String(validate=validate.OneOf(INVOICE_KINDS))
    status = fields.String(validate=validate.OneOf(INVOICE_STATUSES))


class InvoiceSchema(Schema):
    id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    municipality_code = fields.String(required=True)
    month = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": list(INVOICE_KINDS)})
    number = fields.Integer(
        required=True, metadata={"description": "0; a correction's number, 1, 2, ..."}
    )
    amount = SignedMoney(required=True)
    status = fields.String(required=True, metadata={"enum": list(INVOICE_STATUSES)})
    issued_at = fields.String(required=True)
    paid_at = fields.String(allow_none=True)


class RegisterLineSchema(Schema):
    contract_id = fields.Integer(required=True)
    enrollment_id = fields.String(required=True)
    child_id = fields.Integer(required=True)
    certificate_number = fields.String(allow_none=True)
    group_id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    start_date = fields.String(required=True)
    end_date = fields.String(required=True)
    planned = Money(required=True)
    released_early = fields.Boolean(required=True)
    charge_status = fields.String(allow_none=True)
    completeness = fields.String(allow_none=True)
    debited = Money(required=True)


class RegisterSchema(Schema):
    invoice = fields.Nested(InvoiceSchema, required=True)
    contracts = fields.List(fields.Nested(RegisterLineSchema), required=True)
    planned = Money(required=True)
    debited = Money(required=True)
    invoiced = SignedMoney(required=True)


# --- reports -------------------------------------------------------------------------------


class ReportQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    month = month()


class SpendingSchema(Schema):
    key = fields.String(required=True)
    name = fields.String(
        required=True,
        metadata={"description": "the direction's or the organization's name, for people"},
    )
    certificate = Money(required=True)
    copay = Money(required=True)
    charges = fields.Integer(required=True)


class CertificateMoneySchema(Schema):
    in_contracts = Money(required=True)
    debited = Money(required=True)
    released_after_billing = Money(required=True)
    released_on_termination = Money(required=True)
    still_planned = Money(required=True)


class ContractsByStatusSchema(Schema):
    active = fields.Integer(required=True)
    terminated = fields.Integer(required=True)


class CertificateUsageSchema(Schema):
    """The certificates' money as their balances stand now (certificates service)."""

    credited = Money(required=True, metadata={"description": "nominals credited, net of lowerings"})
    reserved = Money(
        required=True, metadata={"description": "set aside for applications and contracts"}
    )
    spent = Money(required=True, metadata={"description": "debited by billing"})
    expired = Money(
        required=True, metadata={"description": "left at a period's or certificate's end"}
    )
    spent_in_month = Money(
        allow_none=True,
        metadata={"description": "debited for the report's month; null without a month"},
    )


EnrollmentsByStatusSchema = Schema.from_dict(
    {status: fields.Integer(required=True) for status in ENROLLMENT_STATUSES},
    name="EnrollmentsByStatusSchema",
)


class ReportSchema(Schema):
    municipality_code = fields.String(allow_none=True)
    month = fields.String(allow_none=True)
    children_covered = fields.Integer(required=True)
    children_registered = fields.Integer(
        required=True, metadata={"description": "children registered in accounts"}
    )
    children_covered_percent = fields.String(
        required=True,
        metadata={
            "pattern": r"^\d+\.\d{2}$",
            "example": "12.50",
            "description": "children covered / registered, percent; 0.00 when none registered",
        },
    )
    spending_by_direction = fields.List(fields.Nested(SpendingSchema), required=True)
    spending_by_provider = fields.List(fields.Nested(SpendingSchema), required=True)
    certificate_money = fields.Nested(CertificateMoneySchema, required=True)
    contracts_by_status = fields.Nested(ContractsByStatusSchema, required=True)
    certificate_usage = fields.Nested(CertificateUsageSchema, required=True)
    enrollments_by_status = fields.Nested(EnrollmentsByStatusSchema, required=True)


# --- the parent's view ---------------------------------------------------------------------


class MonthChargeSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["pending", "posted", "refused"]})
    completeness = fields.String(required=True)
    certificate_charged = Money(required=True)
    certificate_released = Money(required=True)
    copay_charged = Money(required=True)


class ContractMonthSchema(Schema):
    month = fields.String(required=True)
    certificate = Money(required=True)
    copay = Money(required=True)
    released = fields.Boolean(required=True)
    charge = fields.Nested(MonthChargeSchema, allow_none=True)


class ChildContractSchema(Schema):
    id = fields.Integer(required=True)
    enrollment_id = fields.String(required=True)
    group_id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": list(CONTRACT_STATUSES)})
    start_date = fields.String(required=True)
    end_date = fields.String(required=True)
    total = Money(required=True)
    certificate_share = Money(required=True)
    copay = Money(required=True)
    months = fields.List(fields.Nested(ContractMonthSchema), required=True)


class BalanceSchema(Schema):
    certificate_number = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    available = Money(allow_none=True)
    reserved = Money(allow_none=True)
    spent = Money(allow_none=True)


class ChildPaymentsSchema(Schema):
    child_id = fields.Integer(required=True)
    contracts = fields.List(fields.Nested(ChildContractSchema), required=True)
    balance = fields.Nested(
        BalanceSchema,
        allow_none=True,
        metadata={"description": "null while the certificates service cannot tell"},
    )
