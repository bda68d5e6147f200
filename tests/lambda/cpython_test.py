#!/usr/bin/env python3
"""CPython multiprocessing in the Lambda-like sandbox (TAP).

Stock glibc must fail exactly as users report; lambshm must run the whole
workload (mp_workload.py) under the fork, spawn and forkserver start methods
with exact results and leave nothing behind; the start-up hook must be what
makes Value/Array work, and must do nothing where /dev/shm is usable.  The
same holds where /dev/shm exists but cannot be written: mounted read-only
(EROFS), or writable only by root (PermissionError).

Usage: cpython_test.py SANDBOX LAYER_TOOL BUILD_DIR [--host] [--preload LIB_IN_LAYER]
  LAYER_TOOL (packaging/layer) makes the /opt tree from BUILD_DIR.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))


POISON = "raise SystemExit('lambshm test: the source ran, not the bytecode')\n"
HOOKED = ("import multiprocessing as mp, multiprocessing.heap as h, sys; "
          "v = mp.Value('i', 5); v.value += 1; "
          "print(v.value, 'lambshm_mp_hook' in sys.modules, h.Arena._dir_candidates)")


def bytecode_checks(tap, run, ours, layer, work):
    """The hook and our sitecustomize run from the layer's bytecode when this
    Python's was shipped (packaging/bytecompile), through the sitecustomize
    path and the .pth path, and from source when it was not or is another
    version's."""
    rc, out = run([], "-c", "import sys; print(sys.implementation.cache_tag, "
                  "'%d.%d' % sys.version_info[:2])")
    tag, version = out.split()
    cache = os.path.join(layer, "python", "__pycache__")
    pyc = os.path.join(cache, f"lambshm_mp_hook.{tag}.pyc")
    site = f"/usr/local/lib/python{version}/dist-packages"  # Debian's, first site directory

    def variant(name, poison_sources, bytecode):
        """A copy of the layer and of an image's site-packages files; bytecode
        is 'as shipped', 'none', or 'foreign' (another magic number)."""
        opt = os.path.join(work, name)
        shutil.copytree(layer, opt, symlinks=True)
        py = os.path.join(opt, "python")
        if poison_sources:
            for f in ("lambshm_mp_hook.py", "run/sitecustomize.py"):
                with open(os.path.join(py, f), "w") as fh:
                    fh.write(POISON)
        for d in (os.path.join(py, "__pycache__"), os.path.join(py, "run", "__pycache__")):
            if bytecode == "none":
                shutil.rmtree(d)
            elif bytecode == "foreign":
                for f in os.listdir(d):
                    with open(os.path.join(d, f), "r+b") as fh:
                        fh.write(b"\0\0\r\n")
        site_dir = os.path.join(work, name + "-site")
        os.mkdir(site_dir)
        for f in ("lambshm_mp_hook.py", "lambshm_mp_patch.py", "lambshm-mp-hook.pth"):
            shutil.copy(os.path.join(py, f), site_dir)
        if bytecode != "none":
            shutil.copytree(os.path.join(py, "__pycache__"), os.path.join(site_dir, "__pycache__"))
        subprocess.run(["chmod", "-R", "a+rX", opt, site_dir], check=True)
        return [a if a != layer else opt for a in ours], \
            [a if a != layer else opt for a in ours if a not in ("--env", "PYTHONPATH=/opt/python/run")] \
            + ["--bind", f"{site_dir}:{site}"]

    want = "6 True ['/tmp/shm']"
    if os.path.exists(pyc):
        run_path, pth_path = variant("poisoned", True, "as shipped")
        for how, args in (("sitecustomize", run_path), (".pth", pth_path)):
            rc, out = run(args, "-c", HOOKED)
            tap.check(rc == 0 and out.strip() == want,
                      f"{how} path: the hook runs from the layer's {tag} bytecode (its source "
                      "would exit)", out)
    else:
        tap.skip(f"the hook runs from the layer's {tag} bytecode",
                 f"packaging/bytecompile found no Python with tag {tag} on this machine")
    for bytecode in ("none", "foreign"):
        run_path, pth_path = variant(bytecode, False, bytecode)
        for how, args in (("sitecustomize", run_path), (".pth", pth_path)):
            rc, out = run(args, "-c", HOOKED)
            what = "no bytecode" if bytecode == "none" else "another Python's bytecode"
            tap.check(rc == 0 and out.strip() == want,
                      f"{how} path, {what}: the hook runs from source", out)


def main():
    sandbox, layer_tool, build = sys.argv[1:4]
    rest = sys.argv[4:]
    host = "--host" in rest
    preload = rest[rest.index("--preload") + 1] if "--preload" in rest else None
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for the sandbox")
        return 0
    tap = Tap()
    with tempfile.TemporaryDirectory() as mnt, tempfile.TemporaryDirectory() as work:
        layer = os.path.join(work, "opt")
        subprocess.run([layer_tool, build, layer], check=True)
        os.chmod(work, 0o755)
        for f in ("mp_workload.py", "stock_failures.py"):
            shutil.copy(os.path.join(here, f), mnt)
        os.chmod(mnt, 0o755)
        base = [sandbox, "--mnt", mnt] + (["--host"] if host else [])
        python = "/usr/bin/python3"

        def run(extra, *args, timeout=600):
            r = subprocess.run(base + extra + ["--", python] + list(args),
                               capture_output=True, text=True, timeout=timeout)
            return r.returncode, r.stdout + r.stderr

        ours = ["--opt", layer, "--env", "PYTHONPATH=/opt/python/run"]
        if preload:
            ours += ["--preload", preload]

        # 1. The failure, reproduced with stock glibc.
        rc, out = run([], "/mnt/stock_failures.py")
        if host:
            expected_error = "FileNotFoundError: [Errno 2] No such file or directory"
        else:
            expected_error = "OSError: [Errno 38] Function not implemented"
        for feature in ("Queue", "Pool", "Lock", "ThreadPool", "SharedMemory",
                        "ProcessPoolExecutor"):
            line = next((l for l in out.splitlines() if l.startswith(feature + ":")), "")
            tap.check(expected_error in line,
                      f"stock glibc: {feature} fails with {expected_error.split(':')[0]}", out)
        line = next((l for l in out.splitlines() if l.startswith("Value:")), "")
        tap.check("FileNotFoundError" in line and "/dev/shm" in line,
                  "stock: Value fails in os.statvfs('/dev/shm')", out)

        if preload:
            # The overlay alone (the layer's librt and libpthread first in
            # LD_LIBRARY_PATH, no LD_PRELOAD) cannot help where glibc keeps
            # these functions in libc: the preload library is what does.
            rc, out = run(["--opt", layer], "/mnt/stock_failures.py")
            line = next((l for l in out.splitlines() if l.startswith("Queue:")), "")
            tap.check(expected_error in line,
                      "the layer without the preload library: Queue still fails", out)

        # 2. The fix, end to end, under every start method.
        for method in ("fork", "spawn", "forkserver"):
            rc, out = run(ours, "/mnt/mp_workload.py", method, "/tmp/shm")
            tap.check(rc == 0 and "ok cleanup" in out and "FAIL" not in out,
                      f"lambshm: the whole workload under {method}, nothing left behind", out)

        # 3. The hook: needed for Value/Array, inert where /dev/shm works.
        no_hook = [a for a in ours if a != "PYTHONPATH=/opt/python/run" and a != "--env"]
        if preload:
            no_hook = ["--opt", layer, "--preload", preload]
        rc, out = run(no_hook, "/mnt/stock_failures.py")
        value = next((l for l in out.splitlines() if l.startswith("Value:")), "")
        queue = next((l for l in out.splitlines() if l.startswith("Queue:")), "")
        tap.check(queue == "Queue: ok" and "FileNotFoundError" in value,
                  "without the hook, lambshm fixes Queue but Value still fails (CPython's heap)", out)
        rc, out = run(ours + ["--env", "LAMBSHM_DIR=/tmp/custom"], "-c",
                      "import multiprocessing as mp, multiprocessing.heap as h, os; "
                      "v = mp.Value('i', 5); v.value += 1; "
                      "print(v.value, h.Arena._dir_candidates, os.path.isdir('/tmp/custom'))")
        tap.check(rc == 0 and out.strip() == "6 ['/tmp/custom'] True",
                  "the hook points the heap at LAMBSHM_DIR", out)
        rc, out = run(ours, "/mnt/mp_workload.py", "hook")
        tap.check(rc == 0 and "ok hook" in out and "['memfd']" in out,
                  "the hook keeps Value/Array in memfd arenas, shared under every start method", out)
        rc, out = run(ours + ["--env", "LAMBSHM_MEMFD=0", "--env", "LAMBSHM_DEBUG=1"],
                      "/mnt/mp_workload.py", "hook", "/tmp/shm")
        tap.check(rc == 0 and "ok hook" in out and "['/tmp/shm']" in out,
                  "LAMBSHM_MEMFD=0: the arenas are files in LAMBSHM_DIR again", out)
        rc, out = run(ours + ["--env", "LAMBSHM_DEBUG=1"], "-c",
                      "import multiprocessing.heap as h, os; "
                      "m = [l for l in open('/proc/meminfo') if l.startswith('MemAvailable:')]; "
                      "a = h.Arena(int(m[0].split()[1]) * 1024 // 2 + (1 << 20)); "
                      "print(os.readlink('/proc/self/fd/%d' % a.fd))")
        # A file in /tmp/shm, or in Python's own temporary directory if the
        # disk has no room for it either (CPython's choice).
        tap.check(rc == 0 and any(l.startswith("/tmp/") and "/pym-" in l for l in out.splitlines())
                  and "more than half of the available memory" in out,
                  "an arena larger than memory has room for is a file, and LAMBSHM_DEBUG says why",
                  out)
        bytecode_checks(tap, run, ours, layer, work)
        rc, out = run(ours + ["--dev-shm"], "-c",
                      "import multiprocessing as mp, multiprocessing.heap as h; "
                      "mp.Value('i', 1); print(h.Arena._dir_candidates)")
        tap.check(rc == 0 and out.strip() == "['/dev/shm']",
                  "the hook changes nothing where /dev/shm is usable", out)

        # 4. A /dev/shm that exists but cannot be written: stock glibc uses it
        # and fails; lambshm (libraries and hook) does not touch it.
        for option, error in (("--dev-shm-ro", "OSError: [Errno 30] Read-only file system"),
                              ("--dev-shm-root", "PermissionError: [Errno 13] Permission denied")):
            rc, out = run([option], "/mnt/stock_failures.py")
            failed = [f for f in ("Queue", "Lock", "SharedMemory", "Value")
                      if error in next((l for l in out.splitlines()
                                        if l.startswith(f + ":")), "")]
            tap.check(len(failed) == 4,
                      f"{option}: stock Queue, Lock, SharedMemory and Value fail with "
                      f"{error.split(']')[0]}]", out)
            rc, out = run(ours + [option], "/mnt/mp_workload.py", "fork", "/tmp/shm")
            tap.check(rc == 0 and "ok cleanup" in out and "FAIL" not in out,
                      f"{option}: lambshm runs the whole workload, nothing left behind", out)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
