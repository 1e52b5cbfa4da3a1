#!/usr/bin/env bash
# The demo, for a fresh machine (Debian 12, Node 20, as root): set everything
# up, make the base image offline, build examples/hello/Dockerfile and run it.
# What docker build and docker run do, by cutaway's tools; nothing is fetched
# but Debian's packages and npm's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/bin:$PATH"

# The base image: busybox (Debian's busybox-static), built by the test fixtures
# into an OCI layout, then taken into the store like any image (oci-pull oci:…).
layout=$(mktemp -d /tmp/cw-demo-XXXXXX)
trap 'rm -rf "$layout"' EXIT
pnpm exec tsx test/fixtures/build-images.ts "$layout" busybox >/dev/null
oci-pull -q "oci:$layout:cutaway.test/busybox:latest" >/dev/null

echo "== cutaway build -t hello examples/hello" >&2
cutaway build -t hello examples/hello >/dev/null
echo "== cutaway run --rm hello" >&2
cutaway run --rm hello
