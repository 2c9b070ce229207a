#!/usr/bin/env bash
# Checks the fake upstreams (tests/fakes) with each provider's official SDK, and streamgate's own
# /v1/chat/completions with the openai SDK. Installs the SDKs with `npm ci` when the lock file changed.
#   scripts/test-fakes.sh            uses build/${PRESET:-release}/streamgate (tests needing it skip if absent)
#   STREAMGATE_BIN=/path scripts/test-fakes.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
fakes="$root/tests/fakes"
stamp="$fakes/node_modules/.streamgate-lock"

command -v node >/dev/null && command -v npm >/dev/null || { echo "test-fakes: node and npm are needed (scripts/install-deps.sh)" >&2; exit 1; }
want="$(sha256sum "$fakes/package-lock.json" | cut -d' ' -f1)"
have=""
[ -f "$stamp" ] && have="$(cat "$stamp")"
if [ ! -d "$fakes/node_modules" ] || [ "$want" != "$have" ]; then
  echo "test-fakes: installing the SDKs (npm ci)" >&2
  (cd "$fakes" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$want" >"$stamp"
fi

export STREAMGATE_BIN="${STREAMGATE_BIN:-$root/build/${PRESET:-release}/streamgate}"
cd "$fakes"
exec node --test --test-concurrency=2 test/
