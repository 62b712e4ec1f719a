"""The cabinet's notifications over HTTP: every signed-in role has its own list and
preferences, nobody reads or marks another's, and a parent's application is in the list."""

import time

import pytest

from tests.support.accounts import HOME_ORG, Client, apply_to_organization, child_body

PEOPLE = ("parent", "provider", "municipal", "regional")


def test_anonymous_callers_have_no_notifications(api):
    for method, path in (("GET", "/notifications"), ("GET", "/notifications/preferences"),
                         ("POST", "/notifications/1/read")):  # fmt: skip
        assert Client(api).request(method, path).status_code == 401


@pytest.mark.parametrize("who", PEOPLE)
def test_every_role_has_its_own_list_and_preferences(accounts_world, who):
    client = accounts_world.client(who)
    page = client.get("/notifications").json()
    assert set(page) == {"items", "total", "unread", "limit", "offset"}
    preferences = client.get("/notifications/preferences")
    assert preferences.status_code == 200
    assert not {"email_confirmation", "password_reset"} & set(preferences.json()["email"])


def test_a_parents_application_is_in_the_list_and_only_the_parent_marks_it_read(
    accounts_world, databases
):
    parent = accounts_world.client("parent")
    child = parent.post("/children", child_body()).json()["id"]
    application = apply_to_organization(databases, parent, child, HOME_ORG)
    # this application's notice: the shared parent has others from earlier applications, and
    # marking one of those while this one is still on its way leaves the count where it was
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page = parent.get("/notifications").json()
        registered = [
            n
            for n in page["items"]
            if n["kind"] == "application_registered"
            and n["link"].endswith(f"/applications?enrollment={application}")
        ]
        if registered:
            break
        time.sleep(0.2)
    assert registered, page
    assert page["unread"] >= 1 and registered[0]["link"].startswith("http://portal.test/")
    notification_id = registered[0]["id"]

    assert accounts_world.client("other_parent").post(
        f"/notifications/{notification_id}/read"
    ).status_code == 404  # fmt: skip
    read = parent.post(f"/notifications/{notification_id}/read")
    assert read.status_code == 200 and read.json()["read"] is True
    assert parent.get("/notifications").json()["unread"] == page["unread"] - 1


def test_switching_off_a_required_letter_is_refused(accounts_world):
    parent = accounts_world.client("parent")
    refused = parent.request("PUT", "/notifications/preferences",
                             json={"email": {"password_reset": False}})  # fmt: skip
    assert refused.status_code == 422
    switched = parent.request("PUT", "/notifications/preferences",
                              json={"email": {"balance_low": False}})  # fmt: skip
    assert switched.status_code == 200 and switched.json()["email"]["balance_low"] is False
