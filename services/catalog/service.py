"""Catalog service: municipalities, organizations, programs, groups and their seats, search.

Entrypoints are thin: rules live in domain.py, SQL of the search in search.py. `viewer` /
`principal` is the caller as the gateway authenticated it (Principal.as_rpc()); an internal
caller (another service) passes no viewer and sees everything.
"""

from datetime import date
from typing import Any

from nameko.rpc import rpc
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from servicekit.money import format_kopecks
from servicekit.outbox import emit
from servicekit.service import ServiceBase
from services.catalog import domain, search
from services.catalog.exceptions import Conflict, Forbidden, InvalidInput, NotFound, domain_errors
from services.catalog.models import Group, Municipality, Organization, Program, SeatHold
from services.catalog.schemas import (
    group_schema,
    municipality_schema,
    organization_schema,
    program_schema,
)

PUBLIC_ORGANIZATION_STATUSES = ("active", "suspended")
PUBLIC_PROGRAM_STATUSES = ("published", "archived")
ORGANIZATION_ACTIONS = {"approve": "active", "suspend": "suspended", "reinstate": "active"}
# what a provider may still change in a published program without a new review
PUBLISHED_EDITABLE = {"title", "description", "format", "adapted"}


def _page(items: list, total: int, limit: int, offset: int) -> dict:
    return {"items": items, "total": total, "limit": limit, "offset": offset}


class CatalogService(ServiceBase):
    name = "catalog"

    # --- reference data -----------------------------------------------------------------

    @rpc
    def list_municipalities(self) -> list[dict]:
        rows = self.db.scalars(select(Municipality).order_by(Municipality.name)).all()
        return municipality_schema.dump(rows, many=True)

    @rpc
    def get_municipality(self, code: str) -> dict:
        municipality = self.db.get(Municipality, code) if isinstance(code, str) else None
        if municipality is None:
            raise NotFound("Муниципалитет не найден", code="municipality_not_found")
        return municipality_schema.dump(municipality)

    @rpc
    def list_directions(self) -> list[dict]:
        return [{"code": code, "name": name} for code, name in domain.DIRECTIONS.items()]

    # --- organizations ------------------------------------------------------------------

    def _organization(self, organization_id: int, viewer: dict | None, lock=False):
        query = select(Organization).where(Organization.id == organization_id)
        org = self.db.scalars(query.with_for_update() if lock else query).first()
        if org is None or not self._sees_organization(viewer, org):
            raise NotFound("Организация не найдена", code="organization_not_found")
        return org

    @staticmethod
    def _sees_organization(viewer: dict | None, org: Organization) -> bool:
        return (
            viewer is None
            or org.status in PUBLIC_ORGANIZATION_STATUSES
            or domain.manages_organization(viewer, org.id, org.municipality_code)
        )

    def _check_municipality(self, code: str) -> None:
        if self.db.get(Municipality, code) is None:
            raise InvalidInput(
                "Неизвестный муниципалитет",
                code="unknown_municipality",
                fields={"municipality_code": ["неизвестный муниципалитет"]},
            )

    @staticmethod
    def _check_inn(inn: str) -> None:
        if not domain.is_valid_inn(inn):
            raise InvalidInput(
                "ИНН с неверными контрольными цифрами",
                code="invalid_inn",
                fields={"inn": ["ИНН с неверными контрольными цифрами"]},
            )

    def _flush_unique(self, what: str) -> None:
        try:
            with self.db.begin_nested():
                self.db.flush()
        except IntegrityError as error:
            raise Conflict(f"{what} с таким ИНН уже есть", code="inn_taken") from error

    @rpc
    def get_organization(self, organization_id: int, viewer: dict | None = None) -> dict:
        return organization_schema.dump(self._organization(organization_id, viewer))

    @rpc
    def list_organizations(
        self,
        viewer: dict | None = None,
        municipality_code: str | None = None,
        status: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> dict:
        query = select(Organization)
        if municipality_code:
            query = query.where(Organization.municipality_code == municipality_code)
        if status:
            query = query.where(Organization.status == status)
        role = (viewer or {}).get("role") if viewer is not None else "internal"
        if role == "municipal_operator":
            query = query.where(
                (Organization.status.in_(PUBLIC_ORGANIZATION_STATUSES))
                | (Organization.municipality_code == viewer.get("municipality_code"))
            )
        elif role == "provider":
            query = query.where(
                (Organization.status.in_(PUBLIC_ORGANIZATION_STATUSES))
                | (Organization.id == viewer.get("organization_id"))
            )
        elif role not in ("regional_operator", "internal"):
            query = query.where(Organization.status.in_(PUBLIC_ORGANIZATION_STATUSES))
        total = self.db.scalar(select(func.count()).select_from(query.subquery()))
        rows = self.db.scalars(query.order_by(Organization.id).limit(limit).offset(offset)).all()
        return _page(organization_schema.dump(rows, many=True), total, limit, offset)

    @rpc
    def create_organization(self, principal: dict, data: dict) -> dict:
        if principal.get("role") == "provider" and principal.get("organization_id"):
            raise Conflict("Вы уже работаете в организации", code="already_in_organization")
        self._check_inn(data["inn"])
        self._check_municipality(data["municipality_code"])
        org = Organization(**data, status="pending")
        self.db.add(org)
        self._flush_unique("Организация")
        emit(self.db, "organization_registered", self._organization_event(org))
        return organization_schema.dump(org)

    @rpc
    def update_organization(self, principal: dict, organization_id: int, data: dict) -> dict:
        org = self._organization(organization_id, principal, lock=True)
        if not (
            domain.edits_organization(principal, org.id)
            or principal.get("role") == "regional_operator"
        ):
            raise Forbidden("Это не ваша организация", code="not_owner")
        if "inn" in data:
            self._check_inn(data["inn"])
        if "municipality_code" in data:
            self._check_municipality(data["municipality_code"])
        for key, value in data.items():
            setattr(org, key, value)
        self._flush_unique("Организация")
        self._refresh_organization(org.id)
        return organization_schema.dump(org)

    @rpc
    def change_organization_status(
        self, principal: dict, organization_id: int, action: str
    ) -> dict:
        if principal.get("role") != "regional_operator":
            raise Forbidden("Только региональный оператор", code="role_forbidden")
        org = self._organization(organization_id, principal, lock=True)
        with domain_errors():
            org.status = domain.transition("organization", org.status, ORGANIZATION_ACTIONS[action])
        self.db.flush()
        self._refresh_organization(org.id)
        emit(self.db, "organization_status_changed", self._organization_event(org))
        return organization_schema.dump(org)

    @staticmethod
    def _organization_event(org: Organization) -> dict:
        return {
            "organization_id": org.id,
            "name": org.name,
            "inn": org.inn,
            "municipality_code": org.municipality_code,
            "status": org.status,
        }

    def _refresh_organization(self, organization_id: int) -> None:
        ids = self.db.scalars(
            select(Program.id).where(Program.organization_id == organization_id)
        ).all()
        search.refresh_programs(self.db, list(ids))

    @rpc
    def list_organization_programs(
        self, organization_id: int, viewer: dict | None = None, limit: int = 20, offset: int = 0
    ) -> dict:
        org = self._organization(organization_id, viewer)
        query = select(Program).where(Program.organization_id == org.id)
        if viewer is not None and not domain.manages_organization(
            viewer, org.id, org.municipality_code
        ):
            query = query.where(Program.status.in_(PUBLIC_PROGRAM_STATUSES))
        total = self.db.scalar(select(func.count()).select_from(query.subquery()))
        rows = self.db.scalars(query.order_by(Program.id).limit(limit).offset(offset)).all()
        return _page(program_schema.dump(rows, many=True), total, limit, offset)

    # --- programs -----------------------------------------------------------------------

    def _program(self, program_id: int, viewer: dict | None, lock=False):
        query = (
            select(Program, Organization)
            .join(Organization, Organization.id == Program.organization_id)
            .where(Program.id == program_id)
        )
        row = self.db.execute(query.with_for_update(of=Program) if lock else query).first()
        if row is None or not self._sees_program(viewer, *row):
            raise NotFound("Программа не найдена", code="program_not_found")
        return row

    @staticmethod
    def _sees_program(viewer: dict | None, program: Program, org: Organization) -> bool:
        return (
            viewer is None
            or program.status in PUBLIC_PROGRAM_STATUSES
            or domain.manages_organization(viewer, org.id, org.municipality_code)
        )

    def _editable_program(self, principal: dict, program_id: int):
        program, org = self._program(program_id, principal, lock=True)
        if not domain.edits_organization(principal, org.id):
            raise Forbidden("Это программа другой организации", code="not_owner")
        return program, org

    @staticmethod
    def _check_program_fields(data: dict) -> None:
        with domain_errors():
            domain.check_age_range(data["min_age"], data["max_age"])
            domain.payment_type(data["registry"])
        if data["registry"] == "pre_professional" and data["direction"] not in ("arts", "sports"):
            raise InvalidInput(
                "Предпрофессиональные программы бывают только художественные и спортивные",
                code="registry_direction",
                fields={"registry": ["только для художественной и спортивной направленности"]},
            )

    @rpc
    def get_program(self, program_id: int, viewer: dict | None = None) -> dict:
        program, _ = self._program(program_id, viewer)
        return program_schema.dump(program)

    @rpc
    def create_program(self, principal: dict, data: dict) -> dict:
        organization_id = principal.get("organization_id")
        if principal.get("role") != "provider" or not organization_id:
            raise Forbidden("Программы создаёт сотрудник организации", code="no_organization")
        org = self.db.get(Organization, organization_id)
        if org is None:
            raise NotFound("Организация не найдена", code="organization_not_found")
        self._check_program_fields(data)
        fields = {**data}
        registry = fields.pop("registry")
        program = Program(
            **fields,
            organization_id=org.id,
            registry_code=registry,
            certified=False,
            payment_type=domain.program_payment_type(registry, False),
            status="draft",
        )
        self.db.add(program)
        self.db.flush()
        return program_schema.dump(program)

    @rpc
    def update_program(self, principal: dict, program_id: int, data: dict) -> dict:
        program, _ = self._editable_program(principal, program_id)
        if program.status in ("on_review", "archived") or (
            program.status == "published" and set(data) - PUBLISHED_EDITABLE
        ):
            raise Conflict(
                "В этом статусе программу так изменить нельзя", code="program_not_editable"
            )
        merged = {
            "min_age": program.min_age,
            "max_age": program.max_age,
            "registry": program.registry_code,
            "direction": program.direction,
            **data,
        }
        self._check_program_fields(merged)
        if (
            data.get("min_age", program.min_age) > program.min_age
            or data.get("max_age", program.max_age) < program.max_age
        ):
            outside = self.db.scalar(
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
        program.payment_type = domain.program_payment_type(program.registry_code, program.certified)
        self.db.flush()
        search.refresh_programs(self.db, [program.id])
        return program_schema.dump(program)

    @rpc
    def submit_program(self, principal: dict, program_id: int) -> dict:
        program, org = self._editable_program(principal, program_id)
        if org.status != "active":
            raise Conflict(
                "Организация ещё не подтверждена или приостановлена",
                code="organization_not_active",
            )
        with domain_errors():
            program.status = domain.transition("program", program.status, "on_review")
        program.rejection_reason = None
        self.db.flush()
        return program_schema.dump(program)

    @rpc
    def certify_program(self, principal: dict, program_id: int) -> dict:
        """The regional operator's approval of a program on review: it is published, and a
        program of the `certified` registry becomes payable by certificate."""
        if principal.get("role") != "regional_operator":
            raise Forbidden("Только региональный оператор", code="role_forbidden")
        program, org = self._program(program_id, principal, lock=True)
        with domain_errors():
            program.status = domain.transition("program", program.status, "published")
        program.certified = program.registry_code == "certified"
        program.payment_type = domain.program_payment_type(program.registry_code, program.certified)
        self.db.flush()
        search.refresh_programs(self.db, [program.id])
        emit(
            self.db,
            "program_published",
            {
                "program_id": program.id,
                "organization_id": org.id,
                "municipality_code": org.municipality_code,
                "title": program.title,
                "direction": program.direction,
                "registry": program.registry_code,
                "certified": program.certified,
                "payment_type": program.payment_type,
                "min_age": program.min_age,
                "max_age": program.max_age,
            },
        )
        return program_schema.dump(program)

    @rpc
    def reject_program(self, principal: dict, program_id: int, reason: str) -> dict:
        if principal.get("role") != "regional_operator":
            raise Forbidden("Только региональный оператор", code="role_forbidden")
        program, org = self._program(program_id, principal, lock=True)
        with domain_errors():
            program.status = domain.transition("program", program.status, "draft")
        program.rejection_reason = reason
        self.db.flush()
        emit(
            self.db,
            "program_rejected",
            {"program_id": program.id, "organization_id": org.id, "reason": reason},
        )
        return program_schema.dump(program)

    @rpc
    def archive_program(self, principal: dict, program_id: int) -> dict:
        program, org = self._editable_program(principal, program_id)
        with domain_errors():
            program.status = domain.transition("program", program.status, "archived")
        self.db.execute(
            update(Group).where(Group.program_id == program.id).values(enrollment_open=False)
        )
        self.db.flush()
        search.refresh_programs(self.db, [program.id])
        emit(self.db, "program_archived", {"program_id": program.id, "organization_id": org.id})
        return program_schema.dump(program)

    @rpc
    def list_program_groups(
        self, program_id: int, viewer: dict | None = None, limit: int = 20, offset: int = 0
    ) -> dict:
        program, _ = self._program(program_id, viewer)
        query = select(Group).where(Group.program_id == program.id)
        total = self.db.scalar(select(func.count()).select_from(query.subquery()))
        rows = self.db.scalars(query.order_by(Group.id).limit(limit).offset(offset)).all()
        return _page(group_schema.dump(rows, many=True), total, limit, offset)

    # --- groups -------------------------------------------------------------------------

    def _group(self, group_id: int, viewer: dict | None, lock=False):
        query = (
            select(Group, Program, Organization)
            .join(Program, Program.id == Group.program_id)
            .join(Organization, Organization.id == Program.organization_id)
            .where(Group.id == group_id)
        )
        row = self.db.execute(query.with_for_update(of=Group) if lock else query).first()
        if row is None or not self._sees_program(viewer, row[1], row[2]):
            raise NotFound("Группа не найдена", code="group_not_found")
        return row

    @staticmethod
    def _check_group(program: Program, values: dict) -> dict:
        """Domain checks of a group's fields; returns the clean schedule and monthly price."""
        start = date.fromisoformat(values["start_date"])
        end = date.fromisoformat(values["end_date"])
        with domain_errors():
            schedule = domain.check_schedule(values["schedule"])
            domain.check_group_dates(start, end)
            domain.check_group_ages(
                program.min_age, program.max_age, values["min_age"], values["max_age"]
            )
            domain.check_capacity(values["capacity"])
        return {
            "schedule": schedule,
            "start_date": start,
            "end_date": end,
            "monthly_price_kopecks": domain.monthly_price_kopecks(
                values["price_kopecks"], start, end
            ),
        }

    @rpc
    def get_group(self, group_id: int, viewer: dict | None = None) -> dict:
        group, _, _ = self._group(group_id, viewer)
        return group_schema.dump(group)

    @rpc
    def create_group(self, principal: dict, data: dict) -> dict:
        program, org = self._program(data["program_id"], principal, lock=True)
        if not domain.edits_organization(principal, org.id):
            raise Forbidden("Это программа другой организации", code="not_owner")
        if program.status == "archived":
            raise Conflict("Программа в архиве", code="program_archived")
        values = {"min_age": program.min_age, "max_age": program.max_age, **data}
        values.update(self._check_group(program, values))
        if program.status != "published":
            values["enrollment_open"] = False  # nobody can apply to an unpublished program
        group = Group(**values, held=0, enrolled=0)
        self.db.add(group)
        self.db.flush()
        search.refresh_programs(self.db, [program.id])
        self._emit_group_changed(group, org)
        return group_schema.dump(group)

    @rpc
    def update_group(self, principal: dict, group_id: int, data: dict) -> dict:
        # the row lock serializes edits with seat holds: the capacity check sees the truth
        group, program, org = self._group(group_id, principal, lock=True)
        if not domain.edits_organization(principal, org.id):
            raise Forbidden("Это группа другой организации", code="not_owner")
        if "capacity" in data:
            with domain_errors():
                domain.check_capacity_change(data["capacity"], group.held, group.enrolled)
        current = group_schema.dump(group)
        values = {
            key: current[key]
            for key in ("schedule", "start_date", "end_date", "min_age", "max_age", "capacity")
        }
        values["price_kopecks"] = group.price_kopecks
        values.update(data)
        checked = self._check_group(program, values)
        if data.get("enrollment_open") and program.status != "published":
            raise Conflict("Программа не опубликована", code="program_not_published")
        for key, value in {**data, **checked}.items():
            setattr(group, key, value)
        self.db.flush()
        search.refresh_programs(self.db, [program.id])
        self._emit_group_changed(group, org)
        return group_schema.dump(group)

    def _emit_group_changed(self, group: Group, org: Organization) -> None:
        emit(
            self.db,
            "group_changed",
            {
                "group_id": group.id,
                "program_id": group.program_id,
                "organization_id": org.id,
                "municipality_code": org.municipality_code,
                "capacity": group.capacity,
                "free_seats": domain.free_seats(group.capacity, group.held, group.enrolled),
                "start_date": group.start_date.isoformat(),
                "end_date": group.end_date.isoformat(),
                "price": format_kopecks(group.price_kopecks),
                "normative_cost": format_kopecks(group.normative_cost_kopecks),
                "monthly_price": format_kopecks(group.monthly_price_kopecks),
                "enrollment_open": group.enrollment_open,
            },
        )

    # --- seats (held by applications, taken by enrolled children) -----------------------

    def _seats(self, group_id: int) -> dict:
        group = self.db.get(Group, group_id)
        return {
            "group_id": group.id,
            "capacity": group.capacity,
            "held": group.held,
            "enrolled": group.enrolled,
            "free_seats": domain.free_seats(group.capacity, group.held, group.enrolled),
        }

    @rpc
    def hold_seat(self, group_id: int, holder: str) -> dict:
        """Hold a seat for `holder` (an application's id); idempotent. A full group answers
        409 `group_full` (the caller puts the application on the waiting list)."""
        exists = self.db.get(SeatHold, (group_id, holder))
        if exists is None:
            # conditional UPDATE: the row lock and re-check make it exact under concurrency
            taken = self.db.execute(
                update(Group)
                .where(Group.id == group_id, Group.held + Group.enrolled < Group.capacity)
                .values(held=Group.held + 1)
                .returning(Group.capacity - Group.held - Group.enrolled)
            ).scalar()
            if taken is None:
                if self.db.get(Group, group_id) is None:
                    raise NotFound("Группа не найдена", code="group_not_found")
                raise Conflict("Свободных мест нет", code="group_full")
            inserted = self.db.execute(
                pg_insert(SeatHold)
                .values(group_id=group_id, holder=holder, state="held")
                .on_conflict_do_nothing()
                .returning(SeatHold.holder)
            ).scalar()
            if inserted is None:  # a concurrent repeat of the same hold won
                self.db.execute(
                    update(Group).where(Group.id == group_id).values(held=Group.held - 1)
                )
            search.refresh_seats(self.db, group_id, taken if inserted else taken + 1)
        self.db.expire_all()
        return self._seats(group_id)

    @rpc
    def release_seat(self, group_id: int, holder: str) -> dict:
        """Give back a held or taken seat; releasing twice changes nothing."""
        hold = self.db.execute(
            SeatHold.__table__.delete()
            .where(SeatHold.group_id == group_id, SeatHold.holder == holder)
            .returning(SeatHold.state)
        ).scalar()
        if hold is not None:
            column = Group.held if hold == "held" else Group.enrolled
            free = self.db.execute(
                update(Group)
                .where(Group.id == group_id)
                .values({column.key: column - 1})
                .returning(Group.capacity - Group.held - Group.enrolled)
            ).scalar()
            search.refresh_seats(self.db, group_id, max(0, free))
        self.db.expire_all()
        if self.db.get(Group, group_id) is None:
            raise NotFound("Группа не найдена", code="group_not_found")
        return self._seats(group_id)

    @rpc
    def confirm_seat(self, group_id: int, holder: str) -> dict:
        """A held seat becomes an enrolled child's; confirming twice changes nothing."""
        moved = self.db.execute(
            update(SeatHold)
            .where(
                SeatHold.group_id == group_id,
                SeatHold.holder == holder,
                SeatHold.state == "held",
            )
            .values(state="enrolled")
            .returning(SeatHold.holder)
        ).scalar()
        if moved is not None:
            self.db.execute(
                update(Group)
                .where(Group.id == group_id)
                .values(held=Group.held - 1, enrolled=Group.enrolled + 1)
            )
        elif self.db.get(SeatHold, (group_id, holder)) is None:
            raise NotFound("Место не удерживается", code="seat_not_held")
        self.db.expire_all()
        return self._seats(group_id)

    # --- search -------------------------------------------------------------------------

    @rpc
    def search(self, filters: dict[str, Any]) -> dict:
        clean = {"limit": 20, "offset": 0, "sort": "relevance", **filters}
        if clean["sort"] not in ("relevance", "price", "distance", "start_date"):
            raise InvalidInput("Неизвестный порядок", fields={"sort": ["неизвестный порядок"]})
        if (clean.get("lat") is None) != (clean.get("lon") is None):
            raise InvalidInput(
                "Точка задаётся широтой и долготой", fields={"lat": ["укажите lat и lon"]}
            )
        if clean.get("lat") is None and (
            clean["sort"] == "distance" or clean.get("radius_km") is not None
        ):
            raise InvalidInput("Для расстояния нужна точка", fields={"lat": ["укажите lat и lon"]})
        return search.search(self.db, clean)
