#!/usr/bin/env python3
"""Sharded checkpoints (Hugging Face index + shards) through pthsafe, checked with torch and the
safetensors package.

    python sharded_vs_torch.py --cli build/pthsafe

A model's state_dict is split over three .bin shards written by torch.save, with an index as
transformers writes one (json.dumps(indent=2, sort_keys=True)). Checked:
  - `convert X.bin.index.json Y.safetensors.index.json`: every shard converted, the new index
    byte-identical to json.dumps of the expected index (shard names, total_size), and the tensors
    read by the safetensors package equal to the originals;
  - `diff` between the .bin index and the .safetensors index: the same, exit 0;
  - `scan -r` of both folders: every shard safe;
  - broken sets refused with shard_index_invalid (exit 2): a listed tensor missing from its shard,
    a tensor in two shards, a shard holding a tensor the index does not list, a shard name that
    leaves the folder.
Exit 0 when all pass, 1 otherwise, 77 without torch and safetensors.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

try:
    import torch
    import safetensors.torch as st
except ImportError:
    sys.exit(77)


def write_set(folder, shards, index_name="pytorch_model.bin.index.json", extra=None):
    os.makedirs(folder, exist_ok=True)
    weight_map = {}
    for i, part in enumerate(shards):
        name = f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin"
        torch.save(part, os.path.join(folder, name))
        for k in part:
            weight_map[k] = name
    weight_map.update(extra or {})
    total = sum(v.numel() * v.element_size() for part in shards for v in part.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    path = os.path.join(folder, index_name)
    with open(path, "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return path, index


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()
    torch.manual_seed(11)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 4))
    sd = model.state_dict()
    keys = list(sd)
    shards = [collections.OrderedDict((k, sd[k]) for k in keys[i::3]) for i in range(3)]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        src_dir, out_dir = os.path.join(tmp, "bin"), os.path.join(tmp, "st")
        index_path, index = write_set(src_dir, shards)
        os.makedirs(out_dir)
        out_index = os.path.join(out_dir, "model.safetensors.index.json")
        r = subprocess.run([args.cli, "convert", index_path, out_index], capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"convert: exit {r.returncode}: {r.stderr}")
        else:
            expected = {"metadata": {"total_size": index["metadata"]["total_size"]},
                        "weight_map": {k: v.replace(".bin", ".safetensors") for k, v in index["weight_map"].items()}}
            with open(out_index) as f:
                if f.read() != json.dumps(expected, indent=2, sort_keys=True) + "\n":
                    failures.append("convert: the index differs from json.dumps(indent=2, sort_keys=True) of the expected one")
            for k, shard in expected["weight_map"].items():
                t = st.load_file(os.path.join(out_dir, shard))[k]
                if t.dtype != sd[k].dtype or not torch.equal(t, sd[k]):
                    failures.append(f"convert: {k} differs in {shard}")
            r = subprocess.run([args.cli, "diff", index_path, out_index], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"diff .bin index vs .safetensors index: exit {r.returncode}: {r.stdout}")
            for folder in (src_dir, out_dir):
                r = subprocess.run([args.cli, "scan", "-r", folder], capture_output=True, text=True)
                if r.returncode != 0 or "scanned 3: 3 safe" not in r.stdout:
                    failures.append(f"scan -r {folder}: exit {r.returncode}: {r.stdout}")
        # Broken sets.
        broken = {
            "missing": (lambda: write_set(os.path.join(tmp, "missing"), shards, extra={"ghost.weight": "pytorch_model-00001-of-00003.bin"})),
            "two_shards": (lambda: write_set(os.path.join(tmp, "two"), [shards[0], collections.OrderedDict(list(shards[1].items()) + [(keys[0], sd[keys[0]])]), shards[2]])),
            "unlisted": None,
            "escape": (lambda: write_set(os.path.join(tmp, "escape"), shards, extra={keys[0]: "../bin/pytorch_model-00001-of-00003.bin"})),
        }
        for name, make in broken.items():
            if make is None:
                path, idx = write_set(os.path.join(tmp, name), shards)
                del idx["weight_map"][keys[1]]
                with open(path, "w") as f:
                    f.write(json.dumps(idx, indent=2, sort_keys=True))
            else:
                path, _ = make()
            r = subprocess.run([args.cli, "diff", path, path], capture_output=True, text=True)
            if r.returncode != 2 or "shard_index_invalid" not in r.stderr:
                failures.append(f"broken set {name}: exit {r.returncode}: {r.stderr.strip()}")
    for f in failures:
        print("FAIL", f)
    print(f"sharded_vs_torch (torch {torch.__version__}): {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
