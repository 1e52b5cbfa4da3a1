#!/usr/bin/env bash
# A root filesystem tarball for the lab in README.md ("The lab: Ubuntu without Docker, with cutaway's
# tools"), standing in for ubuntu-base: Debian bookworm, debootstrap --variant=minbase, made by the test
# fixtures (test/fixtures/images.ts) the first time (~30 s, Debian's mirror or a local apt proxy) and kept
# in ${CUTAWAY_TEST_CACHE:-/var/cache/cutaway-test} after that. Prints the tarball's path.
#
#   tarball=$(bash scripts/lab-rootfs.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
exec pnpm exec tsx --eval '
import("./test/fixtures/images.ts")
  .then((fixtures) => fixtures.ensureDebianRootfsTarball())
  .then(
    ({ path }) => console.log(path),
    (e) => {
      console.error(`lab-rootfs: error: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
'
