#!/usr/bin/env python3
"""The writer past 4 GiB: zip64 as torch.save writes it, byte for byte.

    python zip64_vs_torch.py --cli build/pthsafe [--dir DIR]

torch.save writes a state_dict with one storage of 4 GiB + 64 bytes between two small ones (so
the records after it sit past 4 GiB: zip64 sizes in the big record's headers and data descriptor,
zip64 offsets for the later ones). `pthsafe convert` reads it and writes it again under the same
name in another folder; the two files must be identical, and torch.load(mmap=True,
weights_only=True) must read the last element of the big tensor back. Needs ~8.6 GB of free disk
for a minute (removed afterwards) and torch >= 2. Exit 0 pass, 1 fail, 77 without torch.
"""
import argparse
import collections
import filecmp
import os
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    sys.exit(77)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        src = os.path.join(tmp, "big64.pth")
        os.makedirs(os.path.join(tmp, "out"))
        dst = os.path.join(tmp, "out", "big64.pth")
        big = torch.zeros((1 << 30) + 16, dtype=torch.float32)
        big[-1] = 1.5
        torch.save(collections.OrderedDict([("small", torch.ones(3)), ("big", big), ("after", torch.arange(4.0))]), src)
        del big
        r = subprocess.run([args.cli, "convert", src, dst], capture_output=True, text=True)
        failures = []
        if r.returncode != 0:
            failures.append(f"convert: exit {r.returncode}: {r.stderr.strip()}")
        else:
            if not filecmp.cmp(src, dst, shallow=False):
                failures.append("not byte-identical to torch.save's zip64 file")
            back = torch.load(dst, mmap=True, weights_only=True)
            if float(back["big"][-1]) != 1.5 or back["after"].tolist() != [0.0, 1.0, 2.0, 3.0]:
                failures.append("torch reads different values back")
    for f in failures:
        print("FAIL", f)
    print(f"zip64_vs_torch (torch {torch.__version__}): {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
