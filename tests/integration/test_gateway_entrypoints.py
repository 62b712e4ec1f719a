"""The gateway's HTTP entrypoint checks an entrypoint's signature once, at start, instead of on
every request (gateway.server.GatewayHttp)."""

import pytest
import requests
from nameko.exceptions import IncorrectSignature
from werkzeug.wrappers import Response

from gateway.server import gateway_http
from tests.support.containers import http_address


class Matching:
    name = "matching"

    @gateway_http("GET", "/things/<thing_id>")
    def thing(self, request, thing_id):
        return Response(f"thing {thing_id}", status=200)


class Mismatched:
    name = "mismatched"

    @gateway_http("GET", "/things/<thing_id>")
    def thing(self, request, other_id):  # the rule's value is called thing_id
        return Response("never", status=200)


def test_an_entrypoint_gets_its_path_values_without_a_check_per_request(
    nameko_config, container_factory
):
    container = container_factory(Matching)
    container.start()
    answer = requests.get(f"{http_address(container)}/things/42", timeout=5)
    assert (answer.status_code, answer.text) == (200, "thing 42")


def test_an_entrypoint_that_cannot_take_its_path_values_fails_at_start(
    nameko_config, container_factory
):
    container = container_factory(Mismatched)
    with pytest.raises(IncorrectSignature):
        container.start()
