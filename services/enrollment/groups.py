"""The groups as enrollment knows them: the catalog's facts of each group (dates, ages, price,
normative, schedule, whether enrollment is open, its program's registry and status, its
organization's municipality and status), kept in enrollment's own `groups` table beside the
group's seats, which are enrollment's alone.

How they arrive: every catalog event that can change them (`group_changed`,
`program_published`, `program_rejected`, `program_archived`, `organization_status_changed`)
makes enrollment ask the catalog for the current facts (`catalog.group_facts`) and store
them; asking for the current state, rather than reading it from the event, makes late or
repeated events harmless. A group it has not heard of yet, or one it would refuse as closed or
gone, is asked for at once (`refresh`), so a group created or reopened a moment ago is
applied to without waiting for its event. The capacity is stored when the group is first seen;
after that only `set_capacity` (which the catalog calls before storing a new one) changes it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.enrollment import store as repository
from services.enrollment.schemas import group_facts_schema

# the columns a refresh sets (the capacity and the seats are not among them)
FACT_COLUMNS = repository.FACT_COLUMNS


def row_of(facts: dict) -> dict:
    """The catalog's answer (`group_facts`, loaded by schemas.GroupFactsSchema) as a `groups`
    row by column name."""
    row = group_facts_schema.load(facts)
    row["id"] = row.pop("group_id")
    return row


def store(session: Session, facts_list: list[dict]) -> int:
    """Insert or update the facts of groups (commits nothing); the seats are left as they
    are, the capacity too once the group is known. How many were stored."""
    if not facts_list:
        return 0
    repository.store_group_facts(session, [row_of(f) for f in facts_list])
    return len(facts_list)


def refresh(session: Session, catalog, **which) -> int:
    """Ask the catalog for the current facts (`group_ids=[...]`, `program_id=` or
    `organization_id=`) and store them. `catalog(method, **kwargs)` calls it by RPC."""
    return store(session, catalog("group_facts", **which))
