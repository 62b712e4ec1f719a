"""Quotes, attendance, monthly billing and invoices (not built yet: only health)."""

from servicekit.service import ServiceBase


class PaymentsService(ServiceBase):
    name = "payments"
