#!/usr/bin/env python3
"""`pthsafe convert X.pth Y.safetensors` against the safetensors package.

    python safetensors_vs_package.py --cli build/pthsafe

Per case, torch.save writes a state_dict; pthsafe converts it. Checked:
  - the safetensors package loads the output with every tensor equal (dtype, shape, bits) to the
    contiguous form of the original, and metadata {"format": "pt"} plus, for tied weights, the
    dropped name mapped to the kept one (as safetensors.torch.save_model records it);
  - without tied weights, the file is byte-identical to safetensors.torch.save_file's for the same
    tensors and metadata;
  - tensors that overlap without being identical are refused (exit 2, save_bad_tensor), as
    save_file refuses them;
  - a package-written file converted to .pth and back is byte-identical to itself, and the .pth
    loads in torch with the same tensors;
  - --dtype float16/bfloat16/float32 writes what torch's .to(dtype) makes, bit for bit.
Exit 0 when all pass, 1 otherwise, 77 without torch or safetensors.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile

try:
    import torch
    import safetensors
    import safetensors.torch as st
except ImportError:
    print("safetensors_vs_package: torch and safetensors are required", file=sys.stderr)
    sys.exit(77)


def model_state():
    torch.manual_seed(7)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                            torch.nn.Linear(4 * 6 * 6, 10))
    return m.state_dict()


def cases():
    sd = model_state()
    plain = collections.OrderedDict(sd)
    plain["transposed"] = torch.randn(4, 5).t()
    plain["strided"] = torch.arange(20, dtype=torch.float64)[::3]
    plain["scalar"] = torch.tensor(3, dtype=torch.int64)
    plain["empty"] = torch.zeros(0, 4)
    for name in ("float16", "bfloat16", "int8", "uint8", "int16", "int32", "bool", "complex64", "uint16", "uint32",
                 "uint64", "float8_e4m3fn", "float8_e5m2"):
        dt = getattr(torch, name, None)
        if dt is not None:
            plain["dtype." + name] = (torch.randn(5) * 10).to(dt) if not dt.is_complex else torch.randn(5, dtype=dt)
    plain["name with \"quotes\" \\ and \u00e9\u4e16"] = torch.ones(2)
    tied = collections.OrderedDict(sd)
    tied["head.weight"] = sd["3.weight"]  # the same tensor under two names
    overlap = collections.OrderedDict(sd)
    overlap["part"] = sd["3.weight"][2:]
    return {"plain": (plain, None), "tied": (tied, {"head.weight": "3.weight"}), "overlap": (overlap, "refused")}


def raw(t):
    return t.contiguous().reshape(-1).view(torch.uint8).tolist() if t.numel() else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (sd, expect) in cases().items():
            src, out, ref = (os.path.join(tmp, name + ext) for ext in (".pth", ".safetensors", ".ref.safetensors"))
            torch.save(sd, src)
            r = subprocess.run([args.cli, "convert", src, out], capture_output=True, text=True)
            if expect == "refused":
                if r.returncode != 2 or "save_bad_tensor" not in r.stderr:
                    failures.append(f"{name}: expected a save_bad_tensor refusal, got exit {r.returncode}: {r.stderr.strip()}")
                continue
            if r.returncode != 0:
                failures.append(f"{name}: convert exit {r.returncode}: {r.stderr.strip()}")
                continue
            back = st.load_file(out)
            want = collections.OrderedDict((k, v.contiguous()) for k, v in sd.items() if not expect or k not in expect)
            if sorted(back) != sorted(want):
                failures.append(f"{name}: names differ: {sorted(set(back) ^ set(want))}")
            for k, v in want.items():
                b = back.get(k)
                if b is None or b.dtype != v.dtype or b.shape != v.shape or \
                        b.reshape(-1).view(torch.uint8).tolist() != v.reshape(-1).view(torch.uint8).tolist():
                    failures.append(f"{name}: tensor {k!r} differs")
            with safetensors.safe_open(out, "pt") as f:
                meta = f.metadata()
            if meta != dict({"format": "pt"}, **(expect or {})):
                failures.append(f"{name}: metadata {meta}")
            if not expect:
                st.save_file(dict(want), ref, metadata={"format": "pt"})
                with open(ref, "rb") as f1, open(out, "rb") as f2:
                    if f1.read() != f2.read():
                        failures.append(f"{name}: not byte-identical to safetensors.torch.save_file's output")
            print(("FAIL " if any(f.startswith(name + ":") for f in failures) else "ok ") + name)
        # Round trips: a package-written file -> .pth -> .safetensors reproduces the file byte for
        # byte; the .pth loads in torch with the same tensors.
        plain = {k: v.contiguous() for k, v in cases()["plain"][0].items()}
        orig, mid, back = (os.path.join(tmp, n) for n in ("orig.safetensors", "mid.pth", "back.safetensors"))
        st.save_file(plain, orig, metadata={"format": "pt"})
        for a, b in ((orig, mid), (mid, back)):
            r = subprocess.run([args.cli, "convert", a, b], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"round trip {os.path.basename(a)} -> {os.path.basename(b)}: exit {r.returncode}: {r.stderr}")
        if os.path.exists(back):
            with open(orig, "rb") as f1, open(back, "rb") as f2:
                if f1.read() != f2.read():
                    failures.append("round trip: .safetensors -> .pth -> .safetensors changed the file")
        if os.path.exists(mid):
            loaded = torch.load(mid, weights_only=True)
            if list(loaded) != sorted(plain, key=list(st.load_file(orig)).index) or \
                    any(raw(loaded[k]) != raw(plain[k]) or loaded[k].dtype != plain[k].dtype for k in plain):
                failures.append("round trip: the .pth made from safetensors loads different tensors in torch")
        print(("FAIL " if any(f.startswith("round trip") for f in failures) else "ok ") + "round trip")
        # --dtype: torch's .to(dtype), bit for bit, on values that round every way.
        edge = collections.OrderedDict()
        edge["f32"] = torch.tensor([1.0, -2.5, 65504.0, 65520.0, 1e-8, 6.1e-5, 3.4e38, float("inf"), -0.0,
                                    1.0009765625, 1.00048828125, 0.333333343267], dtype=torch.float32)
        edge["bf16"] = torch.randn(64).to(torch.bfloat16)
        edge["f16"] = torch.randn(64).to(torch.float16)
        edge["i64"] = torch.arange(5)
        edge["f32_view"] = torch.randn(6, 4).t()
        src = os.path.join(tmp, "edge.pth")
        torch.save(edge, src)
        for target in ("float16", "bfloat16", "float32"):
            dt = getattr(torch, target)
            for ext in (".pth", ".safetensors"):
                out = os.path.join(tmp, "edge_" + target + ext)
                r = subprocess.run([args.cli, "convert", "--dtype", target, src, out], capture_output=True, text=True)
                if r.returncode != 0:
                    failures.append(f"--dtype {target} {ext}: exit {r.returncode}: {r.stderr}")
                    continue
                got = torch.load(out, weights_only=True) if ext == ".pth" else st.load_file(out)
                for k, v in edge.items():
                    want = v.to(dt) if v.dtype in (torch.float32, torch.float16, torch.bfloat16) else v
                    if got[k].dtype != want.dtype or raw(got[k]) != raw(want):
                        failures.append(f"--dtype {target} {ext}: {k} differs from torch's .to()")
        print(("FAIL " if any(f.startswith("--dtype") for f in failures) else "ok ") + "--dtype")
    for f in failures:
        print("FAIL", f)
    print(f"safetensors_vs_package (safetensors {safetensors.__version__}, torch {torch.__version__}): "
          f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
