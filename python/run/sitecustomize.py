# lambshm's sitecustomize, put first in PYTHONPATH by `lambshm run`.
#
# A .pth file is processed only from a site directory, and PYTHONUSERBASE
# would replace the user's own; so `lambshm run` puts this directory first in
# PYTHONPATH, site imports this file at start-up, and it
#   1. execs lambshm_mp_hook from the directory above, as the .pth does (a
#      no-op when /dev/shm works; skipped when a .pth has loaded it already);
#   2. runs the sitecustomize module this one shadows, if there is one, so
#      the program sees no difference.
# Python started with -E, -I or -S does not get here.  Where no bytecode of
# this Python was shipped, every start compiles this file, so it is short,
# never imports importlib.util (a costly import), and compares sys.path
# entries as strings: site has made them absolute before it imports this.
import sys

if sys.version_info >= (3, 5):  # Python 2's import system differs
    _here = __file__.rpartition("/")[0]
    _saved = sys.path[:]
    try:
        if "lambshm_mp_hook" not in sys.modules:
            _m = sys.modules["lambshm_mp_hook"] = type(sys)("lambshm_mp_hook")
            _up = _here.rpartition("/")[0]
            _m.__file__ = _up + "/lambshm_mp_hook.py"
            _code = b""
            try:  # its bytecode, if this Python's was shipped (packaging/bytecompile)
                with open("%s/__pycache__/lambshm_mp_hook.%s.pyc"
                          % (_up, sys.implementation.cache_tag), "rb") as _f:
                    _code = _f.read()
            except OSError:
                pass
            if _code[:4] == getattr(sys.modules.get("_frozen_importlib_external"),
                                    "MAGIC_NUMBER", None):
                import marshal
                _code = marshal.loads(memoryview(_code)[16:])
            else:
                with open(_m.__file__, "rb") as _f:
                    _code = _f.read()
            exec(_code, vars(_m))
    finally:
        # The shadowed one: imported again by name with this directory off the
        # path; site's own import then returns sys.modules["sitecustomize"].
        _me = sys.modules.pop("sitecustomize", None)
        sys.path[:] = [p for p in _saved if p != _here]
        try:
            import sitecustomize  # noqa: F401
        except ImportError as e:
            if e.name != "sitecustomize":
                raise
        finally:
            sys.path[:] = _saved
            if "sitecustomize" not in sys.modules and _me is not None:
                sys.modules["sitecustomize"] = _me
