# lambshm's start-up hook for multiprocessing.Value / Array.
#
# lambshm-mp-hook.pth (site-packages) and run/sitecustomize.py exec this file
# into a module of this name rather than import it: its shipped bytecode
# (__pycache__/, packaging/bytecompile) when this Python's is there, else its
# source.  An import would compile with compile(), whose first call in a
# process builds the interpreter's AST types, and exec of source does not, so
# lambshm never pays for them (the program's first import from source does,
# as it would anyway).  Without bytecode every start compiles this file (no
# pyc is ever written to a read-only /opt), so it is short, with comments,
# not a docstring: when
# /dev/shm is unusable it puts this module on sys.meta_path, and only when the
# program imports multiprocessing.heap does it load lambshm_mp_patch (the
# policy and the patch) from this directory.  bench/RESULTS.md has the cost.
import os
import sys


def find_spec(name, path=None, target=None):
    if name != "multiprocessing.heap":
        return None
    sys.meta_path.remove(_self)
    return _patcher().find_spec(name, path, target)


def _patcher():
    here = os.path.dirname(__file__)
    sys.path.insert(0, here)
    try:
        import lambshm_mp_patch
    finally:
        sys.path.remove(here)  # the first occurrence: ours
    return lambshm_mp_patch


_self = sys.modules[__name__]  # the finder, even if sys.modules drops it
try:
    os.statvfs("/dev/shm")
    _usable = os.access("/dev/shm", os.W_OK | os.X_OK)
except OSError:
    _usable = False
if _usable:
    pass
elif "multiprocessing.heap" in sys.modules:
    _patcher().patch(sys.modules["multiprocessing.heap"])
elif _self not in sys.meta_path:
    sys.meta_path.insert(0, _self)
