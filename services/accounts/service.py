"""Accounts service."""

from servicekit.service import ServiceBase


class AccountsService(ServiceBase):
    name = "accounts"
