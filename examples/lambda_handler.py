"""A Lambda function that uses multiprocessing, in the spirit of the handler
the original lambshm project tested with: a Pool computes values, worker
processes send results back through a Queue while a Semaphore bounds how many
run at once, and the results are compared as sets.

On AWS Lambda with stock glibc this fails at the first Pool, Queue or Lock:
  Amazon Linux 2 (python3.8-3.11):  OSError: [Errno 38] Function not implemented
  Amazon Linux 2023 (python3.12+):  FileNotFoundError: [Errno 2] No such file or directory
With lambshm it returns statusCode 200.
"""
import json
import multiprocessing as mp
import os


def square(n):
    return n * n


def producer(n, queue, slots, running, peak):
    with slots:  # at most `limit` producers hold a slot at once
        with running.get_lock():
            running.value += 1
            peak.value = max(peak.value, running.value)
        queue.put((os.getpid(), n, n * n))
        with running.get_lock():
            running.value -= 1


def handler(event, context):
    count = int(event.get("count", 16))
    limit = int(event.get("limit", 3))
    numbers = list(range(count))
    expected = {n * n for n in numbers}

    with mp.Pool(processes=4) as pool:
        pooled = set(pool.map(square, numbers))

    queue = mp.Queue()
    slots = mp.Semaphore(limit)
    running, peak = mp.Value("i", 0), mp.Value("i", 0)
    workers = [mp.Process(target=producer, args=(n, queue, slots, running, peak))
               for n in numbers]
    for w in workers:
        w.start()
    results = [queue.get(timeout=60) for _ in numbers]
    for w in workers:
        w.join()

    queued = {square for _, _, square in results}
    ok = pooled == expected and queued == expected and peak.value <= limit
    body = {
        "pool": f"{len(pooled)} squares, {'match' if pooled == expected else 'MISMATCH'}",
        "queue": f"{len(results)} results from {len({pid for pid, _, _ in results})} processes, "
                 f"{'match' if queued == expected else 'MISMATCH'}",
        "semaphore": f"at most {peak.value} of {limit} allowed ran at once",
    }
    return {"statusCode": 200 if ok else 500, "body": json.dumps(body)}


if __name__ == "__main__":
    print(json.dumps(handler({}, None)))
