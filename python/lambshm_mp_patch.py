"""lambshm's hook for CPython's multiprocessing.Value / Array: the policy.

multiprocessing's heap arena (multiprocessing/heap.py) keeps its blocks in a
file under /dev/shm and calls os.statvfs('/dev/shm') to choose that directory;
where /dev/shm does not exist (AWS Lambda) that raises, whatever librt does.
When, and only when, /dev/shm is unusable, the hook points the arena at
lambshm's backing directory ($LAMBSHM_DIR or /tmp/shm; the arena unlinks its
files as soon as it creates them, so nothing is left there).  The directory
is created and checked by the same rules as the C library's
(core/backing_dir.cpp): last component only, mode 01777; refused if it is a
symlink, not a directory, or writable by others without the sticky bit while
owned by someone other than root or us.  When it is refused, the arena falls
back to Python's own private temporary directory, as on other platforms.

lambshm_mp_hook, which every interpreter start compiles, only checks
/dev/shm and watches for multiprocessing.heap; it imports this module when
the program imports multiprocessing.heap (or at once, if it is loaded
already), so start-up never compiles this file.
"""
import os
import sys


def _acceptable(st):
    import stat
    if not stat.S_ISDIR(st.st_mode):
        return False
    writable_by_others = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    sticky = st.st_mode & stat.S_ISVTX
    return not writable_by_others or sticky or st.st_uid in (0, os.geteuid())


def _backing_dirs():
    directory = os.environ.get("LAMBSHM_DIR") or "/tmp/shm"
    if not os.path.isabs(directory):
        return []
    try:
        try:
            os.mkdir(directory, 0o1777)
            os.chmod(directory, 0o1777)  # mkdir applied the umask
        except FileExistsError:
            pass
        st = os.lstat(directory)
    except OSError:
        return []
    if _acceptable(st) and os.access(directory, os.W_OK | os.X_OK):
        return [directory]
    return []  # the arena then uses multiprocessing.util.get_temp_dir()


def patch(heap):
    arena = getattr(heap, "Arena", None)
    if arena is not None and hasattr(arena, "_dir_candidates"):
        arena._dir_candidates = _backing_dirs()


def find_spec(name, path=None, target=None):
    """multiprocessing.heap's spec from the finders on sys.meta_path (the
    hook has taken itself off), its module patched once executed."""
    # As the import system would ask them (importlib.util.find_spec would
    # cost milliseconds to import).
    spec = None
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        spec = find(name, path, target) if find is not None else None
        if spec is not None:
            break
    if spec is None or spec.loader is None:
        return spec
    original = spec.loader.exec_module

    def exec_module(module):
        original(module)
        patch(module)

    spec.loader.exec_module = exec_module
    return spec
