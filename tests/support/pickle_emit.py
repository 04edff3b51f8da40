"""Pickle opcodes and a torch-like zip writer, byte for byte, for the Python generators.

Shared by tests/hostile/gen_hostile.py (hostile corpus), scripts/resource_bounds.py (64 MiB
inputs), tests/cli/check_output_escaping.py and tests/differential/pickle_oracle.py: each writes
pickles opcode by opcode (a file the standard pickler would never produce is the point) and some
wrap them in the zip layout torch writes. Standard library only; nothing here imports torch.

    from pickle_emit import pk, call, enc, uni, glob, Rec, build_zip

Opcode helpers return bytes; `enc` encodes plain Python values as protocol-2 opcodes (bytes
through _codecs.encode, as protocol 2 spells them). Changing any byte a helper emits changes
committed generated files: regenerate them and review the diff.
"""
import pickle
import struct
import zlib

__all__ = [
    "u8", "u16", "u32", "i32", "u64",
    "PROTO2", "STOP", "MARK", "POP", "TUPLE", "REDUCE", "BUILD", "NONE", "EMPTY_TUPLE", "EMPTY_LIST",
    "EMPTY_DICT", "NEWOBJ", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "BINPERSID", "NEWFALSE", "NEWTRUE",
    "STACK_GLOBAL", "MEMOIZE",
    "glob", "uni", "suni", "integer", "put", "get", "long_binput", "long_binget", "enc", "Raw", "call", "callv", "pk",
    "Rec", "build_zip", "raw_deflate",
]


def u8(n): return struct.pack("<B", n)
def u16(n): return struct.pack("<H", n)
def u32(n): return struct.pack("<I", n)
def i32(n): return struct.pack("<i", n)
def u64(n): return struct.pack("<Q", n)


PROTO2 = b"\x80\x02"
STOP = b"."
MARK = b"("
POP = b"0"
TUPLE = b"t"
REDUCE = b"R"
BUILD = b"b"
NONE = b"N"
EMPTY_TUPLE = b")"
EMPTY_LIST = b"]"
EMPTY_DICT = b"}"
NEWOBJ = b"\x81"
APPEND = b"a"
APPENDS = b"e"
SETITEM = b"s"
SETITEMS = b"u"
BINPERSID = b"Q"
NEWFALSE = b"\x89"
NEWTRUE = b"\x88"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"


def glob(mod, name):                      # GLOBAL (str, or bytes spelled exactly)
    def raw(s): return s if isinstance(s, bytes) else s.encode()
    return b"c" + raw(mod) + b"\n" + raw(name) + b"\n"


def uni(s):                               # BINUNICODE
    b = s.encode("utf-8", "surrogatepass")
    return b"X" + u32(len(b)) + b


def suni(s):                              # SHORT_BINUNICODE (protocol 4)
    b = s.encode()
    return b"\x8c" + u8(len(b)) + b


def integer(n):                           # BININT1 / BININT2 / BININT / LONG1
    if 0 <= n < 256:
        return b"K" + u8(n)
    if 0 <= n < 65536:
        return b"M" + u16(n)
    if -2**31 <= n < 2**31:
        return b"J" + i32(n)
    b = pickle.encode_long(n)
    assert len(b) < 256
    return b"\x8a" + u8(len(b)) + b


def put(i): return b"q" + u8(i) if i < 256 else b"r" + u32(i)   # BINPUT / LONG_BINPUT
def get(i): return b"h" + u8(i) if i < 256 else b"j" + u32(i)   # BINGET / LONG_BINGET
def long_binput(i): return b"r" + u32(i)                          # LONG_BINPUT at any index
def long_binget(i): return b"j" + u32(i)                          # LONG_BINGET at any index


def enc(v):
    """Encode a plain value: str, int, bool, None, bytes (via _codecs.encode), tuple, list, raw."""
    if isinstance(v, Raw):
        return v.b
    if v is None:
        return NONE
    if v is True:
        return NEWTRUE
    if v is False:
        return NEWFALSE
    if isinstance(v, int):
        return integer(v)
    if isinstance(v, float):
        return b"G" + struct.pack(">d", v)
    if isinstance(v, str):
        return uni(v)
    if isinstance(v, bytes):              # protocol 2 bytes: _codecs.encode(latin-1 text, 'latin1')
        return glob("_codecs", "encode") + MARK + uni(v.decode("latin-1")) + uni("latin1") + TUPLE + REDUCE
    if isinstance(v, tuple):
        return MARK + b"".join(enc(x) for x in v) + TUPLE
    if isinstance(v, list):
        return EMPTY_LIST + (MARK + b"".join(enc(x) for x in v) + APPENDS if v else b"")
    if isinstance(v, dict):
        return EMPTY_DICT + (MARK + b"".join(enc(k) + enc(x) for k, x in v.items()) + SETITEMS if v else b"")
    raise TypeError(type(v))


class Raw:
    def __init__(self, b): self.b = b


def call(mod, name, *args):
    """GLOBAL mod name; MARK args TUPLE; REDUCE  -> leaves mod.name(*args) on the stack."""
    return glob(mod, name) + enc(tuple(args)) + REDUCE


def callv(fn_bytes, *args):
    """REDUCE on whatever fn_bytes pushes."""
    return fn_bytes + enc(tuple(args)) + REDUCE


def pk(body):
    """A whole protocol-2 pickle whose result is what `body` leaves on the stack."""
    return PROTO2 + body + STOP


# =========================================================================== zip writer
# Reproduces torch's writer (miniz via PyTorchStreamWriter) byte for byte: local header with
# flags 0x0808 and zero CRC/sizes, an 'FB' extra field padding the data to 64 bytes, a data
# descriptor, a central directory, then zip64 EOCD + locator + classic EOCD. Every knob below
# exists to produce one lie.

class Rec:
    def __init__(self, name, data, method=0, **kw):
        self.name = name
        self.data = data
        self.method = method
        self.local_name = kw.get("local_name", name)   # name in the local header
        self.crc = kw.get("crc")                       # override the CRC (central + descriptor)
        self.local_flags = kw.get("local_flags", 0x0808)
        self.central_flags = kw.get("central_flags", 0x0808)
        self.usize = kw.get("usize")                   # override the declared uncompressed size
        self.csize = kw.get("csize")                   # override the declared compressed size
        self.force_zip64_extra = kw.get("zip64_extra", False)
        self.offset_override = kw.get("offset")        # central directory's local header offset
        self.method_central = kw.get("method_central", method)
        self.method_local = kw.get("method_local", method)
        self.ext_attr = kw.get("ext_attr", 0)          # central external attributes (0x10: DOS dir)
        self.payload = None                            # filled by the writer (compressed bytes)


def build_zip(records, prepend=b"", append=b"", zip64_eocd_patch=None, eocd_patch=None, alignment=64, shift=0,
              comment=b"", comment_len=None):
    """shift: file offset at which these bytes will sit (every offset written is absolute);
    comment / comment_len: the EOCD comment and the length its field declares."""
    out = bytearray(prepend)
    base = len(prepend) - shift
    offsets = []
    for r in records:
        payload = r.data if r.method == 0 else raw_deflate(r.data)
        r.payload = payload
        cursor = len(out) - base
        name = r.local_name.encode()
        start = cursor + 30 + len(name) + 4
        pad = (alignment - start % alignment) % alignment
        extra = b"FB" + u16(pad) + b"Z" * pad
        out += b"PK\x03\x04" + u16(0) + u16(r.local_flags) + u16(r.method_local) + u16(0) + u16(0)
        out += u32(0) + u32(0) + u32(0) + u16(len(name)) + u16(len(extra)) + name + extra
        out += payload
        crc = r.crc if r.crc is not None else zlib.crc32(r.data)
        if payload:
            out += b"PK\x07\x08" + u32(crc) + u32(len(payload)) + u32(len(r.data))
        offsets.append(cursor)
    cd_start = len(out) - base
    for r, off in zip(records, offsets):
        crc = r.crc if r.crc is not None else zlib.crc32(r.data)
        usize = r.usize if r.usize is not None else len(r.data)
        csize = r.csize if r.csize is not None else len(r.payload)
        off = r.offset_override if r.offset_override is not None else off
        extra = b""
        if r.force_zip64_extra or usize >= 0xFFFFFFFF or csize >= 0xFFFFFFFF:
            extra = u16(1) + u16(16) + u64(usize) + u64(csize)
            usize32 = csize32 = 0xFFFFFFFF
        else:
            usize32, csize32 = usize, csize
        name = r.name.encode()
        out += b"PK\x01\x02" + u16(0) + u16(0) + u16(r.central_flags) + u16(r.method_central) + u16(0) + u16(0)
        out += u32(crc) + u32(csize32) + u32(usize32) + u16(len(name)) + u16(len(extra)) + u16(0)
        out += u16(0) + u16(0) + u32(r.ext_attr) + u32(off) + name + extra
    cd_size = len(out) - base - cd_start
    n = len(records)
    z64 = {"made_by": 0x031E, "needed": 0x2D, "entries": n, "entries_total": n, "cd_size": cd_size,
           "cd_offset": cd_start}
    if zip64_eocd_patch:
        z64.update(zip64_eocd_patch)
    z64_at = len(out) - base
    out += b"PK\x06\x06" + u64(44) + u16(z64["made_by"]) + u16(z64["needed"]) + u32(0) + u32(0)
    out += u64(z64["entries"]) + u64(z64["entries_total"]) + u64(z64["cd_size"]) + u64(z64["cd_offset"])
    out += b"PK\x06\x07" + u32(0) + u64(z64_at) + u32(1)
    e = {"entries": n, "entries_total": n, "cd_size": cd_size, "cd_offset": cd_start}
    if eocd_patch:
        e.update(eocd_patch)
    out += b"PK\x05\x06" + u16(0) + u16(0) + u16(e["entries"]) + u16(e["entries_total"])
    out += u32(e["cd_size"]) + u32(e["cd_offset"]) + u16(len(comment) if comment_len is None else comment_len) + comment
    out += append
    return bytes(out)


def raw_deflate(data, level=9):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()
