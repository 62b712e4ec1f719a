"""Marshmallow schemas of the enrollment routes: what HTTP clients send and receive.

Money is kopecks in RPC and a decimal string ("1900.00") here, through catalog's `Money`."""

from marshmallow import Schema, fields, post_load, validate

from contracts.enrollment import STATUSES
from gateway.catalog_schemas import Money, text
from gateway.http import PageQuery

ID = fields.Integer(required=True, validate=validate.Range(1, 2_147_483_647))


def iso_date(**kwargs) -> fields.String:
    """A date the service already sends as an ISO string (answers only)."""
    return fields.String(metadata={"format": "date"}, **kwargs)


class MonthPartSchema(Schema):
    month = fields.String(required=True, metadata={"example": "2026-09"})
    certificate = Money(required=True)
    copay = Money(required=True)


class TermsSchema(Schema):
    """The contract's money: the parts of `schedule` add up exactly to the totals."""

    start_date = iso_date(required=True)
    end_date = iso_date(required=True)
    total = Money(required=True)
    normative_cost = Money(required=True)
    certificate_share = Money(required=True)
    copay = Money(required=True)
    schedule = fields.List(fields.Nested(MonthPartSchema), required=True)


class QuoteQuery(Schema):
    child_id = fields.Integer(required=True, validate=validate.Range(1, 2_147_483_647))
    start_date = fields.Date()

    @post_load
    def iso(self, data, **kwargs):
        if data.get("start_date"):
            data["start_date"] = data["start_date"].isoformat()
        return data


class QuoteSchema(TermsSchema):
    certificate_available = Money(
        allow_none=True,
        required=True,
        metadata={"description": "null before the child's certificate is issued (on applying)"},
    )


class ApplySchema(Schema):
    child_id = ID
    group_id = ID
    start_date = fields.Date(
        metadata={"description": "defaults to the group's start (or today, if it has begun)"}
    )
    accept_copay = fields.Boolean(load_default=False)

    @post_load
    def iso(self, data, **kwargs):
        if data.get("start_date"):
            data["start_date"] = data["start_date"].isoformat()
        return data


class HistorySchema(Schema):
    status = fields.String(required=True)
    at = fields.String(required=True)
    actor = fields.String(required=True)
    reason = fields.String(allow_none=True)


class EnrollmentSchema(Schema):
    id = fields.String(required=True, metadata={"format": "uuid"})
    child_id = fields.Integer(required=True)
    group_id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    waitlist_position = fields.Integer(
        allow_none=True, required=True, metadata={"description": "1 = next for a freed seat"}
    )
    start_date = iso_date(required=True)
    end_date = iso_date(required=True)
    certificate_number = fields.String(allow_none=True, required=True)
    terms = fields.Nested(TermsSchema, required=True)
    reason = fields.String(allow_none=True, required=True)
    decide_by = fields.String(
        allow_none=True, required=True, metadata={"description": "the provider decides by then"}
    )
    effective_end_date = iso_date(allow_none=True, required=True)
    created_at = fields.String(required=True)
    history = fields.List(fields.Nested(HistorySchema))


class EnrollmentListQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(STATUSES))
    group_id = fields.Integer(validate=validate.Range(1, 2_147_483_647))
    child_id = fields.Integer(validate=validate.Range(1, 2_147_483_647))


class ReasonSchema(Schema):
    reason = text(max_len=2000, load_default=None, allow_none=True)


class RequiredReasonSchema(Schema):
    reason = text(max_len=2000, required=True)
