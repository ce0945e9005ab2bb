# syntax=docker/dockerfile:1
#
# The shop's Go services: user and inventory, one image per SERVICE. Build
# from the repository root:
#   docker build -f deploy/shop/go.Dockerfile --build-arg SERVICE=user -t swit-shop-user:dev .
#
# Built as examples/shop/setup.sh builds them: Go 1.19 in GOPATH mode with
# Debian's grpc-go and lib/pq (golang-google-grpc-dev,
# golang-github-lib-pq-dev under /usr/share/gocode), no module downloads.
# CGO_ENABLED=0 (there is no C compiler in the build stage) gives a static
# binary for the slim stage. The binary lives under /opt/shop/ so the agent's
# target `exes: ["/opt/shop/*"]` selects it.
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      golang-1.19-go golang-google-grpc-dev golang-github-lib-pq-dev \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/go-1.19/bin:$PATH GO111MODULE=off GOPATH=/usr/share/gocode CGO_ENABLED=0
WORKDIR /src/shop
ARG SERVICE
COPY examples/shop/${SERVICE} ${SERVICE}
RUN go build -o /out/${SERVICE} ./${SERVICE}

FROM debian:bookworm-slim
ARG SERVICE
COPY --from=build /out/${SERVICE} /opt/shop/bin/${SERVICE}
# OTEL_SERVICE_NAME names the process for swit (read from /proc/PID/environ).
ENV SHOP_SERVICE=${SERVICE} OTEL_SERVICE_NAME=${SERVICE}
USER 65534:65534
ENTRYPOINT ["/bin/sh", "-c", "exec \"/opt/shop/bin/$SHOP_SERVICE\" \"$@\"", "--"]
