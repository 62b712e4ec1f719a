"""Which addresses are our own reverse proxies (TRUSTED_PROXIES), and so whose forwarded
headers the gateway believes: X-Forwarded-For for the caller's address (http.py, for the
routes) and X-Request-ID (observe.py). Imports no other gateway module, so neither of those
has to import the other for it."""

import ipaddress

from werkzeug.wrappers import Request

from servicekit import config

__all__ = ["client_address", "is_trusted", "trusted_proxies"]


def trusted_proxies() -> list:
    networks = []
    for entry in config.env("TRUSTED_PROXIES", "").split(","):
        if entry.strip():
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
    return networks


def is_trusted(address: str | None, trusted: list) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(request: Request) -> str | None:
    """The caller's IP address. X-Forwarded-For is believed only when the request comes from
    one of TRUSTED_PROXIES (comma-separated addresses or networks, e.g. `10.0.0.0/8` for the
    reverse proxies of a cluster): then the right-most address that is not a proxy of ours is
    the client."""
    remote = request.remote_addr
    trusted = trusted_proxies()
    if is_trusted(remote, trusted):
        hops = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
        for hop in reversed(hops):
            if hop and not is_trusted(hop, trusted):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    break
    return remote
