"""Deep comparison of what pthsafe.load and torch.load return: types, values, dtypes, geometry,
requires_grad, Parameters, and sharing (object identity and storages)."""
import struct
from collections import OrderedDict

import torch


class Sharing:
    """Checks that two object graphs share the same things: a bijection between the objects
    (by id) and between the storages (by data pointer) of the two sides."""

    def __init__(self):
        self.objects, self.objects_back = {}, {}
        self.storages, self.storages_back = {}, {}

    def pair(self, table, back, a, b, path, what):
        if a in table or b in back:
            assert table.get(a) == b and back.get(b) == a, f"{path}: {what} shared differently"
        table[a], back[b] = b, a


def _storage_ptr(t):
    s = t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()
    return s.data_ptr()


def _same_sparse(ours, theirs, path, sharing):
    # A sparse tensor is its components: compared as tensors (values, dtypes, geometry).
    if ours.layout == torch.sparse_coo:
        assert ours.is_coalesced() == theirs.is_coalesced(), f"{path}: is_coalesced"
        parts = [("indices", lambda t: t._indices()), ("values", lambda t: t._values())]
    else:
        compressed = {torch.sparse_csr: ("crow_indices", "col_indices"), torch.sparse_csc: ("ccol_indices", "row_indices")}
        if hasattr(torch, "sparse_bsr"):
            compressed[torch.sparse_bsr] = compressed[torch.sparse_csr]
            compressed[torch.sparse_bsc] = compressed[torch.sparse_csc]
        first, second = compressed[ours.layout]
        parts = [(first, lambda t: getattr(t, first)()), (second, lambda t: getattr(t, second)()),
                 ("values", lambda t: t.values())]
    for name, get in parts:
        x, y = get(ours), get(theirs)
        assert x.dtype == y.dtype and x.shape == y.shape, f"{path}.{name}: dtype/shape"
        assert torch.equal(x.contiguous().reshape(-1).view(torch.uint8), y.contiguous().reshape(-1).view(torch.uint8)), \
            f"{path}.{name}: values"


def _same_quantizer(ours, theirs, path, sharing):
    assert ours.qscheme() == theirs.qscheme(), f"{path}: qscheme"
    if ours.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        assert ours.q_scale() == theirs.q_scale() and ours.q_zero_point() == theirs.q_zero_point(), f"{path}: qparams"
        return
    assert ours.q_per_channel_axis() == theirs.q_per_channel_axis(), f"{path}: axis"
    for name in ("q_per_channel_scales", "q_per_channel_zero_points"):
        x, y = getattr(ours, name)(), getattr(theirs, name)()
        assert x.dtype == y.dtype and torch.equal(x, y), f"{path}: {name}"


def assert_same(ours, theirs, path="root", sharing=None):
    sharing = sharing or Sharing()
    assert type(ours) is type(theirs), f"{path}: {type(ours).__name__} != {type(theirs).__name__}"
    if isinstance(ours, (list, tuple, dict, set, torch.Tensor)):
        sharing.pair(sharing.objects, sharing.objects_back, id(ours), id(theirs), path, "object")
    if isinstance(ours, torch.Tensor):
        assert ours.dtype == theirs.dtype, f"{path}: dtype {ours.dtype} != {theirs.dtype}"
        assert ours.shape == theirs.shape, f"{path}: shape"
        assert ours.device == theirs.device, f"{path}: device"
        assert ours.requires_grad == theirs.requires_grad, f"{path}: requires_grad"
        assert ours.is_conj() == theirs.is_conj() and ours.is_neg() == theirs.is_neg(), f"{path}: conj/neg bits"
        # torch's _rebuild_from_type_v2 may return an as_subclass() view; pthsafe never does.
        assert ours._base is None, f"{path}: a view of another tensor"
        if ours.device.type == "meta":
            return
        assert ours.layout == theirs.layout, f"{path}: layout {ours.layout} != {theirs.layout}"
        if ours.layout != torch.strided:
            _same_sparse(ours, theirs, path, sharing)
            return
        assert ours.is_quantized == theirs.is_quantized, f"{path}: quantized"
        if ours.is_quantized:
            _same_quantizer(ours, theirs, path, sharing)
        assert ours.stride() == theirs.stride(), f"{path}: stride {ours.stride()} != {theirs.stride()}"
        assert ours.storage_offset() == theirs.storage_offset(), f"{path}: storage offset"
        if ours.numel():
            sharing.pair(sharing.storages, sharing.storages_back, _storage_ptr(ours), _storage_ptr(theirs), path, "storage")
        a, b = ours.detach(), theirs.detach()
        if a.is_quantized:
            a, b = a.int_repr(), b.int_repr()
        if a.is_conj():
            a, b = a.resolve_conj(), b.resolve_conj()
        if a.is_neg():
            a, b = a.resolve_neg(), b.resolve_neg()
        # Compare bytes, not values: NaN payloads and -0.0 count, and every dtype has bytes.
        assert torch.equal(a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8)), f"{path}: values"
        assert vars(ours).keys() == vars(theirs).keys(), f"{path}: tensor attributes"
        for k in vars(theirs):
            assert_same(vars(ours)[k], vars(theirs)[k], f"{path}.{k}", sharing)
        return
    if isinstance(ours, dict):
        assert list(ours.keys()) == list(theirs.keys()), f"{path}: keys"
        for k in theirs:
            assert_same(ours[k], theirs[k], f"{path}[{k!r}]", sharing)
        assert hasattr(ours, "_metadata") == hasattr(theirs, "_metadata"), f"{path}: _metadata"
        if hasattr(theirs, "_metadata"):
            assert_same(ours._metadata, theirs._metadata, f"{path}._metadata", sharing)
        return
    if isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs), f"{path}: length"
        for i, (x, y) in enumerate(zip(ours, theirs)):
            assert_same(x, y, f"{path}[{i}]", sharing)
        return
    if isinstance(ours, (float, complex)):  # bits: NaN payloads and -0.0 count
        parts = lambda z: (z.real, z.imag) if isinstance(z, complex) else (z,)  # noqa: E731
        assert struct.pack("<%dd" % len(parts(ours)), *parts(ours)) == struct.pack("<%dd" % len(parts(theirs)), *parts(theirs)), \
            f"{path}: {ours!r} != {theirs!r}"
        return
    if hasattr(theirs, "dtype") and hasattr(theirs, "tobytes"):  # numpy scalars and arrays
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, f"{path}: numpy dtype/shape"
        assert ours.tobytes() == theirs.tobytes(), f"{path}: numpy values"
        return
    if hasattr(torch, "TypedStorage") and isinstance(theirs, torch.TypedStorage):
        assert ours.dtype == theirs.dtype and ours.size() == theirs.size() and list(ours) == list(theirs), f"{path}: storage"
        return
    assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
    assert str(ours) == str(theirs), f"{path}: {ours!r} != {theirs!r}"

