"""Reports for a municipality (as payer) and for the region.

Payments' own figures (`build`): children covered (distinct children with a contract in
force in the month or period), money charged by direction and by provider (certificate and
co-payment), the certificate money in contracts (share, debited, released back, still
planned), contracts by status. Figures other services own (`complete`): children registered
(accounts) and the share of them covered, the certificates' money (certificates) and
applications by status (enrollment). As JSON, and as a CSV that a Russian-locale
spreadsheet opens as columns.
"""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

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
    (`children_registered`, `certificate_usage`, `enrollments_by_status`)."""
    registered = int(peers["children_registered"])
    usage = peers["certificate_usage"]
    by_status = peers["enrollments_by_status"]
    return {
        **report,
        "children_registered": registered,
        "children_covered_percent": domain.share_percent(report["children_covered"], registered),
        "certificate_usage": {
            part: None if usage.get(part) is None else int(usage[part]) for part in USAGE_PARTS
        },
        "enrollments_by_status": {s: int(by_status.get(s, 0)) for s in ENROLLMENT_STATUSES},
    }


def rubles(kopecks: int) -> str:
    """ "1900,00": a decimal comma, as a Russian-locale spreadsheet reads numbers."""
    return format_kopecks(kopecks).replace(".", ",")


def as_csv(report: dict) -> bytes:
    """One row per figure: section; key; certificate; co-payment; count."""
    rows: list[list[object]] = [
        ["children_covered", "", "", "", report["children_covered"]],
        ["children_registered", "", "", "", report["children_registered"]],
        [
            "children_covered_percent",
            "",
            "",
            "",
            report["children_covered_percent"].replace(".", ","),
        ],
    ]
    for section in ("spending_by_direction", "spending_by_provider"):
        for line in report[section]:
            certificate, copay = rubles(line["certificate"]), rubles(line["copay"])
            rows.append([section, line["key"], certificate, copay, line["charges"]])
    for key, amount in report["certificate_money"].items():
        rows.append(["certificate_money", key, rubles(amount), "", ""])
    for status, count in report["contracts_by_status"].items():
        rows.append(["contracts_by_status", status, "", "", count])
    for part, amount in report["certificate_usage"].items():
        if amount is not None:  # spent_in_month only in a month's report
            rows.append(["certificate_usage", part, rubles(amount), "", ""])
    for status, count in report["enrollments_by_status"].items():
        rows.append(["enrollments_by_status", status, "", "", count])
    header = ["раздел", "ключ", "сертификат, руб.", "доплата, руб.", "количество"]
    return domain.csv_for_spreadsheet(header, rows)
