#!/usr/bin/env bash
# Idempotent bootstrap for hstu-webgpu: npm dependencies and, when no WebGPU adapter is found,
# Mesa's lavapipe Vulkan driver (CPU) from Debian 12 bookworm-backports. Fast when already done.
# Why backports: Debian 12's own Mesa 22.3 fails Dawn's Vulkan checks
# ("shaderUniform*ArrayDynamicIndexing required"); Mesa 25 from bookworm-backports works.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[bootstrap] $*" >&2; }

# Reinstall when the lock file's content differs from the one node_modules was installed from
# (a stamp holding its hash). Not by modification time: a fresh checkout or worktree has a lock file
# newer than an existing node_modules that is already right (e.g. one shared through a symlink).
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.hstu-lock-sha256
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  say "installing npm dependencies (npm ci)"
  if ! npm ci --no-audit --no-fund --loglevel=silent; then
    # Some npm 11 releases record only this platform's optional packages (rollup/esbuild
    # binaries) and then `npm ci` rejects their own lock file; `npm install` still installs the
    # locked versions (and leaves package-lock.json as it is).
    say "npm ci refused the lock file; falling back to npm install (same locked versions)"
    npm install --no-audit --no-fund --loglevel=error
  fi
  echo "$lock_hash" > "$stamp"
fi

probe() { node scripts/probe-adapter.mjs >/dev/null 2>&1; }

if probe; then exit 0; fi

say "no WebGPU adapter found; trying to install a Vulkan driver"
if [ -r /etc/debian_version ] && grep -q '^12' /etc/debian_version; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  src=/etc/apt/sources.list.d/bookworm-backports.list
  pkgs="mesa-vulkan-drivers libvulkan1"
  line=""
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Same mirror (and key) as the machine's own bookworm entry, so local mirrors and proxies keep working.
    . scripts/apt-mirror.sh
    if ! line=$(backports_line /etc/apt); then
      line="deb http://deb.debian.org/debian bookworm-backports main"
      say "WARNING: no bookworm entry found in /etc/apt/sources.list{,.d}; falling back to deb.debian.org"
    fi
  fi
  say "no WebGPU adapter: this will, with ${SUDO:-root}:"
  [ -n "$line" ] && say "  add to $src: $line"
  say "  apt-get update; apt-get install -t bookworm-backports $pkgs (Mesa 25 lavapipe, the CPU Vulkan driver)"
  if [ -n "$line" ]; then
    echo "$line" | $SUDO tee "$src" >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports $pkgs >/dev/null
  if probe; then say "WebGPU adapter ready"; exit 0; fi
  say "ERROR: Mesa installed but still no WebGPU adapter. Details:"
  node scripts/probe-adapter.mjs || true
  exit 1
fi

cat >&2 <<'MSG'
[bootstrap] ERROR: no WebGPU adapter, and this is not Debian 12, so nothing was installed.
HINT: install a Vulkan driver, then run again:
  - a real GPU: your vendor's Vulkan driver (NVIDIA/AMD/Intel) plus libvulkan1;
  - no GPU: Mesa's lavapipe, version 24 or newer (Ubuntu 24.04+: apt-get install mesa-vulkan-drivers;
    Fedora: dnf install mesa-vulkan-drivers; Arch: pacman -S vulkan-swrast).
  Check with: node scripts/probe-adapter.mjs
MSG
exit 1
