"""Everything in CPython's multiprocessing that needs shared memory or named
semaphores, with exact expected results, under one start method.

  python3 mp_workload.py fork|spawn|forkserver|default [BACKING_DIR]
  python3 mp_workload.py leak METHOD
  python3 mp_workload.py hook [memfd|DIRECTORY]

Prints one line per feature ("ok <feature>: <detail>") and exits 0 when all
pass; on the first failure prints "FAIL <feature>: <exception>" and exits 1.
With BACKING_DIR, finally checks that nothing is left in it.  "default" is
the platform's default start method (forkserver from 3.14 on Linux, fork
before).  "leak" creates shared memory in this process and in a child and
never unlinks it: the resource tracker must remove it at exit (the caller
checks the backing directory).  "hook" checks Value/Array across every
start method, and what multiprocessing.heap keeps them in.  Runs unchanged on Python 3.7 and later (bullseye has
3.9, the host 3.11, trixie 3.13, sid 3.14).
"""
import concurrent.futures
import multiprocessing as mp
import multiprocessing.pool
import os
import sys
import time
import traceback
from multiprocessing import shared_memory


def square(x):
    return x * x


def queue_producer(q, start, count):
    for i in range(start, start + count):
        q.put(i)


def joinable_consumer(q, results):
    while True:
        item = q.get()
        if item is None:
            q.task_done()
            return
        results.put(item * 10)
        q.task_done()


def add_under_lock(lock, counter, n):
    for _ in range(n):
        with lock:
            counter.value += 1


def rlock_twice(rlock, counter, n):
    for _ in range(n):
        with rlock:
            with rlock:
                counter.value += 1


def bounded_worker(sem, running, peak, lock):
    with sem:
        with lock:
            running.value += 1
            peak.value = max(peak.value, running.value)
        time.sleep(0.01)
        with lock:
            running.value -= 1


def condition_waiter(cond, state, out):
    with cond:
        cond.wait_for(lambda: state.value == 1, timeout=30)
        out.put(state.value)


def event_waiter(event, out):
    out.put(event.wait(timeout=30))


def barrier_party(barrier, out):
    out.put(barrier.wait(timeout=30))


def array_filler(arr, index):
    arr[index] = index * index


def shm_attach_and_write(name, size):
    seg = shared_memory.SharedMemory(name=name)
    try:
        seg.buf[:size] = bytes((i * 7) % 256 for i in range(size))
    finally:
        seg.close()


def shareable_list_double(name):
    sl = shared_memory.ShareableList(name=name)
    try:
        for i in range(len(sl)):
            sl[i] = sl[i] * 2
    finally:
        sl.shm.close()


def manager_worker(d, lst, key):
    d[key] = key * 3
    lst.append(key)


def run_processes(ctx, target, args_list):
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        if p.exitcode != 0:
            raise RuntimeError(f"{target.__name__} exited with {p.exitcode}")


def check(ctx):
    checks = []

    def feature(name):
        def register(fn):
            checks.append((name, fn))
            return fn
        return register

    @feature("Queue")
    def _():
        q = ctx.Queue()
        run_processes(ctx, queue_producer, [(q, 0, 50), (q, 50, 50)])
        got = sorted(q.get(timeout=30) for _ in range(100))
        assert got == list(range(100)), got
        return "100 items from 2 processes"

    @feature("SimpleQueue")
    def _():
        q = ctx.SimpleQueue()
        run_processes(ctx, queue_producer, [(q, 0, 20)])
        got = [q.get() for _ in range(20)]
        assert got == list(range(20)), got
        return "20 items in order"

    @feature("JoinableQueue")
    def _():
        q, results = ctx.JoinableQueue(), ctx.Queue()
        procs = [ctx.Process(target=joinable_consumer, args=(q, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for i in range(30):
            q.put(i)
        for _ in procs:
            q.put(None)
        q.join()
        for p in procs:
            p.join(60)
        got = sorted(results.get(timeout=30) for _ in range(30))
        assert got == [i * 10 for i in range(30)], got
        return "30 tasks joined"

    @feature("Pool")
    def _():
        with ctx.Pool(3) as pool:
            mapped = pool.map(square, range(40))
            unordered = sorted(pool.imap_unordered(square, range(40), chunksize=3))
            asyncs = [pool.apply_async(square, (i,)) for i in range(10)]
            applied = [a.get(timeout=60) for a in asyncs]
        expected = [i * i for i in range(40)]
        assert mapped == expected and unordered == expected, (mapped, unordered)
        assert applied == expected[:10], applied
        return "map, imap_unordered, apply_async"

    @feature("ThreadPool")
    def _():
        with multiprocessing.pool.ThreadPool(4) as pool:
            got = pool.map(square, range(25))
        assert got == [i * i for i in range(25)], got
        return "25 squares"

    @feature("Lock")
    def _():
        lock, counter = ctx.Lock(), ctx.Value("i", 0, lock=False)
        run_processes(ctx, add_under_lock, [(lock, counter, 500)] * 4)
        assert counter.value == 2000, counter.value
        return "4 processes x 500 increments"

    @feature("RLock")
    def _():
        rlock, counter = ctx.RLock(), ctx.Value("i", 0, lock=False)
        run_processes(ctx, rlock_twice, [(rlock, counter, 200)] * 3)
        assert counter.value == 600, counter.value
        return "re-entered 600 times"

    @feature("Semaphore")
    def _():
        sem, lock = ctx.Semaphore(2), ctx.Lock()
        running, peak = ctx.Value("i", 0, lock=False), ctx.Value("i", 0, lock=False)
        run_processes(ctx, bounded_worker, [(sem, running, peak, lock)] * 6)
        assert 1 <= peak.value <= 2 and running.value == 0, (peak.value, running.value)
        return f"peak {peak.value} of 2"

    @feature("BoundedSemaphore")
    def _():
        sem = ctx.BoundedSemaphore(1)
        sem.acquire()
        sem.release()
        try:
            sem.release()
        except ValueError:
            return "over-release refused"
        raise AssertionError("release past the bound succeeded")

    @feature("Condition")
    def _():
        cond, state, out = ctx.Condition(), ctx.Value("i", 0, lock=False), ctx.Queue()
        procs = [ctx.Process(target=condition_waiter, args=(cond, state, out)) for _ in range(3)]
        for p in procs:
            p.start()
        time.sleep(0.1)
        with cond:
            state.value = 1
            cond.notify_all()
        got = [out.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(60)
        assert got == [1, 1, 1], got
        return "3 waiters notified"

    @feature("Event")
    def _():
        event, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=event_waiter, args=(event, out)) for _ in range(3)]
        for p in procs:
            p.start()
        event.set()
        got = [out.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(60)
        assert got == [True] * 3, got
        return "3 waiters woken"

    @feature("Barrier")
    def _():
        barrier, out = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=barrier_party, args=(barrier, out)) for _ in range(3)]
        for p in procs:
            p.start()
        mine = barrier.wait(timeout=30)
        got = sorted([out.get(timeout=30) for _ in procs] + [mine])
        for p in procs:
            p.join(60)
        assert got == [0, 1, 2, 3], got
        return "4 parties"

    @feature("Value and Array")
    def _():
        value, arr = ctx.Value("d", 1.5), ctx.Array("i", 8)
        run_processes(ctx, array_filler, [(arr, i) for i in range(8)])
        with value.get_lock():
            value.value *= 2
        assert list(arr) == [i * i for i in range(8)] and value.value == 3.0
        return "8 cells from 8 processes"

    @feature("SharedMemory")
    def _():
        seg = shared_memory.SharedMemory(create=True, size=4096)
        try:
            run_processes(ctx, shm_attach_and_write, [(seg.name, 4096)])
            assert bytes(seg.buf[:4096]) == bytes((i * 7) % 256 for i in range(4096))
        finally:
            seg.close()
            seg.unlink()
        return "4 KiB written by another process"

    @feature("ShareableList")
    def _():
        sl = shared_memory.ShareableList([1, 2, 3, 4])
        try:
            run_processes(ctx, shareable_list_double, [(sl.shm.name,)])
            assert list(sl) == [2, 4, 6, 8], list(sl)
        finally:
            sl.shm.close()
            sl.shm.unlink()
        return "attached by name, doubled"

    @feature("Manager")
    def _():
        with ctx.Manager() as manager:
            d, lst = manager.dict(), manager.list()
            run_processes(ctx, manager_worker, [(d, lst, k) for k in range(5)])
            assert dict(d) == {k: k * 3 for k in range(5)} and sorted(lst) == list(range(5))
            lock = manager.Lock()
            with lock:
                pass
        return "dict, list, Lock"

    @feature("ProcessPoolExecutor")
    def _():
        kwargs = {"mp_context": ctx} if sys.version_info >= (3, 7) else {}
        with concurrent.futures.ProcessPoolExecutor(max_workers=3, **kwargs) as ex:
            got = list(ex.map(square, range(30)))
        assert got == [i * i for i in range(30)], got
        return "30 squares"

    for name, fn in checks:
        try:
            detail = fn()
        except Exception as e:  # report the first failure exactly as users see it
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
            return 1
        print(f"ok {name}: {detail}", flush=True)
    return 0


def leak_one(size):
    shared_memory.SharedMemory(create=True, size=size).close()


def leak(method):
    ctx = mp.get_context(method)
    leak_one(1024)
    run_processes(ctx, leak_one, [(2048,)])
    print(f"ok leak: 2 SharedMemory segments left to the resource tracker ({method})", flush=True)
    return 0


def bump(v, a):
    with v.get_lock():
        v.value += 1
        a[0] += 1


def arena_kinds(heap):
    """What backs each of this process's arenas: memfd, or a deleted file."""
    kinds = set()
    for arena in heap.BufferWrapper._heap._arenas:
        target = os.readlink(f"/proc/self/fd/{arena.fd}")
        kinds.add("memfd" if target.startswith("/memfd:pym-") else target.rsplit("/", 1)[0])
    return sorted(kinds)


def hook(expected_kind):
    import multiprocessing.heap as heap
    candidates = heap.Arena._dir_candidates
    for method in mp.get_all_start_methods():
        ctx = mp.get_context(method)
        v, a = ctx.Value("i", 5), ctx.Array("d", 4)
        a[3] = 2.5
        run_processes(ctx, bump, [(v, a), (v, a)])
        if v.value != 7 or list(a) != [2.0, 0.0, 0.0, 2.5]:
            print(f"FAIL hook ({method}): {v.value} {list(a)}")
            return 1
    kinds = arena_kinds(heap)
    if candidates != ["/tmp/shm"] or kinds != [expected_kind]:
        print(f"FAIL hook: arenas in {kinds}, directory candidates {candidates}")
        return 1
    print(f"ok hook: Value and Array shared under {', '.join(mp.get_all_start_methods())}, "
          f"arenas in {kinds}, directory {candidates}")
    return 0


def objects_in(directory):
    """The objects a backing directory names: its files but the marker
    (core/ownership.h) and the name tables, and the live names of this user's
    table (core/name_table.h: its last 16,384 slots of 128 bytes, state 1 =
    live, the name at byte 48), where a memfd object's short name lives."""
    if not os.path.isdir(directory):
        return []
    left = [e for e in os.listdir(directory)
            if e != ".lambshm-dir" and not e.startswith(".lambshm-names.")]
    try:
        with open(os.path.join(directory, f".lambshm-names.5.{os.geteuid()}"), "rb") as f:
            table = f.read()
    except OSError:
        table = b""
    for off in range(max(0, len(table) - 16384 * 128), len(table) - 127, 128):
        if table[off:off + 4] == b"\x01\0\0\0":
            left.append(os.fsdecode(table[off + 48:off + 128].split(b"\0", 1)[0]) + " (named)")
    return sorted(left)


def main():
    method = sys.argv[1]
    if method == "leak":
        return leak(sys.argv[2])
    if method == "hook":  # [KIND]: memfd (default) or the directory of the arena's file
        return hook(sys.argv[2] if len(sys.argv) > 2 else "memfd")
    if method == "default":
        ctx = mp.get_context()
        expected = "forkserver" if sys.version_info >= (3, 14) else "fork"
        if ctx.get_start_method() != expected:
            print(f"FAIL default start method: {ctx.get_start_method()}, not {expected}")
            return 1
        print(f"ok default start method: {expected}", flush=True)
    else:
        ctx = mp.get_context(method)
    rc = check(ctx)
    if rc == 0 and len(sys.argv) > 2:
        # Children and the resource tracker may still be unlinking: allow a moment.
        directory = sys.argv[2]
        for _ in range(50):
            left = objects_in(directory)
            if not left:
                break
            time.sleep(0.1)
        if left:
            print(f"FAIL cleanup: left in {directory}: {left}")
            return 1
        print(f"ok cleanup: {directory} is empty")
    return rc


if __name__ == "__main__":
    sys.exit(main())
