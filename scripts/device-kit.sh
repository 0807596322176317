#!/usr/bin/env bash
# The kit for a lent GPU machine (the `device` tool of this workplace), which has no Node, no npm
# registry and maybe no Vulkan loader: everything the benchmarks need travels in `.device-kit/`
# (git-ignored; name it in the tool's `carry`, with `node_modules` left out — the kit holds its own).
#
#   bash scripts/device-kit.sh pack        here: build .device-kit/ (≈ 35 MB): this machine's node
#                                          binary (xz), the production node_modules (xz; linux-x64
#                                          dawn.node only, no plotting), the Vulkan loader's .deb
#   bash scripts/device-kit.sh check       here: unpack the kit into a scratch folder and run each
#                                          step of `run` small from it on this machine's adapter,
#                                          with the kit's node and modules only: the kit is complete
#   bash scripts/device-kit.sh run [what]  on the device: unpack, install the loader, point Dawn at
#                                          the NVIDIA driver, run `what` (default: all), logs to $OUT
#
# `what` (run): comma-separated, in this order when `all`:
#   adapter   the adapter Dawn picks (vendor, architecture, description)
#   tests     npm run kernels: every kernel benchmark in quick mode, each checked against its
#             float64 reference before it is timed (correctness on the GPU first)
#   suite     npm run bench:suite (every kernel of a training step at the models' real shapes)
#   scale     the 1M / 10k training-step ratio of issue 20 (bench-sampled-softmax scale, 3 rounds)
#   update    the item update alone, fused vs unfused (bench-item-adam)
# The device tool's call, with a timeout that leaves time to rerun:
#   command: bash scripts/device-kit.sh run all    carry: [".device-kit"]    timeout_s: 590
# (the steps' own limits add up to 560 s; the logs come back under $OUT even when one times out)
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.device-kit
mode=${1:-}

pack() {
  command -v xz >/dev/null || { echo "device-kit: xz is missing. HINT: apt-get install xz-utils" >&2; exit 2; }
  [ -d node_modules/tsx ] && [ -d node_modules/webgpu ] || { echo "device-kit: node_modules is incomplete. HINT: bash scripts/bootstrap.sh" >&2; exit 2; }
  rm -rf "$KIT" && mkdir -p "$KIT/gl"
  echo "[kit] node $(node --version) → $KIT/node.xz"
  xz -T0 -6 -c "$(command -v node)" > "$KIT/node.xz"
  # The production dependencies (npm ls --omit=dev), without the plotting ones the benchmarks never
  # load (vega, vega-lite, @resvg: 14 MB) and without webgpu's other platforms' dawn.node.
  local have=()
  mapfile -t have < <(npm ls --omit=dev --parseable --all 2>/dev/null | sed "s|^$PWD/||" | grep '^node_modules/' \
    | grep -Ev '^node_modules/(vega|vega-[a-z-]+|@resvg/[a-z0-9-]+|d3-[a-z-]+)(/|$)' | sort -u)
  [ "${#have[@]}" -gt 0 ] || { echo "device-kit: npm ls listed no modules. HINT: bash scripts/bootstrap.sh" >&2; exit 2; }
  echo "[kit] node_modules: ${#have[@]} packages"
  tar -cf - --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/webgpu/dist/darwin-*' \
    --exclude='node_modules/webgpu/dist/linux-arm64' "${have[@]}" | xz -T0 -6 > "$KIT/modules.tar.xz"
  # The Vulkan loader, an amd64 .deb from this machine's apt sources.
  local lists; lists=$(mktemp -d)
  local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  mkdir -p "$lists/partial"
  apt-get "${o[@]}" update -qq
  (cd "$KIT/gl" && apt-get "${o[@]}" download -qq libvulkan1)
  rm -rf "$lists"
  du -sh "$KIT"/* | sed 's/^/[kit] /'
  echo "[kit] $(du -sh "$KIT" | cut -f1) in all (the device tool carries at most 64 MiB with the working tree)"
}

# xz -dc, or Python's lzma where the machine has no xz.
unxz() {
  if command -v xz >/dev/null; then xz -dc "$1"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}

# Unpacks the kit under $1 (node at $1/bin/node, node_modules at $1/node_modules).
unpack() {
  local dest=$1
  mkdir -p "$dest/bin"
  unxz "$KIT/node.xz" > "$dest/bin/node" && chmod +x "$dest/bin/node"
  unxz "$KIT/modules.tar.xz" | tar -xf - -C "$dest"
}

# Runs a TypeScript entry point from the repo root with the kit's node and tsx (node_modules of
# the repo root is the kit's), at most $1 seconds.
kit_tsx() {
  local limit=$1; shift
  timeout "$limit" "$KITROOT/bin/node" --import tsx "$@"
}

check() {
  [ -f "$KIT/node.xz" ] || { echo "device-kit: no kit here. HINT: bash scripts/device-kit.sh pack" >&2; exit 2; }
  KITROOT=$(mktemp -d)
  unpack "$KITROOT"
  # A copy of the tracked tree with the kit's node_modules and node first on PATH: only the
  # kit runs, as on the device.
  local tree; tree=$(mktemp -d)
  git ls-files -z | xargs -0 cp --parents -t "$tree"
  ln -s "$KITROOT/node_modules" "$tree/node_modules"
  (cd "$tree" && PATH="$KITROOT/bin:/usr/bin:/bin" KITROOT=$KITROOT bash -c '
    set -e
    command -v node
    '"$(declare -f kit_tsx)"'
    kit_tsx 60 scripts/probe-adapter.mjs
    kit_tsx 300 scripts/kernels-check.ts > /dev/null
    kit_tsx 300 scripts/bench-suite.ts --quick > /dev/null
    kit_tsx 300 scripts/bench-sampled-softmax.ts scale 1000,2000 256 8 16 1 2 | tail -1
    kit_tsx 300 scripts/bench-item-adam.ts 10000 1024 16 64 1 | tail -1
  ')
  rm -rf "$tree" "$KITROOT"
  echo "[kit] check passed: the kit alone ran every step of run (small shapes) on this machine's adapter"
}

run() {
  local what=${1:-all}
  [ "$what" = all ] && what=adapter,tests,suite,scale,update
  local out=${OUT:-/tmp/device-out}
  mkdir -p "$out"
  [ -f "$KIT/node.xz" ] || { echo "device-kit: no $KIT here. HINT: pack it, then name it in the device tool's carry" >&2; exit 2; }
  KITROOT=/tmp/kit
  rm -rf "$KITROOT" && unpack "$KITROOT"
  [ -e node_modules ] || ln -s "$KITROOT/node_modules" node_modules
  if ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in "$KIT"/gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  # Where the image keeps the NVIDIA Vulkan driver (the device tool's notes).
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
  export PATH="$KITROOT/bin:$PATH" HSTU_ADAPTER=${HSTU_ADAPTER:-gpu}
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/gpu.txt" || true
  local t
  for t in ${what//,/ }; do
    echo "== $t $(date -u +%T)"
    case $t in
      adapter) kit_tsx 30 scripts/probe-adapter.mjs 2>&1 | tee "$out/adapter.txt" || true ;;
      tests) kit_tsx 120 scripts/kernels-check.ts 2>&1 | tee "$out/kernels-check.txt" || true ;;
      suite) kit_tsx 160 scripts/bench-suite.ts --out "$out/suite.jsonl" 2>&1 | tee "$out/suite.txt" || true ;;
      scale) kit_tsx 160 scripts/bench-sampled-softmax.ts scale 10000,1000000 4096 128 64 3 10 2>&1 | tee "$out/scale.txt" || true ;;
      update) kit_tsx 90 scripts/bench-item-adam.ts 10000,1000000 4096 128 64 6 2>&1 | tee "$out/update.txt" || true ;;
      *) echo "device-kit: unknown step '$t'. HINT: adapter, tests, suite, scale, update or all" >&2; exit 2 ;;
    esac
  done
}

case $mode in
  pack) pack ;;
  check) check ;;
  run) run "${2:-all}" ;;
  *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; [ "$mode" = --help ] || [ "$mode" = -h ] || exit 2 ;;
esac
