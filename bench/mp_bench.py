#!/usr/bin/env python3
"""CPython multiprocessing throughput, stock glibc against lambshm.

Run inside tests/harness/lambda-sandbox --dev-shm --opt LAYER (the bullseye userland,
CPython 3.9, glibc 2.31): "stock" runs without LD_LIBRARY_PATH, so glibc
2.31's own librt and libpthread work on the tmpfs /dev/shm; "lambshm" keeps
LD_LIBRARY_PATH=/opt/lib/overlay, so lambshm's libraries serve every semaphore, in
its default backing directory /tmp/shm (disk-backed, as on Lambda).  Each
measurement is a fresh interpreter; the two alternate, in a rotated order.
Prints one JSON line per measurement: {"impl", "name", "ns"} (ns per item).

  mp_bench.py [--rounds R]      the driver
  mp_bench.py --one KERNEL      one measurement, in this interpreter
"""
import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

QUEUE_ITEMS = 20000
POOL_ITEMS = 4000


def producer(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)


def mp_queue():
    """Items a child process puts and this one gets, through one Queue."""
    q = mp.Queue()
    p = mp.Process(target=producer, args=(q, QUEUE_ITEMS))
    p.start()
    q.get()  # the child is running: start the clock
    start = time.perf_counter()
    count = 0
    while q.get() is not None:
        count += 1
    elapsed = time.perf_counter() - start
    p.join()
    return elapsed / count


def mp_pool():
    """Pool.map of a trivial function, one item per task: the IPC, not the work."""
    with mp.Pool(2) as pool:
        pool.map(abs, range(200), chunksize=1)  # workers started and warm
        start = time.perf_counter()
        pool.map(abs, range(POOL_ITEMS), chunksize=1)
        elapsed = time.perf_counter() - start
    return elapsed / POOL_ITEMS


KERNELS = {"mp_queue": mp_queue, "mp_pool": mp_pool}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", choices=KERNELS)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.one:
        print(KERNELS[args.one]() * 1e9)
        return 0
    lib = os.environ.get("LD_LIBRARY_PATH", "")
    if not lib:
        print("mp_bench: no LD_LIBRARY_PATH: run it with --opt LAYER", file=sys.stderr)
        return 2
    envs = {"stock": {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"},
            "lambshm": dict(os.environ)}
    # Each side must run on the libpthread it claims to: lambshm's from the
    # layer, stock glibc's otherwise.
    for impl, env in envs.items():
        maps = subprocess.run([sys.executable, "-c", "print(open('/proc/self/maps').read())"],
                              env=env, capture_output=True, text=True).stdout
        ours = "/opt/lib/overlay/libpthread.so.0" in maps
        if ours != (impl == "lambshm"):
            print(f"mp_bench: the {impl} interpreter does not run on "
                  f"{'lambshm' if impl == 'lambshm' else 'stock'} libpthread", file=sys.stderr)
            return 2
    impls = list(envs)
    for rnd in range(args.rounds):
        for i, name in enumerate(KERNELS):
            shift = (rnd + i) % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                p = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name],
                                   env=envs[impl], capture_output=True, text=True, timeout=300)
                if p.returncode != 0:
                    print(f"mp_bench: {impl} {name} failed: {p.stderr[-500:]}", file=sys.stderr)
                    return 1
                print(json.dumps({"impl": impl, "name": name, "ns": float(p.stdout)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
