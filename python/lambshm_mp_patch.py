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

An arena needs no name, only a descriptor (multiprocessing passes it on as
it would the unlinked file's), so a new arena is an anonymous memfd
(os.memfd_create, Python 3.8+) when memory has room for it: shmem pages, as
/dev/shm's are, never written back to a disk /tmp as Lambda's is.  "Room"
mirrors CPython's own test for /dev/shm (free space >= size): the size is at
most half of the memory available (MemAvailable, and the memory cgroup's
headroom where it has a limit), /dev/shm's default share of memory.  Otherwise,
or with LAMBSHM_MEMFD=0, or where memfd_create fails, the arena is a file in
the directory above, as before; LAMBSHM_DEBUG=1 says which and why.

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


def _debug(message):
    if os.environ.get("LAMBSHM_DEBUG") == "1":
        sys.stderr.write("lambshm: %s\n" % message)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _cgroup_room():
    """Bytes this process's memory cgroup may still charge, or None."""
    try:
        lines = _read("/proc/self/cgroup").decode().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            limit, used = "/sys/fs/cgroup%s/memory.max", "/sys/fs/cgroup%s/memory.current"
        elif "memory" in controllers.split(","):  # v1
            limit = "/sys/fs/cgroup/memory%s/memory.limit_in_bytes"
            used = "/sys/fs/cgroup/memory%s/memory.usage_in_bytes"
        else:
            continue
        try:
            limit, used = _read(limit % path).strip(), _read(used % path)
            if limit != b"max":
                return int(limit) - int(used)
        except (OSError, ValueError):
            pass  # not mounted here (a hybrid hierarchy, a container)
    return None


def _memory_has_room(size):
    room = None
    try:
        for line in _read("/proc/meminfo").splitlines():
            if line.startswith(b"MemAvailable:"):
                room = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    cgroup = _cgroup_room()
    if cgroup is not None:
        room = cgroup if room is None else min(room, cgroup)
    return room is not None and size <= room // 2


def _memfd_arena(size):
    """A descriptor for a new arena of `size` bytes in memory, or -1."""
    if os.environ.get("LAMBSHM_MEMFD") == "0":
        return -1
    if not _memory_has_room(size):
        _debug("a %d-byte multiprocessing arena is a file: more than half of the "
               "available memory" % size)
        return -1
    try:
        fd = os.memfd_create("pym-%d" % os.getpid(), os.MFD_CLOEXEC)
    except (AttributeError, OSError) as e:  # Python < 3.8, Linux < 3.17, seccomp
        _debug("a multiprocessing arena is a file: memfd_create: %s" % e)
        return -1
    try:
        os.ftruncate(fd, size)
    except OSError:
        os.close(fd)
        raise
    return fd


def _use_memfd(heap, arena):
    original = arena.__init__

    def __init__(self, size, fd=-1):
        if fd != -1:  # rebuilt from a descriptor another process sent
            return original(self, size, fd)
        fd = _memfd_arena(size)
        if fd == -1:
            return original(self, size)
        heap.util.Finalize(self, os.close, (fd,))  # as the original does for its own
        original(self, size, fd)

    arena.__init__ = __init__


def patch(heap):
    arena = getattr(heap, "Arena", None)
    if arena is not None and hasattr(arena, "_dir_candidates"):
        arena._dir_candidates = _backing_dirs()
        _use_memfd(heap, arena)


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
