#!/usr/bin/env python3
"""Every CLI output path with names a hostile file controls (policy "Output", src/util/escape.hpp).

Writes files whose GLOBAL operands, dict keys, string values, record names, top folder and file
names hold ESC sequences, CR, DEL, C1 controls, bidirectional controls, bytes that are not UTF-8,
overlong forms and surrogates; runs `pthsafe scan` (text, --json, --sarif), `inspect` (tree and
--json), `load` (text and --json) on them and checks:
  * every stdout and stderr is strict UTF-8 with no control character but the line ends, and no
    C1, surrogate, line separator or bidirectional control;
  * every JSON document parses (json.loads) and gives back the file's exact strings (bytes that
    are not UTF-8 as U+DC80+byte, PEP 383), and every float in it is written with a '.' or an
    exponent;
  * the text lines hold the exact escaped spellings (\\x1b, \\u009b, \\xff, \\\\).
Standard library only. Usage: check_output_escaping.py PTHSAFE_CLI. Prints "N passed, M failed".
"""
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import zipfile

sys.dont_write_bytecode = True  # keep tests/ free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from pickle_emit import EMPTY_TUPLE, PROTO2, REDUCE, STOP, glob  # noqa: E402  (tests/support/pickle_emit.py)

failures = []
checks = 0

# Code points that must never reach a terminal raw (besides C0 and DEL).
FORBIDDEN = set(range(0x80, 0xA0)) | {0x061C, 0x200E, 0x200F, 0x2028, 0x2029} | set(range(0x202A, 0x202F)) \
    | set(range(0x2066, 0x206A)) | set(range(0xD800, 0xE000))


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL", what)


def run(cli, *args):
    p = subprocess.run([cli, *args], capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check_printable(data, what):
    """Strict UTF-8, no control but '\\n', none of FORBIDDEN."""
    try:
        text = data.decode("utf-8")  # strict: rejects stray bytes, overlong forms and surrogates
    except UnicodeDecodeError as e:
        check(False, "%s: not UTF-8 (%s)" % (what, e))
        return ""
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F or ord(c) in FORBIDDEN]
    check(not bad, "%s: raw control characters %r" % (what, bad[:5]))
    return text


def floats_canonical(text, what):
    """Every number token that is not an integer carries '.' or an exponent; '-0' never appears."""
    tokens = re.findall(r'(?<=[:\[,])-?\d[0-9.eE+-]*(?=[,\]}])', text)
    check(all(re.fullmatch(r"-?\d+", t) or "." in t or "e" in t.lower() for t in tokens), "%s: number tokens" % what)
    check("-0" not in tokens, "%s: a bare -0 (negative zero written as an integer)" % what)


def parse_json(data, what):
    text = check_printable(data, what)
    try:
        doc = json.loads(text)
    except ValueError as e:
        check(False, "%s: invalid JSON (%s)" % (what, e))
        return None
    check(True, what + " parses")
    return doc


# --------------------------------------------------------------------------- hostile files

def opcodes_global(module, name):
    """PROTO 2, GLOBAL module\\nname\\n, EMPTY_TUPLE, REDUCE, STOP: raw bytes, no validation."""
    return PROTO2 + glob(module, name) + EMPTY_TUPLE + REDUCE + STOP


# Dict keys / values, their exact text escapes (pickle strings are decoded with surrogatepass).
KEYS = [
    ("k\x1b[31m", "k\\x1b[31m"),
    ("cr\r", "cr\\x0d"),
    ("del\x7f", "del\\x7f"),
    ("c1\x9b2J", "c1\\u009b2J"),
    ("rlo\u202eevil", "rlo\\u202eevil"),
    ("sur\ud800", "sur\\ud800"),
    ("back\\x1b", "back\\\\x1b"),
]
FLOATS = [1.0, -0.0, 1e300, 1e5, 0.5]


def keys_pickle():
    d = {k: i for i, (k, _) in enumerate(KEYS)}
    d["floats"] = FLOATS
    d["v\x1b]0;t\x07"] = "val\x1b[2J\u2028"
    return pickle.dumps(d, protocol=2)


def zip_with(names_data, top):
    """A torch-layout zip (stored records under one top folder) written by zipfile; names are
    bytes, patched in after writing so that they may be anything."""
    buf = io.BytesIO()
    stand_ins = {}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i, (name, data) in enumerate(names_data):
            full = top + b"/" + name
            ph = bytes([ord("A") + i]) * len(full)  # one letter per record: no stand-in inside another
            assert len(ph) == len(full)
            stand_ins[ph] = full
            z.writestr(ph.decode(), data)
    raw = buf.getvalue()
    for ph, full in stand_ins.items():
        assert raw.count(ph) == 2
        raw = raw.replace(ph, full)
    return raw


def torch_zip(top, extra=()):
    data_pkl = pickle.dumps({"w\x1b[2J": 2.5}, protocol=2)
    return zip_with([(b"data.pkl", data_pkl), (b"byteorder", b"little"), *extra, (b"version", b"3\n")], top)


# --------------------------------------------------------------------------- checks

def all_outputs(cli, path, what):
    """Runs every subcommand on path; checks each output is printable and each JSON parses."""
    out = {}
    for args in (["scan"], ["scan", "--json"], ["scan", "--sarif"], ["inspect"], ["inspect", "--json"],
                 ["load"], ["load", "--json"]):
        rc, so, se = run(cli, *args[:1], *args[1:], path)
        label = "%s: %s" % (what, " ".join(args))
        check_printable(se, label + " stderr")
        if "--json" in args or "--sarif" in args:
            if so:
                text = so.decode("utf-8", "replace")
                floats_canonical(text, label)
                out[tuple(args)] = (rc, parse_json(so, label), se.decode("utf-8", "replace"))
            else:
                out[tuple(args)] = (rc, None, se.decode("utf-8", "replace"))
        else:
            out[tuple(args)] = (rc, check_printable(so, label + " stdout"), se.decode("utf-8", "replace"))
    return out


def findings_of(doc):
    return [f for f in doc["files"][0]["findings"]]


def main():
    cli = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        def write(name, data):
            p = os.path.join(d.encode(), name)
            with open(p, "wb") as f:
                f.write(data)
            return p

        # 1. A GLOBAL whose module and name hold an ESC sequence and a C1 CSI (valid UTF-8).
        p = write(b"global.pkl", opcodes_global(b"os\x1b[2J", b"sys\xc2\x9btem"))
        o = all_outputs(cli, p, "global.pkl")
        subject = "os\x1b[2J.sys\x9btem"
        rc, doc, _ = o[("scan", "--json")]
        check(rc == 1 and doc["files"][0]["verdict"] == "unsafe", "global.pkl: unsafe")
        check(any(f["subject"] == subject for f in findings_of(doc)), "global.pkl: JSON subject is the exact name")
        rc, log, _ = o[("scan", "--sarif")]
        check(any(subject in r["message"]["text"] for r in log["runs"][0]["results"]), "global.pkl: SARIF names it")
        rc, text, _ = o[("scan",)]
        check("[os\\x1b[2J.sys\\u009btem]" in text, "global.pkl: scan line escapes the subject: %r" % text)
        rc, _, err = o[("inspect",)]
        check(rc == 1 and "os\\x1b[2J.sys\\u009btem" in err, "global.pkl: inspect's error line escapes it: %r" % err)

        # 2. A GLOBAL whose operand is not UTF-8 (a stray byte, an overlong '/').
        p = write(b"global_bytes.pkl", opcodes_global(b"mod\xff", b"na\xc0\xafme"))
        o = all_outputs(cli, p, "global_bytes.pkl")
        rc, doc, _ = o[("scan", "--json")]
        check(rc != 0 and doc["files"][0]["verdict"] != "safe", "global_bytes.pkl: never safe")
        for f in findings_of(doc):
            for field in ("record", "subject", "message"):
                f[field].encode("utf-8", "surrogateescape")  # every stray byte came back as U+DC80+byte

        # 3. Dict keys and values with every kind of control, floats of every shape.
        p = write(b"keys.pkl", keys_pickle())
        o = all_outputs(cli, p, "keys.pkl")
        rc, doc, err = o[("inspect", "--json")]
        check(rc == 0, "keys.pkl: inspect --json loads it: %s" % err)
        if doc:
            items = doc["root"]["items"]
            got_keys = [k["value"] for k, _ in items]
            check(got_keys == [k for k, _ in KEYS] + ["floats", "v\x1b]0;t\x07"], "keys.pkl: JSON keys are exact: %r" % got_keys)
            floats = [x["value"] for x in items[len(KEYS)][1]["items"]]
            check(all(type(x) is float for x in floats) and floats == FLOATS
                  and [str(x) for x in floats] == [str(x) for x in FLOATS], "keys.pkl: floats exact, -0.0 kept: %r" % floats)
            check(items[-1][1]["value"] == "val\x1b[2J\u2028", "keys.pkl: string value exact")
        rc, text, _ = o[("inspect",)]
        for _, escaped in KEYS:
            check("  '%s': int " % escaped in text, "keys.pkl: tree line for key %s" % escaped)
        check("  'v\\x1b]0;t\\x07': str 'val\\x1b[2J\\u2028'" in text, "keys.pkl: tree line of the string value")
        check("    [1]: float -0.0" in text and "    [2]: float 1e+300" in text and "    [0]: float 1.0" in text,
              "keys.pkl: tree floats")
        rc, doc, _ = o[("load", "--json")]
        check(rc == 0 and isinstance(doc.get("seconds"), float), "load --json: seconds is a float")

        # 4. A zip whose top folder holds ESC[2J and a C1 CSI, and whose pickle key does too.
        top = b"ar\x1b[2J\xc2\x9bch"
        p = write(b"top.pt", torch_zip(top))
        o = all_outputs(cli, p, "top.pt")
        rc, text, err = o[("inspect",)]
        if rc == 0:
            check("top folder 'ar\\x1b[2J\\u009bch'" in text, "top.pt: header escapes the top folder: %r" % text)
            check("  'w\\x1b[2J': float 2.5" in text, "top.pt: key escaped")
        else:
            check("ar\\x1b[2J\\u009bch" in err, "top.pt: error line escapes the top folder: %r" % err)

        # 5. A record torch never reads, named with a stray byte and an ESC.
        p = write(b"extra.pt", torch_zip(b"archive", extra=[(b"x\xff\x1b[2J", b"junk")]))
        o = all_outputs(cli, p, "extra.pt")
        rc, doc, _ = o[("scan", "--json")]
        recs = [f["record"] for f in findings_of(doc)] + [f["message"] for f in findings_of(doc)]
        check(any("archive/x\udcff\x1b[2J" in r for r in recs), "extra.pt: JSON names the record exactly: %r" % recs)
        rc, text, _ = o[("scan",)]
        check("archive/x\\xff\\x1b[2J" in text, "extra.pt: scan line escapes the record: %r" % text)
        rc, log, _ = o[("scan", "--sarif")]
        check(any("archive/x\udcff\x1b[2J" in r["message"]["text"] for r in log["runs"][0]["results"]),
              "extra.pt: SARIF names the record exactly")

        # 6. A file name with ESC, a C1 CSI, RLO and a stray byte, found by a directory walk.
        sub = os.path.join(d.encode(), b"walk")
        os.mkdir(sub)
        evil = b"m\x1b[2J\xc2\x9b\xe2\x80\xae\xff.pkl"
        with open(os.path.join(sub, evil), "wb") as f:
            f.write(keys_pickle())
        rc, so, se = run(cli, "scan", "-r", sub)
        text = check_printable(so, "scan -r stdout")
        check("m\\x1b[2J\\u009b\\u202e\\xff.pkl: safe" in text, "scan -r: file name escaped: %r" % text)
        rc, so, se = run(cli, "scan", "-r", "--json", sub)
        doc = parse_json(so, "scan -r --json")
        if doc:
            name = os.path.basename(doc["files"][0]["file"])
            check(name.encode("utf-8", "surrogateescape") == evil, "scan -r --json: file name exact: %r" % name)
        rc, so, se = run(cli, "scan", "-r", "--sarif", sub)
        log = parse_json(so, "scan -r --sarif")
        rc, so, se = run(cli, "inspect", os.path.join(sub, evil))
        check_printable(so, "inspect of the file name")
        check(so.startswith(sub + b"/m\\x1b[2J\\u009b\\u202e\\xff.pkl: pickle checkpoint"), "inspect header escapes the path: %r" % so[:200])
        rc, so, se = run(cli, "load", os.path.join(sub, evil))
        check_printable(so, "load of the file name")
        check(b"m\\x1b[2J\\u009b\\u202e\\xff.pkl: " in so, "load line escapes the path")
        rc, so, se = run(cli, "inspect", os.path.join(sub, evil) + b".missing")
        check_printable(se, "error line for a missing file")
        check(b"m\\x1b[2J\\u009b\\u202e\\xff.pkl.missing: " in se, "error line escapes the path: %r" % se)
        rc, so, se = run(cli, "scan", "--\x1b[2J")
        check_printable(se, "unknown option")

    print("%d passed, %d failed" % (checks - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
