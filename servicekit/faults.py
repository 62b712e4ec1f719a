"""Fault injection for the crash-recovery tests: `NAVIGATOR_CRASH_AT=<point>` kills the process
hard at that point, as a power cut would. Unset in normal runs, where it costs one dict lookup."""

import os


def crash_point(name: str) -> None:
    if os.environ.get("NAVIGATOR_CRASH_AT") == name:
        os._exit(137)
