"""Demo backend: prices and stock. No tracing code: swit sees it from the kernel."""
import json
import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import argparse


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
        if self.path.startswith("/price"):
            self.reply(200, {"price": round(random.uniform(5, 50), 2)})
        elif self.path.startswith("/stock"):
            # Now and then the stock service fails, so the demo shows errors.
            if random.random() < 0.1:
                self.reply(503, {"error": "stock database unavailable"})
            else:
                self.reply(200, {"stock": random.randint(0, 20)})
        else:
            self.reply(404, {"error": "not found"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print("listening", srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
