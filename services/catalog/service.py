"""Catalog service."""

from servicekit.service import ServiceBase


class CatalogService(ServiceBase):
    name = "catalog"
