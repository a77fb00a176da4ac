"""A real SMTP server for Candor's tests: aiosmtpd, optionally with STARTTLS or TLS from the
first byte under a throwaway certificate authority (trustme), and optional AUTH.

Every message it accepts is parsed with Python's email package and written to OUT_DIR as one
JSON file ({"mail_from", "rcpt_tos", "from", "to", "subject", "text", "html", "headers",
"tls"}), written to a temporary name and renamed, so a reader never sees half a file.

    python sink.py --out DIR [--port N] [--starttls | --tls] [--ca-out FILE] [--auth USER:PASS]

It prints one line, "ready <port>", when it accepts connections, and runs until killed.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import tempfile
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out, implicit_tls=False):
        self.out = out
        self.implicit_tls = implicit_tls

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "headers": {k: str(v) for k, v in msg.items()},
            "tls": self.implicit_tls or session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        fd, tmp = tempfile.mkstemp(dir=self.out, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, f"{uuid.uuid4().hex}.json"))
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--ca-out")
    p.add_argument("--auth")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)

    context = None
    if a.starttls or a.tls:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        if a.ca_out:
            ca.cert_pem.write_to_path(a.ca_out)

    kwargs = {}
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok)

        kwargs.update(authenticator=authenticator, auth_require_tls=bool(context), auth_exclude_mechanism=["CRAM-MD5"])
        if not context:
            kwargs["auth_require_tls"] = False

    port = a.port
    if port == 0:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()

    if a.tls:
        controller = Controller(Sink(a.out, implicit_tls=True), hostname="127.0.0.1", port=port, ssl_context=context, **kwargs)
    else:
        controller = Controller(
            Sink(a.out), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=bool(a.starttls), **kwargs
        )
    controller.start()
    print(f"ready {port}", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
