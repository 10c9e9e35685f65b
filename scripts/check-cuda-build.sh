#!/usr/bin/env bash
# Build-check the GPU path (`--features cuda`) on a machine WITHOUT a GPU, driver or system CUDA.
#
#   scripts/check-cuda-build.sh            # ~5 min cold on 2 cores, seconds when cached
#
# What it does (recipe and measurements: shared/cuda/NOTES.md):
#   1. CUDA 13.4 toolchain from PyPI wheels (cuda-toolkit[nvcc,cudart,cccl,cublas,curand]==13.4.3),
#      unpacked into a cache dir; skipped when already there.
#   2. A stub libcuda.so (the driver is not on PyPI): every cu* entry point that cudarc can call
#      returns CUDA_ERROR_STUB_LIBRARY (34); cuGetErrorName/cuGetErrorString return real strings.
#      Build-check use only: never install it on a GPU host.
#   3. cargo build --release --locked --features cuda into a separate target dir.
#   4. Runs the binary with the wheel libs + stub on LD_LIBRARY_PATH and checks that
#      --version works, `--device cuda` fails cleanly (exit 2, one line, no panic) and
#      `--device auto` falls back to CPU and trains.
# Prints a PASS/FAIL summary; exits 0 only if every check passed (1 on a failed check,
# other non-zero codes if the toolchain or the build could not be set up).
#
# Environment:
#   SCALINGLAB_CUDA_CACHE       toolchain cache   (default: $HOME/.cache/scalinglab-cuda)
#   SCALINGLAB_CUDA_TARGET_DIR  cargo target dir  (default: target/cuda, so the CPU build is untouched)
#   CUDA_COMPUTE_CAP            GPU arch to compile for (default 80; there is no nvidia-smi to ask)
#   PYTHON                      python with pip, used only to download the wheels (default: python3)
# Needs: python3 + pip with access to PyPI (first run only), gcc, cargo; ~3 GB disk.
set -euo pipefail

CUDA_TOOLKIT_VERSION=13.4.3 # cudarc 0.19.10 supports CUDA <= 13.4; 13.5 breaks its build.rs
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE=${SCALINGLAB_CUDA_CACHE:-$HOME/.cache/scalinglab-cuda}
TARGET_DIR=${SCALINGLAB_CUDA_TARGET_DIR:-target/cuda}
PYTHON=${PYTHON:-python3}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-80}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

T0=$SECONDS
log() { printf '[check-cuda %4ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() {
    printf 'check-cuda-build: ERROR: %s\n' "$*" >&2
    printf 'CUDA build check: FAIL (setup)\n' >&2
    exit 3
}

for tool in cargo gcc; do
    command -v "$tool" >/dev/null || die "\`$tool\` not found on PATH"
done

# ---------------------------------------------------------------- 1. toolchain (cached)
mkdir -p "$CACHE"
TC=$CACHE/cuda-$CUDA_TOOLKIT_VERSION # unpacked wheels; $TC/nvidia/cu13 is a CUDA root
R=$TC/nvidia/cu13
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null; then flock 9; fi # two concurrent runs must not unpack into each other

if [[ -f $TC/.complete ]]; then
    log "CUDA $CUDA_TOOLKIT_VERSION toolchain: cached in $TC"
else
    log "CUDA $CUDA_TOOLKIT_VERSION toolchain: downloading wheels from PyPI into $CACHE"
    "$PYTHON" -m pip --version >/dev/null 2>&1 ||
        die "\`$PYTHON -m pip\` is not available; it is needed once to download the CUDA wheels (set PYTHON=... or pre-fill $CACHE)"
    tmp=$CACHE/.tmp.$$
    rm -rf "$tmp" "$TC"
    mkdir -p "$tmp/wheels" "$tmp/unpacked"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    "$PYTHON" -m pip download -q --disable-pip-version-check --no-cache-dir --only-binary=:all: \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
        --python-version 3.11 -d "$tmp/wheels" \
        "cuda-toolkit[nvcc,cudart,cccl,cublas,curand]==$CUDA_TOOLKIT_VERSION" ||
        die "pip download of cuda-toolkit==$CUDA_TOOLKIT_VERSION failed (no network / no PyPI access?)"
    log "unpacking $(find "$tmp/wheels" -name 'nvidia_*.whl' | wc -l) wheels"
    for w in "$tmp"/wheels/nvidia_*.whl; do
        "$PYTHON" -m zipfile -e "$w" "$tmp/unpacked/" || die "cannot unpack $w"
    done
    u=$tmp/unpacked/nvidia/cu13
    [[ -x $u/bin/nvcc || -f $u/bin/nvcc ]] || die "no bin/nvcc in the unpacked wheels ($u)"
    chmod +x "$u"/bin/* "$u"/nvvm/bin/* # python's zipfile drops the exec bits
    (
        cd "$u/lib"
        # The wheels ship only versioned sonames; -lcudart etc. need the linker names.
        for l in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
            [[ -e $l ]] || die "wheel lib $l missing"
            ln -sfn "$l" "${l%%.so*}.so"
        done
    )
    ln -sfn lib "$u/lib64"
    mv "$tmp/unpacked" "$TC" # the wheels themselves (650 MB) are not kept
    touch "$TC/.complete"
    rm -rf "$tmp"
    trap - EXIT
    log "toolchain ready: $R ($(du -sh "$TC" | cut -f1))"
fi
"$R/bin/nvcc" --version | grep -q "release ${CUDA_TOOLKIT_VERSION%.*}" ||
    die "$R/bin/nvcc is not CUDA ${CUDA_TOOLKIT_VERSION%.*}; remove $TC and re-run"

# ---------------------------------------------------------------- 2. stub libcuda (cached per cudarc version)
CUDARC_VERSION=$(awk '/^name = "cudarc"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
[[ -n $CUDARC_VERSION ]] || die "cudarc is not in Cargo.lock (is the \`cuda\` feature still wired to candle?)"
STUB_DIR=$R/lib/stubs
if [[ -f $STUB_DIR/libcuda.so && "$(cat "$STUB_DIR/.cudarc-version" 2>/dev/null)" == "$CUDARC_VERSION" ]]; then
    log "stub libcuda.so: cached (cudarc $CUDARC_VERSION)"
else
    cargo fetch --locked -q || die "cargo fetch failed"
    SYS=""
    for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-"$CUDARC_VERSION"; do
        [[ -f $d/src/driver/sys/mod.rs ]] && SYS=$d/src/driver/sys/mod.rs
    done
    [[ -n $SYS ]] || die "cudarc-$CUDARC_VERSION sources not found under ${CARGO_HOME:-$HOME/.cargo}/registry/src"
    log "stub libcuda.so: generating from $SYS"
    mkdir -p "$STUB_DIR"
    c=$STUB_DIR/libcuda_stub.c
    {
        echo '/* Generated by scalinglab scripts/check-cuda-build.sh from cudarc '"$CUDARC_VERSION"'.'
        echo '   A stub CUDA driver for LINKING and build checks only: every entry point returns'
        echo '   CUDA_ERROR_STUB_LIBRARY (34). Never install this on a machine with a GPU. */'
        echo '#include <stddef.h>'
        echo 'int cuGetErrorName(int e, const char **s) {'
        echo '  switch (e) {'
        # every CUresult name/value pair from the bindings' cudaError_enum blocks (all CUDA versions)
        awk '/^pub enum cudaError_enum \{/ { inb = 1; next } inb && /^\}/ { inb = 0 }
             inb && match($0, /CUDA_[A-Z0-9_]+ = [0-9]+/) {
                 split(substr($0, RSTART, RLENGTH), kv, " = "); if (!(kv[2] in seen)) { seen[kv[2]] = 1;
                 printf "  case %s: *s = \"%s\"; return 0;\n", kv[2], kv[1] } }' "$SYS"
        echo '  default: if (s) *s = NULL; return 1; /* CUDA_ERROR_INVALID_VALUE */'
        echo '  }'
        echo '}'
        echo 'int cuGetErrorString(int e, const char **s) {'
        echo '  if (e == 0) { *s = "no error"; return 0; }'
        echo '  if (e == 34) { *s = "CUDA driver is a stub library (no NVIDIA driver on this machine)"; return 0; }'
        echo '  return cuGetErrorName(e, s);'
        echo '}'
        grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$SYS" | awk '{ print $4 }' | sort -u |
            grep -vxE 'cuGetErrorName|cuGetErrorString' | sed 's/.*/int &(void) { return 34; }/'
    } >"$c.tmp"
    mv "$c.tmp" "$c"
    n=$(grep -c 'return 34; }$' "$c")
    ((n > 100)) || die "only $n cu* functions found in $SYS; has cudarc's layout changed?"
    gcc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$STUB_DIR/libcuda.so.tmp" "$c" || die "cannot compile the stub"
    mv "$STUB_DIR/libcuda.so.tmp" "$STUB_DIR/libcuda.so"
    ln -sfn libcuda.so "$STUB_DIR/libcuda.so.1" # for running the checks here
    echo "$CUDARC_VERSION" >"$STUB_DIR/.cudarc-version"
    log "stub libcuda.so: $((n + 2)) entry points"
fi
exec 9>&- # release the cache lock

# ---------------------------------------------------------------- 3. build
export CUDA_ROOT=$R CUDA_HOME=$R NVCC=$R/bin/nvcc PATH=$R/bin:$PATH
export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-$(nproc)} # cudaforge's default is half the cores
log "cargo build --release --locked --features cuda --target-dir $TARGET_DIR (CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP)"
tb=$SECONDS
cargo build --release --locked --features cuda --target-dir "$TARGET_DIR" || die "cargo build --features cuda failed"
log "build done in $((SECONDS - tb)) s"
BIN=$TARGET_DIR/release/scalinglab
[[ -x $BIN ]] || die "no binary at $BIN"

# ---------------------------------------------------------------- 4. checks
PASS=0
FAIL=0
SUMMARY=()
ok() {
    PASS=$((PASS + 1))
    SUMMARY+=("PASS  $*")
}
bad() {
    FAIL=$((FAIL + 1))
    SUMMARY+=("FAIL  $*")
}
note() { SUMMARY+=("INFO  $*"); }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RUNLIB=$R/lib:$STUB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# run NAME [ENV=VAL...] -- ARGS...: runs the binary with the stub libs; sets rc, $WORK/NAME.{out,err}
run() {
    local name=$1
    shift
    local envs=()
    while [[ $1 != -- ]]; do
        envs+=("$1")
        shift
    done
    shift
    set +e
    env LD_LIBRARY_PATH="$RUNLIB" RUST_BACKTRACE=0 "${envs[@]}" timeout 300 "$BIN" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
    set -e
}
show() { sed 's/^/        | /' "$WORK/$1.err" | head -n "${2:-5}" >&2; }

# (0) it really is a CUDA build: libcuda.so.1 is a load-time dependency
if readelf -d "$BIN" 2>/dev/null | grep -q 'NEEDED.*\[libcuda\.so\.1\]'; then
    ok "binary links libcuda.so.1 (a real --features cuda build)"
else
    bad "binary does not link libcuda.so.1: the \`cuda\` feature did not reach candle"
fi

# (a) --version
run version -- --version
if [[ $rc -eq 0 ]] && grep -q '^scalinglab ' "$WORK/version.out"; then
    ok "scalinglab --version: $(head -n1 "$WORK/version.out")"
else
    bad "scalinglab --version: exit $rc"
    show version
fi

# (b) --device cuda without a GPU: exit 2, one clean line naming CUDA, no panic/backtrace
run cuda -- train configs/smoke.toml --device cuda --quiet --set "results_dir=$WORK/res-cuda"
lines=$(wc -l <"$WORK/cuda.err")
if [[ $rc -eq 2 && $lines -eq 1 ]] && grep -q 'CUDA is not usable' "$WORK/cuda.err" &&
    ! grep -qiE 'panicked|backtrace' "$WORK/cuda.err"; then
    ok "train --device cuda: exit 2, one line: $(cut -c1-160 "$WORK/cuda.err")"
else
    bad "train --device cuda: exit $rc, $lines stderr line(s) (want exit 2, one line mentioning 'CUDA is not usable', no panic)"
    show cuda 8
fi
# same with RUST_BACKTRACE=1 (common in dev shells; candle then appends a backtrace to its error)
run cudabt RUST_BACKTRACE=1 -- train configs/smoke.toml --device cuda --quiet --set "results_dir=$WORK/res-cudabt"
lines=$(wc -l <"$WORK/cudabt.err")
if [[ $rc -eq 2 ]] && ! grep -q 'panicked' "$WORK/cudabt.err"; then
    if [[ $lines -eq 1 ]]; then
        ok "train --device cuda with RUST_BACKTRACE=1: exit 2, one line"
    else
        bad "train --device cuda with RUST_BACKTRACE=1: exit 2 but $lines stderr lines (candle's error carries a backtrace)"
    fi
else
    bad "train --device cuda with RUST_BACKTRACE=1: exit $rc (want 2, no panic)"
    show cudabt 8
fi

# (c) --device auto: falls back to CPU and trains a few steps
run auto -- train configs/smoke.toml --device auto --quiet --set "results_dir=$WORK/res-auto" \
    --set train.tokens=2e4 --set train.warmup_tokens=2e3 --set train.final_eval_sequences=32
if [[ $rc -eq 0 ]] && grep -q '"device":"cpu"' "$WORK/auto.out" && grep -q '"status":"ok"' "$WORK/auto.out"; then
    ok "train --device auto: fell back to CPU and trained ($(grep -o 'run [0-9a-f]*: status ok[^|]*|[^|]*| tokens [0-9]*' "$WORK/auto.err" | head -n1))"
else
    bad "train --device auto: exit $rc (want 0, status ok, device cpu)"
    show auto 8
fi

# (info) without the CUDA libs the binary cannot even start: this is why the CPU build is the portable default
set +e
env -u LD_LIBRARY_PATH "$BIN" --version >/dev/null 2>"$WORK/nolib.err"
rc=$?
set -e
note "without the CUDA libs on the loader path: exit $rc ($(head -n1 "$WORK/nolib.err" | cut -c1-120))"

echo
echo "CUDA build check (CUDA $CUDA_TOOLKIT_VERSION, cudarc $CUDARC_VERSION, CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP, $((SECONDS - T0)) s):"
printf '  %s\n' "${SUMMARY[@]}"
if ((FAIL > 0)); then
    echo "CUDA build check: FAIL ($FAIL failed, $PASS passed)"
    exit 1
fi
echo "CUDA build check: PASS ($PASS checks)"
