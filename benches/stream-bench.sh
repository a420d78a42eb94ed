#!/usr/bin/env bash
# Stream throughput of `fusecry stream` beside age, openssl enc and the
# openssl speed ceilings, through ../shared/bench/stream-bench.sh.
# Usage: benches/stream-bench.sh [extra args for stream-bench.sh]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -p fusecry --manifest-path "$top/Cargo.toml"
bin="$top/target/release/fusecry"
work=$(mktemp -d /dev/shm/fcbench.XXXX)
trap 'rm -rf "$work"' EXIT
export FUSECRY_PASSWORD=bench-password
"$bin" init "$work/vol" --chunk-size 65536 --argon2-memory 65536 >/dev/null 2>&1 || true
conf="$work/vol/fusecry.conf"
# The same with an RSA key slot instead of a password: like age's X25519
# identity, no password KDF at start-up (the Argon2id above costs ~0.1 s).
openssl genrsa -out "$work/key.pem" 3072 2>/dev/null
"$bin" init "$work/rsa" --chunk-size 65536 --key "$work/key.pem" >/dev/null 2>&1
rconf="$work/rsa/fusecry.conf"
"$top/../shared/bench/stream-bench.sh" --tool fusecry \
  "FUSECRY_PASSWORD=bench-password $bin stream encrypt -c $conf <\"\$IN\" >\"\$OUT\"" \
  "FUSECRY_PASSWORD=bench-password $bin stream decrypt -c $conf <\"\$IN\" >\"\$OUT\"" \
  --tool fusecry-rsa \
  "$bin stream encrypt -c $rconf --key $work/key.pem <\"\$IN\" >\"\$OUT\"" \
  "$bin stream decrypt -c $rconf --key $work/key.pem <\"\$IN\" >\"\$OUT\"" "$@"
