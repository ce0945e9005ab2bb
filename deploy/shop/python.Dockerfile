# syntax=docker/dockerfile:1
#
# The shop's Python programs: auth, payment and the load generator, one image
# per SERVICE. Build from the repository root:
#   docker build -f deploy/shop/python.Dockerfile --build-arg SERVICE=auth -t swit-shop-auth:dev .
#
# Debian bookworm's python3 (3.11) and, as examples/shop/setup.sh does, a venv
# with examples/shop/requirements.txt (psycopg2-binary, redis) from PyPI.
# The venv is made with --copies: its bin/python3 is a real file under
# /opt/shop/, not a symlink to /usr/bin/python3.11, so /proc/PID/exe names
# /opt/shop/venv/bin/python3 and the agent's target `exes: ["/opt/shop/*"]`
# selects the shop's processes and no other Python on the host.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY examples/shop/requirements.txt /opt/shop/requirements.txt
RUN python3 -m venv --copies /opt/shop/venv \
 && /opt/shop/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      -r /opt/shop/requirements.txt
# auth, payment or loadgen: examples/shop/SERVICE/SERVICE.py
ARG SERVICE
COPY examples/shop/${SERVICE}/${SERVICE}.py /opt/shop/${SERVICE}.py
# OTEL_SERVICE_NAME names the process for swit (read from /proc/PID/environ).
ENV SHOP_SERVICE=${SERVICE} OTEL_SERVICE_NAME=${SERVICE} PYTHONUNBUFFERED=1
USER 65534:65534
# exec: the Python process is PID 1 and gets the signals. Arguments
# (compose `command:`, Kubernetes `args:`) go to the script.
ENTRYPOINT ["/bin/sh", "-c", "exec /opt/shop/venv/bin/python3 \"/opt/shop/$SHOP_SERVICE.py\" \"$@\"", "--"]
