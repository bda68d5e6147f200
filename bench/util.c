/* Timing, shared memory and the worker launcher the kernels share. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double bench_cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void* bench_shared_alloc(unsigned long size) {
  void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void bench_shared_free(void* p, unsigned long size) {
  if (p != NULL) munmap(p, size);
}

enum { kMaxWorkers = 64 };

/* Lives in shared memory: the workers may be processes. */
struct gate {
  int ready;
  int go;
  int failed;
  double end[kMaxWorkers];
};

struct worker {
  struct gate* gate;
  bench_body body;
  void* arg;
  int index;
  long n_each;
};

/* Released all at once: every worker waits for `go`, yielding so that the
 * launcher and the other workers get the CPU even when oversubscribed. */
static int work(struct worker* w) {
  __atomic_add_fetch(&w->gate->ready, 1, __ATOMIC_ACQ_REL);
  while (!__atomic_load_n(&w->gate->go, __ATOMIC_ACQUIRE)) sched_yield();
  /* Not every worker could be started: nobody to talk to, do nothing. */
  if (__atomic_load_n(&w->gate->failed, __ATOMIC_ACQUIRE)) return 0;
  int r = w->body(w->arg, w->index, w->n_each);
  w->gate->end[w->index] = bench_now();
  if (r != 0) __atomic_store_n(&w->gate->failed, 1, __ATOMIC_RELEASE);
  return r;
}

static void* thread_main(void* p) {
  work((struct worker*)p);
  return NULL;
}

double bench_run_workers(int workers, int processes, bench_body body, void* arg, long n_each,
                         const char** why) {
  if (workers < 1 || workers > kMaxWorkers) {
    *why = "bad worker count";
    return -1;
  }
  struct gate* gate = bench_shared_alloc(sizeof *gate);
  if (gate == NULL) {
    *why = "mmap failed";
    return -1;
  }
  struct worker w[kMaxWorkers];
  pthread_t threads[kMaxWorkers];
  pid_t pids[kMaxWorkers];
  int started = 0;
  for (; started < workers; ++started) {
    w[started] = (struct worker){gate, body, arg, started, n_each};
    if (processes) {
      pid_t pid = fork();
      if (pid == 0) _exit(work(&w[started]) == 0 ? 0 : 1);
      if (pid < 0) break;
      pids[started] = pid;
    } else if (pthread_create(&threads[started], NULL, thread_main, &w[started]) != 0) {
      break;
    }
  }
  double start = 0;
  if (started == workers) {
    while (__atomic_load_n(&gate->ready, __ATOMIC_ACQUIRE) < workers) sched_yield();
    start = bench_now();
  } else {
    gate->failed = 1;
    *why = processes ? "fork failed" : "pthread_create failed";
  }
  __atomic_store_n(&gate->go, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < started; ++i) {
    if (processes) {
      int status;
      if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
          WEXITSTATUS(status) != 0)
        gate->failed = 1;
    } else {
      pthread_join(threads[i], NULL);
    }
  }
  double last = start;
  for (int i = 0; i < started; ++i)
    if (gate->end[i] > last) last = gate->end[i];
  int failed = gate->failed;
  bench_shared_free(gate, sizeof *gate);
  if (failed) {
    if (started == workers) *why = "an operation failed in a worker";
    return -1;
  }
  return last - start;
}
