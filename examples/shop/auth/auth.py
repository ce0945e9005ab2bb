"""auth: logs users in and checks their tokens. Python, stdlib HTTP server.

    POST /login  {"user": NAME, "password": PW} -> 200 {"token": T} | 401
    GET  /verify (Authorization: Bearer T)      -> 200 {"user": NAME} | 401

Users live in PostgreSQL (table users), sessions in Redis (session:T, with a
TTL). No tracing code: swit sees it from the kernel.

Environment: AUTH_ADDR (127.0.0.1:8081), PG_DSN, REDIS_ADDR (127.0.0.1:6379),
SESSION_TTL seconds (3600).
"""
import hashlib
import hmac
import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis

TTL = int(os.environ.get("SESSION_TTL", "3600"))
host, port = os.environ.get("REDIS_ADDR", "127.0.0.1:6379").rsplit(":", 1)
sessions = redis.Redis(host=host, port=int(port))
# One PostgreSQL connection, used by one request at a time.
db = psycopg2.connect(os.environ["PG_DSN"])
db.autocommit = True
db_lock = threading.Lock()


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
        if self.path != "/login":
            return self.reply(404, {"error": "not found"})
        try:
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            user, password = str(req["user"]), str(req["password"])
        except (ValueError, KeyError, TypeError):
            return self.reply(400, {"error": "want {user, password}"})
        with db_lock, db.cursor() as cur:
            cur.execute("SELECT salt, password_hash FROM users WHERE name = %s", (user,))
            row = cur.fetchone()
        if row is None or not hmac.compare_digest(
            hashlib.sha256((row[0] + password).encode()).hexdigest(), row[1]
        ):
            return self.reply(401, {"error": "bad user or password"})
        token = secrets.token_hex(16)
        sessions.set("session:" + token, user, ex=TTL)
        self.reply(200, {"token": token})

    def do_GET(self):
        if self.path != "/verify":
            return self.reply(404, {"error": "not found"})
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Bearer "):
            user = sessions.get("session:" + auth[len("Bearer "):])
        if user is None:
            return self.reply(401, {"error": "bad or expired token"})
        self.reply(200, {"user": user.decode()})


def main():
    host, port = os.environ.get("AUTH_ADDR", "127.0.0.1:8081").rsplit(":", 1)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    print(f"auth listening on {host}:{srv.server_port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
