#!/usr/bin/env bash
# Issue 16 item 5: `fusecry stream encrypt` with an RSA key slot against
# `age` with an X25519 recipient, 1 GiB from tmpfs to /dev/null (the
# encryption alone, no output file system), and `fusecry encrypt` of a file
# against `age -o` (tmpfs to tmpfs); decryption of each likewise. Rounds
# interleaved; prints each run and the medians in MiB/s.
#   benches/stream-null.sh [--mib N] [--runs N]
set -euo pipefail
mib=1024; runs=5
while [ $# -gt 0 ]; do
  case $1 in
    --mib) mib=$2; shift 2;;
    --runs) runs=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
(cd "$top" && cargo build -q --release -p fusecry)
fc="$top/target/release/fusecry"
w=$(mktemp -d /dev/shm/fcnull.XXXX); trap 'rm -rf "$w"' EXIT
head -c $((mib << 20)) /dev/urandom > "$w/in"
openssl genrsa -out "$w/key.pem" 3072 2>/dev/null
"$fc" init "$w/rsa" --chunk-size 65536 --key "$w/key.pem" >/dev/null 2>&1
conf="$w/rsa/fusecry.conf"
age-keygen -o "$w/age.key" 2>/dev/null; rcpt=$(age-keygen -y "$w/age.key")
"$fc" stream encrypt -c "$conf" --key "$w/key.pem" < "$w/in" > "$w/in.fc"
age -r "$rcpt" -o "$w/in.age" "$w/in"
declare -A cmd=(
  [fusecry_stream_enc_null]="'$fc' stream encrypt -c '$conf' --key '$w/key.pem' < '$w/in' > /dev/null"
  [age_enc_null]="age -r '$rcpt' < '$w/in' > /dev/null"
  [fusecry_stream_dec_null]="'$fc' stream decrypt -c '$conf' --key '$w/key.pem' < '$w/in.fc' > /dev/null"
  [age_dec_null]="age -d -i '$w/age.key' < '$w/in.age' > /dev/null"
  [fusecry_encrypt_file]="rm -f '$w/out' '$w/out.fcry'; '$fc' encrypt '$w/in' '$w/out' -c '$conf' --key '$w/key.pem'"
  [age_o_file]="rm -f '$w/out'; age -r '$rcpt' -o '$w/out' '$w/in'"
)
order=(fusecry_stream_enc_null age_enc_null fusecry_stream_dec_null age_dec_null fusecry_encrypt_file age_o_file)
declare -A all
for r in $(seq 1 "$runs"); do
  for k in "${order[@]}"; do
    t0=$EPOCHREALTIME; bash -c "${cmd[$k]}"; t1=$EPOCHREALTIME
    v=$(python3 -c "print(round($mib / ($t1 - $t0), 1))")
    all[$k]+="$v "; echo "run $r $k $v MiB/s"
  done
done
for k in "${order[@]}"; do
  python3 - "$k" ${all[$k]} <<'PY'
import sys, statistics
v = [float(x) for x in sys.argv[2:]]
m = statistics.median(v)
print(f"{sys.argv[1]}: median {m:.0f} MiB/s (±{(max(v)-min(v))/2/m*100:.0f}%, {len(v)} runs)")
PY
done
