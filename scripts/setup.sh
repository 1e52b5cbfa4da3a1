#!/usr/bin/env bash
# Everything cutaway's tests and tools need on a fresh Debian 12 machine with
# Node 20: Debian's reference tools, pnpm, the dependencies, and the build.
# Idempotent: a second run installs nothing and only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

# The reference tools the tests run against (skopeo, umoci, docker-registry),
# and what the fixture images are built from (busybox-static, debootstrap).
packages=(
  docker-registry skopeo umoci apache2-utils
  busybox-static debootstrap libcap2-bin
  tar gzip zstd util-linux
  # ns-exec: its C half is compiled at build time (libseccomp-dev: its seccomp filters); runc is the
  # reference it is compared with; uidmap gives newuidmap/newgidmap for rootless runs with /etc/subuid
  # ranges; keyutils' keyctl adds the host keys its keyring test looks for, and runs its --dry-run scripts
  gcc libc6-dev libseccomp-dev runc uidmap keyutils
  # netbridge: ip and nft; bench/netbridge.ts compares it with the CNI bridge and portmap plugins (iptables)
  iproute2 nftables containernetworking-plugins iptables
  # rootless cutaway: netbridge gives an ordinary user's containers slirp4netns, as rootless podman's default network
  slirp4netns
  # cutaway build is compared with buildah bud in its tests; bench/cutaway.ts times podman run too
  buildah podman
  # tools/ns-exec/test/containerd.test.ts: ns-exec as containerd's runtime (ctr run --runc-binary), runc the reference
  containerd
  time  # GNU time: bench/ reads peak memory (%M) with it
  strace  # tools/cutaway/test/run.test.ts: which programs a `cutaway run` starts (Node once)
  # overlay-mount's and layer-commit's --dry-run scripts: setfattr/getfattr (overlay's opaque xattr), jq (image configs)
  attr jq
  # oci-pull's, oci-push's and netbridge's --dry-run scripts: curl (and jq, above; sha256sum and mktemp
  # from coreutils, flock and nsenter from util-linux), sysctl from procps, ss from iproute2
  curl procps
  cgroup-tools  # cgcreate/cgset/cgexec/cgdelete: bench/cgroup.ts's reference for cg-limit
  # test/vm/cgroup2-vm.ts: a cgroup-v2-only guest (Debian's kernel, busybox-static
  # initramfs) for cg-limit's tests; xz unpacks the kernel for a faster PVH boot
  qemu-system-x86 linux-image-amd64 xz-utils
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v pnpm >/dev/null 2>&1; then
  echo "setup: installing pnpm" >&2
  npm install -g --silent pnpm@10
fi

pnpm install --frozen-lockfile --config.confirmModulesPurge=false --reporter=silent
pnpm run --silent build

# The OCI runtime conformance suite (opencontainers/runtime-tools), which tools/ns-exec/test/conformance.test.ts
# runs against runc and ns-exec: built once into /var/tmp/runtime-tools by the script beside the shared notes
# (it installs Debian's golang-1.19-go itself).
conformance=../shared/conformance/runtime-tools.sh
if [ -f "$conformance" ] && [ ! -x "${RT_DIR:-/var/tmp/runtime-tools}/runtimetest" ]; then
  echo "setup: building the OCI runtime conformance suite" >&2
  bash "$conformance" build >/dev/null
fi
