#!/usr/bin/env python3
"""liblambshm-preload.so under real programs in the Lambda-like sandbox (TAP).

- glibc 2.36 (this machine's userland, --host): probe-stock, built here and
  bound to libc's GLIBC_2.34 functions, fails without /dev/shm and works
  under LD_PRELOAD, its objects in /tmp/shm.
- glibc 2.31 (bullseye): the probe compiled there, bound to librt's and
  libpthread's old versions, fails with ENOSYS and works under LD_PRELOAD;
  the same binary works under LD_PRELOAD on glibc 2.36 too.
- In one bullseye sandbox, a process using the overlay (lambshm's librt and
  libpthread first in LD_LIBRARY_PATH) and a process using the preload
  library (stock glibc plus LD_PRELOAD) share a named semaphore and an shm
  object, each waking the other.

Usage: sandbox_test.py SANDBOX LAYER_TOOL BUILD_DIR PROBE_C PROBE_STOCK READELF
"""
import base64
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

PRELOAD = "/opt/lib/liblambshm-preload.so"
BUILD_PROBE = "cd /tmp && gcc -O2 -o probe /mnt/probe.c -pthread -lrt"

# One life cycle of both kinds of object, and what lambshm must answer.  The
# sandbox's /tmp is a disk: both objects are memfds held by the keeper, their
# short names slots of the name table (docs/small-objects.md), which the
# probe's ls lists with the memfd's mode and size.
LIFE = ["shm_open /pl O_CREAT|O_EXCL|O_RDWR 0600", "ftruncate 4096",
        "sem_open /pl O_CREAT|O_EXCL 0600 1", "sem_wait", "sem_post", "sem_getvalue",
        "ls /tmp/shm", "sem_close", "sem_unlink /pl", "shm_unlink /pl", "ls /tmp/shm"]
LIFE_OK = """shm_open /pl O_CREAT|O_EXCL|O_RDWR 0600 -> fd cloexec
ftruncate 4096 -> 0
sem_open /pl O_CREAT|O_EXCL 0600 1 -> sem
sem_wait -> 0
sem_post -> 0
sem_getvalue -> 1
ls /tmp/shm -> 2 entries
  pl 600 4096
  sem.pl 600 32
sem_close -> 0
sem_unlink /pl -> 0
shm_unlink /pl -> 0
ls /tmp/shm -> 0 entries
"""
STOCK_CALLS = ["shm_open /pl O_CREAT|O_RDWR 0600", "sem_open /pl O_CREAT 0600 1"]


def stock_says(errno_name):
    return "".join(f"{c} -> -1 {errno_name}\n" for c in STOCK_CALLS)


def command(*calls, prefix="./probe"):
    return prefix + " " + " ".join(shlex.quote(c) for c in calls)


def sections(text):
    """'== name' lines split the output of one sandbox run into named parts."""
    out, name = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("== "):
            name = line[3:].strip()
            out[name] = ""
        elif name is not None:
            out[name] += line
    return out


def main():
    sandbox, layer_tool, build, probe_c, probe_stock, readelf = sys.argv[1:7]
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for the sandbox")
        return 0
    tap = Tap()
    with tempfile.TemporaryDirectory() as work:
        opt, mnt = os.path.join(work, "opt"), os.path.join(work, "mnt")
        subprocess.run([layer_tool, build, opt], check=True)
        os.mkdir(mnt)
        shutil.copy(probe_c, mnt)
        shutil.copy(probe_stock, mnt)
        os.chmod(work, 0o755)
        subprocess.run(["chmod", "-R", "a+rX", mnt], check=True)

        def sandbox_run(script, host=False, overlay=True):
            args = [sandbox, "--opt", opt, "--mnt", mnt] + (["--host"] if host else [])
            if not overlay:
                args += ["--env", "LD_LIBRARY_PATH="]
            r = subprocess.run(args + ["--", "/bin/sh", "-c", script], capture_output=True,
                               timeout=300)
            return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

        def symbols(binary):
            return subprocess.run([readelf, "-W", "--dyn-syms", binary], capture_output=True,
                                  text=True, check=True).stdout

        # 1. Built here, on glibc 2.36: bound to libc's GLIBC_2.34 functions.
        syms = symbols(probe_stock)
        tap.check("shm_open@GLIBC_2.34" in syms and "sem_open@GLIBC_2.34" in syms,
                  "probe-stock binds shm_open and sem_open at GLIBC_2.34", syms)
        rc, out, err = sandbox_run(
            f"echo '== stock'; {command(*STOCK_CALLS, prefix='/mnt/probe-stock')}; "
            f"echo '== preload'; LD_PRELOAD={PRELOAD} {command(*LIFE, prefix='/mnt/probe-stock')}",
            host=True, overlay=False)
        part = sections(out)
        tap.check(part.get("stock") == stock_says("ENOENT"),
                  "glibc 2.36 without /dev/shm: shm_open and sem_open fail with ENOENT", out + err)
        tap.check(part.get("preload") == LIFE_OK,
                  "glibc 2.36, GLIBC_2.34 binding, under LD_PRELOAD: objects in /tmp/shm",
                  out + err)

        # 2. Built in bullseye, on glibc 2.31: bound to librt's and libpthread's versions.
        rc, out, err = sandbox_run(
            f"set -e; {BUILD_PROBE}; "
            f"echo '== stock'; {command(*STOCK_CALLS)}; "
            f"echo '== preload'; LD_PRELOAD={PRELOAD} {command(*LIFE)}; "
            "echo '== binary'; base64 -w0 probe; echo", overlay=False)
        part = sections(out)
        tap.check(rc == 0 and part.get("stock") == stock_says("ENOSYS"),
                  "glibc 2.31 without a tmpfs: shm_open and sem_open fail with ENOSYS", out + err)
        tap.check(part.get("preload") == LIFE_OK,
                  "glibc 2.31, old-version binding, under LD_PRELOAD: objects in /tmp/shm",
                  out + err)
        old_probe = os.path.join(mnt, "probe-bullseye")
        with open(old_probe, "wb") as f:
            f.write(base64.b64decode(part.get("binary", "").strip() or b""))
        os.chmod(old_probe, 0o755)
        syms = symbols(old_probe)
        old = "GLIBC_2.2.5" if "GLIBC_2.2.5" in syms else "GLIBC_2.17"
        tap.check(f"shm_open@{old}" in syms and f"sem_open@{old}" in syms
                  and "GLIBC_2.34" not in syms,
                  f"the bullseye probe binds shm_open and sem_open at {old}", syms)
        rc, out, err = sandbox_run(
            f"echo '== preload'; LD_PRELOAD={PRELOAD} {command(*LIFE, prefix='/mnt/probe-bullseye')}",
            host=True, overlay=False)
        tap.check(sections(out).get("preload") == LIFE_OK,
                  f"glibc 2.36, {old} binding (the bullseye binary), under LD_PRELOAD", out + err)

        # 3. The overlay and the preload library in one sandbox, one backing directory.
        overlay = "env LD_LIBRARY_PATH=/opt/lib/overlay ./probe"
        preload = f"env LD_LIBRARY_PATH= LD_PRELOAD={PRELOAD} ./probe"
        script = "\n".join([
            f"set -e; {BUILD_PROBE}",
            "echo '== overlay libraries'; LD_LIBRARY_PATH=/opt/lib/overlay ldd ./probe | "
            "grep -oE '(librt|libpthread)[^ ]* => [^ ]+' | sort -u",
            f"echo '== preload libraries'; LD_LIBRARY_PATH= LD_PRELOAD={PRELOAD} ldd ./probe | "
            "grep -oE '[^ ]*lambshm[^ ]*|(librt|libpthread)[^ ]* => [^ ]+' | sort",
            command("sem_open /x O_CREAT|O_EXCL 0600 0", "shm_open /x O_CREAT|O_EXCL|O_RDWR 0600",
                    "ftruncate 4096", "pwrite from-overlay", prefix=overlay) + " > a1",
            # The preload side blocks until the overlay side posts, then the reverse.
            command("sem_open /x 0", "shm_open /x O_RDWR 0", "fstat", "pread 12",
                    "pwrite from-preload", "sem_timedwait_ms 30000", prefix=preload) + " > b1 &",
            command("sem_open /x 0", "await_waiter 10000", "sem_post", prefix=overlay) + " > a2",
            "wait",
            command("sem_open /x 0", "shm_open /x O_RDWR 0", "pread 12", "sem_timedwait_ms 30000",
                    prefix=overlay) + " > a3 &",
            command("sem_open /x 0", "await_waiter 10000", "sem_post", "sem_unlink /x",
                    "shm_unlink /x", "ls /tmp/shm", prefix=preload) + " > b2",
            "wait",
            "for f in a1 b1 a2 a3 b2; do echo \"== $f\"; cat $f; done"])
        rc, out, err = sandbox_run(script)
        part = sections(out)
        libs = part.get("overlay libraries", "")
        tap.check("librt.so.1 => /opt/lib/overlay/librt.so.1" in libs
                  and "libpthread.so.0 => /opt/lib/overlay/libpthread.so.0" in libs,
                  "the overlay side loads lambshm's librt and libpthread", out + err)
        libs = part.get("preload libraries", "")
        tap.check("liblambshm-preload.so" in libs and "/opt/lib/overlay/librt" not in libs
                  and "/opt/lib/overlay/libpthread" not in libs,
                  "the preload side loads stock librt and libpthread, and the preload library",
                  out + err)
        b1, a2, a3, b2 = (part.get(k, "") for k in ("b1", "a2", "a3", "b2"))
        tap.check("fstat -> mode 600 size 4096" in b1 and "pread 12 -> from-overlay" in b1,
                  "the preload side reads the shm object the overlay side made", out + err)
        tap.check("await_waiter 10000 -> 1" in a2 and "sem_timedwait_ms 30000 -> 0" in b1,
                  "the overlay side's sem_post wakes the preload side's sem_timedwait", out + err)
        tap.check("pread 12 -> from-preload" in a3,
                  "the overlay side reads what the preload side wrote", out + err)
        tap.check("await_waiter 10000 -> 1" in b2 and "sem_timedwait_ms 30000 -> 0" in a3,
                  "the preload side's sem_post wakes the overlay side's sem_timedwait", out + err)
        tap.check("sem_unlink /x -> 0" in b2 and "shm_unlink /x -> 0" in b2
                  and "ls /tmp/shm -> 0 entries" in b2,
                  "either side removes what the other made; nothing is left", out + err)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
