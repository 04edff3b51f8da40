#!/usr/bin/env python3
"""`pthsafe diff --json` against the same comparison computed by torch.

    python diff_vs_torch.py --cli build/pthsafe

Two state_dicts differing in every way diff reports (a name only in A, one only in B, a dtype
change, a shape change, a perturbed tensor, a NaN on one side, -0.0 vs 0.0, a non-contiguous
view against a contiguous copy, int and bool tensors). The expected JSON is computed with torch:
names in each side's order, torch.equal on the bytes, (a - b).abs().max() in float64. Exit codes:
1 without --atol, 0 once --atol covers the largest difference and nothing else differs.
Exit 0 when all pass, 1 otherwise, 77 without torch.
"""
import argparse
import collections
import json
import math
import os
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    sys.exit(77)


def max_abs(a, b):
    x, y = a.to(torch.float64) if not a.is_complex() else a.to(torch.complex128), \
        b.to(torch.float64) if not b.is_complex() else b.to(torch.complex128)
    if x.numel() == 0:
        return 0.0
    nx, ny = torch.isnan(x), torch.isnan(y)
    if bool((nx != ny).any()):
        return float("nan")
    d = (x - y).abs()
    d = torch.where(nx | ny | (x == y), torch.zeros_like(d), d)
    return float(d.max())


def raw(t):
    return t.contiguous().reshape(-1).view(torch.uint8).tolist() if t.numel() else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    torch.manual_seed(3)
    a = collections.OrderedDict()
    a["same"] = torch.randn(3, 4)
    a["perturbed"] = torch.randn(5)
    a["gone"] = torch.ones(2)
    a["retyped"] = torch.randn(3)
    a["reshaped"] = torch.randn(2, 3)
    a["nan_one_side"] = torch.tensor([1.0, 2.0])
    a["signed_zero"] = torch.tensor([0.0, 1.0])
    a["view"] = torch.arange(12, dtype=torch.float32).view(3, 4).t()
    a["ints"] = torch.tensor([1, 5, -3], dtype=torch.int64)
    a["flags"] = torch.tensor([True, False])
    a["half"] = torch.randn(4).half()
    b = collections.OrderedDict()
    b["added"] = torch.zeros(1)
    b["same"] = a["same"].clone()
    b["perturbed"] = a["perturbed"] + torch.tensor([0, 0, 1e-3, 0, -2e-3])
    b["retyped"] = a["retyped"].half()
    b["reshaped"] = a["reshaped"].reshape(3, 2)
    b["nan_one_side"] = torch.tensor([1.0, float("nan")])
    b["signed_zero"] = torch.tensor([-0.0, 1.0])
    b["view"] = a["view"].contiguous()
    b["ints"] = torch.tensor([1, 7, -3], dtype=torch.int64)
    b["flags"] = torch.tensor([True, True])
    b["half"] = a["half"].clone()

    expected = {"only_in_a": [k for k in a if k not in b], "only_in_b": [k for k in b if k not in a], "changed": [],
                "tensors": []}
    for k, x in a.items():
        if k not in b:
            continue
        y = b[k]
        if x.dtype != y.dtype or x.shape != y.shape:
            expected["changed"].append({"key": k, "a": {"dtype": str(x.dtype).replace("torch.", ""), "shape": list(x.shape)},
                                        "b": {"dtype": str(y.dtype).replace("torch.", ""), "shape": list(y.shape)}})
            continue
        expected["tensors"].append({"key": k, "identical": raw(x) == raw(y), "max_abs_diff": max_abs(x, y)})
    expected["same"] = False

    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        pa, pb = os.path.join(tmp, "a.pth"), os.path.join(tmp, "b.pth")
        torch.save(a, pa)
        torch.save(b, pb)
        r = subprocess.run([args.cli, "diff", "--json", pa, pb], capture_output=True, text=True)
        got = json.loads(r.stdout) if r.stdout.strip() else None
        if r.returncode != 1:
            failures.append(f"exit {r.returncode}, expected 1: {r.stderr}")

        def norm(doc):
            for t in doc["tensors"]:
                v = t["max_abs_diff"]
                t["max_abs_diff"] = "nan" if isinstance(v, str) or (isinstance(v, float) and math.isnan(v)) else v
            return doc
        if got is None or norm(got) != norm(expected):
            failures.append(f"report differs:\n got      {got}\n expected {expected}")
        # Same names, dtypes and shapes, differences within atol: exit 0 with --atol, 1 without.
        c = collections.OrderedDict((k, v) for k, v in a.items() if k in ("same", "perturbed", "half"))
        d = collections.OrderedDict((k, b[k]) for k in c)
        pc, pd = os.path.join(tmp, "c.pth"), os.path.join(tmp, "d.pth")
        torch.save(c, pc)
        torch.save(d, pd)
        for atol, want in (("0", 1), ("0.0019", 1), ("0.0021", 0)):
            r = subprocess.run([args.cli, "diff", "--atol", atol, pc, pd], capture_output=True, text=True)
            if r.returncode != want:
                failures.append(f"--atol {atol}: exit {r.returncode}, expected {want}: {r.stdout}")
        # Across formats: B as safetensors (written by pthsafe convert) gives the same report, with
        # B's own names in the header's order (compared as a set), and B against itself is the same.
        bs = os.path.join(tmp, "b.safetensors")
        r = subprocess.run([args.cli, "convert", pb, bs], capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"convert to safetensors: {r.stderr}")
        else:
            r = subprocess.run([args.cli, "diff", "--json", pa, bs], capture_output=True, text=True)
            cross = json.loads(r.stdout) if r.stdout.strip() else None
            if r.returncode != 1 or cross is None or set(cross.pop("only_in_b")) != set(expected["only_in_b"]) or \
                    norm(cross) != norm({k: v for k, v in expected.items() if k != "only_in_b"}):
                failures.append(f".pth against .safetensors: exit {r.returncode}: {cross}")
            r = subprocess.run([args.cli, "diff", pb, bs], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"B.pth against B.safetensors: exit {r.returncode}: {r.stdout}")
        r = subprocess.run([args.cli, "diff", pc, pc], capture_output=True, text=True)
        if r.returncode != 0 or not r.stdout.startswith("same:"):
            failures.append(f"a file against itself: exit {r.returncode}: {r.stdout}")
    for f in failures:
        print("FAIL", f)
    print(f"diff_vs_torch (torch {torch.__version__}): {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
