"""What crosses the wire from the payments service (RPC answers): plain data only.
Amounts are integer kopecks here; the gateway turns them into decimal strings."""

from marshmallow import Schema, fields

from servicekit.pages import page_schema


class RunSchema(Schema):
    id = fields.Integer(required=True)
    month = fields.String(required=True)
    status = fields.String(required=True)
    contracts_total = fields.Integer(required=True)
    charged = fields.Integer(required=True)
    posted = fields.Integer(required=True)
    pending = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    percent = fields.Integer(required=True)
    certificate_charged = fields.Integer(required=True)
    certificate_released = fields.Integer(required=True)
    copay_charged = fields.Integer(required=True)
    started_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)


class LessonOutSchema(Schema):
    date = fields.Date(required=True)
    start = fields.String(required=True)
    status = fields.String(required=True)
    present = fields.List(fields.Integer(), required=True)


class RecordedSchema(Schema):
    group_id = fields.Integer(required=True)
    recorded = fields.Integer(required=True)
    lessons = fields.List(fields.Nested(LessonOutSchema), required=True)


class ChildMonthSchema(Schema):
    child_id = fields.Integer(required=True)
    contract_id = fields.Integer(required=True)
    completeness_mode = fields.String(required=True)
    lessons_scheduled = fields.Integer(required=True)
    lessons_held = fields.Integer(required=True)
    lessons_attended = fields.Integer(required=True)
    completeness = fields.String(required=True)


class GroupMonthSchema(Schema):
    group_id = fields.Integer(required=True)
    month = fields.String(required=True)
    billed = fields.Boolean(required=True)
    submission_deadline = fields.Date(required=True)
    lessons = fields.List(fields.Nested(LessonOutSchema), required=True)
    children = fields.List(fields.Nested(ChildMonthSchema), required=True)


class InvoiceSchema(Schema):
    id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    municipality_code = fields.String(required=True)
    month = fields.String(required=True)
    kind = fields.String(required=True)
    number = fields.Integer(required=True)
    amount = fields.Integer(required=True)
    status = fields.String(required=True)
    issued_at = fields.DateTime(required=True)
    paid_at = fields.DateTime(allow_none=True)


class RegisterLineSchema(Schema):
    contract_id = fields.Integer(required=True)
    enrollment_id = fields.String(required=True)
    child_id = fields.Integer(required=True)
    certificate_number = fields.String(allow_none=True)
    group_id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    planned = fields.Integer(required=True)
    released_early = fields.Boolean(required=True)
    charge_status = fields.String(allow_none=True)
    completeness = fields.String(allow_none=True)
    debited = fields.Integer(required=True)


class RegisterSchema(Schema):
    invoice = fields.Nested(InvoiceSchema, required=True)
    contracts = fields.List(fields.Nested(RegisterLineSchema), required=True)
    planned = fields.Integer(required=True)
    debited = fields.Integer(required=True)
    invoiced = fields.Integer(required=True)


InvoicePageSchema = page_schema(InvoiceSchema)


class MonthChargeSchema(Schema):
    status = fields.String(required=True)
    completeness = fields.String(required=True)
    certificate_charged = fields.Integer(required=True)
    certificate_released = fields.Integer(required=True)
    copay_charged = fields.Integer(required=True)


class ContractMonthSchema(Schema):
    month = fields.String(required=True)
    certificate = fields.Integer(required=True)
    copay = fields.Integer(required=True)
    released = fields.Boolean(required=True)
    charge = fields.Nested(MonthChargeSchema, allow_none=True)


class ChildContractSchema(Schema):
    id = fields.Integer(required=True)
    enrollment_id = fields.String(required=True)
    group_id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    status = fields.String(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    total = fields.Integer(required=True)
    certificate_share = fields.Integer(required=True)
    copay = fields.Integer(required=True)
    months = fields.List(fields.Nested(ContractMonthSchema), required=True)


class SpendingSchema(Schema):
    key = fields.String(required=True)
    name = fields.String(required=True)
    certificate = fields.Integer(required=True)
    copay = fields.Integer(required=True)
    charges = fields.Integer(required=True)


class CertificateMoneySchema(Schema):
    in_contracts = fields.Integer(required=True)
    debited = fields.Integer(required=True)
    released_after_billing = fields.Integer(required=True)
    released_on_termination = fields.Integer(required=True)
    still_planned = fields.Integer(required=True)


class CertificateUsageSchema(Schema):
    credited = fields.Integer(required=True)
    reserved = fields.Integer(required=True)
    spent = fields.Integer(required=True)
    expired = fields.Integer(required=True)
    spent_in_month = fields.Integer(allow_none=True)


class ReportSchema(Schema):
    municipality_code = fields.String(allow_none=True)
    month = fields.String(allow_none=True)
    children_covered = fields.Integer(required=True)
    spending_by_direction = fields.List(fields.Nested(SpendingSchema), required=True)
    spending_by_provider = fields.List(fields.Nested(SpendingSchema), required=True)
    certificate_money = fields.Nested(CertificateMoneySchema, required=True)
    contracts_by_status = fields.Dict(keys=fields.String(), values=fields.Integer())
    children_registered = fields.Integer(required=True)
    children_covered_percent = fields.String(required=True)
    certificate_usage = fields.Nested(CertificateUsageSchema, required=True)
    enrollments_by_status = fields.Dict(keys=fields.String(), values=fields.Integer())
