#!/usr/bin/env python3
"""The wheel, as Python users deploy it (TAP):

  1. packaging/wheel builds it for the build's architecture (meson-python);
     its platform tag is manylinux_2_N with N the newest glibc version any of
     its ELF files imports (found here from the symbols, not as
     packaging/wheel does, from the version-needs section), at most 2.26;
     WHEEL, RECORD and the file name agree; it carries the shipped tree;
     a second build gives the same bytes;
  2. `pip install` into a venv puts `lambshm` on PATH;
  3. `pip install --target package/`, the handler beside it, the whole
     bound at /var/task in the Lambda-like sandbox with Lambda's environment,
     on bookworm (python3.11), trixie (3.13) and sid (3.14; the libs suite's
     userland, which tools/test builds anyway): stock fails as
     users see it; AWS_LAMBDA_EXEC_WRAPPER=/var/task/lambshm/bin/lambshm-
     exec-wrapper makes the function work, and `python3 -m lambshm_check`
     from the handler says so;
  4. LAMBSHM_CHAIN_WRAPPER: a second exec wrapper (one that, as
     OpenTelemetry's does, puts its own sitecustomize in PYTHONPATH) runs
     too, both sitecustomize modules run, and the function works.

Usage: wheel_test.py SANDBOX BUILD
$LAMBSHM_WHEEL_USERLANDS overrides the userlands of 3 ("bookworm trixie sid";
for aarch64, under qemu-user, "bookworm"; 2 needs this machine's architecture).
"""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layout import DOCUMENTS, RELEASE_TREE, split_bytecode  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAMBDA_ENV = ["LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
              "/var/task:/var/task/lib:/opt/lib",
              "PYTHONPATH=/var/runtime", "LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime"]
WRAPPER = "/var/task/lambshm/bin/lambshm-exec-wrapper"
PYTHONS = {"bookworm": "python3.11", "trixie": "python3.13", "sid": "python3.14"}
# Lambda's Python bootstrap, for this test: /var/task on the path, the
# handler called once; then, from the handler, a child Python's
# `-m lambshm_check`, as a function would run it.
INVOKE = """import json, os, subprocess, sys, traceback


def main():  # under __main__'s guard: 3.14's forkserver imports the main module again
    sys.path.insert(0, "/var/task")
    print("chain", os.environ.get("LAMBSHM_CHAIN_WRAPPER"), os.environ.get("OTHER_WRAPPER"))
    try:
        import lambda_handler
        print("result", json.dumps(lambda_handler.handler({"count": 12, "limit": 3}, None)))
    except Exception as e:
        print("error", "".join(traceback.format_exception_only(type(e), e)).strip())
        sys.exit(1)
    r = subprocess.run([sys.executable, "-m", "lambshm_check"], capture_output=True, text=True)
    print("check", r.returncode, r.stdout.strip().replace("\\n", " ") or r.stderr.strip()[-300:])


if __name__ == "__main__":
    main()
"""
# A second exec wrapper, as OpenTelemetry's: its own sitecustomize first in
# PYTHONPATH, then exec.
OTHER_WRAPPER = """#!/bin/sh
export OTHER_WRAPPER=ran PYTHONPATH="/var/task/other${PYTHONPATH:+:$PYTHONPATH}"
exec "$@"
"""
OTHER_SITECUSTOMIZE = 'import sys\nprint("other sitecustomize", file=sys.stderr)\n'


def readelf_tool(arch):
    return "readelf" if arch == os.uname().machine else f"{arch}-linux-gnu-readelf"


def glibc_imports(readelf, path):
    """(major, minor) of every GLIBC_ version named by an undefined symbol."""
    out = subprocess.run([readelf, "-W", "--dyn-syms", path], capture_output=True, text=True,
                         check=True).stdout
    found = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[6] == "UND":
            m = re.search(r"@GLIBC_(\d+)\.(\d+)", f[7])
            if m:
                found.add((int(m.group(1)), int(m.group(2))))
    return found


def main():
    sandbox, build = sys.argv[1:3]
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for the sandbox")
        return 0
    with open(os.path.join(build, "librt", "librt.so.1"), "rb") as f:
        arch = {0x3e: "x86_64", 0xb7: "aarch64"}[int.from_bytes(f.read(20)[18:20], "little")]
    tap = Tap(keep=30)
    # pip and venv, as a Python developer has them (Debian splits them out).
    if subprocess.run(["/usr/bin/python3", "-c", "import ensurepip, pip"], capture_output=True).returncode:
        r = subprocess.run(["apt-get", "install", "-y", "-q", "python3-pip", "python3-venv"],
                           capture_output=True, text=True, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        tap.check(r.returncode == 0, "apt-get install python3-pip python3-venv", r.stdout + r.stderr)
    work = tempfile.mkdtemp(prefix="lambshm-wheel-")
    try:
        # 1. The wheel.
        wheels = []
        for n in (1, 2):
            out = os.path.join(work, f"out{n}")
            r = subprocess.run([os.path.join(TOP, "packaging", "wheel"), "--arch", arch, out],
                               capture_output=True, text=True)
            tap.check(r.returncode == 0, f"packaging/wheel --arch {arch}, run {n}", r.stdout + r.stderr)
            if r.returncode != 0:
                return tap.finish()
            wheels += [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".whl")]
        whl = wheels[0]
        name = os.path.basename(whl)
        m = re.match(r"lambshm-([^-]+)-py3-none-manylinux_(\d+)_(\d+)_(x86_64|aarch64)\.whl$", name)
        tap.check(m is not None and m.group(4) == arch, f"wheel name {name}")
        if m is None:
            return tap.finish()
        with open(wheels[0], "rb") as a, open(wheels[1], "rb") as b:
            tap.check(a.read() == b.read(), "two builds give the same wheel")
        tree = os.path.join(work, "unpacked")
        with zipfile.ZipFile(whl) as z:
            z.extractall(tree)
            names = z.namelist()
            modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
        readelf = readelf_tool(arch)
        elves = [n for n in names if open(os.path.join(tree, n), "rb").read(4) == b"\x7fELF"]
        versions = set().union(*(glibc_imports(readelf, os.path.join(tree, n)) for n in elves))
        floor = (2, 17) if arch == "aarch64" else (2, 5)
        want = max(versions | {floor})
        got = (int(m.group(2)), int(m.group(3)))
        tap.check(got == want and got <= (2, 26),
                  f"platform tag manylinux_{got[0]}_{got[1]}: the newest glibc version its "
                  f"{len(elves)} ELF files import is {max(versions)}, and no later than 2.26",
                  f"imports {sorted(versions)}")
        distinfo = f"lambshm-{m.group(1)}.dist-info"
        wheel_meta = open(os.path.join(tree, distinfo, "WHEEL")).read()
        tap.check(f"Tag: py3-none-manylinux_{got[0]}_{got[1]}_{arch}\n" in wheel_meta,
                  "WHEEL's tag is the file name's", wheel_meta)
        bad = []
        for line in open(os.path.join(tree, distinfo, "RECORD")).read().splitlines():
            path, digest, size = line.rsplit(",", 2)
            if path.endswith("/RECORD"):
                continue
            data = open(os.path.join(tree, path), "rb").read()
            if digest != "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode() \
                    or int(size) != len(data):
                bad.append(path)
        tap.check(not bad and len(names) > 10, "RECORD lists every file's hash and size", str(bad))
        files, _ = split_bytecode(sorted(n[len("lambshm/"):] for n in names if n.startswith("lambshm/")))
        documents = {d.rstrip("/") for d in DOCUMENTS}
        expected = sorted([p for p in RELEASE_TREE if not p.endswith("/") and p.split("/")[0] not in documents]
                          + ["__init__.py", "__main__.py"])
        tap.check(files == expected, "it carries the shipped tree as the package lambshm "
                  "(wrapper, command, preload, overlay, keeper, Python hook)", f"got {files}")
        tap.check(all(modes[f"lambshm/{p}"] & 0o111 for p in ("bin/lambshm", "bin/lambshm-exec-wrapper",
                                                               "lib/lambshm-keeper")),
                  "programs are executable in the wheel")
        foreign = arch != os.uname().machine
        # 2. A venv: `lambshm` on PATH (this machine's architecture only).
        venv = os.path.join(work, "venv")
        r = subprocess.run(["/usr/bin/python3", "-m", "venv", venv], capture_output=True, text=True)
        if foreign:
            pass
        elif r.returncode == 0:
            r = subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "--no-index", whl],
                               capture_output=True, text=True)
        if not foreign:
            tap.check(r.returncode == 0, "pip install into a venv", r.stdout + r.stderr)
            path = os.path.join(venv, "bin") + ":/usr/bin:/bin"
            r = subprocess.run(["lambshm", "--version"], capture_output=True, text=True,
                               env={"PATH": path})
            tap.check(r.returncode == 0 and r.stdout.startswith("lambshm "),
                      "`lambshm` on the venv's PATH runs the command", r.stdout + r.stderr)
            r = subprocess.run(["lambshm", "run", "--print-env"], capture_output=True, text=True,
                               env={"PATH": path})
            tap.check(r.returncode == 0 and os.path.join(venv, "lib") in r.stdout,
                      "`lambshm run` finds its libraries in the venv's site-packages", r.stdout + r.stderr)

        # 3. pip install --target, the function at /var/task.
        task = os.path.join(work, "task")
        # (Another architecture's wheel as users install it from this machine.)
        platform = ["--platform", f"manylinux_{got[0]}_{got[1]}_{arch}", "--only-binary=:all:"] if foreign else []
        r = subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "-q", "--no-index",
                            "--target", task] + platform + [whl], capture_output=True, text=True)
        tap.check(r.returncode == 0 and os.access(os.path.join(task, "lambshm", "bin", "lambshm-exec-wrapper"),
                                                  os.X_OK),
                  "pip install --target package/", r.stdout + r.stderr)
        shutil.copy(os.path.join(TOP, "examples", "lambda_handler.py"), task)
        with open(os.path.join(task, "invoke.py"), "w") as f:
            f.write(INVOKE)
        os.makedirs(os.path.join(task, "other"))
        with open(os.path.join(task, "other", "sitecustomize.py"), "w") as f:
            f.write(OTHER_SITECUSTOMIZE)
        with open(os.path.join(task, "other-wrapper"), "w") as f:
            f.write(OTHER_WRAPPER)
        os.chmod(os.path.join(task, "other-wrapper"), 0o755)
        subprocess.run(["chmod", "-R", "a+rX", work], check=True)

        rootfs_tool = os.path.join(TOP, "tests", "harness", "debian-rootfs")

        def sandbox_run(suite, env, script):
            where = ["--suite", suite]
            if suite == "sid" and not foreign:
                # The libs suite's sid (tools/test builds it anyway), not a second one.
                where = ["--rootfs", subprocess.run([rootfs_tool, "--suite", "sid", "--with", "libs"],
                                                    capture_output=True, text=True, check=True).stdout.strip()]
            args = [sandbox] + where + ["--bind", f"{task}:/var/task"]
            for e in LAMBDA_ENV + env:
                args += ["--env", e]
            r = subprocess.run(args + ["--", "/bin/sh", "-c", script], capture_output=True, text=True,
                               timeout=900)
            return r.returncode, r.stdout + r.stderr

        # Under qemu-user (arm64: the sandbox's $LAMBSHM_SANDBOX_ARCH), bookworm only:
        # the other arm64 userlands are built under emulation, slowly.
        userlands = os.environ.get("LAMBSHM_WHEEL_USERLANDS",
                                   "bookworm" if foreign else "bookworm trixie sid").split()
        for suite in userlands:
            python = f"/usr/bin/{PYTHONS[suite]}"
            label = f"{suite} ({PYTHONS[suite]})"
            rc, out = sandbox_run(suite, [], f"{python} /var/task/invoke.py")
            tap.check(rc != 0 and "FileNotFoundError" in out and "No such file or directory" in out,
                      f"{label}: stock fails as on Lambda (FileNotFoundError)", out)
            rc, out = sandbox_run(suite, [f"AWS_LAMBDA_EXEC_WRAPPER={WRAPPER}"],
                                  f'"$AWS_LAMBDA_EXEC_WRAPPER" {python} /var/task/invoke.py')
            check = re.search(r"^check (\d+) (\{.*\})$", out, re.M)
            try:
                doc = json.loads(check.group(2)) if check else {}
            except ValueError:
                doc = {}
            tap.check(rc == 0 and '"statusCode": 200' in out,
                      f"{label}: through {WRAPPER} the function works", out)
            tap.check(check is not None and check.group(1) == "0" and doc.get("ok") is True
                      and doc.get("lambshm") == "preload" and "/var/task/lambshm/lib/" in str(doc.get("libraries")),
                      f"{label}: python3 -m lambshm_check from the handler: ok, the wheel's preload", out)
        # 4. Chaining another exec wrapper (the sh wrapper; one userland is enough).
        suite = userlands[0]
        python = f"/usr/bin/{PYTHONS[suite]}"
        rc, out = sandbox_run(suite, [f"AWS_LAMBDA_EXEC_WRAPPER={WRAPPER}",
                                      "LAMBSHM_CHAIN_WRAPPER=/var/task/other-wrapper"],
                              f'"$AWS_LAMBDA_EXEC_WRAPPER" {python} /var/task/invoke.py')
        tap.check(rc == 0 and '"statusCode": 200' in out and "chain None ran" in out
                  and "other sitecustomize" in out and re.search(r'^check 0 \{.*"ok": true', out, re.M),
                  "LAMBSHM_CHAIN_WRAPPER: the other wrapper and its sitecustomize run too, "
                  "the function works, and does not see the variable", out)
        rc, out = sandbox_run(suite, [f"AWS_LAMBDA_EXEC_WRAPPER={WRAPPER}",
                                      "LAMBSHM_CHAIN_WRAPPER=/var/task/no-such-wrapper"],
                              f'"$AWS_LAMBDA_EXEC_WRAPPER" {python} /var/task/invoke.py')
        tap.check(rc == 125 and "LAMBSHM_CHAIN_WRAPPER /var/task/no-such-wrapper" in out,
                  "LAMBSHM_CHAIN_WRAPPER naming no program: clear message, status 125", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
