"""A mail sink for the delivery tests: an SMTP server on 127.0.0.1 (aiosmtpd) that requires
STARTTLS and a login, and keeps every message it accepts as JSON (recipients, subject, the
decoded text and HTML parts) in --out. --fail-first N answers the first N messages with a
temporary refusal (451), as a busy server does, so the sender's retry is exercised.

It makes its own certificate authority and server certificate (openssl) in --out, writes
the CA as ca.pem for the sender to trust, prints "PORT <n>" when it listens, and runs
until its standard input closes.
Usage: python3 sink.py --out DIR --user U --password P [--fail-first N]"""

import argparse
import json
import socket
import ssl
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def certificates(out: Path) -> ssl.SSLContext:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=out)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=cwkpi test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (out / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(out / "server.pem", out / "server.key")
    return context


class Keeper:
    def __init__(self, out: Path, fail_first: int):
        self.out, self.fail_left, self.kept = out, fail_first, 0

    async def handle_DATA(self, server, session, envelope):
        if self.fail_left > 0:
            self.fail_left -= 1
            return "451 4.3.0 Try again later"
        message = message_from_bytes(envelope.content, policy=policy.default)
        parts = {p.get_content_type(): p.get_content() for p in message.walk() if not p.is_multipart()}
        self.kept += 1
        record = {
            "to": envelope.rcpt_tos,
            "from": envelope.mail_from,
            "subject": message["subject"],
            "text": parts.get("text/plain", ""),
            "html": parts.get("text/html", ""),
            "raw": envelope.content.decode("utf-8", "replace"),
        }
        (self.out / f"mail-{self.kept}.json").write_text(json.dumps(record, ensure_ascii=False))
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == args.user.encode() and auth_data.password == args.password.encode()
        return AuthResult(success=ok)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(
        Keeper(args.out, args.fail_first), hostname="127.0.0.1", port=port,
        tls_context=certificates(args.out), require_starttls=True,
        auth_required=True, authenticator=authenticate)
    controller.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
