#!/usr/bin/env python3
"""Hostile 64 MiB inputs against `pthsafe scan`: prints seconds and peak RSS for each.

With --check (the ctest `resource_bounds`), fails when a scan crashes (signal), says "safe", or
peaks above 256 MiB resident. Times are printed, never asserted (timings are not tests).
Files are generated one at a time in a temporary directory and deleted after use."""
import argparse, os, struct, subprocess, sys, tempfile, time

M = 64 << 20
PROTO = b"\x80\x02"


def fill(unit, prefix=b"", suffix=b"."):
    n = (M - len(PROTO) - len(prefix) - len(suffix)) // len(unit)
    return PROTO + prefix + unit * n + suffix


def memo_puts():
    body = bytearray(b"N")
    i = 0
    while len(body) < M - 16:
        body += b"r" + struct.pack("<I", i)
        i += 1
    return PROTO + bytes(body) + b"."


def laughs():
    # Each level is a list holding the previous one twice: 2**levels leaves through the memo.
    body = bytearray(b"]q\x00")
    for i in range(250):
        body += b"(h%ch%clq%c" % (i, i, i + 1)
    return PROTO + bytes(body) + b"."


def equal_shared_keys():
    # Two equal dict keys of shared tuples (t = (t, t), 64 levels) built apart, after 64 MiB of
    # padding: comparing them is 2^64 steps; the key-comparison budget stops it.
    def put(i): return b"r" + struct.pack("<I", i)
    def get(i): return b"j" + struct.pack("<I", i)
    def chain(base):
        out = b")" + put(base)
        for k in range(64):
            out += b"0" + get(base + k) + get(base + k) + b"\x86" + put(base + k + 1)
        return out
    tail = b"}" + chain(0) + b"K\x01s" + chain(100) + b"K\x02s."
    pad = M - len(PROTO) - len(tail) - 10
    return PROTO + b"\x8e" + struct.pack("<Q", pad) + b"\0" * pad + b"0" + tail


ATTACKS = {
    "empty lists + POP (node flood)": lambda: fill(b"]0"),
    "tuples + POP": lambda: fill(b")0"),
    "floats + POP": lambda: fill(b"G\x00\x00\x00\x00\x00\x00\x00\x000"),
    "1-char strings + POP": lambda: fill(b"X\x01\x00\x00\x00a0"),
    "None appended to one list": lambda: fill(b"Na", prefix=b"]"),
    "dict value replaced": lambda: fill(b"(K\x00]u", prefix=b"}"),
    "MARK flood": lambda: fill(b"("),
    "distinct LONG_BINPUT indices": memo_puts,
    "255-byte LONG1 ints + POP": lambda: fill(b"\x8a\xff" + b"\x01" * 255 + b"0"),
    "billion laughs via memo (legal: safe)": laughs,
    "4 GiB BINUNICODE length": lambda: PROTO + b"X\xff\xff\xff\xff" + b"a" * (M - 16),
    "deep list nesting (EMPTY_LIST, APPEND)": lambda: fill(b"]a", prefix=b"]"),
    "equal dict keys of shared tuples": equal_shared_keys,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    failures = 0
    print(f"{'input (64 MiB)':40} {'verdict':10} {'seconds':>8} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "attack.pkl")
        for name, make in ATTACKS.items():
            with open(path, "wb") as f:
                f.write(make())
            t = time.monotonic()
            pid = os.fork()
            if pid == 0:
                os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
                out = os.open(os.path.join(d, "out.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(out, 1)
                os.execv(a.cli, [a.cli, "scan", path])
            _, status, ru = os.wait4(pid, 0)
            secs = time.monotonic() - t
            rss_mib = ru.ru_maxrss / 1024
            text = open(os.path.join(d, "out.txt"), errors="replace").read()
            verdict = text.split(": ", 1)[1].split()[0] if ": " in text else "?"
            legal = "(legal: safe)" in name
            ok = os.WIFEXITED(status) and (
                (legal and os.WEXITSTATUS(status) == 0 and verdict == "safe")
                or (not legal and os.WEXITSTATUS(status) in (1, 2) and verdict in ("unsafe", "malformed")))
            ok = ok and rss_mib <= 256
            failures += not ok
            print(f"{name:40} {verdict:10} {secs:8.2f} {rss_mib:13.0f}{'' if ok else '   FAIL'}")
            os.remove(path)
    print(f"{len(ATTACKS) - failures} passed, {failures} failed")
    return 1 if (a.check and failures) else 0


if __name__ == "__main__":
    sys.exit(main())
