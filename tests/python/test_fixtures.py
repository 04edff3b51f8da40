"""pthsafe.load against torch.load(weights_only=True) on every fixture of tests/fixtures (real
torch files, written by gen_fixtures.py with torch 1.13 and 2.x) and on freshly generated random
checkpoints (tests/differential/random_checkpoints.py): equal where torch accepts the file,
a CheckpointError where torch refuses it, with the documented exceptions listed below."""
import glob
import os
import subprocess
import sys
import warnings

import pytest
import torch

import pthsafe
from same import assert_same

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")
FILES = sorted(glob.glob(os.path.join(FIXTURES, "*.pt")) + glob.glob(os.path.join(FIXTURES, "*.pth")))
REFUSED = sorted(glob.glob(os.path.join(FIXTURES, "refused", "*.pt")))

# Files pthsafe reads although torch.load(weights_only=True) refuses them (docs/python.md,
# "Beyond torch"): TorchVersion and numpy values, pickle protocols 3-5, legacy files of other
# protocols. For them the comparison is with torch.load(weights_only=False): our own fixtures.
BEYOND_TORCH = {"last", "numpy", "proto4", "proto5", "legacy_proto1", "legacy_proto3", "legacy_proto4",
                "legacy_proto5", "sparse"}
TORCH_1 = int(torch.__version__.split(".")[0]) < 2
# Refused on purpose although torch 1.13's weights_only loads them (it hands them to
# torch.jit.load, which runs their code): UnsafeCheckpointError torchscript_archive.
TORCHSCRIPT = {"torchscript", "torchscript_traced", "torchscript_sparse_quantized"}


def stem(path):
    name = os.path.splitext(os.path.basename(path))[0]
    return name[len("t113_"):] if name.startswith("t113_") else name


def written_by_torch_2(path):
    return not os.path.basename(path).startswith("t113_")


def beyond_torch(path, refusal=""):
    # torch 1.13's allowlist predates globals that torch 2.x writes (its fixtures are the files
    # without the t113_ prefix) and _rebuild_qtensor, and its unpickler lacks the BINFLOAT opcode
    # (71: every Python float of python_values and the training-state fixtures): pthsafe reads
    # them as torch 2.x does.
    if TORCH_1 and (written_by_torch_2(path) or stem(path) in ("python_values", "quantized")
                    or "Unsupported operand 71" in refusal):
        return True
    return stem(path) in BEYOND_TORCH


def torch_load(path, weights_only):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=weights_only)


def check_file(path):
    if stem(path) in TORCHSCRIPT:
        with pytest.raises(pthsafe.UnsafeCheckpointError) as e:
            pthsafe.load(path, map_location="cpu")
        assert e.value.rule == "torchscript_archive"
        return
    try:
        theirs = torch_load(path, True)
        torch_ok = True
    except Exception as e:  # noqa: BLE001 - whatever torch raises is a refusal
        torch_ok, refusal = False, str(e)
    if torch_ok:
        ours = pthsafe.load(path, map_location="cpu")
        assert_same(ours, theirs)
        return
    try:
        ours = pthsafe.load(path, map_location="cpu")
    except (pthsafe.CheckpointError, NotImplementedError):
        return
    assert beyond_torch(path, refusal), f"{path}: pthsafe loads a file torch refuses, and it is not documented"
    try:
        theirs = torch_load(path, False)
    except Exception as e:  # noqa: BLE001
        # torch 1.13 cannot unpickle what torch 2.x writes for some values (newer rebuild
        # functions and arguments; numpy 2's numpy._core under Debian's numpy 1.24).
        if TORCH_1 and written_by_torch_2(path):
            pytest.skip(f"this torch/numpy cannot read {os.path.basename(path)} at all: compared under torch 2.x")
        # torch 2.x dropped rebuild functions 1.13 wrote (_rebuild_sparse_csr_tensor).
        if not TORCH_1 and not written_by_torch_2(path) and isinstance(e, AttributeError):
            pytest.skip(f"this torch cannot read {os.path.basename(path)} at all: compared under torch 1.13")
        raise
    assert_same(ours, theirs)


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_fixture_matches_torch(path):
    check_file(path)


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_fixture_mmap_matches_copy(path):
    try:
        copy = pthsafe.load(path, map_location="cpu")
    except (pthsafe.CheckpointError, NotImplementedError) as e:
        with pytest.raises(type(e)):
            pthsafe.load(path, map_location="cpu", mmap=True)
        return
    assert_same(pthsafe.load(path, map_location="cpu", mmap=True), copy)


@pytest.mark.parametrize("path", REFUSED, ids=os.path.basename)
def test_refused_fixture_raises(path):
    with open(os.path.splitext(path)[0] + ".errc") as f:
        rule = f.read().strip()
    with pytest.raises(pthsafe.CheckpointError) as e:
        pthsafe.load(path, map_location="cpu")
    assert e.value.rule == rule


def test_random_checkpoints(tmp_path):
    gen = os.path.join(ROOT, "differential", "random_checkpoints.py")
    subprocess.run([sys.executable, gen, "--out", str(tmp_path), "--count", "12", "--seed", "15"], check=True,
                   stdout=subprocess.DEVNULL)
    files = sorted(glob.glob(str(tmp_path / "*.pt")))
    assert len(files) == 12
    for path in files:
        theirs = torch_load(path, False)  # ours, just written; may hold what weights_only refuses
        assert_same(pthsafe.load(path, map_location="cpu"), theirs)
        assert_same(pthsafe.load(path, map_location="cpu", mmap=True), theirs)


def test_tied_weights_stay_identical(tmp_path):
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd = {"a": w, "b": w, "c": w[1:], "d": w.t()}
    torch.save(sd, tmp_path / "tied.pt")
    out = pthsafe.load(str(tmp_path / "tied.pt"))
    assert out["a"] is out["b"]
    assert out["c"].data_ptr() == out["a"].data_ptr() + 4 * 4
    out["a"][0, 0] = 100.0  # one storage: a write shows through every view
    assert out["c"].untyped_storage().data_ptr() == out["a"].untyped_storage().data_ptr() if hasattr(
        out["c"], "untyped_storage") else True
    assert out["d"][0, 0].item() == 100.0
