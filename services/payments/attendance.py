"""Attendance on a SQLAlchemy session: a provider records its group's lessons in bulk and
corrects them until the month's submission deadline; billing reads a month's attendance per
contract.

Lessons are facts: a lesson dated after the business today is refused. A month's attendance
can be corrected until its submission deadline (the paying municipalities' setting, by
default the 3rd working day of the next month; domain.submission_deadline), and never once
a billing run of the month has started; a run cannot start before every deadline of the
month has passed (billing.check_month). Both take an advisory lock on the month
(corrections shared, the run's start exclusive), so no correction slips in between a run's
start and its reading of the month.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from contracts.principal import Principal
from contracts.roles import MUNICIPAL_OPERATOR, PROVIDER, REGIONAL_OPERATOR
from servicekit import clock
from servicekit.db import save_stamped
from servicekit.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.payments import domain
from services.payments.models import (
    Attendance,
    BillingRun,
    Contract,
    Lesson,
    MunicipalitySetting,
)

MONTH_LOCK = 7710  # advisory lock namespace: (MONTH_LOCK, yyyymm)


def lock_month(session: Session, month: str, exclusive: bool) -> None:
    key = int(month.replace("-", ""))
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    session.execute(text(f"SELECT {function}(:ns, :key)"), {"ns": MONTH_LOCK, "key": key})


def month_is_billed(session: Session, month: str) -> bool:
    return session.execute(select(exists().where(BillingRun.month == month))).scalar()


def group_contracts(session: Session, group_id: int) -> list[Contract]:
    return list(
        session.execute(
            select(Contract).where(Contract.group_id == group_id).order_by(Contract.id)
        ).scalars()
    )


def check_group_access(principal: Principal, contracts: list[Contract], write: bool) -> None:
    """Who may see or record a group's lessons: its provider; operators may read (a
    municipal operator the groups whose children it pays for, the regional one any)."""
    if not contracts:
        raise NotFound("В группе нет договоров", code="group_not_found")
    role = principal.role
    if role == PROVIDER and principal.organization_id == contracts[0].organization_id:
        return
    if not write and role == REGIONAL_OPERATOR:
        return
    if not write and role == MUNICIPAL_OPERATOR:
        codes = {c.payer_municipality_code for c in contracts}
        codes.add(contracts[0].organization_municipality_code)
        if principal.municipality_code in codes:
            return
    raise Forbidden("Это группа другой организации", code="not_owner")


def _default_start(schedule: list[dict], day: date) -> str | None:
    starts = sorted(str(s["start"]) for s in schedule if int(s["weekday"]) == day.isoweekday())
    return starts[0] if starts else None


def attends_until(contract: Contract) -> date:
    """The last day a lesson can be the child's: the day the enrollment ended (left, the
    group shortened), else the contract's end."""
    return contract.attends_until or contract.end_date


def record_lessons(
    session: Session, principal: Principal, group_id: int, lessons: list[dict]
) -> dict:
    """Create or correct lessons of a group (date, held or cancelled, who was present)."""
    contracts = group_contracts(session, group_id)
    check_group_access(principal, contracts, write=True)
    today = clock.today()
    future = {
        f"lessons.{index}.date": [f"занятие {lesson['date']} ещё не прошло (сегодня {today})"]
        for index, lesson in enumerate(lessons)
        if lesson["date"] > today
    }
    if future:
        raise InvalidInput(
            "Отмечать можно только прошедшие занятия", code="lesson_in_future", fields=future
        )
    schedule = max(contracts, key=lambda c: c.id).group_schedule
    errors: dict[str, list[str]] = {}
    rows = []
    for index, lesson in enumerate(lessons):
        day = lesson["date"]
        start = lesson.get("start") or _default_start(schedule, day)
        if start is None:
            errors[f"lessons.{index}.start"] = ["укажите время занятия вне расписания"]
            continue
        enrolled = {c.child_id for c in contracts if c.start_date <= day <= attends_until(c)}
        if not enrolled:
            errors[f"lessons.{index}.date"] = ["в этот день в группе нет договоров"]
            continue
        marks = {int(m["child_id"]): bool(m["present"]) for m in lesson.get("attendance", [])}
        strangers = sorted(set(marks) - enrolled)
        if strangers:
            errors[f"lessons.{index}.attendance"] = [
                f"ребёнок {child} не обучается в группе в этот день" for child in strangers
            ]
            continue
        rows.append((day, start, lesson["status"], marks))
    if errors:
        raise InvalidInput("Проверьте занятия", code="invalid_lessons", fields=errors)

    workday = max(s.submission_workday for s in group_settings(session, contracts).values())
    for month in sorted({domain.month_of(day) for day, *_ in rows}):
        lock_month(session, month, exclusive=False)
        if month_is_billed(session, month):
            raise Conflict(
                f"Месяц {month} уже оплачен: посещаемость менять нельзя", code="month_billed"
            )
        deadline = domain.submission_deadline(month, workday)
        if today > deadline:
            raise Conflict(
                f"Посещаемость за {month} сдавалась до {deadline}: срок прошёл",
                code="submission_closed",
            )
    recorded = []
    for day, start, status, marks in rows:
        lesson_id = session.execute(
            insert(Lesson)
            .values(
                group_id=group_id,
                lesson_date=day,
                start_time=start,
                status=status,
                recorded_by=principal.user_id,
            )
            .on_conflict_do_update(
                constraint="uq_lessons_slot",
                set_={
                    "status": status,
                    "recorded_by": principal.user_id,
                    "updated_at": func.now(),
                },
            )  # fmt: skip
            .returning(Lesson.id)
        ).scalar_one()
        session.execute(delete(Attendance).where(Attendance.lesson_id == lesson_id))
        if status == "held" and marks:
            session.execute(
                insert(Attendance),
                [{"lesson_id": lesson_id, "child_id": c, "present": p} for c, p in marks.items()],
            )
        recorded.append(
            {
                "date": day,
                "start": start,
                "status": status,
                "present": sorted(c for c, p in marks.items() if p and status == "held"),
            }
        )
    return {"group_id": group_id, "recorded": len(recorded), "lessons": recorded}


@dataclass(frozen=True)
class BillingSettings:
    """A paying municipality's billing rules (defaults when it has set none)."""

    completeness_mode: str = domain.DELIVERED
    submission_workday: int = domain.SUBMISSION_WORKDAY
    unrecorded_percent: int = domain.UNRECORDED_PERCENT

    @property
    def unrecorded(self) -> Fraction:
        return Fraction(self.unrecorded_percent, 100)

    def as_dict(self, code: str) -> dict:
        return {
            "municipality_code": code,
            "completeness_mode": self.completeness_mode,
            "submission_workday": self.submission_workday,
            "unrecorded_percent": self.unrecorded_percent,
        }


def billing_settings(session: Session, codes: Iterable[str]) -> dict[str, BillingSettings]:
    found = {
        code: BillingSettings(mode, workday, percent)
        for code, mode, workday, percent in session.execute(
            select(
                MunicipalitySetting.municipality_code,
                MunicipalitySetting.completeness_mode,
                MunicipalitySetting.submission_workday,
                MunicipalitySetting.unrecorded_percent,
            ).where(MunicipalitySetting.municipality_code.in_(set(codes)))
        )
    }
    return defaultdict(BillingSettings, found)


def group_settings(session: Session, contracts: list[Contract]) -> dict[str, BillingSettings]:
    codes = {c.payer_municipality_code for c in contracts}
    settings = billing_settings(session, codes)
    return {code: settings[code] for code in codes} or {"": BillingSettings()}


def month_deadline(session: Session, month: str) -> date:
    """The month's last submission deadline over the region: the latest working day any
    municipality set (the default when none set a later one). A run bills the whole region
    at once, so it waits for the last of them."""
    latest = session.execute(select(func.max(MunicipalitySetting.submission_workday))).scalar()
    return domain.submission_deadline(month, max(latest or 0, domain.SUBMISSION_WORKDAY))


def check_settings_access(principal: Principal, code: str) -> None:
    role = principal.role
    if role != REGIONAL_OPERATOR and not (
        role == MUNICIPAL_OPERATOR and principal.municipality_code == code
    ):
        raise Forbidden("Это настройка другого муниципалитета", code="not_owner")


def set_billing_settings(session: Session, principal: Principal, code: str, changes: dict) -> dict:
    """Change some of a municipality's billing rules (the others keep their value)."""
    check_settings_access(principal, code)
    allowed = {"completeness_mode", "submission_workday", "unrecorded_percent"}
    values = {k: v for k, v in changes.items() if k in allowed and v is not None}
    save_stamped(
        session, MunicipalitySetting, {"municipality_code": code}, values, by=principal.user_id
    )
    return billing_settings(session, [code])[code].as_dict(code)


def set_completeness_mode(session: Session, principal: Principal, code: str, mode: str) -> dict:
    check_settings_access(principal, code)
    values = {"completeness_mode": mode}
    save_stamped(
        session, MunicipalitySetting, {"municipality_code": code}, values, by=principal.user_id
    )
    return {"municipality_code": code, "completeness_mode": mode}


def month_attendance(
    session: Session, contracts: list[Contract], month: str
) -> dict[int, domain.MonthAttendance]:
    """Scheduled, held and attended lessons of each contract's days in the month."""
    first, last = domain.parse_month(month)
    groups = {c.group_id for c in contracts}
    held: dict[int, list[tuple[int, date]]] = defaultdict(list)  # group -> (lesson id, date)
    recorded: dict[int, int] = defaultdict(int)  # group -> lessons recorded in the month
    if groups:
        for lesson_id, group_id, day, status in session.execute(
            select(Lesson.id, Lesson.group_id, Lesson.lesson_date, Lesson.status).where(
                Lesson.group_id.in_(groups),
                Lesson.lesson_date.between(first, last),
            )
        ):
            recorded[group_id] += 1
            if status == "held":
                held[group_id].append((lesson_id, day))
    lesson_ids = [lesson_id for lessons in held.values() for lesson_id, _ in lessons]
    present: set[tuple[int, int]] = set()
    if lesson_ids:
        present = set(
            session.execute(
                select(Attendance.lesson_id, Attendance.child_id).where(
                    Attendance.lesson_id.in_(lesson_ids), Attendance.present.is_(True)
                )
            ).all()
        )
    answer = {}
    for contract in contracts:
        days = domain.contract_days_in_month(contract.start_date, contract.end_date, month)
        if days is None:
            answer[contract.id] = domain.MonthAttendance(0, 0, 0, recorded[contract.group_id])
            continue
        start, end = days
        mine = [lid for lid, day in held[contract.group_id] if start <= day <= end]
        answer[contract.id] = domain.MonthAttendance(
            scheduled=len(domain.scheduled_lessons(contract.group_schedule, start, end)),
            held=len(mine),
            attended=sum(1 for lid in mine if (lid, contract.child_id) in present),
            recorded=recorded[contract.group_id],
        )
    return answer


def group_month(session: Session, principal: Principal, group_id: int, month: str) -> dict:
    """A group's lessons of a month and each child's completeness so far."""
    contracts = group_contracts(session, group_id)
    check_group_access(principal, contracts, write=False)
    first, last = domain.parse_month(month)
    lessons = (
        session.execute(
            select(Lesson)
            .where(Lesson.group_id == group_id, Lesson.lesson_date.between(first, last))
            .order_by(Lesson.lesson_date, Lesson.start_time)
        )
        .scalars()
        .all()
    )
    marks: dict[int, list[int]] = defaultdict(list)
    if lessons:
        for lesson_id, child_id in session.execute(
            select(Attendance.lesson_id, Attendance.child_id).where(
                Attendance.lesson_id.in_([lesson.id for lesson in lessons]),
                Attendance.present.is_(True),
            )
        ):
            marks[lesson_id].append(child_id)
    in_month = [
        c for c in contracts if domain.contract_days_in_month(c.start_date, c.end_date, month)
    ]
    counts = month_attendance(session, in_month, month)
    settings = billing_settings(session, {c.payer_municipality_code for c in in_month})
    children = []
    for contract in in_month:
        figures = counts[contract.id]
        rules = settings[contract.payer_municipality_code]
        mode = rules.completeness_mode
        children.append(
            {
                "child_id": contract.child_id,
                "contract_id": contract.id,
                "completeness_mode": mode,
                "lessons_scheduled": figures.scheduled,
                "lessons_held": figures.held,
                "lessons_attended": figures.attended,
                "completeness": (
                    f"{float(domain.completeness(figures, mode, rules.unrecorded)):.6f}"
                ),
            }
        )
    return {
        "group_id": group_id,
        "month": month,
        "billed": month_is_billed(session, month),
        "submission_deadline": domain.submission_deadline(
            month, max(s.submission_workday for s in group_settings(session, contracts).values())
        ),
        "lessons": [
            {
                "date": lesson.lesson_date,
                "start": lesson.start_time,
                "status": lesson.status,
                "present": sorted(marks.get(lesson.id, [])),
            }
            for lesson in lessons
        ],
        "children": children,
    }
