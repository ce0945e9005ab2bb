"""Demo load: a shopper checking out about twice a second, on one kept-alive connection."""
import http.client
import sys
import time


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    while True:
        for path in ("/checkout", "/health", "/checkout"):
            c.request("GET", path)
            c.getresponse().read()
        time.sleep(0.5)


if __name__ == "__main__":
    main()
