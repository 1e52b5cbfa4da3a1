#!/usr/bin/env bash
# The test command: set up (scripts/setup.sh), then typecheck and run every test.
# Run as root: the tests start a registry, mount, and build images with debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm test "$@"
