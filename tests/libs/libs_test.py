#!/usr/bin/env python3
"""The libraries users parallelize with, in the Lambda-like sandbox (TAP).

For each userland (tests/harness/debian-rootfs --with libs) and each workload
(libs_workload.py's cases, a boost::interprocess client, and on trixie and
sid CPython's own multiprocessing surface, mp_workload.py), one sandbox run
(run_case.sh) does what a user's function does, first as Lambda runs it
today, then with lambshm exactly as deployed: the layer at /opt, Lambda's own
LD_LIBRARY_PATH, the runtime started through the exec wrapper
(AWS_LAMBDA_EXEC_WRAPPER).  Stock must fail every time (else the check is
void); lambshm must pass every start method with exact results, two or more
worker PIDs and no fallback warning, and leave the backing directory empty.
A foreign architecture's userland runs under qemu-user; the workloads are
told so (LAMBSHM_TEST_EMULATOR), and a case the emulator cannot run is a
skipped check that names it (libs_workload.EMULATOR_CANNOT).

Usage: libs_test.py SANDBOX LAYER_TOOL ROOTFS_TOOL BUILD_DIR
                    [--userland NAME]... [--case NAME]... [--timing REPORT.json]
  --timing  also runs each workload stock with a real /dev/shm (--dev-shm)
            and writes every result, with wall times, to REPORT.json
The architecture is $LAMBSHM_SANDBOX_ARCH (default: this machine's).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tap import Tap  # noqa: E402
from libs_workload import EMULATOR_CANNOT  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
LIB_CASES = ["joblib-loky", "joblib-mp", "sklearn", "torch-dataloader", "torch-sharing",
             "numpy-shm", "tqdm", "ppe", "boost"]
MP_CASES = ["mp:fork", "mp:spawn", "mp:forkserver", "mp:default",
            "mp:leak:fork", "mp:leak:spawn", "mp:leak:forkserver", "mp:hook"]
# Lambda's own LD_LIBRARY_PATH, in every function's environment.
LAMBDA_PATH = ("/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
               "/var/task:/var/task/lib:/opt/lib")
# userland -> (mechanism, [(python, cases)])
USERLANDS = {
    "bullseye": ("overlay", [("python3", LIB_CASES)]),
    "bookworm": ("preload", [("python3", LIB_CASES)]),
    "trixie": ("preload", [("python3.13", LIB_CASES + MP_CASES)]),
    # sid's python3 is 3.14, the only version its libraries are built for.
    "sid": ("preload", [("python3.14", LIB_CASES + MP_CASES), ("python3.13", MP_CASES)]),
}
# Which userlands run, by architecture: tools/test sets LAMBSHM_LIBS_USERLANDS_AMD64
# and _ARM64 from LAMBSHM_LIBS_USERLANDS (see there why the default is short:
# arm64's userlands and cases run under qemu-user, PyTorch's slowly).
DEFAULT_USERLANDS = {"amd64": "bullseye sid", "arm64": ""}


def userlands_for(arch):
    value = os.environ.get(f"LAMBSHM_LIBS_USERLANDS_{arch.upper()}")
    if value is None:
        value = os.environ.get("LAMBSHM_LIBS_USERLANDS", DEFAULT_USERLANDS.get(arch, ""))
    return value.split()


def parse(out):
    """run_case.sh's output -> {label: (rc, seconds, [lines])}, left count."""
    runs, left, current = {}, None, None
    for line in out.splitlines():
        m = re.match(r"(stock|lambshm|compile): (?:rc=(\d+) time=([\d.]+)|failed)$", line)
        if m:
            current = m.group(1)
            runs[current] = (int(m.group(2) or 1), float(m.group(3) or 0), [])
        elif line.startswith("left: "):
            left = int(line.split()[1])
        elif line.startswith("| ") and current:
            runs[current][2].append(line[2:])
    return runs, left


def first_error(lines):
    fail = next((l for l in lines if l.startswith("FAIL ")), None)
    if fail:
        return re.sub(r"^FAIL [^:]*: ", "", fail)
    return next((l for l in reversed(lines) if l.strip()), "no output")


def emulator(arch, native):
    """The user-mode emulator a foreign `arch` runs under, named as
    tests/harness/target-exec names it; None natively."""
    if arch == native:
        return None
    qemu = {"arm64": "aarch64", "amd64": "x86_64"}[arch]
    return subprocess.run([f"/usr/bin/qemu-{qemu}-static", "--version"], capture_output=True,
                          text=True, check=True).stdout.splitlines()[0]


def judge(runs, left, case):
    """run_case.sh's runs of `case` -> (stock failed, its first error, lambshm
    passed, a summary of lambshm's run).  Stock must fail every start method
    (mp_workload's report of which method is the default is not a result);
    lambshm must pass with the backing directory empty."""
    stock = runs.get("stock", (0, 0, []))
    ours = runs.get("lambshm", (1, 0, []))
    stock_failed = stock[0] != 0 and not any(
        l.startswith("ok ") and not l.startswith("ok default start method") for l in stock[2])
    ok = (ours[0] == 0 and left == 0 and any(l.startswith("ok ") for l in ours[2])
          and not any(l.startswith("FAIL") for l in ours[2]))
    if case.startswith("mp:leak:"):
        ok = ok and any("leaked shared_memory" in l for l in ours[2])
    oks = [l for l in ours[2] if l.startswith("ok ")]
    summary = f"{len(oks)} ok" if ok else first_error(ours[2])
    return stock_failed, first_error(stock[2]), ok, f"{summary}, {ours[1]:.1f}s"


def main():
    sandbox, layer_tool, rootfs_tool, build = sys.argv[1:5]
    rest = sys.argv[5:]
    only = [rest[i + 1] for i, a in enumerate(rest) if a == "--userland"]
    only_cases = [rest[i + 1] for i, a in enumerate(rest) if a == "--case"]
    report = rest[rest.index("--timing") + 1] if "--timing" in rest else None
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for the sandbox and the userlands")
        return 0
    native = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                            text=True).stdout.strip()
    arch = os.environ.get("LAMBSHM_SANDBOX_ARCH") or native
    chosen = only or userlands_for(arch)
    if not chosen:
        print(f"1..0 # SKIP no libs userland for {arch} by default: under qemu-user one takes "
              f"30 minutes or more; set LAMBSHM_LIBS_USERLANDS_{arch.upper()}=\"sid bullseye\" "
              "to choose")
        return 0  # Meson's TAP reads the plan's SKIP; exit status 77 would be an error
    tap = Tap()
    results = []
    emulated = emulator(arch, native)
    emulator_env = ["--env", f"LAMBSHM_TEST_EMULATOR={emulated}"] if emulated else []
    with tempfile.TemporaryDirectory() as mnt, tempfile.TemporaryDirectory() as work:
        layer = os.path.join(work, "opt")
        subprocess.run([layer_tool, build, layer], check=True)
        os.chmod(work, 0o755)
        for f in ("libs_workload.py", "run_case.sh", "boost_ipc.cpp", "../lambda/mp_workload.py"):
            shutil.copy(os.path.join(here, f), mnt)
        os.chmod(mnt, 0o755)
        for userland, (mechanism, plans) in USERLANDS.items():
            if userland not in chosen:
                continue
            r = subprocess.run([rootfs_tool, "--suite", userland, "--with", "libs", "--arch", arch],
                               capture_output=True, text=True)
            if r.returncode != 0:
                tap.check(False, f"{userland}-libs-{arch}: the userland builds", r.stderr)
                continue
            rootfs = r.stdout.strip()
            for python, cases in plans:
                version = subprocess.run(
                    ["sh", "-c", f"ls {rootfs}/usr/bin/{python}* >/dev/null 2>&1 && "
                     f"readlink -f {rootfs}/usr/bin/{python}"], capture_output=True, text=True)
                pyname = os.path.basename(version.stdout.strip()) or python
                for case in cases:
                    if only_cases and case not in only_cases:
                        continue
                    what = f"{userland} {arch} {pyname} {case} ({mechanism})"
                    if emulated and case in EMULATOR_CANNOT:
                        tap.skip(what, f"{emulated} {EMULATOR_CANNOT[case]}")
                        continue
                    base = [sandbox, "--rootfs", rootfs, "--mnt", mnt, "--opt", layer,
                            "--env", f"LD_LIBRARY_PATH={LAMBDA_PATH}", "--tmp-size", "1024"]
                    base += emulator_env
                    cmd = ["/bin/sh", "/mnt/run_case.sh"]
                    out = subprocess.run(base + ["--"] + cmd + ["both", python, case],
                                         capture_output=True, text=True, timeout=3600)
                    runs, left = parse(out.stdout + out.stderr)
                    detail = out.stdout + out.stderr
                    if "compile" in runs:
                        tap.check(False, f"{what}: compiles", detail)
                        continue
                    stock_failed, stock_error, ok, summary = judge(runs, left, case)
                    tap.check(stock_failed, f"{what}: stock fails: {stock_error}", detail)
                    tap.check(ok, f"{what}: lambshm passes, backing directory empty ({summary})",
                              detail)
                    ours = runs.get("lambshm", (1, 0, []))
                    row = {"userland": userland, "arch": arch, "python": pyname, "case": case,
                           "mechanism": mechanism, "stock_failed": stock_failed,
                           "stock_error": stock_error, "lambshm_ok": ok, "lambshm_s": ours[1],
                           "left": left}
                    if report:
                        out = subprocess.run(base + ["--dev-shm", "--"] + cmd + ["plain", python, case],
                                             capture_output=True, text=True, timeout=3600)
                        runs, _ = parse(out.stdout + out.stderr)
                        dev = runs.get("stock", (1, 0, []))
                        row["devshm_ok"] = dev[0] == 0
                        row["devshm_s"] = dev[1]
                        row["devshm_error"] = "" if dev[0] == 0 else first_error(dev[2])
                    results.append(row)
                    if report:  # after every row: a run cut short keeps what it measured
                        with open(report, "w") as f:
                            json.dump(results, f, indent=1)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
