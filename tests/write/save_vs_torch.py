#!/usr/bin/env python3
"""pthsafe's writer against the running interpreter's torch.

    python save_vs_torch.py --cli build/pthsafe [--keep DIR]

For each case, torch.save writes an object; `pthsafe convert` reads that file (never running
pickle) and writes it again with the writer. Checked, per case:
  - the written file loads with torch.load(weights_only=True) (or is refused exactly where
    torch refuses its own file: torch 1.13 lacks BINFLOAT) into an object equal to the original: same types, keys in order, values, tensor dtypes, shapes, strides, offsets, bits,
    and the same storage sharing between tensors;
  - `pthsafe scan` judges it safe;
  - under torch >= 2.0 (whose archive layout the writer follows), the file is byte-identical to
    torch.save's own output (pickle opcodes and memo, records, padding, serialization id).
Exit 0 when every case passes, 1 otherwise (each failure printed), 77 without torch.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    print("save_vs_torch: torch is not importable", file=sys.stderr)
    sys.exit(77)


def cases():
    torch.manual_seed(1234)
    out = {}
    # A model's state_dict: OrderedDict with _metadata (BUILD), BatchNorm buffers, int64 scalar.
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10))
    out["state_dict"] = model.state_dict()
    # The canonical training checkpoint without the classes beyond torch's allowlist.
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    sched.step()
    out["training"] = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                       "scheduler": sched.state_dict(), "epoch": 7, "best_acc": 0.8125}
    # Views of one storage (offsets, strides, transposes), tied weights, empty and 0-d tensors.
    base = torch.arange(24, dtype=torch.float32)
    out["views"] = collections.OrderedDict([
        ("base", base), ("slice", base[5:11]), ("matrix", base.view(4, 6)),
        ("transposed", base.view(4, 6).t()), ("strided", base[::3]), ("again", base),
        ("empty", torch.empty(0, 3)), ("scalar", torch.tensor(2.5)), ("five_d", torch.zeros(1, 2, 1, 2, 1)),
    ])
    # Every dtype with a storage class, and those torch 2.x writes through _rebuild_tensor_v3.
    dtypes = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex128, torch.complex64,
              torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool]
    for name in ("uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2"):
        if hasattr(torch, name):
            dtypes.append(getattr(torch, name))
    d = collections.OrderedDict()
    for i, dt in enumerate(dtypes):
        src = torch.randn(2, 3) * 50
        if dt.is_complex:
            t = torch.complex(src, -src).to(dt)
        elif dt == torch.bool:
            t = src > 0
        elif dt.is_floating_point:
            t = src.to(dt)
        else:
            t = src.abs().to(torch.int64).to(dt)
        d["t" + str(i)] = t
    out["dtypes"] = d
    # Plain data: ints of every pickle width, floats incl. -0.0/inf/nan, str with non-ASCII,
    # nesting, shared objects (one list referenced twice), int keys, bool/None keys.
    shared = [1, 2, 3]
    out["python"] = {
        "ints": [0, 1, 255, 256, 65535, 65536, -1, -256, 2**31 - 1, -2**31, 2**31, -2**31 - 1, 2**40, -(2**40),
                 2**63 - 1, -2**63],
        "floats": [0.0, -0.0, 0.1, 1e300, float("inf"), float("-inf")],
        "text": "h\u00e9llo \u4e16\u754c \U0001f600",
        "nested": {"a": ("x", ("y", ("z",))), "b": [[], {}, ()], "c": (1, 2, 3, 4, 5)},
        "shared": (shared, shared),
        3: "int key", True: "bool key", None: "none key", 2.5: "float key",
        "bools": [True, False],
    }
    # Container batching: CPython writes dicts, lists and OrderedDicts in batches of 1000.
    out["batches"] = {"d1": {"k": 1}, "d1000": {"k" + str(i): i for i in range(1000)},
                      "d1001": {"k" + str(i): i for i in range(1001)}, "l1": [1], "l1000": list(range(1000)),
                      "l1001": list(range(1001)),
                      "od1001": collections.OrderedDict(("k" + str(i), i) for i in range(1001))}
    # Parameters (one referenced twice: the second is a memo get of the first), with and
    # without requires_grad, and tensors that require grad.
    param = torch.nn.Parameter(torch.randn(3))
    out["parameters"] = {"p": param, "same": param, "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False),
                         "grad": torch.zeros(2, requires_grad=True)}
    out["many_tensors"] = collections.OrderedDict(("layer" + str(i) + ".weight", torch.full((2,), float(i)))
                                                  for i in range(300))
    return out


def untyped(t):
    return t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage().untyped()


def storage_bytes(st):
    # torch 1.13's UntypedStorage has no buffer protocol: through a uint8 tensor.
    if st.nbytes() == 0:
        return b""
    return torch.tensor([], dtype=torch.uint8).set_(st).numpy().tobytes()


def same(a, b, path, memo_a, memo_b):
    """Deep equality incl. types, order, tensor bits and storage sharing."""
    if type(a) is not type(b):
        return f"{path}: type {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        for attr in ("dtype", "shape", "requires_grad", "is_leaf"):
            if getattr(a, attr) != getattr(b, attr):
                return f"{path}: {attr} {getattr(a, attr)} vs {getattr(b, attr)}"
        if a.stride() != b.stride() or a.storage_offset() != b.storage_offset():
            return f"{path}: geometry differs"
        sa, sb = untyped(a), untyped(b)
        if storage_bytes(sa) != storage_bytes(sb):
            return f"{path}: storage bytes differ"
        # Sharing: the n-th distinct storage of one side is the n-th of the other.
        ka = memo_a.setdefault(sa.data_ptr(), len(memo_a))
        kb = memo_b.setdefault(sb.data_ptr(), len(memo_b))
        return None if ka == kb else f"{path}: storage sharing differs"
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()) or [type(k) for k in a] != [type(k) for k in b]:
            return f"{path}: keys differ"
        if getattr(a, "_metadata", None) != getattr(b, "_metadata", None):
            return f"{path}: _metadata differs"
        for k in a:
            r = same(a[k], b[k], f"{path}/{k!r}", memo_a, memo_b)
            if r:
                return r
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: length differs"
        for i, (x, y) in enumerate(zip(a, b)):
            r = same(x, y, f"{path}/{i}", memo_a, memo_b)
            if r:
                return r
        return None
    if isinstance(a, float):
        return None if a.hex() == b.hex() else f"{path}: {a!r} vs {b!r}"
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def refused(path):
    try:
        torch.load(path, weights_only=True)
        return False
    except Exception:  # noqa: BLE001 - any refusal by torch
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--keep")
    args = ap.parse_args()
    major = int(torch.__version__.split(".")[0])
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or tmp
        src_dir, dst_dir = os.path.join(root, "torch"), os.path.join(root, "pthsafe")
        os.makedirs(src_dir, exist_ok=True)
        os.makedirs(dst_dir, exist_ok=True)
        for name, obj in cases().items():
            src, dst = os.path.join(src_dir, name + ".pth"), os.path.join(dst_dir, name + ".pth")
            torch.save(obj, src)
            r = subprocess.run([args.cli, "convert", src, dst], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"{name}: convert exit {r.returncode}: {r.stderr.strip()}")
                continue
            # torch 1.13's weights_only unpickler lacks some opcodes its own pickler writes
            # (BINFLOAT): where torch refuses its own file, ours must be refused alike, and is
            # compared through the full unpickler (our own test data: trusted).
            own_refused = refused(src)
            if own_refused != refused(dst):
                failures.append(f"{name}: torch.load(weights_only=True) accepts one file and refuses the other")
            back = torch.load(dst, weights_only=not own_refused)
            diff = same(obj, back, name, {}, {})
            if diff:
                failures.append(f"{name}: torch reads back a different object: {diff}")
            s = subprocess.run([args.cli, "scan", dst], capture_output=True, text=True)
            if s.returncode != 0:
                failures.append(f"{name}: scan exit {s.returncode}: {s.stdout.strip()} {s.stderr.strip()}")
            if major >= 2:
                with open(src, "rb") as f1, open(dst, "rb") as f2:
                    if f1.read() != f2.read():
                        failures.append(f"{name}: not byte-identical to torch.save's file")
            print(f"ok {name}" if not any(f.startswith(name + ":") for f in failures) else f"FAIL {name}")
    for f in failures:
        print("FAIL", f)
    print(f"save_vs_torch (torch {torch.__version__}): {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
