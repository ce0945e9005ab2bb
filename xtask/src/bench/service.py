"""The Python service of `cargo xtask bench`, scenario 2: Flask served by
waitress (a production WSGI server: HTTP/1.1 keep-alive, a fixed pool of
worker threads), one PostgreSQL query per request.

    GET /account -> 200 {"aid": N, "balance": B} for a random pgbench account

No tracing code: the untraced and swit runs start it with python, the SDK
run starts the same file under opentelemetry-instrument (Flask and psycopg2
instrumentations).

Environment: BENCH_PORT, PG_DSN.
"""
import os
import random
import signal
import threading

import psycopg2
from flask import Flask, jsonify
from waitress import serve

app = Flask(__name__)
local = threading.local()


def db():
    """One PostgreSQL connection per waitress worker thread."""
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = psycopg2.connect(os.environ["PG_DSN"])
        conn.autocommit = True  # no BEGIN/COMMIT around each query
    return conn


@app.get("/account")
def account():
    aid = random.randint(1, 100000)
    with db().cursor() as cur:
        cur.execute("SELECT abalance FROM pgbench_accounts WHERE aid = %s", (aid,))
        (balance,) = cur.fetchone()
    return jsonify(aid=aid, balance=balance)


if __name__ == "__main__":
    # SIGTERM (or SIGINT) ends serve() cleanly; the SDK's exit hook then
    # flushes its spans.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    serve(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), threads=8)
