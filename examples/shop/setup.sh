#!/usr/bin/env bash
# Builds the shop demo into target/shop/ (no network once done):
#   target/shop/venv/         Python venv for auth and payment (requirements.txt)
#   order/node_modules/       npm ci from order/package-lock.json
#   target/shop/bin/{user,inventory}  Go 1.19, GOPATH mode, Debian's grpc-go and lib/pq
# Needs: python3 (venv), node + npm, golang-1.19-go, golang-google-grpc-dev,
# golang-github-lib-pq-dev. Each step is skipped when it is already done.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${SHOP_BUILD:-$here/../../target/shop}
mkdir -p "$out/bin"
out=$(cd "$out" && pwd)

# Python: reinstalled when requirements.txt changes.
if ! cmp -s "$here/requirements.txt" "$out/venv/.requirements" 2>/dev/null; then
    rm -rf "$out/venv"
    python3 -m venv "$out/venv"
    "$out/venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$out/venv/.requirements"
fi

# node: exactly what package-lock.json says.
if [ "$here/order/package-lock.json" -nt "$here/order/node_modules/.package-lock.json" ]; then
    (cd "$here/order" && npm ci --no-audit --no-fund --silent)
fi

# Go: Debian's packages under /usr/share/gocode, no module downloads.
for pkg in /usr/share/gocode/src/google.golang.org/grpc /usr/share/gocode/src/github.com/lib/pq; do
    [ -d "$pkg" ] || { echo "setup: missing $pkg: apt-get install golang-google-grpc-dev golang-github-lib-pq-dev" >&2; exit 1; }
done
export PATH=/usr/lib/go-1.19/bin:$PATH GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$out/gocache
for svc in user inventory; do
    (cd "$here" && go build -o "$out/bin/$svc" "./$svc")
done
