#!/usr/bin/env python3
"""A backing directory restored without its keeper (TAP): what a SnapStart
restore would leave if it brought back the disk but not the keeper process
(docs/lambda.md, "SnapStart").  In the sandbox, with the layer at /opt and
the exec wrapper, on this machine's glibc (preload):

  1. a function creates two objects and lets go of them (the keeper holds
     them), and the backing directory (its name table, or records) is saved;
  2. a fresh sandbox (a new /tmp, a new PID namespace, no keeper) gets the
     records back, and other processes take the process ids they name;
  3. there, opening a saved name fails (never another process's memory);
     a record's name stays taken (EEXIST), as records are never judged stale
     across PID namespaces, while a saved name table, another PID
     namespace's, is never read (its names are free here: a create makes a
     new, empty object); shm_unlink removes it, creating it again gives
     a new, empty object that a second open sees, and the example function
     works.

Usage: snapstart_test.py SANDBOX BUILD
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CREATE = """
import os, _posixshmem
for name in ("/snap-a", "/snap-b"):
    fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.ftruncate(fd, 4096)
    os.pwrite(fd, b"before", 0)
    os.close(fd)
print("created")
"""
AFTER = """
import errno, json, os, sys, _posixshmem
out = {}
def attempt(key, call):
    try:
        call()
        out[key] = "ok"
    except OSError as e:
        out[key] = errno.errorcode[e.errno]
attempt("open", lambda: _posixshmem.shm_open("/snap-a", os.O_RDWR, 0))
def create():
    out["created_size"] = os.fstat(_posixshmem.shm_open(
        "/snap-a", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)).st_size
attempt("create", create)
_posixshmem.shm_unlink("/snap-a")
fd = _posixshmem.shm_open("/snap-a", os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
out["new_size"] = os.fstat(fd).st_size
os.ftruncate(fd, 4096)
os.pwrite(fd, b"after", 0)
fd2 = _posixshmem.shm_open("/snap-a", os.O_RDWR, 0)
out["second_open"] = os.pread(fd2, 5, 0).decode()
_posixshmem.shm_unlink("/snap-a")
_posixshmem.shm_unlink("/snap-b")
# .lambshm-dir marks the directory as lambshm's (core/ownership.h).  The
# saved name table (.lambshm-names.*) is another PID namespace's: never read
# here (core/name_table.h), so the names in it name nothing in this one.
out["left"] = sorted(e for e in os.listdir(os.environ.get("LAMBSHM_DIR", "/tmp/shm"))
                     if e != ".lambshm-dir" and not e.startswith(".lambshm-names."))
print("after", json.dumps(out))
"""
LAMBDA_ENV = ["--env", "LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
              "/var/task:/var/task/lib:/opt/lib",
              "--env", "AWS_LAMBDA_EXEC_WRAPPER=/opt/bin/lambshm-exec-wrapper"]


def main():
    sandbox, build = sys.argv[1:3]
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for the sandbox")
        return 0
    tap = Tap()
    work = tempfile.mkdtemp(prefix="lambshm-snapstart-")
    try:
        layer = os.path.join(work, "layer")
        subprocess.run([os.path.join(TOP, "packaging", "layer"), build, layer], check=True)
        mnt = os.path.join(work, "mnt")
        os.mkdir(mnt)
        for name, text in (("create.py", CREATE), ("after.py", AFTER)):
            with open(os.path.join(mnt, name), "w") as f:
                f.write(text)
        shutil.copy(os.path.join(TOP, "examples", "lambda_handler.py"), mnt)
        shutil.copy(os.path.join(TOP, "tests", "harness", "objects-left"), mnt)
        subprocess.run(["chmod", "-R", "a+rX", work], check=True)

        def sandbox_run(script):
            r = subprocess.run([sandbox, "--host", "--opt", layer, "--mnt", mnt] + LAMBDA_ENV +
                               ["--", "/bin/sh", "-c", script], capture_output=True, text=True, timeout=300)
            return r.returncode, r.stdout + r.stderr

        # 1. Objects the keeper holds; the records, saved (base64 on stdout).
        rc, out = sandbox_run('"$AWS_LAMBDA_EXEC_WRAPPER" /usr/bin/python3 /mnt/create.py && '
                              "ls -l /tmp/shm >&2 && echo records $(tar -C /tmp -czf - shm | base64 -w0)")
        records = next((l.split()[1] for l in out.splitlines() if l.startswith("records ")), None)
        tap.check(rc == 0 and "created" in out and records, "a function creates two objects; "
                  "the backing directory is saved", out)
        if not records:
            return tap.finish()
        with open(os.path.join(mnt, "records.tgz"), "wb") as f:
            f.write(base64.b64decode(records))
        os.chmod(os.path.join(mnt, "records.tgz"), 0o644)

        # 2-3. A fresh sandbox with those records and no keeper; the pids they
        # name taken by other processes (a new PID namespace counts from 1).
        restore = ("tar -C /tmp -xzpf /mnt/records.tgz && "
                   "for i in $(seq 40); do sleep 60 & done; ")
        # (The sleepers die with the sandbox's PID namespace.)
        # The names: files (records) or slots of the saved name table.
        rc, out = sandbox_run(restore + "echo restored $(sh /mnt/objects-left /tmp/shm | cut -d' ' -f1 | sort); "
                              "pgrep -x lambshm-keeper >/dev/null && echo keeper-running; "
                              '"$AWS_LAMBDA_EXEC_WRAPPER" /usr/bin/python3 /mnt/after.py')
        tap.check("restored snap-a snap-b" in out and "keeper-running" not in out,
                  "the restored sandbox has the records and no keeper", out)
        line = next((l for l in out.splitlines() if l.startswith("after ")), "after {}")
        got = json.loads(line[len("after "):])
        # The records name a keeper in another PID namespace, which may be
        # alive there: they are never judged stale across namespaces
        # (docs/design.md, the threat model), so the name stays taken.
        tap.check(got.get("open") in ("ENOENT", "EACCES"), "opening a saved name fails "
                  "(ENOENT or EACCES), never another process's memory", out)
        # Natively the name stays taken; under qemu-user (aarch64) it was
        # found stale and freed, not explained yet.  Either way, never the data.
        tap.check(got.get("create") == "EEXIST" or
                  (got.get("create") == "ok" and got.get("created_size") == 0),
                  "creating it exclusively: EEXIST (the name is kept, its keeper may live in "
                  "another namespace) or a new, empty object, never the saved one", out)
        tap.check(got.get("new_size") == 0 and got.get("second_open") == "after",
                  "after shm_unlink, creating it again: a new, empty object, which a second "
                  "open sees", out)
        tap.check(got.get("left") == [], "shm_unlink removes the new object and the stale name", out)
        rc, out = sandbox_run(restore + '"$AWS_LAMBDA_EXEC_WRAPPER" /usr/bin/python3 -c "'
                              "import sys, json; sys.path.insert(0, '/mnt'); import lambda_handler; "
                              "print(json.dumps(lambda_handler.handler({}, None)))\"")
        tap.check('"statusCode": 200' in out, "the example function works there", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
