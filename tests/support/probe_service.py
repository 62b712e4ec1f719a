"""A tiny service that uses the foundation exactly as real services do, so its tests do not
depend on any domain: it records facts (with an event in the outbox) and handles its own
events reliably. `switches` lets a test make the handler fail and then fix it."""

from nameko.rpc import rpc
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from servicekit.errors import InvalidInput, NotFound
from servicekit.events import idempotent, reliable_handler
from servicekit.outbox import emit
from servicekit.service import ServiceBase

metadata = MetaData()
facts = Table(
    "facts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", String(64), nullable=False, unique=True),
    Column("text", String(200), nullable=False),
)
handled = Table(
    "handled",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(40), nullable=False),
    Column("fact_id", Integer, nullable=False),
)
switches = Table(
    "switches",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("on", Boolean, nullable=False),
)


class HandlerFault(RuntimeError):
    pass


class ProbeService(ServiceBase):
    name = "probe"

    @rpc
    def record_fact(self, request_id: str, text: str) -> int:
        """Idempotent by request_id: a redelivered request records and emits nothing new."""
        if not text:
            raise InvalidInput("text is required", fields={"text": ["required"]})
        fact_id = self.db.execute(
            pg_insert(facts)
            .values(request_id=request_id, text=text)
            .on_conflict_do_nothing()
            .returning(facts.c.id)
        ).scalar()
        if fact_id is None:
            return self.db.execute(
                select(facts.c.id).where(facts.c.request_id == request_id)
            ).scalar()
        emit(self.db, "fact_recorded", {"fact_id": fact_id, "text": text})
        return fact_id

    @rpc
    def record_fact_then_fail(self, request_id: str, text: str) -> None:
        """Writes, emits, then fails: nothing of it may survive."""
        self.record_fact(request_id, text)
        raise HandlerFault("failed after writing")

    @rpc
    def get_fact(self, fact_id: int) -> dict:
        row = self.db.execute(select(facts).where(facts.c.id == fact_id)).first()
        if row is None:
            raise NotFound("no such fact", code="fact_not_found")
        return {"id": row.id, "text": row.text}

    @reliable_handler("probe", "fact_recorded")
    @idempotent
    def on_fact_recorded(self, envelope):
        self.db.execute(
            insert(handled).values(
                event_id=envelope["event_id"], fact_id=envelope["data"]["fact_id"]
            )
        )
        failing = self.db.execute(select(switches.c.on).where(switches.c.name == "fail")).scalar()
        if failing:
            raise HandlerFault("the handler is broken")
