#!/usr/bin/env bash
# Builds and tests the web app in web/.
#   scripts/web.sh build   install dependencies (when the lock file changed) and build web/dist
#                          (when a source changed); both steps are skipped when up to date.
#   scripts/web.sh test    build, then the unit and SDK tests (vitest, against the real
#                          build/release/streamgate), then the browser tests (Playwright on the
#                          system Chromium); prints one summary line and fails if any test failed.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
web="$root/web"
stamps="$web/node_modules/.cache/streamgate"

log() { printf 'web: %s\n' "$*" >&2; }

hash_files() {
  # A content hash of those of the given files and directories that exist (names included,
  # sorted, so order never matters).
  local present=() p
  for p in "$@"; do [ -e "$web/$p" ] && present+=("$p"); done
  (cd "$web" && find "${present[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

ensure_deps() {
  command -v npm >/dev/null || { log "npm is missing: run scripts/install-deps.sh"; exit 1; }
  local want have=""
  want="$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)"
  [ -f "$stamps/lock" ] && have="$(cat "$stamps/lock")"
  if [ ! -d "$web/node_modules" ] || [ "$want" != "$have" ]; then
    log "installing dependencies (npm ci)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
    mkdir -p "$stamps"
    printf '%s\n' "$want" >"$stamps/lock"
  fi
}

build() {
  ensure_deps
  local want have=""
  want="$(hash_files src index.html package.json package-lock.json tsconfig.json tsconfig.sdk.json vite.config.ts public)"
  [ -f "$stamps/build" ] && have="$(cat "$stamps/build")"
  if [ "$want" = "$have" ] && [ -f "$web/dist/index.html" ]; then
    log "web/dist is up to date"
    return 0
  fi
  log "building web/dist"
  (cd "$web" && npm run --silent build)
  mkdir -p "$stamps"
  printf '%s\n' "$want" >"$stamps/build"
}

# Counts from a vitest JSON report: "passed failed skipped" (zeros when the file is missing).
counts() {
  node -e '
    const fs = require("fs");
    let r = {};
    try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
    const p = r.numPassedTests || 0, f = (r.numFailedTests || 0) + (r.numFailedTestSuites && !r.numFailedTests ? r.numFailedTestSuites : 0);
    const s = (r.numPendingTests || 0) + (r.numTodoTests || 0);
    console.log(p, f, s);
  ' "$1"
}

run_tests() {
  build
  local out rc_unit=0 rc_e2e=0
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' RETURN
  cd "$web"
  log "unit and SDK tests"
  npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$out/unit.json" || rc_unit=$?
  log "browser tests"
  npx --no-install vitest run -c vitest.e2e.config.ts --reporter=default --reporter=json --outputFile.json="$out/e2e.json" || rc_e2e=$?
  local up uf us ep ef es
  read -r up uf us <<<"$(counts "$out/unit.json")"
  read -r ep ef es <<<"$(counts "$out/e2e.json")"
  # A runner that crashed before reporting still counts as a failure.
  [ "$rc_unit" -ne 0 ] && [ "$uf" -eq 0 ] && uf=1
  [ "$rc_e2e" -ne 0 ] && [ "$ef" -eq 0 ] && ef=1
  log "unit+sdk: $up passed, $uf failed, $us skipped; browser: $ep passed, $ef failed, $es skipped"
  echo "web: $((up + ep)) passed, $((uf + ef)) failed, $((us + es)) skipped"
  [ $((uf + ef)) -eq 0 ]
}

case "${1:-}" in
  build) build ;;
  test) run_tests ;;
  *)
    echo "usage: $0 build|test" >&2
    exit 2
    ;;
esac
