"""Marshmallow schemas of the accounts routes: what clients send and what they get back.

Requests are checked here for shape (types, lengths, unknown fields: 422 with field
messages); the rules of the domain (SNILS checksum, password policy, names) are checked by
the accounts service and come back as field messages too.
"""

from marshmallow import Schema, fields, validate

from contracts.roles import PARENT, STAFF_ROLES
from gateway.catalog_schemas import OrganizationCreateSchema
from gateway.fields import must_be_true

INT32 = validate.Range(1, 2147483647)
# Rules a request can be checked against before any data is read, stated in the document and
# checked here, so every fault of this kind comes in one answer; the service still checks
# what needs its data or its lists (SNILS check number, common passwords, duplicates).
PASSWORD_MIN, PASSWORD_MAX = 10, 128  # services/accounts/domain.py, check_password
# an address with one @ and no spaces; the service checks it further (scripts, controls)
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
# 11 digits as people write them: 112-233-445 95, 11223344595, with a space or any dash
# between the groups (the service checks the check number)
_SEP = r"[ \-\u2010-\u2014\u2212]?"
SNILS_PATTERN = rf"^[0-9]{{3}}{_SEP}[0-9]{{3}}{_SEP}[0-9]{{3}}{_SEP}[0-9]{{2}}$"


def _email(required: bool = False, **metadata):
    return fields.String(
        required=required,
        validate=[
            validate.Length(min=1, max=254),
            validate.Regexp(EMAIL_PATTERN, error="Ожидается адрес электронной почты."),
        ],
        metadata={"format": "email", "pattern": EMAIL_PATTERN, **metadata},
    )


def _new_password(**metadata):
    return fields.String(
        required=True,
        validate=[
            validate.Length(
                min=PASSWORD_MIN, error=f"пароль должен быть не короче {PASSWORD_MIN} символов"
            ),
            validate.Length(
                max=PASSWORD_MAX, error=f"пароль должен быть не длиннее {PASSWORD_MAX} символов"
            ),
        ],
        metadata=metadata,
    )


def _snils(required: bool = False, **metadata):
    return fields.String(
        required=required,
        validate=[
            validate.Length(min=1, max=20),
            validate.Regexp(
                SNILS_PATTERN, error="СНИЛС должен состоять из 11 цифр: 123-456-789 01"
            ),
        ],
        metadata={"pattern": SNILS_PATTERN, **metadata},
    )


def _text(max_length: int, required: bool = False, allow_none: bool = False, **metadata):
    return fields.String(
        required=required,
        allow_none=allow_none,
        validate=validate.Length(min=0 if allow_none else 1, max=max_length),
        metadata=metadata,
    )


class RegisterSchema(Schema):
    email = _email(required=True, example="parent@example.ru")
    password = _new_password(description="10 to 128 characters, not a common one")
    full_name = _text(200, required=True, example="Иванова Мария Петровна")
    phone = _text(30, allow_none=True, example="+79131234567")
    consent_personal_data = must_be_true(
        fields.Boolean(
            required=True,
            metadata={"description": "Consent to the processing of personal data; must be true"},
        )
    )


class ProviderRegisterSchema(RegisterSchema):
    """The first staff member (the person's fields) and their organization, whose fields are
    the catalog's (OrganizationCreateSchema's, renamed where the person's own have the name)."""

    organization_name = OrganizationCreateSchema._declared_fields["name"]
    inn = OrganizationCreateSchema._declared_fields["inn"]
    municipality_code = OrganizationCreateSchema._declared_fields["municipality_code"]
    address = OrganizationCreateSchema._declared_fields["address"]
    organization_phone = OrganizationCreateSchema._declared_fields["phone"]
    organization_email = OrganizationCreateSchema._declared_fields["email"]
    website = OrganizationCreateSchema._declared_fields["website"]


class LoginSchema(Schema):
    email = _text(254, required=True)
    password = _text(1000, required=True)


class RefreshTokenSchema(Schema):
    refresh_token = _text(200, required=True)


class VerifyEmailSchema(Schema):
    token = _text(200, required=True, description="From the link in the confirmation letter")


class PasswordResetSchema(Schema):
    email = _text(254, required=True, example="parent@example.ru")


class PasswordResetConfirmSchema(Schema):
    token = _text(200, required=True, description="From the link in the reset letter")
    password = _text(1000, required=True, description="10 to 128 characters, not a common one")


class VerifiedSchema(Schema):
    verified = fields.Boolean(required=True)


class AcceptedSchema(Schema):
    message = fields.String(required=True)


class StaffCreateSchema(Schema):
    email = _email(required=True)
    password = _new_password(description="Initial password, told to the user; 10 to 128")
    full_name = _text(200, required=True)
    phone = _text(30, allow_none=True)
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    organization_id = fields.Integer(
        strict=True,
        allow_none=True,
        validate=INT32,
        metadata={"description": "For a provider: the organization in the catalog"},
    )
    municipality_code = _text(
        100, allow_none=True, description="For a municipal operator: its municipality"
    )


class TokensSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"enum": ["Bearer"]})
    expires_in = fields.Integer(required=True, metadata={"description": "seconds"})


class UserSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    full_name = fields.String(required=True)
    phone = fields.String(allow_none=True)
    role = fields.String(required=True, metadata={"enum": [PARENT, *STAFF_ROLES]})
    roles = fields.List(fields.String(), required=True)
    organization_id = fields.Integer(allow_none=True)
    municipality_code = fields.String(allow_none=True)
    email_verified = fields.Boolean(
        required=True,
        metadata={
            "description": "A parent confirms the address by the link mailed at "
            "registration; until then they may search and add children but not apply"
        },
    )
    created_at = fields.String(required=True, metadata={"format": "date-time"})


class ChildCreateSchema(Schema):
    last_name = _text(100, required=True, example="Иванов")
    first_name = _text(100, required=True, example="Пётр")
    middle_name = _text(100, allow_none=True, example="Сергеевич")
    sex = fields.String(required=True, validate=validate.OneOf(["male", "female"]))
    birth_date = fields.Date(required=True)
    snils = _snils(required=True, example="112-233-445 95")
    birth_certificate_series = _text(20, required=True, example="IV-БА")
    birth_certificate_number = _text(20, required=True, example="123456")
    municipality_code = _text(100, required=True, example="krasnoyarsk")


class ChildChangeSchema(Schema):
    """Only the fields to change; changing verified data clears the verified mark."""

    last_name = _text(100)
    first_name = _text(100)
    middle_name = _text(100, allow_none=True)
    sex = fields.String(validate=validate.OneOf(["male", "female"]))
    birth_date = fields.Date()
    snils = _snils()
    birth_certificate_series = _text(20)
    birth_certificate_number = _text(20)
    municipality_code = _text(100)


class ChildSchema(Schema):
    """`masked`: SNILS and the certificate number are masked for this viewer (everyone but
    the parent and the regional operator)."""

    id = fields.Integer(required=True)
    parent_id = fields.Integer(required=True)
    last_name = fields.String(required=True)
    first_name = fields.String(required=True)
    middle_name = fields.String(allow_none=True)
    sex = fields.String(required=True, metadata={"enum": ["male", "female"]})
    birth_date = fields.String(required=True, metadata={"format": "date"})
    snils = fields.String(required=True)
    birth_certificate_series = fields.String(required=True)
    birth_certificate_number = fields.String(required=True)
    municipality_code = fields.String(required=True)
    masked = fields.Boolean(required=True)
    verified = fields.Boolean(required=True)
    verified_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    verified_by = fields.Integer(allow_none=True)
    verified_organization_id = fields.Integer(allow_none=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    updated_at = fields.String(required=True, metadata={"format": "date-time"})
