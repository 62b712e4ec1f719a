"""Refusals: a domain rule says no. Framework-free, so ``domain.py`` of every service raises
them without knowing Nameko; ``servicekit.errors.rpc_error`` (or the ``refusals_as_rpc_errors``
context manager) is the one place that turns them into the errors that cross RPC:
an ``InvalidField`` / ``InvalidFields`` becomes ``InvalidInput`` (422 with field messages), a
``Conflicting`` refusal ``Conflict`` (409). Each carries a stable English ``code``; messages
are Russian, they reach people.
"""

from __future__ import annotations


class Refusal(Exception):
    """A rule refused the request. ``message`` is for people, ``code`` for programs,
    ``fields`` the field messages ({field: [message, ...]}) when input is to blame, and
    ``title`` the headline of the answer when it is not the message itself."""

    code = "refused"
    title: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # figures the caller needs besides the message (e.g. ``available``), plain JSON
        self.extra: dict = {}

    @property
    def fields(self) -> dict[str, list[str]]:
        return {}


class InvalidField(Refusal, ValueError):
    """One input field breaks a rule; the gateway answers 422 with the field message.
    ``title`` is the answer's headline when it should say more than the field message."""

    def __init__(
        self, field: str, message: str, code: str = "invalid", title: str | None = None
    ) -> None:
        super().__init__(message)
        self.args = (f"{field}: {message}",)
        self.field = field
        self.code = code
        self.title = title

    @property
    def fields(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}


class InvalidFields(Refusal, ValueError):
    """Several input fields break rules at once: ``{field: [message, ...]}``."""

    code = "invalid_input"
    title = "Проверьте введённые данные"

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors
        self.message = self.title

    @property
    def fields(self) -> dict[str, list[str]]:
        return self.errors


class FieldCollector:
    """Runs field checks and keeps every failure, so one answer lists all of them."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def check(self, check, *args, **kwargs):
        try:
            return check(*args, **kwargs)
        except InvalidField as problem:
            self.errors.setdefault(problem.field, []).append(problem.message)
            return None

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidFields(self.errors)


class Conflicting(Refusal):
    """The request is well-formed but the current state refuses it (409)."""

    code = "conflict"


class TransitionRefused(Conflicting):
    """A status change that the state machine does not allow from the current status."""

    code = "transition_refused"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"переход из статуса {current!r} в {target!r} не разрешён")
        self.current = current
        self.target = target
