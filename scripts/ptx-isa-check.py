#!/usr/bin/env python3
"""Checks that no PTX a CUDA build embeds is newer than the oldest driver we promise can JIT.

Why: candle-kernels compiles its .cu files to PTX at build time and embeds the text in the binary
(include_str!); the driver JIT-compiles it at the first kernel launch. A driver JITs PTX only up to
the PTX ISA of its own CUDA version, so a binary built with a newer toolkit fails there with
CUDA_ERROR_UNSUPPORTED_PTX_VERSION (issue #22: the CUDA 13.4 build on an R580 / CUDA 13.0 host).
Each PTX module starts with `.version X.Y` (its PTX ISA) and then `.target sm_NN`; that pair is what
this script reads, without a GPU or any CUDA tool.

PTX ISA <-> CUDA release (NVIDIA's PTX ISA "Release History" table, as encoded in cuda-python's
cuda/bindings/utils/_ptx_utils.py): 8.7 = CUDA 12.8, 8.8 = 12.9, 9.0 = 13.0, 9.1 = 13.1; the PTX
ISA manual shipped with CUDA 13.0.2 is "PTX ISA version 9.0".

Usage:
  ptx-isa-check.py --max-isa 9.0 [--driver "CUDA 13.0 (R580)"] [--expect-count N] FILE...
  ptx-isa-check.py --self-test

FILEs are .ptx files or ELF binaries. In an ELF binary it also lists the CUDA fat binaries in the
`.nv_fatbin` section (code linked from nvcc objects, e.g. candle's libmoe.a): SASS entries need no
JIT; a PTX entry there must be readable (uncompressed) and not newer than --max-isa either.
--expect-count: how many PTX modules (outside fat binaries) the FILEs must hold in total, so a
module the scan misses cannot pass unnoticed.
Exit status: 0 pass, 1 a check failed, 2 bad usage or an unreadable file.
"""
import argparse
import contextlib
import io
import re
import struct
import sys
import tempfile
from pathlib import Path

# `.version X.Y` followed (after blank or comment lines) by `.target ...`: a PTX module header.
HEADER = re.compile(rb"\.version[ \t]+(\d+)\.(\d+)[ \t]*\r?\n(?:[ \t]*(?://[^\n]*)?\r?\n)*"
                    rb"[ \t]*\.target[ \t]+([A-Za-z0-9_, \t]+)")
BARE_VERSION = re.compile(rb"\.version[ \t]+\d+\.\d+")
FATBIN_MAGICS = (struct.pack("<I", 0xBA55ED50), struct.pack("<I", 0x466243B1))
FATBIN_KINDS = {1: "PTX", 2: "SASS", 0x10: "SASS"}
FATBIN_COMPRESSED = 0x2000 | 0x8000  # LZ4 (CUDA <= 12) / ZSTD flag bits in an entry's flags


def isa(text):
    major, minor = text.split(".")
    return int(major), int(minor)


def fmt(v):
    return f"{v[0]}.{v[1]}"


# ---------------------------------------------------------------- ELF: where .nv_fatbin lies
def nv_fatbin_range(data):
    """(offset, size) of the `.nv_fatbin` section of a 64-bit little-endian ELF, else None."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shoff + shnum * shentsize > len(data):
        return None

    def section(i):  # (name offset, file offset, size)
        name, _, _, _, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        return name, off, size

    _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".nv_fatbin":
            return off, size
    return None


# ---------------------------------------------------------------- fat binaries
def fatbin_entries(blob):
    """Yields (kind, sm_arch, compressed, payload) for every entry of every fat binary in blob.

    Layout (public reverse engineering of cuobjdump, e.g. GrigoryEvko/nvopen-tools
    fatbin/FORMAT_SPECIFICATION.md): a container is a 16-byte header (magic u32, version u16,
    header size u16, payload size u64) and then entries, each a header (kind u16, _ u16,
    header size u32, padded payload size u64, payload size u32, _ u32, _ u32, sm arch u32, _ u64,
    flags u64, ...) followed by its payload. Raises ValueError on a layout it cannot follow."""
    pos = 0
    while True:
        found = [p for p in (blob.find(m, pos) for m in FATBIN_MAGICS) if p >= 0]
        if not found:
            return
        start = min(found)
        _, _, hsize, fat_size = struct.unpack_from("<IHHQ", blob, start)
        end = start + hsize + fat_size
        if end > len(blob) or hsize < 16:
            raise ValueError(f"fat binary at +{start:#x} runs past its section")
        e = start + hsize
        while e + 64 <= end:
            kind, _, ehsize, padded = struct.unpack_from("<HHIQ", blob, e)
            psize, = struct.unpack_from("<I", blob, e + 16)
            arch, = struct.unpack_from("<I", blob, e + 28)
            flags, = struct.unpack_from("<Q", blob, e + 40)
            if ehsize < 64 or e + ehsize + padded > end or psize > padded:
                raise ValueError(f"fat binary entry at +{e:#x} has an impossible size")
            payload = blob[e + ehsize:e + ehsize + psize]
            yield kind, arch, bool(flags & FATBIN_COMPRESSED), payload
            e += ehsize + padded
        pos = end


# ---------------------------------------------------------------- one file
def scan(path, max_isa, problems):
    """Returns the list of (isa, target) PTX modules outside fat binaries; appends to problems."""
    data = Path(path).read_bytes()
    fat = nv_fatbin_range(data)
    lo, hi = (fat[0], fat[0] + fat[1]) if fat else (len(data), len(data))
    outside = lambda m: not (lo <= m.start() < hi)  # noqa: E731
    mods = [(isa(f"{int(m[1])}.{int(m[2])}"), m[3].decode().strip())
            for m in HEADER.finditer(data) if outside(m)]
    bare = sum(1 for m in BARE_VERSION.finditer(data) if outside(m))
    if bare != len(mods):
        problems.append(f"{path}: {bare} `.version` lines but {len(mods)} PTX headers "
                        "(`.version` then `.target`); the scan cannot account for every module")
    for v, target in mods:
        if v > max_isa:
            problems.append(f"{path}: PTX .version {fmt(v)} (.target {target}) is newer than {fmt(max_isa)}")
    line = f"{path}: {len(mods)} PTX module(s)"
    if mods:
        versions = sorted({v for v, _ in mods})
        targets = sorted({t for _, t in mods})
        line += f", .version {', '.join(map(fmt, versions))}, .target {', '.join(targets)}"
    if fat:
        line += "; " + fatbin_summary(path, data[lo:hi], max_isa, problems)
    print(line)
    return mods


def fatbin_summary(path, blob, max_isa, problems):
    try:
        entries = list(fatbin_entries(blob))
    except ValueError as err:
        problems.append(f"{path}: cannot read .nv_fatbin: {err}")
        return ".nv_fatbin unreadable"
    counts = {}
    for kind, arch, compressed, payload in entries:
        name = FATBIN_KINDS.get(kind, f"kind {kind}")
        counts[f"{name} sm_{arch}"] = counts.get(f"{name} sm_{arch}", 0) + 1
        if name != "PTX":
            continue
        m = None if compressed else HEADER.search(payload)
        if m is None:
            problems.append(f"{path}: .nv_fatbin holds a compressed PTX entry (sm_{arch}) whose "
                            ".version cannot be read; compile those objects to SASS only "
                            "(-gencode arch=compute_NN,code=sm_NN)")
        elif isa(f"{int(m[1])}.{int(m[2])}") > max_isa:
            problems.append(f"{path}: .nv_fatbin PTX .version {int(m[1])}.{int(m[2])} (sm_{arch}) "
                            f"is newer than {fmt(max_isa)}")
    inv = ", ".join(f"{n} x{c}" for c, n in sorted(((c, n) for n, c in counts.items()), reverse=True))
    return f".nv_fatbin: {len(entries)} entries ({inv or 'none'})"


def check(files, max_isa, driver, expect):
    problems, mods = [], []
    for f in files:
        try:
            mods += scan(f, max_isa, problems)
        except OSError as err:
            print(f"ptx-isa-check: cannot read {f}: {err}", file=sys.stderr)
            return 2
    if expect is not None and len(mods) != expect:
        problems.append(f"found {len(mods)} PTX module(s), expected {expect}")
    if not mods and expect is None:
        problems.append("no PTX module found at all (is this a CUDA build?)")
    if problems:
        for p in problems:
            print(f"ptx-isa-check: FAIL: {p}")
        print(f"PTX ISA check: FAIL (limit {fmt(max_isa)} = {driver}; rebuild with a toolkit no newer "
              "than that, see README 'Running on a GPU')")
        return 1
    newest = fmt(max(v for v, _ in mods)) if mods else "none"
    print(f"PTX ISA check: PASS ({len(mods)} PTX module(s), newest .version {newest} <= {fmt(max_isa)}, "
          f"the limit for {driver})")
    return 0


# ---------------------------------------------------------------- self-test
def ptx(version, target="sm_80"):
    return (f"//\n// Generated by NVIDIA NVVM Compiler\n//\n\n.version {version}\n.target {target}\n"
            ".address_size 64\n\n.visible .entry k() { ret; }\n").encode()


def fake_elf(rodata, fatbin):
    """A minimal ELF64 with a .rodata and a .nv_fatbin section (enough for nv_fatbin_range)."""
    names = b"\0.shstrtab\0.rodata\0.nv_fatbin\0"
    body = names + rodata + fatbin
    offs = [64, 64 + len(names), 64 + len(names) + len(rodata)]
    shoff = 64 + len(body)
    hdr = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff,
                                                          0, 64, 0, 0, 64, 4, 1)
    sh = bytes(64)
    for name, off, size in ((1, offs[0], len(names)), (11, offs[1], len(rodata)), (19, offs[2], len(fatbin))):
        sh += struct.pack("<IIQQQQIIQQ", name, 1, 0, 0, off, size, 0, 0, 1, 0)
    return hdr + body + sh


def fake_fatbin(entries):
    """entries: (kind, arch, payload); uncompressed, 64-byte entry headers."""
    body = b""
    for kind, arch, payload in entries:
        padded = payload + bytes(-len(payload) % 8)
        body += struct.pack("<HHIQIIIIQQQQ", kind, 0x0101, 64, len(padded), len(payload), 0, 0, arch,
                            0, 0, 0, len(payload)) + padded
    return struct.pack("<IHHQ", 0xBA55ED50, 1, 16, len(body)) + body


def self_test():
    """Runs the command line (main) on fake inputs and asserts each exit status and verdict."""
    junk = bytes(range(256)) * 3  # binary bytes around the embedded text, as in .rodata
    cases = [  # (name, file bytes, extra args, expected exit status, text the verdict must contain)
        ("two modules at 9.0, limit 9.0", junk + ptx("9.0") + junk + ptx("9.0") + junk, [], 0, "PASS (2 PTX"),
        ("one module at 9.4 beside one at 9.0", junk + ptx("9.0") + ptx("9.4") + junk, [], 1,
         "PTX .version 9.4 (.target sm_80) is newer than 9.0"),
        ("10.0 is newer than 9.0 (numeric, not text, order)", junk + ptx("10.0"), [], 1,
         ".version 10.0 (.target sm_80) is newer"),
        ("9.0 but 3 modules expected", ptx("9.0") + ptx("9.0"), ["--expect-count", "3"], 1,
         "found 2 PTX module(s), expected 3"),
        ("a .version without a .target", ptx("9.0") + b".version 9.0\n", [], 1, "2 `.version` lines but 1"),
        ("no PTX at all", junk, [], 1, "no PTX module found"),
        ("ELF: 9.0 text + SASS-only fatbin", fake_elf(ptx("9.0"), fake_fatbin([(2, 80, junk)])), [], 0,
         "PASS (1 PTX"),
        ("ELF: fatbin PTX entry at 9.4", fake_elf(ptx("9.0"), fake_fatbin([(2, 80, junk), (1, 80, ptx("9.4"))])),
         ["--expect-count", "1"], 1, ".nv_fatbin PTX .version 9.4 (sm_80) is newer than 9.0"),
        ("ELF: fatbin PTX entry at 9.0", fake_elf(ptx("9.0"), fake_fatbin([(1, 80, ptx("9.0"))])),
         ["--expect-count", "1"], 0, "PASS (1 PTX"),
    ]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, blob, extra, want, text) in enumerate(cases):
            f = Path(tmp) / f"case{i}.bin"
            f.write_bytes(blob)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = main(["--max-isa", "9.0", *extra, str(f)])
            lines = out.getvalue().strip().splitlines() or ["(no output)"]
            verdict = next((ln for ln in lines if "FAIL: " in ln), lines[-1]).replace(str(f), "FILE")
            ok = code == want and text in verdict
            failed += not ok
            print(f"self-test {'ok  ' if ok else 'FAIL'} {name}: exit {code} (want {want}): {verdict}")
    print(f"PTX ISA check self-test: {'PASS' if not failed else 'FAIL'} ({len(cases) - failed}/{len(cases)} cases)")
    return 1 if failed else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--self-test", action="store_true", help="check the checker on fake inputs")
    ap.add_argument("--max-isa", help="newest PTX ISA allowed, e.g. 9.0 (CUDA 13.0)")
    ap.add_argument("--driver", default=None, help="what --max-isa stands for, for the messages")
    ap.add_argument("--expect-count", type=int, help="PTX modules the FILEs must hold in total")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args(argv)
    if a.self_test:
        return self_test()
    if not a.max_isa or not re.fullmatch(r"\d+\.\d+", a.max_isa) or not a.files:
        ap.error("give --max-isa X.Y (e.g. 9.0) and at least one FILE, or --self-test")
    return check(a.files, isa(a.max_isa), a.driver or f"PTX ISA {a.max_isa}", a.expect_count)


if __name__ == "__main__":
    sys.exit(main())
