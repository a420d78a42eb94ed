#!/usr/bin/env bash
# The mount benchmark: ../shared/bench/fs-bench.sh runs one fixed workload
# (sequential write/read, fio 4k random r/w, unaligned pwrites, small files,
# untar) against fusecry (fusecry/1, names encrypted), gocryptfs, securefs and
# the plain backing directory, rounds interleaved, ciphertext on disk and on
# tmpfs. Prints one markdown table per location (median ± half-range).
#
#   benches/mount-bench.sh [--rounds N] [--quick] [--out DIR] [--ceiling]
#       [--noxattr] [--nowriteback] [--phases LIST] [--systems LIST]
#       [--where "disk tmpfs"]
#
# --noxattr adds fusecry mounted with -o noxattr (no extended attributes,
# as securefs on Linux); --nowriteback adds it with -o nowriteback (no
# kernel writeback cache, as securefs and gocryptfs). --phases is
# fs-bench.sh's (seq,fio,rw,small,untar), --systems a comma list out of the
# systems above, --where the locations.
#
# --ceiling adds fusecry's own FUSE ceiling: the same mount built with the
# bench-only `ceiling` feature (fusecry-format), whose chunks are copied
# instead of encrypted and verified; same threads, request sizes and
# backing calls.
#
# Needs root, /dev/fuse and the peers (../shared/bench/install-peers.sh, or
# apt-get install gocryptfs securefs fio fuse3). Builds fusecry in release mode.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bench=${FSBENCH_DIR:-$here/../shared/bench}
rounds=2; quick=(); out=/tmp/fusecry-mount-bench; ceiling=0; noxattr=0; nowb=0; only=(); places="disk tmpfs"
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2;;
    --quick) quick=(--quick); shift;;
    --out) out=$2; shift 2;;
    --ceiling) ceiling=1; shift;;
    --noxattr) noxattr=1; shift;;
    --nowriteback) nowb=1; shift;;
    --phases) only=(--phases "$2"); shift 2;;
    --systems) custom=$2; shift 2;;
    --where) places=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
(cd "$here" && cargo build --release -p fusecry)
bin=/usr/local/bin/fusecry-bench
install -m 755 "$here/target/release/fusecry" "$bin"
systems=(fusecry gocryptfs securefs plain)
if [ $ceiling = 1 ]; then
  # Its own target dir: the feature must not reach the real build.
  (cd "$here" && cargo build --release -p fusecry --features fusecry-format/ceiling --target-dir target/ceiling)
  cbin=/usr/local/bin/fusecry-ceiling
  install -m 755 "$here/target/ceiling/release/fusecry" "$cbin"
  systems=(fusecry fusecry_ceiling gocryptfs securefs plain)
fi
[ $nowb = 1 ] && systems=("${systems[@]:0:1}" fusecry_nowb "${systems[@]:1}")
[ $noxattr = 1 ] && systems=("${systems[@]:0:1}" fusecry_noxattr "${systems[@]:1}")
[ -n "${custom:-}" ] && read -ra systems <<< "${custom//,/ }"
mkdir -p "$out"
declare -A INIT MOUNT UMOUNT
INIT[fusecry]="printf '%s\n' \"\$BENCH_PW\" > \"\$RUNDIR/pw\" && $bin init \"\$CIPHERDIR\" -n --password-file \"\$RUNDIR/pw\""
MOUNT[fusecry]="$bin mount \"\$CIPHERDIR\" \"\$MNT\" --password-file \"\$RUNDIR/pw\" --log \"\$RUNDIR/fusecry.log\""
UMOUNT[fusecry]="$bin umount \"\$MNT\""
INIT[fusecry_noxattr]=${INIT[fusecry]}
MOUNT[fusecry_noxattr]="${MOUNT[fusecry]} -o noxattr"
UMOUNT[fusecry_noxattr]=${UMOUNT[fusecry]}
INIT[fusecry_nowb]=${INIT[fusecry]}
MOUNT[fusecry_nowb]="${MOUNT[fusecry]} -o nowriteback"
UMOUNT[fusecry_nowb]=${UMOUNT[fusecry]}
INIT[fusecry_ceiling]="printf '%s\n' \"\$BENCH_PW\" > \"\$RUNDIR/pw\" && FUSECRY_CEILING=insecure /usr/local/bin/fusecry-ceiling init \"\$CIPHERDIR\" -n --password-file \"\$RUNDIR/pw\""
MOUNT[fusecry_ceiling]="FUSECRY_CEILING=insecure /usr/local/bin/fusecry-ceiling mount \"\$CIPHERDIR\" \"\$MNT\" --password-file \"\$RUNDIR/pw\" --log \"\$RUNDIR/fusecry.log\""
UMOUNT[fusecry_ceiling]="FUSECRY_CEILING=insecure /usr/local/bin/fusecry-ceiling umount \"\$MNT\""
INIT[gocryptfs]='gocryptfs -init -q -extpass "echo $BENCH_PW" "$CIPHERDIR"'
MOUNT[gocryptfs]='gocryptfs -q -nosyslog -extpass "echo $BENCH_PW" "$CIPHERDIR" "$MNT"'
UMOUNT[gocryptfs]='fusermount3 -u "$MNT"'
INIT[securefs]='securefs create --format 4 --pass "$BENCH_PW" "$CIPHERDIR" >/dev/null'
MOUNT[securefs]='securefs mount -b --pass "$BENCH_PW" "$CIPHERDIR" "$MNT" >/dev/null 2>&1'
UMOUNT[securefs]='fusermount -u "$MNT" || fusermount3 -u "$MNT"'
INIT[plain]=''
MOUNT[plain]='mount --bind "$CIPHERDIR" "$MNT"'
UMOUNT[plain]='umount "$MNT"'
for where in $places; do
  if [ $where = disk ]; then work=/tmp/fsbench/work; else work=/dev/shm/fsbench-work; fi
  jsonl="$out/$where.jsonl"; : > "$jsonl"
  for r in $(seq 1 "$rounds"); do
    for fs in "${systems[@]}"; do
      args=("${quick[@]}" "${only[@]}" --workdir "$work" --run-id "$r")
      [ -n "${INIT[$fs]}" ] && args+=(--init "${INIT[$fs]}")
      "$bench/fs-bench.sh" "${args[@]}" "$fs-$where" "${MOUNT[$fs]}" "${UMOUNT[$fs]}" >> "$jsonl" 2>>"$out/$where.log" || echo "$fs ($where) round $r failed: see $out/$where.log" >&2
    done
  done
  echo "## ciphertext on $where ($rounds rounds)"
  python3 "$bench/summarize.py" "$jsonl"
done
