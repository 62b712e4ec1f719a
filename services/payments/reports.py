"""Reports for a municipality (as payer) and for the region.

Payments' own figures (`build`): children covered (distinct children with a contract in
force in the month or period), money charged by direction and by provider (certificate and
co-payment), the certificate money in contracts (share, debited, released back, still
planned), contracts by status. Figures other services own (`complete`): children registered
(accounts) and the share of them covered, the certificates' money (certificates) and
applications by status (enrollment), and the names of directions and organizations
(catalog). As JSON, as a CSV that a Russian-locale spreadsheet opens as columns, and as
XLSX (numbers as numbers), both with Russian headers and section names.
"""

from __future__ import annotations

import io
from decimal import Decimal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from contracts.catalog import DIRECTIONS
from contracts.enrollment import STATUSES as ENROLLMENT_STATUSES
from contracts.principal import Principal
from contracts.roles import MUNICIPAL_OPERATOR, REGIONAL_OPERATOR
from servicekit.errors import Forbidden
from servicekit.money import format_kopecks
from services.payments import domain
from services.payments.models import Charge, Contract, ContractMonth


def check_access(principal: Principal, municipality_code: str | None) -> None:
    role = principal.role
    if role == REGIONAL_OPERATOR:
        return
    if (
        role == MUNICIPAL_OPERATOR
        and municipality_code is not None
        and principal.municipality_code == municipality_code
    ):
        return
    raise Forbidden("Отчёт другого муниципалитета", code="not_owner")


def build(session: Session, municipality_code: str | None, month: str | None) -> dict:
    """The report of one payer municipality, or of the region when the code is None."""
    contract_filter = []
    charge_filter = []
    if municipality_code is not None:
        contract_filter.append(Contract.payer_municipality_code == municipality_code)
        charge_filter.append(Charge.payer_municipality_code == municipality_code)
    month_filter = []
    if month is not None:
        domain.parse_month(month)
        charge_filter.append(Charge.month == month)
        month_filter.append(ContractMonth.month == month)

    covered = session.execute(
        select(func.count(func.distinct(Contract.child_id)))
        .join(ContractMonth, ContractMonth.contract_id == Contract.id)
        .where(ContractMonth.released.is_(False), *contract_filter, *month_filter)
    ).scalar()

    def spending(column):
        return [
            {
                "key": str(key),
                "certificate": int(certificate),
                "copay": int(copay),
                "charges": int(count),
            }
            for key, certificate, copay, count in session.execute(
                select(
                    column,
                    func.coalesce(func.sum(func.coalesce(Charge.debited, 0)), 0),
                    func.coalesce(func.sum(Charge.copay_charged), 0),
                    func.count(),
                )
                .where(Charge.status == "posted", *charge_filter)
                .group_by(column)
                .order_by(column)
            )
        ]

    money = session.execute(
        select(
            func.coalesce(func.sum(ContractMonth.certificate), 0),
            func.coalesce(
                func.sum(ContractMonth.certificate).filter(ContractMonth.released.is_(True)), 0
            ),
        )
        .join(Contract, Contract.id == ContractMonth.contract_id)
        .where(*contract_filter, *month_filter)
    ).one()
    charged = session.execute(
        select(
            func.coalesce(func.sum(func.coalesce(Charge.debited, 0)), 0),
            func.coalesce(func.sum(func.coalesce(Charge.released, 0)), 0),
        ).where(Charge.status == "posted", *charge_filter)
    ).one()
    billed_planned = session.execute(
        select(func.coalesce(func.sum(Charge.certificate_planned), 0)).where(*charge_filter)
    ).scalar()
    in_contracts, released_early = int(money[0]), int(money[1])
    statuses = dict(
        session.execute(
            select(Contract.status, func.count(func.distinct(Contract.id)))
            .join(ContractMonth, and_(ContractMonth.contract_id == Contract.id, *month_filter))
            .where(*contract_filter)
            .group_by(Contract.status)
        ).all()
    )  # fmt: skip
    return {
        "municipality_code": municipality_code,
        "month": month,
        "children_covered": int(covered),
        "spending_by_direction": spending(Charge.direction),
        "spending_by_provider": spending(Charge.organization_id),
        "certificate_money": {
            "in_contracts": in_contracts,
            "debited": int(charged[0]),
            "released_after_billing": int(charged[1]),
            "released_on_termination": released_early,
            "still_planned": in_contracts - released_early - int(billed_planned),
        },
        "contracts_by_status": {s: int(statuses.get(s, 0)) for s in domain.CONTRACT_STATUSES},
    }


USAGE_PARTS = ("credited", "reserved", "spent", "expired", "spent_in_month")


def check_month(month: str | None) -> None:
    if month is not None:
        domain.parse_month(month)


def complete(report: dict, peers: dict) -> dict:
    """Payments' report with what accounts, certificates and enrollment answered
    (`children_registered`, `certificate_usage`, `enrollments_by_status`), and each spending
    line's `name`: the direction's, or the organization's as the catalog answered
    (`organization_names`, id -> name; "Организация №id" for one it does not know)."""
    registered = int(peers["children_registered"])
    usage = peers["certificate_usage"]
    by_status = peers["enrollments_by_status"]
    names = peers.get("organization_names") or {}
    return {
        **report,
        "spending_by_direction": [
            {**line, "name": DIRECTIONS.get(line["key"], line["key"])}
            for line in report["spending_by_direction"]
        ],
        "spending_by_provider": [
            {**line, "name": names.get(line["key"]) or f"Организация №{line['key']}"}
            for line in report["spending_by_provider"]
        ],
        "children_registered": registered,
        "children_covered_percent": domain.share_percent(report["children_covered"], registered),
        "certificate_usage": {
            part: None if usage.get(part) is None else int(usage[part]) for part in USAGE_PARTS
        },
        "enrollments_by_status": {s: int(by_status.get(s, 0)) for s in ENROLLMENT_STATUSES},
    }


def organization_ids(report: dict) -> list[int]:
    """The organizations a report's spending names, for the catalog to name."""
    return [int(line["key"]) for line in report["spending_by_provider"]]


# --- as people read it: CSV and XLSX -------------------------------------------------------

HEADER = ["Раздел", "Показатель", "Сертификат, руб.", "Доплата, руб.", "Количество"]
CHILDREN = "Дети"
BY_DIRECTION = "Расходы по направлениям"
BY_PROVIDER = "Расходы по поставщикам"
CERTIFICATE_MONEY = "Деньги сертификатов в договорах"
CONTRACTS = "Договоры по статусам"
USAGE = "Сертификаты: движение средств"
APPLICATIONS = "Заявки по статусам"
MONEY_WORDS = {
    "in_contracts": "В договорах",
    "debited": "Списано",
    "released_after_billing": "Возвращено после расчёта",
    "released_on_termination": "Возвращено при расторжении",
    "still_planned": "Ещё запланировано",
}
CONTRACT_WORDS = {"active": "Действующие", "terminated": "Расторгнутые"}
USAGE_WORDS = {
    "credited": "Зачислено",
    "reserved": "Зарезервировано",
    "spent": "Списано",
    "expired": "Сгорело",
    "spent_in_month": "Списано за месяц",
}
APPLICATION_WORDS = {
    "requested": "Подана",
    "waitlisted": "В листе ожидания",
    "awaiting_provider": "Ждёт решения организации",
    "enrolled": "Зачислен",
    "completed": "Обучение завершено",
    "terminated": "Договор расторгнут",
    "rejected": "Отклонена",
    "cancelled": "Отменена",
    "expired": "Срок истёк",
}


def rows(report: dict) -> list[tuple]:
    """The report as rows of (section, figure, certificate kopecks, co-payment kopecks,
    count), None where a column says nothing; the percent is a count's column, a Decimal."""
    out: list[tuple] = [
        (CHILDREN, "Охвачено договорами", None, None, report["children_covered"]),
        (CHILDREN, "Зарегистрировано", None, None, report["children_registered"]),
        (CHILDREN, "Доля охваченных, %", None, None,
         Decimal(report["children_covered_percent"])),
    ]  # fmt: skip
    for section, key in ((BY_DIRECTION, "spending_by_direction"),
                         (BY_PROVIDER, "spending_by_provider")):  # fmt: skip
        for line in report[key]:
            name = line.get("name") or line["key"]
            out.append((section, name, line["certificate"], line["copay"], line["charges"]))
    for key, amount in report["certificate_money"].items():
        out.append((CERTIFICATE_MONEY, MONEY_WORDS.get(key, key), amount, None, None))
    for status, count in report["contracts_by_status"].items():
        out.append((CONTRACTS, CONTRACT_WORDS.get(status, status), None, None, count))
    for part, amount in report["certificate_usage"].items():
        if amount is not None:  # spent_in_month only in a month's report
            out.append((USAGE, USAGE_WORDS.get(part, part), amount, None, None))
    for status, count in report["enrollments_by_status"].items():
        out.append((APPLICATIONS, APPLICATION_WORDS.get(status, status), None, None, count))
    return out


def rubles(kopecks: int) -> str:
    """ "1900,00": a decimal comma, as a Russian-locale spreadsheet reads numbers."""
    return format_kopecks(kopecks).replace(".", ",")


def as_csv(report: dict) -> bytes:
    """One row per figure: section; figure; certificate; co-payment; count, in Russian."""

    def cell(value, money: bool):
        if value is None:
            return ""
        if money:
            return rubles(value)
        return str(value).replace(".", ",")

    return domain.csv_for_spreadsheet(
        HEADER,
        [
            [section, name, cell(cert, True), cell(copay, True), cell(count, False)]
            for section, name, cert, copay, count in rows(report)
        ],
    )


def title(report: dict) -> str:
    where = report["municipality_code"] or "регион"
    return f"Отчёт: {where}, {report['month'] or 'все месяцы'}"


def as_xlsx(report: dict) -> bytes:
    """The same rows as a workbook: rubles and counts are numbers (rubles with two decimals,
    formatted "# ##0.00"), the percent a number; a title line above the header."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Отчёт"
    sheet.append([title(report)])
    sheet["A1"].font = Font(bold=True)
    sheet.append(HEADER)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for section, name, cert, copay, count in rows(report):
        sheet.append([
            section, name,
            None if cert is None else Decimal(cert) / 100,
            None if copay is None else Decimal(copay) / 100,
            None if count is None else (float(count) if isinstance(count, Decimal) else count),
        ])  # fmt: skip
        line = sheet.max_row
        for column in ("C", "D"):
            sheet[f"{column}{line}"].number_format = "#,##0.00"
        if isinstance(count, Decimal):
            sheet[f"E{line}"].number_format = "0.00"
    for column, width in zip("ABCDE", (34, 40, 18, 16, 12), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
