#!/usr/bin/env python3
"""The CLI's load path sits in one output section (cmake/hot-text.ld, CMakeLists.txt).

    check_hot_text.py BINARY

Fails when the section is missing (the script was not applied), when the functions every load
runs lie outside it (a stale list: regenerate with scripts/hot_text.py), or when it has grown
past what a handful of 64 KiB code windows hold.
"""
import subprocess
import sys

binary = sys.argv[1]
sections = subprocess.run(["readelf", "-SW", binary], check=True, capture_output=True, text=True).stdout
hot = None
for line in sections.splitlines():
    fields = line.replace("[ ", "[").split()
    if ".text.pthsafe_load" in fields:
        i = fields.index(".text.pthsafe_load")
        hot = (int(fields[i + 2], 16), int(fields[i + 4], 16))  # address, size
if hot is None:
    sys.exit(f"{binary}: no .text.pthsafe_load section (cmake/hot-text.ld not applied)")
start, size = hot
if size > 4 << 20:  # the plain build: ~310 KB; sanitizers: ~3x
    sys.exit(f".text.pthsafe_load holds {size} bytes: more than a load's functions")
symbols = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True, text=True).stdout
want = ["_ZN7pthsafe10checkpoint4open", "_ZN7pthsafe6detail7archive4open", "_ZN7pthsafe6detail7machine3run",
        "_ZN7pthsafe6detail14read_directory", "_ZN7pthsafe6detail14place_storages"]
found = {}
for line in symbols.splitlines():
    parts = line.split()
    if len(parts) != 3 or parts[1] not in "tTwW":
        continue
    for w in want:
        if parts[2].startswith(w) and "." not in parts[2]:  # not a .cold part or a clone
            found.setdefault(w, []).append(int(parts[0], 16))
bad = []
for w in want:
    addrs = found.get(w)
    if not addrs:
        bad.append(f"{w}: not in the binary")
    elif not any(start <= a < start + size for a in addrs):
        bad.append(f"{w}: outside .text.pthsafe_load")
if bad:
    sys.exit("stale cmake/hot-text.ld (scripts/hot_text.py regenerates it):\n  " + "\n  ".join(bad))
print(f".text.pthsafe_load: {size} bytes at {start:#x}; {len(want)} load functions inside")
