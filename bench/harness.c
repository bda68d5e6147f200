/* The plain C driver of the kernels: the same source and method for every
 * implementation, including musl (static, where Google Benchmark's C++ cannot
 * link) and bullseye's glibc 2.31 (compiled here, linked there).
 *
 *   bench-c list
 *   bench-c run [--min-time SECONDS] [--samples K] [[--n N] NAME]...
 *   bench-c memory COUNT
 *
 * run: for each kernel, n is doubled from 1 until one call takes at least
 * half of --min-time (these calls also warm up), then set so a call takes
 * about --min-time; then K calls with that n.  --n N gives the next kernel
 * its n (from an earlier calibration): one warm-up call of n/10, then the K
 * calls.  Prints one JSON line per kernel: {"impl", "name", "n", "ns": [ns per
 * operation of each call]} or {"impl", "name", "error"}.  Consecutive kernels
 * with the same setup (reopen and reopen_close at one count) share it, so the
 * costly one is paid once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifndef BENCH_IMPL
#error "compile with -DBENCH_IMPL='\"name\"'"
#endif

static double g_min_time = 0.05;
static int g_samples = 5;

static void print_error(const struct bench* b, const char* why) {
  printf("{\"impl\": \"%s\", \"name\": \"%s\", \"error\": \"%s\"}\n", BENCH_IMPL, b->name,
         why != NULL ? why : "failed");
}

static void measure(const struct bench* b, void* state, long fixed_n) {
  const char* why = NULL;
  long n = fixed_n > 0 ? fixed_n : 1;
  double t = 0;
  for (;;) {
    t = b->run(state, fixed_n > 0 ? (n + 9) / 10 : n, &why);
    if (t < 0) {
      print_error(b, why);
      return;
    }
    if (fixed_n > 0 || t >= g_min_time / 2 || n >= (1L << 40)) break;
    n *= t < g_min_time / 64 ? 8 : 2;
  }
  long target = (long)((double)n * g_min_time / (t > 0 ? t : 1e-9));
  if (fixed_n <= 0 && target > n) n = target;
  printf("{\"impl\": \"%s\", \"name\": \"%s\", \"n\": %ld, \"ns\": [", BENCH_IMPL, b->name, n);
  for (int i = 0; i < g_samples; ++i) {
    t = b->run(state, n, &why);
    if (t < 0) {
      printf("]}\n");
      print_error(b, why);
      return;
    }
    printf("%s%.3f", i ? ", " : "", t * 1e9 / (double)n);
  }
  printf("]}\n");
  fflush(stdout);
}

static int run(int argc, char** argv) {
  const struct bench* prev = NULL;
  void* state = NULL;
  long fixed_n = 0;
  for (int i = 0; i < argc; ++i) {
    if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
      fixed_n = atol(argv[++i]);
      continue;
    }
    if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
      g_min_time = atof(argv[++i]);
      continue;
    }
    if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc) {
      g_samples = atoi(argv[++i]);
      continue;
    }
    const struct bench* b = bench_find(argv[i]);
    if (b == NULL) {
      fprintf(stderr, "bench: no kernel named %s\n", argv[i]);
      return 2;
    }
    int shared = prev != NULL && state != NULL && prev->setup == b->setup &&
                 prev->param == b->param;
    if (!shared) {
      if (state != NULL) prev->teardown(state);
      const char* why = NULL;
      state = b->setup(b->param, &why);
      if (state == NULL) {
        print_error(b, why);
        prev = NULL;
        continue;
      }
    }
    prev = b;
    measure(b, state, fixed_n);
    fixed_n = 0;
  }
  if (state != NULL) prev->teardown(state);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "list") == 0) {
    for (int i = 0; i < bench_count(); ++i)
      printf("%s\t%s\n", bench_at(i)->name, bench_at(i)->what);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "run") == 0) return run(argc - 2, argv + 2);
  if (argc == 3 && strcmp(argv[1], "memory") == 0) {
    struct bench_memory m;
    const char* why = NULL;
    int count = atoi(argv[2]);
    if (bench_memory_per_sem(count, &m, &why) != 0) {
      printf("{\"impl\": \"%s\", \"name\": \"memory/%d\", \"error\": \"%s\"}\n", BENCH_IMPL,
             count, why);
      return 0;
    }
    printf("{\"impl\": \"%s\", \"name\": \"memory/%d\", \"anonymous_bytes\": %.1f, "
           "\"rss_bytes\": %.1f, \"mappings\": %.3f}\n",
           BENCH_IMPL, count, m.anonymous_bytes, m.rss_bytes, m.mappings);
    return 0;
  }
  fprintf(stderr, "usage: %s list | run [--min-time S] [--samples K] NAME... | memory COUNT\n",
          argv[0]);
  return 2;
}
