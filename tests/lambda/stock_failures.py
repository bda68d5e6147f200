"""Tries each multiprocessing feature users report failing on Lambda and prints
one line per feature: "<feature>: ok" or "<feature>: <ExceptionType>: <message>"."""
import concurrent.futures
import multiprocessing as mp
import multiprocessing.pool
from multiprocessing import shared_memory


def square(x):
    return x * x


def attempt(name, fn):
    try:
        fn()
        print(f"{name}: ok", flush=True)
    except Exception as e:
        print(f"{name}: {type(e).__name__}: {e}", flush=True)


def pool():
    with mp.Pool(2) as p:
        p.map(square, range(4))


def thread_pool():
    with multiprocessing.pool.ThreadPool(2) as p:
        p.map(square, range(4))


def shm():
    s = shared_memory.SharedMemory(create=True, size=64)
    s.close()
    s.unlink()


def executor():
    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        list(ex.map(square, range(4)))


if __name__ == "__main__":
    attempt("Queue", mp.Queue)
    attempt("Pool", pool)
    attempt("Lock", mp.Lock)
    attempt("ThreadPool", thread_pool)
    attempt("SharedMemory", shm)
    attempt("ProcessPoolExecutor", executor)
    attempt("Value", lambda: mp.Value("i", 1))
