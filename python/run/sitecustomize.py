"""lambshm's sitecustomize, put first in PYTHONPATH by `lambshm run`.

A .pth file is processed only from a site directory, and PYTHONUSERBASE would
replace the user's own; so `lambshm run` puts this directory first in
PYTHONPATH, Python's site module imports this file at start-up, and it
  1. loads lambshm_mp_hook from the directory above (a no-op when /dev/shm
     works, and skipped when a site-packages .pth has loaded it already);
  2. runs the sitecustomize module that this one shadows, if there is one,
     so that the program sees no difference.
Python started with -E, -I or -S does not get here; nothing else changes.
"""
import os
import sys


def _load_hook():
    if "lambshm_mp_hook" in sys.modules:
        return
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(os.path.dirname(here), "lambshm_mp_hook.py")
    spec = importlib.util.spec_from_file_location("lambshm_mp_hook", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["lambshm_mp_hook"] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules["lambshm_mp_hook"]
        raise


def _run_shadowed():
    import importlib.machinery
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    # The real one takes the name, as if it had been imported directly.
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


if sys.version_info >= (3, 5):
    try:
        _load_hook()
    finally:
        _run_shadowed()
