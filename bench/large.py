#!/usr/bin/env python3
"""Large shared memory on a disk-backed /tmp under a memory cap, in one run.

shm_open objects (bench/large_objects.c), each SIZE MiB written PASSES times:
  glibc, tmpfs /dev/shm     stock glibc, objects on a private tmpfs /dev/shm
  lambshm, memfd            liblambshm-preload.so, backing directory on an
                            ext4 loop device (what Lambda's /tmp is): the
                            object is a memfd held by lambshm-keeper
  lambshm, files            the same with LAMBSHM_MEMFD=0: a file on ext4
                            (what every object was before the keeper)
and the life of a small object (shm_open O_CREAT|O_EXCL, ftruncate 4 KiB,
mmap, touch, munmap, close, shm_unlink) in each.

multiprocessing's heap arena (Value/Array; a RawArray of SIZE MiB, rewritten
PASSES times with memset) under this machine's python3:
  CPython, tmpfs /dev/shm   stock: the arena is a file in /dev/shm
  lambshm hook, memfd       /dev/shm unusable (read-only), the hook on
                            PYTHONPATH: the arena is a memfd
  lambshm hook, files       the same with LAMBSHM_MEMFD=0: a file in the
                            backing directory on ext4 (the hook before memfd)

Each run is a process in its own memory cgroup capped at SIZE * 1.3 (arenas:
SIZE * 2.5, see below; cgroup v2 memory.max or v1 memory.limit_in_bytes), so
a disk's dirty pages must be written back as they would on a Lambda function
of that size.  Wall clock:
writeback throttling is time spent sleeping.

Needs root: it mounts (in a private mount namespace only) and makes cgroups.
Usage: bench/large.py BUILD [--sizes 256,768,1536] [--passes 4]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHM_CONFIGS = [("glibc, tmpfs /dev/shm", "stock"), ("lambshm, memfd, ext4 /tmp", "memfd"),
               ("lambshm, files, ext4 /tmp (LAMBSHM_MEMFD=0)", "files")]
ARENA_CONFIGS = [("CPython, tmpfs /dev/shm", "stock"), ("lambshm hook, memfd", "memfd"),
                 ("lambshm hook, files (LAMBSHM_MEMFD=0)", "files")]
ARENA_KERNEL = r"""
import ctypes, multiprocessing as mp, multiprocessing.heap as heap, os, sys, time
size, passes = int(sys.argv[1]) << 20, int(sys.argv[2])
a = mp.RawArray("b", size)  # allocates the arena and zeroes it: every page touched
fd = heap.BufferWrapper._heap._arenas[-1].fd
print("backing", os.readlink("/proc/self/fd/%d" % fd).split(" ")[0], flush=True)
for i in range(passes):
    t = time.perf_counter()
    ctypes.memset(ctypes.addressof(a), i + 1, size)
    print("pass", i, time.perf_counter() - t, flush=True)
"""


def cgroup_create(name, limit):
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # v2
        path = os.path.join("/sys/fs/cgroup", name)
        os.mkdir(path)
        for knob, value in (("memory.max", limit), ("memory.swap.max", 0)):
            with open(os.path.join(path, knob), "w") as f:
                f.write(str(value))
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


def run_in(cgroup, argv, env, dev_shm_ro=False):
    """argv in the cgroup; with dev_shm_ro, in a nested mount namespace where
    /dev/shm is a read-only tmpfs (exists, cannot be written: the hook acts)."""
    script = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
    if dev_shm_ro:
        script = ('echo $$ > "$0/cgroup.procs" && exec unshare --mount --propagation private '
                  'sh -c \'mount -t tmpfs -o ro lambshm-ro /dev/shm && exec "$@"\' sh "$@"')
    r = subprocess.run(["/bin/sh", "-c", script, cgroup] + argv, env=env,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"{argv}: {r.returncode}: {r.stderr}")
    return r.stdout


def passes_gbps(out, size):
    secs = [float(line.split()[2]) for line in out.splitlines() if line.startswith("pass")]
    return [(size << 20) / s / 1e9 for s in secs]


def mount_disk(work, tmpfs_size, tmpfs_name):
    """In a private mount namespace: WORK/ext4.img (an ext4 image) on WORK/ext4,
    and a tmpfs of TMPFS_SIZE on /dev/shm.  Returns the ext4 mount point."""
    ext4 = os.path.join(work, "ext4")
    os.makedirs(ext4, exist_ok=True)
    subprocess.run(["mount", "-o", "loop", os.path.join(work, "ext4.img"), ext4], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={tmpfs_size},mode=1777", tmpfs_name,
                    "/dev/shm"], check=True)
    return ext4


def shm_envs(build, backing):
    """The environments of the three shm configurations: stock glibc, and
    lambshm preloaded with its backing directory BACKING, memfds and files."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    preload = dict(base, LAMBSHM_DIR=backing,
                   LD_PRELOAD=os.path.join(build, "preload", "liblambshm-preload.so"))
    return {"stock": base, "memfd": preload, "files": dict(preload, LAMBSHM_MEMFD="0")}


def inner(args):
    """Runs inside the private mount namespace."""
    ext4 = mount_disk(args.work, "4g", "lambshm-large")
    backing = os.path.join(ext4, "shm")
    kernel = os.path.join(args.build, "bench", "large-objects")
    shm_env = shm_envs(args.build, backing)
    base_env = shm_env["stock"]
    shm_rows, arena_rows, small = [], [], []
    for size in args.sizes:
        limit = int(size * 1.3) << 20
        for label, config in SHM_CONFIGS:
            env = shm_env[config]
            cg = cgroup_create(f"lambshm-large-{os.getpid()}-{config}-{size}", limit)
            try:
                out = run_in(cg, [kernel, "large", str(size), str(args.passes)], env)
            finally:
                cgroup_remove(cg)
            shm_rows.append((size, label, passes_gbps(out, size), ""))
            print(f"shm {size} MiB {label}: {shm_rows[-1][2]}", file=sys.stderr)
        for label, config in ARENA_CONFIGS:
            env = dict(base_env, PYTHONDONTWRITEBYTECODE="1")
            if config != "stock":
                env.update(PYTHONPATH=os.path.join(args.layer, "python", "run"), LAMBSHM_DIR=backing)
            if config == "files":
                env["LAMBSHM_MEMFD"] = "0"
            # An arena is a memfd when it is at most half of the memory
            # available (lambshm_mp_patch: CPython's own rule for /dev/shm,
            # whose default size is half of memory), so a cap of 2.5 x.
            cg = cgroup_create(f"lambshm-arena-{os.getpid()}-{config}-{size}", int(size * 2.5) << 20)
            try:
                out = run_in(cg, ["/usr/bin/python3", "-c", ARENA_KERNEL, str(size), str(args.passes)],
                             env, dev_shm_ro=config != "stock")
            finally:
                cgroup_remove(cg)
            where = next(l.split()[1] for l in out.splitlines() if l.startswith("backing"))
            where = ("memfd" if where.startswith("/memfd:") else
                     "file, tmpfs" if where.startswith("/dev/shm/") else "file, ext4")
            arena_rows.append((size, label, passes_gbps(out, size), where))
            print(f"arena {size} MiB {label} ({where}): {arena_rows[-1][2]}", file=sys.stderr)
    for label, config in SHM_CONFIGS:
        env = shm_env[config]
        runs = []
        for _ in range(3):
            cg = cgroup_create(f"lambshm-small-{os.getpid()}-{config}", 256 << 20)
            try:
                out = run_in(cg, [kernel, "small", str(args.small_count)], env)
            finally:
                cgroup_remove(cg)
            runs.append(float(out.split()[1]))
        small.append((label, statistics.median(runs)))
    subprocess.run(["umount", ext4])
    return shm_rows, arena_rows, small


def table(title, rows, with_backing, skip_first):
    lines = [title, "", "| size | configuration |" + (" arena |" if with_backing else "")
             + " rewrite GB/s (median) | per pass | vs tmpfs |",
             "|---|---|" + ("---|" if with_backing else "") + "---|---|---|"]
    base = {}
    for size, label, gbps, where in rows:
        rewrite = statistics.median(gbps[1:] if skip_first else gbps)
        base.setdefault(size, rewrite)  # the first configuration is the tmpfs one
        lines.append(f"| {size} MiB | {label} |" + (f" {where} |" if with_backing else "")
                     + f" {rewrite:.2f} | {' '.join(f'{g:.2f}' for g in gbps)} | "
                     f"{rewrite / base[size]:.2f}x |")
    return lines


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--sizes", default="256,768,1536")
    p.add_argument("--passes", type=int, default=4)
    p.add_argument("--small-count", type=int, default=2000)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--layer", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.build = os.path.abspath(args.build)
    args.sizes = [int(s) for s in str(args.sizes).split(",")]
    if args.inner:
        shm_rows, arena_rows, small = inner(args)
        lines = [f"Each object written {args.passes} times by a process in a memory cgroup "
                 "capped at 1.3 x its size (arenas: 2.5 x); GB/s (10^9 bytes) per pass, wall clock; the ratio is "
                 "to the tmpfs configuration of the same size, in the same run.", ""]
        lines += table("`shm_open` objects (pass 0 also allocates the pages; the median is of "
                       "the rewrites, passes 1 on):", shm_rows, False, True)
        lines += [""] + table("multiprocessing heap arenas (`RawArray`, allocated and zeroed "
                              "before pass 0; the median is of every pass):", arena_rows, True,
                              False)
        lines += ["", f"Small `shm_open` object's life, {args.small_count} cycles, median of 3 "
                  "runs:", "", "| configuration | us per cycle | vs lambshm files |", "|---|---|---|"]
        files = dict(small)[SHM_CONFIGS[2][0]]
        lines += [f"| {label} | {us:.1f} | {us / files:.2f}x |" for label, us in small]
        print("\n".join(lines))
        return 0
    if os.geteuid() != 0:
        print("bench/large.py: needs root (mounts in a private namespace, cgroups)",
              file=sys.stderr)
        return 77
    work = tempfile.mkdtemp(prefix="lambshm-large.", dir="/var/tmp")
    try:
        layer = os.path.join(work, "layer")
        subprocess.run([os.path.join(TOP, "packaging", "layer"), args.build, layer], check=True)
        subprocess.run(["ninja", "-C", args.build, "bench/large-objects"], check=True,
                       stdout=subprocess.DEVNULL)
        image = os.path.join(work, "ext4.img")
        with open(image, "wb") as f:
            f.truncate((max(args.sizes) * 2 + 512) << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
        subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                        os.path.abspath(__file__), args.build, "--inner", "--work", work,
                        "--layer", layer, "--sizes", ",".join(map(str, args.sizes)),
                        "--passes", str(args.passes), "--small-count", str(args.small_count)],
                       check=True)
        print(f"load average {os.getloadavg()[0]:.1f} after", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
