"""What crosses the wire from the catalog service: plain data, kopecks as integers, dates as
ISO strings. The gateway turns kopecks into decimal strings for HTTP."""

from marshmallow import Schema, fields

from services.catalog import domain


class MunicipalitySchema(Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    centre = fields.String()
    lat = fields.Float()
    lon = fields.Float()


class OrganizationSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    inn = fields.String()
    municipality_code = fields.String()
    address = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    website = fields.String(allow_none=True)
    status = fields.String()
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)


class ProgramSchema(Schema):
    id = fields.Integer()
    organization_id = fields.Integer()
    title = fields.String()
    description = fields.String()
    direction = fields.String()
    level = fields.String()
    min_age = fields.Integer()
    max_age = fields.Integer()
    format = fields.String()
    adapted = fields.Boolean()
    registry = fields.String(attribute="registry_code")
    payment_type = fields.String()
    certified = fields.Boolean()
    status = fields.String()
    rejection_reason = fields.String(allow_none=True)


class LessonSchema(Schema):
    weekday = fields.Integer()
    start = fields.String()
    end = fields.String()


class GroupSchema(Schema):
    id = fields.Integer()
    program_id = fields.Integer()
    name = fields.String()
    teacher = fields.String()
    address = fields.String()
    lat = fields.Float()
    lon = fields.Float()
    schedule = fields.List(fields.Nested(LessonSchema))
    start_date = fields.Date()
    end_date = fields.Date()
    min_age = fields.Integer()
    max_age = fields.Integer()
    capacity = fields.Integer()
    held = fields.Integer()
    enrolled = fields.Integer()
    free_seats = fields.Method("get_free_seats")
    price_kopecks = fields.Integer()
    normative_cost_kopecks = fields.Integer()
    monthly_price_kopecks = fields.Integer()
    enrollment_open = fields.Boolean()

    def get_free_seats(self, group) -> int:
        return domain.free_seats(group.capacity, group.held, group.enrolled)


municipality_schema = MunicipalitySchema()
organization_schema = OrganizationSchema()
program_schema = ProgramSchema()
group_schema = GroupSchema()


def _page_of(item: Schema) -> Schema:
    """The one list shape: ``{items, total, limit, offset}``."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(type(item))),
            "total": fields.Integer(),
            "limit": fields.Integer(),
            "offset": fields.Integer(),
        }
    )()


organization_page_schema = _page_of(organization_schema)
program_page_schema = _page_of(program_schema)
group_page_schema = _page_of(group_schema)
