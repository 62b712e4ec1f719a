"""Marshmallow schemas of the catalog routes: what HTTP clients send and receive.

Money is a decimal string with two places on HTTP and integer kopecks in RPC; the `Money`
field converts both ways. Loaded bodies are ready for RPC (dates as ISO strings)."""

import copy
import re
from datetime import date

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_load,
    validate,
    validates_schema,
)

from contracts.catalog import (
    AGE_MAX,
    AGE_MIN,
    DIRECTIONS,
    FORMATS,
    LEVELS,
    ORGANIZATION_STATUSES,
    PAYMENT_TYPES,
    PROGRAM_STATUSES,
    REGISTRIES,
    SEARCH_SORTS,
)
from gateway.fields import Money
from gateway.http import PageQuery
from servicekit.money import format_kopecks

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Text(fields.String):
    """A string without control characters (PostgreSQL refuses NUL in text)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if _CONTROL.search(text):
            raise ValidationError("Управляющие символы недопустимы.")
        return text


def text(min_len=1, max_len=300, **kwargs) -> Text:
    return Text(validate=validate.Length(min_len, max_len), **kwargs)


def choice(options, **kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(list(options)), **kwargs)


MUNICIPALITY_CODE = Text(validate=[validate.Length(1, 64), validate.Regexp(r"^[a-z0-9-]+$")])
AGE = fields.Integer(validate=validate.Range(AGE_MIN, AGE_MAX))

# --- reference ---------------------------------------------------------------------------


class MunicipalitySchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": ["city_okrug", "district"]})
    centre = fields.String(required=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)


class NormativeSchema(Schema):
    per_hour = Money(
        required=True,
        attribute="per_hour_kopecks",
        metadata={"description": "The normative cost of one hour of a certified program"},
    )


class NormativeSettingSchema(Schema):
    municipality_code = fields.String(required=True)
    per_hour = Money(
        required=True,
        allow_none=True,
        attribute="per_hour_kopecks",
        metadata={"description": "null until the operator sets it"},
    )


class DirectionSchema(Schema):
    code = fields.String(required=True, metadata={"enum": list(DIRECTIONS)})
    name = fields.String(required=True)


class MunicipalityListSchema(Schema):
    items = fields.List(fields.Nested(MunicipalitySchema), required=True)


class DirectionListSchema(Schema):
    items = fields.List(fields.Nested(DirectionSchema), required=True)


# --- organizations -----------------------------------------------------------------------


class OrganizationSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    inn = fields.String(required=True)
    municipality_code = fields.String(required=True)
    address = fields.String(required=True)
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    website = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"enum": list(ORGANIZATION_STATUSES)})
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)


class OrganizationCreateSchema(Schema):
    name = text(required=True)
    inn = Text(required=True, validate=validate.Regexp(r"^(\d{10}|\d{12})$"))
    municipality_code = Text(
        required=True, validate=[validate.Length(1, 64), validate.Regexp(r"^[a-z0-9-]+$")]
    )
    address = text(max_len=500, required=True)
    phone = text(max_len=50, allow_none=True)
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))
    website = fields.Url(allow_none=True, validate=validate.Length(max=300))
    lat = fields.Float(allow_none=True, validate=validate.Range(-90, 90))
    lon = fields.Float(allow_none=True, validate=validate.Range(-180, 180))


def optional_fields(schema: type[Schema]) -> dict:
    """The fields of `schema`, none required and without defaults: a PATCH body."""
    result = {}
    for name, field in schema._declared_fields.items():
        field = copy.copy(field)
        field.required = False
        field.load_default = missing
        result[name] = field
    return result


class _Patch(Schema):
    @validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Нечего изменять: укажите хотя бы одно поле.")


class OrganizationPatchSchema(_Patch.from_dict(optional_fields(OrganizationCreateSchema))):
    pass


class OrganizationListQuery(PageQuery):
    municipality_code = MUNICIPALITY_CODE
    status = choice(ORGANIZATION_STATUSES)


# --- programs ----------------------------------------------------------------------------


class ProgramSchema(Schema):
    id = fields.Integer(required=True)
    organization_id = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    direction = fields.String(required=True, metadata={"enum": list(DIRECTIONS)})
    level = fields.String(required=True, metadata={"enum": list(LEVELS)})
    min_age = fields.Integer(required=True)
    max_age = fields.Integer(required=True)
    format = fields.String(required=True, metadata={"enum": list(FORMATS)})
    adapted = fields.Boolean(required=True)
    registry = fields.String(required=True, metadata={"enum": list(REGISTRIES)})
    payment_type = fields.String(required=True, metadata={"enum": list(PAYMENT_TYPES)})
    certified = fields.Boolean(required=True)
    status = fields.String(required=True, metadata={"enum": list(PROGRAM_STATUSES)})
    rejection_reason = fields.String(allow_none=True)


class ProgramCreateSchema(Schema):
    title = text(required=True)
    description = text(max_len=5000, required=True)
    direction = choice(DIRECTIONS, required=True)
    level = choice(LEVELS, required=True)
    min_age = fields.Integer(required=True, validate=validate.Range(AGE_MIN, AGE_MAX))
    max_age = fields.Integer(required=True, validate=validate.Range(AGE_MIN, AGE_MAX))
    format = choice(FORMATS, required=True)
    adapted = fields.Boolean(load_default=False)
    registry = choice(REGISTRIES, required=True)


class ProgramListQuery(PageQuery):
    status = choice(PROGRAM_STATUSES)


class ProgramPatchSchema(_Patch.from_dict(optional_fields(ProgramCreateSchema))):
    pass


class RejectSchema(Schema):
    reason = text(max_len=2000, required=True)


# --- groups ------------------------------------------------------------------------------


class LessonSchema(Schema):
    weekday = fields.Integer(required=True, validate=validate.Range(1, 7))
    start = fields.String(required=True, validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))
    end = fields.String(required=True, validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))


class GroupSchema(Schema):
    id = fields.Integer(required=True)
    program_id = fields.Integer(required=True)
    name = fields.String(required=True)
    teacher = fields.String(required=True)
    address = fields.String(required=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    schedule = fields.List(fields.Nested(LessonSchema), required=True)
    start_date = fields.String(required=True, metadata={"format": "date"})
    end_date = fields.String(required=True, metadata={"format": "date"})
    min_age = fields.Integer(required=True)
    max_age = fields.Integer(required=True)
    capacity = fields.Integer(required=True)
    held = fields.Integer(required=True)
    enrolled = fields.Integer(required=True)
    free_seats = fields.Integer(required=True)
    price = Money(required=True, attribute="price_kopecks")
    normative_cost = Money(required=True, attribute="normative_cost_kopecks")
    monthly_price = Money(required=True, attribute="monthly_price_kopecks")
    enrollment_open = fields.Boolean(required=True)


def _group_fields(required: bool) -> dict:
    """The fields a provider sets on a group; all required on create, any on change."""
    need = {"required": True} if required else {}
    return {
        "name": text(max_len=200, **need),
        "teacher": text(max_len=200, **need),
        "address": text(max_len=500, **need),
        "lat": fields.Float(validate=validate.Range(-90, 90), **need),
        "lon": fields.Float(validate=validate.Range(-180, 180), **need),
        "schedule": fields.List(
            fields.Nested(LessonSchema), validate=validate.Length(1, 14), **need
        ),
        "start_date": fields.Date(
            validate=validate.Range(date(2000, 1, 1), date(2100, 1, 1)), **need
        ),
        "end_date": fields.Date(
            validate=validate.Range(date(2000, 1, 1), date(2100, 1, 1)), **need
        ),
        "min_age": fields.Integer(validate=validate.Range(AGE_MIN, AGE_MAX)),
        "max_age": fields.Integer(validate=validate.Range(AGE_MIN, AGE_MAX)),
        "capacity": fields.Integer(validate=validate.Range(1, 1000), **need),
        "price": Money(attribute="price_kopecks", **need),
        "enrollment_open": fields.Boolean(),
    }


class _GroupInput(Schema):
    @post_load
    def for_rpc(self, data, **kwargs):
        for key in ("start_date", "end_date"):
            if key in data:
                data[key] = data[key].isoformat()
        return data


class GroupCreateSchema(_GroupInput.from_dict(_group_fields(required=True))):
    program_id = fields.Integer(required=True, validate=validate.Range(1, 2147483647))
    enrollment_open = fields.Boolean(load_default=False)


class GroupPatchSchema(_GroupInput.from_dict(_group_fields(required=False))):
    @validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Нечего изменять: укажите хотя бы одно поле.")


# --- search ------------------------------------------------------------------------------

SORTS = SEARCH_SORTS


class SearchQuery(PageQuery):
    class Meta:
        unknown = EXCLUDE

    q = Text(
        validate=validate.Length(max=500),
        metadata={"description": "Free text, Russian morphology; ё = е; one-letter typos"},
    )
    direction = choice(DIRECTIONS)
    age = fields.Integer(
        validate=validate.Range(0, 30), metadata={"description": "The child's age in years"}
    )
    municipality = MUNICIPALITY_CODE
    payment_type = choice(PAYMENT_TYPES)
    max_monthly_price = Money(metadata={"description": 'Per month, e.g. "3000.00"'})
    level = choice(LEVELS)
    format = choice(FORMATS)
    adapted = fields.Boolean(metadata={"description": "true: only adapted for disabilities"})
    with_free_seats = fields.Boolean(metadata={"description": "true: only with free seats"})
    open_only = fields.Boolean(metadata={"description": "true: only open for enrollment"})
    lat = fields.Float(validate=validate.Range(-90, 90))
    lon = fields.Float(validate=validate.Range(-180, 180))
    radius_km = fields.Float(validate=validate.Range(0.1, 2000))
    sort = choice(SORTS, load_default="relevance")

    @validates_schema
    def point(self, data, **kwargs):
        if ("lat" in data) != ("lon" in data):
            raise ValidationError("lat и lon указываются вместе.", "lat")
        if "lat" not in data and (data.get("sort") == "distance" or "radius_km" in data):
            raise ValidationError("Для расстояния нужна точка: lat и lon.", "lat")


class OfferSchema(Schema):
    group_id = fields.Integer(required=True)
    monthly_price = Money(required=True, attribute="monthly_price_kopecks")


class NearestSchema(Schema):
    group_id = fields.Integer(required=True)
    distance_km = fields.Float(required=True)
    address = fields.String(required=True)


class GroupsSummarySchema(Schema):
    found = fields.Integer(required=True)
    free_seats = fields.Integer(required=True)
    cheapest = fields.Nested(OfferSchema, required=True)
    nearest = fields.Nested(NearestSchema, allow_none=True)
    earliest_start = fields.String(required=True, metadata={"format": "date"})


class OrganizationRefSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class SearchItemSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    organization = fields.Nested(OrganizationRefSchema, required=True)
    municipality_code = fields.String(required=True)
    direction = fields.String(required=True)
    level = fields.String(required=True)
    format = fields.String(required=True)
    adapted = fields.Boolean(required=True)
    registry = fields.String(required=True)
    payment_type = fields.String(required=True)
    min_age = fields.Integer(required=True)
    max_age = fields.Integer(required=True)
    relevance = fields.Float(required=True)
    groups = fields.Nested(GroupsSummarySchema, required=True)


class SearchPageSchema(Schema):
    items = fields.List(fields.Nested(SearchItemSchema), required=True)
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    corrected_query = fields.String(
        allow_none=True, metadata={"description": "The query as corrected for a typo, if it was"}
    )


def _offer(offer: dict) -> dict:
    return {
        "group_id": int(offer["group_id"]),
        "monthly_price": format_kopecks(offer["monthly_price_kopecks"]),
    }


def _nearest(nearest: dict | None) -> dict | None:
    if nearest is None:
        return None
    return {
        "group_id": int(nearest["group_id"]),
        "distance_km": float(nearest["distance_km"]),
        "address": str(nearest["address"]),
    }


def _search_item(item: dict) -> dict:
    groups = item["groups"]
    return {
        "id": int(item["id"]),
        "title": str(item["title"]),
        "organization": {
            "id": int(item["organization"]["id"]),
            "name": str(item["organization"]["name"]),
        },
        "municipality_code": str(item["municipality_code"]),
        "direction": str(item["direction"]),
        "level": str(item["level"]),
        "format": str(item["format"]),
        "adapted": bool(item["adapted"]),
        "registry": str(item["registry"]),
        "payment_type": str(item["payment_type"]),
        "min_age": int(item["min_age"]),
        "max_age": int(item["max_age"]),
        "relevance": float(item["relevance"]),
        "groups": {
            "found": int(groups["found"]),
            "free_seats": int(groups["free_seats"]),
            "cheapest": _offer(groups["cheapest"]),
            "nearest": _nearest(groups.get("nearest")),
            "earliest_start": str(groups["earliest_start"]),
        },
    }


def dump_search_page(page: dict) -> dict:
    """`SearchPageSchema().dump(page)` for the catalog's complete search answer, written out:
    the hottest answer of the portal, ~10x cheaper than the schema's generic dump (which stays
    its documentation; tests/unit/test_search_dump.py holds the two equal)."""
    corrected = page.get("corrected_query")
    return {
        "items": [_search_item(item) for item in page["items"]],
        "total": int(page["total"]),
        "limit": int(page["limit"]),
        "offset": int(page["offset"]),
        "corrected_query": None if corrected is None else str(corrected),
    }
