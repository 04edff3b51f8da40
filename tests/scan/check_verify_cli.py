#!/usr/bin/env python3
"""`pthsafe verify` on a torch fixture and on copies with one storage's bytes damaged.

    python check_verify_cli.py --cli build/pthsafe --fixture tests/fixtures/state_dict.pth

Checks the exit codes (0 intact, 2 damaged) and that the damaged record is named with the offset
of its data as CPython's zipfile sees it. Standard library only.
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile
import zipfile


def data_offset(raw, info):
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--fixture", required=True)
    args = ap.parse_args()
    failures = []
    r = subprocess.run([args.cli, "verify", args.fixture], capture_output=True, text=True)
    count = len(zipfile.ZipFile(args.fixture).infolist())
    if r.returncode != 0 or f"ok, {count} records checked" not in r.stdout:
        failures.append(f"intact: exit {r.returncode}: {r.stdout!r}")
    raw = bytearray(open(args.fixture, "rb").read())
    storages = [i for i in zipfile.ZipFile(args.fixture).infolist() if "/data/" in i.filename and i.file_size]
    victim = storages[len(storages) // 2]
    at = data_offset(raw, victim)
    raw[at] ^= 0xFF
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "damaged.pth")
        with open(path, "wb") as f:
            f.write(raw)
        r = subprocess.run([args.cli, "verify", path], capture_output=True, text=True)
        want = f"{victim.filename} @ {at}: zip_crc_mismatch"
        if r.returncode != 2 or want not in r.stdout or "1 corrupted" not in r.stdout:
            failures.append(f"damaged: exit {r.returncode}, expected {want!r} in {r.stdout!r}")
    for f in failures:
        print("FAIL", f)
    print(f"check_verify_cli: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
