#!/usr/bin/env bash
# A seconds-long smoke of sgcat and every sgbench mode against a real streamgate, so the harness keeps working.
# usage: bench/smoke.sh [BUILD_DIR]   (default build/release); prints "N passed, M failed" and exits non-zero on failure.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build/release}"
SG="$BUILD/streamgate" CAT="$BUILD/sgcat" BENCH="$BUILD/sgbench"
TMP="$(mktemp -d /tmp/sg-smoke-XXXXXX)"
passed=0 failed=0
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${SMOKE_KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

for b in "$SG" "$CAT" "$BENCH"; do
  [ -x "$b" ] || { echo "smoke: $b is not built"; echo "0 passed, 1 failed"; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# check NAME COMMAND...: runs the command with a deadline; its output is kept in $TMP/NAME.out.
check() {
  local name="$1"; shift
  if timeout 60 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name (exit $?)"; tail -5 "$TMP/$name.err" "$TMP/$name.out" | sed 's/^/     /'
  fi
}
# expect NAME PATTERN FILE: the file (an earlier check's output) matches the pattern.
expect() {
  if grep -q -- "$2" "$3"; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1: no '$2' in $(basename "$3")"; head -c 600 "$3" | sed 's/^/     /'; fi
}

PORT=$(free_port)
# The cutting proxy below forwards the Host it was sent (its own port): any port of 127.0.0.1 is allowed.
"$SG" --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" --web-root "" --threads 1 --log-level warn \
  --allowed-hosts 127.0.0.1 \
  --demo-ttft-ms 20 --demo-tokens-per-second 400 2>"$TMP/server.log" &
SPID=$!; pids+=("$SPID")
wait_port "$PORT" || { echo "smoke: streamgate did not start"; cat "$TMP/server.log"; echo "0 passed, 1 failed"; exit 1; }
WS="ws://127.0.0.1:$PORT/ws" HTTP="http://127.0.0.1:$PORT"

# sgcat
check sgcat_ws "$CAT" "$WS" --project smoke --ask "smoke test"
expect sgcat_ws_text "title ideas" "$TMP/sgcat_ws.out"
expect sgcat_ws_metrics "first chunk" "$TMP/sgcat_ws.err"
check sgcat_sse "$CAT" "$HTTP" --ask "smoke over sse"
expect sgcat_sse_text "title ideas" "$TMP/sgcat_sse.out"
check sgcat_json "$CAT" "$WS" --ask "json please" --json
expect sgcat_json_complete '"type":"stream_complete"' "$TMP/sgcat_json.out"
SID=$(grep -o '"streamId":"[^"]*"' "$TMP/sgcat_json.out" | head -1 | cut -d'"' -f4)
check sgcat_resume_ws "$CAT" "$WS" --resume "$SID:140" --json
expect sgcat_resume_ws_from '"firstSeq":141\|"seq":141' "$TMP/sgcat_resume_ws.out"
check sgcat_resume_sse "$CAT" "$HTTP" --resume "$SID:145" --json
# The replay is written in one go, so its chunks may arrive merged (firstSeq 146).
expect sgcat_resume_sse_from '"\(seq\|firstSeq\)":146' "$TMP/sgcat_resume_sse.out"
timeout 30 "$CAT" "$WS" --ask "cancel me" --cancel-after 100 >"$TMP/cancel.out" 2>"$TMP/cancel.err"
if [ $? -eq 3 ]; then passed=$((passed + 1)); echo "ok   sgcat_cancel_exit_3"; else failed=$((failed + 1)); echo "FAIL sgcat_cancel_exit_3"; fi
timeout 30 "$CAT" "$WS" --resume "st_missing:0" >/dev/null 2>"$TMP/missing.err"
if [ $? -eq 1 ]; then passed=$((passed + 1)); echo "ok   sgcat_error_exit_1"; else failed=$((failed + 1)); echo "FAIL sgcat_error_exit_1"; fi
printf '{"action":"ping"}\n' >"$TMP/ping.in"
check sgcat_interactive "$CAT" "$WS" --quiet <"$TMP/ping.in"
expect sgcat_interactive_pong '"type":"pong"' "$TMP/sgcat_interactive.out"

# A proxy that cuts the first connection mid-stream: sgcat must reconnect and resume, losing nothing.
PPORT=$(free_port)
python3 - "$PPORT" "$PORT" <<'PY' &
import socket, sys, threading, time
lport, uport = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport)); ls.listen(16); ls.settimeout(30)
def pump(a, b, cut_after=None):
    # With cut_after, both sides are shut down once that many bytes went through: mid-stream,
    # whatever the machine's speed.
    seen = 0
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
            seen += len(d)
            if cut_after is not None and seen >= cut_after: break
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
def serve(c, cut):
    u = socket.create_connection(("127.0.0.1", uport))
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c, 4000 if cut else None), daemon=True).start()
n = 0
end = time.time() + 30
while time.time() < end:
    try: c, _ = ls.accept()
    except OSError: break
    n += 1
    # Connection 1 is wait_port's probe; connection 2 is sgcat's first.
    threading.Thread(target=serve, args=(c, n == 2), daemon=True).start()
PY
pids+=("$!")
wait_port "$PPORT"
check sgcat_reconnect "$CAT" "ws://127.0.0.1:$PPORT/ws" --ask "drop me halfway" --json
expect sgcat_reconnect_resumed "resuming" "$TMP/sgcat_reconnect.err"
expect sgcat_reconnect_complete '"type":"stream_complete"' "$TMP/sgcat_reconnect.out"
python3 - "$TMP/sgcat_reconnect.out" <<'PY' && { passed=$((passed + 1)); echo "ok   sgcat_reconnect_gapless"; } || { failed=$((failed + 1)); echo "FAIL sgcat_reconnect_gapless"; }
import json, sys
# Every event follows the previous one: seq (or a merged chunk's firstSeq) is last + 1.
last = 0
for line in open(sys.argv[1]):
    e = json.loads(line) if line.strip() else {}
    if not e.get("seq"): continue
    if e.get("firstSeq", e["seq"]) != last + 1: sys.exit(1)
    last = e["seq"]
sys.exit(0 if last > 0 else 1)
PY

# sgbench: every mode, both transports, each a second or two; any counted error fails the check.
common=(--server-pid "$SPID" --quiet --fail-on-error --tps 400)
check sgbench_idle "$BENCH" idle "$WS" --connections 200 --duration 1 --json "$TMP/idle.json" "${common[@]}"
check sgbench_stream_ws "$BENCH" stream "$WS" --connections 50 --warmup 0.3 --duration 1 --json "$TMP/stream.json" "${common[@]}"
check sgbench_stream_sse "$BENCH" stream "$HTTP" --connections 50 --warmup 0.3 --duration 1 "${common[@]}"
check sgbench_burst "$BENCH" burst "$WS" --connections 50 --rounds 2 --burst-after 0.1 "${common[@]}"
check sgbench_slow "$BENCH" slow "$WS" --connections 50 --warmup 0.3 --duration 1 --threads 2 "${common[@]}"
python3 - "$TMP/stream.json" <<'PY' && { passed=$((passed + 1)); echo "ok   sgbench_stream_measured"; } || { failed=$((failed + 1)); echo "FAIL sgbench_stream_measured"; }
import json, sys
r = json.load(open(sys.argv[1]))
ok = r["chunks"]["frames"] > 0 and r["lateness_us"]["count"] > 0 and r["server"]["sampled"] and r["errors"]["total"] == 0
# Streams are paced (~0.4 s each here): far more completions would mean they were replayed, not run.
ok = ok and r["streams"]["completed"] <= 10 * r["connections"]
sys.exit(0 if ok else 1)
PY

# The goals table of the report is built from these results (named as the full run names them).
cp "$TMP/stream.json" "$TMP/streamgate_stream_500.json"
cp "$TMP/idle.json" "$TMP/streamgate_idle.json"
printf '# report\n\n- header\n\n## Section\n' >"$TMP/report.md"
check goals_table python3 "$ROOT/bench/goals.py" "$TMP" "$TMP/report.md"
expect goals_table_rows 'server CPU per delivered chunk, 500 streams' "$TMP/report.md"

# The floor probe builds and runs.
if command -v c++ >/dev/null; then
  check floor_build c++ -O2 -std=c++20 -o "$TMP/floor" "$ROOT/bench/floor/floor.cpp" -luring
  check floor_run "$TMP/floor" --connections 20 --seconds 0.2 --json
  expect floor_json '"sender_cpu_us_per_msg"' "$TMP/floor_run.out"
  check floor_uring_run "$TMP/floor" --connections 20 --seconds 0.2 --uring 4 --json
  expect floor_uring_json '"uring":4' "$TMP/floor_uring_run.out"
  # The wake-up floor counts its wake-ups and their CPU.
  check wake_floor_build c++ -O2 -std=c++20 -o "$TMP/wake_floor" "$ROOT/bench/floor/wake_floor.cpp"
  check wake_floor_run "$TMP/wake_floor" --seconds 0.2 --rearm --json
  expect wake_floor_json '"wakes":[1-9]' "$TMP/wake_floor_run.out"
  # The accept floor answers sgbench's upgrades as a server does.
  check accept_floor_build c++ -O2 -std=c++20 -o "$TMP/accept_floor" "$ROOT/bench/floor/accept_floor.cpp" -lcrypto
  "$TMP/accept_floor" >"$TMP/accept_floor.port" 2>"$TMP/accept_floor.log" &
  FLPID=$!; pids+=("$FLPID")
  for _ in $(seq 100); do [ -s "$TMP/accept_floor.port" ] && break; sleep 0.05; done
  check accept_floor_idle "$BENCH" idle "ws://127.0.0.1:$(cat "$TMP/accept_floor.port")/ws" --connections 50 \
    --duration 1 --quiet --no-markdown --server-pid "$FLPID" --max-time 30 --json "$TMP/accept_floor.json"
  expect accept_floor_connected '"connected":50' "$TMP/accept_floor.json"
  kill "$FLPID" 2>/dev/null
fi

# sgbench --openai against the fake OpenAI upstream (plain Node, no dependencies).
if command -v node >/dev/null; then
  UPORT=$(free_port)
  node "$ROOT/bench/peers/node-ws/fake-openai.js" --port "$UPORT" --ttft-ms 20 --tokens-per-second 400 2>"$TMP/fake.log" &
  pids+=("$!")
  wait_port "$UPORT"
  check sgbench_openai "$BENCH" stream "http://127.0.0.1:$UPORT/v1/chat/completions" --openai --connections 20 \
    --warmup 0.3 --duration 1 --quiet --fail-on-error --json "$TMP/openai.json"
  expect sgbench_openai_chunks '"frames":[1-9]' "$TMP/openai.json"
  # The time-to-first-token comparison of make bench, with a handful of requests.
  check ttft node "$ROOT/bench/providers/ttft.mjs" --requests 5 --ttft-ms 5 --bin "$SG" --sgbench "$BENCH"
  expect ttft_added "added by streamgate, /v1/streams .*p99 *-\?[0-9]" "$TMP/ttft.out"
  expect ttft_nginx "added by nginx, /v1/chat/completions .*p99 *-\?[0-9]" "$TMP/ttft.out"  # nginx: install-deps.sh
  check ttft_one_core node "$ROOT/bench/providers/ttft.mjs" --requests 5 --ttft-ms 5 --bin "$SG" --sgbench "$BENCH" \
    --layout one-core
  expect ttft_one_core_added "added by streamgate, /v1/chat/completions .*p99 *-\?[0-9]" "$TMP/ttft_one_core.out"
  if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    expect ttft_one_core_pinned "every process on core 1" "$TMP/ttft_one_core.out"
  fi
fi

# The retained-memory run of make bench, in miniature: it samples RSS while streams finish.
if STEP=1 SGBENCH="$BENCH" bash "$ROOT/bench/retained.sh" "$SG" "$TMP/retained.tsv" 3 20 >"$TMP/retained.out" 2>&1 &&
   [ "$(awk 'NR > 1 && $2 > 0' "$TMP/retained.tsv" | wc -l)" -ge 3 ]; then
  passed=$((passed + 1)); echo "ok   retained_rss"
else
  failed=$((failed + 1)); echo "FAIL retained_rss"; sed 's/^/     /' "$TMP/retained.out" | tail -5
fi

# The Node peer answers the same protocol; its one dependency (ws) is installed from the lock file.
NODEDIR="$ROOT/bench/peers/node-ws"
if command -v npm >/dev/null && [ ! -d "$NODEDIR/node_modules/ws" ]; then
  (cd "$NODEDIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) || true
fi
if command -v node >/dev/null && [ -d "$NODEDIR/node_modules/ws" ]; then
  NPORT=$(free_port)
  node "$NODEDIR/server.js" --port "$NPORT" --ttft-ms 20 --tokens-per-second 400 2>"$TMP/node.log" &
  pids+=("$!")
  wait_port "$NPORT"
  check node_peer_sgcat "$CAT" "ws://127.0.0.1:$NPORT/ws" --ask "peer"
  check node_peer_stream "$BENCH" stream "ws://127.0.0.1:$NPORT/ws" --connections 20 --warmup 0.3 --duration 1 --quiet --fail-on-error
else
  echo "skip node peer (run 'npm ci' in bench/peers/node-ws)"
fi

# The cluster run, small: 600 idle connections over three nodes, five seconds of cross-node streams.
if command -v redis-server >/dev/null && command -v node >/dev/null && [ -d "$NODEDIR/node_modules/ws" ]; then
  check cluster_run env BUILD="$BUILD" bash "$ROOT/bench/cluster/run.sh" "$TMP/cluster" 600 3 10 5
  expect cluster_idle_held "| 600 |" "$TMP/cluster_run.out"
  expect cluster_remote_lateness "subscriber on another node (via Redis) | [0-9]" "$TMP/cluster_run.out"
else
  echo "skip cluster run (needs redis-server and the Node peer's ws)"
fi

# The micro benchmarks (bench/micro), when built: each one briefly, so they keep running.
if [ -x "$BUILD/sg_micro_bench" ]; then
  check micro_bench "$BUILD/sg_micro_bench" --benchmark_min_time=0.01
  expect micro_bench_accept "BM_AcceptNonBlocking" "$TMP/micro_bench.out"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
