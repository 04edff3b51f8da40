#!/usr/bin/env python3
"""pthsafe's tar detection against CPython's tarfile on generated header blocks.

    python3 tests/differential/tar_oracle.py --cli build/pthsafe [--count 1500] [--seed 7]

Each sample is a 512-byte block (plus a short tail) built around the fields tarfile.frombuf
reads: checksum fields in every encoding tarfile.nti accepts or almost accepts (octal text with
signs, 0o prefixes, underscores, whitespace; base-256; empty), signed and unsigned sums, numeric
fields mutated with characters int() may or may not take, sparse headers, all-NUL blocks, short
files. pthsafe must report `tar_format` exactly when `tarfile.open(mode="r:")` opens the sample
(the condition torch.load tests). Header types whose processing reads further blocks (GNU long
names, PAX) are left out: pthsafe counts them as tar without following them (core/tar_probe.hpp).
Standard library only; all samples are scanned by one CLI invocation.
"""
import argparse
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile

sys.dont_write_bytecode = True
ODD = [b"0", b"7", b"8", b"9", b" ", b"\0", b"_", b"o", b"O", b"+", b"-", b"\x1c", b"\x1f", b"\x0b", b"\x85", b"x", b"\x80", b"\xff", b"a"]


def sums(b):
    body = bytes(b[:148]) + bytes(b[156:])
    return 256 + sum(body), 256 + sum(x - 256 if x > 127 else x for x in body)


def checksum_text(rng, value):
    o = b"%o" % abs(value)
    sign = b"-" if value < 0 else rng.choice([b"", b"", b"+"])
    if rng.random() < 0.3:
        o = b"0o" + o
    if rng.random() < 0.3 and len(o) > 1:
        i = rng.randrange(1, len(o))
        o = o[:i] + b"_" + o[i:]
    t = sign + o
    if rng.random() < 0.3:
        t = rng.choice([b" ", b"\x1c", b"\t", b"\x0b"]) + t
    if rng.random() < 0.3:
        t = t + b" "
    return t[:8].ljust(8, rng.choice([b"\0", b" "]))


def sample(rng):
    kind = rng.random()
    if kind < 0.04:
        return b"\0" * 512 + b"\x80\x02N."
    if kind < 0.06:
        return b"\0" * rng.randrange(0, 512)
    b = bytearray(512)
    name = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(0, 40)))
    b[0:len(name)] = name.replace(b"\0", b"a")
    for at, n in ((100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (329, 8), (337, 8)):
        if rng.random() < 0.7:
            b[at:at + n] = (b"%0*o" % (n - 1, rng.randrange(0, 8 ** (n - 2)))) + b"\0"
        elif rng.random() < 0.5:
            b[at] = rng.choice([0x80, 0xff])
    b[156:157] = rng.choice([b"0", b"\0", b"5", b"2", b"S", b"1", b"7"])
    if b[156:157] == b"S":
        for at in range(386, 482, 12):
            b[at:at + 12] = b"%011o\0" % rng.randrange(0, 4096)
        b[483:495] = b"%011o\0" % rng.randrange(0, 4096)
        b[482] = 0
    if rng.random() < 0.25:  # mutate a numeric field (or a sparse one) with an odd character
        at = rng.choice([100, 105, 108, 116, 124, 130, 136, 329, 337, 386, 400, 483])
        b[at:at + 1] = rng.choice(ODD)
    if rng.random() < 0.2:
        for _ in range(rng.randrange(1, 60)):
            b[rng.randrange(160, 512)] = rng.randrange(128, 256)
    unsigned, signed = sums(b)
    value = signed if rng.random() < 0.3 else unsigned
    value += rng.choice([0, 0, 0, 0, 1, -1, 256, -256])
    r = rng.random()
    if r < 0.6:
        b[148:156] = checksum_text(rng, value)
    elif r < 0.8 and value >= 0:
        b[148:156] = b"\x80" + value.to_bytes(7, "big")
    elif r < 0.9:
        b[148:156] = b"\xff" + ((1 << 56) + value).to_bytes(7, "big") if value < 0 else b"\xff" * 8
    else:
        b[148:156] = rng.choice([b"\0" * 8, b" " * 8, b"\0" + bytes(7)])
    if b[257:262] == b"ustar":
        b[257] = 0
    return bytes(b) + b"\x80\x02N."


def tarfile_opens(data):
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:"):
            return True
    except tarfile.TarError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--count", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as d:
        paths, want = [], {}
        for i in range(args.count):
            data = sample(rng)
            p = os.path.join(d, "s%05d.bin" % i)
            with open(p, "wb") as f:
                f.write(data)
            paths.append(p)
            want[p] = tarfile_opens(data)
        out = subprocess.run([args.cli, "scan", "--json"] + paths, capture_output=True)
        doc = json.loads(out.stdout.decode("utf-8"))
        failures = 0
        for entry in doc["files"]:
            got = any(f["rule"] == "tar_format" for f in entry["findings"])
            if got != want[entry["file"]]:
                failures += 1
                with open(entry["file"], "rb") as f:
                    block = f.read(512)
                print("MISMATCH %s: tarfile %s, pthsafe %s; checksum field %r type %r" % (
                    os.path.basename(entry["file"]), want[entry["file"]], got, block[148:156], block[156:157]))
        n_tar = sum(want.values())
        print(f"{args.count} samples ({n_tar} tar to CPython), {failures} mismatches")
        return 1 if failures or len(doc["files"]) != args.count else 0


if __name__ == "__main__":
    sys.exit(main())
