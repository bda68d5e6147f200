#!/usr/bin/env python3
"""`meson install`, as a user would run it (TAP):

  1. `meson install --destdir` lays out exactly the release tree under
     PREFIX/lib/lambshm, plus the one symbolic link PREFIX/bin/lambshm; no
     file in a directory the dynamic linker or the link editor searches, no
     development link (librt.so, libpthread.so);
  2. the installed tree, bound at PREFIX in the Lambda-like sandbox, runs
     multiprocessing through PREFIX/bin/lambshm run and through the exec
     wrapper: bullseye (glibc 2.31, overlay) and this machine (2.36, preload);
  3. `lambshm run --print-env --mode overlay|preload` prints the settings for
     a Lambda function on this machine, which has no /lib64/libpthread.so.0,
     and with --prefix names the files as they will be there.

Usage: install_test.py SANDBOX BUILD MNT
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from layout import DOCUMENTS, RELEASE_TREE, bytecode_problems, host_cache_tag, split_bytecode  # noqa: E402
from tap import Tap  # noqa: E402

# Searched by the dynamic linker (its defaults, ld.so.conf) or by ld, under PREFIX.
SEARCHED = ["lib", "lib64", "lib32", "libx32", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu"]


def main():
    sandbox, build, mnt = sys.argv[1:4]
    tap = Tap(keep=30)
    with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as f:
        prefix = next(o["value"] for o in json.load(f) if o["name"] == "prefix")
    work = tempfile.mkdtemp(prefix="lambshm-install-")
    try:
        dest = os.path.join(work, "dest")
        r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", dest],
                           capture_output=True, text=True)
        tap.check(r.returncode == 0, "meson install --destdir", r.stdout + r.stderr)
        if r.returncode != 0:
            return tap.finish()
        root = dest + prefix
        found = sorted(os.path.relpath(os.path.join(d, n), root) + ("/" if n in ds else "")
                       for d, ds, fs in os.walk(root) for n in ds + fs)
        tree = "lib/lambshm/"
        inside = sorted(p[len(tree):] for p in found if p.startswith(tree) and p != tree)
        outside = [p for p in found if not p.startswith(tree) and p not in ("bin/", "lib/")]
        expected = sorted(p for p in RELEASE_TREE if p not in DOCUMENTS)
        files, _ = split_bytecode(inside)
        tap.check(files == expected, "PREFIX/lib/lambshm is exactly the release tree",
                  f"got      {files}\nexpected {expected}")
        problems = bytecode_problems(inside, host_cache_tag())
        tap.check(not problems, "bytecode of every shipped Python file, for each Python found "
                  "(this machine's python3 at least)", "\n".join(problems))
        link = os.path.join(root, "bin", "lambshm")
        tap.check(outside == ["bin/lambshm"] and os.path.islink(link)
                  and os.readlink(link) == "../lib/lambshm/bin/lambshm",
                  "the only other file is PREFIX/bin/lambshm -> ../lib/lambshm/bin/lambshm",
                  f"outside: {outside}")
        libs = [p for p in found if os.path.basename(p).startswith("lib") and ".so" in p]
        tap.check(not any(os.path.basename(p) in ("librt.so", "libpthread.so",
                                                   "liblambshm-preload.so.0") for p in libs),
                  "no development links", libs)
        tap.check(all(os.path.dirname(p) not in SEARCHED for p in libs)
                  and all(p.startswith(tree + "lib/") for p in libs),
                  "every library is under PREFIX/lib/lambshm/lib, which nothing searches", libs)
        r = subprocess.run(["meson", "introspect", "--installed", build], capture_output=True,
                           text=True)
        installed = sorted(os.path.relpath(p, prefix) for p in json.loads(r.stdout).values())
        tap.check(r.returncode == 0
                  and all(p.startswith(tree) for p in installed if p != "bin/lambshm"),
                  "meson introspect --installed agrees: everything under lib/lambshm but "
                  "bin/lambshm", installed)

        # 2. The installed tree where it was installed for, in the sandbox.
        subprocess.run(["chmod", "-R", "a+rX", work], check=True)
        bind = ["--bind", f"{root}:{prefix}", "--mnt", mnt]
        cmd = prefix + "/bin/lambshm"
        wrapper = prefix + "/lib/lambshm/bin/lambshm-exec-wrapper"
        for label, rootfs in (("bullseye (glibc 2.31, overlay)", []),
                              ("this machine (glibc 2.36, preload)", ["--host"])):
            for how, line in ((f"{prefix}/bin/lambshm run", f"{cmd} run python3 /mnt/mp.py"),
                              ("the exec wrapper", f"{wrapper} python3 /mnt/mp.py")):
                r = subprocess.run([sandbox] + rootfs + bind + ["--", "/bin/sh", "-c",
                                    "LD_LIBRARY_PATH= " + line],
                                   capture_output=True, text=True, timeout=600)
                tap.check(r.returncode == 0 and r.stdout.strip() == "mp ok 2 42 7",
                          f"{label}: multiprocessing through {how} from the installed tree",
                          r.stdout + r.stderr)

        # 3. --print-env for a Lambda function, on a Debian userland without
        # /lib64/libpthread.so.0 (this machine's, in the sandbox: the target's
        # architecture, so it runs under qemu-user for aarch64 as well).
        installed_cmd = prefix + "/lib/lambshm/bin/lambshm"
        here = prefix + "/lib/lambshm"
        clear = "env -u LD_LIBRARY_PATH -u LD_PRELOAD -u PYTHONPATH"
        for mode, variable, value in (
                ("overlay", "LD_LIBRARY_PATH", "/opt/lib/overlay"),
                ("preload", "LD_PRELOAD", "/opt/lib/liblambshm-preload.so")):
            r = subprocess.run([sandbox, "--host"] + bind + ["--", "/bin/sh", "-c",
                                f"test ! -e /lib64/libpthread.so.0 && {clear} "
                                f"{installed_cmd} run --print-env --mode {mode}"],
                               capture_output=True, text=True, timeout=300)
            tap.check(r.returncode == 0 and f"{here}/" in r.stdout and variable in r.stdout,
                      f"run --print-env --mode {mode} works without /lib64/libpthread.so.0",
                      r.stdout + r.stderr)
            r = subprocess.run([sandbox, "--host"] + bind + ["--", "/bin/sh", "-c",
                                f"{clear} {variable}=/from/this/machine "
                                f"{installed_cmd} run --print-env --mode {mode} --prefix=/opt"],
                               capture_output=True, text=True, timeout=300)
            tap.check(r.returncode == 0 and r.stdout == f"export {variable}='{value}'\n"
                      "export PYTHONPATH='/opt/python/run'\n",
                      f"run --print-env --mode {mode} --prefix=/opt: the Lambda settings, "
                      "nothing of this machine's", r.stdout + r.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for the sandbox")
        sys.exit(0)
    sys.exit(main())
