"""The notifications service's short-lived memory of the answers that are the same for every
applicant (services/notifications/lookups.py): kept a while, bounded, never a NotFound or a
failure, and off at 0."""

import pytest

from servicekit.errors import NotFound
from services.notifications.lookups import SharedLookups
from services.notifications.service import RpcDirectory


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Catalog:
    """An RPC client whose answers the test changes, counting the calls."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.programs = {4: {"title": "Робототехника", "organization_id": 5}}
        self.failing = False

    def call(self, service, method, *args, timeout=None):
        self.calls.append((service, method, *args))
        if self.failing:
            raise TimeoutError("catalog did not answer")
        if method == "get_program":
            if args[0] not in self.programs:
                raise NotFound("program")
            return self.programs[args[0]]
        if method == "contact":
            return {"user_id": args[0], "email": f"{self.programs[4]['title']}@example.ru"}
        raise AssertionError(method)


def test_an_answer_is_kept_for_its_seconds_and_asked_again_after():
    clock, catalog = Clock(), Catalog()
    shared = SharedLookups(5, clock=clock)

    assert RpcDirectory(catalog, shared).program(4)["title"] == "Робототехника"
    catalog.programs[4] = {"title": "Шахматы", "organization_id": 5}
    clock.now += 4.9
    assert RpcDirectory(catalog, shared).program(4)["title"] == "Робототехника"
    assert len(catalog.calls) == 1
    clock.now += 0.1  # 5 s after it was fetched
    assert RpcDirectory(catalog, shared).program(4)["title"] == "Шахматы"
    assert len(catalog.calls) == 2


def test_the_least_recently_used_answer_goes_first_when_full():
    clock = Clock()
    shared = SharedLookups(5, max_entries=2, clock=clock)
    shared.put(("catalog", "get_program", 1), "one")
    shared.put(("catalog", "get_program", 2), "two")
    assert shared.get(("catalog", "get_program", 1)) == (True, "one")  # 1 used after 2
    shared.put(("catalog", "get_program", 3), "three")

    assert len(shared.entries) == 2
    assert shared.get(("catalog", "get_program", 2)) == (False, None)
    assert shared.get(("catalog", "get_program", 1)) == (True, "one")
    assert shared.get(("catalog", "get_program", 3)) == (True, "three")


def test_not_found_and_failures_are_not_kept():
    catalog, shared = Catalog(), SharedLookups(5, clock=Clock())

    assert RpcDirectory(catalog, shared).program(7) is None
    catalog.programs[7] = {"title": "Шахматы", "organization_id": 5}  # created just after
    assert RpcDirectory(catalog, shared).program(7)["title"] == "Шахматы"

    catalog.failing = True
    with pytest.raises(TimeoutError):
        RpcDirectory(catalog, shared).program(8)
    catalog.failing = False
    catalog.programs[8] = {"title": "Лепка", "organization_id": 5}
    assert RpcDirectory(catalog, shared).program(8)["title"] == "Лепка"
    assert catalog.calls == [("catalog", "get_program", n) for n in (7, 7, 8, 8)]
    shared.put(("catalog", "get_program", 9), None)  # the memory itself refuses a None
    assert shared.get(("catalog", "get_program", 9)) == (False, None)


def test_zero_seconds_keeps_nothing():
    catalog, shared = Catalog(), SharedLookups(0, clock=Clock())
    for _ in range(3):
        RpcDirectory(catalog, shared).program(4)
    assert len(catalog.calls) == 3 and not shared.entries


def test_a_persons_contact_is_never_kept_between_events():
    catalog, shared = Catalog(), SharedLookups(5, clock=Clock())
    for _ in range(3):
        RpcDirectory(catalog, shared).person(1)
    assert catalog.calls == [("accounts", "contact", 1)] * 3 and not shared.entries


def test_the_service_reads_its_seconds_from_the_setting(monkeypatch):
    from services.notifications.service import SharedLookupsProvider

    monkeypatch.setenv("NOTIFICATIONS_LOOKUP_CACHE_SECONDS", "0")
    provider = SharedLookupsProvider()
    provider.setup()
    assert not provider.lookups.enabled
    monkeypatch.delenv("NOTIFICATIONS_LOOKUP_CACHE_SECONDS")
    provider.setup()
    assert provider.lookups.seconds == 5 and provider.lookups.enabled
