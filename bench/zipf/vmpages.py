#!/usr/bin/env python3
"""Where a guest's pages go: classifies the pages of an exported VM (denalictl export).

usage: vmpages.py [--json | --blocks] IMAGE_ELF EXPORT_FILE...

An export holds every non-zero page of the guest (export.h). Each page is put in one
region: the monitor's low megabyte (vregs, shared page, rings, page tables), the image's
sections, each big .bss object by symbol (nm), the heap block it falls in, by size (the libos
malloc's headers are walked from _end: a 16-byte header {size, tag} per block), or the
stack (the top 256 KiB). Prints pages per region, summed over the files, and the mean per VM.
--blocks lists the heap blocks of the first file instead (address, size, used, pages written).
"""
import json
import struct
import subprocess
import sys
from collections import Counter

PAGE = 4096
HDR = 16
USED_TAG = 0x75736564626C6B21
STACK_RESERVE = 256 << 10
LOW_NAMES = {0x1000: "low: vregs", 0x2000: "low: shared page", 0x3000: "low: console ring",
             0x4000: "low: net tx ring", 0x5000: "low: net rx ring", 0x6000: "low: blk ring"}


def symbols(elf):
    out = subprocess.run(["nm", "-S", "--size-sort", elf], check=True, capture_output=True,
                         text=True).stdout
    syms, marks = [], {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4:
            syms.append((int(f[0], 16), int(f[1], 16), f[3], f[2].lower()))
    for line in subprocess.run(["nm", elf], check=True, capture_output=True,
                               text=True).stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[2] in ("_end", "__bss_start", "__image_start"):
            marks[f[2]] = int(f[0], 16)
    return syms, marks


def read_export(path):
    with open(path, "rb") as f:
        h = f.read(120)
        if h[:8] != b"DNLVMEX1":
            sys.exit("%s: not an export file" % path)
        npages, mem_size = struct.unpack_from("<IQ", h, 20)
        state_len, dev_len = struct.unpack_from("<II", h, 40)
        table = struct.unpack("<%dI" % npages, f.read(4 * npages))
        f.seek(state_len + dev_len, 1)
        pages = {pn: f.read(PAGE) for pn in table}
    return mem_size, pages


def heap_blocks(pages, lo, hi):
    """[(start, size, used)] walked from lo while headers are readable."""
    out, a = [], (lo + 15) & ~15
    while a + HDR <= hi:
        pg = pages.get(a // PAGE)
        if pg is None or a % PAGE > PAGE - HDR:
            break
        size, tag = struct.unpack_from("<QQ", pg, a % PAGE)
        if size < 32 or size % 16 or a + size > hi:
            break
        out.append((a, size, tag == USED_TAG))
        a += size
    return out


def classify(elf_syms, marks, mem_size, pages, text_end, ro_end):
    heap_lo, heap_hi = marks["_end"], mem_size - STACK_RESERVE
    blocks = heap_blocks(pages, heap_lo, heap_hi)
    brk = blocks[-1][0] + blocks[-1][1] if blocks else heap_lo
    big = [s for s in elf_syms if s[3] in "bd" and s[1] >= 2048]

    largest = max((b[1] for b in blocks if b[2]), default=0)

    def block_name(b):
        if not b[2]:
            return "heap: free blocks"
        if b[1] == largest:
            return "heap: the largest block (TCP buffers), %d KiB" % (b[1] >> 10)
        return "heap: %d-byte blocks" % b[1]

    c = Counter()
    for pn in pages:
        a = pn * PAGE
        if a < 0x100000:
            name = LOW_NAMES.get(a, "low: page tables, private")
        elif a < text_end:
            name = "image: text"
        elif a < ro_end:
            name = "image: rodata"
        elif a < marks["__bss_start"]:
            name = "image: data"
        elif a < heap_lo:
            name = "bss: other"
            for s in big:
                if s[0] < a + PAGE and a < s[0] + s[1]:
                    name = "bss: " + s[2]
                    break
        elif a < brk:
            name = "heap: ?"
            for b in blocks:
                if b[0] < a + PAGE and a < b[0] + b[1]:
                    name = block_name(b)
                    break
        elif a >= heap_hi:
            name = "stack"
        else:
            name = "heap: beyond brk"
        c[name] += 1
    return c


def main():
    args = sys.argv[1:]
    as_json = args[:1] == ["--json"]
    blocks = args[:1] == ["--blocks"]
    if as_json or blocks:
        args = args[1:]
    if len(args) < 2 or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if args[:1] in (["-h"], ["--help"]) else 2)
    syms, marks = symbols(args[0])
    hdr = subprocess.run(["readelf", "-lW", args[0]], check=True, capture_output=True,
                         text=True).stdout
    loads = [l.split() for l in hdr.splitlines() if l.strip().startswith("LOAD")]
    text_end = int(loads[0][2], 16) + int(loads[0][5], 16)
    ro_end = int(loads[1][2], 16) + int(loads[1][5], 16) if len(loads) > 2 else text_end
    if blocks:
        mem_size, pages = read_export(args[1])
        for a, size, used in heap_blocks(pages, marks["_end"], mem_size - STACK_RESERVE):
            n = sum(1 for p in range(a // PAGE, (a + size - 1) // PAGE + 1) if p in pages)
            print("0x%08x %9d %s %4d pages" % (a, size, "used" if used else "free", n))
        return
    total = Counter()
    for path in args[1:]:
        mem_size, pages = read_export(path)
        total += classify(syms, marks, mem_size, pages, text_end, ro_end)
    n = len(args) - 1
    if as_json:
        json.dump({k: v / n for k, v in total.items()}, sys.stdout)
        print()
        return
    print("%-48s %9s %9s" % ("region", "pages/VM", "KiB/VM"))
    for k, v in sorted(total.items(), key=lambda kv: -kv[1]):
        print("%-48s %9.1f %9.1f" % (k, v / n, v * 4 / n))
    s = sum(total.values())
    print("%-48s %9.1f %9.1f   (%d VMs)" % ("total non-zero pages", s / n, s * 4 / n, n))


if __name__ == "__main__":
    main()
