"""Makers of the torch and numpy objects a checkpoint's values become (called by pthsafe._core).

Each function builds one kind of object from data the C++ core has already checked; names from
the file (dtypes, layouts, dict classes) are looked up in fixed tables, never imported.
"""
from __future__ import annotations

import collections
import re
import warnings
from collections import OrderedDict  # noqa: F401  (used by the core for ordered_dict values)

try:
    import torch
except ImportError:  # pragma: no cover - documented: tensors need torch
    torch = None

_DICT_CLASSES = {"collections.Counter": collections.Counter}
_LAYOUTS = {"strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "_mkldnn"}
_QSCHEMES = {"per_tensor_affine", "per_channel_affine", "per_tensor_symmetric",
             "per_channel_symmetric", "per_channel_affine_float_qparams"}


class InertObject:
    """An instance of a class admitted with ``allow_globals``: never constructed, kept as data.

    ``name`` is the class's ``module.qualname``; ``args`` what the file passed to it; ``state``
    what BUILD set (``None`` when nothing); ``attrs`` the attributes BUILD set one by one.
    """

    __slots__ = ("name", "args", "state", "attrs")

    def __init__(self, name, args, state, attrs):
        self.name, self.args, self.state, self.attrs = name, args, state, attrs

    def __repr__(self):
        return f"pthsafe.InertObject({self.name!r}, args={self.args!r}, state={self.state!r})"

    def __eq__(self, other):
        return isinstance(other, InertObject) and (self.name, self.args, self.state, self.attrs) == (
            other.name, other.args, other.state, other.attrs)

    # Hashed by identity, as the core keys an instance (and as an instance without __hash__
    # hashes): one used as a dict key or set item stays usable.
    __hash__ = object.__hash__


class GlobalRef:
    """A reference to an allowed class or function that the file named but never called."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"pthsafe.GlobalRef({self.name!r})"

    def __eq__(self, other):
        return isinstance(other, GlobalRef) and self.name == other.name

    def __hash__(self):
        return hash(("pthsafe.GlobalRef", self.name))


def _need_torch(what):
    if torch is None:
        raise ImportError(f"pthsafe.load: this checkpoint holds {what}, which needs torch installed")


# Without torch, tensors become numpy arrays (docs/python.md): the dtypes numpy has.
_NUMPY_DTYPES = {"float64": "<f8", "float32": "<f4", "float16": "<f2", "int64": "<i8", "int32": "<i4",
                 "int16": "<i2", "int8": "i1", "uint8": "u1", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8",
                 "bool": "?", "complex64": "<c8", "complex128": "<c16"}


def _numpy_dtype(name):
    import numpy

    if name not in _NUMPY_DTYPES:
        raise ImportError(f"pthsafe.load: a {name} tensor needs torch installed (numpy has no {name})")
    return numpy.dtype(_NUMPY_DTYPES[name])


def dict_subclass(name, d):
    return _DICT_CLASSES[name](d)


def set_state(obj, attrs):
    # torch._utils._set_obj_state: setattr for every entry of the state dict (names the core
    # checked: no dunders, methods or properties).
    if torch is None and not isinstance(obj, dict):
        raise ImportError("pthsafe.load: this checkpoint sets attributes on a tensor, which needs torch installed")
    for k, v in attrs.items():
        setattr(obj, k, v)


def size(dims):
    return tuple(dims) if torch is None else torch.Size(dims)


def dtype(name):
    if torch is None:
        return "torch." + name
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise NotImplementedError(f"pthsafe.load: dtype {name} does not exist in torch {torch.__version__}")
    return dt


def device(text):
    return text if torch is None else torch.device(text)


def layout(name):
    if name.startswith("torch."):
        name = name[len("torch."):]
    if torch is None:
        return "torch." + name
    if name not in _LAYOUTS or not hasattr(torch, name):
        raise NotImplementedError(f"pthsafe.load: layout {name} is not known to torch {torch.__version__}")
    return getattr(torch, name)


def qscheme(name):
    if name.startswith("torch."):
        name = name[len("torch."):]
    if torch is None:
        return "torch." + name
    if name not in _QSCHEMES:
        raise NotImplementedError(f"pthsafe.load: qscheme {name} is not known")
    return getattr(torch, name)


def torch_version(text):
    try:
        from torch.torch_version import TorchVersion
    except ImportError:
        return text
    return TorchVersion(text)


def numpy_scalar(name, value):
    import numpy

    return numpy.dtype(name).type(value)


def ndarray(name, shape, raw):
    import numpy

    # The core hands C-order little-endian bytes; a copy makes the array writable, as unpickling does.
    return numpy.frombuffer(raw, dtype=numpy.dtype(name).newbyteorder("<")).reshape(shape).copy()


if torch is not None and hasattr(torch.Tensor, "untyped_storage"):
    def _untyped(base):
        return base.untyped_storage()
else:
    def _untyped(base):
        return base.storage().untyped()  # torch 1.13


# pthsafe._core's fast path: a storage's first tensor, when it views the storage whole, comes
# straight from a DLPack capsule (no uint8 storage tensor, torch.empty and set_()).
dlpack_tensor = getattr(torch._C, "_from_dlpack", None) if torch is not None else None


def storage_bytes(t):
    # The uint8 tensor over the whole storage of a fast-path tensor: what later tensors and
    # TypedStorages of that storage are rebuilt onto, as onto the DLPack bytes of the general path.
    return torch.empty((0,), dtype=torch.uint8).set_(_untyped(t))


def _numpy_view(base, name, offset, shape, stride):
    import numpy

    dt = _numpy_dtype(name)
    # numpy checks that every element lies inside the buffer (the core checked it already).
    return numpy.ndarray(tuple(shape), dtype=dt, buffer=base, offset=offset * dt.itemsize,
                         strides=tuple(s * dt.itemsize for s in stride))


def rebuild(base, name, offset, shape, stride):
    # As torch._utils._rebuild_tensor: a fresh tensor set_() onto the shared storage (the uint8
    # tensor over the checkpoint's bytes), so that it is no view (t._base is None) and every
    # tensor over one storage shares it.
    if torch is None:
        return _numpy_view(base, name, offset, shape, stride)
    t = torch.empty((0,), dtype=dtype(name), device=base.device)
    return t.set_(_untyped(base), offset, shape, stride)


# The devices a storage may be moved to, with how to ask torch whether one is present: torch's
# own restore locations for them. Anything else, from the file or from map_location, is refused
# before torch sees it (torch would import backend modules named after it).
_DEVICE = re.compile(r"(cuda|xpu)(:[0-9]{1,4})?|meta|mps")


def _available(kind):
    if kind == "meta":
        return True
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    backend = getattr(torch, kind, None)
    return bool(backend is not None and backend.is_available())


def to_device(base, where):
    """The uint8 storage tensor `base` on device `where` (a saved location or map_location's
    target), moved once per storage."""
    from ._errors import MalformedCheckpointError

    _need_torch(f"tensors for device {where!r}")
    if not _DEVICE.fullmatch(where):
        raise MalformedCheckpointError(
            f"location {where!r} is not a device pthsafe restores (cpu, cuda[:N], xpu[:N], mps, meta)",
            rule="bad_device")
    kind = where.split(":")[0]
    if not _available(kind):
        if kind == "cuda":
            # torch.load's own words for this case (torch/serialization.py, validate_cuda_device).
            raise RuntimeError("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() "
                               "is False. If you are running on a CPU-only machine, please use "
                               "pthsafe.load with map_location='cpu' to map your storages to the CPU.")
        raise RuntimeError(f"pthsafe.load: device {where!r} is not available in this torch")
    try:
        return base.to(torch.device(where))
    except Exception as e:  # noqa: BLE001 - an index past the device count, out of memory
        raise RuntimeError(f"pthsafe.load: cannot move a storage to {where!r}: {e}") from e


def meta_tensor(shape, stride, name):
    _need_torch("a tensor without data (device meta)")
    return torch.empty_strided(shape, stride, dtype=dtype(name), device="meta")


def sparse(layout_name, indices, plain, values, shape, coalesced):
    """torch._utils._rebuild_sparse_tensor: invariants were checked by the core, as torch checks them."""
    _need_torch(f"a sparse tensor ({layout_name})")
    # torch's own rebuild skips the invariant checks and validates after the load; here torch
    # checks them again (where it can) although the core did: a second line of defence.
    checks = {"check_invariants": True} if _SPARSE_KW else {}
    if layout_name == "sparse_coo":
        if coalesced >= 0 and _SPARSE_KW:
            return torch.sparse_coo_tensor(indices, values, shape, is_coalesced=bool(coalesced), **checks)
        return torch.sparse_coo_tensor(indices, values, shape, **checks)
    return torch.sparse_compressed_tensor(indices, plain, values, shape, layout=layout(layout_name), **checks)


def qtensor(base, name, offset, shape, stride, scheme, params):
    """torch._utils._rebuild_qtensor: an empty quantized tensor set_() onto the storage."""
    _need_torch(f"a quantized tensor ({scheme})")
    qs = qscheme(scheme)
    if qs == torch.per_tensor_affine:
        scale, zero_point = params
        t = torch._empty_affine_quantized((0,), scale=scale, zero_point=zero_point, dtype=dtype(name),
                                          device=base.device)
    else:
        scales, zero_points, axis = params
        t = torch._empty_per_channel_affine_quantized((0,), scales=scales, zero_points=zero_points, axis=axis,
                                                      dtype=dtype(name), device=base.device)
    return t.set_(_untyped(base), offset, shape, stride)


def set_bits(t, conj, neg):
    if torch is None:
        # numpy has no lazy conjugate/negative bits: the values they stand for, computed.
        if conj:
            t = t.conj()
        return -t if neg else t
    if conj:
        torch._C._set_conj(t, True)
    if neg:
        torch._C._set_neg(t, True)
    return t


def parameter(t, requires_grad):
    if torch is None:
        return t  # numpy arrays carry no autograd state
    return torch.nn.Parameter(t, requires_grad=requires_grad)


def requires_grad(t):
    if torch is not None:
        t.requires_grad_(True)


def typed_storage(base, name):
    if torch is None:
        return _numpy_view(base, name, 0, (base.nbytes // _numpy_dtype(name).itemsize,), (1,))
    t = rebuild(base, name, 0, (base.numel() // dtype(name).itemsize if hasattr(torch.dtype, "itemsize")
                                else base.numel() // torch.empty((), dtype=dtype(name)).element_size(),), (1,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated in torch 2.x, but it is what torch.load returns
        return t.storage()


def _sparse_takes_keywords():
    # torch >= 2.1: sparse_coo_tensor takes is_coalesced (saved since 2.1) and check_invariants.
    if torch is None:
        return False
    try:
        torch.sparse_coo_tensor(torch.zeros((1, 0), dtype=torch.int64), torch.zeros((0,)), (1,), is_coalesced=False,
                                check_invariants=True)
    except TypeError:
        return False
    return True


_SPARSE_KW = _sparse_takes_keywords()
