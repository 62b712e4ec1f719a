"""Reservations in batches (issue 20): enrollment sends the reservations its applications
queued while the previous batch was on its way as one `reserve_many` RPC, and they are made
here in one transaction instead of one RPC and one transaction each.

This module holds the batch's transaction boundaries (operations.py never commits); each
reservation is `operations.reserve_funds`, exactly as one request makes it, so a batch
answers each item what that item alone would have been answered.
"""

from __future__ import annotations

import logging
import time
from datetime import date

from nameko.exceptions import serialize
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from servicekit.errors import InvalidInput, NavigatorError, refusals_as_rpc_errors
from servicekit.rpc import deadline_passed
from services.certificates import operations
from services.certificates.models import Certificate

log = logging.getLogger(__name__)

ITEM_FIELDS = ("enrollment_id", "child", "period_id", "amount", "financing")


def reserve_many(
    session: Session, items: list, today: date, child_of, now: float | None = None
) -> list[dict]:
    """Each item is what `reserve_funds` takes (`enrollment_id`, `child`, `period_id`,
    `amount`, `financing`) with its caller's `deadline` (epoch seconds, or none): past it,
    the item is not carried out (`deadline_passed`: its caller has answered 503 by then and
    the application stays pending for its repeat or the recovery). Answers one outcome per
    item, in order: `{"reserved": answer}` or `{"error": the RPC error as nameko serializes
    it}`, so that one refusal never refuses the others.

    1. Each certificate issued and financed if it is not yet, committed item by item as
       `reserve_funds` does (a child queued for lack of room stays queued even when its
       reservation is refused). On opening day certificates are ready: nothing is written.
    2. Every reservation in one transaction, each in a savepoint of its own (a refusal undoes
       only its item), in the order of their certificates: each takes its certificate's and
       its balance's rows, so two batches that share certificates take them in the same
       order and cannot deadlock.
    3. A database failure of the transaction (a deadlock, a serialization failure, a lost
       connection) rolls it back, and each item is made in a transaction of its own: what
       it would have been as a request of its own."""
    if not isinstance(items, list):
        raise InvalidInput("items: a list of reservations", code="invalid_items")
    now = time.time() if now is None else now
    outcomes: list[dict] = [{}] * len(items)
    ready: list[tuple[Certificate, int, dict]] = []
    for index, item in enumerate(items):
        try:
            checked = _checked(index, item)
            _refuse_if_late(checked, now)
            with refusals_as_rpc_errors():
                certificate, written = operations.ready_to_reserve(
                    session, child_of(checked["child"]), checked["period_id"],
                    checked["financing"],
                )  # fmt: skip
            if written:
                session.commit()
            ready.append((certificate, index, checked))
        except NavigatorError as error:
            session.rollback()
            outcomes[index] = {"error": serialize(error)}
    ready.sort(key=lambda entry: (entry[0].id, str(entry[2]["enrollment_id"])))
    try:
        for certificate, index, checked in ready:
            outcomes[index] = _reserve(session, certificate, checked, today, savepoint=True)
        session.commit()
    except DBAPIError as failure:
        log.warning("reservation batch of %d failed (%s): one by one", len(ready), failure)
        session.rollback()
        for certificate, index, checked in ready:
            outcomes[index] = _reserve(session, certificate, checked, today, savepoint=False)
            session.commit()
    return outcomes


def _checked(index: int, item) -> dict:
    if not isinstance(item, dict) or any(name not in item for name in ITEM_FIELDS):
        raise InvalidInput(
            f"items.{index}: {', '.join(ITEM_FIELDS)}",
            code="invalid_item",
            fields={f"items.{index}": [f"нужны {', '.join(ITEM_FIELDS)}"]},
        )
    deadline = item.get("deadline")
    if isinstance(deadline, bool) or not isinstance(deadline, int | float | None):
        raise InvalidInput(
            f"items.{index}.deadline: epoch seconds",
            code="invalid_item",
            fields={f"items.{index}.deadline": ["секунды от начала эпохи"]},
        )
    return {**{name: item[name] for name in ITEM_FIELDS}, "deadline": deadline}


def _refuse_if_late(item: dict, now: float) -> None:
    if item["deadline"] is not None and now > item["deadline"]:
        raise deadline_passed()


def _reserve(
    session: Session, certificate: Certificate, item: dict, today: date, savepoint: bool
) -> dict:
    """One reservation of the batch and its outcome; refused, its writes are undone (its
    savepoint's rollback, or the transaction's when it runs alone)."""
    try:
        _refuse_if_late(item, time.time())
        if savepoint:
            with session.begin_nested(), refusals_as_rpc_errors():
                return {"reserved": _reserve_funds(session, certificate, item, today)}
        with refusals_as_rpc_errors():
            return {"reserved": _reserve_funds(session, certificate, item, today)}
    except NavigatorError as error:
        if not savepoint:
            session.rollback()
        return {"error": serialize(error)}


def _reserve_funds(session: Session, certificate: Certificate, item: dict, today: date) -> dict:
    return operations.reserve_funds(
        session, certificate, item["enrollment_id"], item["period_id"], item["amount"], today,
        free_place=not item["financing"],
    )  # fmt: skip
