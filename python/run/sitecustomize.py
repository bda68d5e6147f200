"""lambshm's sitecustomize, put first in PYTHONPATH by `lambshm run`.

A .pth file is processed only from a site directory, and PYTHONUSERBASE would
replace the user's own; so `lambshm run` puts this directory first in
PYTHONPATH, Python's site module imports this file at start-up, and it
  1. loads lambshm_mp_hook from the directory above (a no-op when /dev/shm
     works, and skipped when a site-packages .pth has loaded it already);
  2. runs the sitecustomize module that this one shadows, if there is one,
     so that the program sees no difference.
Python started with -E, -I or -S does not get here; nothing else changes.

Every interpreter pays for this at start-up, spawned workers too: both steps
use the plain import statement, never importlib.util (about 7 ms to import).
"""
import os
import sys


def _load_hook(here):
    if "lambshm_mp_hook" in sys.modules:
        return
    parent = os.path.dirname(here)
    sys.path.insert(0, parent)
    try:
        import lambshm_mp_hook  # noqa: F401
    finally:
        sys.path.remove(parent)  # the first occurrence: ours


def _run_shadowed(here):
    # Imported again by name with this directory off the path; site's own
    # import then returns whatever is in sys.modules["sitecustomize"].
    me = sys.modules.pop("sitecustomize", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if os.path.abspath(p or os.curdir) != here]
    try:
        import sitecustomize  # noqa: F401
    except ImportError as e:
        if e.name != "sitecustomize":
            raise
    finally:
        sys.path[:] = saved
        if "sitecustomize" not in sys.modules and me is not None:
            sys.modules["sitecustomize"] = me


if sys.version_info >= (3, 5):
    _here = os.path.dirname(os.path.abspath(__file__))
    try:
        _load_hook(_here)
    finally:
        _run_shadowed(_here)
