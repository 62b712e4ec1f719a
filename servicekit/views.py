"""What a service answers or tells of a row: its attributes under their own names."""

from typing import Any


def attributes(row: Any, *names: str) -> dict[str, Any]:
    """`attributes(user, "id", "email")` -> {"id": user.id, "email": user.email}: the part of
    a view (an RPC answer, an event's data) that copies a row's attributes as they are; the
    view adds what it renames or computes beside them."""
    return {name: getattr(row, name) for name in names}
