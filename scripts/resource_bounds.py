#!/usr/bin/env python3
"""Hostile 64 MiB inputs against `pthsafe scan` (and tiny expanding ones against `inspect`,
`inspect --json` and `load --json`): prints seconds and peak RSS for each.

With --check (the ctest `resource_bounds`), fails when a scan crashes (signal), says "safe", or
peaks above 256 MiB resident. Times are printed, never asserted (timings are not tests).
Files are generated one at a time in a temporary directory and deleted after use."""
import argparse, os, struct, sys, tempfile, time

sys.dont_write_bytecode = True  # keep tests/ free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
from pickle_emit import PROTO2 as PROTO, long_binget, long_binput  # noqa: E402  (tests/support/pickle_emit.py)

M = 64 << 20


def fill(unit, prefix=b"", suffix=b"."):
    n = (M - len(PROTO) - len(prefix) - len(suffix)) // len(unit)
    return PROTO + prefix + unit * n + suffix


def memo_puts():
    body = bytearray(b"N")
    i = 0
    while len(body) < M - 16:
        body += long_binput(i)
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
    def chain(base):
        out = b")" + long_binput(base)
        for k in range(64):
            out += b"0" + long_binget(base + k) + long_binget(base + k) + b"\x86" + long_binput(base + k + 1)
        return out
    tail = b"}" + chain(0) + b"K\x01s" + chain(100) + b"K\x02s."
    pad = M - len(PROTO) - len(tail) - 10
    return PROTO + b"\x8e" + struct.pack("<Q", pad) + b"\0" * pad + b"0" + tail


MASK64 = (1 << 64) - 1


def _unmix(h):
    # Inverse of the unkeyed 64-bit finaliser pthsafe hashed int keys with before it switched to
    # a keyed SipHash (h ^= h >> 33; h *= C1; h ^= h >> 33; h *= C2; h ^= h >> 33).
    def unxorshift(x):
        return x ^ (x >> 33)  # 33 >= 32: one application undoes it
    h = unxorshift(h)
    h = (h * pow(0xc4ceb9fe1a85ec53, -1, 1 << 64)) & MASK64
    h = unxorshift(h)
    h = (h * pow(0xff51afd7ed558ccd, -1, 1 << 64)) & MASK64
    return unxorshift(h)


def long1(n):
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def colliding_ints(count):
    # Ints whose old index slot (mix(mix(x)) & mask) is 0 for every table size up to 2^22: every
    # key probed past all the others (quadratic) under the old hash.
    out, k = [], 1
    while len(out) < count:
        x = _unmix(_unmix(k << 22))
        if x < (1 << 63):
            out.append(x)
        k += 1
    return out


def colliding_dict_keys():
    keys = colliding_ints(1 << 18)
    body = b"}(" + b"".join(long1(x) + b"N" for x in keys) + b"u"
    return PROTO + body + b"."


def colliding_set_items():
    keys = colliding_ints(1 << 18)
    return PROTO + b"\x8f(" + b"".join(long1(x) for x in keys) + b"\x90."


def copies(callable_global, arg_unit, n_items, calls):
    # One container of n_items (memo 0), then `calls` calls of an allowed callable on it, each of
    # which copies it: 1 MiB of pickle asking for gigabytes.
    body = b"(" + arg_unit * n_items + b"t" + b"r\x00\x00\x00\x00" + b"0("
    body += (callable_global + b"j\x00\x00\x00\x00\x85R0") * calls
    return PROTO + body + b"1N."


def size_copies():
    return copies(b"ctorch\nSize\n", b"K\x07", 1 << 20, 4000)


def set_copies():
    return copies(b"c__builtin__\nset\n", b"K\x07", 1 << 20, 4000)


def bytearray_list_copies():
    return copies(b"c__builtin__\nbytearray\n", b"K\x07", 1 << 20, 4000)


def ordered_dict_copies():
    d = b"}(" + b"".join(b"J" + struct.pack("<i", i) + b"N" for i in range(1 << 20)) + b"ur\x00\x00\x00\x000("
    body = d + (b"ccollections\nOrderedDict\nj\x00\x00\x00\x00\x85R0") * 4000
    return PROTO + body + b"1N."


def bytearray_n():
    # A 40-byte pickle asking for bytearray(2**27) ten times.
    return PROTO + b"(" + b"c__builtin__\nbytearray\nJ\x00\x00\x00\x08\x85R" * 10 + b"l."


def bytearray_bytes_copies():
    blob = b"B" + struct.pack("<I", 1 << 20) + b"x" * (1 << 20) + b"r\x00\x00\x00\x000("
    return PROTO + blob + (b"c__builtin__\nbytearray\nj\x00\x00\x00\x00\x85R0") * 100000 + b"1N."


def attribute_flood():
    # _rebuild_parameter_with_state(tensor, False, OrderedDict(), state) where state holds 256 Ki
    # distinct attribute names: indexed, not scanned linearly per name. A bare pickle has no
    # storages, so the tensor is torch.Tensor() (an empty tensor, as legacy files build).
    names = b"".join(b"X" + struct.pack("<I", 8) + b"a%07d" % i + b"N" for i in range(1 << 18))
    return (PROTO + b"ctorch._utils\n_rebuild_parameter_with_state\n(ctorch\nTensor\n)R\x89"
            b"ccollections\nOrderedDict\n)R}(" + names + b"utR.")


def equal_big_int_keys(opcode, width):
    # Two distinct but equal big ints (memo 0 and 1) used as one dict key again and again: each
    # 4-byte SETITEM compares them. Decimal conversion per comparison made 88 KB take 93 s.
    raw = b"\xff" * (width - 1) + b"\x7f"
    big = opcode + (struct.pack("<I", width) if opcode == b"\x8b" else bytes([width])) + raw
    return fill(b"h\x01Ns", prefix=b"}" + big + b"q\x00Ns" + big + b"q\x01Ns")


def equal_long_str_keys():
    # The same with two equal 1 MiB strings: each comparison reads a MiB.
    s = b"X" + struct.pack("<I", 1 << 20) + b"k" * (1 << 20)
    return fill(b"h\x01Ns", prefix=b"}" + s + b"q\x00Ns" + s + b"q\x01Ns")


def equal_frozenset_keys():
    # Two equal frozensets of 100,000 ints used as one dict key: each comparison indexes one.
    ints = b"".join(b"J" + struct.pack("<i", i) for i in range(100000))
    f1, f2 = b"(" + ints + b"\x91q\x00", b"(" + ints + b"\x91q\x01"
    return PROTO.replace(b"\x02", b"\x04") + fill(b"h\x01Ns", prefix=f1 + b"0" + f2 + b"0}h\x00Ns")[len(PROTO):]


def small_lists(n):
    # n one-item lists in one list: per-node costs the tree budget must see (allocator blocks,
    # spare capacity, the walkers' maps), or 1.45 M of them (5.8 MB) peak past 256 MiB.
    return PROTO + b"]" + b"]Naa" * n + b"."


def many_entries(n):
    """A zip of n empty stored records a/data/<base 36> after a tiny data.pkl and version: libzip
    keeps ~500 bytes an entry (bench/NOTES.md 36), charged to max_tree_bytes before it opens."""
    import zlib
    loc, cen = bytearray(), bytearray()

    def add(name, data):
        off, crc = len(loc), zlib.crc32(data)
        loc.extend(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0))
        loc.extend(name + data)
        cen.extend(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, len(data), len(data),
                               len(name), 0, 0, 0, 0, 0, off))
        cen.extend(name)

    def b36(i):
        s = ""
        while True:
            s = "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36] + s
            i //= 36
            if not i:
                return s

    add(b"a/data.pkl", PROTO + b"}q\x00.")
    add(b"a/version", b"3\n")
    for i in range(n):
        add(b"a/data/" + b36(i).encode(), b"")
    count = n + 2
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(cen), len(loc))
    locator = struct.pack("<IIQI", 0x07064B50, 0, len(loc) + len(cen), 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(loc + cen + z64 + locator + eocd)


ATTACKS = {
    "600,000 empty zip entries (56 MiB)": lambda: many_entries(600_000),
    "1-item lists in one list": lambda: fill(b"]Naa", prefix=b"]"),
    "1.45 M 1-item lists (5.8 MB)": lambda: small_lists(1_450_000),
    "equal 4096-byte LONG4 keys": lambda: equal_big_int_keys(b"\x8b", 4096),
    "equal 255-byte LONG1 keys": lambda: equal_big_int_keys(b"\x8a", 255),
    "equal 1 MiB str keys": equal_long_str_keys,
    "equal 100,000-int frozenset keys": equal_frozenset_keys,
    "empty lists + POP (node flood)": lambda: fill(b"]0"),
    "tuples + POP": lambda: fill(b")0"),
    "floats + POP": lambda: fill(b"G\x00\x00\x00\x00\x00\x00\x00\x000"),
    "1-char strings + POP": lambda: fill(b"X\x01\x00\x00\x00a0"),
    "None appended to one list": lambda: fill(b"Na", prefix=b"]"),
    "dict value replaced": lambda: fill(b"(K\x00]u", prefix=b"}"),
    "MARK flood": lambda: fill(b"("),
    "distinct LONG_BINPUT indices": memo_puts,
    "255-byte LONG1 ints + POP": lambda: fill(b"\x8a\xff" + b"\x01" * 255 + b"0"),
    "billion laughs via memo": laughs,
    "4 GiB BINUNICODE length": lambda: PROTO + b"X\xff\xff\xff\xff" + b"a" * (M - 16),
    "deep list nesting (EMPTY_LIST, APPEND)": lambda: fill(b"]a", prefix=b"]"),
    "equal dict keys of shared tuples": equal_shared_keys,
    "256 Ki dict keys colliding (old hash; safe)": colliding_dict_keys,
    "256 Ki set items colliding (old hash; safe)": colliding_set_items,
    "torch.Size(t) of a 1 Mi tuple x 4000": size_copies,
    "set(t) of a 1 Mi tuple x 4000": set_copies,
    "bytearray(t) of a 1 Mi tuple x 4000": bytearray_list_copies,
    "OrderedDict(d) of a 1 Mi dict x 4000": ordered_dict_copies,
    "bytearray(2**27) x 10 from 200 bytes": bytearray_n,
    "bytearray(b) of 1 MiB x 100000": bytearray_bytes_copies,
    "256 Ki tensor attribute names (legal: safe)": attribute_flood,
}


def shared_bytearray():
    # ~100 bytes: bytearray(2**20) once, then a list referencing it 2**20 times through the memo
    # (doubling lists). Written out, it is 2 TiB of hex; the output limits must stop it.
    body = b"c__builtin__\nbytearray\nJ\x00\x00\x10\x00\x85Rq\x00"
    for i in range(20):
        body += b"(h%ch%clq%c" % (i, i, i + 1)
    return PROTO + body + b"."


# Output commands on inputs that expand when written: they must stop within the same bounds (a
# refusal is fine: exit 2); only a crash or an RSS overrun fails.
def attr_name_fanout():
    # An OrderedDict whose one attribute name is 100,000 bytes, referenced 400,000 times: the
    # text tree printed the whole name on every visit (40 GB); JSON counts names' bytes too.
    name = b"A" * 100000
    od = b"ccollections\nOrderedDict\n)R}(X" + struct.pack("<I", len(name)) + name + b"Nubq\x00"
    return PROTO + b"]" + od + b"a(" + b"h\x00" * 400000 + b"e."


OUTPUT_ATTACKS = {
    "100 KB attribute name shared 400,000 times": attr_name_fanout,
    "1.45 M 1-item lists": lambda: small_lists(1_450_000),
    "billion laughs via memo": laughs,
    "1 MiB bytearray shared 2**20 times": shared_bytearray,
}


def run(cli, argv, path, d):
    t = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        out = os.open(os.path.join(d, "out.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.execv(cli, [cli] + argv + [path])
    _, status, ru = os.wait4(pid, 0)
    return status, time.monotonic() - t, ru.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    failures = 0
    print(f"{'input (<= 64 MiB)':40} {'verdict':10} {'seconds':>8} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "attack.pkl")
        for name, make in ATTACKS.items():
            with open(path, "wb") as f:
                f.write(make())
            status, secs, rss_mib = run(a.cli, ["scan"], path, d)
            text = open(os.path.join(d, "out.txt"), errors="replace").read()
            verdict = text.split(": ", 1)[1].split()[0] if ": " in text else "?"
            legal = "(legal: safe)" in name or "; safe)" in name
            ok = os.WIFEXITED(status) and (
                (legal and os.WEXITSTATUS(status) == 0 and verdict == "safe")
                or (not legal and os.WEXITSTATUS(status) in (1, 2) and verdict in ("unsafe", "malformed")))
            ok = ok and rss_mib <= 256
            failures += not ok
            print(f"{name:40} {verdict:10} {secs:8.2f} {rss_mib:13.0f}{'' if ok else '   FAIL'}")
            os.remove(path)
        for name, make in OUTPUT_ATTACKS.items():
            with open(path, "wb") as f:
                f.write(make())
            for argv in (["inspect"], ["inspect", "--json"], ["load", "--json"]):
                status, secs, rss_mib = run(a.cli, argv, path, d)
                ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 1, 2) and rss_mib <= 256
                failures += not ok
                label = f"{' '.join(argv)}: {name}"
                print(f"{label:40} {'exit ' + str(os.WEXITSTATUS(status)) if os.WIFEXITED(status) else 'signal':10} "
                      f"{secs:8.2f} {rss_mib:13.0f}{'' if ok else '   FAIL'}")
            os.remove(path)
        total = len(ATTACKS) + 3 * len(OUTPUT_ATTACKS)
    print(f"{total - failures} passed, {failures} failed")
    return 1 if (a.check and failures) else 0


if __name__ == "__main__":
    sys.exit(main())
