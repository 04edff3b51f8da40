"""The exceptions pthsafe.load and pthsafe.scan raise. Subclasses of pickle.UnpicklingError, as
torch.load(weights_only=True) raises that class for what it refuses."""
from __future__ import annotations

import pickle

# pthsafe::error_class values (include/pthsafe/error.hpp)
_REFUSED, _MALFORMED, _UNSUPPORTED, _IO, _USAGE = range(5)


class CheckpointError(pickle.UnpicklingError):
    """A checkpoint pthsafe will not load. ``rule`` is the stable error name (an errc name such as
    ``"pickle_global_refused"``); ``record`` the archive record ("" for the file itself);
    ``offset`` the byte offset in it; ``subject`` the global or opcode involved where the reader
    names one apart from the message (scan findings do; load errors name it in the message and
    leave ``subject`` empty)."""

    def __init__(self, message, rule="", severity="error", record="", offset=0, subject=""):
        super().__init__(message)
        self.message, self.rule, self.severity = message, rule, severity
        self.record, self.offset, self.subject = record, offset, subject

    def __str__(self):
        where = f"{self.record}@{self.offset}" if self.record else f"@{self.offset}"
        return f"{where}: {self.rule}: {self.message}"


class UnsafeCheckpointError(CheckpointError):
    """The file asks for something outside the policy (a global, opcode or class that could run
    code): the verdict "unsafe"."""


class MalformedCheckpointError(CheckpointError):
    """The file cannot be read consistently (corrupt, truncated, lying, over a limit, or a feature
    pthsafe does not read): the verdict "malformed"."""


def from_core(rule, klass, record, offset, message):
    if klass == _IO:
        return OSError(f"{record or 'file'}: {rule}: {message}")
    if klass == _USAGE:
        return KeyError(f"{rule}: {message}")
    cls = UnsafeCheckpointError if klass == _REFUSED else MalformedCheckpointError
    subject = ""
    return cls(message, rule=rule, record=record, offset=offset, subject=subject)
