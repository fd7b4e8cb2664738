#!/usr/bin/env bash
# `symbiosis bench gpu` on the device machine: run THERE, in the repository root of the copied
# working tree, with .gl and .gpu-bench carried (scripts/gpu-bench/prepare.sh made them here).
#
#   1. unpacks the carried runtime (Node and the pruned node_modules) into GPU_BENCH_RUNTIME and
#      links node_modules to it; checks that the native addons load (else retries with the carried
#      libstdc++);
#   2. sets up Vulkan: unpacks the .gl loader packages into / when the loader or glvnd is missing,
#      then asks Dawn for an adapter (adapter.mjs, printed as adapter.json); when it finds none or
#      only a software one, retries with NVIDIA's driver file named in VK_DRIVER_FILES, then with
#      the carried X11 client libraries; without a hardware adapter it prints what it found and
#      stops, to save device time;
#   3. runs the bench inside what is left of GPU_BENCH_BUDGET_S (default 450 s: the whole script
#      stays under 8 minutes), progress streamed, and writes into $OUT: run.log (everything),
#      adapter.json, gpu-bench.txt (the table), gpu-bench.json (one JSON object).
#
# GPU_BENCH_ARGS adds options to the bench: '--quick --allow-software' is prepare.sh --verify's
# dry run on lavapipe.
set -uo pipefail

START=$SECONDS
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-bench-out}
RUNTIME=${GPU_BENCH_RUNTIME:-/tmp/gpu-bench-runtime}
BUDGET=${GPU_BENCH_BUDGET_S:-450}
read -r -a ARGS <<<"${GPU_BENCH_ARGS:-}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1

log() { printf 'run.sh [%3ds]: %s\n' $((SECONDS - START)) "$*"; }
fail() {
  log "FAILED: $*"
  exit 1
}

log "machine: $(uname -m), $(nproc) cores, $( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null), $(ldd --version 2>/dev/null | head -n 1)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader

# --- 1. the runtime ---------------------------------------------------------------------------------
[ -f .gpu-bench/runtime.tar.xz ] || fail '.gpu-bench/runtime.tar.xz is missing: run scripts/gpu-bench/prepare.sh here and carry .gpu-bench'
rm -rf "$RUNTIME" && mkdir -p "$RUNTIME"
if command -v xz >/dev/null; then
  xz -dc .gpu-bench/runtime.tar.xz | tar -C "$RUNTIME" -xf - || fail 'unpacking the runtime'
else
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="fully_trusted")' .gpu-bench/runtime.tar.xz "$RUNTIME" || fail 'unpacking the runtime (python3)'
fi
NODE=$RUNTIME/bin/node
if [ -L node_modules ] || [ ! -e node_modules ]; then
  ln -sfn "$RUNTIME/node_modules" node_modules
else
  log 'node_modules exists and is no link: using it as it is'
fi
log "runtime: node $("$NODE" --version) from $RUNTIME"

DAWN=$RUNTIME/node_modules/webgpu/dist/linux-x64/dawn.node
ORT=$RUNTIME/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node
addons_load() { "$NODE" -e 'for (const f of process.argv.slice(1)) require(f)' "$DAWN" "$ORT"; }
if ! addons_load; then
  log 'the native addons do not load with the system libraries; retrying with the carried libstdc++'
  export LD_LIBRARY_PATH=$RUNTIME/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  addons_load || { ldd "$DAWN" "$ORT"; fail 'the native addons do not load'; }
fi

# --- 2. Vulkan ----------------------------------------------------------------------------------------
has_lib() { ldconfig -p | grep -q "$1 ("; }
unpack_deb() { # dpkg -x, or the same by hand (a .deb is an ar archive holding data.tar.*)
  if command -v dpkg >/dev/null; then
    dpkg -x "$1" "$2"
  else
    python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
data = open(sys.argv[1], 'rb').read()
pos = 8  # after "!<arch>\n"
while pos < len(data):
    name, size = data[pos:pos + 16].decode().strip().rstrip('/'), int(data[pos + 48:pos + 58])
    if name.startswith('data.tar'):
        tarfile.open(fileobj=io.BytesIO(data[pos + 60:pos + 60 + size])).extractall(sys.argv[2], filter='fully_trusted')
    pos += 60 + size + size % 2
PY
  fi
}
if ! has_lib libvulkan.so.1 || ! has_lib libGLdispatch.so.0; then
  ls .gl/*.deb >/dev/null 2>&1 || fail 'no Vulkan loader here and no .gl/*.deb carried: run prepare.sh and carry .gl'
  log "unpacking the Vulkan loader and glvnd into /: $(ls .gl/*.deb | xargs -n 1 basename | tr '\n' ' ')"
  for f in .gl/*.deb; do unpack_deb "$f" / || fail "unpacking $f"; done
  ldconfig
fi

probe() { "$NODE" scripts/gpu-bench/adapter.mjs >"$OUT/adapter.json"; }
probe
rc=$?
ICD=
if [ "$rc" -ne 0 ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && ICD=$f && break
  done
  if [ -n "$ICD" ]; then
    log "no hardware adapter (exit $rc); retrying with VK_DRIVER_FILES=$ICD"
    export VK_DRIVER_FILES=$ICD VK_ICD_FILENAMES=$ICD
    # The file names its library bare (libGLX_nvidia.so.0): the driver's own folder may not be in the linker's cache.
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d; done
    probe
    rc=$?
    if [ "$rc" -ne 0 ] && ls .gl/x11/*.deb >/dev/null 2>&1; then
      log "still none (exit $rc); retrying with the carried X11 client libraries on LD_LIBRARY_PATH"
      for f in .gl/x11/*.deb; do unpack_deb "$f" "$RUNTIME/x11"; done
      export LD_LIBRARY_PATH=$RUNTIME/x11/usr/lib/x86_64-linux-gnu:$RUNTIME/x11/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
      probe
      rc=$?
    fi
  fi
fi
cat "$OUT/adapter.json"
if [ "$rc" -ne 0 ]; then
  log "diagnostics (adapter.mjs exit $rc: 3 none, 4 software)"
  ldconfig -p | grep -Ei 'vulkan|GLX|GLdispatch|nvidia' | head -n 20
  ls -la /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
  if [ -n "$ICD" ]; then
    cat "$ICD"
    lib=$(sed -n 's/.*"library_path": *"\([^"]*\)".*/\1/p' "$ICD")
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
    [ -z "$path" ] && path=$(ls /usr/local/nvidia/lib64/"$lib" /usr/local/nvidia/lib/"$lib" 2>/dev/null | head -n 1)
    if [ -n "$path" ]; then ldd "$path"; else log "the driver library $lib was not found"; fi
  fi
  VK_LOADER_DEBUG=error,warn,driver "$NODE" scripts/gpu-bench/adapter.mjs >"$OUT/vulkan-debug.log" 2>&1
  tail -n 40 "$OUT/vulkan-debug.log"
  [ "$rc" -eq 4 ] && [[ " ${ARGS[*]} " == *" --allow-software "* ]] || fail 'no hardware WebGPU adapter'
  log 'software adapter, as --allow-software allows'
fi

# --- 3. the bench ----------------------------------------------------------------------------------
left=$((BUDGET - (SECONDS - START)))
log "bench gpu ${ARGS[*]}: at most ${left} s"
timeout -k 10 "$left" "$NODE" scripts/gpu-bench/bench.mjs --json "${ARGS[@]}" >"$OUT/stdout.txt"
rc=$?
[ "$rc" -eq 124 ] && log "the bench ran past its ${left} s and was stopped; its progress lines above hold what it measured"
if [ -s "$OUT/stdout.txt" ]; then
  head -n -1 "$OUT/stdout.txt" >"$OUT/gpu-bench.txt"
  tail -n 1 "$OUT/stdout.txt" >"$OUT/gpu-bench.json"
  rm "$OUT/stdout.txt"
  # The JSON first and the table last, so that the table is what the end of the output shows.
  cat "$OUT/gpu-bench.json" "$OUT/gpu-bench.txt"
fi
log "done (bench exit $rc); files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit "$rc"
