"""Tables of this service. The outbox and processed-event tables come from servicekit."""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
