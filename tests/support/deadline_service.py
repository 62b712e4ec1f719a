"""A service that writes down every request it carries out (one line per number, in the file
named by RECORDER_FILE), run as a real process so a test can stop it with SIGSTOP or cut its
broker."""

import os
import time

from servicekit.events import reliable_handler
from servicekit.rpc import rpc


class Recorder:
    name = "recorder"

    @rpc
    def record(self, number):
        with open(os.environ["RECORDER_FILE"], "a") as out:
            out.write(f"{number}\n")
        return number

    @rpc
    def slow(self, seconds):
        """Answers after `seconds`: a test cuts the broker meanwhile."""
        time.sleep(seconds)
        return seconds

    @reliable_handler("ticker", "tick")
    def on_tick(self, seconds):
        """Handled after `seconds` (then acked): a test cuts the broker meanwhile."""
        time.sleep(seconds)
        with open(os.environ["RECORDER_FILE"], "a") as out:
            out.write("tick\n")
