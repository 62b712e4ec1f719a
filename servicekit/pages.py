"""The one pagination shape of every list, an RPC answer's as the gateway's HTTP one
(gateway.http.page_of): the page's items, how many there are in all, and the limit and
offset that were asked for."""

from marshmallow import Schema, fields


def page_schema(item: type[Schema]) -> type[Schema]:
    """`ChildSchema` -> a `ChildPageSchema` of items (ChildSchema), total, limit, offset."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "total": fields.Integer(required=True),
            "limit": fields.Integer(required=True),
            "offset": fields.Integer(required=True),
        },
        name=item.__name__.removesuffix("Schema") + "PageSchema",
    )
