#!/usr/bin/env python3
"""Large shared memory objects under a memory cap (issue 16), in one run:

  glibc, tmpfs          stock glibc, objects on a private tmpfs /dev/shm
  lambshm, memfd        liblambshm-preload.so, backing directory on an ext4
                        loop device (what Lambda's /tmp is): memfd objects
  lambshm, files        the same with LAMBSHM_MEMFD=0: plain files on ext4,
                        which is what lambshm did before memfd objects

Each object of SIZE MiB is written PASSES times (pass 0 first touches the
pages; the others are rewrites) by a process in its own memory cgroup capped
at SIZE * 1.3 (cgroup v2 memory.max or v1 memory.limit_in_bytes).  Also the
life of a small object (shm_open O_CREAT|O_EXCL, ftruncate 4 KiB, mmap,
touch, munmap, close, shm_unlink) in each configuration.

Needs root: it mounts (in a private mount namespace only) and makes cgroups.
Usage: bench/large.py BUILD [--sizes 256,768,1536] [--passes 4] [--write RESULTS.md]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

CONFIGS = [
    ("glibc 2.36, tmpfs /dev/shm", "stock"),
    ("lambshm, memfd, ext4 /tmp", "memfd"),
    ("lambshm, files, ext4 /tmp", "files"),
]


def cgroup_create(name, limit):
    v2 = "/sys/fs/cgroup/cgroup.controllers"
    if os.path.exists(v2):
        path = os.path.join("/sys/fs/cgroup", name)
        os.mkdir(path)
        with open(os.path.join(path, "memory.max"), "w") as f:
            f.write(str(limit))
        with open(os.path.join(path, "memory.swap.max"), "w") as f:
            f.write("0")
        return path
    path = os.path.join("/sys/fs/cgroup/memory", name)
    os.mkdir(path)
    with open(os.path.join(path, "memory.limit_in_bytes"), "w") as f:
        f.write(str(limit))
    return path


def cgroup_remove(path):
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            subprocess.run(["sleep", "0.1"])


def run_in(cgroup, argv, env):
    script = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
    r = subprocess.run(["/bin/sh", "-c", script, cgroup] + argv, env=env,
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"{argv}: {r.returncode}: {r.stderr}")
    return r.stdout


def env_for(config, args, ext4_dir):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if config != "stock":
        env["LD_PRELOAD"] = os.path.join(args.build, "preload", "liblambshm-preload.so")
        env["LAMBSHM_DIR"] = ext4_dir
        if config == "files":
            env["LAMBSHM_MEMFD"] = "0"
    return env


def inner(args):
    """Runs inside the private mount namespace."""
    work = args.work
    ext4 = os.path.join(work, "ext4")
    os.makedirs(ext4, exist_ok=True)
    subprocess.run(["mount", "-o", "loop", os.path.join(work, "ext4.img"), ext4], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g,mode=1777", "lambshm-large",
                    "/dev/shm"], check=True)
    ext4_dir = os.path.join(ext4, "shm")
    kernel = os.path.join(args.build, "bench", "large-objects")
    rows = []
    for size in args.sizes:
        limit = int(size * 1.3) << 20
        for label, config in CONFIGS:
            cg = cgroup_create(f"lambshm-large-{os.getpid()}-{config}-{size}", limit)
            try:
                out = run_in(cg, [kernel, "large", str(size), str(args.passes)],
                             env_for(config, args, ext4_dir))
            finally:
                cgroup_remove(cg)
            secs = [float(line.split()[2]) for line in out.splitlines() if line.startswith("pass")]
            gbps = [(size << 20) / s / 1e9 for s in secs]
            rows.append((size, label, gbps))
            print(f"{size} MiB {label}: " + " ".join(f"{g:.2f}" for g in gbps), file=sys.stderr)
    small = []
    for label, config in CONFIGS:
        runs = []
        for _ in range(3):
            cg = cgroup_create(f"lambshm-small-{os.getpid()}-{config}", 256 << 20)
            try:
                out = run_in(cg, [kernel, "small", str(args.small_count)],
                             env_for(config, args, ext4_dir))
            finally:
                cgroup_remove(cg)
            runs.append(float(out.split()[1]))
        small.append((label, statistics.median(runs)))
        print(f"small {label}: {runs}", file=sys.stderr)
    subprocess.run(["umount", ext4])
    return rows, small


def table(rows, small, args):
    lines = [f"Command: `{args.command}`", "",
             f"Each object written {args.passes} times in a memory cgroup capped at 1.3 x its "
             "size; GB/s (10^9 bytes) per pass, wall clock. Pass 0 also allocates the pages; "
             "\"rewrite\" is the median of the others; the ratio is to glibc on tmpfs in the "
             "same run.", "",
             "| size | configuration | pass 0 GB/s | rewrite GB/s | rewrite vs tmpfs |",
             "|---|---|---|---|---|"]
    base = {}
    for size, label, gbps in rows:
        rewrite = statistics.median(gbps[1:]) if len(gbps) > 1 else gbps[0]
        if label.startswith("glibc"):
            base[size] = rewrite
        ratio = rewrite / base[size] if size in base else float("nan")
        lines.append(f"| {size} MiB | {label} | {gbps[0]:.2f} | {rewrite:.2f} | {ratio:.2f}x |")
    lines += ["", f"Small object (shm_open O_CREAT|O_EXCL + ftruncate 4 KiB + mmap + touch + "
              f"munmap + close + shm_unlink), {args.small_count} cycles, median of 3 runs:", "",
              "| configuration | us per cycle | vs lambshm files |", "|---|---|---|"]
    files = dict(small).get(CONFIGS[2][0])
    for label, us in small:
        lines.append(f"| {label} | {us:.1f} | {us / files:.2f}x |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--sizes", default="256,768,1536")
    p.add_argument("--passes", type=int, default=4)
    p.add_argument("--small-count", type=int, default=2000)
    p.add_argument("--write")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--command", default="bench/large.py")
    args = p.parse_args()
    args.build = os.path.abspath(args.build)
    args.sizes = [int(s) for s in str(args.sizes).split(",")]
    if args.inner:
        rows, small = inner(args)
        sys.stdout.write(table(rows, small, args))
        return 0
    if os.geteuid() != 0:
        print("bench/large.py: needs root (mounts in a private namespace, cgroups)", file=sys.stderr)
        return 77
    work = tempfile.mkdtemp(prefix="lambshm-large.", dir="/var/tmp")
    try:
        image = os.path.join(work, "ext4.img")
        with open(image, "wb") as f:
            f.truncate((max(args.sizes) * 2 + 512) << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
        argv = ["unshare", "--mount", "--propagation", "private", sys.executable,
                os.path.abspath(__file__), args.build, "--inner", "--work", work,
                "--sizes", ",".join(map(str, args.sizes)), "--passes", str(args.passes),
                "--small-count", str(args.small_count), "--command", args.command]
        out = subprocess.run(argv, check=True, capture_output=False, stdout=subprocess.PIPE,
                             text=True).stdout
        sys.stdout.write(out)
        if args.write:
            with open(args.write, "a") as f:
                f.write("\n## Large objects on a disk-backed /tmp (issue 16)\n\n" + out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
