#!/usr/bin/env python3
"""Head-to-head: pthsafe scan vs picklescan, modelscan and fickling over the same files.

    python3 scripts/head_to_head.py [--cli build/pthsafe] [--timeout 60] [--jobs 2]

1. Creates a venv under ~/.cache/pthsafe-h2h and pip-installs picklescan, modelscan and fickling
   into it (each separately; a tool that cannot be installed or imported is skipped and listed).
2. Gathers the files:
   - malicious: the tools' own malicious samples, if their installed packages or sdists
     (`pip download --no-binary :all:`) ship any, plus every hostile-corpus file whose expected
     verdict is "unsafe" (tests/hostile/expected.json);
   - malformed / resource-exhaustion: hostile-corpus files expected "malformed" (no code to run,
     but a gate must not call them clean);
   - benign: the committed tests/fixtures/*.pt / *.pth (except python_values_unsafe.pt, which
     torch's weights_only refuses, and fixtures with a NAME.args file, which need options) and
     hostile-corpus files expected "safe".
3. Runs every tool on every file (one process per file, wall-clock timeout per file) and maps the
   result to detected / clean / error by each tool's documented interface:
   - pthsafe:    `pthsafe scan FILE`: exit 1 unsafe = detected, 0 = clean, 2 malformed = error;
   - picklescan: `picklescan -p FILE` (and `--strict`, its default-deny mode): exit 1 = detected,
                 0 = clean, 2 = scan failed (README "Exit codes");
   - modelscan:  `modelscan -p FILE`: exit 1 = detected, 0 = clean, 2 = error, 3 = no supported
                 file (counted as error/skipped; README "CLI Exit Codes");
   - fickling:   its Python API, routed the way its own `--huggingface` scanner routes a file:
                 a zip goes to `fickling.scan_zip_archive(graceful=True)`, anything else to
                 `fickling.scan_file(graceful=True)` (`fickling --check-safety FILE` alone parses
                 the file as raw pickles and fails on every zip checkpoint; `fickling.polyglot`,
                 which would route by content, needs torch in the venv). Any result with
                 `is_safe == False` = detected; otherwise errors reported = error; else clean.
   A timeout or a crash (signal, traceback without a verdict) counts as error.
4. Prints the tables and writes them to docs/head_to_head.md.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_doc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.expanduser("~/.cache/pthsafe-h2h")
TOOLS = {  # pip requirement(s) per tool; fickling 0.1.12 imports typing_extensions without declaring it
    "picklescan": ["picklescan"],
    "modelscan": ["modelscan"],
    "fickling": ["fickling", "typing_extensions"],
}
SAMPLE_EXT = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".zip", ".npy", ".npz", ".joblib", ".dill", ".pt2")
MALICIOUS_HINT = ("malicious", "ghsa", "exploit", "evil", "inject", "payload", "bypass", "cve")

FICKLING_DRIVER = r"""
import json, sys, zipfile
import fickling

path = sys.argv[1]
try:
    if zipfile.is_zipfile(path):
        results = list(fickling.scan_zip_archive(path, graceful=True).values())
    else:
        results = [fickling.scan_file(path, graceful=True)]
except Exception as e:  # noqa: BLE001
    print(json.dumps({"error": f"{type(e).__name__}: {e}"[:300]}))
    sys.exit(2)
unsafe = any(not r.is_safe for r in results)
errors = sum(len(r.errors) for r in results)
print(json.dumps({"unsafe": unsafe, "errors": errors, "members": len(results)}))
sys.exit(1 if unsafe else 2 if errors else 0)
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- setup

def setup_venv(skip_install):
    venv = os.path.join(CACHE, "venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    status = {}
    for tool, reqs in TOOLS.items():
        if not skip_install:
            r = subprocess.run([py, "-m", "pip", "install", "-q", *reqs], capture_output=True, text=True)
            if r.returncode != 0:
                status[tool] = "pip install failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:200]
                continue
        r = subprocess.run([py, "-c", f"import {tool}"], capture_output=True, text=True)
        if r.returncode != 0:
            status[tool] = "import failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:200]
            continue
        v = subprocess.run([py, "-m", "pip", "show", tool], capture_output=True, text=True).stdout
        status[tool] = "ok " + next((l.split(":", 1)[1].strip() for l in v.splitlines() if l.startswith("Version:")), "?")
    return venv, status


def tool_samples(venv, status, skip_install):
    """Malicious samples shipped inside the tools' installed packages or their sdists."""
    found, searched = [], []
    site = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages"))
    roots = []
    for tool in TOOLS:
        if not status.get(tool, "").startswith("ok"):
            continue
        for s in site:
            roots.append(os.path.join(s, tool))
        sd = os.path.join(CACHE, "sdists")
        os.makedirs(sd, exist_ok=True)
        if not skip_install:
            subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "download", "-q", "--no-binary", ":all:",
                            "--no-deps", "-d", sd, tool + "==" + status[tool].split()[1]], capture_output=True)
        for arc in glob.glob(os.path.join(sd, tool + "-*")):
            dest = os.path.join(CACHE, "sdist-src", os.path.basename(arc))
            if not os.path.isdir(dest):
                os.makedirs(dest)
                try:
                    if arc.endswith((".tar.gz", ".tgz")):
                        with tarfile.open(arc) as t:
                            t.extractall(dest, filter="data")
                    elif arc.endswith(".zip"):
                        with zipfile.ZipFile(arc) as z:
                            z.extractall(dest)
                except Exception as e:  # noqa: BLE001
                    log(f"cannot unpack {arc}: {e}")
            roots.append(dest)
    for root in roots:
        searched.append(root)
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = os.path.join(dirpath, f)
                low = p.lower()
                if low.endswith(SAMPLE_EXT) and any(h in low for h in MALICIOUS_HINT):
                    found.append(p)
    return sorted(set(found)), searched


GADGET_RULES = {"pickle_global_refused", "pickle_global_blocked"}


def gadget_files():
    """Hostile files whose payload is a code-running global (what a denylist scanner looks for)."""
    with open(os.path.join(ROOT, "tests", "hostile", "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    return {e["file"] for e in expected if e["verdict"] == "unsafe" and
            ({e["rule"]} | {x["rule"] for x in e.get("alt", [])}) & GADGET_RULES}


def benign_fixtures():
    """Committed torch-made fixtures that a plain scan must call safe: not the ones torch refuses
    (python_values_unsafe), nor those that need options to be read (a NAME.args file: TorchScript
    tensors on request, caller-allowed classes)."""
    fx = os.path.join(ROOT, "tests", "fixtures")
    r = subprocess.run(["git", "-C", ROOT, "ls-files", "tests/fixtures"], capture_output=True, text=True)
    names = [os.path.join(ROOT, l) for l in r.stdout.splitlines()] if r.returncode == 0 else \
        glob.glob(os.path.join(fx, "*"))
    out = []
    for p in sorted(names):
        stem, ext = os.path.splitext(p)
        if os.path.dirname(p) != fx or ext not in (".pt", ".pth") or "unsafe" in os.path.basename(p):
            continue
        if os.path.exists(stem + ".args"):
            continue
        out.append(p)
    return out


def gather(extra_samples):
    with open(os.path.join(ROOT, "tests", "hostile", "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    hdir = os.path.join(ROOT, "tests", "hostile", "files")
    sets = {"malicious": [], "malformed": [], "benign": []}
    for e in expected:
        key = {"unsafe": "malicious", "malformed": "malformed", "safe": "benign"}[e["verdict"]]
        sets[key].append(os.path.join(hdir, e["file"]))
    for p in benign_fixtures():
        sets["benign"].append(p)
    sets["malicious"] += extra_samples
    return sets


# ----------------------------------------------------------------------------- runners

def run(cmd, timeout, cwd):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=cwd)
        return p.returncode, time.monotonic() - t0, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - t0, "timeout"


def make_runners(cli, venv, status):
    b = os.path.join(venv, "bin")
    driver = os.path.join(CACHE, "fickling_driver.py")
    with open(driver, "w") as f:
        f.write(FICKLING_DRIVER)

    def by_exit(mapping):
        def judge(rc, out):
            if rc is None:
                return "error"
            return mapping.get(rc, "error")
        return judge

    runners = [("pthsafe", lambda p: [cli, "scan", p], by_exit({0: "clean", 1: "detected", 2: "error"}))]
    if status.get("picklescan", "").startswith("ok"):
        runners.append(("picklescan", lambda p: [os.path.join(b, "picklescan"), "-p", p],
                        by_exit({0: "clean", 1: "detected", 2: "error"})))
        runners.append(("picklescan --strict", lambda p: [os.path.join(b, "picklescan"), "--strict", "-p", p],
                        by_exit({0: "clean", 1: "detected", 2: "error"})))
    if status.get("modelscan", "").startswith("ok"):
        runners.append(("modelscan", lambda p: [os.path.join(b, "modelscan"), "-p", p],
                        by_exit({0: "clean", 1: "detected", 2: "error", 3: "error"})))
    if status.get("fickling", "").startswith("ok"):
        runners.append(("fickling", lambda p: [os.path.join(b, "python"), driver, p],
                        by_exit({0: "clean", 1: "detected", 2: "error"})))
    return runners


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=None, help="pthsafe executable (default: first of build*/pthsafe)")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-file wall-clock limit, seconds")
    ap.add_argument("--jobs", type=int, default=2, help="files scanned in parallel per tool")
    ap.add_argument("--no-install", action="store_true", help="reuse the venv as it is")
    ap.add_argument("--reuse", action="store_true",
                    help="rebuild the tables from the last run's results (~/.cache/pthsafe-h2h/last_results.json)")
    a = ap.parse_args()

    cli = a.cli or next((p for p in sorted(glob.glob(os.path.join(ROOT, "build*", "pthsafe"))) if os.access(p, os.X_OK)), None)
    if not cli:
        sys.exit("no pthsafe executable: build it and pass --cli")
    cli = os.path.abspath(cli)
    venv, status = setup_venv(a.no_install)
    for t, s in status.items():
        log(f"{t}: {s}")
    samples, searched = tool_samples(venv, status, a.no_install)
    log(f"tool-shipped malicious samples: {len(samples)} (searched {len(searched)} package/sdist trees)")
    sets = gather(samples)
    runners = make_runners(cli, venv, status)
    allfiles = [(k, p) for k in ("malicious", "malformed", "benign") for p in sets[k]]
    pthsafe_version = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout.strip()

    results = {}  # tool -> list of (set, path, outcome, seconds, exit status)
    last = os.path.join(CACHE, "last_results.json")
    if a.reuse:
        with open(last) as f:
            saved = json.load(f)
        results = {k: [(r[0], r[1] if os.path.isabs(r[1]) else os.path.join(ROOT, r[1]), r[2], r[3], r[4]) for r in v]
                   for k, v in saved.items()}
        runners = [r for r in runners if r[0] in results]
    with tempfile.TemporaryDirectory() as cwd:
        for name, cmd, judge in ([] if a.reuse else runners):
            log(f"running {name} on {len(allfiles)} files ...")

            def one(item, cmd=cmd, judge=judge):
                kind, path = item
                rc, dt, out = run(cmd(path), a.timeout, cwd)
                return kind, path, judge(rc, out), dt, rc
            with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
                results[name] = list(ex.map(one, allfiles))

    n = {k: len(v) for k, v in sets.items()}
    lines = []
    lines.append(f"Files: {n['malicious']} malicious ({len(samples)} shipped by the tools themselves, "
                 f"{n['malicious'] - len(samples)} from tests/hostile), {n['malformed']} malformed or "
                 f"resource-exhaustion (tests/hostile), {n['benign']} benign (tests/fixtures + tests/hostile). "
                 f"Per-file timeout {a.timeout:.0f} s, {a.jobs} files in parallel per tool; time = sum of "
                 f"per-file wall-clock times (process start included).")
    lines.append("")
    gadgets = gadget_files()
    n_gadget = sum(os.path.basename(p) in gadgets for p in sets["malicious"])
    lines.append(f"Of the malicious files, {n_gadget} carry a code-running global (the gadget column: what a "
                 f"denylist scanner is built to find); the others break the weights_only policy in other ways "
                 f"(call-by-name opcodes, SETITEM/BUILD/APPEND on the wrong object, hidden or duplicate pickles "
                 f"the tool may not open, TorchScript/tar/preview formats).")
    lines.append("")
    lines.append("| tool | detected | gadgets detected | missed | crashed/errored | false positives on benign | "
                 "errors on benign | malformed set: flagged / errored / passed clean | total time |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    missed_lists = {}
    for name, _, _ in runners:
        rs = results[name]
        mal = [r for r in rs if r[0] == "malicious"]
        ben = [r for r in rs if r[0] == "benign"]
        bad = [r for r in rs if r[0] == "malformed"]
        det = sum(r[2] == "detected" for r in mal)
        mis = [r for r in mal if r[2] == "clean"]
        err = sum(r[2] == "error" for r in mal)
        fp = sum(r[2] == "detected" for r in ben)
        berr = sum(r[2] == "error" for r in ben)
        timeouts = sum(r[4] is None for r in rs)
        total = sum(r[3] for r in rs)
        label = name if name != "pthsafe" else f"pthsafe ({pthsafe_version.split()[-1] if pthsafe_version else '?'})"
        ver = status.get(name.split()[0], "")
        if ver.startswith("ok "):
            label += f" {ver[3:]}"
        gdet = sum(r[2] == "detected" and os.path.basename(r[1]) in gadgets for r in mal)
        lines.append(f"| {label} | {det}/{len(mal)} | {gdet}/{n_gadget} | {len(mis)} | {err}" + (f" ({timeouts} timeouts)" if timeouts else "")
                     + f" | {fp}/{len(ben)} | {berr} | {sum(r[2] == 'detected' for r in bad)} / "
                     f"{sum(r[2] == 'error' for r in bad)} / {sum(r[2] == 'clean' for r in bad)} | {total:.1f} s |")
        missed_lists[name] = sorted(os.path.basename(r[1]) for r in mis)
    skipped = [f"{t} ({s})" for t, s in status.items() if not s.startswith("ok")]
    lines.append("")
    if skipped:
        lines.append("Skipped tools: " + "; ".join(skipped) + ".")
    lines.append(f"Tool-shipped malicious samples found in the installed packages and sdists: {len(samples)}"
                 + ("" if samples else " (none of the three ships its test samples in its wheel or sdist)") + ".")
    table = "\n".join(lines)
    print(table)

    detail = ["", "Malicious files reported clean (exit 0), per tool:", ""]
    for name, missed in missed_lists.items():
        detail.append(f"- **{name}** ({len(missed)}): " + (", ".join(f"`{m}`" for m in missed) if missed else "none"))
    fp_detail = ["", "Benign files flagged, per tool:", ""]
    for name, _, _ in runners:
        fps = sorted(os.path.basename(r[1]) for r in results[name] if r[0] == "benign" and r[2] == "detected")
        fp_detail.append(f"- **{name}** ({len(fps)}): " + (", ".join(f"`{m}`" for m in fps) if fps else "none"))
    mf_detail = ["", "Malformed / resource-exhaustion files reported clean (exit 0), per tool:", ""]
    for name, _, _ in runners:
        ok = sorted(os.path.basename(r[1]) for r in results[name] if r[0] == "malformed" and r[2] == "clean")
        mf_detail.append(f"- **{name}** ({len(ok)}): " + (", ".join(f"`{m}`" for m in ok) if ok else "none"))
    body = ("How each tool's output is mapped is in the script's docstring. \"detected\" = the tool's verdict "
            "says malicious/unsafe; \"missed\" = the tool exits 0 (clean) on a malicious file; "
            "\"crashed/errored\" = scan failed, timed out, or the tool found nothing it supports (a CI gate "
            "fails on these, but the tool did not say why). The corpus was written here, against pthsafe's own "
            "policy, so pthsafe's row is a regression check rather than an independent benchmark.\n\n"
            + table + "\n" + "\n".join(detail + fp_detail + mf_detail) + "\n\nTools: "
            + ", ".join(f"{t} {s}" for t, s in status.items()) + f"; pthsafe: {pthsafe_version}.\n")
    out = results_doc.write_section("head_to_head", "Head-to-head: pthsafe scan vs picklescan, modelscan, fickling",
                                    "python3 scripts/head_to_head.py --cli build/pthsafe", body)
    log(f"wrote {out}")
    with open(last, "w") as f:
        json.dump({k: [[r[0], os.path.relpath(r[1], ROOT) if r[1].startswith(ROOT) else r[1], r[2], round(r[3], 3), r[4]]
                       for r in v] for k, v in results.items()}, f, indent=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
