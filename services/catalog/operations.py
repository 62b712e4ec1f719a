"""What the catalog service does, on a SQLAlchemy session: reference data, organizations,
programs and groups, the free seats enrollment tells of (the search SQL in search.py).

The rules come from domain.py; this layer loads and stores rows, records events in the
outbox and turns the domain's refusals into the errors that cross RPC. It imports no Nameko
entrypoint and commits nothing: the caller's transaction does (the worker's, a CLI's, or a
saga step's). Functions return ORM rows (or pages of them); service.py dumps them through
schemas.py.

Who sees what: the domain gives a principal's ``managed_scope``; ``_visible_organizations``
and ``_visible_programs`` are the one place it becomes SQL, for lists and single rows alike.
An internal caller (another service) reads with ``EVERYTHING``, by name (``reader_scope``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.principal import Principal
from contracts.roles import MUNICIPAL_OPERATOR, REGIONAL_OPERATOR
from contracts.scope import EVERYTHING, Scope
from servicekit.db import read_only, save_stamped
from servicekit.outbox import emit
from servicekit.visibility import where_visible
from services.catalog import domain, event_data, search
from services.catalog.exceptions import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    refusals_as_rpc_errors,
)
from services.catalog.models import (
    Group,
    Municipality,
    MunicipalNormative,
    Organization,
    Program,
)
from services.catalog.schemas import group_schema

# --- who reads --------------------------------------------------------------------------


def reader_scope(viewer: Mapping[str, Any] | Principal | None) -> Scope:
    """The scope of a read RPC's ``viewer``. The gateway always passes one (an anonymous
    visitor is a viewer without a role); no viewer at all is another service asking, and
    it sees everything."""
    if viewer is None:
        return EVERYTHING
    return domain.managed_scope(Principal.from_rpc(viewer))


def _visible_organizations(scope: Scope) -> Select:
    """Organizations a scope sees: public ones and those it manages (the SQL of
    domain.sees_organization)."""
    return select(Organization).where(
        or_(
            Organization.status.in_(domain.PUBLIC_ORGANIZATION_STATUSES),
            where_visible(
                scope,
                organization_id=Organization.id,
                municipality_code=Organization.municipality_code,
            ),
        )
    )


def _program_visibility(scope: Scope):
    """Programs (and their groups) a scope sees: public ones and those of organizations it
    manages (the SQL of domain.sees_program); the query must join Organization."""
    return or_(
        Program.status.in_(domain.PUBLIC_PROGRAM_STATUSES),
        where_visible(
            scope,
            organization_id=Organization.id,
            municipality_code=Organization.municipality_code,
        ),
    )


def _visible_programs(scope: Scope, *entities) -> Select:
    """Programs a scope sees (with the entities asked for, Program by default)."""
    return (
        select(*(entities or (Program,)))
        .select_from(Program)
        .join(Organization, Organization.id == Program.organization_id)
        .where(_program_visibility(scope))
    )


def page(session: Session, query: Select, order_by, limit: int, offset: int) -> dict:
    """One page of a query, with the total count: ``{items, total, limit, offset}``."""
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(order_by).limit(limit).offset(offset)).all()
    return {"items": rows, "total": total, "limit": limit, "offset": offset}


# --- reference data ---------------------------------------------------------------------


def list_municipalities(session: Session) -> list[Municipality]:
    return list(session.scalars(select(Municipality).order_by(Municipality.name)).all())


def get_municipality(session: Session, code: str) -> Municipality:
    municipality = session.get(Municipality, code) if isinstance(code, str) else None
    if municipality is None:
        raise NotFound("Муниципалитет не найден", code="municipality_not_found")
    return municipality


def list_directions() -> list[dict]:
    return [{"code": code, "name": name} for code, name in domain.DIRECTIONS.items()]


def _check_municipality(session: Session, code: str) -> None:
    if session.get(Municipality, code) is None:
        raise InvalidInput(
            "Неизвестный муниципалитет",
            code="unknown_municipality",
            fields={"municipality_code": ["неизвестный муниципалитет"]},
        )


# --- organizations ----------------------------------------------------------------------


def find_organization(
    session: Session, scope: Scope, organization_id: int, lock: bool = False
) -> Organization:
    query = _visible_organizations(scope).where(Organization.id == organization_id)
    org = session.scalars(query.with_for_update() if lock else query).first()
    if org is None:  # absent or not visible: the same 404
        raise NotFound("Организация не найдена", code="organization_not_found")
    return org


def organization_names(session: Session, organization_ids: list[int]) -> dict[str, str]:
    """id (as a string, the key JSON keeps) -> name, for the organizations a report names;
    an internal reader's (the payments service's), whatever their status."""
    ids = sorted({int(i) for i in organization_ids})[:10_000]
    if not ids:
        return {}
    rows = session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(ids))
    )
    return {str(org_id): name for org_id, name in rows}


def list_organizations(
    session: Session,
    scope: Scope,
    municipality_code: str | None = None,
    status: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> dict:
    query = _visible_organizations(scope)
    if municipality_code:
        query = query.where(Organization.municipality_code == municipality_code)
    if status:
        query = query.where(Organization.status == status)
    return page(session, query, Organization.id, limit, offset)


def _flush_unique_inn(session: Session, what: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        raise Conflict(f"{what} с таким ИНН уже есть", code="inn_taken") from error


def _refresh_organization_programs(session: Session, organization_id: int) -> None:
    ids = session.scalars(select(Program.id).where(Program.organization_id == organization_id))
    search.refresh_programs(session, list(ids.all()))


def create_organization(session: Session, principal: Principal, data: dict) -> Organization:
    """A provider (not yet in an organization) or the regional operator registers one; it
    waits, `pending`, for the regional operator's approval."""
    with refusals_as_rpc_errors():
        domain.check_may_register_organization(principal)
        domain.check_inn(data["inn"])
    _check_municipality(session, data["municipality_code"])
    org = Organization(**data, status="pending")
    session.add(org)
    _flush_unique_inn(session, "Организация")
    emit(session, "organization_registered", event_data.organization(org))
    return org


def update_organization(
    session: Session, principal: Principal, organization_id: int, data: dict
) -> Organization:
    """Its staff or the regional operator change an organization's details. Staff who change
    its INN or municipality send it back to approval (domain.status_after_details_change)."""
    org = find_organization(session, domain.managed_scope(principal), organization_id, lock=True)
    if not domain.changes_organization_details(principal, org.id):
        raise Forbidden("Это не ваша организация", code="not_owner")
    if domain.edits_organization(principal, org.id):
        _check_staff_may_act(org)
    if "inn" in data:
        with refusals_as_rpc_errors():
            domain.check_inn(data["inn"])
    if "municipality_code" in data:
        _check_municipality(session, data["municipality_code"])
    before = {field: getattr(org, field) for field in domain.OVERSIGHT_FIELDS}
    status = domain.status_after_details_change(principal, org.status, before, data)
    for key, value in data.items():
        setattr(org, key, value)
    status_changed = status != org.status
    org.status = status
    _flush_unique_inn(session, "Организация")
    _refresh_organization_programs(session, org.id)
    if status_changed:
        emit(session, "organization_status_changed", event_data.organization(org))
    return org


def _check_staff_may_act(org: Organization) -> None:
    if not domain.staff_may_act(org.status):
        raise Forbidden(
            "Организация приостановлена: её сотрудники ничего не меняют",
            code="organization_suspended",
        )


def change_organization_status(
    session: Session, principal: Principal, organization_id: int, action: str
) -> Organization:
    """The regional operator approves, suspends or reinstates an organization."""
    if not domain.reviews_programs(principal):
        raise Forbidden("Только региональный оператор", code="role_forbidden")
    org = find_organization(session, domain.managed_scope(principal), organization_id, lock=True)
    with refusals_as_rpc_errors():
        org.status = domain.transition(
            "organization", org.status, domain.ORGANIZATION_ACTIONS[action]
        )
    session.flush()
    _refresh_organization_programs(session, org.id)
    emit(session, "organization_status_changed", event_data.organization(org))
    return org


def list_organization_programs(
    session: Session, scope: Scope, organization_id: int, limit: int = 20, offset: int = 0
) -> dict:
    org = find_organization(session, scope, organization_id)
    query = _visible_programs(scope).where(Program.organization_id == org.id)
    return page(session, query, Program.id, limit, offset)


def list_programs(
    session: Session, scope: Scope, status: str | None, limit: int = 20, offset: int = 0
) -> dict:
    """Programs the scope sees, of one status (the regional operator's review queue:
    `on_review`), oldest first."""
    query = _visible_programs(scope)
    if status is not None:
        query = query.where(Program.status == status)
    return page(session, query, Program.id, limit, offset)


# --- programs ---------------------------------------------------------------------------


def find_program(
    session: Session, scope: Scope, program_id: int, lock: bool = False
) -> tuple[Program, Organization]:
    query = _visible_programs(scope, Program, Organization).where(Program.id == program_id)
    row = session.execute(query.with_for_update(of=Program) if lock else query).first()
    if row is None:
        raise NotFound("Программа не найдена", code="program_not_found")
    return row[0], row[1]


def _editable_program(
    session: Session, principal: Principal, program_id: int
) -> tuple[Program, Organization]:
    program, org = find_program(session, domain.managed_scope(principal), program_id, lock=True)
    if not domain.edits_organization(principal, org.id):
        raise Forbidden("Это программа другой организации", code="not_owner")
    _check_staff_may_act(org)
    return program, org


def _reviewed_program(
    session: Session, principal: Principal, program_id: int
) -> tuple[Program, Organization]:
    if not domain.reviews_programs(principal):
        raise Forbidden("Только региональный оператор", code="role_forbidden")
    return find_program(session, domain.managed_scope(principal), program_id, lock=True)


def _set_payment_type(program: Program) -> None:
    program.payment_type = domain.program_payment_type(program.registry_code, program.certified)


def create_program(session: Session, principal: Principal, data: dict) -> Program:
    """A provider's new program of their organization, a draft."""
    organization_id = domain.creates_programs_for(principal)
    if organization_id is None:
        raise Forbidden("Программы создаёт сотрудник организации", code="no_organization")
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("Организация не найдена", code="organization_not_found")
    _check_staff_may_act(org)
    with refusals_as_rpc_errors():
        domain.check_program_fields(data)
    fields = {**data}
    registry = fields.pop("registry")
    program = Program(
        **fields, organization_id=org.id, registry_code=registry, certified=False, status="draft"
    )
    _set_payment_type(program)
    session.add(program)
    session.flush()
    return program


def update_program(session: Session, principal: Principal, program_id: int, data: dict) -> Program:
    program, _ = _editable_program(session, principal, program_id)
    merged = {
        "min_age": program.min_age,
        "max_age": program.max_age,
        "registry": program.registry_code,
        "direction": program.direction,
        **data,
    }
    with refusals_as_rpc_errors():
        domain.check_program_change(program.status, data)
        domain.check_program_fields(merged)
    if domain.narrows_ages(program.min_age, program.max_age, data):
        outside = session.scalar(
            select(func.count())
            .select_from(Group)
            .where(
                Group.program_id == program.id,
                (Group.min_age < merged["min_age"]) | (Group.max_age > merged["max_age"]),
            )
        )
        if outside:
            raise Conflict(
                "Есть группы вне нового возрастного диапазона", code="groups_outside_ages"
            )
    for key, value in data.items():
        setattr(program, "registry_code" if key == "registry" else key, value)
    _set_payment_type(program)
    session.flush()
    search.refresh_programs(session, [program.id])
    return program


def submit_program(session: Session, principal: Principal, program_id: int) -> Program:
    """The provider sends a draft to the regional operator's review."""
    program, org = _editable_program(session, principal, program_id)
    with refusals_as_rpc_errors():
        domain.check_organization_can_submit(org.status)
        program.status = domain.transition("program", program.status, "on_review")
    program.rejection_reason = None
    session.flush()
    return program


def certify_program(session: Session, principal: Principal, program_id: int) -> Program:
    """The regional operator's approval of a program on review: it is published, and a
    program of the `certified` registry becomes payable by certificate."""
    program, org = _reviewed_program(session, principal, program_id)
    with refusals_as_rpc_errors():
        program.status = domain.transition("program", program.status, "published")
    program.certified = domain.certified_on_publication(program.registry_code)
    _set_payment_type(program)
    session.flush()
    search.refresh_programs(session, [program.id])
    emit(session, "program_published", event_data.program_published(program, org))
    return program


def reject_program(session: Session, principal: Principal, program_id: int, reason: str) -> Program:
    program, org = _reviewed_program(session, principal, program_id)
    with refusals_as_rpc_errors():
        program.status = domain.transition("program", program.status, "draft")
    program.rejection_reason = reason
    session.flush()
    emit(session, "program_rejected", event_data.program_rejected(program, org, reason))
    return program


def archive_program(session: Session, principal: Principal, program_id: int) -> Program:
    """The provider archives a published program; its groups close to applications."""
    program, org = _editable_program(session, principal, program_id)
    with refusals_as_rpc_errors():
        program.status = domain.transition("program", program.status, "archived")
    session.execute(
        update(Group).where(Group.program_id == program.id).values(enrollment_open=False)
    )
    session.flush()
    search.refresh_programs(session, [program.id])
    emit(session, "program_archived", event_data.program_archived(program, org))
    return program


def list_program_groups(
    session: Session, scope: Scope, program_id: int, limit: int = 20, offset: int = 0
) -> dict:
    program, _ = find_program(session, scope, program_id)
    query = select(Group).where(Group.program_id == program.id)
    return page(session, query, Group.id, limit, offset)


# --- groups -----------------------------------------------------------------------------


def find_group(
    session: Session, scope: Scope, group_id: int, lock: bool = False
) -> tuple[Group, Program, Organization]:
    query = (
        select(Group, Program, Organization)
        .join(Program, Program.id == Group.program_id)
        .join(Organization, Organization.id == Program.organization_id)
        .where(Group.id == group_id, _program_visibility(scope))
    )
    row = session.execute(query.with_for_update(of=Group) if lock else query).first()
    if row is None:
        raise NotFound("Группа не найдена", code="group_not_found")
    return row[0], row[1], row[2]


def _checked_group(program: Program, values: dict) -> dict:
    with refusals_as_rpc_errors():
        return domain.check_group(program.min_age, program.max_age, values)


# --- the normative cost: the operator's figure per hour --------------------------------------


def set_normative(session: Session, principal: Principal, code: str, per_hour: int) -> dict:
    """The municipality's operator (or the regional one) sets the normative cost of an hour;
    it applies to groups created or changed afterwards (their contracts keep theirs)."""
    if principal.role != REGIONAL_OPERATOR and not (
        principal.role == MUNICIPAL_OPERATOR and principal.municipality_code == code
    ):
        raise Forbidden("Это настройка другого муниципалитета", code="not_owner")
    get_municipality(session, code)
    if (
        isinstance(per_hour, bool)
        or not isinstance(per_hour, int)
        or not 0 <= per_hour <= domain.NORMATIVE_PER_HOUR_MAX
    ):
        raise InvalidInput(
            "Норматив часа: от 0 до 10 000 000.00 ₽",
            code="invalid_normative",
            fields={"per_hour": ["от 0 до 10 000 000.00 ₽ за час"]},
        )
    values = {"per_hour_kopecks": per_hour}
    save_stamped(
        session, MunicipalNormative, {"municipality_code": code}, values, by=principal.user_id
    )
    return get_normative(session, code)


def get_normative(session: Session, code: str) -> dict:
    get_municipality(session, code)
    row = session.get(MunicipalNormative, code, populate_existing=True)
    return {
        "municipality_code": code,
        "per_hour_kopecks": row.per_hour_kopecks if row else None,
    }


def _normative_cost(session: Session, program: Program, org: Organization, values) -> int:
    """A group's normative cost: the operator's normative per hour of the organization's
    municipality × the group's hours (its weekly lessons over its dates); 0 for programs not
    paid from certificates. 409 while the operator has set no normative."""
    if not domain.needs_normative(program.registry_code, program.certified):
        return 0
    row = session.get(MunicipalNormative, org.municipality_code)
    if row is None:
        with refusals_as_rpc_errors():
            raise domain.NormativeNotSet(org.municipality_code)
    minutes = domain.group_minutes(values["schedule"], values["start_date"], values["end_date"])
    return domain.normative_cost_kopecks(row.per_hour_kopecks, minutes)


def _refuse_typed_normative(data: Mapping[str, Any]) -> None:
    if "normative_cost_kopecks" in data:
        raise InvalidInput(
            "Норматив стоимости задаёт оператор муниципалитета, не поставщик",
            code="normative_set_by_operator",
            fields={"normative_cost": ["задаётся оператором: норматив часа × часы группы"]},
        )


def create_group(session: Session, principal: Principal, data: dict) -> Group:
    program, org = find_program(
        session, domain.managed_scope(principal), data["program_id"], lock=True
    )
    if not domain.edits_organization(principal, org.id):
        raise Forbidden("Это программа другой организации", code="not_owner")
    _check_staff_may_act(org)
    with refusals_as_rpc_errors():
        domain.check_group_can_be_added(program.status)
    _refuse_typed_normative(data)
    values = {"min_age": program.min_age, "max_age": program.max_age, **data}
    values.update(_checked_group(program, values))
    values["normative_cost_kopecks"] = _normative_cost(session, program, org, values)
    if not domain.opens_on_creation(program.status):
        values["enrollment_open"] = False
    group = Group(**values, held=0, enrolled=0)
    session.add(group)
    session.flush()
    search.refresh_programs(session, [program.id])
    emit(session, "group_changed", event_data.group_changed(group, org))
    return group


def update_group(
    session: Session, principal: Principal, group_id: int, data: dict, set_capacity=None
) -> Group:
    """`set_capacity(group_id, capacity)`: enrollment's, which counts the seats and refuses a
    capacity below those taken (409 `capacity_below_occupied`) under its group lock, answering
    its counts; the catalog's own counts (a projection) give the fast refusal first."""
    group, program, org = find_group(session, domain.managed_scope(principal), group_id, lock=True)
    if not domain.edits_organization(principal, org.id):
        raise Forbidden("Это группа другой организации", code="not_owner")
    _check_staff_may_act(org)
    if "capacity" in data:
        with refusals_as_rpc_errors():
            domain.check_capacity_change(data["capacity"], group.held, group.enrolled)
        if set_capacity is not None and data["capacity"] != group.capacity:
            apply_seats(session, set_capacity(group.id, data["capacity"]), group=group)
    current = group_schema.dump(group)  # as a caller sends them: dates as ISO strings
    values = {
        key: current[key]
        for key in ("schedule", "start_date", "end_date", "min_age", "max_age", "capacity")
    }
    _refuse_typed_normative(data)
    values["price_kopecks"] = group.price_kopecks
    values.update(data)
    checked = _checked_group(program, values)
    # the price and the normative are the terms of the group's contracts and held seats: they
    # change only while nobody holds one; a schedule or dates that change the hours then
    # leave the normative as the contracts know it
    normative = group.normative_cost_kopecks
    if group.held + group.enrolled == 0 and _hours_may_change(data):
        normative = _normative_cost(session, program, org, {**values, **checked})
    with refusals_as_rpc_errors():
        domain.check_money_terms_change(
            values["price_kopecks"] != group.price_kopecks, group.held, group.enrolled
        )
    checked["normative_cost_kopecks"] = normative
    if data.get("enrollment_open"):
        with refusals_as_rpc_errors():
            domain.check_enrollment_opening(program.status)
    for key, value in {**data, **checked}.items():
        setattr(group, key, value)
    session.flush()
    search.refresh_programs(session, [program.id])
    emit(session, "group_changed", event_data.group_changed(group, org))
    return group


def apply_seats(session: Session, seats: Mapping[str, Any], group: Group | None = None) -> bool:
    """Enrollment's counts of a group's seats (`group_seats_changed`, or set_capacity's
    answer) into the group's row and its search row, when newer than those applied (events of
    two enrollment processes may arrive out of order). True when applied."""
    if group is None:
        group = session.scalars(
            select(Group).where(Group.id == seats["group_id"]).with_for_update()
        ).first()
    if group is None or int(seats["version"]) <= group.seats_version:
        return False
    group.held, group.enrolled = int(seats["held"]), int(seats["enrolled"])
    group.seats_version = int(seats["version"])
    session.flush()
    search.refresh_seats(session, group.id, domain.free_seats(group.capacity, group.held,
                                                              group.enrolled))  # fmt: skip
    return True


def group_facts(
    session: Session,
    group_ids: list[int] | None = None,
    program_id: int | None = None,
    organization_id: int | None = None,
) -> list[dict]:
    """What enrollment keeps of groups (services/enrollment/groups.py): one dict per group
    named by id, or of a program, or of an organization; any status (enrollment decides what
    it may apply to)."""
    query = (
        select(Group, Program, Organization)
        .join(Program, Program.id == Group.program_id)
        .join(Organization, Organization.id == Program.organization_id)
    )
    if group_ids is not None:
        query = query.where(Group.id.in_([int(g) for g in group_ids]))
    if program_id is not None:
        query = query.where(Program.id == int(program_id))
    if organization_id is not None:
        query = query.where(Organization.id == int(organization_id))
    return [
        event_data.group_facts(group, program, org)
        for group, program, org in session.execute(query.order_by(Group.id)).all()
    ]


def _hours_may_change(data: Mapping[str, Any]) -> bool:
    return bool({"schedule", "start_date", "end_date"} & set(data))


# --- search -----------------------------------------------------------------------------


def search_programs(session: Session, filters: dict[str, Any]) -> dict:
    with refusals_as_rpc_errors():
        clean = domain.check_search_filters(filters)
    # a search only reads, and its statements need no shared snapshot: no BEGIN/COMMIT
    return search.search(read_only(session), clean)
