#!/usr/bin/env python3
"""Generate the benchmark inputs with REAL torch (and safetensors), cached in a directory.

    python3 bench/make_inputs.py [--cache DIR] [--big-mib N] [--force]

Writes into DIR (default: $PTHSAFE_BENCH_CACHE, else ~/.cache/pthsafe-bench):
  big.pth            ~100 float32 tensors, N MiB of tensor bytes in all (default 2047 MiB so the file
                     stays under 2 GiB); torch.save's default zip format
  big.safetensors    the same tensors, written by safetensors.torch.save_file
  many.pth           100,000 small tensors (a state_dict of 16-element float32 tensors, one
                     storage each); torch.save's default zip format
  many.safetensors   the same tensors
  small100.pth       100 16-element float32 tensors named as in big.pth: the same pickle shape
                     with almost no tensor bytes (scan time must not depend on tensor bytes)
  many1m.pth         only with --many1m (or --only many1m): 1,000,000 tensors shaped as in
                     many.pth (~360 MB, ~10 min to write), for the linear-cost check (issue 11)
  inputs.json        what was written (sizes, counts, torch version); a file is regenerated only
                     when it is missing or its parameters changed (or with --force)

Nothing here is committed. Delete DIR when done (the big files take ~4 GiB).
"""

import argparse
import json
import os
import sys
import time
from collections import OrderedDict

SMALL_COUNT = 100_000
BIG_TENSORS = 100


def default_cache():
    env = os.environ.get("PTHSAFE_BENCH_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pthsafe-bench")


def big_state_dict(torch, total_bytes):
    # BIG_TENSORS float32 tensors of (rows, 1024) whose bytes sum to total_bytes (rounded down to
    # whole rows); cheap deterministic contents (no RNG over 2 GiB).
    row_bytes = 1024 * 4
    rows_total = total_bytes // row_bytes
    sd = OrderedDict()
    left = rows_total
    for i in range(BIG_TENSORS):
        rows = left // (BIG_TENSORS - i)
        left -= rows
        t = torch.empty((rows, 1024), dtype=torch.float32)
        t.fill_(float(i) + 0.5)
        t[0, : min(1024, rows)] = torch.arange(min(1024, rows), dtype=torch.float32)
        sd[f"layers.{i}.weight"] = t
    return sd


def many_state_dict(torch, count=SMALL_COUNT):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(count, 16, generator=g)
    sd = OrderedDict()
    for i in range(count):
        # clone(): one storage per tensor, as a real state_dict of small parameters has.
        sd[f"blocks.{i // 4}.sub{i % 4}.weight"] = base[i].clone()
    return sd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=default_cache())
    ap.add_argument("--big-mib", type=int, default=2047)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--only", choices=["big", "many", "small100", "many1m"], help="generate only one input")
    ap.add_argument("--many1m", action="store_true", help="also write many1m.pth (1,000,000 tensors)")
    args = ap.parse_args()

    import torch
    from safetensors.torch import save_file

    os.makedirs(args.cache, exist_ok=True)
    meta_path = os.path.join(args.cache, "inputs.json")
    meta = {}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)

    want = {
        "big": {"target_bytes": args.big_mib << 20, "tensors": BIG_TENSORS},
        "many": {"tensors": SMALL_COUNT, "elements_each": 16},
        "small100": {"tensors": BIG_TENSORS, "elements_each": 16},
    }
    if args.many1m or args.only == "many1m":
        want["many1m"] = {"tensors": 10 * SMALL_COUNT, "elements_each": 16}
    for name, params in want.items():
        if args.only and name != args.only:
            continue
        pth = os.path.join(args.cache, f"{name}.pth")
        sft = os.path.join(args.cache, f"{name}.safetensors")
        have = meta.get(name, {})
        if (not args.force and os.path.exists(pth) and os.path.exists(sft)
                and {k: have.get(k) for k in params} == params):
            print(f"{name}: cached ({pth})")
            continue
        t0 = time.time()
        if name == "big":
            sd = big_state_dict(torch, params["target_bytes"])
        elif name in ("many", "many1m"):
            sd = many_state_dict(torch, params["tensors"])
        else:
            sd = OrderedDict((f"layers.{i}.weight", torch.full((1, 16), float(i))) for i in range(BIG_TENSORS))
        tensor_bytes = sum(t.numel() * t.element_size() for t in sd.values())
        torch.save(sd, pth)
        save_file(dict(sd), sft)
        del sd
        meta[name] = dict(params, tensor_bytes=tensor_bytes, file_bytes=os.path.getsize(pth),
                          safetensors_bytes=os.path.getsize(sft), torch=torch.__version__)
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=2)
        print(f"{name}: wrote {pth} ({os.path.getsize(pth)} bytes) and {sft} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
