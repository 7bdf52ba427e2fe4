#!/usr/bin/env python3
"""A webhook receiver for trying events by hand: prints each delivery and whether its Standard
Webhooks signature checks out under WEBHOOK_SECRET, and answers 204.

    WEBHOOK_SECRET=whsec_... scripts/webhook-receiver.py [port]     # default port 3900

then start the service with WEBHOOK_URL=http://127.0.0.1:3900/hooks and the same secret.
Standard library only; the tests check signatures with the specification's own package instead.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ.get("WEBHOOK_SECRET", "")
if not SECRET.startswith("whsec_"):
    sys.exit("WEBHOOK_SECRET must be set to the service's secret (whsec_ and base64)")
KEY = base64.b64decode(SECRET[len("whsec_"):])


def signature_checks_out(msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in header.split() if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, g) for g in given)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        msg_id = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "")
        ok = signature_checks_out(msg_id, ts, body, self.headers.get("webhook-signature", ""))
        fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
        event = json.loads(body or b"{}")
        data = event.get("data", {})
        print(
            f"{msg_id:>10}  {event.get('type', '?'):<22} user={data.get('user_id')}  "
            f"signature={'ok' if ok else 'BAD'}{'' if fresh else ' (stale timestamp)'}  data={json.dumps(data.get('data'))}",
            flush=True,
        )
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3900
    print(f"listening on http://127.0.0.1:{port}/hooks", flush=True)
    HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
