#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build/fuzz and optionally runs them.
#   fuzz/build.sh              build sse_fuzz, ndjson_fuzz, event_stream_fuzz, sigv4_fuzz,
#                              client_message_fuzz, http_request_fuzz, jwt_verify_fuzz
#   fuzz/build.sh run [SECS]   build, then fuzz each for SECS seconds (default 60) on a copy
#                              of its seed corpus in fuzz/corpus/<name>/
set -euo pipefail
cd "$(dirname "$0")/.."

CXX=${CXX:-clang++}
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz: $CXX not found; libFuzzer needs clang (Debian: apt-get install -y clang)" >&2
  exit 1
fi

OUT=build/fuzz
mkdir -p "$OUT/obj"
COMMON=(-std=c++20 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -Isrc -Ifuzz -DBOOST_BEAST_USE_STD_STRING_VIEW)
# Library code gets coverage instrumentation but no main(); only the final link adds libFuzzer.
SAN_OBJ=(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)
SAN_LINK=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

compile() {  # compile SRC into OBJ when the source or a header is newer
  local src=$1 obj=$OUT/obj/$(echo "$1" | tr '/' '_').o
  if [[ ! -f $obj || $src -nt $obj || -n $(find src/core src/provider src/proto src/gateway src/auth fuzz -name '*.hpp' -newer "$obj" -print -quit) ]]; then
    "$CXX" "${COMMON[@]}" "${SAN_OBJ[@]}" -c "$src" -o "$obj"
  fi
  echo "$obj"
}

link() {  # link NAME from its fuzz source and library sources
  local name=$1 && shift
  local objs=()
  for src in "fuzz/$name.cpp" "$@"; do objs+=("$(compile "$src")"); done
  "$CXX" "${SAN_LINK[@]}" "${objs[@]}" -lcrypto -o "$OUT/$name"
  echo "built $OUT/$name"
}

link sse_fuzz src/provider/parse/sse_parser.cpp src/provider/parse/parse_error.cpp
link ndjson_fuzz src/provider/parse/ndjson_parser.cpp src/provider/parse/parse_error.cpp fuzz/boost_json_impl.cpp
link event_stream_fuzz src/provider/aws/event_stream.cpp src/provider/aws/crc32.cpp
link sigv4_fuzz src/provider/aws/sigv4.cpp src/core/sha256.cpp
link client_message_fuzz src/proto/client_message.cpp src/proto/event.cpp src/core/json_text.cpp src/proto/error_code.cpp \
  fuzz/boost_json_impl.cpp
link http_request_fuzz src/gateway/target.cpp src/proto/client_message.cpp src/proto/event.cpp src/core/json_text.cpp \
  src/proto/error_code.cpp fuzz/boost_json_impl.cpp fuzz/boost_url_impl.cpp
link jwt_verify_fuzz src/auth/jwt.cpp src/core/base64.cpp fuzz/boost_json_impl.cpp

if [[ ${1:-} == run ]]; then
  secs=${2:-60}
  status=0
  total=0
  for name in sse ndjson event_stream sigv4 client_message http_request jwt_verify; do
    work=$OUT/corpus/$name
    mkdir -p "$work"
    cp -n fuzz/corpus/$name/* "$work/" 2>/dev/null || true
    echo "fuzzing $name for ${secs}s"
    # New inputs go to the working copy; the committed seeds stay small and hand-made.
    if "$OUT/${name}_fuzz" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
        -artifact_prefix="$OUT/${name}-" "$work" >"$OUT/$name.log" 2>&1; then
      runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$OUT/$name.log" | grep -oE '[0-9]+$' || echo 0)
      echo "fuzz: $name ran $runs inputs"
      total=$((total + runs))
    else
      echo "fuzz: $name failed; see $OUT/$name.log and $OUT/${name}-crash-*" >&2
      tail -30 "$OUT/$name.log" >&2
      status=1
    fi
  done
  echo "fuzz: $total inputs in all"
  [ $status -eq 0 ] && echo "7 passed, 0 failed" || echo "fuzz: failures above"
  exit $status
fi
