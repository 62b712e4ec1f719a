"""A subscriber of catalog's events in the running system, as another service would be: it
only logs what it saw, so a test can follow a request id into an event handler's log line."""

import logging

from servicekit.events import reliable_handler
from servicekit.telemetry import Telemetry

log = logging.getLogger(__name__)


class CatalogListener:
    name = "listener"

    telemetry = Telemetry()

    @reliable_handler("catalog", "organization_registered")
    def on_organization_registered(self, envelope):
        log.info("organization %s registered", envelope["data"]["organization_id"])
