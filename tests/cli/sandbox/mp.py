# multiprocessing end to end: Queue and Lock (named semaphores), Value (the
# heap arena: needs the hook where /dev/shm is missing), shared_memory (shm_open).
import multiprocessing as mp
from multiprocessing import shared_memory


def work(q, v, lock):
    with lock:
        v.value += 1
    q.put(21)


if __name__ == "__main__":
    q, v, lock = mp.Queue(), mp.Value("i", 0), mp.Lock()
    procs = [mp.Process(target=work, args=(q, v, lock)) for _ in range(2)]
    for p in procs:
        p.start()
    total = q.get(timeout=60) + q.get(timeout=60)
    for p in procs:
        p.join(60)
    shm = shared_memory.SharedMemory(create=True, size=64)
    shm.buf[0] = 7
    seen = shm.buf[0]
    shm.close()
    shm.unlink()
    print(f"mp ok {v.value} {total} {seen}")
