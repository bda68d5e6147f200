/* Kernels on unnamed semaphores (sem_init): the uncontended operations, the
 * cross-process hand-off, and contention between threads and processes.
 * Every semaphore lives in MAP_SHARED memory so that forked workers share it.
 * Uncontended kernels measure CPU time, the others wall-clock time. */
#define _GNU_SOURCE
#ifdef BENCH_OLD_ABI
#include "old_abi.h"
#endif

#include <errno.h>
#include <semaphore.h>
#include <stddef.h>
#include <unistd.h>

#include "bench.h"

enum { kMaxPairs = 32 };

struct sems {
  sem_t ping[kMaxPairs];
  sem_t pong[kMaxPairs];
  sem_t lock;   /* value 1: the contended kernels use it as a mutex */
  long counter; /* protected by lock: proves no token was lost or invented */
  long word;    /* the atomic floor's operand */
  int param;
};

static void* setup(int param, int pshared, const char** why) {
  struct sems* s = bench_shared_alloc(sizeof *s);
  if (s == NULL) {
    *why = "mmap failed";
    return NULL;
  }
  s->param = param;
  for (int i = 0; i < kMaxPairs; ++i) {
    if (sem_init(&s->ping[i], pshared, 0) != 0 || sem_init(&s->pong[i], pshared, 0) != 0) {
      *why = "sem_init failed";
      bench_shared_free(s, sizeof *s);
      return NULL;
    }
  }
  if (sem_init(&s->lock, pshared, 1) != 0) {
    *why = "sem_init failed";
    bench_shared_free(s, sizeof *s);
    return NULL;
  }
  return s;
}

static void* setup_shared(int param, const char** why) { return setup(param, 1, why); }
static void* setup_private(int param, const char** why) { return setup(param, 0, why); }
static void teardown(void* p) { bench_shared_free(p, sizeof(struct sems)); }

/* --- Uncontended ---------------------------------------------------------- */

/* The physical floor of post+wait: one atomic add and one atomic subtract. */
static double run_atomic_pair(void* p, long n, const char** why) {
  (void)why;
  struct sems* s = p;
  double start = bench_cpu_now();
  for (long i = 0; i < n; ++i) {
    __atomic_fetch_add(&s->word, 1, __ATOMIC_SEQ_CST);
    __atomic_fetch_sub(&s->word, 1, __ATOMIC_SEQ_CST);
  }
  return bench_cpu_now() - start;
}

static double run_post_wait(void* p, long n, const char** why) {
  sem_t* sem = &((struct sems*)p)->ping[0];
  double start = bench_cpu_now();
  for (long i = 0; i < n; ++i) {
    if (sem_post(sem) != 0 || sem_wait(sem) != 0) {
      *why = "sem_post or sem_wait failed";
      return -1;
    }
  }
  return bench_cpu_now() - start;
}

static double run_trywait_zero(void* p, long n, const char** why) {
  sem_t* sem = &((struct sems*)p)->ping[0];
  double start = bench_cpu_now();
  for (long i = 0; i < n; ++i) {
    if (sem_trywait(sem) != -1) {
      *why = "sem_trywait took a token from an empty semaphore";
      return -1;
    }
  }
  double elapsed = bench_cpu_now() - start;
  if (errno != EAGAIN) {
    *why = "sem_trywait did not fail with EAGAIN";
    return -1;
  }
  return elapsed;
}

static double run_getvalue(void* p, long n, const char** why) {
  sem_t* sem = &((struct sems*)p)->ping[0];
  int value = -1;
  double start = bench_cpu_now();
  for (long i = 0; i < n; ++i) {
    if (sem_getvalue(sem, &value) != 0) {
      *why = "sem_getvalue failed";
      return -1;
    }
  }
  double elapsed = bench_cpu_now() - start;
  if (value != 0) {
    *why = "sem_getvalue reported a wrong value";
    return -1;
  }
  return elapsed;
}

/* --- Hand-off between processes -------------------------------------------- */

/* Worker 2k posts ping[k] and waits for pong[k]; worker 2k+1 answers.  One
 * operation is one round trip. */
static int pingpong_body(void* p, int index, long n) {
  struct sems* s = p;
  sem_t* ping = &s->ping[index / 2];
  sem_t* pong = &s->pong[index / 2];
  for (long i = 0; i < n; ++i) {
    if (index % 2 == 0) {
      if (sem_post(ping) != 0 || sem_wait(pong) != 0) return 1;
    } else {
      if (sem_wait(ping) != 0 || sem_post(pong) != 0) return 1;
    }
  }
  return 0;
}

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

/* param pairs of processes, or 0: twice as many pairs as CPUs (four
 * processes per CPU, each spinning or sleeping in sem_wait half the time). */
static double run_pingpong(void* p, long n, const char** why) {
  struct sems* s = p;
  int pairs = s->param != 0 ? s->param : 2 * online_cpus();
  if (pairs > kMaxPairs) pairs = kMaxPairs;
  long each = (n + pairs - 1) / pairs;
  double t = bench_run_workers(2 * pairs, 1, pingpong_body, s, each, why);
  return t < 0 ? t : t * (double)n / (double)(each * pairs);
}

/* --- Contention ------------------------------------------------------------ */

/* Every worker takes the lock, increments the counter and gives it back. */
static int contended_body(void* p, int index, long n) {
  (void)index;
  struct sems* s = p;
  for (long i = 0; i < n; ++i) {
    if (sem_wait(&s->lock) != 0) return 1;
    s->counter++;
    if (sem_post(&s->lock) != 0) return 1;
  }
  return 0;
}

static double run_contended(void* p, long n, int processes, const char** why) {
  struct sems* s = p;
  long each = (n + s->param - 1) / s->param;
  s->counter = 0;
  double t = bench_run_workers(s->param, processes, contended_body, s, each, why);
  if (t >= 0 && s->counter != each * s->param) {
    *why = "the counter the semaphore protects is wrong: mutual exclusion failed";
    return -1;
  }
  return t < 0 ? t : t * (double)n / (double)(each * s->param);
}

static double run_contended_threads(void* p, long n, const char** why) {
  return run_contended(p, n, 0, why);
}
static double run_contended_procs(void* p, long n, const char** why) {
  return run_contended(p, n, 1, why);
}

/* --- The table --------------------------------------------------------------- */

#define SHARED(name, what, param, run) {name, what, param, setup_shared, run, teardown}

const struct bench bench_sem_table[] = {
    SHARED("atomic_pair", "atomic add + atomic sub on a shared word (the floor)", 0,
           run_atomic_pair),
    SHARED("post_wait", "sem_post + sem_wait, process-shared, uncontended", 0, run_post_wait),
    SHARED("trywait_zero", "sem_trywait on a zero semaphore (EAGAIN)", 0, run_trywait_zero),
    SHARED("getvalue", "sem_getvalue", 0, run_getvalue),
    SHARED("pingpong", "round trip between 2 processes through 2 semaphores", 1, run_pingpong),
    SHARED("pingpong_oversub", "round trip, 2 x CPUs pairs of processes at once", 0,
           run_pingpong),
    {"contended_threads/2", "wait+post of a lock, 2 threads", 2, setup_private,
     run_contended_threads, teardown},
    {"contended_threads/4", "wait+post of a lock, 4 threads", 4, setup_private,
     run_contended_threads, teardown},
    {"contended_threads/8", "wait+post of a lock, 8 threads", 8, setup_private,
     run_contended_threads, teardown},
    SHARED("contended_procs/2", "wait+post of a lock, 2 processes", 2, run_contended_procs),
    SHARED("contended_procs/4", "wait+post of a lock, 4 processes", 4, run_contended_procs),
    SHARED("contended_procs/8", "wait+post of a lock, 8 processes", 8, run_contended_procs),
};
const int bench_sem_count = sizeof bench_sem_table / sizeof bench_sem_table[0];
