#!/bin/sh
# Runs every fuzz target for SECS seconds (default 600), one after the other,
# at the lowest CPU priority, one job, libFuzzer's own limits as in
# benches/results/fuzz.md. Logs go to logs/<target>.log, new inputs to
# corpus/<target>/ (seeded read-only from seeds/<target>/), crashes to
# artifacts/<target>/.
set -eu
cd "$(dirname "$0")"
SECS=${1:-600}
if [ $# -gt 0 ]; then shift; fi
TARGETS=${*:-conf file names xattr}
mkdir -p logs
nice -n 19 cargo fuzz build -s none
for t in $TARGETS; do
    mkdir -p "corpus/$t"
    # The stream decoder runs on rayon: keep it to one core.
    RAYON_NUM_THREADS=1 nice -n 19 cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"logs/$t.log" 2>&1 || echo "$t: exit $? (see logs/$t.log)"
    grep -E 'INITED|DONE|^stat::' "logs/$t.log" || true
done
