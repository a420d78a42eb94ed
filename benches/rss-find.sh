#!/usr/bin/env bash
# Daemon memory against tree size: creates DIRS x PER_DIR empty files through
# a fusecry/1 mount (names encrypted), remounts cold, and prints the daemon's
# RSS before and after `find -ls` over the tree (a stat of every entry), and after the kernel dropped its
# dentry/inode caches (which sends FORGET for every inode).
#   benches/rss-find.sh [DIRS] [PER_DIR]      (default 100 x 1000 = 100,000)
set -euo pipefail
dirs=${1:-100}; per=${2:-1000}
bin=${FUSECRY_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/fusecry}
work=$(mktemp -d /tmp/rss-find.XXXX); trap 'umount -l "$work/m" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/m"; printf 'pw\n' > "$work/pw"
"$bin" init "$work/c" -n --password-file "$work/pw" >/dev/null 2>&1
"$bin" mount "$work/c" "$work/m" --password-file "$work/pw" --log "$work/log" 2>/dev/null
python3 - "$work/m" "$dirs" "$per" <<'PY'
import os, sys
root, dirs, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(dirs):
    p = os.path.join(root, "dir%03d" % d); os.mkdir(p)
    for f in range(per):
        os.close(os.open(os.path.join(p, "file-%05d.txt" % f), os.O_CREAT | os.O_WRONLY, 0o644))
PY
"$bin" umount "$work/m"; sleep 1
sync; echo 3 > /proc/sys/vm/drop_caches
"$bin" mount "$work/c" "$work/m" --password-file "$work/pw" --log "$work/log" 2>/dev/null
pid=$(pgrep -n -f "fusecry mount $work/c") 
rss() { awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$pid/status; }
echo "files: $((dirs * per)); daemon RSS after mount: $(rss)"
start=$(date +%s.%N); n=$(find "$work/m" -ls | wc -l); end=$(date +%s.%N)
echo "find listed $n entries in $(echo "$end - $start" | bc) s; daemon RSS after find: $(rss); peak: $(awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$pid/status)"
sync; echo 2 > /proc/sys/vm/drop_caches; sleep 2
echo "after the kernel dropped its inode cache: $(rss)"
"$bin" umount "$work/m"
