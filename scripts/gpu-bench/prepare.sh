#!/usr/bin/env bash
# Prepares `symbiosis bench gpu` for a bare, offline x86-64 Linux machine with a GPU (the device
# machine): run HERE, once, from any directory of the checkout; it needs the network (apt) and an
# `npm ci`'d node_modules. It leaves two ignored folders, which the device call carries:
#
#   .gl/                    the Vulkan loader and glvnd as amd64 .deb files (the image may lack
#                           them; run.sh unpacks them into / there), and in .gl/x11/ the X11 client
#                           libraries that NVIDIA's Vulkan driver library links against, unpacked
#                           only if it needs them (unpacking extra packages into / can break it)
#   .gpu-bench/runtime.tar.xz   this machine's Node (the machine may have none) and the subset
#                           of node_modules that scripts/gpu-bench/bench.mjs loads, pruned to
#                           linux-x64. xz, because the uncompressed runtime (~190 MB: Node
#                           95 MB, onnxruntime 46 MB, Dawn 22 MB) is three times the 64 MiB
#                           a device call may carry; run.sh unpacks it with xz or python3
#
# Then it checks that what travels (the working tree and both folders) stays under
# GPU_BENCH_LIMIT_MIB (default 60, of the tool's 64), and prints the device call. With --verify it
# also runs run.sh on a copy of the working tree with only the carried runtime, on this machine's
# adapter (lavapipe: --quick --allow-software), which proves the pruned runtime complete.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
LIMIT_MIB=${GPU_BENCH_LIMIT_MIB:-60}
VERIFY=0
[ "${1:-}" = --verify ] && VERIFY=1

say() { printf 'prepare: %s\n' "$*" >&2; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# --- the runtime's Node: this machine's, which must be the linux-x64 build of Node 20 or later ----
NODE=$(command -v node)
read -r NODE_VERSION NODE_TARGET < <("$NODE" -p 'process.versions.node + " " + process.platform + "-" + process.arch')
[ "$NODE_TARGET" = linux-x64 ] || { say "node is $NODE_TARGET; the device machine needs linux-x64"; exit 1; }
[ "${NODE_VERSION%%.*}" -ge 20 ] || { say "node $NODE_VERSION is older than 20"; exit 1; }
[ -d node_modules/webgpu/dist/linux-x64 ] || { say 'node_modules is missing or incomplete: run npm ci first'; exit 1; }

# --- .gl: Vulkan loader and glvnd (the device notes' list), X11 client libraries apart ------------
GL_PACKAGES=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
X11_PACKAGES=(libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0)
if ls .gl/libvulkan1_*.deb .gl/x11/libx11-6_*.deb >/dev/null 2>&1; then
  say '.gl: already downloaded'
else
  say '.gl: downloading amd64 packages'
  mkdir -p .gl/x11 /tmp/gpu-bench-apt/partial
  apt_o=(-qq -oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/gpu-bench-apt)
  apt-get "${apt_o[@]}" update
  (cd .gl && apt-get "${apt_o[@]}" download "${GL_PACKAGES[@]}")
  (cd .gl/x11 && apt-get "${apt_o[@]}" download "${X11_PACKAGES[@]}")
fi

# --- .gpu-bench/runtime.tar.xz --------------------------------------------------------------------
STAGE=.gpu-bench/stage
rm -rf "$STAGE" .gpu-bench/runtime.tar.xz
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/node_modules"

# The packages: a bundle of bench.mjs is made only for esbuild's list of what it imports.
node_modules/.bin/esbuild scripts/gpu-bench/bench.mjs --bundle --platform=node --format=esm \
  --metafile=.gpu-bench/meta.json --outfile=.gpu-bench/bundle.mjs --log-level=error --loader:.node=file
mapfile -t PACKAGES < <(node scripts/gpu-bench/packages.mjs .gpu-bench/meta.json)
rm -f .gpu-bench/bundle.mjs .gpu-bench/meta.json .gpu-bench/*.node
say "runtime: node $NODE_VERSION and ${#PACKAGES[@]} packages: ${PACKAGES[*]}"
for p in "${PACKAGES[@]}"; do
  mkdir -p "$STAGE/node_modules/$(dirname "$p")"
  # Hard links: no copy, and files linked to each other (esbuild's binary) stay one file in the tar.
  cp -al "node_modules/$p" "$STAGE/node_modules/$p"
done
# Other platforms' native builds: ~400 MB of the 420 MB these two packages hold.
find "$STAGE/node_modules/webgpu/dist" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
find "$STAGE/node_modules/onnxruntime-node/bin/napi-v6" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
find "$STAGE/node_modules/onnxruntime-node/bin/napi-v6/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} +
cp "$NODE" "$STAGE/bin/node"
# Dawn needs GLIBCXX_3.4.30 (GCC 12); run.sh puts this copy on LD_LIBRARY_PATH only if the
# device's own libstdc++ is older.
cp -L "$(ldconfig -p | awk '/libstdc\+\+\.so\.6 \(libc6,x86-64\)/ { print $NF; exit }')" "$STAGE/lib/"
echo "$NODE_VERSION" >"$STAGE/NODE_VERSION"
say "runtime: $(du -sh "$STAGE" | cut -f1) uncompressed; compressing (xz -9, a minute or two)"
tar -C "$STAGE" -cf - . | xz -9 -T0 >.gpu-bench/runtime.tar.xz
rm -rf "$STAGE"

# --- what the device call carries -----------------------------------------------------------------
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s -- 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
gl_bytes=$(du -sb .gl | cut -f1)
rt_bytes=$(du -sb .gpu-bench | cut -f1)
total=$((tree_bytes + gl_bytes + rt_bytes))
say "working tree $(mib "$tree_bytes") + .gl $(mib "$gl_bytes") + .gpu-bench $(mib "$rt_bytes") = $(mib "$total") (limit ${LIMIT_MIB} MiB)"
if [ "$total" -gt $((LIMIT_MIB * 1048576)) ]; then
  say "too large for one device call"
  exit 1
fi

if [ "$VERIFY" = 1 ]; then
  # The working tree as the device receives it (tracked and untracked-not-ignored files, the
  # carried folders), without node_modules, run through run.sh as there.
  COPY=$(mktemp -d /tmp/gpu-bench-verify.XXXXXX)
  say "verify: a copy of the working tree in $COPY"
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$COPY" -- 2>/dev/null || true
  cp -a .gl .gpu-bench "$COPY/"
  mkdir -p "$COPY/out"
  (cd "$COPY" && OUT="$COPY/out" GPU_BENCH_ARGS='--quick --allow-software' GPU_BENCH_RUNTIME="$COPY/runtime" bash scripts/gpu-bench/run.sh)
  say "verify: passed; files in $COPY/out: $(ls "$COPY/out" | tr '\n' ' ')"
fi

cat <<EOF

The device call (the run tool; ~4-5 minutes of device time with the machine's start):
  command:   bash scripts/gpu-bench/run.sh
  carry:     [".gl", ".gpu-bench"]
  timeout_s: 540
EOF
