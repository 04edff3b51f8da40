"""Tar V7 polyglots for the hostile corpus (imported by gen_hostile.py).

torch.load on a path that does not start with PK\\3\\4 first calls
`tarfile.open(fileobj=f, mode="r:")` and, if that does not raise TarError, reads the file as a
<= 0.1.9 tar checkpoint: it extracts the member `storages` and unpickles it with the caller's
pickle module (torch 1.13 and 2.x, weights_only=False; torch 2.x refuses the tar path under
weights_only=True). CPython's tarfile accepts the old V7 format: no magic, only a 512-byte header
whose checksum field (parsed by tarfile.nti: octal text in Python's int() syntax, or base-256)
equals the unsigned or the signed byte sum of the header. A pickle can carry such a header in its
first 512 bytes (inside a bytes operand), so one file is a benign pickle to pthsafe's old
detection and a tar with a payload `storages` member to torch.

Every file built here is checked with tarfile itself (it opens, and `storages` is a member) and
statically with pickletools (the pickle interpretation is complete). That torch really takes the
tar path for them is checked by tests/hostile/check_tar_torch.py with torch 1.13 and 2.x (it never
unpickles a payload: it hands torch a pickle module that only records which file torch asked it
to read). Near misses (checksum off by one, an invalid numeric field) are built too: tarfile
refuses them, so torch reads them as the pickles they also are.
"""

import io
import pickletools
import struct
import tarfile

BLOCK = 512


def u32(n): return struct.pack("<I", n)
def u64(n): return struct.pack("<Q", n)


def sums(block):
    """tarfile.calc_chksums: (unsigned, signed), the checksum field counted as 8 spaces."""
    body = bytes(block[:148]) + bytes(block[156:512])
    unsigned = 256 + sum(body)
    signed = 256 + sum(b - 256 if b > 127 else b for b in body)
    return unsigned, signed


def checksum_field(value, style):
    """The 8 bytes of a checksum field that tarfile.nti reads as `value`."""
    if style == "octal":          # what tarfile itself writes
        f = b"%06o\0 " % value
    elif style == "negative":     # Python int() syntax: a sign
        f = (b"%o" % value if value >= 0 else b"-%o" % -value).ljust(7, b"\0") + b" "
    elif style == "base256":      # first byte 0o200: big-endian in the other 7
        f = b"\x80" + value.to_bytes(7, "big")
    elif style == "pyint":        # 0o prefix, an underscore, surrounding whitespace ('\x1c' too)
        o = b"%o" % value
        f = b"0o" + o[:1] + b"_" + o[1:] if len(o) > 1 else b"0o" + o
        f = (b"\x1c" + f if len(f) < 8 else f).ljust(8, b"\0")
    else:
        raise ValueError(style)
    assert len(f) == 8 and tarfile.nti(f) == value, (style, f)
    return f


def header(name, size, typ=b"0", linkname=b""):
    """A V7 header (no magic) for a member; checksum set by seal()."""
    b = bytearray(BLOCK)
    b[0:len(name)] = name
    b[100:108] = b"0000644\0"
    b[124:136] = b"%011o\0" % size
    b[156:157] = typ
    b[157:157 + len(linkname)] = linkname
    return b


def seal(block, style="octal", signed=False, off_by=0):
    block[148:156] = b" " * 8
    value = sums(block)[1 if signed else 0] + off_by
    block[148:156] = checksum_field(value, style)
    return block


def members(payload, typ=b"0", linkname=b""):
    """Header + data of the member `storages`, then the two zero blocks that end an archive."""
    data = b"" if typ == b"2" else payload
    h = seal(header(b"storages", len(data), typ, linkname))
    padded = data + b"\0" * (-len(data) % BLOCK)
    return bytes(h) + padded + b"\0" * (2 * BLOCK)


def tar_view(data):
    """The member names tarfile sees, or None where tarfile.open raises."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
            return t.getnames()
    except tarfile.TarError:
        return None


def pickle_ends(data, count):
    """Offsets after each of the first `count` pickles of data (static walk, nothing runs)."""
    ends, pos = [], 0
    for _ in range(count):
        end = None
        for op, _arg, p in pickletools.genops(io.BytesIO(data[pos:])):
            if op.name == "STOP":
                end = pos + p + 1
                break
        assert end is not None
        ends.append(end)
        pos = end
    return ends


def bare_pickle_tar(payload, style="octal", signed=False, off_by=0, typ=b"0", linkname=b"", bad_mode=False):
    """PROTO 3, BINBYTES(the rest of a tar image), STOP: one valid pickle of a bytes value whose
    first 512 bytes are a V7 header (member 1: empty file named by the pickle's first bytes)
    and whose operand holds member 2, `storages`."""
    rest = members(payload, typ, linkname)
    prefix_len = 2 + 1 + 4
    operand_len = BLOCK - prefix_len + len(rest)
    first = header(b"", 0)
    first[0:prefix_len] = b"\x80\x03B" + u32(operand_len)
    if bad_mode:
        first[100:108] = b"0000948\0"  # '9' and '8' are no octal digits: nti raises
    seal(first, style, signed, off_by)
    data = bytes(first) + rest + b"."
    assert pickle_ends(data, 1) == [len(data)]
    return data


def legacy_tar(pickles, payload, typ=b"0", linkname=b""):
    """A legacy stream (magic, protocol, sys_info, main, keys pickles, then one uint8 storage)
    whose first 512 bytes are also a V7 header: the sys_info pickle is a dict whose str value
    spans header offsets 35..511 (torch ignores sys_info's contents). Member 1's data runs to a
    512-aligned offset inside the storage bytes, where the header of `storages` sits.

    `pickles(storage_len)` -> (magic, protocol, sys_info_head, sys_info_tail, main, keys): the
    sys_info pickle is head + BINUNICODE(pad) + tail."""
    rest = members(payload, typ, linkname)
    # The storage holds zeros up to the member-2 header, then `rest`: its length depends on
    # where it starts, which depends on the pickles (whose operand lengths depend on it).
    numel = 0
    for _ in range(8):
        magic, proto, head, tail, main, keys = pickles(numel)
        pad_at = len(magic) + len(proto) + len(head) + 5
        assert pad_at < 100
        pad_len = BLOCK - pad_at
        prefix = magic + proto + head + b"X" + u32(pad_len)  # BINUNICODE: the header bytes are ASCII
        body = tail + main + keys + u64(numel)
        storage_at = BLOCK + len(body)
        member2 = storage_at + (-storage_at % BLOCK)
        want = member2 - storage_at + len(rest)
        if want == numel:
            break
        numel = want
    block = bytearray(BLOCK)
    block[0:len(prefix)] = prefix
    block[100:108] = b"0000644\0"
    block[124:136] = b"%011o\0" % (member2 - BLOCK)
    block[156:157] = b"0"
    seal(block)
    storage = b"\0" * (member2 - storage_at) + rest
    data = bytes(block) + body + storage
    assert len(storage) == numel
    ends = pickle_ends(data, 5)
    assert data[ends[4]:ends[4] + 8] == u64(numel) and len(data) == ends[4] + 8 + numel
    return data
