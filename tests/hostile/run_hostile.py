#!/usr/bin/env python3
"""Run `pthsafe scan --json` on every file of the hostile corpus and check it against expected.json.

    python3 tests/hostile/run_hostile.py --cli build/pthsafe [--only NAME...] [--verbose]

For each file: the verdict must equal "verdict" and "rule" must appear among the findings (or the
outcome must match one of the entries of "alt"); "subject" (if given) must appear in the subject of
a finding with that rule; "warnings" (if given) must all appear among the findings. A safe file
must have no error finding. The exit status must agree with the verdict (0 safe, 1 unsafe,
2 malformed), and the JSON must be one document with one entry for the file.

Each scan is timed: scans slower than 2 s are listed (the gate's budget is 1 s per 64 MiB; these
files are all small), and a scan slower than 10 s (or killed at 60 s) is a failure.
Prints one line per failure and "N passed, M failed"; exit 1 if any failed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXIT = {"safe": 0, "unsafe": 1, "malformed": 2}
SLOW_REPORT_S = 2.0
SLOW_FAIL_S = 10.0
KILL_S = 60.0


def scan(cli, path):
    t0 = time.monotonic()
    try:
        p = subprocess.run([cli, "scan", "--json", path], capture_output=True, timeout=KILL_S)
    except subprocess.TimeoutExpired:
        return None, None, KILL_S, "timeout"
    dt = time.monotonic() - t0
    try:
        doc = json.loads(p.stdout.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        tail = p.stderr.decode(errors="replace").strip()[-300:]
        return p.returncode, None, dt, f"no JSON on stdout ({e}); rc={p.returncode}; stderr: {tail}"
    return p.returncode, doc, dt, None


def outcome_ok(entry, verdict, rules):
    options = [{"verdict": entry["verdict"], "rule": entry["rule"]}] + entry.get("alt", [])
    for o in options:
        if verdict != o["verdict"]:
            continue
        if o["rule"] is None or o["rule"] in rules:
            return True
    return False


def check(entry, rc, doc):
    """Returns a list of problems (empty = pass) and a short description of what was got."""
    if doc is None:
        return ["no document"], "-"
    files = doc.get("files")
    if not isinstance(files, list) or len(files) != 1:
        return [f"'files' should hold exactly one entry, got {files!r:.200}"], "-"
    f = files[0]
    verdict = f.get("verdict")
    findings = f.get("findings") or []
    rules = [x.get("rule") for x in findings]
    errors = [x.get("rule") for x in findings if x.get("severity") == "error"]
    got = f"{verdict} [{', '.join(dict.fromkeys(r for r in rules if r))}]"
    problems = []
    if not outcome_ok(entry, verdict, rules):
        want = f"{entry['verdict']} [{entry['rule']}]" if entry["rule"] else entry["verdict"]
        alts = "".join(f" or {a['verdict']} [{a['rule']}]" for a in entry.get("alt", []))
        problems.append(f"expected {want}{alts}")
    if verdict in EXIT and rc != EXIT[verdict]:
        problems.append(f"exit status {rc} does not match verdict {verdict}")
    if verdict == "safe" and errors:
        problems.append(f"safe verdict with error findings {errors}")
    if verdict != "safe" and not errors:
        problems.append("non-safe verdict without any error finding")
    if entry.get("subject") and verdict == entry["verdict"]:
        subs = [x.get("subject") or "" for x in findings if x.get("rule") == entry["rule"]]
        if not any(entry["subject"] in s for s in subs):
            problems.append(f"no {entry['rule']} finding with subject containing {entry['subject']!r} (subjects {subs})")
    for w in entry.get("warnings", []) if verdict == entry["verdict"] else []:
        if w not in rules:
            problems.append(f"missing finding {w}")
    for x in findings:
        for k in ("rule", "severity", "record", "offset", "subject", "message"):
            if k not in x:
                problems.append(f"finding without '{k}': {x}")
                break
    return problems, got


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True, help="path to the pthsafe executable")
    ap.add_argument("--expected", default=os.path.join(HERE, "expected.json"))
    ap.add_argument("--files", default=os.path.join(HERE, "files"))
    ap.add_argument("--only", nargs="*", help="check only these file names")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every file's result")
    a = ap.parse_args()

    with open(a.expected, encoding="utf-8") as fh:
        expected = json.load(fh)
    if a.only:
        expected = [e for e in expected if e["file"] in set(a.only)]
    passed, failed, slow = 0, [], []
    for e in expected:
        path = os.path.join(a.files, e["file"])
        if not os.path.exists(path):
            failed.append((e["file"], [f"missing file {path}"], "-"))
            continue
        rc, doc, dt, err = scan(a.cli, path)
        problems, got = (["scan timed out"], "timeout") if err == "timeout" else \
            ([err], "-") if err else check(e, rc, doc)
        if dt > SLOW_FAIL_S:
            problems.append(f"scan took {dt:.1f} s (> {SLOW_FAIL_S:.0f} s)")
        elif dt > SLOW_REPORT_S:
            slow.append((e["file"], dt))
        if problems:
            failed.append((e["file"], problems, got))
        else:
            passed += 1
        if a.verbose:
            print(f"{'ok  ' if not problems else 'FAIL'} {e['file']}: {got} ({dt * 1000:.0f} ms)")
    for name, problems, got in failed:
        print(f"FAIL {name}: {'; '.join(problems)}; got {got}")
    for name, dt in slow:
        print(f"SLOW {name}: {dt:.2f} s (> {SLOW_REPORT_S:.0f} s)")
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
