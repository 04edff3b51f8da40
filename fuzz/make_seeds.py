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
# A bare pickle whose first 512 bytes are also a V7 tar header (valid checksum, no magic), and
# a legacy-style stream whose magic number is a text LONG (protocol 1): container detection.
body = bytearray(600)
v7 = bytearray(b"\x80\x02B" + len(body).to_bytes(4, "little") + bytes(body) + b".")
v7[100:108] = b"0000644\0"
v7[124:136] = b"00000000000\0"
v7[156] = ord("0")
chk = 256 + sum(v7[:148]) + sum(v7[156:512])
v7[148:156] = b"%06o\0 " % chk
with open(os.path.join(out, "tar_v7_pickle.pkl"), "wb") as f:
    f.write(bytes(v7))
with open(os.path.join(out, "legacy_text_magic.pkl"), "wb") as f:
    f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=1) + pickle.dumps(1001, protocol=1) + pickle.dumps({}, protocol=1))
print("seeds written to", out)
# fuzz_json: a match manifest and a small safetensors file (header padded to 8 like the writer).
with open(os.path.join(out, "manifest_seed.json"), "w") as f:
    f.write('{"enc.weight": {"dtype": "float32", "shape": [4, 2]}, "enc.bias": {"dtype": "float16", "shape": [4]},'
            ' "s": {"dtype": "bool", "shape": []}, "\\u00e9\\ud83d\\ude00": {"dtype": "int64", "shape": [0]}}\n')
header = ('{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
          '"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]},"c":{"dtype":"U8","shape":[0],"data_offsets":[12,12]}}')
header += " " * ((8 - len(header) % 8) % 8)
with open(os.path.join(out, "tiny.safetensors"), "wb") as f:
    f.write(len(header).to_bytes(8, "little") + header.encode() + bytes(range(12)))
