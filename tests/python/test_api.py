"""The package's API beyond fixture equality: sources (bytes, file objects), tensors outliving the
loader and the mapping released with the last tensor, map_location, sparse and quantized tensors,
match and convert, and the numpy fallback without torch."""
import gc
import io
import os
import subprocess
import sys
import warnings
import weakref
from collections import OrderedDict

import pytest
import torch

import pthsafe
from same import assert_same

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")
STATE_DICT = os.path.join(FIXTURES, "state_dict.pth")


TORCH_1 = int(torch.__version__.split(".")[0]) < 2


def torch_load(path, weights_only=True, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=weights_only, **kw)


def mappings(path):
    """The address ranges at which this process maps `path` (/proc/self/maps)."""
    real = os.path.realpath(path)
    with open("/proc/self/maps") as f:
        return [tuple(int(x, 16) for x in line.split()[0].split("-"))
                for line in f if line.rstrip("\n").endswith(" " + real)]


def mapped(path):
    return len(mappings(path))


# ---- sources --------------------------------------------------------------------------------

def test_bytes_bytearray_memoryview_and_file_objects():
    theirs = torch_load(STATE_DICT)
    data = open(STATE_DICT, "rb").read()
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        assert_same(pthsafe.load(source), theirs)
    with open(STATE_DICT, "rb") as f:
        assert_same(pthsafe.load(f), theirs)
    import pathlib
    assert_same(pthsafe.load(pathlib.Path(STATE_DICT)), theirs)


def test_text_file_object_and_other_types_are_refused():
    with open(STATE_DICT, "r", encoding="latin-1") as f:
        with pytest.raises(TypeError, match="binary mode"):
            pthsafe.load(f)
    with pytest.raises(TypeError, match="expected a path"):
        pthsafe.load(42)
    with pytest.raises(ValueError, match="mmap=True needs a file path"):
        pthsafe.load(open(STATE_DICT, "rb").read(), mmap=True)


def test_missing_file_is_an_oserror_or_checkpoint_error(tmp_path):
    with pytest.raises((OSError, pthsafe.CheckpointError)):
        pthsafe.load(str(tmp_path / "absent.pth"))


# ---- lifetime -------------------------------------------------------------------------------

def test_tensors_outlive_the_loader_and_the_mapping_goes_with_the_last_tensor(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"a": torch.arange(4096, dtype=torch.float32), "b": torch.ones(3, 5)}, path)
    gc.collect()
    assert mapped(path) == 0
    sd = pthsafe.load(str(path), mmap=True)
    a, b = sd["a"], sd["b"]
    del sd
    gc.collect()
    assert mapped(path) >= 1, "tensors alive: the file must still be mapped"
    probe = weakref.ref(a)
    assert a[4095].item() == 4095.0 and b.sum().item() == 15.0
    a[0] = -1.0  # copy-on-write: the file never changes
    del a
    gc.collect()
    assert probe() is None
    assert mapped(path) >= 1, "b still views the mapping"
    assert b.sum().item() == 15.0
    del b
    gc.collect()
    assert mapped(path) == 0, "the last tensor died: the mapping must be released"
    assert torch_load(str(path))["a"][0].item() == 0.0


def test_copy_mode_tensors_own_their_bytes(tmp_path):
    path = tmp_path / "c.pt"
    torch.save({"a": torch.arange(1000)}, path)
    sd = pthsafe.load(str(path))
    ptr = sd["a"].data_ptr()
    # The reader may keep the file mapped while the checkpoint lives; the tensor is not in it.
    assert all(not (lo <= ptr < hi) for lo, hi in mappings(path))
    assert sd["a"].tolist() == list(range(1000))
    del sd
    gc.collect()
    assert mapped(path) == 0


# ---- map_location ---------------------------------------------------------------------------

def test_map_location_forms_on_the_cpu():
    theirs = torch_load(STATE_DICT)
    for where in ("cpu", torch.device("cpu"), {"cpu": "cpu"}, None):
        assert_same(pthsafe.load(STATE_DICT, map_location=where), theirs)
    with pytest.raises(TypeError, match="not supported"):
        pthsafe.load(STATE_DICT, map_location=lambda storage, loc: storage)


@pytest.mark.skipif(TORCH_1, reason="torch.load maps to 'meta' from 2.0")
def test_map_location_meta_moves_each_storage_once():
    ours = pthsafe.load(os.path.join(FIXTURES, "dtypes.pt"), map_location="meta")
    theirs = torch.load(os.path.join(FIXTURES, "dtypes.pt"), map_location="meta", weights_only=True)
    assert list(ours) == list(theirs)
    for k in theirs:
        if isinstance(theirs[k], torch.Tensor):
            assert ours[k].device.type == "meta" and ours[k].dtype == theirs[k].dtype and ours[k].shape == theirs[k].shape


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_cuda_without_a_device_is_torch_s_error():
    cuda_saved = os.path.join(FIXTURES, "cuda_location.pt")
    for kwargs in ({"map_location": "cuda"}, {"map_location": {"cpu": "cuda:0"}}):
        with pytest.raises(RuntimeError, match="torch.cuda.is_available\\(\\) is False"):
            pthsafe.load(STATE_DICT, **kwargs)
    with pytest.raises(RuntimeError, match="torch.cuda.is_available\\(\\) is False"):
        pthsafe.load(cuda_saved)
    # A dict maps the saved CUDA location back to the CPU, as torch's does.
    ours = pthsafe.load(cuda_saved, map_location={"cuda:0": "cpu"})
    assert_same(ours, torch_load(cuda_saved))


# ---- sparse and quantized -------------------------------------------------------------------

def test_sparse_layouts_round_trip(tmp_path):
    dense = torch.tensor([[0.0, 1.5, 0.0, 0.0], [2.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0], [0.0, 4.0, 5.0, 0.0]])
    obj = {"coo": dense.to_sparse(), "uncoalesced": torch.sparse_coo_tensor([[1, 0, 1], [0, 2, 0]], [1.0, 2.0, 3.0], (2, 3)),
           "csr": dense.to_sparse_csr()}
    if not TORCH_1:  # torch 1.13 saves COO and CSR only
        obj["csc"] = dense.to_sparse_csc()
        obj["bsr"] = dense.to_sparse_bsr((2, 2))
    torch.save(obj, tmp_path / "s.pt")
    ours = pthsafe.load(str(tmp_path / "s.pt"))
    theirs = torch_load(str(tmp_path / "s.pt"))
    assert_same(ours, theirs)
    for k in obj:
        assert torch.equal(ours[k].to_dense(), obj[k].to_dense()), k


def test_quantized_schemes_round_trip(tmp_path):
    x = torch.linspace(-3, 3, 24).reshape(4, 6)
    obj = {"per_tensor": torch.quantize_per_tensor(x, 0.05, 7, torch.qint8),
           "quint8": torch.quantize_per_tensor(x, 0.1, 128, torch.quint8),
           "per_channel": torch.quantize_per_channel(x, torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64),
                                                     torch.tensor([0, 1, -1, 2]), 0, torch.qint8)}
    obj["view"] = obj["per_tensor"][1:3]
    torch.save(obj, tmp_path / "q.pt")
    ours = pthsafe.load(str(tmp_path / "q.pt"))
    # torch 1.13's weights_only lacks _rebuild_qtensor (pthsafe reads it as torch 2.x does).
    assert_same(ours, torch_load(str(tmp_path / "q.pt"), weights_only=not TORCH_1))
    assert torch.equal(ours["per_channel"].dequantize(), obj["per_channel"].dequantize())


# ---- state_dict helpers, match and convert --------------------------------------------------

class TwoLayers(torch.nn.Module):
    def __init__(self, out=3):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 5)
        self.fc2 = torch.nn.Linear(5, out)


def test_key_and_strip_prefix(tmp_path):
    model = TwoLayers()
    wrapped = OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
    torch.save({"epoch": 3, "model": wrapped}, tmp_path / "ck.pt")
    sd = pthsafe.load(str(tmp_path / "ck.pt"), key="model", strip_prefix="module.")
    assert isinstance(sd, OrderedDict) and list(sd) == list(model.state_dict())
    TwoLayers().load_state_dict(sd)  # torch accepts it
    for k, v in model.state_dict().items():
        assert torch.equal(sd[k], v)


def test_match_against_a_module_a_mapping_and_a_file(tmp_path):
    torch.save(TwoLayers().state_dict(), tmp_path / "ok.pt")
    report = pthsafe.match(str(tmp_path / "ok.pt"), TwoLayers())
    assert report.ok and report.missing_keys == () and report.unexpected_keys == () and report.size_mismatches == ()
    bad = pthsafe.match(str(tmp_path / "ok.pt"), TwoLayers(out=7))
    assert not bad.ok
    assert bad.size_mismatches == (("fc2.weight", (3, 5), (7, 5)), ("fc2.bias", (3,), (7,)))
    # torch's own verdict for the same pair
    with pytest.raises(RuntimeError, match="size mismatch for fc2.weight"):
        TwoLayers(out=7).load_state_dict(torch_load(str(tmp_path / "ok.pt")))
    sd = TwoLayers().state_dict()
    del sd["fc1.bias"]
    sd["extra"] = torch.zeros(1)
    r = pthsafe.match(str(tmp_path / "ok.pt"), sd)
    assert r.missing_keys == ("extra",) and r.unexpected_keys == ("fc1.bias",) and not r.ok
    assert pthsafe.match(str(tmp_path / "ok.pt"), sd, strict=False).ok
    assert pthsafe.match(str(tmp_path / "ok.pt"), str(tmp_path / "ok.pt")).ok
    half = {k: v.half() for k, v in TwoLayers().state_dict().items()}
    d = pthsafe.match(str(tmp_path / "ok.pt"), half)
    assert d.ok and ("fc1.weight", "float32", "float16") in d.dtype_mismatches


def test_convert_to_safetensors(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")  # pip's; Debian 12 has no package
    src = os.path.join(FIXTURES, "state_dict.pth")
    summary = pthsafe.convert(src, str(tmp_path / "out.safetensors"))
    theirs = torch_load(src)
    loaded = safetensors.load_file(str(tmp_path / "out.safetensors"))
    assert summary.tensors == len(loaded) and set(loaded) == set(theirs)
    for k in theirs:
        assert torch.equal(loaded[k], theirs[k])


def test_convert_to_pth_with_a_dtype(tmp_path):
    src = os.path.join(FIXTURES, "state_dict.pth")
    theirs = torch_load(src)
    half = pthsafe.convert(src, str(tmp_path / "half.pth"), dtype=torch.float16)
    assert half.converted > 0
    back = torch_load(str(tmp_path / "half.pth"))
    for k in theirs:
        assert torch.equal(back[k], theirs[k].half() if theirs[k].is_floating_point() else theirs[k])
    with pytest.raises(ValueError, match="float16, bfloat16 or float32"):
        pthsafe.convert(src, str(tmp_path / "x.pth"), dtype="int8")


def test_convert_refuses_an_unsafe_file_and_writes_nothing(tmp_path):
    unsafe = os.path.join(FIXTURES, "python_values_unsafe.pt")
    with pytest.raises(pthsafe.UnsafeCheckpointError):
        pthsafe.convert(unsafe, str(tmp_path / "out.pth"))
    assert not (tmp_path / "out.pth").exists()


# ---- without torch ----------------------------------------------------------------------------

NO_TORCH = r"""
import sys
sys.modules["torch"] = None  # import torch raises ImportError
import numpy, pthsafe
sd = pthsafe.load(sys.argv[1])
out = {k: v for k, v in sd.items()}
assert all(isinstance(v, numpy.ndarray) for v in out.values()), {k: type(v) for k, v in out.items()}
numpy.savez(sys.argv[2], **out)
mm = pthsafe.load(sys.argv[1], mmap=True)
assert all((mm[k] == out[k]).all() for k in out)
"""


def test_without_torch_tensors_are_numpy_arrays(tmp_path):
    np = pytest.importorskip("numpy")
    subprocess.run([sys.executable, "-c", NO_TORCH, STATE_DICT, str(tmp_path / "arrays.npz")], check=True)
    arrays = np.load(tmp_path / "arrays.npz")
    theirs = torch_load(STATE_DICT)
    assert set(arrays.files) == set(theirs)
    for k, t in theirs.items():
        assert arrays[k].shape == tuple(t.shape) and arrays[k].tobytes() == t.contiguous().numpy().tobytes(), k


def test_help_states_the_safety_guarantee_and_stubs_exist():
    doc = pthsafe.load.__doc__
    assert "never unpickled" in doc and "UnsafeCheckpointError" in doc and "map_location" in doc
    for fn in (pthsafe.scan, pthsafe.match, pthsafe.convert):
        assert fn.__doc__ and len(fn.__doc__) > 100
    stub = os.path.join(os.path.dirname(pthsafe.__file__), "_core.pyi")
    text = open(stub).read()
    for name in ("def load(", "def scan(", "def match(", "def convert("):
        assert name in text, name
    assert os.path.exists(os.path.join(os.path.dirname(pthsafe.__file__), "py.typed"))
