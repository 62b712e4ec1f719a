"""Payments' events as its code builds them validate against the AsyncAPI document's JSON
Schemas (generated from services/payments/event_schemas.py), so an integrator's validator
accepts what is really published."""

from datetime import date, datetime
from decimal import Decimal

import jsonschema
import pytest

from servicekit.asyncapi import all_events, data_schema
from services.payments.billing import charge_event
from services.payments.contracts import contract_event
from services.payments.invoices import invoice_event
from services.payments.models import Charge, Contract

SCHEMAS = {(e.producer, e.type): data_schema(e.schema) for e in all_events()}


def valid(event_type: str, data: dict) -> None:
    jsonschema.validate(data, SCHEMAS[("payments", event_type)])


def contract() -> Contract:
    return Contract(id=7, enrollment_id="0b5e3c1e-8f0a-4a57-9d7e-3f6a1c2b9d10", child_id=3,
                    group_id=11, organization_id=5, payer_municipality_code="krasnoyarsk",
                    start_date=date(2026, 9, 15), end_date=date(2027, 5, 31), total=1_800_000,
                    certificate_share=1_620_000, copay=180_000)  # fmt: skip


def test_every_payments_event_is_in_the_asyncapi_document():
    assert {t for p, t in SCHEMAS if p == "payments"} == {
        "contract_activated", "contract_terminated", "charge_posted", "invoice_issued",
        "invoice_paid",
    }  # fmt: skip


def test_contract_activated_as_built_is_valid():
    schedule = [{"month": "2026-09", "certificate": 180_000, "copay": 20_000}]
    valid("contract_activated", contract_event(contract(), schedule))


def test_charge_posted_as_built_is_valid():
    charge = Charge(id=1, contract_id=7, enrollment_id="e", child_id=3, organization_id=5,
                    payer_municipality_code="krasnoyarsk", month="2026-10",
                    completeness=Decimal("0.666667"), debited=120_000, released=60_000,
                    copay_charged=13_334)  # fmt: skip
    valid("charge_posted", charge_event(charge))


@pytest.mark.parametrize("amount", [486_000, 0, -486_000])
def test_invoices_as_built_are_valid_even_below_zero(amount):
    invoice = {"id": 2, "organization_id": 5, "municipality_code": "krasnoyarsk",
               "month": "2026-10", "kind": "final", "amount": amount}  # fmt: skip
    valid("invoice_issued", invoice_event(invoice))
    paid = {**invoice_event(invoice), "paid_at": datetime(2026, 11, 2, 9, 0).isoformat()}
    valid("invoice_paid", paid)


def test_a_wrong_shape_is_refused():
    data = contract_event(contract(), [])
    data["total"] = 1800
    with pytest.raises(jsonschema.ValidationError):
        valid("contract_activated", data)
