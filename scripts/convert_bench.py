#!/usr/bin/env python3
"""Conversion speed and memory (issue 13): `pthsafe convert` of the 2 GiB bench input against `cp`
of the same bytes, side by side in one run, written into docs/results.md (section "conversion").

    python3 scripts/convert_bench.py [--cli build/pthsafe] [--cache DIR] [--rounds 3] [--python PY]

Inputs come from bench/make_inputs.py (big.pth, ~2 GiB, 100 float32 tensors; written by torch).
Each method writes to the same folder and ends with its bytes on disk (`cp` is followed by `sync`
of the copy; convert fsyncs before its rename and reads its output back before that), warm page
cache, best of --rounds. Methods:
  cp + sync                 the bytes read and written once: the bound the issue measures against
  pthsafe convert -> .pth    read, written as torch.save writes it, read back and compared
  pthsafe convert -> .safetensors
  torch + safetensors       torch.load(weights_only=True, mmap=True) then safetensors save_file
                            (the usual Python route), when --python has both
Peak RSS of each process comes from /usr/bin/time (GNU time's %M).
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_doc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Peak RSS from /usr/bin/time: wait4's ru_maxrss would count this Python's pages the child had
# before exec.
TIME_OUT = os.path.join(os.environ.get("TMPDIR", "/tmp"), "pthsafe_convert_bench.time")


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err}")
    return secs, usage.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "pthsafe"))
    ap.add_argument("--cache", default=os.environ.get("PTHSAFE_BENCH_CACHE", os.path.expanduser("~/.cache/pthsafe-bench")))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--python", default="/root/.cache/pthsafe-venv/bin/python")
    ap.add_argument("--out-dir", default=None, help="where outputs go (default: the cache folder)")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    src = os.path.join(args.cache, "big.pth")
    if not os.path.exists(src):
        raise SystemExit(f"{src} is missing: run bench/make_inputs.py")
    out = args.out_dir or args.cache
    size = os.path.getsize(src)
    dst = {k: os.path.join(out, "convert_out" + k) for k in (".cp", ".pth", ".safetensors", ".py.safetensors")}
    py_ok = subprocess.run([args.python, "-c", "import torch, safetensors"], capture_output=True).returncode == 0
    methods = [
        ("cp + sync", ["sh", "-c", f'cp "{src}" "{dst[".cp"]}" && sync "{dst[".cp"]}"'], dst[".cp"]),
        ("pthsafe convert -> .pth", [args.cli, "convert", src, dst[".pth"]], dst[".pth"]),
        ("pthsafe convert -> .safetensors", [args.cli, "convert", src, dst[".safetensors"]], dst[".safetensors"]),
    ]
    if py_ok:
        code = ("import sys, os, torch, safetensors.torch as st; sd = torch.load(sys.argv[1], weights_only=True, mmap=True); "
                "st.save_file({k: v.contiguous() for k, v in sd.items()}, sys.argv[2]); "
                "f = os.open(sys.argv[2], os.O_RDONLY); os.fsync(f)")
        methods.append(("torch.load + safetensors save_file", [args.python, "-c", code, src, dst[".py.safetensors"]],
                        dst[".py.safetensors"]))
    with open(src, "rb") as f:  # warm
        while f.read(64 << 20):
            pass
    best = {}
    for _ in range(args.rounds):
        for name, cmd, target in methods:
            secs, rss = run(["/usr/bin/time", "-f", "%M", "-o", TIME_OUT] + cmd)
            rss = int(open(TIME_OUT).read().split()[-1]) * 1024
            os.remove(target)
            b = best.get(name)
            best[name] = (min(secs, b[0]), max(rss, b[1])) if b else (secs, rss)
    base = best["cp + sync"][0]
    rows = ["| method | seconds (best of %d) | GiB/s | time / cp+sync | peak RSS |" % args.rounds, "|---|---|---|---|---|"]
    for name, _, _ in methods:
        secs, rss = best[name]
        rows.append(f"| {name} | {secs:.3f} | {size / secs / 2**30:.2f} | {secs / base:.2f}x | {rss / 2**20:.0f} MiB |")
    body = (f"Input: `big.pth` from bench/make_inputs.py, {size / 2**30:.2f} GiB, 100 float32 tensors; warm page cache; "
            f"each method ends with its output on disk. Machine: {os.cpu_count()} CPUs.\n\n" + "\n".join(rows) +
            "\n\nTarget (issue 13): a 2 GiB conversion within 1.2x of cp + sync, peak RSS independent of the file size.")
    print(body)
    if not args.no_doc:
        results_doc.write_section("conversion", "Conversion (pthsafe convert vs cp)",
                                  "python3 scripts/convert_bench.py", body)


if __name__ == "__main__":
    main()
