"""loadgen: drives the shop like a client would. Python, standard library only.

Each iteration logs in as one of the known users, browses users, places an
order and reads it back; every --fail-every iterations it also makes the
failures the demo wants to show: a wrong password (401 from auth), a declined
card (402: payment declines, order fails) and a sold-out item (409: inventory
answers FAILED_PRECONDITION, order fails). Prints one line per action:

    ITER ACTION -> STATUS DETAIL MS [UNEXPECTED]

and exits 1 if any action's status was not the expected one.

Environment (or flags): AUTH_URL, USER_URL, ORDER_URL.
"""
import argparse
import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit

USERS = [("alice", "alice-pw"), ("bob", "bob-pw"), ("carol", "carol-pw")]
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"  # payment declines cards ending in 0002


class Service:
    """One keep-alive HTTP/1.1 connection to a service."""

    def __init__(self, url):
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, method, path, body=None, token=None):
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):  # once more on a connection the server closed
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data.decode(errors="replace")


class Load:
    def __init__(self, args):
        self.auth = Service(args.auth)
        self.users = Service(args.user)
        self.orders = Service(args.order)
        self.unexpected = 0

    def act(self, it, label, want, svc, method, path, body=None, token=None):
        t0 = time.monotonic()
        try:
            status, reply = svc.request(method, path, body, token)
        except OSError as e:
            status, reply = 0, str(e)
        ms = (time.monotonic() - t0) * 1000
        if isinstance(reply, dict):
            detail = reply.get("error") or " ".join(
                f"{k}={reply[k]}" for k in ("token", "user", "id", "name", "charge_id") if k in reply)
        elif isinstance(reply, list):
            detail = f"{len(reply)} items"
        else:
            detail = reply[:80]
        bad = status != want
        self.unexpected += bad
        print(f"{it:4d} {label:<36} -> {status} {detail} {ms:.1f}ms"
              + (f" UNEXPECTED (wanted {want})" if bad else ""), flush=True)
        return reply if not bad else None

    def iteration(self, it, fail_every):
        name, password = USERS[it % len(USERS)]
        r = self.act(it, f"login {name}", 200, self.auth, "POST", "/login",
                     {"user": name, "password": password})
        if r is None:
            return
        token = r["token"]
        users = self.act(it, "GET /users", 200, self.users, "GET", "/users", token=token)
        if users:
            uid = users[it % len(users)]["id"]
            self.act(it, f"GET /users/{uid}", 200, self.users, "GET", f"/users/{uid}", token=token)
        item = ("widget", "gadget")[it % 2]
        order = self.act(it, f"POST /orders {item} x1", 201, self.orders, "POST", "/orders",
                         {"item": item, "qty": 1, "card": GOOD_CARD}, token)
        if order:
            self.act(it, f"GET /orders/{order['id'][:8]}..", 200, self.orders, "GET",
                     f"/orders/{order['id']}", token=token)
        if fail_every and it % fail_every == 0:
            self.act(it, f"login {name} (wrong password)", 401, self.auth, "POST", "/login",
                     {"user": name, "password": "wrong"})
            self.act(it, "POST /orders widget (declined card)", 402, self.orders, "POST",
                     "/orders", {"item": "widget", "qty": 1, "card": DECLINED_CARD}, token)
            self.act(it, "POST /orders sold-out x1", 409, self.orders, "POST", "/orders",
                     {"item": "sold-out", "qty": 1, "card": GOOD_CARD}, token)


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--auth", default=env("AUTH_URL", "http://127.0.0.1:8081"))
    ap.add_argument("--user", default=env("USER_URL", "http://127.0.0.1:8082"))
    ap.add_argument("--order", default=env("ORDER_URL", "http://127.0.0.1:8083"))
    ap.add_argument("--iterations", type=int, default=5, help="iterations (0: until --duration)")
    ap.add_argument("--duration", type=float, default=0, help="seconds to run (0: --iterations)")
    ap.add_argument("--pause", type=float, default=0.2, help="seconds between iterations")
    ap.add_argument("--fail-every", type=int, default=2, help="failures every N iterations (0: never)")
    args = ap.parse_args()
    load = Load(args)
    deadline = time.monotonic() + args.duration if args.duration else None
    it = 0
    while True:
        it += 1
        if deadline is None and it > args.iterations:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        load.iteration(it, args.fail_every)
        time.sleep(args.pause)
    print(f"loadgen: {it - 1} iterations, {load.unexpected} unexpected", flush=True)
    sys.exit(1 if load.unexpected else 0)


if __name__ == "__main__":
    main()
