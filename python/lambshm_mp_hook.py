"""lambshm's start-up hook for CPython's multiprocessing.Value / Array.

multiprocessing's heap arena (multiprocessing/heap.py) keeps its blocks in a
file under /dev/shm and calls os.statvfs('/dev/shm') to choose that directory;
where /dev/shm does not exist (AWS Lambda) that raises, whatever librt does.
When, and only when, /dev/shm is unusable, this hook points the arena at
lambshm's backing directory ($LAMBSHM_DIR or /tmp/shm; the arena unlinks its
files as soon as it creates them, so nothing is left there).  The directory
is created and checked by the same rules as the C library's
(core/backing_dir.cpp): last component only, mode 01777; refused if it is a
symlink, not a directory, or writable by others without the sticky bit while
owned by someone other than root or us.  When it is refused, the arena falls
back to Python's own private temporary directory, as on other platforms.

When that directory is on a disk (Lambda's /tmp), files there would have
their dirty pages written back, so new arenas are anonymous memfds instead
(os.memfd_create, Python 3.8+): an arena needs no name, only a descriptor,
which multiprocessing passes on as it would the unlinked file's.  Not on
tmpfs (as fast), nor with LAMBSHM_MEMFD=0, nor where memfd_create fails.

It is loaded by lambshm-mp-hook.pth from a site-packages directory and costs
one statvfs at start-up: multiprocessing.heap is patched when, and if, the
program imports it.
"""
import os
import sys

_MODULE = "multiprocessing.heap"


def _dev_shm_usable():
    try:
        os.statvfs("/dev/shm")
    except OSError:
        return False
    return os.access("/dev/shm", os.W_OK | os.X_OK)


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


def _in_memory(directory):
    """Whether `directory` is on tmpfs or ramfs (the mount that holds it)."""
    try:
        path = os.path.realpath(directory)
        best, fstype = "", ""
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                point = fields[1].replace("\\040", " ")
                if (path == point or path.startswith(point.rstrip("/") + "/")) and \
                        len(point) >= len(best):
                    best, fstype = point, fields[2]
        return fstype in ("tmpfs", "ramfs")
    except OSError:
        return True  # cannot tell: keep the files


def _use_memfd_arenas(heap, arena):
    original = arena.__init__

    def __init__(self, size, fd=-1):
        if fd == -1:
            try:
                fd = os.memfd_create("pym-%d" % os.getpid())
            except OSError:
                return original(self, size)
            try:
                os.ftruncate(fd, size)
            except OSError:
                os.close(fd)
                raise
            heap.util.Finalize(self, os.close, (fd,))
        original(self, size, fd)

    arena.__init__ = __init__


def _patch(heap):
    arena = getattr(heap, "Arena", None)
    if arena is not None and hasattr(arena, "_dir_candidates"):
        dirs = _backing_dirs()
        arena._dir_candidates = dirs
        if (dirs and hasattr(os, "memfd_create") and os.environ.get("LAMBSHM_MEMFD") != "0"
                and not _in_memory(dirs[0])):
            _use_memfd_arenas(heap, arena)


class _Finder:
    """Patches multiprocessing.heap right after it is first imported."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != _MODULE:
            return None
        sys.meta_path.remove(_Finder)
        import importlib.util
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


def install():
    if _dev_shm_usable():
        return
    if _MODULE in sys.modules:
        _patch(sys.modules[_MODULE])
    elif _Finder not in sys.meta_path:
        sys.meta_path.insert(0, _Finder)


install()
