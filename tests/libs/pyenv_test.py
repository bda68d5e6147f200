#!/usr/bin/env python3
"""CPython versions that no Debian userland packages, from pyenv where this
machine has them, in the Lambda-like sandbox (TAP): python3.12, the oldest
Python runtime Lambda supports (Amazon Linux 2023), is on no Debian mirror.

The interpreter is bound at /usr/local of this machine's root (glibc 2.36, so
the preload library), its lib/ first in Lambda's LD_LIBRARY_PATH as
/var/lang/lib is on Lambda; the layer at /opt, the runtime started through
the exec wrapper.  CPython's multiprocessing surface (mp_workload.py) under
every start method, the resource tracker's cleanup, and the Value/Array
hook, as libs_test.py runs them for 3.13 and 3.14: stock must fail, lambshm
pass with the backing directory empty.

No mirror has compiled libraries (numpy, scikit-learn, PyTorch) for 3.12, but
joblib (loky included) and tqdm are pure Python, the same files as their
py3-none-any wheels: they are taken from the newest libs userland this run
builds (PURE_FROM) and put on PYTHONPATH, and libs_workload.py's joblib,
tqdm and ProcessPoolExecutor cases run too.

Usage: pyenv_test.py SANDBOX LAYER_TOOL ROOTFS_TOOL BUILD_DIR [VERSION...]
                                                       (default: 3.12)
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
sys.path.insert(0, here)
from libs_test import LAMBDA_PATH, MP_CASES, judge, parse, userlands_for  # noqa: E402
from tap import Tap  # noqa: E402

# libs_workload.py's cases that need no compiled library, and what they import.
PURE_CASES = {"joblib-loky": "joblib", "joblib-mp": "joblib", "tqdm": "tqdm", "ppe": None}
# Where joblib and tqdm come from: the first of these libs userlands the run
# builds anyway (libs_test.py's choice), so none is built for this test alone.
PURE_FROM = ["sid", "trixie", "bookworm"]
PURE_PACKAGES = ["joblib", "tqdm", "threadpoolctl.py"]


def pure_packages(rootfs_tool, arch, site):
    """Copies joblib and tqdm from a libs userland into `site`; returns the
    userland's name, or None (and why) when this run builds none of them."""
    chosen = [u for u in PURE_FROM if u in userlands_for(arch)]
    if not chosen:
        return None, (f"none of the libs userlands {', '.join(PURE_FROM)} is chosen "
                      f"(LAMBSHM_LIBS_USERLANDS_{arch.upper()})")
    r = subprocess.run([rootfs_tool, "--suite", chosen[0], "--with", "libs", "--arch", arch],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"the {chosen[0]}-libs-{arch} userland did not build: {r.stderr.strip()}"
    dist = os.path.join(r.stdout.strip(), "usr", "lib", "python3", "dist-packages")
    os.mkdir(site)
    for name in PURE_PACKAGES:
        src = os.path.join(dist, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(site, name),
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif os.path.exists(src):
            shutil.copy(src, site)
    return chosen[0], None


def main():
    sandbox, layer_tool, rootfs_tool, build = sys.argv[1:5]
    versions = sys.argv[5:] or ["3.12"]
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for the sandbox")
        return 0
    native = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                            text=True).stdout.strip()
    if os.environ.get("LAMBSHM_SANDBOX_ARCH", native) != native:
        print(f"1..0 # SKIP pyenv's interpreters are this machine's ({native}), not "
              f"{os.environ['LAMBSHM_SANDBOX_ARCH']}")
        return 0
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = {v: sorted(glob.glob(os.path.join(pyenv, "versions", v + ".*", "bin", "python" + v)))
             for v in versions}
    if not any(found.values()):
        print(f"1..0 # SKIP no pyenv Python {', '.join(versions)} under {pyenv}/versions")
        return 0  # Meson's TAP reads the plan's SKIP; exit status 77 would be an error
    tap = Tap()
    with tempfile.TemporaryDirectory() as mnt, tempfile.TemporaryDirectory() as work:
        layer = os.path.join(work, "opt")
        subprocess.run([layer_tool, build, layer], check=True)
        os.chmod(work, 0o755)
        for f in ("run_case.sh", "libs_workload.py", "../lambda/mp_workload.py"):
            shutil.copy(os.path.join(here, f), mnt)
        source, why_not = pure_packages(rootfs_tool, native, os.path.join(mnt, "site"))
        os.chmod(mnt, 0o755)
        for version, pythons in found.items():
            if not pythons:
                tap.skip(f"python{version}", f"pyenv has no {version} under {pyenv}/versions")
                continue
            prefix = os.path.dirname(os.path.dirname(pythons[-1]))  # the newest patch release
            name = os.path.basename(prefix)
            base = [sandbox, "--host", "--bind", f"{prefix}:/usr/local", "--mnt", mnt,
                    "--opt", layer, "--env", f"LD_LIBRARY_PATH=/usr/local/lib:{LAMBDA_PATH}",
                    "--env", "PYTHONPATH=/mnt/site", "--env", "PYTHONDONTWRITEBYTECODE=1"]
            cases = MP_CASES + [c for c, needs in PURE_CASES.items() if source or not needs]
            for case in PURE_CASES:
                if PURE_CASES[case] and not source:
                    tap.skip(f"pyenv {name} {case}", f"no {PURE_CASES[case]}: {why_not}")
            for case in cases:
                what = f"pyenv {name} {case} (preload, glibc of this machine)"
                if PURE_CASES.get(case):
                    what += f", {PURE_CASES[case]} from {source}"
                out = subprocess.run(base + ["--", "/bin/sh", "/mnt/run_case.sh", "both",
                                             f"python{version}", case],
                                     capture_output=True, text=True, timeout=1800)
                detail = out.stdout + out.stderr
                stock_failed, stock_error, ok, summary = judge(*parse(detail), case)
                tap.check(stock_failed, f"{what}: stock fails: {stock_error}", detail)
                tap.check(ok, f"{what}: lambshm passes, backing directory empty ({summary})",
                          detail)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
