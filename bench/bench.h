/* The measured operations of lambshm's benchmarks, in plain C so that the same
 * source is compiled once per implementation: against lambshm (old_abi.h binds
 * the calls to the pre-2.34 versions our libraries define), against this
 * machine's glibc (libc.so.6, GLIBC_2.34), inside the Debian bullseye userland
 * with its own gcc (glibc 2.31), and with musl-gcc (static).
 *
 * A kernel performs n operations and measures them itself, with
 * CLOCK_MONOTONIC around the operations only (setup, fork and exit are
 * outside), so every driver (harness.c, gbench.cpp) reports exactly what the
 * kernel measured, and only decides n and how often to repeat. */
#ifndef LAMBSHM_BENCH_H
#define LAMBSHM_BENCH_H

#ifdef __cplusplus
extern "C" {
#endif

struct bench {
  const char* name;  /* unique; "group/param" for parameterised ones */
  const char* what;  /* what one operation is, for the table */
  int param;         /* threads, processes or open semaphores; see the kernel */
  /* Prepares the state the timed part needs.  Returns NULL, with the reason
   * in *why, when this implementation cannot do it (musl's 256 semaphores). */
  void* (*setup)(int param, const char** why);
  /* Performs n operations; returns the seconds they took, or -1 with *why. */
  double (*run)(void* state, long n, const char** why);
  void (*teardown)(void* state);
};

/* Every kernel, in table order (sem_kernels.c, then named_kernels.c). */
int bench_count(void);
const struct bench* bench_at(int index);
const struct bench* bench_find(const char* name);

/* Where parameterised named-semaphore kernels read their "as many as the
 * kernel allows" count from; see named_kernels.c. */
#define BENCH_MAX_OPEN_ENV "BENCH_MAX_OPEN"

/* Memory per open named semaphore: opens `count` semaphores and reports what
 * the process grew by, per semaphore.  0, or -1 with *why. */
struct bench_memory {
  double anonymous_bytes; /* private memory: the library's bookkeeping */
  double rss_bytes;       /* everything resident, mapped semaphore pages included */
  double mappings;        /* lines in /proc/self/maps */
};
int bench_memory_per_sem(int count, struct bench_memory* out, const char** why);

/* --- Shared by the kernels (util.c) --------------------------------------- */

/* Wall-clock time: what kernels with several workers measure (hand-offs,
 * sleeps and wake-ups are the point there). */
double bench_now(void);
/* This thread's CPU time, user and system: what single-threaded kernels
 * measure, so that time the machine gives to other processes (this one is
 * shared and busy) is not counted as the operation's. */
double bench_cpu_now(void);
/* A zeroed MAP_SHARED|MAP_ANONYMOUS region, shared with forked children. */
void* bench_shared_alloc(unsigned long size);
void bench_shared_free(void* p, unsigned long size);

/* Runs `body(arg, index, n_each)` in `workers` threads or forked processes,
 * all released at once; returns the seconds from the release until the last
 * one finished its operations (exit and join excluded), or -1 with *why.
 * `body` returns 0, or non-zero when an operation failed. */
typedef int (*bench_body)(void* arg, int index, long n_each);
double bench_run_workers(int workers, int processes, bench_body body, void* arg, long n_each,
                         const char** why);

#ifdef __cplusplus
}
#endif

#endif
