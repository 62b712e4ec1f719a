"""The opening-day bench counts messages per application by what each queue carries, read
from nameko's queue names (bench/harness.py)."""

import pytest

from bench.harness import queue_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (
            "rpc.reply-notifications-0b6f0a4e-5d1c-4a8e-9f3b-2a7c1e9d8f60",
            "rpc replies to notifications",
        ),
        ("rpc.reply-gateway-0b6f0a4e-5d1c-4a8e-9f3b-2a7c1e9d8f60", "rpc replies to gateway"),
        ("rpc-enrollment", "rpc to enrollment"),
        (
            "evt-enrollment-enrollment_requested--accounts.on_enrollment_requested",
            "enrollment_requested -> accounts",
        ),
        (
            "evt-certificates-funds_reserved--notifications.on_funds_reserved",
            "funds_reserved -> notifications",
        ),
        ("bench-integrator-1a2b3c4d", "bench-integrator-1a2b3c4d"),
    ],
)
def test_a_queue_is_counted_as_what_it_carries(name, kind):
    assert queue_kind(name) == kind
