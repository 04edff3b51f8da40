#!/usr/bin/env python3
"""Check the tar polyglots of the hostile corpus against CPython's tarfile and real torch.

    python3 tests/hostile/check_tar_torch.py            # tarfile part; torch part if importable
    /usr/bin/python3 tests/hostile/check_tar_torch.py   # Debian's torch 1.13

1. tarfile (no torch needed): every corpus file whose expected rule is `tar_format` opens with
   `tarfile.open(mode="r:")` or carries the `ustar` magic; every file expected safe, and every
   torch-written fixture of tests/fixtures, does not open (a genuine checkpoint is never tar).
2. torch (1.13 or 2.x): `torch.load(path, weights_only=False)` takes the tar path for every
   `tar_*` file and reads the member `storages` with the caller's pickle module, and reads the
   near misses (`tar_near_miss_*`, `legacy_padded_not_tar.pt`) as pickles from the file itself.
   torch.serialization's `pickle` is replaced, for the call, by a module that records which file
   it was asked to read and then raises (torch 1.13 ignores a `pickle_module` argument when
   weights_only=False and uses that global): nothing from these files is ever unpickled.
Exit 0 when every check passed, 1 on a failure, 77 when torch is not importable (part 1 passed).
"""
import glob
import io
import json
import os
import pickle
import sys
import tarfile
import types

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures")


def opens_as_tar(data):
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:"):
            return True
    except tarfile.TarError:
        return False


class Asked(Exception):
    """Raised by the recording pickle module instead of unpickling anything."""


def first_read(torch, path):
    """The name of the file torch.load first asks its pickle module to read, or the exception
    torch raised before asking."""
    asked = []

    def load(f, **_kw):
        asked.append(getattr(f, "name", None))
        raise Asked()

    class Unpickler:
        def __init__(self, f, **_kw):
            load(f)

    module = types.SimpleNamespace(**{k: getattr(pickle, k) for k in dir(pickle) if not k.startswith("__")})
    module.__name__ = "recording_pickle"
    module.load = module.loads = load
    module.Unpickler = Unpickler
    real = torch.serialization.pickle
    torch.serialization.pickle = module
    try:
        assert torch.serialization.pickle is module
        torch.load(path, map_location="cpu", pickle_module=module, weights_only=False)
    except Asked:
        return asked[0]
    except Exception as e:  # torch refused before unpickling (e.g. tar without `storages`)
        return e
    finally:
        torch.serialization.pickle = real
    return None


def main():
    failures = []
    with open(os.path.join(HERE, "expected.json"), encoding="utf-8") as f:
        cases = json.load(f)
    for c in cases:
        path = os.path.join(HERE, "files", c["file"])
        with open(path, "rb") as f:
            data = f.read()
        if c["rule"] == "tar_format":
            if not (opens_as_tar(data) or data[257:262] == b"ustar"):
                failures.append(f"{c['file']}: expected tar, tarfile does not open it")
        elif c["verdict"] == "safe" and opens_as_tar(data):
            failures.append(f"{c['file']}: expected safe, but tarfile opens it (torch would read tar)")
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.pt*")) + glob.glob(os.path.join(FIXTURES, "refused", "*.pt"))):
        with open(path, "rb") as f:
            if opens_as_tar(f.read()):
                failures.append(f"{os.path.basename(path)}: a torch-written fixture opens as tar")
    print(f"tarfile: {len(cases)} corpus files and the fixtures checked, {len(failures)} failures")

    try:
        import torch
    except ImportError:
        for m in failures:
            print("FAIL", m)
        print("torch is not importable: torch part skipped")
        return 1 if failures else 77
    checked = 0
    for c in cases:
        name = c["file"]
        near_miss = name.startswith("tar_near_miss_") or name == "legacy_padded_not_tar.pt"
        if not (name.startswith("tar_") or near_miss):
            continue
        path = os.path.join(HERE, "files", name)
        got = first_read(torch, path)
        checked += 1
        if near_miss:
            ok = isinstance(got, str) and os.path.abspath(got) == os.path.abspath(path)
            want = "the file itself read as a pickle"
        elif name == "tar_empty_zero_block.pt":
            ok = isinstance(got, KeyError) and "storages" in str(got)
            want = "tar opened, then KeyError for the missing storages member"
        else:
            ok = isinstance(got, str) and os.path.basename(got) == "storages" and os.path.abspath(got) != os.path.abspath(path)
            want = "the extracted tar member `storages`"
        print(f"{'ok  ' if ok else 'FAIL'} torch {torch.__version__}: {name}: first read {got!r}")
        if not ok:
            failures.append(f"{name}: torch {torch.__version__} read {got!r}, expected {want}")
    for m in failures:
        print("FAIL", m)
    print(f"torch {torch.__version__}: {checked} files checked, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
