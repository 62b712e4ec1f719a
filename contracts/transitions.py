"""Status machines, one way for every service: which status may follow which, and the one
`transition` check of a move. Plain Python (stdlib and contracts/ only).

    PROGRAM = StateMachine("program", {"draft": ("on_review",), "on_review": ("published",)})
    transition(PROGRAM, "draft", "on_review")   # True: move
    transition(PROGRAM, "on_review", "on_review")  # False: already there, a replay, no-op
    transition(PROGRAM, "draft", "published")   # TransitionRefused (409 over RPC)

A replay of the current status changes nothing: a redelivered message or a repeated
command finds its work done. A caller whose command must not be repeated (the catalog's
review steps: certifying a published program twice is the operator's mistake) refuses the
replay itself, with the same TransitionRefused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from contracts.refusals import TransitionRefused

__all__ = ["StateMachine", "TransitionRefused", "transition"]


class StateMachine:
    """A named table of moves: `{status: (statuses it may move to, ...)}`. A status that
    only ends moves (a final one) may be left out of the keys."""

    def __init__(self, name: str, moves: Mapping[str, Iterable[str]]) -> None:
        self.name = name
        self.moves = {status: tuple(targets) for status, targets in moves.items()}
        self.statuses = frozenset(self.moves).union(*self.moves.values())

    def allowed(self, current: str) -> tuple[str, ...]:
        """The statuses `current` may move to (none from an unknown or final status)."""
        return self.moves.get(current, ())

    def __repr__(self) -> str:
        return f"StateMachine({self.name!r})"


def transition(machine: StateMachine, current: str, target: str) -> bool:
    """True when the move from `current` to `target` is to be made; False when the status
    is `target` already (a replay: nothing to do); TransitionRefused when the machine does
    not allow the move. A `target` the machine does not know is a programming error."""
    if target not in machine.statuses:
        raise ValueError(f"{machine.name}: unknown status {target!r}")
    if current == target:
        return False
    if target not in machine.allowed(current):
        raise TransitionRefused(current, target)
    return True
