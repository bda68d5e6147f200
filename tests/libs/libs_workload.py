"""The libraries users parallelize with, on shared memory and named
semaphores, with exact results and proof that the work ran in parallel.

  python3 libs_workload.py CASE        every start method CASE supports
  python3 libs_workload.py CASE METHOD one start method, in this interpreter

CASE is joblib-loky, joblib-mp, sklearn, torch-dataloader, torch-sharing,
numpy-shm, tqdm or ppe.  Each start method runs in a fresh interpreter (the
libraries read their start method once), which prints "ok CASE METHOD: ..."
or "FAIL CASE METHOD: <the first error line a user sees>" and exits 0 or 1.
Under a user-mode emulator (LAMBSHM_TEST_EMULATOR names it), workers get
longer to start, and libs_test.py skips the cases in EMULATOR_CANNOT.
A warning that the library fell back to running serially or in threads, or
that a shared-memory call failed, is a failure even when the results are
right: that is how these libraries hide the problem.

Parallelism is proven, not assumed: each task records its PID in a
rendezvous directory, must not run in the parent process (serial and
threading fallbacks do), and waits until two distinct worker PIDs have
checked in, so the run cannot pass unless two workers overlap.
Runs on Python 3.9 (bullseye) to 3.14.
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

FALLBACK = re.compile(r"serial mode|falling back to threading|not available on your system|"
                      r"Function not implemented|\[Errno 38\]")
# Seconds a worker may take to start and check in.  Under qemu-user a child
# that imports PyTorch 2 (spawn, forkserver) takes minutes, with a real
# /dev/shm too.
RENDEZVOUS_TIMEOUT = 600 if os.environ.get("LAMBSHM_TEST_EMULATOR") else 120


def rendezvous(directory, parent):
    """Checks in this worker; returns its PID once two workers have."""
    pid = os.getpid()
    if pid == parent:
        raise RuntimeError("task ran in the parent process (serial or threading fallback)")
    open(os.path.join(directory, str(pid)), "w").close()
    deadline = time.monotonic() + RENDEZVOUS_TIMEOUT
    while len(os.listdir(directory)) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError("only one worker process ever ran")
        time.sleep(0.005)
    return pid


def square_task(i, directory, parent):
    return i * i, rendezvous(directory, parent)


def check_pids(pids, parent):
    pids = set(pids)
    assert parent not in pids and len(pids) >= 2, f"worker PIDs {sorted(pids)}, parent {parent}"
    return len(pids)


# --- joblib ---------------------------------------------------------------

def joblib_run(backend, directory):
    import joblib
    parent = os.getpid()
    with joblib.parallel_backend(backend, n_jobs=2):
        got = joblib.Parallel()(joblib.delayed(square_task)(i, directory, parent) for i in range(24))
    assert [r for r, _ in got] == [i * i for i in range(24)], got
    return f"24 squares, {check_pids([p for _, p in got], parent)} worker PIDs"


def case_joblib_loky(method, directory):
    from joblib.externals.loky.backend.context import set_start_method
    set_start_method(method)
    return joblib_run("loky", directory)


def case_joblib_mp(method, directory):
    # JOBLIB_START_METHOD is set by the caller: joblib reads it at import.
    return joblib_run("multiprocessing", directory)


# --- scikit-learn ----------------------------------------------------------

class RendezvousScorer:
    """Accuracy, scored in a worker after that worker checked in."""

    def __init__(self, directory, parent, record):
        self.directory, self.parent, self.record = directory, parent, record

    def __call__(self, estimator, X, y):
        if self.record:
            rendezvous(self.directory, self.parent)
        return float((estimator.predict(X) == y).mean())


def case_sklearn(method, directory):
    from joblib.externals.loky.backend.context import set_start_method
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    set_start_method(method)
    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.01, 0.1, 1.0, 10.0]}

    def search(n_jobs, record):
        est = GridSearchCV(LogisticRegression(max_iter=1000), grid, cv=4, n_jobs=n_jobs,
                           scoring=RendezvousScorer(directory, os.getpid(), record))
        est.fit(X, y)
        return est

    serial, parallel = search(None, False), search(2, True)
    a = serial.cv_results_["mean_test_score"]
    b = parallel.cv_results_["mean_test_score"]
    assert np.array_equal(a, b) and serial.best_params_ == parallel.best_params_, (a, b)
    pids = [int(n) for n in os.listdir(directory)]
    return (f"GridSearchCV(n_jobs=2): 16 fits equal to n_jobs=1, best {parallel.best_params_}, "
            f"{check_pids(pids, os.getpid())} worker PIDs")


# --- PyTorch -----------------------------------------------------------------

class RangeDataset:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import torch
        # A tensor large enough to travel through shared memory, not a pickle.
        return torch.full((256,), float(i), dtype=torch.float64), os.getpid()


def case_torch_dataloader(method, directory):
    from torch.utils.data import DataLoader
    # Any object with __len__ and __getitem__ is a map-style dataset.
    loader = DataLoader(RangeDataset(64), batch_size=8, num_workers=2,
                        multiprocessing_context=mp_method(method))
    sums, pids = [], set()
    for batch, batch_pids in loader:
        sums.append(batch.sum().item())
        pids.update(int(p) for p in batch_pids)
    expected = [256.0 * sum(range(8 * k, 8 * k + 8)) for k in range(8)]
    assert sums == expected, (sums, expected)
    return f"8 batches, exact sums, {check_pids(pids, os.getpid())} worker PIDs"


def torch_child(q_in, q_out, received):
    t, r = q_in.get()
    t.mul_(2)  # in place: the parent must see it through shared memory
    import torch
    q_out.put((os.getpid(), torch.arange(1000, dtype=torch.int64) * 3, r.sum().item()))
    # A sender must outlive the receiver's rebuilding of what it sent (torch's
    # file_descriptor strategy passes the fd through the sender's process).
    received.wait(RENDEZVOUS_TIMEOUT)


def case_torch_sharing(method, directory):
    import torch
    import torch.multiprocessing as tmp
    out = []
    for strategy in ("file_descriptor", "file_system"):
        tmp.set_sharing_strategy(strategy)
        ctx = tmp.get_context(mp_method(method))
        q_in, q_out, received = ctx.Queue(), ctx.Queue(), ctx.Event()
        shared = torch.arange(4096, dtype=torch.int64).share_memory_()
        procs = [ctx.Process(target=torch_child, args=(q_in, q_out, received)) for _ in range(2)]
        for p in procs:
            p.start()
        for half in (shared[:2048], shared[2048:]):
            q_in.put((half, torch.ones(500, dtype=torch.int64)))
        got = [q_out.get(timeout=RENDEZVOUS_TIMEOUT) for _ in procs]
        received.set()
        for p in procs:
            p.join(RENDEZVOUS_TIMEOUT)
            assert p.exitcode == 0, f"child exited with {p.exitcode}"
        assert torch.equal(shared, torch.arange(4096, dtype=torch.int64) * 2), "parent did not see the writes"
        for _, t, s in got:
            assert torch.equal(t, torch.arange(1000, dtype=torch.int64) * 3) and s == 500
        check_pids([pid for pid, _, _ in got], os.getpid())
        out.append(strategy)
    return "tensors shared both ways under " + " and ".join(out) + ", 2 child PIDs"


# --- numpy on SharedMemory ------------------------------------------------------

def numpy_fill(name, index, directory, parent):
    import numpy as np
    from multiprocessing import shared_memory
    pid = rendezvous(directory, parent)
    seg = shared_memory.SharedMemory(name=name)
    try:
        a = np.ndarray((8, 1000), dtype=np.int64, buffer=seg.buf)
        a[index] = np.arange(1000, dtype=np.int64) * (index + 1)
        del a
    finally:
        seg.close()
    return pid


def case_numpy_shm(method, directory):
    import multiprocessing as mp
    import numpy as np
    from multiprocessing import shared_memory
    seg = shared_memory.SharedMemory(create=True, size=8 * 1000 * 8)
    try:
        with mp.get_context(mp_method(method)).Pool(2) as pool:
            pids = pool.starmap(numpy_fill, [(seg.name, i, directory, os.getpid()) for i in range(8)])
        a = np.ndarray((8, 1000), dtype=np.int64, buffer=seg.buf)
        expected = np.arange(1000, dtype=np.int64)[None, :] * np.arange(1, 9)[:, None]
        ok = np.array_equal(a, expected)
        del a
        assert ok, "array contents differ"
    finally:
        seg.close()
        seg.unlink()
    return f"8x1000 int64 filled by a Pool, {check_pids(pids, os.getpid())} worker PIDs"


# --- tqdm ---------------------------------------------------------------------------

def tqdm_task(i, directory, parent):
    from tqdm import tqdm
    pid = rendezvous(directory, parent)
    lock = tqdm.get_lock()
    with lock:  # the lock process_map hands every worker
        kinds = sorted(type(l).__module__ + "." + type(l).__name__ for l in lock.locks)
    return i * i, pid, kinds


def case_tqdm(method, directory):
    import functools
    import multiprocessing as mp
    if mp_method(method):
        mp.set_start_method(method)
    from tqdm import tqdm
    from tqdm.contrib.concurrent import process_map
    from tqdm.std import TqdmDefaultWriteLock
    lock = tqdm.get_lock()  # module-level: the first use creates a multiprocessing RLock
    mp_lock = getattr(TqdmDefaultWriteLock, "mp_lock", None)
    assert mp_lock is not None, "tqdm could not create its multiprocessing lock (mp_lock is None)"
    with open(os.devnull, "w") as null:
        got = process_map(functools.partial(tqdm_task, directory=directory, parent=os.getpid()),
                          range(16), max_workers=2, chunksize=1, file=null)
    assert [r for r, _, _ in got] == [i * i for i in range(16)], got
    kinds = got[0][2]
    assert any(k.startswith("multiprocessing.synchronize.") for k in kinds), kinds
    del lock
    return (f"process_map over tqdm's {type(mp_lock).__name__}, 16 squares, "
            f"{check_pids([p for _, p, _ in got], os.getpid())} worker PIDs")


# --- concurrent.futures ----------------------------------------------------------------

def case_ppe(method, directory):
    import concurrent.futures
    import multiprocessing as mp
    parent = os.getpid()
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=mp.get_context(mp_method(method))) as ex:
        got = list(ex.map(square_task, range(30), [directory] * 30, [parent] * 30))
    assert [r for r, _ in got] == [i * i for i in range(30)], got
    return f"30 squares, {check_pids([p for _, p in got], parent)} worker PIDs"


# "default" is multiprocessing's own choice: forkserver from 3.14 (fork before,
# so it would only repeat fork).
MP_METHODS = ["fork", "spawn", "forkserver"] + (["default"] if sys.version_info >= (3, 14) else [])


def mp_method(method):
    return None if method == "default" else method


# Cases a user-mode emulator cannot run, and why (libs_test.py skips them
# there).  qemu-user 7.2 leaves its own lock taken in a child forked while
# another thread of the process starts or exits, and the child hangs before
# it runs a line of Python or reaches exec.  torch-sharing starts children
# (fork, and the fork-and-exec of spawn and forkserver) while PyTorch's and
# the queues' threads come and go: on arm64 it hung under fork everywhere
# and under spawn on trixie and sid, the same with stock glibc and a real
# /dev/shm.
EMULATOR_CANNOT = {
    "torch-sharing": "can hang a child forked while another thread starts or exits, before "
                     "exec too (the same hang with stock glibc and a real /dev/shm)",
}

CASES = {
    "joblib-loky": (case_joblib_loky, ["loky", "spawn", "fork", "forkserver"]),
    "joblib-mp": (case_joblib_mp, MP_METHODS),
    "sklearn": (case_sklearn, ["loky", "spawn", "forkserver"]),
    "torch-dataloader": (case_torch_dataloader, MP_METHODS),
    "torch-sharing": (case_torch_sharing, MP_METHODS),
    "numpy-shm": (case_numpy_shm, MP_METHODS),
    "tqdm": (case_tqdm, MP_METHODS),
    "ppe": (case_ppe, MP_METHODS),
}


def one(case, method):
    fn, _ = CASES[case]
    label = f"{case} {method}"
    with tempfile.TemporaryDirectory() as directory, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            detail = fn(method, directory)
            error = None
        except BaseException as e:
            error = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
            trace = traceback.format_exc()
    fallbacks = [f"{w.category.__name__}: {w.message}" for w in caught if FALLBACK.search(str(w.message))]
    for w in caught:
        print(f"# warning: {w.category.__name__}: {w.message}", flush=True)
    if fallbacks or error:
        # What a user sees first: the fallback warning, else the exception.
        print(f"FAIL {label}: {(fallbacks + [error])[0]}", flush=True)
        if error:
            print(trace, file=sys.stderr)
        return 1
    print(f"ok {label}: {detail}", flush=True)
    return 0


def main():
    case = sys.argv[1]
    if len(sys.argv) > 2:
        return one(case, sys.argv[2])
    rc = 0
    for method in CASES[case][1]:
        env = dict(os.environ)
        if case == "joblib-mp" and mp_method(method):
            env["JOBLIB_START_METHOD"] = method
        start = time.monotonic()
        r = subprocess.run([sys.executable, os.path.abspath(__file__), case, method], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = r.stdout
        # Warnings printed by workers (stderr) count as much as the parent's.
        fallback = next((l for l in out.splitlines() if FALLBACK.search(l)
                         and not l.startswith("FAIL")), None)
        status = next((l for l in out.splitlines() if l.startswith(("ok ", "FAIL "))), None)
        if r.returncode == 0 and status and status.startswith("ok ") and not fallback:
            print(f"{status} [{time.monotonic() - start:.2f}s]", flush=True)
            continue
        rc = 1
        if status is None or status.startswith("ok "):
            first = fallback or next((l for l in reversed(out.splitlines()) if l.strip()), "no output")
            status = f"FAIL {case} {method}: {first.strip()} (exit {r.returncode})"
        print(status, flush=True)
        for line in out.splitlines()[-30:]:
            print(f"#   {line}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
