#!/usr/bin/env python3
"""Write N random checkpoints with REAL torch, each with the JSON document
`pthsafe inspect --json` must print for it.

    python3 tests/differential/random_checkpoints.py --out DIR --count N --seed S

For i in 0..N-1 writes DIR/rand_<S>_<i>.pt and DIR/rand_<S>_<i>.expected.json, plus
DIR/manifest.json (same shape as tests/fixtures/manifest.json). The expected documents are
computed by tests/fixtures/expected_json.py, the code gen_fixtures.py uses. Objects are
random nestings of dict/OrderedDict/list/tuple/set/Counter with random python values and
random tensors: random dtypes and shapes, views (slices, steps, transposes, expand,
as_strided, select), storages shared between tensors, conj/neg bits, Parameters,
requires_grad, python attributes on tensors (torch >= 2).

Deterministic for a given (seed, count, torch version). Exit status 77 when torch cannot be
imported (registered as a skippable ctest), 1 if a checkpoint could not be produced.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep tests/ free of __pycache__

if os.environ.get("PYTHONHASHSEED") != "0":  # set iteration order is what pickle writes
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import argparse
import io
import json
import random
import warnings
from collections import Counter, OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fixtures"))

try:
    import torch
except Exception as e:  # noqa: BLE001
    sys.stderr.write("torch is not importable (%s): skipping\n" % e)
    sys.exit(77)

import expected_json  # noqa: E402

warnings.simplefilter("ignore")

TORCH_2 = int(torch.__version__.split(".")[0]) >= 2

CANDIDATE_DTYPES = ("float64 float32 float16 bfloat16 complex128 complex64 complex32 int64 int32 "
                    "int16 int8 uint8 uint16 uint32 uint64 bool float8_e4m3fn float8_e5m2 "
                    "float8_e4m3fnuz float8_e5m2fnuz float8_e8m0fnu").split()
# dtypes whose values come from randn and that support conj/neg views and requires_grad
NUMERIC_FLOAT = ("float64", "float32", "float16", "bfloat16", "complex128", "complex64")
SIGNED_INT = ("int64", "int32", "int16", "int8")


def savable_dtypes():
    out = []
    for name in CANDIDATE_DTYPES:
        dt = getattr(torch, name, None)
        if not isinstance(dt, torch.dtype):
            continue
        try:
            torch.save(torch.zeros(2, dtype=dt), io.BytesIO())
        except Exception:  # noqa: BLE001
            continue
        out.append(name)
    return out


class Builder:
    def __init__(self, rng, g, dtypes):
        self.rng = rng
        self.g = g
        self.dtypes = dtypes
        self.bases = []  # detached base tensors created so far (views are taken from these)

    # ---------------------------------------------------------------- tensors
    def shape(self, max_dims=3, allow_zero=True):
        nd = self.rng.choice([d for d in (0, 1, 1, 2, 2, 2, 3, 3) if d <= max_dims])
        dims = []
        for _ in range(nd):
            dims.append(0 if allow_zero and self.rng.random() < 0.05 else self.rng.randint(1, 5))
        return tuple(dims)

    def fresh(self):
        name = self.rng.choice(self.dtypes)
        dt = getattr(torch, name)
        shape = self.shape()
        n = 1
        for s in shape:
            n *= s
        if name in NUMERIC_FLOAT:
            t = (torch.randn(shape, generator=self.g, dtype=torch.float64) * 4).to(dt) \
                if not dt.is_complex else torch.randn(shape, generator=self.g, dtype=dt)
        elif name == "bool":
            t = torch.randint(0, 2, shape, generator=self.g).bool()
        elif name in SIGNED_INT:
            info = torch.iinfo(dt)
            t = torch.randint(info.min + 1, info.max, shape, generator=self.g, dtype=torch.int64).to(dt)
        else:  # unsigned ints, float8, complex32: random bits
            isz = torch.empty((), dtype=dt).element_size()
            t = torch.randint(0, 256, (n * isz,), dtype=torch.uint8, generator=self.g).view(dt).reshape(shape)
        if self.rng.random() < 0.15 and t.dim() >= 2:
            t = t.transpose(0, 1).contiguous().transpose(0, 1)  # non-standard strides on its own storage
        self.bases.append(t)
        return t

    def view_of(self, base):
        r = self.rng
        t = base
        for _ in range(r.randint(1, 3)):
            ops = []
            if t.dim() >= 1 and t.shape[0] > 0:
                ops += ["slice", "step", "select", "narrow"]
            if t.dim() >= 2:
                ops += ["transpose"]
            if t.dim() <= 2:
                ops += ["expand"]
            if t.numel() > 0:
                ops += ["as_strided"]
            ops += ["reshape"] if t.is_contiguous() else []
            if not ops:
                break
            op = r.choice(ops)
            n0 = t.shape[0] if t.dim() else 0
            if op == "slice":
                a = r.randint(0, n0)
                b = r.randint(a, n0)
                t = t[a:b]
            elif op == "step":
                t = t[r.randint(0, n0 - 1)::r.randint(2, 3)]
            elif op == "select":
                t = t[r.randint(0, n0 - 1)]
            elif op == "narrow":
                a = r.randint(0, n0 - 1)
                t = t.narrow(0, a, r.randint(1, n0 - a))
            elif op == "transpose":
                i, j = r.sample(range(t.dim()), 2)
                t = t.transpose(i, j)
            elif op == "expand":
                u = t.unsqueeze(0)
                t = u.expand((r.randint(1, 3),) + tuple(u.shape[1:]))
            elif op == "as_strided":
                # a window inside the base's storage, possibly overlapping
                nel = base.untyped_storage().nbytes() // base.element_size() \
                    if hasattr(base, "untyped_storage") else base.storage().size()
                if nel == 0:
                    break
                off = r.randint(0, nel - 1)
                size = (r.randint(1, 3), r.randint(1, 3))
                stride = (r.randint(0, 3), r.randint(0, 2))
                last = off + (size[0] - 1) * stride[0] + (size[1] - 1) * stride[1]
                if last >= nel:
                    continue
                t = t.as_strided(size, stride, off)
            elif op == "reshape":
                t = t.reshape(-1)
        name = str(t.dtype)[len("torch."):]
        if name in NUMERIC_FLOAT and t.dtype.is_complex and r.random() < 0.3:
            t = t.conj()
        if (name in NUMERIC_FLOAT or name in SIGNED_INT) and r.random() < 0.15:
            t = t._neg_view()
        return t

    def tensor(self, depth):
        r = self.rng
        if self.bases and r.random() < 0.5:
            base = r.choice(self.bases)
            if r.random() < 0.2:
                return base  # the same tensor object again (pickle memo)
            return self.view_of(base)
        t = self.fresh()
        name = str(t.dtype)[len("torch."):]
        if r.random() < 0.2 and name in NUMERIC_FLOAT and not t.is_conj():
            t = torch.nn.Parameter(t, requires_grad=r.random() < 0.7)
            self.bases[-1] = t.detach()
        elif r.random() < 0.1 and name in NUMERIC_FLOAT:
            t = t.clone().requires_grad_()
            self.bases[-1] = t.detach()
        if TORCH_2 and r.random() < 0.1 and depth < 3:
            own = self.bases.pop()  # the attribute value must not contain this very tensor
            extra = self.value(depth + 2)
            self.bases.append(own)
            t.extra = extra
        return t

    # ---------------------------------------------------------------- python values
    def int_(self):
        r = self.rng
        return r.choice([
            lambda: r.randint(-5, 300),
            lambda: r.randint(-2**31, 2**31),
            lambda: r.randint(-2**64, 2**64),
            lambda: r.randint(-2**130, 2**130),
            lambda: r.choice([2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**31, -2**31 - 1, 255, 256, 65536]),
        ])()

    def float_(self):
        r = self.rng
        return r.choice([
            lambda: r.uniform(-1e6, 1e6),
            lambda: r.gauss(0, 1),
            lambda: r.choice([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 5e-324, 1e-310,
                              1.7976931348623157e308, 0.1, 1.0 / 3]),
            lambda: r.uniform(-1, 1) * 10 ** r.randint(-300, 300),
        ])()

    def str_(self):
        r = self.rng
        ranges = [(0x20, 0x7e), (0x00, 0x1f), (0xa0, 0x2ff), (0x4e00, 0x4fff), (0x1f600, 0x1f64f), (0x2028, 0x2029)]
        out = []
        for _ in range(r.randint(0, 8)):
            lo, hi = r.choice(ranges)
            out.append(chr(r.randint(lo, hi)))
        return "".join(out)

    def scalar(self):
        r = self.rng
        kind = r.choice(["int", "int", "float", "float", "str", "str", "bytes", "bytearray", "complex",
                         "none", "bool", "size", "dtype", "device"])
        if kind == "int":
            return self.int_()
        if kind == "float":
            return self.float_()
        if kind == "str":
            return self.str_()
        if kind == "bytes":
            return bytes(r.randint(0, 255) for _ in range(r.randint(1, 6)))  # b'' is not weights_only-safe
        if kind == "bytearray":
            return bytearray(r.randint(0, 255) for _ in range(r.randint(0, 6)))
        if kind == "complex":
            return complex(self.float_(), self.float_())
        if kind == "none":
            return None
        if kind == "bool":
            return r.random() < 0.5
        if kind == "size":
            return torch.Size([r.randint(0, 9) for _ in range(r.randint(0, 3))])
        if kind == "dtype":
            return getattr(torch, r.choice(self.dtypes))
        if kind == "device":
            return r.choice([torch.device("cpu"), torch.device("cuda", r.randint(0, 3)), torch.device("meta")])
        raise AssertionError(kind)

    def hashable(self, in_set=False):
        # hash(None) is address-based before Python 3.12, so None inside a set would make the
        # set's (pickled) iteration order vary from run to run: keep it to dict keys.
        r = self.rng
        kinds = ["int", "str", "str", "tuple", "bool", "float", "bytes"] + ([] if in_set else ["none"])
        kind = r.choice(kinds)
        if kind == "int":
            return self.int_()
        if kind == "str":
            return self.str_()
        if kind == "tuple":
            return tuple(self.hashable(in_set) for _ in range(r.randint(0, 2)))
        if kind == "none":
            return None
        if kind == "bool":
            return r.random() < 0.5
        if kind == "float":
            f = self.float_()
            return 0.5 if f != f else f  # no nan keys
        return bytes(r.randint(0, 255) for _ in range(r.randint(1, 4)))

    def value(self, depth):
        r = self.rng
        if depth >= 4:
            return self.scalar() if r.random() < 0.6 else self.tensor(depth)
        kind = r.choice(["dict", "dict", "odict", "list", "list", "tuple", "set", "counter",
                         "tensor", "tensor", "tensor", "scalar", "scalar"])
        n = r.randint(0, 5)
        if kind == "dict":
            return {self.hashable(): self.value(depth + 1) for _ in range(n)}
        if kind == "odict":
            od = OrderedDict((self.str_(), self.value(depth + 1)) for _ in range(n))
            if r.random() < 0.3:
                od._metadata = OrderedDict([("", {"version": r.randint(1, 3)})])
            return od
        if kind == "list":
            return [self.value(depth + 1) for _ in range(n)]
        if kind == "tuple":
            return tuple(self.value(depth + 1) for _ in range(n))
        if kind == "set":
            return {self.hashable(in_set=True) for _ in range(n)}
        if kind == "counter":
            return Counter({self.str_(): r.randint(-3, 10) for _ in range(n)})
        if kind == "tensor":
            return self.tensor(depth)
        return self.scalar()

    def root(self):
        r = self.rng
        if r.random() < 0.3:  # state_dict-like
            od = OrderedDict()
            for i in range(r.randint(1, 6)):
                od["layer%d.%s" % (i, r.choice(["weight", "bias", "running_mean"]))] = self.tensor(0)
            od._metadata = OrderedDict([("", {"version": 1})])
            return od
        return {"model": self.value(1), "extra": self.value(1), "step": self.int_()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    dtypes = savable_dtypes()
    manifest = []
    failures = 0
    for i in range(args.count):
        seed = args.seed * 1000003 + i
        rng = random.Random(seed)
        g = torch.Generator().manual_seed(seed)
        name = "rand_%d_%04d.pt" % (args.seed, i)
        path = os.path.join(args.out, name)
        exp = os.path.join(args.out, name[:-3] + ".expected.json")
        try:
            obj = Builder(rng, g, dtypes).root()
            if rng.random() < 0.5:
                torch.save(obj, path)
            else:
                buf = io.BytesIO()
                torch.save(obj, buf)
                with open(path, "wb") as f:
                    f.write(buf.getvalue())
            doc = expected_json.expected_document(path)
            wo_ok = expected_json.weights_only_accepts(path)
            if wo_ok and expected_json.dumps(expected_json.expected_document(path, weights_only=True)) \
                    != expected_json.dumps(doc):
                raise RuntimeError("weights_only=True and weights_only=False loads differ")
            expected_json.write_document(doc, exp)
        except Exception as e:  # noqa: BLE001
            failures += 1
            sys.stderr.write("%s: %r\n" % (name, e))
            continue
        manifest.append(OrderedDict([("file", name), ("expected", os.path.basename(exp)),
                                     ("torch_version", torch.__version__), ("weights_only_ok", wo_ok),
                                     ("notes", "random checkpoint, seed %d index %d" % (args.seed, i))]))
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(manifest, indent=1) + "\n")
    print("wrote %d random checkpoints to %s (torch %s)%s" % (
        len(manifest), args.out, torch.__version__, ", %d failed" % failures if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
