"""lambshm's start-up hook for multiprocessing.Value / Array.

lambshm-mp-hook.pth (site-packages) and run/sitecustomize.py exec this file
into a module object of this name, rather than importing it: an import
compiles with compile(), whose first call in a process builds the
interpreter's AST types (about 1 ms), while exec of source does not.  So
this file costs its own parse and run only; the program's first import from
source pays for the AST types, as it would without lambshm.  Every start
parses it (no bytecode on a read-only /opt), so it is kept tiny: when
/dev/shm is unusable it puts this module on sys.meta_path, and only when the
program imports multiprocessing.heap does it load lambshm_mp_patch (the
directory policy and the patch) from this directory.  bench/RESULTS.md has
the cost.
"""
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
