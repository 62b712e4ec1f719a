"""The payments audit: for every provider x paying municipality x month that has been billed
(a completed run), the invoices (advance + final + corrections) add up to the certificate
money its posted charges debited. Each difference is named; exit 1 when there is one.

Run: python -m services.payments.audit (part of `make audit-ledger`).
"""

from __future__ import annotations

import sys

from sqlalchemy.orm import Session

from servicekit.money import format_kopecks
from services.payments import invoices


def audit(session: Session) -> list[str]:
    return [
        f"invoices != debits: organization {d['organization_id']} x {d['municipality_code']} "
        f"x {d['month']}: invoiced {format_kopecks(d['invoiced'])}, "
        f"debited {format_kopecks(d['debited'])}"
        for d in invoices.differences(session)
    ]


def main() -> int:
    from servicekit.db import make_engine

    engine = make_engine("payments", pool_size=1)
    with Session(engine) as session:
        months = len(invoices.billed_months(session))
        problems = audit(session)
    engine.dispose()
    for line in problems:
        print(line)
    print(f"audit-ledger: {months} billed months checked, {len(problems)} invoice differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
