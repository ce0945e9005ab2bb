"""payment: charges cards. Python, stdlib HTTP server.

    POST /charges {"order": ID, "amount_cents": N, "card": NUMBER}
         header Idempotency-Key: K
      -> 201 {"charge_id": ...}  the card was charged
      -> 402 {"error": ...}      the card was declined (cards ending in 0002)

The first answer for an idempotency key is kept in Redis (idem:K, 24 h) and
replayed for every retry with that key. No tracing code: swit sees it from
the kernel.

Environment: PAYMENT_ADDR (127.0.0.1:8084), REDIS_ADDR (127.0.0.1:6379).
"""
import json
import os
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

DECLINED_SUFFIX = "0002"
host, port = os.environ.get("REDIS_ADDR", "127.0.0.1:6379").rsplit(":", 1)
store = redis.Redis(host=host, port=int(port))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # Headers and body are two sends: without TCP_NODELAY, Nagle holds the
    # body until the peer's delayed ACK (40 ms) on a reused connection.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/charges":
            return self.reply(404, {"error": "not found"})
        key = self.headers.get("Idempotency-Key")
        try:
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            card, amount = str(req["card"]), int(req["amount_cents"])
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"error": "want {order, amount_cents, card}"})
        if not key:
            return self.reply(400, {"error": "Idempotency-Key header required"})
        if card.endswith(DECLINED_SUFFIX):
            outcome = [402, {"error": "card declined"}]
        else:
            outcome = [201, {"charge_id": "ch_" + uuid.uuid4().hex[:16], "amount_cents": amount}]
        # One round trip: store this outcome unless the key has one already
        # (SET NX GET returns the previous value), then answer what is stored.
        prev = store.set("idem:" + key, json.dumps(outcome), nx=True, get=True, ex=86400)
        if prev is not None:
            outcome = json.loads(prev)
        self.reply(*outcome)


def main():
    host, port = os.environ.get("PAYMENT_ADDR", "127.0.0.1:8084").rsplit(":", 1)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    print(f"payment listening on {host}:{srv.server_port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
