"""Makers of the torch and numpy objects a checkpoint's values become (called by pthsafe._core).

Each function builds one kind of object from data the C++ core has already checked; names from
the file (dtypes, layouts, dict classes) are looked up in fixed tables, never imported.
"""
from __future__ import annotations

import collections
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

    __hash__ = None


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


def dict_subclass(name, d):
    return _DICT_CLASSES[name](d)


def set_state(obj, attrs):
    # torch._utils._set_obj_state: setattr for every entry of the state dict.
    for k, v in attrs.items():
        setattr(obj, k, v)


def size(dims):
    _need_torch("a torch.Size")
    return torch.Size(dims)


def dtype(name):
    _need_torch("a torch.dtype")
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise NotImplementedError(f"pthsafe.load: dtype {name} does not exist in torch {torch.__version__}")
    return dt


def device(text):
    _need_torch("a torch.device")
    return torch.device(text)


def layout(name):
    _need_torch("a torch.layout")
    if name.startswith("torch."):
        name = name[len("torch."):]
    if name not in _LAYOUTS or not hasattr(torch, name):
        raise NotImplementedError(f"pthsafe.load: layout {name} is not known to torch {torch.__version__}")
    return getattr(torch, name)


def qscheme(name):
    _need_torch("a torch.qscheme")
    if name.startswith("torch."):
        name = name[len("torch."):]
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


def rebuild(base, name, offset, shape, stride):
    # As torch._utils._rebuild_tensor: a fresh tensor set_() onto the shared storage (the uint8
    # tensor over the checkpoint's bytes), so that it is no view (t._base is None) and every
    # tensor over one storage shares it.
    t = torch.empty((0,), dtype=dtype(name))
    return t.set_(_untyped(base), offset, shape, stride)


def meta_tensor(shape, stride, name):
    return torch.empty_strided(shape, stride, dtype=dtype(name), device="meta")


def set_bits(t, conj, neg):
    if conj:
        torch._C._set_conj(t, True)
    if neg:
        torch._C._set_neg(t, True)


def parameter(t, requires_grad):
    return torch.nn.Parameter(t, requires_grad=requires_grad)


def requires_grad(t):
    t.requires_grad_(True)


def typed_storage(base, name):
    t = rebuild(base, name, 0, (base.numel() // dtype(name).itemsize if hasattr(torch.dtype, "itemsize")
                                else base.numel() // torch.empty((), dtype=dtype(name)).element_size(),), (1,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated in torch 2.x, but it is what torch.load returns
        return t.storage()
