#!/usr/bin/env bash
# Cluster mode's figures: idle WebSockets spread over several nodes on one port, delivery latency
# through another node versus local, and what Redis spends per event.
#   bench/cluster/run.sh OUT_DIR [IDLE_TOTAL] [NODES] [CROSS_STREAMS] [CROSS_SECONDS]
# Writes OUT_DIR/cluster.json and OUT_DIR/cluster.md (a section for bench/RESULTS.md); with
# RESULTS=FILE it also puts that section in FILE, in place of an earlier one.
# Each node holds at most IDLE_TOTAL / NODES connections: under the 20,000 descriptors a process may
# have here, 100,000 connections take six processes (five would need 20,000 each, plus their own).
set -euo pipefail
out="$1"; idle_total="${2:-100000}"; nodes="${3:-6}"; cross_streams="${4:-200}"; cross_s="${5:-20}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-$root/build/release}"
sg="$build/streamgate" bench="$build/sgbench"
mkdir -p "$out"
work="$(mktemp -d /tmp/sg-cluster-bench-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  redis-cli -p "${rport:-0}" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_log() { for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "timeout waiting for $2 in $1" >&2; return 1; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize yes \
  --logfile "$work/redis.log" >/dev/null
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis_pid=$(redis-cli -p "$rport" info server | awk -F: '/^process_id/ {print $2}' | tr -d '\r')
cluster="redis://127.0.0.1:$rport"

# --- 1. Cross-node delivery: two nodes, streams started on A and read on A and on B -------------
pa=$(free_port); pb=$(free_port)
start_node() {  # name port extra...
  local name="$1" port="$2"; shift 2
  "$sg" --listen "127.0.0.1:$port" --cluster "$cluster" --node-id "$name" --data-dir "$work/data" --web-root "" \
    --threads 1 --log-level info --demo-ttft-ms 200 --demo-tokens-per-second 20 --max-streams-per-connection 4 \
    "$@" 2>"$work/$name.log" &
  pids+=($!)
  wait_log "$work/$name.log" '"cluster: redis reachable"'
}
start_node cross-a "$pa"; start_node cross-b "$pb"
cpu0=$(redis-cli -p "$rport" info cpu | awk -F: '/used_cpu_(sys|user):/ {s += $2} END {print s}')
cmd0=$(redis-cli -p "$rport" info stats | awk -F: '/total_commands_processed/ {print $2}' | tr -d '\r')
ev0=$(metric "$pa" streamgate_cluster_log_events_total); bt0=$(metric "$pa" streamgate_cluster_log_batches_total)
t0=$(date +%s.%N)
node "$root/bench/cluster/cross-node.mjs" "ws://127.0.0.1:$pa/ws" "ws://127.0.0.1:$pb/ws" "$cross_streams" "$cross_s" \
  >"$out/cross-node.json"
t1=$(date +%s.%N)
cpu1=$(redis-cli -p "$rport" info cpu | awk -F: '/used_cpu_(sys|user):/ {s += $2} END {print s}')
cmd1=$(redis-cli -p "$rport" info stats | awk -F: '/total_commands_processed/ {print $2}' | tr -d '\r')
ev1=$(metric "$pa" streamgate_cluster_log_events_total); bt1=$(metric "$pa" streamgate_cluster_log_batches_total)
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

# --- 2. Idle WebSockets over NODES processes sharing one port -------------------------------------
port=$(free_port)
node_pids=()
for i in $(seq 1 "$nodes"); do
  "$sg" --listen "127.0.0.1:$port" --reuse-port --cluster "$cluster" --node-id "idle-$i" --data-dir "$work/data" \
    --web-root "" --threads 1 --log-level warn --idle-timeout-ms 600000 2>"$work/idle-$i.log" &
  pids+=($!); node_pids+=($!)
done
sleep 1
rss_before=0; for p in "${node_pids[@]}"; do rss_before=$((rss_before + $(rss_kib "$p"))); done
loaders=$(( (idle_total + 14999) / 15000 ))
per=$(( idle_total / loaders ))
lpids=()
t_idle0=$(date +%s.%N)
for i in $(seq 0 $((loaders - 1))); do
  n=$per; [ "$i" -eq $((loaders - 1)) ] && n=$((idle_total - per * (loaders - 1)))  # the last takes the rest
  "$bench" idle "ws://127.0.0.1:$port/ws" --connections "$n" --duration 10 --max-pending 256 --sources 8 \
    --source-base $((1 + i * 8)) --max-time 240 --quiet --no-markdown --json "$out/idle-$i.json" >/dev/null 2>&1 &
  lpids+=($!)
done
# The RSS is read while every loader holds its connections (each holds them for 10 s): once the
# nodes' descriptors add up to the total.
for _ in $(seq 2400); do
  open=0; for p in "${node_pids[@]}"; do open=$((open + $(ls /proc/$p/fd 2>/dev/null | wc -l))); done
  [ "$open" -ge "$idle_total" ] && break
  sleep 0.1
done
t_idle1=$(date +%s.%N)
sleep 2
rss_after=0; for p in "${node_pids[@]}"; do rss_after=$((rss_after + $(rss_kib "$p"))); done
per_node=""; for p in "${node_pids[@]}"; do per_node="$per_node $(( $(ls /proc/$p/fd | wc -l) ))"; done
for p in "${lpids[@]}"; do wait "$p" || true; done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$out" "$loaders" "$rss_before" "$rss_after" "$t_idle0" "$t_idle1" "$per_node" \
  "$cpu0" "$cpu1" "$cmd0" "$cmd1" "${ev0:-0}" "${ev1:-0}" "${bt0:-0}" "${bt1:-0}" "$t0" "$t1" "$nodes" \
  "$cross_streams" "$cross_s" "$load_start" "$load_end" >"$out/cluster.md" <<'PY'
import json, os, sys
out, loaders = sys.argv[1], int(sys.argv[2])
rss_before, rss_after = int(sys.argv[3]), int(sys.argv[4])
t_idle0, t_idle1 = float(sys.argv[5]), float(sys.argv[6])
per_node = [int(x) for x in sys.argv[7].split()]
cpu0, cpu1, cmd0, cmd1 = float(sys.argv[8]), float(sys.argv[9]), int(sys.argv[10]), int(sys.argv[11])
ev0, ev1, bt0, bt1 = float(sys.argv[12]), float(sys.argv[13]), float(sys.argv[14]), float(sys.argv[15])
t0, t1, nodes = float(sys.argv[16]), float(sys.argv[17]), int(sys.argv[18])
cross_streams, cross_s, load_start, load_end = sys.argv[19], sys.argv[20], sys.argv[21], sys.argv[22]
import datetime, subprocess
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print("## Cluster mode\n")
print(f"Generated by `bench/cluster/run.sh` on {datetime.datetime.now():%Y-%m-%d %H:%M}; {cpu}, {os.cpu_count()} cores; "
      f"load average {load_start} at the start, {load_end} at the end. One Redis 7 of the run's own (persistence off).\n")
print(f"- Idle: {nodes} streamgate processes (`--threads 1`) share one port with `--reuse-port` and `--cluster`; "
      f"sgbench processes open the connections from 127.0.0.x source addresses and hold them 10 s. RSS is the nodes' "
      f"together, before and while held.")
print(f"- Cross-node: two nodes; {cross_streams} clients start demo streams (20 tokens/s) on node A one after another "
      f"for {cross_s} s, and each stream is also read from node B (a resume from seq 1, fed by Redis) by "
      f"`bench/cluster/cross-node.mjs`. Lateness = arrival − the token's `dueUs`; the first 2 s are not measured.")
print(f"- Redis: its own CPU (`INFO cpu`) and commands (`INFO stats`) over the cross-node run, beside the events node A "
      f"appended (`streamgate_cluster_log_events_total`) and the round trips that carried them.\n")
print("| figure | value |\n|---|---|")
idle = [json.load(open(f"{out}/idle-{i}.json")) for i in range(loaders)]
connected = sum(r["connected"] for r in idle)
connect_s = max(r["connect"]["seconds"] for r in idle)
cross = json.load(open(f"{out}/cross-node.json"))
events = ev1 - ev0
secs = t1 - t0
res = {
  "idle": {"nodes": nodes, "connected": connected, "connect_seconds": connect_s,
           "connects_per_s": connected / connect_s if connect_s else None,
           "rss_kib_per_connection": (rss_after - rss_before) / connected if connected else None,
           "descriptors_per_node": per_node},
  "cross": cross,
  "redis": {"events": events, "batches": bt1 - bt0, "events_per_batch": events / (bt1 - bt0) if bt1 > bt0 else None,
            "events_per_s": events / secs, "cpu_s": cpu1 - cpu0, "commands": cmd1 - cmd0,
            "cpu_s_per_100k_events": (cpu1 - cpu0) / events * 1e5 if events else None,
            "round_trips_per_100k_events": (bt1 - bt0) / events * 1e5 if events else None,
            "commands_per_event": (cmd1 - cmd0) / events if events else None},
}
json.dump(res, open(f"{out}/cluster.json", "w"), indent=1)
l, r = cross["local"], cross["remote"]
def us(v): return "–" if v is None else f"{v:,.0f} µs"
print(f"| idle WebSockets held by {nodes} nodes on one port (--reuse-port) | {connected:,} |")
print(f"| server RSS per idle WebSocket, all nodes together | {res['idle']['rss_kib_per_connection']:.2f} KiB |")
print(f"| connections opened per second ({loaders} sgbench processes) | {res['idle']['connects_per_s']:,.0f} |")
print(f"| descriptors per node | {', '.join(f'{n:,}' for n in per_node)} |")
print(f"| chunk lateness p50 / p99, subscriber on the generating node | {us(l['p50_us'])} / {us(l['p99_us'])} |")
print(f"| chunk lateness p50 / p99, subscriber on another node (via Redis) | {us(r['p50_us'])} / {us(r['p99_us'])} |")
if l["p50_us"] is not None and r["p50_us"] is not None:
  print(f"| added by the other node, p50 / p99 | {us(r['p50_us'] - l['p50_us'])} / {us(r['p99_us'] - l['p99_us'])} |")
print(f"| events appended to Redis per second (this run) | {res['redis']['events_per_s']:,.0f} |")
print(f"| events per pipelined batch (round trip) | {res['redis']['events_per_batch']:.1f} |")
print(f"| Redis CPU per 100,000 events/s | {res['redis']['cpu_s_per_100k_events']:.2f} CPU-s per s |")
print(f"| round trips per 100,000 events | {res['redis']['round_trips_per_100k_events']:,.0f} |")
print(f"| Redis commands per event | {res['redis']['commands_per_event']:.2f} |")
PY
cat "$out/cluster.md"
if [ -n "${RESULTS:-}" ]; then
  python3 - "$RESULTS" "$out/cluster.md" <<'PY'
import re, sys
results, section = sys.argv[1], open(sys.argv[2]).read()
text = open(results).read() if __import__("os").path.exists(results) else ""
# The section runs from its heading to the next "## " heading (or the end).
m = re.search(r"^## Cluster mode\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
text = text[:m.start()] + section + "\n" + text[m.end():] if m else text.rstrip() + "\n\n" + section
open(results, "w").write(text)
PY
fi
