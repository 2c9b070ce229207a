#!/usr/bin/env bash
# Server RSS over time while streams finish and stay resumable: N connections each run one demo
# stream after another (20 tokens/s, the default 10-minute retention), RSS sampled every STEP s.
#   bench/retained.sh BINARY OUT.tsv [SECONDS] [CONNECTIONS] [EXTRA SERVER ARGS...]
# Prints one line per sample (seconds, RSS MiB, retained streams) and writes them to OUT.tsv.
set -euo pipefail
bin="$1"; out="$2"; seconds="${3:-600}"; conns="${4:-1000}"; shift $(( $# < 4 ? $# : 4 ))
root="$(cd "$(dirname "$0")/.." && pwd)"
sgbench="${SGBENCH:-$root/build/release/sgbench}"
step="${STEP:-5}"
dir="$(mktemp -d)"
trap 'kill "$srv" "$load" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

"$bin" --listen 127.0.0.1:0 --data-dir "$dir" --web-root "" --threads 1 --log-level warn \
  --demo-ttft-ms 300 --demo-tokens-per-second 20 "$@" 2>"$dir/log" &
srv=$!
port=""
for _ in $(seq 100); do
  port="$(grep -o '"port":[0-9]*' "$dir/log" | head -1 | cut -d: -f2 || true)"
  [ -n "$port" ] && break
  # The listening line is at warn level only when the server logs it; fall back to /proc.
  port="$(ss -ltnpH 2>/dev/null | grep "pid=$srv," | grep -o '127.0.0.1:[0-9]*' | head -1 | cut -d: -f2 || true)"
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "retained: the server did not start" >&2; cat "$dir/log" >&2; exit 1; }

"$sgbench" stream "ws://127.0.0.1:$port/ws" --connections "$conns" --stream-rate 100 --warmup 0 \
  --duration "$seconds" --max-time $((seconds + 60)) --quiet --no-markdown --json "$dir/report.json" &
load=$!
printf 'seconds\trss_mib\tretained_streams\n' >"$out"
start=$(date +%s)
while kill -0 "$load" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$srv/status")
  retained=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^streamgate_streams_retained / {print $2}')
  printf '%s\t%s\t%s\n' "$now" "$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')" "${retained:-0}" | tee -a "$out"
  [ "$now" -ge "$seconds" ] && break
  sleep "$step"
done
wait "$load" 2>/dev/null || true
