#!/usr/bin/env bash
# Installs Debian's redis-server (7.0, with redis-cli) when it is missing; fast when already there.
# Used by `npm run cluster -- start` and .ci/run. The package's service is NOT started: our
# clusters run from a run directory (scripts/cluster.ts), never as the system daemon.
set -euo pipefail
say() { echo "[install-redis] $*" >&2; }

if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then exit 0; fi

if [ -r /etc/debian_version ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  # Keep apt from starting the packaged redis service on 6379: a temporary policy-rc.d that
  # denies service starts, removed again unless one was already there.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    added_policy=1
  fi
  cleanup() { if [ "$added_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
  trap cleanup EXIT
  say "apt-get install redis-server redis-tools (Debian's Redis 7.0)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
  command -v redis-server >/dev/null && exit 0
fi

cat >&2 <<'MSG'
[install-redis] ERROR: redis-server is not installed and this is not a Debian/apt machine.
HINT: install Redis >= 7.0 (server and redis-cli): Ubuntu/Debian `apt-get install redis-server`,
  Fedora `dnf install redis`, macOS `brew install redis`; then run `npm run cluster -- start` again.
MSG
exit 1
