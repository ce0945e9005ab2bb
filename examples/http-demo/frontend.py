"""Demo frontend: /checkout asks the backend for a price and the stock.
No tracing code: swit links the calls from what the kernel sees."""
import argparse
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BACKEND = None
local = threading.local()


def backend_get(path):
    c = getattr(local, "conn", None)
    if c is None:
        host, port = BACKEND.rsplit(":", 1)
        c = local.conn = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, json.loads(r.read() or b"{}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/checkout"):
            _, price = backend_get("/price?item=42")
            status, stock = backend_get("/stock?item=42")
            if status != 200:
                self.reply(502, {"error": "stock unavailable"})
            else:
                self.reply(200, {"price": price, "stock": stock})
        elif self.path == "/health":
            self.reply(200, {"ok": True})
        else:
            self.reply(404, {"error": "not found"})


def main():
    global BACKEND
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--backend", required=True)
    a = ap.parse_args()
    BACKEND = a.backend
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print("listening", srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
