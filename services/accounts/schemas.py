"""What crosses the wire from the accounts service (RPC answers): plain data only."""

from marshmallow import Schema, fields

from servicekit.pages import page_schema


class UserSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    full_name = fields.String(required=True)
    phone = fields.String(allow_none=True)
    role = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    organization_id = fields.Integer(allow_none=True)
    municipality_code = fields.String(allow_none=True)
    email_verified = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class TokensSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class ChildSchema(Schema):
    """A child as one viewer may see it: `masked` says SNILS and certificate number are."""

    id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True)
    last_name = fields.String(required=True)
    first_name = fields.String(required=True)
    middle_name = fields.String(allow_none=True)
    sex = fields.String(required=True)
    birth_date = fields.Date(required=True)
    snils = fields.String(required=True)
    birth_certificate_series = fields.String(required=True)
    birth_certificate_number = fields.String(required=True)
    municipality_code = fields.String(required=True)
    masked = fields.Boolean(required=True)
    verified = fields.Boolean(required=True)
    verified_at = fields.DateTime(allow_none=True)
    verified_by = fields.Integer(allow_none=True)
    verified_organization_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


ChildPageSchema = page_schema(ChildSchema)


class ChildFactsSchema(Schema):
    """`get_child` for other services (catalog, certificates): who the child is for
    eligibility and payment, without SNILS or document numbers."""

    id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True)
    birth_date = fields.Date(required=True)
    sex = fields.String(required=True)
    municipality_code = fields.String(required=True)
    verified = fields.Boolean(required=True)
    verified_at = fields.DateTime(allow_none=True)


class PersonSchema(Schema):
    child_id = fields.Integer()
    first_name = fields.String()
    last_name = fields.String()
    parent_id = fields.Integer()
