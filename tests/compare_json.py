#!/usr/bin/env python3
"""Semantic comparison of two `pthsafe inspect --json` documents.

Usage: compare_json.py EXPECTED ACTUAL      (ACTUAL may be "-" for standard input)

Exit status 0 when they match; otherwise 1, printing the first differing JSON path and
both values (or the usage / read / parse error).

Rules:
  * objects must have exactly the same keys;
  * numbers are compared by kind and value: a JSON float (written with a '.' or an exponent,
    as docs/inspect-json.md requires: 1.0, -0.0, 1e+300) never equals a JSON integer (1, -0), and the
    sign of a zero is significant (-0.0 != 0.0); booleans are never equal to numbers;
  * strings compare exactly (so "nan"/"inf"/"-inf" are compared as strings);
  * the "items" of a value whose "type" is "set" or "frozenset" are compared
    order-insensitively (as a multiset); every other array is order-sensitive.
Standard library only.
"""

import json
import math
import sys

UNORDERED_TYPES = ("set", "frozenset")


class Mismatch(Exception):
    def __init__(self, path, expected, actual, why):
        Exception.__init__(self, path)
        self.path = path
        self.expected = expected
        self.actual = actual
        self.why = why


def _reject_constant(name):
    raise ValueError("non-standard JSON constant %s" % name)


def loads(text):
    return json.loads(text, parse_constant=_reject_constant)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numbers_equal(a, b):
    if type(a) is not type(b) or a != b:
        return False
    if a == 0:
        return math.copysign(1.0, float(a)) == math.copysign(1.0, float(b))
    return True


def _short(v):
    s = json.dumps(v, ensure_ascii=False, sort_keys=True)
    if len(s) > 400:
        s = s[:400] + "..."
    return s


def compare(expected, actual, path="$"):
    """Raise Mismatch at the first difference."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise Mismatch(path, expected, actual, "expected an object")
        ek, ak = set(expected), set(actual)
        if ek != ak:
            missing = sorted(ek - ak)
            extra = sorted(ak - ek)
            why = []
            if missing:
                why.append("missing keys %s" % missing)
            if extra:
                why.append("unexpected keys %s" % extra)
            raise Mismatch(path, expected, actual, "; ".join(why))
        unordered = expected.get("type") in UNORDERED_TYPES
        for k in expected:
            sub = "%s.%s" % (path, k)
            if unordered and k == "items":
                _compare_unordered(expected[k], actual[k], sub)
            else:
                compare(expected[k], actual[k], sub)
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            raise Mismatch(path, expected, actual, "expected an array")
        if len(expected) != len(actual):
            raise Mismatch(path, expected, actual,
                           "array length %d != %d" % (len(expected), len(actual)))
        for i, (e, a) in enumerate(zip(expected, actual)):
            compare(e, a, "%s[%d]" % (path, i))
        return
    if isinstance(expected, bool) or isinstance(actual, bool):
        if type(expected) is not type(actual) or expected != actual:
            raise Mismatch(path, expected, actual, "values differ")
        return
    if _is_number(expected):
        if not _is_number(actual) or not _numbers_equal(expected, actual):
            raise Mismatch(path, expected, actual, "values differ")
        return
    if expected is None:
        if actual is not None:
            raise Mismatch(path, expected, actual, "values differ")
        return
    if isinstance(expected, str):
        if not isinstance(actual, str) or expected != actual:
            raise Mismatch(path, expected, actual, "values differ")
        return
    raise Mismatch(path, expected, actual, "unsupported JSON value")


def _equal(a, b):
    try:
        compare(a, b)
        return True
    except Mismatch:
        return False


def _compare_unordered(expected, actual, path):
    if not isinstance(expected, list) or not isinstance(actual, list):
        compare(expected, actual, path)
        return
    if len(expected) != len(actual):
        raise Mismatch(path, expected, actual,
                       "set size %d != %d" % (len(expected), len(actual)))
    used = [False] * len(actual)
    for i, e in enumerate(expected):
        for j, a in enumerate(actual):
            if not used[j] and _equal(e, a):
                used[j] = True
                break
        else:
            raise Mismatch("%s[%d]" % (path, i), e, actual,
                           "no matching element in the actual set")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: compare_json.py EXPECTED ACTUAL_OR_-\n")
        return 1
    try:
        with open(argv[1], encoding="utf-8") as f:
            expected = loads(f.read())
        if argv[2] == "-":
            actual_text = sys.stdin.buffer.read().decode("utf-8")
        else:
            with open(argv[2], encoding="utf-8") as f:
                actual_text = f.read()
        actual = loads(actual_text)
    except (OSError, ValueError) as e:
        print("compare_json.py: cannot read/parse input: %s" % e)
        return 1
    try:
        compare(expected, actual)
    except Mismatch as m:
        print("MISMATCH at %s: %s" % (m.path, m.why))
        print("  expected: %s" % _short(m.expected))
        print("  actual:   %s" % _short(m.actual))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
