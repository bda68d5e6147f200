/* Calls the shim forwards to the stock libpthread (libpthread_shim/forward.cpp):
 * against lambshm they go through its trampolines, against every peer
 * straight to the library that defines them. */
#include <pthread.h>
#include <stdlib.h>

#include "bench.h"

#ifdef BENCH_OLD_ABI
/* Bound as a program built on glibc 2.26 to 2.33 binds them: to
 * libpthread.so.0's versions, which the shim defines. */
#include "symver.h"
#if defined(__x86_64__)
#define BENCH_BASE "GLIBC_2.2.5"
#else
#define BENCH_BASE "GLIBC_2.17"
#endif
LAMBSHM_SYMVER(pthread_mutex_lock, "pthread_mutex_lock@" BENCH_BASE);
LAMBSHM_SYMVER(pthread_mutex_unlock, "pthread_mutex_unlock@" BENCH_BASE);
LAMBSHM_SYMVER(pthread_create, "pthread_create@" BENCH_BASE);
LAMBSHM_SYMVER(pthread_join, "pthread_join@" BENCH_BASE);
#endif

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;

static void* setup(int param, const char** why) {
  (void)param;
  (void)why;
  return &g_mutex;
}
static void teardown(void* state) { (void)state; }

static double run_mutex_pair(void* state, long n, const char** why) {
  pthread_mutex_t* m = state;
  double start = bench_cpu_now();
  for (long i = 0; i < n; ++i) {
    if (pthread_mutex_lock(m) != 0 || pthread_mutex_unlock(m) != 0) {
      *why = "pthread_mutex_lock failed";
      return -1;
    }
  }
  return bench_cpu_now() - start;
}

static void* nothing(void* arg) { return arg; }

static double run_create_join(void* state, long n, const char** why) {
  (void)state;
  double start = bench_now();
  for (long i = 0; i < n; ++i) {
    pthread_t t;
    if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0) {
      *why = "pthread_create failed";
      return -1;
    }
  }
  return bench_now() - start;
}

const struct bench bench_thread_table[] = {
    {"mutex_pair", "pthread_mutex_lock + unlock, uncontended", 0, setup, run_mutex_pair,
     teardown},
    {"create_join", "pthread_create + pthread_join of an empty thread", 0, setup,
     run_create_join, teardown},
};
const int bench_thread_count = sizeof bench_thread_table / sizeof bench_thread_table[0];
