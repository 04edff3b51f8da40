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
from typing import Any, Iterable, Optional, Tuple

from . import _core
from ._errors import CheckpointError, MalformedCheckpointError, UnsafeCheckpointError
from ._glue import GlobalRef, InertObject

__all__ = [
    "load", "scan", "Report", "Finding", "CheckpointError", "UnsafeCheckpointError",
    "MalformedCheckpointError", "InertObject", "GlobalRef", "__version__",
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


def _to_cpu(map_location) -> bool:
    if map_location is None:
        return False
    if isinstance(map_location, str) and map_location == "cpu":
        return True
    if type(map_location).__name__ == "device" and str(map_location) == "cpu":
        return True
    raise ValueError(
        f"pthsafe.load: map_location={map_location!r} is not supported yet; use None or 'cpu' "
        "(then move the tensors with .to(device))")


def load(f, map_location=None, *, mmap: bool = False, strict_torch: bool = False,
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
    map_location: None (tensors saved on the CPU) or "cpu" (every tensor on the CPU). Other
       devices are not supported yet (ValueError).
    mmap: tensors view a private copy-on-write mapping of the file (no copy); the file stays
       mapped exactly as long as a tensor uses it. Needs a path.
    strict_torch: also refuse the data-only opcodes torch's weights_only unpickler refuses.
    allow_globals: extra "module.name" globals admitted; their instances become pthsafe.InertObject
       (never constructed).
    key / strip_prefix: return only the state_dict (an OrderedDict of name -> tensor): at key path
       ``key`` ("model", "a/b"), or found as the CLI finds it when key is None, with
       ``strip_prefix`` ("module.") removed from the names.

    Raises UnsafeCheckpointError / MalformedCheckpointError (pickle.UnpicklingError subclasses),
    OSError when the file cannot be read, KeyError when ``key`` names nothing usable,
    NotImplementedError for sparse and quantized tensors (not converted yet).
    """
    to_cpu = _to_cpu(map_location)
    source = _source(f, mmap)
    want_state_dict = key is not None or strip_prefix is not None
    return _core.load(source, bool(mmap) and not isinstance(source, bytes), bool(strict_torch),
                      [str(g) for g in allow_globals], to_cpu, want_state_dict, key or "", strip_prefix or "")


def scan(f, strict_torch: bool = False, allow_globals: Iterable[str] = ()) -> Report:
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
