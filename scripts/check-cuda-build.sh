#!/usr/bin/env bash
# Build-check the GPU path (`--features cuda`) on a machine WITHOUT a GPU, driver or system CUDA.
#
#   scripts/check-cuda-build.sh            # ~5-7 min cold on 2 cores, seconds when cached
#
# The promise it checks (README "Running on a GPU"): the binary runs on NVIDIA driver R580, i.e.
# CUDA 13.0, and newer. candle compiles its kernels to PTX at build time and embeds the text; the
# driver JIT-compiles that PTX at the first launch and refuses PTX newer than its own CUDA version
# (CUDA_ERROR_UNSUPPORTED_PTX_VERSION: a build made with the CUDA 13.4 wheels failed that way on an
# R580 host, issue #22). So the toolchain is pinned to CUDA 13.0 and the check reads the `.version`
# of every embedded PTX module.
#
# What it does (recipe and measurements: shared/cuda/NOTES.md):
#   0. Self-test of the PTX checker (scripts/ptx-isa-check.py): fake PTX at .version 9.4 must fail
#      and 9.0 must pass, every run, so the CI log shows the check can fail.
#   1. The CUDA 13.0.2 toolchain from PyPI as exact component wheels (CUDA_WHEELS below, installed
#      with --no-deps), unpacked into a cache dir; skipped when that pin set is already there.
#   2. A stub libcuda.so (the driver is not on PyPI): every cu* entry point that cudarc can call
#      returns CUDA_ERROR_STUB_LIBRARY (34); cuGetErrorName/cuGetErrorString return real strings.
#      Build-check use only: never install it on a GPU host.
#   3. cargo build --release --locked --features cuda into a separate target dir.
#   4. Checks: every PTX module candle-kernels built, and every one embedded in the binary (same
#      count), has `.version` <= MAX_PTX_ISA and the fat binary holds no PTX; the binary starts
#      with the wheel libs + stub on LD_LIBRARY_PATH, `--device cuda` fails cleanly (exit 2, one
#      line, no panic) and `--device auto` falls back to CPU and trains.
# Prints a PASS/FAIL summary; exits 0 only if every check passed (1 on a failed check,
# other non-zero codes if the toolchain or the build could not be set up).
#
# What is pinned, and why:
#   * nvcc + NVVM (cicc) + crt headers: they write the PTX, so they decide its `.version` (CUDA 13.0
#     writes PTX ISA 9.0). NVVM must be pinned by itself: nvidia-cuda-nvcc 13.0.88 declares an
#     UNPINNED dependency on nvidia-nvvm, and cuda-toolkit[nvcc]==13.0.2 pins only nvcc, so pip
#     pairs the 13.0 nvcc with the newest NVVM (13.5, PTX 9.5). Hence exact pins and --no-deps.
#   * nvcc's version also fixes the driver API cudarc binds (CUDARC_CUDA_VERSION=13000 here), so
#     the binary calls no entry point that an R580 driver lacks.
#   * CCCL, cudart, NVRTC, cuBLAS, cuRAND: only headers and link-time libraries here (the driver
#     JITs none of them; the GPU host brings its own runtime libs). Pinned to the same CUDA 13.0.2
#     release anyway, so the set is one consistent toolkit and the build is reproducible.
#   * Not pinned by this script: the SASS in candle's libmoe.a (MoE/GGUF kernels, unused here) is
#     machine code for sm_$CUDA_COMPUTE_CAP and needs no JIT; the check still lists it.
#
# Environment:
#   SCALINGLAB_CUDA_CACHE       toolchain cache   (default: $HOME/.cache/scalinglab-cuda)
#   SCALINGLAB_CUDA_TARGET_DIR  cargo target dir  (default: target/cuda, so the CPU build is untouched)
#   CUDA_COMPUTE_CAP            GPU arch to compile for (default 80; there is no nvidia-smi to ask)
#   PYTHON                      python 3 with pip: downloads the wheels (first run), runs the PTX
#                               checker (default: python3)
# Needs: python3 (+ pip with access to PyPI on the first run), gcc, cargo; ~3 GB disk.
set -euo pipefail

# ---------------------------------------------------------------- the promise and the pins
OLDEST_DRIVER="driver R580 / CUDA 13.0" # the oldest driver the README promises
MAX_PTX_ISA=9.0 # newest PTX ISA that driver JITs (PTX ISA 9.0 = CUDA 13.0: NVIDIA's PTX ISA release history)
CUDA_RELEASE=13.0.2 # the CUDA release (PyPI cuda-toolkit==13.0.2) whose components are pinned below
CUDA_WHEELS=(
    nvidia-cuda-nvcc==13.0.88    # nvcc, ptxas, fatbinary, nvlink
    nvidia-nvvm==13.0.88         # cicc: writes the PTX and its .version
    nvidia-cuda-crt==13.0.88     # crt/ headers nvcc includes
    nvidia-cuda-cccl==13.0.85    # thrust, cub, libcu++ (candle's sort kernels use them)
    nvidia-cuda-runtime==13.0.96 # cudart headers + libcudart.so.13 (candle-kernels links it)
    nvidia-cuda-nvrtc==13.0.88   # libnvrtc.so.13 (cudarc links -lnvrtc)
    nvidia-cublas==13.1.0.3      # libcublas/libcublasLt.so.13 (cuBLAS of CUDA 13.0 Update 2)
    nvidia-curand==10.4.0.35     # libcurand.so.10
)
CUDARC_CUDA_VERSION=$(awk -F. '{ printf "%d0%d0", $1, $2 }' <<<"$CUDA_RELEASE") # 13.0.2 -> 13000

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

for tool in cargo gcc "$PYTHON"; do
    command -v "$tool" >/dev/null || die "\`$tool\` not found on PATH"
done

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

# ---------------------------------------------------------------- 0. the PTX checker can fail
PTXCHECK=("$PYTHON" scripts/ptx-isa-check.py --max-isa "$MAX_PTX_ISA" --driver "$OLDEST_DRIVER")
if "$PYTHON" scripts/ptx-isa-check.py --self-test | sed 's/^/    /' >&2; then
    ok "PTX checker self-test: fake PTX .version 9.4 (and 10.0) rejected, 9.0 accepted, module counts and fat binaries checked"
else
    echo "CUDA build check: FAIL (scripts/ptx-isa-check.py --self-test failed; nothing built)"
    exit 1
fi

# ---------------------------------------------------------------- 1. toolchain (cached per pin set)
mkdir -p "$CACHE"
TC=$CACHE/cuda-$CUDA_RELEASE # unpacked wheels; $TC/nvidia/cu13 is a CUDA root
R=$TC/nvidia/cu13
PINS="${CUDA_WHEELS[*]}"
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null; then flock 9; fi # two concurrent runs must not unpack into each other

if [[ -f $TC/.complete && "$(cat "$TC/.complete")" == "$PINS" ]]; then
    log "CUDA $CUDA_RELEASE toolchain: cached in $TC"
else
    [[ -e $TC ]] && log "CUDA $CUDA_RELEASE toolchain in $TC is incomplete or from another pin set: replacing it"
    log "CUDA $CUDA_RELEASE toolchain: downloading ${#CUDA_WHEELS[@]} pinned wheels from PyPI into $CACHE"
    "$PYTHON" -m pip --version >/dev/null 2>&1 ||
        die "\`$PYTHON -m pip\` is not available; it is needed once to download the CUDA wheels (set PYTHON=... or pre-fill $CACHE)"
    tmp=$CACHE/.tmp.$$
    rm -rf "$tmp" "$TC"
    mkdir -p "$tmp/wheels" "$tmp/unpacked"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    # --no-deps: the wheels' own dependencies are unpinned (nvcc -> any nvidia-nvvm), see above
    "$PYTHON" -m pip download -q --disable-pip-version-check --no-cache-dir --only-binary=:all: --no-deps \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
        --python-version 3.11 -d "$tmp/wheels" "${CUDA_WHEELS[@]}" ||
        die "pip download of the CUDA $CUDA_RELEASE wheels failed (no network / no PyPI access?)"
    log "unpacking $(find "$tmp/wheels" -name 'nvidia_*.whl' | wc -l) wheels"
    for w in "$tmp"/wheels/nvidia_*.whl; do
        "$PYTHON" -m zipfile -e "$w" "$tmp/unpacked/" || die "cannot unpack $w"
    done
    # exactly the pinned distributions, nothing else (each wheel unpacks a NAME-VERSION.dist-info)
    got=$(cd "$tmp/unpacked" && for d in *.dist-info; do d=${d%.dist-info}; echo "${d%%-*}==${d#*-}"; done | tr _ - | sort)
    want=$(printf '%s\n' "${CUDA_WHEELS[@]}" | sort)
    [[ $got == "$want" ]] || die "the unpacked wheels are not the pinned set: got [$(echo $got)], want [$(echo $want)]"
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
    mv "$tmp/unpacked" "$TC" # the wheels themselves are not kept
    echo "$PINS" >"$TC/.complete"
    rm -rf "$tmp"
    trap - EXIT
    log "toolchain ready: $R ($(du -sh "$TC" | cut -f1))"
fi
for old in "$CACHE"/cuda-*; do
    [[ $old != "$TC" && -d $old ]] && log "note: $old is not used any more (rm -rf it to free $(du -sh "$old" | cut -f1))"
done
NVCC_VERSION=$("$R/bin/nvcc" --version | grep -o 'release [0-9.]*, V[0-9.]*' || true)
[[ $NVCC_VERSION == "release ${CUDA_RELEASE%.*}, V"* ]] ||
    die "$R/bin/nvcc is not CUDA ${CUDA_RELEASE%.*} (it says '$NVCC_VERSION'); remove $TC and re-run"

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
export CUDA_ROOT=$R CUDA_HOME=$R NVCC=$R/bin/nvcc PATH=$R/bin:$PATH CUDARC_CUDA_VERSION
export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-$(nproc)} # cudaforge's default is half the cores
# cudaforge (candle-kernels' build script) skips a kernel whose source, arch and flags are unchanged,
# whatever nvcc it ran: a target dir built with another toolkit would keep that toolkit's PTX.
STAMP=$TARGET_DIR/.scalinglab-cuda-toolchain
if [[ -d $TARGET_DIR/release && "$(cat "$STAMP" 2>/dev/null)" != "$PINS" ]]; then
    log "$TARGET_DIR was built with another CUDA toolchain: cleaning candle-kernels and cudarc there"
    cargo clean --release --target-dir "$TARGET_DIR" -p candle-kernels -p cudarc -q ||
        die "cargo clean -p candle-kernels -p cudarc failed"
fi
log "cargo build --release --locked --features cuda --target-dir $TARGET_DIR (CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP, CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION)"
tb=$SECONDS
cargo build --release --locked --features cuda --target-dir "$TARGET_DIR" || die "cargo build --features cuda failed"
echo "$PINS" >"$STAMP"
log "build done in $((SECONDS - tb)) s"
BIN=$TARGET_DIR/release/scalinglab
[[ -x $BIN ]] || die "no binary at $BIN"

# ---------------------------------------------------------------- 4. checks
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

# (p) PTX ISA: every module candle-kernels compiled (its ptx.rs lists what the crate embeds), first
# as files in its out dir, then as embedded in the binary: same count, none newer than MAX_PTX_ISA.
# ptx_check NAME DESCRIPTION ARGS...: runs the checker, echoes its report, records PASS/FAIL
ptx_check() {
    local name=$1 what=$2
    shift 2
    set +e
    "${PTXCHECK[@]}" "$@" >"$WORK/$name.out" 2>&1
    rc=$?
    set -e
    sed "s|$ROOT/||; s/^/    /" "$WORK/$name.out" >&2
    if [[ $rc -eq 0 ]]; then
        ok "$what: $(sed -n 's/^PTX ISA check: PASS/PASS/p' "$WORK/$name.out")"
    else
        bad "$what: $(grep -m1 'FAIL: ' "$WORK/$name.out" | sed "s|$ROOT/||" | cut -c1-200)"
    fi
}
PTXRS=$(ls -t "$TARGET_DIR"/release/build/candle-kernels-*/out/ptx.rs 2>/dev/null | head -n1 || true)
if [[ -z $PTXRS ]]; then
    bad "PTX ISA: no candle-kernels-*/out/ptx.rs under $TARGET_DIR/release/build (has candle's build changed?)"
else
    KOUT=$(dirname "$PTXRS")
    mapfile -t PTXFILES < <(sed -nE 's|.*include_str!\(concat!\(env!\("OUT_DIR"\), "/([^"]+\.ptx)"\)\).*|'"$KOUT"'/\1|p' "$PTXRS")
    NPTX=${#PTXFILES[@]}
    if ((NPTX == 0)); then
        bad "PTX ISA: $PTXRS embeds no .ptx file (has candle's build changed?)"
    else
        ptx_check ptxfiles "PTX ISA of the $NPTX .ptx files candle-kernels built" --expect-count "$NPTX" "${PTXFILES[@]}"
        ptx_check ptxbin "PTX ISA of the $NPTX modules embedded in $BIN" --expect-count "$NPTX" "$BIN"
        note "PTX targets and fat binary: $(grep -m1 "^$BIN:" "$WORK/ptxbin.out" | cut -d: -f2- | cut -c2-200)"
    fi
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
echo "CUDA build check (CUDA $CUDA_RELEASE wheels, nvcc $NVCC_VERSION, cudarc $CUDARC_VERSION as CUDA $CUDARC_CUDA_VERSION, CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP; PTX limit $MAX_PTX_ISA for $OLDEST_DRIVER; $((SECONDS - T0)) s):"
printf '  %s\n' "${SUMMARY[@]}"
if ((FAIL > 0)); then
    echo "CUDA build check: FAIL ($FAIL failed, $PASS passed)"
    exit 1
fi
echo "CUDA build check: PASS ($PASS checks)"
