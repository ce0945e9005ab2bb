# syntax=docker/dockerfile:1
#
# The shop's order service (node, `pg` from npm). Build from the repository
# root:
#   docker build -f deploy/shop/node.Dockerfile -t swit-shop-order:dev .
#
# Node 20 on Debian bookworm (the official node:20-bookworm-slim image):
# the demo is run with node 20 here, and bookworm's own nodejs package is 18.
# `npm ci` installs exactly examples/shop/order/package-lock.json.
# The final stage is plain bookworm-slim with node copied to
# /opt/shop/bin/node, so /proc/PID/exe is under /opt/shop/ and the agent's
# target `exes: ["/opt/shop/*"]` selects order and no other node process.
FROM node:20-bookworm-slim AS build
WORKDIR /opt/shop/order
COPY examples/shop/order/package.json examples/shop/order/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY examples/shop/order/order.js ./

FROM debian:bookworm-slim
# node's official binary needs libstdc++6 (already in bookworm-slim).
COPY --from=build /usr/local/bin/node /opt/shop/bin/node
COPY --from=build /opt/shop/order /opt/shop/order
# OTEL_SERVICE_NAME names the process for swit (read from /proc/PID/environ).
ENV OTEL_SERVICE_NAME=order NODE_ENV=production
USER 65534:65534
ENTRYPOINT ["/opt/shop/bin/node", "/opt/shop/order/order.js"]
