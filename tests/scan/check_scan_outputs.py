#!/usr/bin/env python3
"""Checks `pthsafe scan --json` and `--sarif` output structure (standard library only).

SARIF is checked against what GitHub code scanning requires of an upload: version 2.1.0, one run
with tool.driver.name and a rules array, each result with a ruleId defined in the rules, a level,
message.text and a physical location whose artifactLocation.uri names the file and whose region
has startLine >= 1. Prints "N passed, M failed"."""
import json, os, subprocess, sys

here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)


def run(cli, *args):
    p = subprocess.run([cli, "scan", *args], capture_output=True)
    return p.returncode, p.stdout.decode()


def main():
    cli = sys.argv[1]
    fixtures = os.path.join(here, "fixtures")
    hostile = os.path.join(here, "hostile", "files")
    safe = os.path.join(fixtures, "state_dict.pth")
    unsafe = os.path.join(fixtures, "python_values_unsafe.pt")
    warned = os.path.join(fixtures, "proto4.pt")
    files = [safe, unsafe, warned] + sorted(os.path.join(hostile, f) for f in os.listdir(hostile))[:40]

    rc, out = run(cli, "--json", *files)
    doc = json.loads(out)
    check(rc == 1, "--json exit status 1 when a file is unsafe")
    check(set(doc) == {"files", "summary"}, "--json top-level keys")
    check(doc["summary"]["scanned"] == len(files) == len(doc["files"]), "--json summary count")
    check(sum(doc["summary"][k] for k in ("safe", "unsafe", "malformed")) == len(files), "--json summary adds up")
    for f in doc["files"]:
        check(set(f) == {"file", "verdict", "format", "findings"}, f"--json file keys {f.get('file')}")
        check(f["verdict"] in ("safe", "unsafe", "malformed"), "--json verdict value")
        for x in f["findings"]:
            check(set(x) == {"rule", "severity", "record", "offset", "subject", "message"}, "--json finding keys")
            check(x["severity"] in ("error", "warning", "note") and isinstance(x["offset"], int), "--json finding types")
        errors = [x for x in f["findings"] if x["severity"] == "error"]
        check((f["verdict"] == "safe") == (not errors), f"--json: errors iff not safe ({f['file']})")
    by_file = {f["file"]: f for f in doc["files"]}
    check(by_file[safe]["verdict"] == "safe", "state_dict.pth is safe")
    check(by_file[unsafe]["verdict"] == "unsafe", "python_values_unsafe.pt is unsafe")
    check(any(x["rule"] == "torch_refuses_opcode" for x in by_file[warned]["findings"]), "proto4 warns")

    rc, out = run(cli, "--sarif", *files)
    log = json.loads(out)
    check(rc == 1, "--sarif exit status")
    check(log.get("version") == "2.1.0" and "sarif-2.1.0" in log.get("$schema", ""), "SARIF version and $schema")
    check(len(log.get("runs", [])) == 1, "SARIF one run")
    run0 = log["runs"][0]
    driver = run0["tool"]["driver"]
    check(driver.get("name") == "pthsafe" and driver.get("version"), "SARIF driver name/version")
    rule_ids = [r["id"] for r in driver.get("rules", [])]
    check(len(rule_ids) == len(set(rule_ids)), "SARIF rule ids unique")
    for r in driver["rules"]:
        check(r["shortDescription"]["text"] != "", f"SARIF rule {r['id']} has a description")
        check(r["defaultConfiguration"]["level"] in ("error", "warning", "note"), "SARIF rule level")
    n_findings = sum(len(f["findings"]) for f in doc["files"])
    check(len(run0["results"]) == n_findings, "SARIF one result per finding")
    for res in run0["results"]:
        check(res["ruleId"] in rule_ids and len(res["ruleId"]) <= 255, "SARIF ruleId defined")
        check(res["level"] in ("error", "warning", "note"), "SARIF level")
        check(isinstance(res["message"]["text"], str) and res["message"]["text"], "SARIF message.text")
        loc = res["locations"][0]["physicalLocation"]
        check(loc["artifactLocation"]["uri"] in files, "SARIF uri names a scanned file")
        check(loc["region"]["startLine"] >= 1 and loc["region"]["byteOffset"] >= 0, "SARIF region")

    rc, out = run(cli, "--sarif", safe)
    check(rc == 0 and json.loads(out)["runs"][0]["results"] == [], "SARIF for a safe file has no results")
    for f in failures:
        print("FAIL:", f)
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
