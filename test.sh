#!/usr/bin/env bash
# The whole test suite: installs what the mount tests need (fuse3 for
# fusermount3, strace for the durability test, acl for setfacl/getfacl,
# fsx, pjdfstest), then runs
# every test of the workspace.
# The mount tests mount for real: run as root, with /dev/fuse.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
have() { command -v "$1" >/dev/null 2>&1; }
if [ "$(id -u)" = 0 ] && { ! have fusermount3 || ! have python3 || ! have openssl || ! have strace || ! have setfacl; }; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 python3 openssl strace acl >/dev/null
fi
# conformance/tests/python.rs (the independent check) needs cryptography >= 44 (Argon2id).
if ! python3 -c 'import cryptography.hazmat.primitives.kdf.argon2' 2>/dev/null; then
  export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
  python3 -m pip install --quiet 'cryptography>=44' \
    || python3 -m pip install --quiet --break-system-packages 'cryptography>=44' \
    || echo "test.sh: could not install cryptography>=44 for python3" >&2
fi
# fuse/tests/rclone.rs mounts the ciphertext on rclone (Debian bookworm: 1.60.1).
if [ "$(id -u)" = 0 ] && ! have rclone; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null
fi
have fsx || cargo install --locked fsx@0.3.2
have pjdfstest || cargo install --locked pjdfstest@0.2.2
cargo test --workspace -- --show-output
