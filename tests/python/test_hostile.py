"""Hostile files through pthsafe.load: every file of the hostile corpus (tests/hostile) is either
refused with the error the C++ loader (`pthsafe load`) gives or, where the danger lies outside
what a loader reads (an extra record, a memo bomb that only explodes when written out), loaded
exactly when the C++ loader loads it; nothing runs, hangs or crashes. Payloads that would create
a file in any reader (written by real torch.save / pickle with a __reduce__) never run: the canary
file never exists."""
import faulthandler
import json
import os
import pickle
import subprocess
import zipfile

import pytest
import torch

import pthsafe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTILE = os.path.join(ROOT, "hostile")
EXPECTED = json.load(open(os.path.join(HOSTILE, "expected.json")))
ERRORS = {"unsafe": pthsafe.UnsafeCheckpointError, "malformed": pthsafe.MalformedCheckpointError}
# A hang must fail the run with a traceback, not stall it: the suite's per-file budget.
WATCHDOG_S = 60
CLI = os.environ.get("PTHSAFE_CLI") or os.path.join(os.path.dirname(ROOT), "build", "pthsafe")


def load_guarded(path, **kw):
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    try:
        return pthsafe.load(path, map_location="cpu", **kw)
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.mark.parametrize("entry", EXPECTED, ids=lambda e: e["file"])
def test_hostile_corpus(entry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a payload that ran would leave files here
    path = os.path.join(HOSTILE, "files", entry["file"])
    verdicts = {entry["verdict"]} | {alt["verdict"] for alt in entry.get("alt", [])}
    cli = subprocess.run([CLI, "load", path], capture_output=True, text=True, errors="replace", timeout=WATCHDOG_S)
    try:
        load_guarded(path)
        outcome = None
    except pthsafe.CheckpointError as e:
        outcome = e
    except (NotImplementedError, ImportError) as e:
        # Read by the core, but nothing Python can hold (a wrapper subclass): never for a refused file.
        assert cli.returncode == 0, f"the C++ loader refuses it, the package raised {e!r}"
        outcome = "python"
    if outcome is None:
        assert cli.returncode == 0, f"the package loaded a file the C++ loader refuses: {cli.stderr.strip()}"
    elif outcome != "python":
        # The same refusal as the C++ loader, or a limit only building Python objects meets.
        assert cli.returncode != 0 or outcome.rule == "limit_exceeded", f"only the package refuses it: {outcome}"
        if cli.returncode != 0:
            assert f": {outcome.rule}:" in cli.stderr, f"package: {outcome}; CLI: {cli.stderr.strip()}"
            assert isinstance(outcome, ERRORS["unsafe" if cli.returncode == 1 else "malformed"])
    if verdicts == {"safe"}:
        assert not isinstance(outcome, pthsafe.UnsafeCheckpointError), f"scan says safe, load says unsafe: {outcome}"
    assert os.listdir(tmp_path) == [], "a payload left files behind"


class Payload:
    """Unpickling this object calls `fn(*args)` in any reader that runs pickle."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def payloads(canary):
    import builtins
    import os as os_module
    import subprocess
    return {
        "os_system": Payload(os_module.system, f"touch {canary}"),
        "builtins_exec": Payload(builtins.exec, f"open({str(canary)!r}, 'w').close()"),
        "builtins_eval": Payload(builtins.eval, f"open({str(canary)!r}, 'w')"),
        "subprocess_call": Payload(subprocess.call, ["touch", str(canary)]),
        "open": Payload(builtins.open, str(canary), "w"),
    }


@pytest.mark.parametrize("name", ["os_system", "builtins_exec", "builtins_eval", "subprocess_call", "open"])
@pytest.mark.parametrize("container", ["zip", "legacy", "pickle"])
def test_canary_payload_never_runs(name, container, tmp_path):
    canary = tmp_path / "canary"
    obj = {"weight": torch.ones(2, 2), "evil": payloads(canary)[name]}
    path = tmp_path / f"{name}.pt"
    if container == "pickle":
        path.write_bytes(pickle.dumps(obj, protocol=2))
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=container == "zip")
    assert not canary.exists()
    if container == "zip":
        assert zipfile.is_zipfile(path)
    with pytest.raises(pthsafe.UnsafeCheckpointError) as e:
        load_guarded(str(path))
    assert e.value.rule.startswith("pickle_global"), e.value.rule
    with pytest.raises(pthsafe.UnsafeCheckpointError):
        load_guarded(str(path), mmap=True)
    assert pthsafe.scan(str(path)).verdict == "unsafe"
    assert not canary.exists(), "the payload ran"
    # The payload is real: an unrestricted reader runs it.
    with open(path, "rb") as f:
        if container == "pickle":
            pickle.load(f)
        else:
            torch.load(f, weights_only=False)
    assert canary.exists()
