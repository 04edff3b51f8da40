#!/usr/bin/env python3
"""Differential oracle: pthsafe's unpickler against CPython's two unpicklers.

    tests/differential/pickle_oracle.py --cli PATH [--count N] [--seed S] [--keep DIR]
                                        [--strict] [--verbose] [--no-probes]

Standard library only, offline. Generates N pickle streams:

  (a) pickle.dumps of random data objects (None, bools, ints incl. huge and negative, floats incl.
      nan/inf/-0.0/subnormals, str incl. surrogates/emoji, bytes, bytearray, complex, tuples,
      lists, dicts with mixed hashable keys incl. 1/1.0/True collisions, sets, frozensets,
      OrderedDicts with attributes, nesting, shared references, the odd cycle) under protocols
      0..5 with both pickle._Pickler (pure Python) and _pickle.Pickler (C);
  (b) opcode streams built from the data-only opcodes of protocols 0-5 (and, rarely, the opcodes
      pthsafe always refuses), with tricky operands (text INT/LONG/FLOAT/STRING/UNICODE forms the
      two CPython unpicklers read differently, FRAMEs that straddle or nest, memo games, REDUCE /
      NEWOBJ / BUILD on the allowed globals with odd arguments), then byte- and opcode-level
      mutations of some of them;

plus a fixed list of hand-written probes (--no-probes skips them).

Every stream is loaded by pickle._Unpickler and by _pickle.Unpickler (encoding='utf-8', as torch
loads; find_class admits only builtins.set, builtins.bytearray, builtins.complex, _codecs.encode and
collections.OrderedDict, after the py2 name mapping, which pthsafe applies at every protocol as
torch >= 2.7 does; no persistent_load), and by `pthsafe inspect --json FILE`. Rules:

  * both CPython unpicklers return equal objects (compared as pthsafe's JSON document,
    docs/inspect-json.md, with tests/compare_json.py semantics): pthsafe must print that
    document, or refuse (exit 1/2) for a reason docs/format.md / README list as deliberate
    (non-canonical text operands, FRAME rules, REDUCE/NEWOBJ arguments that are not a tuple,
    cycles, limits, bytes after STOP, refused opcodes, SETITEM(S)/APPEND(S)/ADDITEMS/BUILD/calls
    outside the policy ...); such refusals are classified and counted. A refusal for any other
    reason is reported as "unlisted" (a failure only with --strict);
  * either CPython unpickler refuses, or they disagree (type-exact): pthsafe must refuse.
    When the only refusal is a MemoryError of one CPython implementation (the C unpickler sizes
    its memo array by the largest index: 16 bytes x index), the case is counted as
    resource-dependent and reported, not failed (a failure with --strict);
  * pthsafe must never crash or hang (exit status other than 0/1/2, or 30 s).

Prints a summary "N passed, M failed", the refusal categories, and every failing case (saved under
a temporary directory, or --keep DIR, with its bytes as a Python literal). Exit 1 on failures.
"""

import argparse
import codecs
import collections
import io
import json
import math
import os
import pickle
import pickletools
import random
import re
import resource
import struct
import subprocess
import sys
import tempfile
import warnings

import _codecs
import _compat_pickle
import _pickle

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import compare_json  # noqa: E402  (tests/compare_json.py)

OrderedDict = collections.OrderedDict
DEFAULT_INT_DIGITS = 4300  # CPython's default int <-> str limit, whatever the environment says
TIMEOUT_S = 30
CONVERT_BUDGET = 200000  # JSON nodes per converted object
MAX_DEPTH = 1100         # deeper than pthsafe's max_nesting_depth (1000): refusal expected
MAX_TEXT = 8 << 20       # longer str/bytes are not compared
# The C unpickler allocates its memo array up to twice the largest index (16 bytes per index);
# past this index it is not run (how far it gets depends on the machine's memory).
MAX_C_MEMO_INDEX = 1 << 24


# --------------------------------------------------------------------------- CPython side

ALLOWED = {
    ("builtins", "set"): set,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _codecs.encode,
    ("collections", "OrderedDict"): OrderedDict,
}
GLOBAL_NAMES = {id(v): "%s.%s" % k for k, v in ALLOWED.items()}


def map_py2(module, name):
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    if module in _compat_pickle.IMPORT_MAPPING:
        return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


class _Restricted:
    def find_class(self, module, name):
        obj = ALLOWED.get(map_py2(module, name))
        if obj is None:
            raise pickle.UnpicklingError("global %s.%s is not allowed" % (module, name))
        return obj


class PyUnpickler(_Restricted, pickle._Unpickler):
    pass


class CUnpickler(_Restricted, _pickle.Unpickler):
    pass


def cpython_load(cls, data):
    """('ok', obj) | ('memory', msg) | ('err', msg)"""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", cls(io.BytesIO(data), encoding="utf-8").load()
    except MemoryError as e:
        return "memory", "MemoryError: %s" % (e,)
    except RecursionError as e:
        return "err", "RecursionError: %s" % (e,)
    except Exception as e:  # noqa: BLE001 - any exception is a refusal
        return "err", "%s: %s" % (type(e).__name__, str(e)[:200])


class Unrepresentable(Exception):
    pass


class Cycle(Exception):
    pass


class TooBig(Exception):
    pass


def norm_str(s):
    # JSON cannot tell two escaped surrogates "\ud83d\ude00" from the astral character they pair
    # into (json.loads joins them), so strings are compared with surrogate pairs joined.
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def float_value(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def to_doc(obj):
    """The JSON value pthsafe would print for a CPython object (docs/inspect-json.md)."""
    budget = [CONVERT_BUDGET]
    path = set()
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return _to_doc(obj, budget, path, 0)
    finally:
        sys.set_int_max_str_digits(old)


def _to_doc(v, budget, path, depth):
    budget[0] -= 1
    if budget[0] < 0:
        raise TooBig("more than %d values" % CONVERT_BUDGET)
    if depth > MAX_DEPTH:
        raise TooBig("nested deeper than %d" % MAX_DEPTH)
    if v is None:
        return {"type": "none"}
    tv = type(v)
    if tv is bool:
        return {"type": "bool", "value": v}
    if tv is int:
        return {"type": "int", "value": str(v)}
    if tv is float:
        return {"type": "float", "value": float_value(v)}
    if tv is complex:
        return {"type": "complex", "real": float_value(v.real), "imag": float_value(v.imag)}
    if tv in (str, bytes, bytearray) and len(v) > MAX_TEXT:
        raise TooBig("a %s of %d items" % (tv.__name__, len(v)))
    if tv is str:
        return {"type": "str", "value": norm_str(v)}
    if tv in (bytes, bytearray):
        return {"type": "bytes", "hex": bytes(v).hex()}
    if id(v) in GLOBAL_NAMES and any(v is g for g in ALLOWED.values()):
        return {"type": "global", "value": GLOBAL_NAMES[id(v)]}
    if tv in (tuple, list, set, frozenset, dict, OrderedDict):
        if id(v) in path:
            raise Cycle("a container contains itself")
        path.add(id(v))
        try:
            if tv in (dict, OrderedDict):
                out = {"type": "OrderedDict" if tv is OrderedDict else "dict",
                       "items": [[_to_doc(k, budget, path, depth + 1), _to_doc(x, budget, path, depth + 1)]
                                 for k, x in v.items()]}
                attrs = getattr(v, "__dict__", None) or {}
                if attrs:
                    out["attrs"] = {norm_str(str(k)): _to_doc(x, budget, path, depth + 1) for k, x in attrs.items()}
                return out
            return {"type": tv.__name__, "items": [_to_doc(x, budget, path, depth + 1) for x in v]}
        finally:
            path.discard(id(v))
    raise Unrepresentable("cannot represent %r (type %s)" % (v, tv.__name__))


def _canon(d):
    """A form whose JSON text is equal exactly when tests/compare_json.py calls two documents
    equal: set items sorted (floats and ints stay apart, as compare_json keeps them)."""
    if isinstance(d, dict):
        out = {k: _canon(v) for k, v in d.items()}
        if d.get("type") in compare_json.UNORDERED_TYPES and isinstance(out.get("items"), list):
            out["items"] = sorted(out["items"], key=lambda x: json.dumps(x, sort_keys=True))
        return out
    if isinstance(d, list):
        return [_canon(x) for x in d]
    return d


def docs_equal(a, b):
    ca = json.dumps(_canon(a), sort_keys=True)
    cb = json.dumps(_canon(b), sort_keys=True)
    if ca == cb:
        return True, ""
    if len(ca) + len(cb) > (1 << 20):  # compare_json's set matching is quadratic: no details
        return False, "(documents of %d and %d bytes differ)" % (len(ca), len(cb))
    try:
        compare_json.compare(a, b)
        return True, ""
    except compare_json.Mismatch as m:
        return False, "at %s: %s; expected %s, got %s" % (m.path, m.why, compare_json._short(m.expected),
                                                         compare_json._short(m.actual))


def max_memo_index(data):
    """Largest PUT / BINPUT / LONG_BINPUT index in the stream (as far as it parses)."""
    top = -1
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and isinstance(arg, int):
                top = max(top, arg)
            if op.name == "STOP":
                break
    except Exception:  # noqa: BLE001 - a malformed stream: what parsed so far counts
        pass
    return top


def cpython_verdict(data):
    """(kind, detail): 'accept' with the doc, 'cycle', 'toobig', 'refuse', 'disagree', 'memory'."""
    py = cpython_load(PyUnpickler, data)
    if max_memo_index(data) >= MAX_C_MEMO_INDEX:
        c = ("memory", "not run: memo index >= %d (the C unpickler would allocate 16 bytes per index)"
             % MAX_C_MEMO_INDEX)
    else:
        c = cpython_load(CUnpickler, data)
    if py[0] == "ok" and c[0] == "ok":
        try:
            dp = to_doc(py[1])
            dc = to_doc(c[1])
        except Cycle:
            return "cycle", None
        except TooBig as e:
            return "toobig", str(e)
        except Unrepresentable as e:
            return "disagree", str(e)
        same, why = docs_equal(dp, dc)
        if not same:
            return "disagree", "pickle.py and _pickle differ %s" % why
        return "accept", dp
    if py[0] == "memory" or c[0] == "memory":
        other = c if py[0] == "memory" else py
        if other[0] == "ok":
            return "memory", "%s: %s / %s: %s" % ("py", py[1] if py[0] != "ok" else "ok",
                                                 "C", c[1] if c[0] != "ok" else "ok")
    if py[0] == "ok" or c[0] == "ok":
        return "disagree", "py: %s; C: %s" % ("ok" if py[0] == "ok" else py[1], "ok" if c[0] == "ok" else c[1])
    return "refuse", "py: %s; C: %s" % (py[1], c[1])


# --------------------------------------------------------------------------- pthsafe side

ERR_LINE = re.compile(r"^(?P<where>.*?): (?P<code>[a-z0-9_]+): (?P<msg>.*)$")


SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error: ")


def run_pthsafe(cli, path, timeout=TIMEOUT_S):
    """('ok', doc) | ('refuse', code, message) | ('crash', text)"""
    try:
        p = subprocess.run([cli, "inspect", "--json", path], capture_output=True, timeout=timeout,
                           preexec_fn=_restore_limits)
    except subprocess.TimeoutExpired:
        return ("crash", "timeout after %g s" % timeout)
    err = p.stderr.decode("utf-8", "replace").strip()
    if SANITIZER.search(err):  # a sanitizer's exit status (1 by default) is no refusal
        return ("crash", "sanitizer report: %s" % err[-400:])
    if p.returncode == 0:
        try:
            doc = compare_json.loads(p.stdout.decode("utf-8"))
            return ("ok", doc["root"])
        except (ValueError, KeyError, TypeError) as e:
            return ("crash", "exit 0 but unreadable JSON: %s" % (e,))
    if p.returncode in (1, 2):
        last = err.splitlines()[-1] if err else ""
        m = ERR_LINE.match(last)
        if m:
            return ("refuse", m.group("code"), m.group("msg"))
        return ("refuse", "?", last)
    return ("crash", "exit status %d: %s" % (p.returncode, err[-300:]))


# Deliberate refusals (docs/format.md "Pickle", README "What is accepted and refused"): category
# name, errc codes, and a regular expression the message must match (None: any message).
DELIBERATE = [
    ("non-canonical text operand", ("pickle_bad_text",),
     r"integer operand is not canonical|float operand is not repr|memo index is not a decimal"),
    ("FRAME rules", ("pickle_bad_operand", "pickle_truncated"), r"FRAME"),
    ("REDUCE/NEWOBJ args not a tuple", ("pickle_bad_operand",), r"arguments are not a tuple"),
    ("cycle", ("pickle_cycle",), None),
    ("limits", ("limit_exceeded",), None),
    ("bytes after STOP", ("pickle_trailing_data",), None),
    ("refused opcode", ("pickle_opcode_refused",), None),
    ("SETITEM(S)/APPEND(S)/ADDITEMS target type", ("pickle_setitem_refused", "pickle_append_refused"), None),
    ("SETITEM(S)/APPEND(S)/ADDITEMS target type", ("pickle_bad_operand",), r"ADDITEMS to a non-set"),
    ("call/BUILD outside the allowed targets", ("pickle_call_refused", "pickle_build_refused"), None),
    ("call/BUILD outside the allowed targets", ("bad_rebuild_args",), r"state is not a dict|object state"),
]


def classify_refusal(code, msg):
    for name, codes, rx in DELIBERATE:
        if code in codes and (rx is None or re.search(rx, msg)):
            return name, True
    return "%s: %s" % (code, re.sub(r"\d+", "N", msg)[:90]), False


# --------------------------------------------------------------------------- known pthsafe bugs

def _doc_to_py(d):
    """A hashable Python value for a JSON value made of numbers, text, None, tuples, frozensets."""
    t = d.get("type")
    num = (lambda x: float(x) if isinstance(x, str) else x)
    if t == "int":
        return int(d["value"])
    if t == "bool":
        return d["value"]
    if t == "float":
        return num(d["value"])
    if t == "complex":
        return complex(num(d["real"]), num(d["imag"]))
    if t == "str":
        return ("str", d["value"])
    if t == "bytes":
        return ("bytes", d["hex"])
    if t == "none":
        return None
    if t == "tuple":
        return tuple(_doc_to_py(x) for x in d["items"])
    if t == "frozenset":
        return frozenset(_doc_to_py(x) for x in d["items"])
    raise ValueError(t)


def _has_equal_keys(doc):
    """True if some dict or set of pthsafe's document holds two keys Python holds equal."""
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        pending = [doc]
        while pending:
            d = pending.pop()
            if isinstance(d, list):
                pending.extend(d)
                continue
            if not isinstance(d, dict):
                continue
            pending.extend(v for k, v in d.items() if k in ("items", "attrs") or isinstance(v, (dict, list)))
            if d.get("type") in ("dict", "OrderedDict", "set", "frozenset"):
                keys = [kv[0] for kv in d["items"]] if d["type"] in ("dict", "OrderedDict") else d["items"]
                vals = []
                for k in keys:
                    try:
                        vals.append(_doc_to_py(k))
                    except (ValueError, KeyError, TypeError, OverflowError):
                        pass
                for i in range(len(vals)):
                    for j in range(i + 1, len(vals)):
                        if vals[i] == vals[j]:
                            return True
        return False
    finally:
        sys.set_int_max_str_digits(old)


# Bugs found by this oracle and reported, not yet fixed in src/: a failing case that matches one
# is counted as "known" (and listed), not failed, unless --strict. A fixed bug stops matching by
# itself (its cases pass); then delete its entry. Entries are (name, description, predicate).
# The six found so far (INT '-0', numeric key equality beyond int64 and signed zeros, unhashable
# OrderedDict keys, deep-key recursion, quadratic dedupe and frozenset equality) are fixed; their
# cases stay in the generated set and the probes below.
KNOWN_BUGS = []


def extra_probes():
    """(label, bytes, options): generated probes, some checked against pthsafe alone."""
    n = 40000  # about 11 s each for the quadratic code, well under a second without it
    od = (b"\x80\x02ccollections\nOrderedDict\n](" +
          b"".join(b"J" + struct.pack("<i", i) + b"N\x86" for i in range(n)) + b"e\x85R.")
    fs = b"(" + b"".join(b"J" + struct.pack("<i", i) + b"" for i in range(5000)) + b"\x91"
    fs_rev = b"(" + b"".join(b"J" + struct.pack("<i", i) for i in reversed(range(5000))) + b"\x91"
    return [
        ("deep tuple as dict key", b"}K\x00" + b"\x85" * 400000 + b"Ns.",
         {"cpython": False, "timeout": 20}),
        ("deep tuple as set item", b"\x8f(K\x00" + b"\x85" * 400000 + b"\x90.",
         {"cpython": False, "timeout": 20}),
        ("deep tuple in a frozenset", b"(K\x00" + b"\x85" * 400000 + b"\x91.",
         {"cpython": False, "timeout": 20}),
        ("set(range(%d)), protocol 2" % n, pickle.dumps(set(range(n)), 2), {"timeout": 3}),
        ("OrderedDict(%d pairs)" % n, od, {"timeout": 3}),
        ("40 equal frozensets of 5000 as dict keys",
         b"\x80\x04}(" + b"".join((fs if k % 2 == 0 else fs_rev) + b"K\x01" for k in range(40)) + b"u.",
         {"timeout": 3}),
    ]


def known_bug(data, kind, detail, res):
    for name, _, pred in KNOWN_BUGS:
        try:
            if pred and pred(data, kind, detail, res):
                return name
        except Exception:  # noqa: BLE001 - a predicate never decides a case by crashing
            pass
    return None


# --------------------------------------------------------------------------- (a) data objects

SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.5, 0.1, 1e-310, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                  float("inf"), float("-inf"), float("nan"), 2.0 ** 63, -2.0 ** 63, 2.0 ** 64, 1e20, 1e300,
                  9007199254740993.0, 123456789.125, 1e16, 1e22]
SPECIAL_INTS = [0, 1, -1, 255, 256, 65535, 65536, 2 ** 31 - 1, -2 ** 31, 2 ** 31, 2 ** 32, 2 ** 53 + 1,
                2 ** 63 - 1, -2 ** 63, 2 ** 63, -2 ** 63 - 1, 2 ** 64, 10 ** 20, 2 ** 100, -(2 ** 100), 10 ** 300,
                int(1e300), int(2.0 ** 63)]
SPECIAL_STRS = ["", "a", "hello world", "é", "日本語", "😀", "\ud800", "\udfff", "\ud83d\ude00", "a\nb",
                "back\\slash", "quote'\"", "\x00nul", "\x1a", "\r\n", "\\u0041", "tab\t", "\u0100\u07ff\u0800\uffff",
                "\U0010ffff", "x" * 300]


class ObjGen:
    def __init__(self, rng, proto=5):
        self.r = rng
        self.pool = []
        # Below protocol 4 a frozenset pickles as builtins.frozenset(...), below 3 b'' as
        # builtins.bytes(): globals outside the allowlist. Mostly avoided, to keep coverage.
        self.frozensets = proto >= 4 or rng.random() < 0.1
        self.empty_bytes = proto >= 3 or rng.random() < 0.1

    def num(self):
        r = self.r
        c = r.randrange(8)
        if c == 0:
            return r.choice(SPECIAL_INTS)
        if c == 1:
            return r.choice(SPECIAL_FLOATS)
        if c == 2:
            return r.randrange(-1000, 1000)
        if c == 3:
            return r.getrandbits(r.choice([8, 31, 32, 63, 64, 65, 200, 2000])) * r.choice([1, -1])
        if c == 4:
            return r.uniform(-1e6, 1e6)
        if c == 5:
            return struct.unpack("<d", struct.pack("<Q", r.getrandbits(64)))[0]
        if c == 6:
            return r.choice([True, False])
        return complex(r.choice(SPECIAL_FLOATS + [0.5, 2.0]), r.choice([0.0, -0.0, 1.0, -2.5, float("nan")]))

    def text(self):
        r = self.r
        c = r.randrange(4)
        if c == 0:
            return r.choice(SPECIAL_STRS)
        if c == 1:
            return "".join(chr(r.choice([r.randrange(32, 127), r.randrange(0x80, 0x800), r.randrange(0x800, 0xd800),
                                         r.randrange(0xd800, 0xe000), r.randrange(0x10000, 0x110000)]))
                           for _ in range(r.randrange(0, 12)))
        if c == 2:
            return "".join(r.choice("ab\\u\n'\"0x") for _ in range(r.randrange(0, 10)))
        return "k%d" % r.randrange(100)

    def blob(self):
        r = self.r
        n = r.choice([0, 1, 3, 8, 40, 300] if self.empty_bytes else [1, 3, 8, 40, 300])
        return bytes(r.getrandbits(8) for _ in range(n))

    def hashable(self, depth):
        r = self.r
        c = r.randrange(10)
        if c < 4:
            return self.num()
        if c < 7:
            return self.text()
        if c == 7:
            return self.blob()
        if c == 8 and depth > 0:
            return tuple(self.hashable(depth - 1) for _ in range(r.randrange(0, 4)))
        if c == 9 and depth > 0 and self.frozensets:
            return frozenset(self.hashable(depth - 1) for _ in range(r.randrange(0, 4)))
        return None

    def value(self, depth):
        r = self.r
        if self.pool and r.random() < 0.08:
            return r.choice(self.pool)  # shared reference
        if depth <= 0 or r.random() < 0.35:
            c = r.randrange(6)
            if c == 0:
                return None
            if c == 1:
                return self.text()
            if c == 2:
                return self.blob() if r.random() < 0.7 else bytearray(self.blob())
            return self.num()
        c = r.randrange(8)
        n = r.choice([0, 1, 2, 3, 5, 8, 20])
        if c == 0:
            v = tuple(self.value(depth - 1) for _ in range(n))
        elif c == 1:
            v = [self.value(depth - 1) for _ in range(n)]
        elif c in (2, 3):
            v = {}
            for _ in range(n if c == 2 else 20):
                v[self.hashable(2)] = self.value(depth - 1)
        elif c == 4:
            v = set(self.hashable(2) for _ in range(n))
        elif c == 5 and self.frozensets:
            v = frozenset(self.hashable(2) for _ in range(n))
        elif c == 5:
            v = tuple(self.hashable(2) for _ in range(n))
        else:
            v = OrderedDict((self.hashable(1), self.value(depth - 1)) for _ in range(n))
            if r.random() < 0.4:
                v._metadata = OrderedDict((self.text(), {"version": r.randrange(3)}) for _ in range(r.randrange(3)))
            if r.random() < 0.1:
                setattr(v, self.text() or "x", self.value(depth - 1))
        if isinstance(v, (list, dict, OrderedDict)) and r.random() < 0.01:
            # an occasional cycle: both CPython unpicklers rebuild it, pthsafe refuses it
            if isinstance(v, list):
                v.append(v)
            else:
                v["self"] = v
        self.pool.append(v)
        return v


def dumps_random(rng):
    proto = rng.randrange(0, 6)
    g = ObjGen(rng, proto)
    obj = g.value(rng.choice([1, 2, 3, 4]))
    impl = rng.choice(["py", "C"])
    f = io.BytesIO()
    try:
        (pickle._Pickler if impl == "py" else _pickle.Pickler)(f, protocol=proto).dump(obj)
    except (RecursionError, ValueError):
        return None, None
    return f.getvalue(), "dumps proto %d %s" % (proto, impl)


# --------------------------------------------------------------------------- (b) opcode streams

def le(fmt, v):
    return struct.pack("<" + fmt, v)


def long_bytes(v, pad=0):
    n = (v.bit_length() + 8) // 8 if v else 0
    b = v.to_bytes(n, "little", signed=True) if n else b""
    if pad:
        b += (b"\xff" if v < 0 else b"\x00") * pad
    return b


class Stream:
    """Builds one stream; `bounds` records the opcode boundaries (for FRAMEs and mutations)."""

    def __init__(self, rng, proto):
        self.r = rng
        self.proto = proto
        self.out = bytearray()
        self.bounds = [0]
        self.memo_next = 0   # what MEMOIZE would use (count of distinct indices)
        self.memo = set()    # indices holding something
        self.depth = 0

    def op(self, b):
        self.out += b
        self.bounds.append(len(self.out))

    # -- scalars
    def int_op(self, v):
        r = self.r
        forms = []
        if 0 <= v < 256:
            forms.append(b"K" + bytes([v]))
        if 0 <= v < 65536:
            forms.append(b"M" + le("H", v))
        if -2 ** 31 <= v < 2 ** 31:
            forms.append(b"J" + le("i", v))
        pad = r.choice([0, 0, 0, 1, 8])
        lb = long_bytes(v, pad)
        if len(lb) < 256:
            forms.append(b"\x8a" + bytes([len(lb)]) + lb)
        forms.append(b"\x8b" + le("i", len(lb)) + lb)
        forms.append(b"I" + str(v).encode() + b"\n")
        forms.append(b"L" + str(v).encode() + r.choice([b"L", b""]) + b"\n")
        if r.random() < 0.15:
            forms.append(self.tricky_int_text(v))
        self.op(r.choice(forms))

    def tricky_int_text(self, v):
        r = self.r
        s = str(v)
        t = r.choice([
            "-0", "+" + s.lstrip("-"), " " + s, s + " ", "0" + s, "00" + s, s.replace("0", "_0") if "0" in s[1:] else s + "_0",
            "0x%x" % abs(v), "0o%o" % abs(v), "0b1", "00", "01", "-00", "-01", "000", "0\x00x", s + "\x00", "1e3",
            "9" * 4300, "9" * 4301, "-" + "9" * 4300, "\t" + s, "", "L", "0L", "-0L", "00L", "0x10L",
        ])
        op = r.choice([b"I", b"L"])
        return op + t.encode() + b"\n"

    def float_op(self, v):
        r = self.r
        forms = [b"G" + struct.pack(">d", v), b"F" + repr(v).encode() + b"\n"]
        if r.random() < 0.2:
            t = r.choice(["%.17g" % v, "%r" % v + "0", "+" + repr(v), " " + repr(v), repr(v) + " ", "1e-400", "1e400",
                          "-1e-400", "Infinity", "-inf", "nan", "-nan", "NaN", "inf", "+inf", ".5", "5.", "1E5", "1_0.5",
                          "1.5\x00junk", "0x1p3", "1e", "", "-", "4.9406564584124654e-324", "2.4703282292062328e-324",
                          "1.7976931348623159e308", "0." + "0" * 500 + "1", "1" * 400 + ".0"])
            forms.append(b"F" + t.encode() + b"\n")
        self.op(r.choice(forms))

    def str_op(self, s):
        r = self.r
        u8 = s.encode("utf-8", "surrogatepass")
        forms = [b"X" + le("I", len(u8)) + u8, b"\x8d" + le("Q", len(u8)) + u8]
        if len(u8) < 256:
            forms.append(b"\x8c" + bytes([len(u8)]) + u8)
        esc = (s.replace("\\", "\\u005c").replace("\0", "\\u0000").replace("\n", "\\u000a")
               .replace("\r", "\\u000d").replace("\x1a", "\\u001a"))
        forms.append(b"V" + esc.encode("raw-unicode-escape") + b"\n")
        try:
            strict = s.encode("utf-8")
            forms.append(b"T" + le("i", len(strict)) + strict)
            if len(strict) < 256:
                forms.append(b"U" + bytes([len(strict)]) + strict)
            forms.append(b"S" + self.py2_repr(strict) + b"\n")
        except UnicodeEncodeError:
            pass
        if r.random() < 0.15:
            forms.append(self.tricky_text())
        self.op(r.choice(forms))

    def py2_repr(self, b):
        r = self.r
        q = r.choice([b"'", b'"'])
        out = bytearray(q)
        for ch in b:
            c = bytes([ch])
            if c == q or c == b"\\":
                out += b"\\" + c
            elif ch < 32 or ch >= 127 and r.random() < 0.5:
                out += r.choice([b"\\x%02x" % ch, b"\\%o" % ch, b"\\%03o" % ch])
            else:
                out += c
        return bytes(out + q)

    def tricky_text(self):
        r = self.r
        return r.choice([
            b"S'\\777'\n", b"S'\\q'\n", b"S'a\\'\n", b"S'abc\"\n", b"S'\\x4'\n", b"S'\\x41\\101\\n'\n", b"S'\xff'\n",
            b"S'\xed\xa0\x80'\n", b"S\"\\'\"\n", b"S'\n", b"S''\n", b"S'\\\n", b"S'\\8'\n", b"S'\\u0041'\n",
            b"Sabc\n", b"S'\\\\x41'\n", b"S'\\0'\n", b"S'\\1234'\n",
            b"V\\u0041\n", b"V\\\\u0041\n", b"V\\\\\\u0041\n", b"V\\u004\n", b"V\\U0010ffff\n", b"V\\U00110000\n",
            b"V\\ud800\\udc00\n", b"V\xe9\xff\n", b"V\\x41\n", b"V\\\n", b"V\\U0001F600\n", b"V\\u00e9\\\\\n",
            b"X\x02\x00\x00\x00\xc3\x28", b"X\x03\x00\x00\x00\xed\xa0\x80", b"X\x04\x00\x00\x00\xf4\x90\x80\x80",
            b"X\x02\x00\x00\x00\xc0\x80", b"X\x03\x00\x00\x00\xe0\x80\x80", b"\x8c\x01\x80", b"U\x01\xff",
            b"U\x03\xed\xa0\x80", b"T\xff\xff\xff\xff", b"X\xff\xff\xff\x7f", b"\x8b\xff\xff\xff\xff",
            b"\x8b\x01\x10\x00\x00" + b"\x01" * 0x1001,
        ])

    def bytes_op(self, b):
        r = self.r
        forms = [b"B" + le("I", len(b)) + b, b"\x8e" + le("Q", len(b)) + b]
        if len(b) < 256:
            forms.append(b"C" + bytes([len(b)]) + b)
        self.op(r.choice(forms))

    def global_op(self, module, name):
        if self.r.random() < 0.5 or self.proto < 4:
            self.op(b"c" + module.encode("utf-8", "surrogatepass") + b"\n" + name.encode("utf-8", "surrogatepass") + b"\n")
        else:
            self.str_op(module)
            self.str_op(name)
            self.op(b"\x93")

    def allowed_global(self, what):
        r = self.r
        names = {
            "set": [("builtins", "set"), ("__builtin__", "set")],
            "bytearray": [("builtins", "bytearray"), ("__builtin__", "bytearray")],
            "complex": [("builtins", "complex"), ("__builtin__", "complex")],
            "encode": [("_codecs", "encode")],
            "OrderedDict": [("collections", "OrderedDict"), ("UserDict", "OrderedDict")],
        }[what]
        if r.random() < 0.03:
            names = [("builtins", "frozenset"), ("builtins", "dict"), ("collections", "OrderedDict.fromkeys"),
                     ("builtins", "set.__class__"), ("__builtin__", "bytes"), ("os", "system"), ("builtins", "eval"),
                     ("builtins", "se\udc80t")]
        self.global_op(*r.choice(names))

    def memo_after_push(self):
        r = self.r
        if r.random() > 0.3:
            return
        c = r.randrange(5)
        if c == 0 and self.proto >= 4:
            self.op(b"\x94")
            self.memo.add(self.memo_next)
            self.memo_next = len(self.memo)
            return
        idx = self.memo_next if r.random() < 0.8 else r.choice([0, 1, 5, 255, 256, 4095, 70000, 2 ** 20])
        if c in (0, 1) or idx >= 2 ** 32:
            if r.random() < 0.1:
                txt = r.choice(["%d" % idx, "0%d" % idx, "+%d" % idx, " %d" % idx, "%d_0" % idx, "-1", ""])
            else:
                txt = "%d" % idx
            self.op(b"p" + txt.encode() + b"\n")
        elif c == 2 and idx < 256:
            self.op(b"q" + bytes([idx]))
        else:
            self.op(b"r" + le("I", idx))
        self.memo.add(idx)
        self.memo_next = len(self.memo)

    def get_op(self):
        r = self.r
        idx = r.choice(sorted(self.memo)) if self.memo and r.random() < 0.95 else r.randrange(300)
        c = r.randrange(3)
        if c == 0:
            txt = "%d" % idx if r.random() < 0.9 else r.choice(["0%d" % idx, "+%d" % idx, "%d " % idx, "%d_0" % idx])
            self.op(b"g" + txt.encode() + b"\n")
        elif c == 1 and idx < 256:
            self.op(b"h" + bytes([idx]))
        else:
            self.op(b"j" + le("I", idx))

    # -- values
    def numeric_key(self):
        """One of a few numeric values in any of the types that compare equal to it."""
        r = self.r
        v = r.choice([0, 1, 2, -1, 2 ** 63, -2 ** 63, 2 ** 64, 10 ** 20, 2 ** 53 + 1, 0.5, 1.5, -0.0, 1e300,
                      int(1e300), 2 ** 1000, float(2 ** 1000), complex(0.0, 1.5), complex(-0.0, 1.5),
                      complex(1.5, -0.0), complex(1.5, 0.0)])
        if isinstance(v, complex):
            return self.complex_value(v.real, v.imag)
        forms = ["int", "float", "complex"]
        if isinstance(v, int) and v in (0, 1):
            forms.append("bool")
        f = r.choice(forms)
        if f == "int" and (isinstance(v, int) or float(v).is_integer()):
            self.int_op(int(v))
        elif f == "bool":
            self.op(b"\x88" if v else b"\x89")
        elif f == "complex":
            self.complex_value(float(v) if abs(v) < 1e308 else 0.0, r.choice([0.0, -0.0]))
        else:
            try:
                self.float_op(float(v))
            except OverflowError:
                self.int_op(int(v))

    def complex_value(self, re_, im):
        r = self.r
        self.allowed_global("complex")
        c = r.randrange(4)
        parts = [re_, im] if c < 3 else [re_]
        self.op(b"(")
        for p in parts:
            if r.random() < 0.2 and float(p).is_integer() and abs(p) < 2 ** 62 and not math.copysign(1, p) < 0:
                self.int_op(int(p))
            else:
                self.float_op(float(p))
        self.op(b"t")
        self.op(b"\x81" if r.random() < 0.3 else b"R")

    def scalar(self):
        r = self.r
        c = r.randrange(14)
        if c == 0:
            self.op(b"N")
        elif c == 1:
            self.op(r.choice([b"\x88", b"\x89", b"I00\n", b"I01\n"]))
        elif c in (2, 3):
            self.int_op(r.choice(SPECIAL_INTS + [r.randrange(-300, 300)]))
        elif c == 4:
            self.float_op(r.choice(SPECIAL_FLOATS + [r.uniform(-10, 10)]))
        elif c in (5, 6):
            self.str_op(r.choice(SPECIAL_STRS + ["k%d" % r.randrange(50)]))
        elif c == 7:
            self.bytes_op(bytes(r.getrandbits(8) for _ in range(r.choice([0, 1, 5, 300]))))
        elif c == 8:
            self.numeric_key()
        elif c == 9:
            b = bytes(r.getrandbits(8) for _ in range(r.choice([0, 2, 7])))
            self.op(b"\x96" + le("Q", len(b)) + b)
        elif c == 10:
            self.reduce_bytes()
        elif c == 11:
            self.complex_value(r.choice(SPECIAL_FLOATS), r.choice(SPECIAL_FLOATS))
        elif c == 12:
            self.allowed_global(r.choice(["set", "bytearray", "complex", "encode", "OrderedDict"]))
        else:
            self.op(r.choice([b"\x8a\x00", b"K\x00", b"I0\n", b"L0L\n", b"F0.0\n", b"I-0\n", b"F-0.0\n"]))
        self.memo_after_push()

    def reduce_bytes(self):
        r = self.r
        c = r.randrange(6)
        if c == 0:
            self.allowed_global("encode")
            s = "".join(chr(r.randrange(0, 256)) for _ in range(r.randrange(0, 6)))
            enc = r.choice(["latin1", "latin-1", "LATIN_1", "iso8859-1", "l1", "utf-8", "utf8", "ascii", "U8",
                            "iso-8859-1", "cp1252", "latin 1"])
            self.str_op(s)
            if r.random() < 0.9:
                self.str_op(enc)
                self.op(b"\x86")
            else:
                self.op(b"\x85")
            self.op(b"R")
        elif c == 1:
            self.allowed_global("bytearray")
            self.bytes_op(bytes(r.getrandbits(8) for _ in range(r.randrange(0, 6))))
            self.op(b"\x85R")
        elif c == 2:
            self.allowed_global("bytearray")
            self.op(b"(")
            self.op(b"(")
            for _ in range(r.randrange(0, 4)):
                self.int_op(r.choice([0, 1, 255, 256, -1, 2 ** 70]) if r.random() < 0.2 else r.randrange(256))
            self.op(r.choice([b"l", b"t"]))
            self.op(b"t")
            self.op(b"R")
        elif c == 3:
            self.allowed_global("bytearray")
            self.int_op(r.choice([0, 3, -1, 2 ** 70]))
            self.op(b"\x85R")
        elif c == 4:
            self.allowed_global("bytearray")
            self.str_op("ab\xe9")
            self.str_op("latin-1")
            self.op(b"\x86R")
        else:
            self.allowed_global("bytearray")
            self.op(b")")
            self.op(r.choice([b"R", b"\x81"]))

    def hashable(self, depth):
        r = self.r
        c = r.randrange(10)
        if c < 5:
            self.numeric_key()
            return
        if c < 7:
            self.str_op(r.choice(SPECIAL_STRS[:12] + ["k%d" % r.randrange(30)]))
            return
        if c == 7:
            self.bytes_op(bytes([r.randrange(3)]))
            return
        if c == 8 and depth > 0:
            n = r.randrange(0, 4)
            if n and n <= 3 and r.random() < 0.5:
                for _ in range(n):
                    self.hashable(depth - 1)
                self.op(bytes([0x84 + n]))
            else:
                self.op(b"(")
                for _ in range(n):
                    self.hashable(depth - 1)
                self.op(b"t")
            return
        if c == 9 and depth > 0:
            self.op(b"(")
            for _ in range(r.randrange(0, 4)):
                self.hashable(depth - 1)
            self.op(b"\x91")
            return
        if r.random() < 0.05:
            self.op(b"]")  # unhashable
            return
        self.op(b"N")

    def value(self, depth):
        r = self.r
        if self.memo and r.random() < 0.1:
            self.get_op()
            return
        if depth <= 0 or r.random() < 0.3:
            self.scalar()
            return
        c = r.randrange(11)
        n = r.choice([0, 1, 2, 3, 4, 17, 20])
        if c == 0:  # tuple
            if 1 <= n <= 3 and r.random() < 0.5:
                for _ in range(n):
                    self.value(depth - 1)
                self.op(bytes([0x84 + n]))
            elif n == 0 and r.random() < 0.5:
                self.op(b")")
            else:
                self.op(b"(")
                for _ in range(n):
                    self.value(depth - 1)
                self.op(b"t")
        elif c == 1:  # list
            if r.random() < 0.5:
                self.op(b"(")
                for _ in range(n):
                    self.value(depth - 1)
                self.op(b"l")
            else:
                self.op(b"]")
                self.memo_after_push()
                self.fill_list(n, depth)
        elif c in (2, 3):  # dict
            if c == 2 and r.random() < 0.4:
                self.op(b"(")
                for _ in range(n):
                    self.hashable(2)
                    self.value(depth - 1)
                self.op(b"d")
            else:
                self.op(b"}")
                self.memo_after_push()
                self.fill_dict(n if c == 2 else r.choice([16, 17, 20, 24]), depth)
        elif c == 4:  # set
            self.op(b"\x8f")
            self.memo_after_push()
            while n > 0:
                k = r.randrange(1, n + 1)
                self.op(b"(")
                for _ in range(k):
                    self.hashable(2)
                self.op(b"\x90")
                n -= k
        elif c == 5:  # frozenset
            self.op(b"(")
            for _ in range(n):
                self.hashable(2)
            self.op(b"\x91")
        elif c == 6:  # set(list)
            self.allowed_global("set")
            self.op(b"(")
            self.op(b"(")
            for _ in range(n):
                self.hashable(2)
            self.op(r.choice([b"l", b"l", b"t"]))
            self.op(b"t")
            self.op(b"R")
        elif c == 7:  # OrderedDict
            self.ordered_dict(n, depth)
        elif c == 8:  # DUP / POP games around a value
            self.value(depth - 1)
            self.op(b"2")
            self.op(b"0")
        elif c == 9:
            self.op(b"(")
            self.value(depth - 1)
            self.op(b"1")
            self.value(depth - 1)
        else:
            self.scalar()
        if c not in (8, 9, 10):
            self.memo_after_push()

    def fill_list(self, n, depth):
        r = self.r
        while n > 0:
            if r.random() < 0.4:
                self.value(depth - 1)
                self.op(b"a")
                n -= 1
            else:
                k = r.randrange(0, n + 1)
                self.op(b"(")
                for _ in range(k):
                    self.value(depth - 1)
                self.op(b"e")
                n -= max(k, 1)
        if self.memo and r.random() < 0.02:
            self.get_op()  # may append the list to itself: a cycle
            self.op(b"a")

    def fill_dict(self, n, depth):
        r = self.r
        while n > 0:
            if r.random() < 0.4:
                self.hashable(2)
                self.value(depth - 1)
                self.op(b"s")
                n -= 1
            else:
                k = r.randrange(0, n + 1)
                self.op(b"(")
                for _ in range(k):
                    self.hashable(2)
                    self.value(depth - 1)
                if r.random() < 0.03:
                    self.op(b"N")  # odd number of items
                self.op(b"u")
                n -= max(k, 1)

    def ordered_dict(self, n, depth):
        r = self.r
        self.allowed_global("OrderedDict")
        c = r.randrange(5)
        if c == 0:
            self.op(b")")
            self.op(b"R")
        elif c == 1:
            self.op(b")")
            self.op(b"\x81")
        elif c == 2:  # OrderedDict([(k, v), ...])
            self.op(b"(")
            self.op(b"]")
            for _ in range(n):
                self.hashable(1)
                self.value(depth - 1)
                self.op(r.choice([b"\x86", b"\x86", b"\x86"]))
                self.op(b"a")
            self.op(b"t")
            self.op(b"R")
        elif c == 3:  # OrderedDict({...})
            self.op(b"(")
            self.op(b"}")
            self.fill_dict(n, depth)
            self.op(b"t")
            self.op(b"R")
        else:  # args given as a list (pickle.py accepts, _pickle refuses)
            self.op(b"]")
            self.op(r.choice([b"R", b"\x81"]))
        self.memo_after_push()
        self.fill_dict(r.randrange(0, 4), depth)
        if r.random() < 0.5:
            s = r.randrange(9)
            if s < 5:
                self.op(b"}")
                for _ in range(r.randrange(0, 4)):
                    self.str_op(r.choice(["_metadata", "version", "a", "__dict__", "clear", "k%d" % r.randrange(3)]))
                    self.value(depth - 1)
                    self.op(b"s")
            elif s == 5:
                self.op(b"N")
            elif s == 6:
                self.op(b"}")
                self.op(b"N")
                self.op(b"\x86")
            elif s == 7:
                self.op(b"]")
            else:
                self.op(b"}")
                self.int_op(1)
                self.int_op(2)
                self.op(b"s")
            self.op(b"b")

    def noise(self):
        r = self.r
        c = r.randrange(8)
        if c == 0:
            self.op(b"N")
            self.op(b"0")
        elif c == 1:
            self.op(b"(")
            self.op(b"1")
        elif c == 2:
            self.op(b"(")
            self.op(b"0")  # POP with an empty frame discards the MARK
        elif c == 3:
            self.op(b"\x80" + bytes([r.choice([0, 1, 2, 3, 4, 5, 6])]))
        elif c == 4:
            self.op(b"(")
            self.scalar()
            self.op(b"1")
        elif c == 5:
            self.op(b"N")
            self.op(b"2")
            self.op(b"0")
            self.op(b"0")
        else:
            pass


def frame(body_ops, rng):
    """Splits an opcode sequence into FRAMEs (rarely at wrong places or with wrong lengths)."""
    data, bounds = bytes(body_ops.out), body_ops.bounds
    out = bytearray()
    i = 0
    while i < len(data):
        if rng.random() < 0.3:
            # unframed stretch up to the next boundary
            nxt = next((b for b in bounds if b > i), len(data))
            out += data[i:nxt]
            i = nxt
            continue
        cands = [b for b in bounds if b > i] or [len(data)]
        end = rng.choice(cands[:8])
        if rng.random() < 0.05:
            end = min(len(data), i + rng.randrange(1, 12))  # mid-opcode: an operand straddles
        n = end - i
        if rng.random() < 0.03:
            n += rng.choice([-1, 1, 3, 1000])
        out += b"\x95" + struct.pack("<Q", max(n, 0)) + data[i:end]
        i = end
    return bytes(out)


def build_stream(rng):
    proto = rng.choice([0, 1, 2, 2, 3, 4, 5, 5])
    s = Stream(rng, proto)
    if proto >= 2 or rng.random() < 0.2:
        s.op(b"\x80" + bytes([proto]))
    if rng.random() < 0.3:
        s.noise()
    s.value(rng.choice([1, 2, 3, 4]))
    if rng.random() < 0.2:
        s.noise()
    if rng.random() < 0.1:
        s.value(1)  # a value left on the stack at STOP
    if rng.random() < 0.05:
        s.op(b"(")  # a MARK left open at STOP
    s.op(b".")
    if proto >= 4 and rng.random() < 0.6:
        head = s.out[:2] if s.out[:1] == b"\x80" else b""
        s2 = Stream(rng, proto)
        s2.out = bytearray(s.out[len(head):])
        s2.bounds = [b - len(head) for b in s.bounds if b >= len(head)]
        data = bytes(head) + frame(s2, rng)
    else:
        data = bytes(s.out)
    if rng.random() < 0.02:
        data += rng.choice([b"N.", b"\x00", b"."])
    return data, s.bounds, "ops proto %d" % proto


OPCODES = [bytes([c]) for c in b"(.012FIJKLMNRSTUVXabcdegjlpqrstu}])GhBC" + bytes(range(0x80, 0x99))]


def mutate(data, bounds, rng):
    d = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        if not d:
            break
        c = rng.randrange(7)
        i = rng.randrange(len(d))
        if c == 0:
            d[i] = rng.getrandbits(8)
        elif c == 1:
            d[i:i] = rng.choice(OPCODES)
        elif c == 2:
            del d[i:i + rng.randrange(1, 4)]
        elif c == 3:
            j = rng.randrange(len(d))
            a, b = min(i, j), max(i, j)
            d[b:b] = d[a:b][:64]
        elif c == 4 and len(bounds) > 2:
            k = rng.randrange(len(bounds) - 1)
            a, b = bounds[k], bounds[k + 1]
            if b <= len(d):
                del d[a:b]
        elif c == 5 and len(bounds) > 2:
            k = rng.randrange(len(bounds) - 1)
            a, b = bounds[k], bounds[k + 1]
            if b <= len(d):
                d[a:a] = d[a:b]
        else:
            d[i] ^= 1 << rng.randrange(8)
    if d and d[-1:] != b"." and rng.random() < 0.5:
        d += b"."
    return bytes(d)


# --------------------------------------------------------------------------- hand-written probes

PROBES = [
    # text operands the two CPython unpicklers read differently, or that are not canonical
    b"I-0\n.", b"I+1\n.", b"I 1\n.", b"I1 \n.", b"I010\n.", b"I0x10\n.", b"I1_0\n.", b"I00\n.", b"I01\n.",
    b"I000\n.", b"I-00\n.", b"L00L\n.", b"L-0L\n.", b"L0x10\n.", b"I1\x00x\n.", b"L\n.", b"I\n.",
    b"F5e-324\n.", b"F1e-400\n.", b"F1e309\n.", b"F-0.0\n.", b"Fnan\n.", b"F-nan\n.", b"Finf\n.", b"F+1.5\n.",
    b"F1.5\x00junk\n.", b"F 1.5\n.", b"F1_0.5\n.", b"F.5\n.", b"F5.\n.", b"F1E5\n.", b"F2.2250738585072014e-308\n.",
    b"F1e-320\n.",
    b"I" + b"9" * 4300 + b"\n.", b"I" + b"9" * 4301 + b"\n.", b"I-" + b"9" * 4300 + b"\n.",
    b"S'\\777'\n.", b"S'\\q'\n.", b"S'a\\'\n.", b"S'\xff'\n.", b"S'\\x4'\n.", b"V\\\\\\u0041\n.", b"V\\ud800\\udc00\n.",
    b"V\\U00110000\n.", b"X\x06\x00\x00\x00\xed\xa0\xbd\xed\xb8\x80.",
    # memo
    b"Np01\n0g1\n.", b"Np+1\n0g1\n.", b"Np1_0\n0g10\n.", b"Np-1\n.", b"Nr\xff\xff\xff\x7f0j\xff\xff\xff\x7f.",
    b"Np1000000\n0g1000000\n.", b"N\x94\x94h\x01.",
    # FRAME rules
    b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N..", b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00K\x01.",
    b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00N.", b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00N\x95\x01"
    b"\x00\x00\x00\x00\x00\x00\x00..", b"\x80\x04\x95\x01\x00\x00\x00\x00\x00\x00\x00I1\n.",
    # stack / mark games
    b"(0N.", b"N(0.", b"(N1N.", b"N(.", b"NN.", b"(.", b"](e.", b")(e.", b"}(u.", b"](u.", b"\x8f(\x90.", b")(\x90.",
    b"]K\x05aK\x00K\x07s.", b"(K\x01K\x02d.", b"(K\x01d.",
    # calls
    b"c__builtin__\nset\n(]K\x01aK\x02at\x81.", b"c__builtin__\nset\n]R.", b"c__builtin__\nset\n(]K\x01aK\x01atR.",
    b"\x80\x03c__builtin__\nset\n)R.", b"ccollections\nOrderedDict\n(]]K\x01a\x85at.", b"ccollections\nOrderedDict\n"
    b"(]]K\x01aK\x02\x86atR.", b"ccollections\nOrderedDict\n)RNN\x86b.",
    b"ccollections\nOrderedDict\n)R}b.", b"ccollections\nOrderedDict\n)R]b.", b"ccollections\nOrderedDict\n)RNb.",
    b"ccollections\nOrderedDict\n)R}N\x86b.", b"ccollections\nOrderedDict\n)RN}\x86b.", b"}Nb.",
    b"cbuiltins\ncomplex\n(\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01tR.", b"cbuiltins\nbytearray\n(\x8a\x09"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x01tR.", b"cbuiltins\nbytearray\nJ\xff\xff\xff\xff\x85R.",
    b"c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xa9X\x06\x00\x00\x00latin1\x86R.",
    b"c_codecs\nencode\nX\x03\x00\x00\x00\xed\xa0\x80X\x05\x00\x00\x00utf-8\x86R.",
    # dict keys / set items: Python equality and hashing
    b"}(K\x01K\x01G?\xf0\x00\x00\x00\x00\x00\x00K\x02\x88K\x03u.",
    b"}(\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00K\x01GC\xe0\x00\x00\x00\x00\x00\x00K\x02u.",
    b"}(\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01K\x01GC\xf0\x00\x00\x00\x00\x00\x00K\x02u.",
    b"(I10000000000000000000\nF1e+19\n\x91.",
    b"}(" + b"".join(b"K" + bytes([i]) + b"N" for i in range(16)) + b"cbuiltins\ncomplex\n(G\x00\x00\x00\x00\x00\x00"
    b"\x00\x00G?\xf8\x00\x00\x00\x00\x00\x00tRK\x01cbuiltins\ncomplex\n(G\x80\x00\x00\x00\x00\x00\x00\x00G?\xf8\x00"
    b"\x00\x00\x00\x00\x00tRK\x02u.",
    b"}(" + b"".join(b"K" + bytes([i]) + b"N" for i in range(16)) + b"G?\xf8\x00\x00\x00\x00\x00\x00K\x01cbuiltins\n"
    b"complex\n(G?\xf8\x00\x00\x00\x00\x00\x00G\x80\x00\x00\x00\x00\x00\x00\x00tRK\x02u.",
    b"ccollections\nOrderedDict\n(]]K\x01a]\x86atR.", b"ccollections\nOrderedDict\n((]K\x01aK\x02tltR.",
    b"}(GC\xe0\x00\x00\x00\x00\x00\x00K\x01\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00K\x02u.",
    b"G\x7f\xf8\x00\x00\x00\x00\x00\x00q\x00}(h\x00K\x01h\x00K\x02u.",
    b"G\x7f\xf8\x00\x00\x00\x00\x00\x00q\x00}(h\x00\x85K\x01h\x00\x85K\x02u.",
    # stack leftovers, BUILD and calls on the allowed globals
    b"(N.", b"N(N.", b"cbuiltins\nset\n)R}b.", b"cbuiltins\ncomplex\n)RNb.", b"ccollections\nOrderedDict\n)R}K\x01K\x02sb.",
    b"S'\\501'\n.", b"}(cbuiltins\nset\nK\x01c__builtin__\nset\nK\x02u.", b"}(]\x85K\x01u.", b"(K\x01\x91(\x88\x91\x86.",
    b"}((K\x01\x91K\x01(\x88\x91K\x02u.", b"}(K\x00K\x01G\x80\x00\x00\x00\x00\x00\x00\x00K\x02u.",
    b"cbuiltins\nset\n(X\x02\x00\x00\x00abtR.", b"cbuiltins\nbytearray\n(X\x02\x00\x00\x00abX\x06\x00\x00\x00latin1tR.",
    b"\x80\x04\x8c\x0bcollections\x8c\x14OrderedDict.fromkeys\x93.",
    # refused opcodes, persistent ids, unknown opcodes
    b"C\x01a\x98.", b"\x97.", b"cbuiltins\nset\n)}\x92.", b"(i__builtin__\nset\n.", b"(cbuiltins\nset\no.",
    b"(X\x07\x00\x00\x00storageQ.", b"Pfoo\n.", b"\x82\x01.", b"\xff.", b"",
]


# --------------------------------------------------------------------------- driver

_LIMITS = {}


def _restore_limits():
    if "as" in _LIMITS:
        resource.setrlimit(resource.RLIMIT_AS, _LIMITS["as"])


def _cap_memory():
    # The C unpickler sizes its memo array by the largest index; a MemoryError then is a
    # refusal, not the end of this process.
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        _LIMITS["as"] = (soft, hard)
        cap = 2 << 30
        if soft == resource.RLIM_INFINITY or soft > cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        pass


def check(cli, data, workdir, name, opts=None):
    opts = opts or {}
    r = _check(cli, data, workdir, name, opts)
    if r["status"] == "fail":
        bug = opts.get("xfail") if opts.get("xfail") else known_bug(data, r["kind"], r.get("detail"), r["pthsafe"])
        if bug:
            r.update(status="known", cat="known bug: %s" % bug)
    return r


def _check(cli, data, workdir, name, opts):
    path = os.path.join(workdir, name + ".pkl")
    with open(path, "wb") as f:
        f.write(data)
    if opts.get("cpython") is False:
        # CPython itself cannot be asked (its unpicklers overflow the C stack on these);
        # pthsafe must refuse, quickly and without crashing.
        res = run_pthsafe(cli, path, opts.get("timeout", TIMEOUT_S))
        out = {"kind": "not run", "pthsafe": res, "detail": None}
        if res[0] == "refuse":
            cat, _ = classify_refusal(res[1], res[2])
            out.update(status="pass", cat=cat)
        else:
            out.update(status="fail", why="pthsafe must refuse: %s" % (res[1] if res[0] == "crash" else "accepted"))
        return out
    kind, detail = cpython_verdict(data)
    res = run_pthsafe(cli, path, opts.get("timeout", TIMEOUT_S))
    out = {"kind": kind, "pthsafe": res, "detail": detail if isinstance(detail, str) else None}
    if res[0] == "crash":
        out.update(status="fail", why="pthsafe crashed or hung: %s" % res[1])
        return out
    if kind == "accept":
        if res[0] == "ok":
            same, why = docs_equal(detail, res[1])
            if same:
                out.update(status="pass", cat="accepted, same object")
            else:
                out.update(status="fail", why="pthsafe accepts with a different object %s" % why)
            return out
        cat, listed = classify_refusal(res[1], res[2])
        out.update(status="pass" if listed else "unlisted", cat=cat, why="CPython accepts; pthsafe: %s: %s" % res[1:])
        return out
    if kind in ("cycle", "toobig"):
        if res[0] == "ok":
            if kind == "cycle":
                out.update(status="fail", why="CPython builds a cycle; pthsafe accepts it")
            else:
                out.update(status="pass", cat="accepted, too big to compare (%s)" % detail)
            return out
        cat, listed = classify_refusal(res[1], res[2])
        out.update(status="pass" if listed else "unlisted", cat=cat,
                   why="CPython accepts (%s); pthsafe: %s: %s" % (kind, res[1], res[2]))
        return out
    if kind == "memory":
        if res[0] == "ok":
            out.update(status="resource", cat="resource-dependent (MemoryError in one CPython)", why=detail)
        else:
            out.update(status="pass", cat="refused (CPython: MemoryError in one implementation)")
        return out
    # refuse / disagree
    if res[0] == "ok":
        out.update(status="fail", why="pthsafe accepts what CPython %s: %s" %
                   ("refuses" if kind == "refuse" else "reads two ways", detail))
    else:
        out.update(status="pass", cat="refused (CPython %s)" % ("refuses" if kind == "refuse" else "disagrees"))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", required=True, help="path to the pthsafe executable")
    ap.add_argument("--count", type=int, default=400, help="number of generated streams (plus the probes)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", help="directory for the failing streams (default: a new temporary directory)")
    ap.add_argument("--strict", action="store_true", help="unlisted refusals and resource-dependent cases fail too")
    ap.add_argument("--no-probes", action="store_true", help="skip the hand-written probes")
    ap.add_argument("--verbose", action="store_true", help="print every unlisted refusal and its stream")
    a = ap.parse_args(argv)
    sys.stdout.reconfigure(errors="backslashreplace")
    if not os.access(a.cli, os.X_OK):
        print("pickle_oracle.py: %s is not an executable" % a.cli)
        return 2
    sys.set_int_max_str_digits(DEFAULT_INT_DIGITS)
    sys.setrecursionlimit(20000)
    _cap_memory()
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    print("seed %d" % seed)

    cases = []
    if not a.no_probes:
        cases += [("probe %d" % i, p, None) for i, p in enumerate(PROBES)]
        cases += [("probe %s" % label, p, opts) for label, p, opts in extra_probes()]
    nprobes = len(cases)
    while len(cases) < a.count + nprobes:
        c = rng.random()
        if c < 0.35:
            data, label = dumps_random(rng)
            if data is None:
                continue
            if rng.random() < 0.15:
                data = mutate(data, [0], rng)
                label += " mutated"
        else:
            data, bounds, label = build_stream(rng)
            if rng.random() < 0.25:
                data = mutate(data, bounds, rng)
                label += " mutated"
        cases.append(("case %d (%s)" % (len(cases), label), data, None))

    keep = a.keep or tempfile.mkdtemp(prefix="pickle_oracle_")
    os.makedirs(keep, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pickle_oracle_work_")
    counts = collections.Counter()
    cats = collections.Counter()
    failures, unlisted, resource_cases, known = [], [], [], []
    try:
        for i, (label, data, opts) in enumerate(cases):
            r = check(a.cli, data, work, "s%d" % i, opts)
            os.unlink(os.path.join(work, "s%d.pkl" % i))
            counts[r["status"]] += 1
            cats[(r["kind"], r.get("cat", r["status"]))] += 1
            if r["status"] in ("fail", "unlisted", "resource", "known"):
                p = os.path.join(keep, "%s_%d.pkl" % (r["status"], i))
                with open(p, "wb") as f:
                    f.write(data)
                entry = (label, p, data, r)
                {"fail": failures, "unlisted": unlisted, "resource": resource_cases,
                 "known": known}[r["status"]].append(entry)
    finally:
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        os.rmdir(work)

    print("\noutcomes by CPython verdict and pthsafe category:")
    for (kind, cat), n in sorted(cats.items(), key=lambda kv: (-kv[1], kv[0])):
        print("  %5d  CPython %-8s  %s" % (n, kind, cat))

    def show(title, entries, limit):
        if not entries:
            return
        print("\n%s (%d):" % (title, len(entries)))
        for label, p, data, r in entries[:limit]:
            print("  %s: %s" % (label, r.get("why", "")))
            print("    saved: %s" % p)
            lit = repr(data)
            print("    bytes: %s" % (lit if len(lit) <= 600 else lit[:600] + "... (%d bytes)" % len(data)))
        if len(entries) > limit:
            print("  ... and %d more under %s" % (len(entries) - limit, keep))

    show("FAILURES", failures, 50)
    if known:
        print("\nknown pthsafe bugs (reported; failures with --strict):")
        for name, what, _ in KNOWN_BUGS:
            n = sum(1 for e in known if e[3]["cat"] == "known bug: " + name)
            if n:
                print("  %4d  %s: %s" % (n, name, what))
    show("known-bug cases", known, 30 if a.verbose else 6)
    show("resource-dependent (a MemoryError in one CPython unpickler; pthsafe accepts)", resource_cases, 10)
    show("refusals not listed as deliberate in docs/format.md", unlisted, 50 if a.verbose else 10)

    failed = len(failures) + ((len(unlisted) + len(resource_cases) + len(known)) if a.strict else 0)
    passed = len(cases) - failed
    print("\n%d passed, %d failed (%d known-bug cases, %d unlisted refusals, %d resource-dependent%s)" %
          (passed, failed, len(known), len(unlisted), len(resource_cases),
           "; all counted as failures" if a.strict else "; see above"))
    if not (failures or unlisted or resource_cases or known):
        os.rmdir(keep) if not a.keep and not os.listdir(keep) else None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
