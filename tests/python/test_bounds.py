"""What building Python objects could cost or break, bounded: insertion floods (keys sharing a hash,
equal keys built apart), deep nesting on a small thread stack, text that is not UTF-8, saved
locations torch does not restore, instances of allowed classes as keys, and torch-only state
without torch. Each hostile file is tiny and written here (plain pickle bytes in a zip, or a real
torch.save file with its pickle edited); none claims to be what torch writes."""
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import pytest
import torch

import pthsafe

M61 = 2**61 - 1  # CPython's int hash modulus: k * M61 hashes to 0 for every k


def archive(pkl, name="archive"):
    """A torch-layout zip (stored records) around a hand-made data.pkl."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", pkl)
        z.writestr(f"{name}/byteorder", "little")
        z.writestr(f"{name}/version", "3\n")
    return b.getvalue()


def long1(v):
    raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def edited(obj, fn):
    """torch.save(obj), its data.pkl passed through fn, re-zipped."""
    b = io.BytesIO()
    torch.save(obj, b)
    zin = zipfile.ZipFile(io.BytesIO(b.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for n in zin.namelist():
            d = zin.read(n)
            z.writestr(n, fn(d) if n.endswith("data.pkl") else d)
    return out.getvalue()


def refused_for_limit(data, **kw):
    with pytest.raises(pthsafe.MalformedCheckpointError) as e:
        pthsafe.load(data, **kw)
    assert e.value.rule == "limit_exceeded", e.value
    return e.value


# ---- insertion floods ---------------------------------------------------------------------------

@pytest.mark.parametrize("container", ["dict", "set"])
def test_int_keys_sharing_a_hash_are_charged(container):
    n = 12000  # n^2/2 equality probes: past the 64 Mi step budget
    if container == "dict":
        body = b"\x80\x02}(" + b"".join(long1(k * M61) + b"N" for k in range(1, n + 1)) + b"u."
    else:
        body = b"\x80\x04\x8f(" + b"".join(long1(k * M61) for k in range(1, n + 1)) + b"\x90."
    e = refused_for_limit(archive(body))
    assert "share a hash" in str(e)
    # The same number of keys with ordinary hashes loads.
    body = b"\x80\x02}(" + b"".join(long1(k) + b"N" for k in range(1, n + 1)) + b"u."
    assert len(pthsafe.load(archive(body))) == n


def test_equal_keys_built_apart_are_charged():
    # 100 keys (X, c_i): X = t_17 with t_{k+1} = (t_k, t_k), rebuilt for every key (equal, never
    # identical), c_i sharing one hash: each insertion would compare X in full with every earlier key.
    body = bytearray(b"\x80\x02}(")
    memo = 0
    for k in range(100):
        body += b"N"
        for _ in range(17):
            body += b"r" + struct.pack("<I", memo) + b"j" + struct.pack("<I", memo) + b"\x86"
            memo += 1
        body += long1(1 + k * M61) + b"\x86N"
    body += b"u."
    refused_for_limit(archive(bytes(body)))


def test_shared_tuple_key_is_charged_once_per_node_path():
    # t = (t, t) 64 deep as a dict key: 2^64 nodes to hash, 64 in the file.
    body = bytearray(b"\x80\x02}(N")
    for _ in range(64):
        body += b"q\x00h\x00\x86"  # BINPUT 0, BINGET 0, TUPLE2
    body += b"N" + b"u."
    e = refused_for_limit(archive(bytes(body)))
    assert "hashing" in str(e)


@pytest.mark.parametrize("container", ["dict", "set"])
def test_torch_size_keys_are_charged_as_tuples(container):
    # Keys (S, i) with S one shared torch.Size of 200,000 ints: CPython hashes S anew for every key.
    size = b"ctorch\nSize\n(" + b"K\x01" * 200000 + b"t\x85Rq\x00"
    keys = [size + b"K\x00\x86"] + [b"h\x00J" + struct.pack("<i", i) + b"\x86" for i in range(1, 4000)]
    if container == "dict":
        body = b"\x80\x02}(" + b"".join(k + b"N" for k in keys) + b"u."
    else:
        body = b"\x80\x04\x8f(" + b"".join(keys) + b"\x90."
    e = refused_for_limit(archive(body))
    assert "hashing" in str(e)


# ---- stack, text, locations -----------------------------------------------------------------------

DEEP_IN_A_THREAD = r"""
import sys, threading, pthsafe
threading.stack_size(int(sys.argv[2]))
out = {}
def run():
    try:
        pthsafe.load(sys.argv[1])
        out["load"] = "loaded"
    except pthsafe.CheckpointError as e:
        out["load"] = e.rule
    out["scan"] = pthsafe.scan(sys.argv[1]).verdict
t = threading.Thread(target=run); t.start(); t.join()
print(out["load"], out["scan"])
"""


def test_deep_nesting_on_a_small_thread_stack_is_refused_not_a_crash(tmp_path):
    depth = 900  # under the core's max_nesting_depth (1000), over what 256 KiB converts
    path = tmp_path / "deep.pt"
    path.write_bytes(archive(b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."))
    for stack in (64 * 1024, 256 * 1024):
        r = subprocess.run([sys.executable, "-c", DEEP_IN_A_THREAD, str(path), str(stack)], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.split() == ["limit_exceeded", "safe"]
    nested = pthsafe.load(str(path))  # the main thread's stack holds it
    for _ in range(depth - 1):
        nested = nested[0]
    assert nested == []


def test_the_core_runs_on_a_stack_of_its_own(tmp_path):
    # [A, B, {A: 1, B: 2}] with A and B equal 1-tuples nested 900 deep, built apart: the core
    # compares them recursively (~300 bytes a level), past a 256 KiB thread stack.
    deep = b"K\x00" + b"\x85" * 900
    body = b"\x80\x02(" + deep + b"q\x00" + deep + b"q\x01}(h\x00K\x01h\x01K\x02ul."
    path = tmp_path / "deepkeys.pt"
    path.write_bytes(archive(body))
    r = subprocess.run([sys.executable, "-c", DEEP_IN_A_THREAD, str(path), str(256 * 1024)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    load, verdict = r.stdout.split()
    assert load == "limit_exceeded" and verdict in ("safe", "malformed")


def test_record_names_that_are_not_utf8_are_shown_escaped():
    payload = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        for name, data in (("data.pkl", payload), ("byteorder", b"little"), ("version", b"3\n")):
            z.writestr("archivZ/" + name, data)
    data = b.getvalue().replace(b"archivZ/", b"archiv\xff/")  # names are not CRC-covered
    assert b"archiv\xff/data.pkl" in data
    with pytest.raises(pthsafe.UnsafeCheckpointError) as e:
        pthsafe.load(data)
    assert e.value.rule == "pickle_global_blocked" and e.value.record == "archiv\\xff/data.pkl"
    report = pthsafe.scan(data)
    assert report.verdict == "unsafe"
    assert [(f.rule, f.record, f.subject) for f in report.findings] == [
        ("pickle_global_blocked", "archiv\\xff/data.pkl", "os.system")]


def test_lone_surrogate_keys_survive_every_entry_point(tmp_path):
    path = tmp_path / "surrogate.pt"
    sd = {"w\ud800": torch.zeros(2), "b": torch.ones(1)}
    torch.save(sd, path)
    assert list(pthsafe.load(str(path))) == list(sd)
    assert list(pthsafe.load(str(path), strip_prefix="")) == list(sd)
    report = pthsafe.match(str(path), {"b": torch.ones(1)})
    assert report.unexpected_keys == ("w\ud800",)


@pytest.mark.parametrize("location", ["hpu", "privateuseone", "xla", "lazy", "cpu:0", "cpu:99999", "fpga"])
def test_saved_locations_torch_does_not_restore_are_refused(location):
    nb = location.encode()
    data = edited({"a": torch.arange(4.0)},
                  lambda d: d.replace(b"X\x03\x00\x00\x00cpu", b"X" + struct.pack("<I", len(nb)) + nb))
    before = set(sys.modules)
    with pytest.raises(pthsafe.MalformedCheckpointError) as e:
        pthsafe.load(data)
    assert e.value.rule == "bad_device", e.value
    assert not [m for m in set(sys.modules) - before if m.startswith("torch.")], "a backend module was imported"
    assert pthsafe.load(data, map_location="cpu")["a"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_map_location_to_an_unknown_device_is_refused():
    with pytest.raises(pthsafe.MalformedCheckpointError, match="not a device pthsafe restores"):
        pthsafe.load(edited({"a": torch.zeros(1)}, lambda d: d), map_location="privateuseone")


# ---- allowed classes and the numpy fallback --------------------------------------------------------

@pytest.mark.parametrize("body", [b"\x80\x02}(cfoo\nBar\n)RK\x01u.", b"\x80\x04\x8f(cfoo\nBar\n)R\x90."],
                         ids=["dict_key", "set_item"])
def test_instances_of_allowed_classes_are_hashable_keys(body):
    data = archive(body)
    with pytest.raises(pthsafe.UnsafeCheckpointError):
        pthsafe.load(data)
    out = pthsafe.load(data, allow_globals=["foo.Bar"])
    (key,) = list(out)
    assert isinstance(key, pthsafe.InertObject) and key.name == "foo.Bar"


NO_TORCH_ATTRS = r"""
import sys
sys.modules["torch"] = None
import pthsafe
try:
    pthsafe.load(sys.argv[1])
except ImportError as e:
    print("ImportError", e)
"""


def test_tensor_attributes_without_torch_raise_import_error(tmp_path):
    t = torch.arange(4.0)
    t.note = 5
    torch.save({"t": t}, tmp_path / "attrs.pt")
    if not hasattr(pthsafe.load(str(tmp_path / "attrs.pt"))["t"], "note"):
        pytest.skip(f"torch {torch.__version__} does not save a tensor's attributes")
    r = subprocess.run([sys.executable, "-c", NO_TORCH_ATTRS, str(tmp_path / "attrs.pt")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("ImportError") and "needs torch" in r.stdout
