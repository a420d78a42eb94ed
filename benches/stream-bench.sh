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
"$top/../shared/bench/stream-bench.sh" --tool fusecry \
  "FUSECRY_PASSWORD=bench-password $bin stream encrypt -c $conf <\"\$IN\" >\"\$OUT\"" \
  "FUSECRY_PASSWORD=bench-password $bin stream decrypt -c $conf <\"\$IN\" >\"\$OUT\"" "$@"
