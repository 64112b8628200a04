"""A webhook receiver for the tests: verifies each delivery with the Standard Webhooks
reference library (standardwebhooks, from PyPI) against the secrets in SECRETS_FILE (one
per line, read at each request), answers 500 to the first FAIL_FIRST deliveries and 200
after, and appends one JSON line per delivery to LOG_FILE. Prints its port on start."""
import http.server
import json
import sys

from standardwebhooks.webhooks import Webhook

secrets_file, log_file, fail_first = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = 0


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with open(secrets_file) as f:
            secrets = [line.strip() for line in f if line.strip()]
        verified = []
        for secret in secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified.append(True)
            except Exception:
                verified.append(False)
        seen += 1
        status = 500 if seen <= fail_first else 200
        with open(log_file, "a") as f:
            f.write(json.dumps({
                "webhook_id": headers.get("webhook-id"),
                "verified": verified,
                "status": status,
                "body": json.loads(body),
            }) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
print(server.server_port, flush=True)
server.serve_forever()
