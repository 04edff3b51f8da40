"""pthsafe: load PyTorch checkpoints without running pickle, and judge them first.

``pthsafe.load`` returns what ``torch.load(f, map_location, weights_only=True)`` returns, built by a
C++ reader that never executes the pickle: every opcode is interpreted by a restricted machine,
every global is looked up in a fixed allowlist and turned into data, and nothing named by the
file is imported or called. The whole file is validated (zip structure, pickle, every tensor's
bounds against its storage) before a single Python object exists, so a hostile file raises
``UnsafeCheckpointError`` or ``MalformedCheckpointError`` and has had no effect.

``pthsafe.scan`` gives the verdict ("safe", "unsafe", "malformed") and its findings without
reading any tensor data. docs/python.md has the details and what differs from torch.load.
"""
from __future__ import annotations

import mmap as _mmap
import os
from dataclasses import dataclass
from typing import IO, Any, Dict, Iterable, Mapping, Optional, Tuple, Union

#: What load, scan and match read: a path, the file's bytes, or a binary file object.
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
#: torch.load's map_location forms pthsafe takes: a device (str or torch.device) or a
#: {saved location: device} dict.
MapLocation = Union[None, str, Any, Dict[str, Any]]

from . import _core
from ._errors import CheckpointError, MalformedCheckpointError, UnsafeCheckpointError
from ._glue import GlobalRef, InertObject

__all__ = [
    "load", "scan", "match", "convert", "Report", "Finding", "MatchReport", "ConvertSummary", "CheckpointError", "UnsafeCheckpointError",
    "MalformedCheckpointError", "InertObject", "GlobalRef", "Source", "MapLocation", "__version__",
]
__version__ = _core.version()


@dataclass(frozen=True)
class Finding:
    """One reason behind a scan's verdict."""

    rule: str       #: stable id: an error name ("pickle_global_refused") or a warning id
    severity: str   #: "note", "warning" or "error"
    record: str     #: archive record ("archive/data.pkl"), "" for the file itself
    offset: int     #: byte offset within the record (or the file)
    subject: str    #: the global or opcode involved, "" when none
    message: str    #: one line


@dataclass(frozen=True)
class Report:
    """What ``scan`` found: ``verdict`` is "safe", "unsafe" or "malformed"; ``format`` the
    container ("zip", "legacy", "torchscript", "pickle", "tar", or "" when unknown)."""

    verdict: str
    format: str
    findings: Tuple[Finding, ...]

    @property
    def safe(self) -> bool:
        return self.verdict == "safe"


def _is_path(f) -> bool:
    return isinstance(f, (str, os.PathLike))


def _source(f, mmap: bool):
    """What the core reads: a str path, or an object with the buffer protocol."""
    if _is_path(f):
        path = os.fspath(f)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not mmap:
            return path
        # A private copy-on-write mapping (torch.load(mmap=True) maps MAP_PRIVATE too): tensors may
        # be written without touching the file, and the mapping lives as long as a tensor views it.
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return b""
            return _mmap.mmap(fh.fileno(), 0, access=_mmap.ACCESS_COPY)
    if mmap:
        raise ValueError("pthsafe.load: mmap=True needs a file path, as torch.load's mmap does")
    if isinstance(f, (bytes, bytearray, memoryview)):
        return f
    if hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("pthsafe.load: the file object must be opened in binary mode")
        return data
    raise TypeError(f"pthsafe.load: expected a path, bytes or a binary file object, not {type(f).__name__}")


def _placement(map_location):
    """map_location as torch.load takes it -> (saved location -> device, device for all others)."""
    if map_location is None:
        return {}, ""
    if isinstance(map_location, str) or type(map_location).__name__ == "device":
        return {}, str(map_location)
    if isinstance(map_location, dict):
        return {str(k): str(v) for k, v in map_location.items()}, ""
    raise TypeError(
        f"pthsafe.load: map_location={map_location!r} is not supported; use None, a device (str or "
        "torch.device) or a dict of saved location -> device (a callable would receive torch storages: "
        "load with map_location='cpu' and move the tensors yourself)")


def load(f: Source, map_location: MapLocation = None, *, mmap: bool = False, strict_torch: bool = False,
         allow_globals: Iterable[str] = (), key: Optional[str] = None,
         strip_prefix: Optional[str] = None) -> Any:
    """Load a PyTorch checkpoint without running pickle; returns what
    ``torch.load(f, map_location, weights_only=True)`` returns.

    Safety: the file is never unpickled by Python. A C++ reader interprets the pickle with a
    fixed allowlist (torch's weights_only allowlist, plus data-only opcodes), validates the zip
    container, every record and every tensor view against its storage, and only then builds the
    Python objects, from data. Nothing the file names is imported or called, so a hostile file
    raises UnsafeCheckpointError (it asks for code) or MalformedCheckpointError (it is corrupt
    or lies) before anything happens.

    f: a path (str or os.PathLike), bytes / bytearray / memoryview holding the file, or a binary
       file object (read to its end).
    map_location: as torch.load's: None (each tensor where it was saved), a device ("cpu",
       "cuda:1", "meta" or a torch.device: every tensor there) or a dict {saved location: device}.
       Tensors are built over the file's bytes on the CPU; each storage bound elsewhere is moved
       there once, so views keep sharing it. A callable is not supported (TypeError).
    mmap: tensors view a private copy-on-write mapping of the file (no copy); the file stays
       mapped exactly as long as a tensor uses it. Needs a path.
    strict_torch: also refuse the data-only opcodes torch's weights_only unpickler refuses.
    allow_globals: extra "module.name" globals admitted; their instances become pthsafe.InertObject
       (never constructed).
    key / strip_prefix: return only the state_dict (an OrderedDict of name -> tensor): at key path
       ``key`` ("model", "a/b"), or found as the CLI finds it when key is None, with
       ``strip_prefix`` ("module.") removed from the names.

    Raises UnsafeCheckpointError / MalformedCheckpointError (pickle.UnpicklingError subclasses),
    OSError when the file cannot be read, KeyError when ``key`` / ``strip_prefix`` find no
    state_dict, RuntimeError when a CUDA device is asked for and torch has none (torch.load's
    words). Without torch installed, tensors are numpy arrays (dtypes numpy lacks,
    sparse and quantized tensors raise ImportError); torch.Size is a tuple and dtypes, devices and
    layouts are their names.
    """
    remap, all_to = _placement(map_location)
    source = _source(f, mmap)
    want_state_dict = key is not None or strip_prefix is not None
    return _core.load(source, bool(mmap) and not isinstance(source, bytes), bool(strict_torch),
                      [str(g) for g in allow_globals], remap, all_to, want_state_dict, key or "",
                      strip_prefix or "")


def scan(f: Source, strict_torch: bool = False, allow_globals: Iterable[str] = ()) -> Report:
    """Judge a checkpoint without reading its tensor data: Report(verdict, format, findings).

    f: a path, bytes-like, or binary file object. Never raises for the file's contents (an
    unreadable file is "malformed", never "safe").
    """
    if _is_path(f):
        source = os.fsdecode(os.fspath(f))
    elif isinstance(f, (bytes, bytearray, memoryview)):
        source = f
    elif hasattr(f, "read"):
        source = f.read()
    else:
        raise TypeError(f"pthsafe.scan: expected a path, bytes or a binary file object, not {type(f).__name__}")
    verdict, fmt, findings = _core.scan(source, bool(strict_torch), [str(g) for g in allow_globals])
    return Report(verdict, fmt, tuple(Finding(*x) for x in findings))


@dataclass(frozen=True)
class MatchReport:
    """What ``load_state_dict`` would say, found without loading a tensor (``pthsafe match``).

    ``missing_keys`` / ``unexpected_keys`` as torch lists them; ``size_mismatches`` are
    (key, checkpoint shape, model shape); ``dtype_mismatches`` (key, checkpoint dtype, model
    dtype) are warnings (load_state_dict casts). ``ok``: torch would accept the state_dict with
    this ``strict``.
    """

    missing_keys: Tuple[str, ...]
    unexpected_keys: Tuple[str, ...]
    size_mismatches: Tuple[Tuple[str, Tuple[int, ...], Tuple[int, ...]], ...]
    dtype_mismatches: Tuple[Tuple[str, str, str], ...]
    strict: bool
    ok: bool


def _dtype_name(dt) -> str:
    name = str(dt)
    return name[len("torch."):] if name.startswith("torch.") else name


def _reference(against):
    """(path, entries): a file the core reads, or (name, dtype, shape) entries of a model."""
    if _is_path(against):
        return os.fsdecode(os.fspath(against)), []
    if hasattr(against, "state_dict") and callable(against.state_dict):
        against = against.state_dict()
    if hasattr(against, "items"):
        return "", [(str(k), _dtype_name(v.dtype), [int(d) for d in v.shape]) for k, v in against.items()]
    raise TypeError("pthsafe.match: `against` is a path (checkpoint, .safetensors or a .json manifest), "
                    f"a module with state_dict() or a mapping of name -> tensor, not {type(against).__name__}")


def match(f: Source, against: Union[str, "os.PathLike[str]", Mapping[str, Any], Any], *, key: Optional[str] = None, strip_prefix: Optional[str] = None, strict: bool = True,
          strict_torch: bool = False, allow_globals: Iterable[str] = ()) -> MatchReport:
    """Check a checkpoint's state_dict against a model before loading it: the missing and
    unexpected keys and the shape mismatches ``model.load_state_dict(sd, strict)`` would report.

    f: the checkpoint (path, bytes or binary file object); only its metadata is read.
    against: a torch.nn.Module (its state_dict's names, dtypes and shapes; nothing is loaded),
       a mapping of name -> tensor (anything with .dtype and .shape), or a path: a checkpoint,
       a .safetensors file or a .json manifest ({"name": {"dtype": ..., "shape": [...]}}).
    key / strip_prefix: where the state_dict is and the prefix to drop, as in ``load``.
    Raises UnsafeCheckpointError / MalformedCheckpointError for a checkpoint (or reference file)
    that cannot be read safely.
    """
    path, entries = _reference(against)
    source = _source(f, False)
    missing, unexpected, sizes, types, ok = _core.match(
        source, bool(strict_torch), [str(g) for g in allow_globals], key or "", strip_prefix or "", path, entries,
        bool(strict))
    return MatchReport(tuple(missing), tuple(unexpected),
                       tuple((k, tuple(a), tuple(b)) for k, a, b in sizes), tuple(tuple(t) for t in types),
                       bool(strict), bool(ok))


@dataclass(frozen=True)
class ConvertSummary:
    """What ``convert`` wrote: ``tensors`` (tied ones once for .safetensors), ``converted`` (those
    whose dtype changed), ``state_dict_key`` (where the state_dict was found, "" for the root),
    ``whole_tree`` (the whole object was written) and ``dropped_metadata`` (what .safetensors
    cannot hold)."""

    tensors: int
    converted: int
    state_dict_key: str
    whole_tree: bool
    dropped_metadata: Tuple[str, ...]


def convert(src: Union[str, "os.PathLike[str]"], dst: Union[str, "os.PathLike[str]"], *, dtype: Any = None, state_dict_only: bool = False, key: Optional[str] = None,
            strip_prefix: Optional[str] = None, strict_torch: bool = False,
            allow_globals: Iterable[str] = ()) -> ConvertSummary:
    """Convert a checkpoint file without running pickle (``pthsafe convert``): to a torch.save
    zip (``dst`` ending in .pth/.pt/.bin) or to .safetensors, streaming tensor by tensor (peak
    memory independent of the file's size). The input is judged first: an unsafe or malformed
    file raises and writes nothing.

    dtype: cast floating tensors ("float16", "bfloat16", or a torch.dtype).
    state_dict_only / key / strip_prefix: write only the state_dict, as ``load`` finds it.
    """
    summary = _core.convert(os.fsdecode(os.fspath(src)), os.fsdecode(os.fspath(dst)), bool(strict_torch),
                            [str(g) for g in allow_globals], bool(state_dict_only), key or "", strip_prefix or "",
                            "" if dtype is None else _dtype_name(dtype))
    tensors, converted, sd_key, whole, dropped = summary
    return ConvertSummary(int(tensors), int(converted), sd_key, bool(whole), tuple(dropped))
