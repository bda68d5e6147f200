#!/usr/bin/env python3
"""Small objects and contended exclusive creates on a disk, against glibc on tmpfs.

bench/create_objects.c in P processes at once, for each configuration:
  glibc, tmpfs     stock glibc, objects on a private tmpfs /dev/shm
  lambshm, memfd   liblambshm-preload.so, backing directory on an ext4 loop
                   device (what Lambda's /tmp is): memfds held by the keeper
  lambshm, files   the same with LAMBSHM_MEMFD=0: plain files on ext4
Rows (each at --procs processes, 1, 2 and 8 by default):
  small     a small object's life: shm_open(O_CREAT|O_EXCL), ftruncate 4 KiB,
            mmap, touch, munmap, close, shm_unlink; us per cycle = wall clock /
            cycles per process
  sem       sem_open(O_CREAT|O_EXCL) + sem_close + sem_unlink; a semaphore is
            a plain file whatever LAMBSHM_MEMFD says, so lambshm runs once
  contend   P processes try shm_open(name_i, O_RDONLY|O_CREAT|O_EXCL, 0600)
            for N names in turn, sleeping 0-20 ms after each try; each name
            created exactly once (checked); the whole program's wall time,
            also at --contend-procs (500 by default: enough that the calls'
            CPU, not the sleeps, decides the time when a call costs what
            lambshm's cost in issue 27; --issue-scale: 1,000 processes x 1,000
            names, as issue 27 ran it)
with the disk idle and busy: a writer rewriting a 64 MiB file on the same
ext4 in 1 MiB writes, each followed by fsync, for as long as the rows run.

Rounds are interleaved as bench/run.py's are: each round runs every row for
every configuration, the configurations' order rotated each round, so the
machine's load drifting hits all alike; a cell is the median over rounds, its
ratio the median of the per-round ratios to glibc on tmpfs.

Needs root: it mounts, in a private mount namespace only.
Usage: bench/create.py BUILD [--rounds 3] [--only small sem contend]
       [--disks idle busy] [--issue-scale] [--write bench/RESULTS.md]
       bench/create.py BUILD --profile N    system calls per operation instead
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from large import mount_disk, shm_envs  # the same disk and configurations as bench/large.py

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = [("glibc, tmpfs /dev/shm", "stock"), ("lambshm, memfd, ext4", "memfd"),
           ("lambshm, files, ext4", "files")]
WRITER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
block = b"\xa5" * (1 << 20)
while True:
    for _ in range(64):
        os.write(fd, block)
        os.fsync(fd)
    os.lseek(fd, 0, os.SEEK_SET)
"""
BEGIN, END = "<!-- create:begin -->", "<!-- create:end -->"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def rows(args):
    """(row, procs, count, sleep_ms, configs) in table order."""
    out = []
    if "small" in args.only:
        out += [("small", p, args.count, 0, ["stock", "memfd", "files"]) for p in args.procs]
    if "sem" in args.only:
        out += [("sem", p, args.count, 0, ["stock", "memfd"]) for p in args.procs]
    if "contend" in args.only:
        procs = sorted(set(args.procs + [args.contend_procs]))
        out += [("contend", p, args.contend_names, args.contend_sleep_ms,
                 ["stock", "memfd", "files"]) for p in procs]
    return out


def run_one(args, kernel, env, row, procs, count, sleep_ms):
    argv = [kernel, row, str(procs), str(count)] + ([str(sleep_ms)] if row == "contend" else [])
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
    whole = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} ({env.get('LAMBSHM_MEMFD', '')}): "
                           f"{r.returncode}: {r.stdout} {r.stderr[-500:]}")
    fields = dict(zip(r.stdout.split()[::2], r.stdout.split()[1::2]))
    cpu = float(fields["cpu"]) / int(fields["calls"]) * 1e6  # us of CPU per call, all processes
    if row == "contend":
        return whole, cpu  # seconds, the whole program
    return float(fields["wall"]) / count * 1e6, cpu  # us per cycle, as each process sees it


PHASES = [("create", "create: O_RDWR\\|O_CREAT\\|O_EXCL + ftruncate 4 KiB + close"),
          ("open1", "open O_RDWR + close, first (creator's descriptor closed)"),
          ("open2", "open O_RDWR + close, again"),
          ("eexist", "losing create: O_RDONLY\\|O_CREAT\\|O_EXCL, EEXIST"),
          ("unlink", "shm_unlink"),
          ("life", "small object's whole life (as the small row)")]
# Calls that change names or inodes of the backing file system: on ext4 each
# is a journalled metadata operation.
NAME_OPS = ("linkat", "link", "unlinkat", "unlink", "renameat", "renameat2", "rename", "mkdirat")


def profile(args, kernel, envs, trace_dir):
    """strace -f -T of `create_objects phases N` in each configuration, for
    each disk state: system calls per operation and the time spent in them,
    the process's and the keeper's (every other traced process: the keeper,
    and the spawn of it, which the first create pays)."""
    result = {}
    for disk in args.disks:
        writer = start_writer(os.path.join(trace_dir, "ext4", "busy.dat")) if disk == "busy" else None
        try:
            if writer:
                time.sleep(1)
            for config in ("stock", "memfd", "files"):
                result[(disk, config)] = trace(args, kernel, envs[config],
                                               os.path.join(trace_dir, f"trace-{config}"))
        finally:
            if writer:
                writer.kill()
                writer.wait()
    return result


def trace(args, kernel, env, out):
    subprocess.run(["strace", "-f", "-qq", "-T", "-o", out, kernel, "phases", str(args.profile)],
                   env=env, check=True)
    main_pid, phase = None, None
    counts = {}  # (phase, who, syscall) -> [count, seconds]
    for line in open(out):
        parts = line.split(None, 1)
        if len(parts) < 2 or parts[1].startswith(("---", "+++", "<...")):
            continue
        pid, call = parts[0], parts[1].split("(", 1)[0]
        main_pid = main_pid or pid
        if pid == main_pid and call == "write" and '"phase ' in parts[1]:
            phase = parts[1].split('"phase ', 1)[1].split('"', 1)[0]
            continue
        if phase is None or phase == "end" or (pid == main_pid and "nanosleep" in call):
            continue  # (the pause between phases is not the operations')
        if call == "openat" and ("O_TMPFILE" in parts[1] or
                                 ("O_CREAT" in parts[1] and "/proc/" not in parts[1])):
            call = "openat(O_TMPFILE)" if "O_TMPFILE" in parts[1] else "openat(O_CREAT)"
        seconds = 0.0
        if parts[1].rstrip().endswith(">") and "<" in parts[1]:
            try:
                seconds = float(parts[1].rstrip()[:-1].rsplit("<", 1)[1])
            except ValueError:
                pass
        who = "process" if pid == main_pid else "keeper"
        c = counts.setdefault(f"{phase}|{who}|{call}", [0, 0.0])
        c[0] += 1
        c[1] += seconds
    return counts


def profile_table(args, result):
    n = args.profile
    lines = ["| operation | disk | configuration | system calls, process | of them: name operations "
             "on the backing file system | messages to the keeper (sent / answers read) | "
             "keeper's system calls | time in the process's system calls, us (of it: name "
             "operations) | the process's calls | the keeper's calls |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for phase, label in PHASES:
        for disk in args.disks:
            for clabel, config in CONFIGS:
                mine, theirs = {}, {}
                for key, (k, secs) in result[(disk, config)].items():
                    p, w, c = key.split("|")
                    if p == phase:
                        calls = mine if w == "process" else theirs
                        old = calls.get(c, (0, 0.0))
                        calls[c] = (old[0] + k, old[1] + secs)
                named = [c for c in mine if c in NAME_OPS or c.startswith("openat(O_")]
                names = sum(mine[c][0] for c in named)
                name_time = sum(mine[c][1] for c in named)
                total_time = sum(v[1] for v in mine.values())
                sent = sum(mine.get(c, (0, 0))[0] for c in ("sendmsg", "sendto"))
                read = sum(mine.get(c, (0, 0))[0] for c in ("recvmsg", "recvfrom"))

                def listing(calls):
                    # Calls made fewer than once in 20 operations (the keeper's
                    # start, the first call's setup) are left out.
                    return ", ".join(f"{c} {k / n:.2g}" for c, (k, _) in
                                     sorted(calls.items(), key=lambda x: (-x[1][0], x[0]))
                                     if k / n >= 0.05)
                lines.append(
                    f"| {label} | {disk} | {clabel} | {sum(v[0] for v in mine.values()) / n:.1f} | "
                    f"{names / n:.2g} | {sent / n:.2g} / {read / n:.2g} | "
                    f"{sum(v[0] for v in theirs.values()) / n:.1f} | "
                    f"{total_time / n * 1e6:.0f} ({name_time / n * 1e6:.0f}) | {listing(mine)} | "
                    f"{listing(theirs)} |")
    return "\n".join(lines)


def start_writer(path):
    return subprocess.Popen([sys.executable, "-c", WRITER, path])


def inner(args):
    """Runs inside the private mount namespace."""
    ext4 = mount_disk(args.work, "1g", "lambshm-create")
    kernel = os.path.join(args.build, "bench", "create-objects")
    envs = shm_envs(args.build, os.path.join(ext4, "shm"))
    if args.profile:
        try:
            return profile(args, kernel, envs, args.work), []
        finally:
            subprocess.run(["umount", "-l", ext4])
    values = {}  # (disk, row, procs, config) -> [value per round]
    loads = []
    plan = rows(args)
    try:
        for rnd in range(args.rounds):
            for disk in args.disks:
                writer = start_writer(os.path.join(ext4, "busy.dat")) if disk == "busy" else None
                try:
                    if writer:
                        time.sleep(1)  # let writeback get going
                    loads.append(os.getloadavg()[0])
                    for ri, (row, procs, count, sleep_ms, configs) in enumerate(plan):
                        shift = (rnd + ri) % len(configs)
                        for config in configs[shift:] + configs[:shift]:
                            v, cpu = run_one(args, kernel, envs[config], row, procs, count,
                                             sleep_ms)
                            values.setdefault((disk, row, procs, config), []).append(v)
                            values.setdefault((disk, row, procs, config + "/cpu"), []).append(cpu)
                            log(f"round {rnd + 1}/{args.rounds} {disk} {row} x{procs} {config}: "
                                f"{v:.3f} (cpu {cpu:.1f} us per call)")
                finally:
                    if writer:
                        writer.kill()
                        writer.wait()
    finally:
        subprocess.run(["umount", "-l", ext4])
    return values, loads


def table(args, values, loads):
    def med(xs):
        return statistics.median(xs) if xs else None

    lines = ["| row | procs | disk | glibc, tmpfs | lambshm memfd, ext4 | vs glibc | "
             "lambshm files, ext4 | vs glibc | CPU per call: glibc, memfd, files (us) | "
             "spread memfd / files |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    labels = {"small": "small object's life, us per cycle",
              "sem": "sem_open(O_CREAT\\|O_EXCL)+sem_close+sem_unlink, us per cycle",
              "contend": f"contended exclusive create, {args.contend_names} names, "
                         "whole program, s"}
    for row, procs, _, _, configs in rows(args):
        for disk in args.disks:
            base = values.get((disk, row, procs, "stock"))
            cells = [labels[row], str(procs), disk, f"{med(base):.2f}" if base else "n/a"]
            spread = []
            for config in ("memfd", "files"):
                v = values.get((disk, row, procs, config))
                if not v or not base:
                    cells += ["n/a" if config in configs else "(a file, as memfd)", ""]
                    continue
                ratio = med([x / y for x, y in zip(v, base)])
                cells += [f"{med(v):.2f}", f"{ratio:.2f}x"]
                if len(v) > 1:
                    spread.append(f"{(max(v) - min(v)) / med(v):.2f}")
            cpu = [values.get((disk, row, procs, c + "/cpu")) for c in ("stock", "memfd", "files")]
            cpu_cells = [f"{med(cpu[0]):.1f}" if cpu[0] else "-"]
            for c in cpu[1:]:
                cpu_cells.append(f"{med(c):.1f} ({med([x / y for x, y in zip(c, cpu[0])]):.2f}x)"
                                 if c and cpu[0] else "-")
            cells.append(", ".join(cpu_cells))
            cells.append(" / ".join(spread))
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Wall clock: small and sem rows in us per cycle as each process sees it "
              "(from the release of all processes until the last is done, / cycles per "
              "process); contend rows in seconds for the whole program (fork, keeper start, "
              "exit and the check included).  CPU per call: the processes' user + system "
              "time / calls (the keeper's own is not counted).  Ratios: the median of the "
              "per-round ratios to glibc on tmpfs.  Spread: (max - min) / median of the wall "
              "times over rounds.", "", f"Load average (1 min) at the start of each round and disk state: "
              f"{', '.join(f'{l:.1f}' for l in loads)}."]
    return "\n".join(lines)


def write_results(path, report, command, machine):
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    body = f"\nCommand: `{command}`\n\n{machine}\n\n{report}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + BEGIN + "\n" + body + END + tail
    else:
        text += f"\n{BEGIN}\n{body}{END}\n"
    open(path, "w").write(text)


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), "unknown CPU")
    return (f"Machine: {model}, {os.cpu_count()} CPUs; Linux {os.uname().release}; "
            f"ext4 on a loop device over {subprocess.run(['df', '--output=fstype', '/var/tmp'], capture_output=True, text=True).stdout.split()[-1]}; "
            f"load average before {os.getloadavg()[0]:.1f}.")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("build")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", nargs="*", default=["small", "sem", "contend"],
                   choices=["small", "sem", "contend"])
    p.add_argument("--disks", nargs="*", default=["idle", "busy"], choices=["idle", "busy"])
    p.add_argument("--procs", default="1,2,8")
    p.add_argument("--count", type=int, default=1000, help="cycles per process")
    p.add_argument("--contend-procs", type=int, default=500)
    p.add_argument("--contend-names", type=int, default=200)
    p.add_argument("--contend-sleep-ms", type=int, default=20)
    p.add_argument("--issue-scale", action="store_true",
                   help="the contended row at 1,000 processes x 1,000 names")
    p.add_argument("--profile", type=int, metavar="N",
                   help="instead of timing: strace -f system call counts per operation, "
                        "N operations each")
    p.add_argument("--write", help="record the table in this file between its markers")
    p.add_argument("--command", help=argparse.SUPPRESS)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args, rest = p.parse_known_args()
    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    args.build = os.path.abspath(args.build)
    args.procs = [int(x) for x in args.procs.split(",")]
    if args.issue_scale:
        args.contend_procs, args.contend_names = 1000, 1000
    if args.inner:
        values, loads = inner(args)
        import json
        if args.profile:
            print(json.dumps({"profile": [[list(k), v] for k, v in values.items()]}))
            return 0
        print(json.dumps({"values": [[list(k), v] for k, v in values.items()], "loads": loads}))
        return 0
    if os.geteuid() != 0:
        log("bench/create.py: needs root (mounts in a private namespace)")
        return 77
    if args.profile and shutil.which("strace") is None:
        log("bench/create.py: --profile needs strace")
        return 77
    command = args.command or "bench/create.py " + " ".join(sys.argv[1:])
    about = machine()
    work = tempfile.mkdtemp(prefix="lambshm-create.", dir="/var/tmp")
    try:
        subprocess.run(["ninja", "-C", args.build, "bench/create-objects", "preload/liblambshm-preload.so",
                        "keeper/lambshm-keeper"], check=True, stdout=subprocess.DEVNULL)
        image = os.path.join(work, "ext4.img")
        with open(image, "wb") as f:
            f.truncate(1 << 30)
        subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
        argv = [a for a in sys.argv[1:] if not a.startswith("--write") and a != args.write]
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                            os.path.abspath(__file__)] + argv + ["--inner", "--work", work],
                           check=True, stdout=subprocess.PIPE, text=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import json
    data = json.loads(r.stdout.strip().splitlines()[-1])
    if args.profile:
        result = {tuple(k): v for k, v in data["profile"]}
        print(f"System calls per operation, {args.profile} operations each (strace -f -T; "
              f"times inflated by tracing; load average {os.getloadavg()[0]:.1f}):\n")
        print(profile_table(args, result))
        return 0
    values = {tuple(k): v for k, v in data["values"]}
    report = table(args, values, data["loads"])
    about += f" Load average after {os.getloadavg()[0]:.1f}."
    print(about + "\n\n" + report)
    if args.write:
        write_results(args.write, report, command, about)
    return 0


if __name__ == "__main__":
    sys.exit(main())
