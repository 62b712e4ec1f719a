"""What the catalog's events say: the ``data`` of each envelope (docs/events.md), built from
rows in hand. Plain functions of attributes, so a unit test passes simple objects; money as
decimal strings and dates as ISO strings, as in every event."""

from __future__ import annotations

from typing import Any

from servicekit.money import format_kopecks
from servicekit.views import attributes
from services.catalog import domain


def organization(org: Any) -> dict:
    """organization_registered, organization_status_changed"""
    return {
        "organization_id": org.id,
        **attributes(org, "name", "inn", "municipality_code", "status"),
    }


def _owner(org: Any) -> dict:
    """Whose a program or a group is: its organization and the organization's municipality."""
    return {"organization_id": org.id, "municipality_code": org.municipality_code}


def program_published(program: Any, org: Any) -> dict:
    return {
        "program_id": program.id,
        **_owner(org),
        **attributes(program, "title", "direction"),
        "registry": program.registry_code,
        **attributes(program, "certified", "payment_type", "min_age", "max_age"),
    }


def program_rejected(program: Any, org: Any, reason: str) -> dict:
    return {"program_id": program.id, "organization_id": org.id, "reason": reason}


def program_archived(program: Any, org: Any) -> dict:
    return {"program_id": program.id, "organization_id": org.id}


def group_changed(group: Any, org: Any) -> dict:
    return {
        "group_id": group.id,
        "program_id": group.program_id,
        **_owner(org),
        "capacity": group.capacity,
        "free_seats": domain.free_seats(group.capacity, group.held, group.enrolled),
        "start_date": group.start_date.isoformat(),
        "end_date": group.end_date.isoformat(),
        "price": format_kopecks(group.price_kopecks),
        "normative_cost": format_kopecks(group.normative_cost_kopecks),
        "monthly_price": format_kopecks(group.monthly_price_kopecks),
        "enrollment_open": group.enrollment_open,
    }


def group_facts(group: Any, program: Any, org: Any) -> dict:
    """What enrollment keeps of a group (not an event: the answer of `group_facts`)."""
    return {
        "group_id": group.id,
        "program_id": program.id,
        "organization_id": org.id,
        "organization_municipality": org.municipality_code,
        "organization_status": org.status,
        "program_status": program.status,
        "direction": program.direction,
        "registry": program.registry_code,
        "certified": program.certified,
        "schedule": group.schedule,
        "start_date": group.start_date.isoformat(),
        "end_date": group.end_date.isoformat(),
        "min_age": group.min_age,
        "max_age": group.max_age,
        "price_kopecks": group.price_kopecks,
        "normative_cost_kopecks": group.normative_cost_kopecks,
        "enrollment_open": group.enrollment_open,
        "capacity": group.capacity,
    }
