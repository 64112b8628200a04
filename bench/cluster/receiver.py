"""The cluster run's outside world: a mock SendGrid (`POST /v3/mail/send`) and a webhook
receiver (`POST /hook`), on one loopback port.

Every request is appended to a JSON-lines log with the id that makes its delivery unique:
SendGrid's `custom_args.idempotency_key` (the outbox row's key) and a webhook's
`webhook-id` header (the same on every retry). A real receiver is idempotent by those ids;
this one answers 2xx to every request, counts the repeats, and the report says how many
deliveries came twice (at-least-once delivery: a worker killed between a send and its
record sends again after its lease).

Usage: python3 receiver.py PORT LOG
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
LOG = open(sys.argv[2], "a", buffering=1)
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 (the standard library's name)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        kind, key = "other", None
        if self.path.startswith("/v3/mail/send"):
            kind = "email"
            try:
                key = json.loads(body)["personalizations"][0]["custom_args"]["idempotency_key"]
            except (ValueError, KeyError, IndexError, TypeError):
                key = None
        elif self.path.startswith("/hook"):
            kind = "webhook"
            key = self.headers.get("webhook-id")
        with LOCK:
            LOG.write(json.dumps({"at": time.time(), "kind": kind, "key": key}) + "\n")
        status = 202 if kind == "email" else 204
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
