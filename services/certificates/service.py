"""Certificates, nominals, municipal limits and the money ledger (not built yet: only health)."""

from servicekit.service import ServiceBase


class CertificatesService(ServiceBase):
    name = "certificates"
