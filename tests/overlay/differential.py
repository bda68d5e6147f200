#!/usr/bin/env python3
"""Differential test against real glibc 2.31 (Debian bullseye).

Runs the calls of an ops file (see differential.ops) with tests/probe/probe.c
compiled in the bullseye userland, in the Lambda-like sandbox with a tmpfs
/dev/shm added so that stock glibc works: once with stock glibc, once with
lambshm's libraries and LAMBSHM_DIR=/dev/shm.  Every call must give the same
result, errno and files, except calls marked "# diverges: reason", which must
differ.  Output: TAP, one line per call.

Usage: differential.py SANDBOX LIBRT LIBPTHREAD PROBE_C OPS
"""
import os
import shutil
import subprocess
import sys
import tempfile

MARK = "# diverges:"


def parse_ops(path):
    ops = []
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        reason = None
        if MARK in line:
            line, reason = line.split(MARK, 1)
            reason = reason.strip()
        ops.append((line.strip(), reason))
    return ops


def blocks(output):
    """One block per call: its line plus any indented lines that follow."""
    out = []
    for line in output.splitlines():
        if line.startswith("  ") and out:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def main():
    sandbox, librt, libpthread, probe_c, ops_file = sys.argv[1:6]
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for the sandbox")
        return 0
    ops = parse_ops(ops_file)
    with tempfile.TemporaryDirectory() as opt, tempfile.TemporaryDirectory() as mnt:
        overlay = os.path.join(opt, "lib", "overlay")
        os.makedirs(overlay)
        shutil.copy(librt, overlay)
        shutil.copy(libpthread, overlay)
        shutil.copy(probe_c, mnt)
        with open(os.path.join(mnt, "ops"), "w") as f:
            f.write("".join(op + "\n" for op, _ in ops))
        for d in (opt, mnt):
            subprocess.run(["chmod", "-R", "a+rX", d], check=True)
        script = (
            "set -e; cd /tmp; gcc -O2 -o probe /mnt/probe.c -pthread -lrt; "
            "LD_LIBRARY_PATH= ./probe - < /mnt/ops > stock.out; "
            "rm -rf /dev/shm/* /dev/shm/.[!.]*; "
            "LAMBSHM_DIR=/dev/shm ./probe - < /mnt/ops > ours.out; "
            "cat stock.out; echo =====; cat ours.out")
        r = subprocess.run([sandbox, "--dev-shm", "--opt", opt, "--mnt", mnt, "--",
                            "/bin/sh", "-c", script], capture_output=True, text=True,
                           errors="backslashreplace")
    if r.returncode != 0 or "=====\n" not in r.stdout:
        print("not ok 1 - the probe ran in the sandbox")
        print("# " + (r.stdout + r.stderr).replace("\n", "\n# "))
        print("1..1")
        return 1
    stock, ours = (blocks(part) for part in r.stdout.split("=====\n", 1))
    failed = 0
    n = 0
    if len(stock) != len(ops) or len(ours) != len(ops):
        print(f"not ok 1 - one result per call ({len(ops)} calls, {len(stock)} stock, "
              f"{len(ours)} lambshm results)")
        print("1..1")
        return 1
    divergences = []
    for (op, reason), s, o in zip(ops, stock, ours):
        n += 1
        shown = op if len(op) < 70 else op[:67] + "..."
        if reason is None:
            good = s == o
            print(f"{'ok' if good else 'not ok'} {n} - same as glibc 2.31: {shown}")
        else:
            good = s != o
            print(f"{'ok' if good else 'not ok'} {n} - deliberate divergence: {shown}")
            divergences.append((op, reason, s, o))
        if not good:
            failed += 1
            print(f"#   glibc 2.31: {s}".replace("\n", "\n#   "))
            print(f"#   lambshm:    {o}".replace("\n", "\n#   "))
    for op, reason, s, o in divergences:
        print(f"# divergence: {op[:60]}: {reason}")
        print(f"#   glibc 2.31: {s.splitlines()[0].rsplit('->', 1)[-1].strip()}; "
              f"lambshm: {o.splitlines()[0].rsplit('->', 1)[-1].strip()}")
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
