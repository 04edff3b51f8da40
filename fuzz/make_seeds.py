#!/usr/bin/env python3
"""Writes small seed inputs for the fuzzers into fuzz/corpus (standard library only).
The torch-made fixtures in tests/fixtures are the other half of the seed corpus."""
import collections, os, pickle, zipfile, io

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(out, exist_ok=True)
values = {
    "ints": [0, 1, -1, 255, 65535, -2**31, 2**63, -2**100],
    "mixed": {"a": (1.5, float("inf")), 1: [b"\x00\xff", None, True], "s": {1, 2}},
    "od": collections.OrderedDict([("w", 1), ("b", 2)]),
    "nested": [[[[[]]]]],
}
for name, v in values.items():
    for proto in (0, 2, 4, 5):
        with open(os.path.join(out, f"{name}_p{proto}.pkl"), "wb") as f:
            f.write(pickle.dumps(v, protocol=proto))
# A minimal zip with a torch-like layout and a non-torch pickle, for the zip harness.
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("archive/data.pkl", pickle.dumps({"x": 1}, protocol=2))
    z.writestr("archive/version", "3\n")
    z.writestr("archive/byteorder", "little")
with open(os.path.join(out, "tiny_zip.pt"), "wb") as f:
    f.write(buf.getvalue())
print("seeds written to", out)
