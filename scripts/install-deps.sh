#!/usr/bin/env bash
# Installs the Debian packages that building, running and testing streamgate need; idempotent.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev openssl libsqlite3-dev sqlite3 libtomlplusplus-dev
  libpq-dev postgresql
  # cluster mode: Redis 7 for the tests (its service is never started), hiredis for RESP
  redis-server libhiredis-dev
  python3-prometheus-client
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  clang libclang-rt-14-dev
  # sd_notify for the server; systemd-analyze and file (cpack's dependency scan) for the package
  libsystemd-dev systemd file
  gnuplot-nox valgrind strace nginx
  # Asio's io_uring backend, a build option measured against epoll (cmake --preset release-uring)
  liburing-dev
)
# Node.js 18+ with npm builds the web app; a machine that already has one keeps it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi
# Headless Chromium drives the browser tests (playwright-core uses it, never a downloaded browser).
packages+=(chromium)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
# Packages with services (nginx, used only by the benchmarks; postgresql and redis-server, which the
# tests start on a temp dir and a free port of their own) must not start them at install time:
# a policy-rc.d that refuses is Debian's switch for that, removed again afterwards.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
  "${sudo_cmd[@]}" chmod +x "$policy"
  added_policy=1
fi
cleanup() { if [ "$added_policy" = 1 ]; then "${sudo_cmd[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
