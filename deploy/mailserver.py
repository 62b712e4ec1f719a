"""Development's SMTP server (the Procfile's `mail`): aiosmtpd storing every message in a
Maildir, `var/mail/` by default, which `mailbox.Maildir` reads (README, "Letters in
development"). Production points SMTP_HOST at the operator's relay instead.

python -m deploy.mailserver [--host 127.0.0.1] [--port $SMTP_PORT or 1025] [--maildir var/mail]
"""

import argparse
import os
import sys

from aiosmtpd.main import main as aiosmtpd_main


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.mailserver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SMTP_PORT") or 1025))
    parser.add_argument("--maildir", default="var/mail")
    args = parser.parse_args(argv)
    # mailbox.Maildir makes the folder but not its parents
    os.makedirs(os.path.dirname(os.path.abspath(args.maildir)), exist_ok=True)
    print(f"SMTP on {args.host}:{args.port}, letters in {args.maildir}", flush=True)
    aiosmtpd_main(
        ["-n", "-l", f"{args.host}:{args.port}", "-c", "aiosmtpd.handlers.Mailbox", args.maildir]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
