"""A real SMTP server for the tests: aiosmtpd run as `make run` runs it (the Procfile's
`mail` line), in a process of its own, storing every message in a Maildir the test reads
with `mailbox.Maildir`. `stop()` and `start()` again on the same port make an outage."""

import email
import email.policy
import mailbox
import smtplib
import subprocess
import sys
import time
from pathlib import Path

from tests.support.system import free_port


def _parse(file):
    return email.message_from_binary_file(file, policy=email.policy.default)


class MailServer:
    def __init__(self, maildir: Path, port: int | None = None):
        self.maildir, self.port = maildir, port or free_port()
        self.process = None

    def start(self, timeout: float = 15):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=2) as smtp:
                    smtp.noop()
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"aiosmtpd did not listen on {self.port} in {timeout}s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def messages(self, to: str | None = None) -> list:
        box = mailbox.Maildir(self.maildir, factory=_parse, create=True)
        found = [box[key] for key in box.keys()]
        return [m for m in found if to is None or m["To"] == to]

    def wait_for(self, count: int, to: str | None = None, timeout: float = 20) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(to)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{count} letter(s) to {to or 'anyone'} expected, got {found}")


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
