"""Is lambshm active and healthy in this process?  For a Lambda function,
where nobody can open a shell:

    import json, lambshm_check
    print(json.dumps(lambshm_check.status()))   # from the handler, into the log

or `python3 -m lambshm_check` (prints the same JSON; status 0 if healthy).
A layer's python/ is /opt/python, which is on a Lambda function's
PYTHONPATH, so the layer's copy imports as it is.

It does for real what a program would do, in this process, and cleans up:
shm_open + shm_unlink (_posixshmem), a named semaphore (multiprocessing.Lock:
sem_open, sem_unlink), and multiprocessing.Value (the heap arena, which the
start-up hook moves off /dev/shm).  Then it reads /proc/self/maps for which of
lambshm's libraries this process has loaded: a library counts when it has
the name of one and contains "LAMBSHM_DIR", as `lambshm run` decides.

status() returns a dict that json.dumps takes:
  ok          every check passed
  lambshm     "preload", "overlay" or None: lambshm's libraries in this process
  libraries   their paths
  directory   the backing directory ($LAMBSHM_DIR or /tmp/shm)
  dev_shm     whether /dev/shm is usable here (then stock glibc works anyway)
  hook        whether the multiprocessing hook is loaded
  checks      {"shm_open": "ok" or the error, "sem_open": ..., "Value": ...}
  problems    what failed, in words
Nothing here runs at import.
"""
import os
import sys

_NAMES = {"liblambshm-preload.so": "preload", "librt.so.1": "overlay",
          "libpthread.so.0": "overlay"}


def _error(e):
    import errno
    name = errno.errorcode.get(getattr(e, "errno", None) or 0)
    return f"{type(e).__name__}: {name + ' ' if name else ''}{e}"


def _loaded_libraries():
    found = []
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}
    except OSError:
        return found
    for path in sorted(paths):
        if os.path.basename(path) not in _NAMES:
            continue
        try:
            with open(path, "rb") as lib:
                if b"LAMBSHM_DIR" in lib.read():
                    found.append(path)
        except OSError:
            pass
    return found


def _dev_shm_usable():
    try:
        os.statvfs("/dev/shm")
    except OSError:
        return False
    return os.access("/dev/shm", os.W_OK | os.X_OK)


def _check_shm(name):
    import _posixshmem
    fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    try:
        os.ftruncate(fd, 4096)
    finally:
        os.close(fd)
        _posixshmem.shm_unlink(name)


def _check_sem():
    import multiprocessing
    lock = multiprocessing.Lock()
    with lock:
        pass


def _check_value():
    import multiprocessing
    v = multiprocessing.Value("i", 7)
    with v.get_lock():
        v.value += 1
    if v.value != 8:
        raise RuntimeError(f"Value read {v.value}, not 8")


def status():
    checks, problems = {}, []
    for what, check in (("shm_open", lambda: _check_shm(f"/lambshm-check-{os.getpid()}")),
                        ("sem_open", _check_sem), ("Value", _check_value)):
        try:
            check()
            checks[what] = "ok"
        except Exception as e:  # any failure is the answer, not a crash of the caller
            checks[what] = _error(e)
            problems.append(f"{what} failed: {checks[what]}")
    libraries = _loaded_libraries()
    kinds = {_NAMES[os.path.basename(p)] for p in libraries}
    lambshm = "preload" if "preload" in kinds else "overlay" if kinds else None
    dev_shm = _dev_shm_usable()
    if lambshm is None and not dev_shm:
        problems.append("lambshm is not active in this process and /dev/shm is unusable: "
                        "set AWS_LAMBDA_EXEC_WRAPPER=/opt/bin/lambshm-exec-wrapper "
                        "(or LD_PRELOAD=/opt/lib/liblambshm-preload.so on glibc 2.34+)")
    return {
        "ok": not problems,
        "lambshm": lambshm,
        "libraries": libraries,
        "directory": os.environ.get("LAMBSHM_DIR") or "/tmp/shm",
        "dev_shm": dev_shm,
        "hook": "lambshm_mp_hook" in sys.modules,
        "checks": checks,
        "problems": problems,
    }


def main():
    import json
    s = status()
    print(json.dumps(s, indent=2))
    return 0 if s["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
