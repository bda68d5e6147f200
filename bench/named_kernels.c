/* Kernels on named objects: the shm_open cycle, the named-semaphore cycle,
 * reopen and close of a name already open while many others are open, and
 * the memory each open named semaphore costs.
 *
 * Every named semaphore is one mapping of its own file, so the number a
 * process can hold open is bounded by vm.max_map_count (65530 by default),
 * whatever the library: "max" kernels open $BENCH_MAX_OPEN (bench/run.py
 * passes 100,000 or what the limit allows), or, alone, as many as the limit
 * allows minus a margin.
 *
 * All single-threaded: they measure CPU time (user and system). */
#define _GNU_SOURCE
#ifdef BENCH_OLD_ABI
#include "old_abi.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

enum { kNameSize = 64, kCloseLimit = 10000 };

static void make_name(char* out, const char* tag, int i) {
  snprintf(out, kNameSize, "/lsb-%d-%s-%d", (int)getpid(), tag, i);
}

static char g_why[256];

static const char* failure(const char* call, int i) {
  snprintf(g_why, sizeof g_why, "%s failed after %d semaphores: %s", call, i, strerror(errno));
  return g_why;
}

/* --- The create-use-destroy cycles ----------------------------------------- */

struct cycle {
  char name[kNameSize];
};

static void* setup_cycle(int param, const char** why) {
  (void)param;
  struct cycle* c = malloc(sizeof *c);
  if (c == NULL) {
    *why = "out of memory";
    return NULL;
  }
  make_name(c->name, "cycle", 0);
  return c;
}

static void teardown_cycle(void* p) {
  struct cycle* c = p;
  shm_unlink(c->name);
  sem_unlink(c->name);
  free(c);
}

static double run_shm_cycle(void* p, long n, const char** why) {
  const char* name = ((struct cycle*)p)->name;
  double start = bench_cpu_now();
  for (long i = 0; i < n; ++i) {
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0) {
      *why = "shm_open or ftruncate failed";
      return -1;
    }
    void* m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED || munmap(m, 4096) != 0 || close(fd) != 0 || shm_unlink(name) != 0) {
      *why = "mmap, munmap, close or shm_unlink failed";
      return -1;
    }
  }
  return bench_cpu_now() - start;
}

static double run_sem_cycle(void* p, long n, const char** why) {
  const char* name = ((struct cycle*)p)->name;
  double start = bench_cpu_now();
  for (long i = 0; i < n; ++i) {
    sem_t* s = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    if (s == SEM_FAILED || sem_close(s) != 0 || sem_unlink(name) != 0) {
      *why = "sem_open, sem_close or sem_unlink failed";
      return -1;
    }
  }
  return bench_cpu_now() - start;
}

/* --- Many open semaphores -------------------------------------------------- */

static int count_lines(const char* path) {
  FILE* f = fopen(path, "r");
  if (f == NULL) return -1;
  int lines = 0, c;
  while ((c = getc(f)) != EOF) lines += c == '\n';
  fclose(f);
  return lines;
}

/* As many as vm.max_map_count leaves room for, in thousands, with a margin
 * for the mappings the kernels and the libraries make themselves. */
static int max_open(void) {
  const char* env = getenv(BENCH_MAX_OPEN_ENV);
  if (env != NULL && atoi(env) > 0) return atoi(env);
  FILE* f = fopen("/proc/sys/vm/max_map_count", "r");
  int limit = 65530;
  if (f != NULL) {
    if (fscanf(f, "%d", &limit) != 1) limit = 65530;
    fclose(f);
  }
  int room = limit - count_lines("/proc/self/maps") - 1000;
  return room < 1000 ? 1000 : room / 1000 * 1000;
}

struct many {
  const char* tag; /* names are make_name(tag, i) */
  int count;
  sem_t** sems;
  char target[kNameSize]; /* the one reopened and closed: in the middle */
  sem_t* target_sem;
};

/* Unlinks every name; closes too, except beyond kCloseLimit: glibc's
 * sem_close walks all open semaphores, so closing 60,000 would take minutes
 * there.  The mappings then go with the process. */
static void release_many(struct many* m, int opened) {
  char name[kNameSize];
  for (int i = 0; i < opened; ++i) {
    make_name(name, m->tag, i);
    sem_unlink(name);
    if (opened <= kCloseLimit) sem_close(m->sems[i]);
  }
}

static struct many* open_many(int count, const char* tag, const char** why) {
  struct many* m = calloc(1, sizeof *m);
  if (m != NULL) m->sems = calloc((size_t)count, sizeof(sem_t*));
  if (m == NULL || m->sems == NULL) {
    *why = "out of memory";
    free(m);
    return NULL;
  }
  m->tag = tag;
  m->count = count;
  char name[kNameSize];
  for (int i = 0; i < m->count; ++i) {
    make_name(name, tag, i);
    m->sems[i] = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    if (m->sems[i] == SEM_FAILED) {
      *why = failure("sem_open", i);
      release_many(m, i);
      free(m->sems);
      free(m);
      return NULL;
    }
  }
  make_name(m->target, tag, m->count / 2);
  m->target_sem = m->sems[m->count / 2];
  return m;
}

static void* setup_many(int param, const char** why) {
  return open_many(param > 0 ? param : max_open(), "many", why);
}

static void teardown_many(void* p) {
  struct many* m = p;
  release_many(m, m->count);
  free(m->sems);
  free(m);
}

static int reopen(struct many* m, long n) {
  for (long i = 0; i < n; ++i)
    if (sem_open(m->target, 0) != m->target_sem) return -1;
  return 0;
}

/* sem_open of a name this process has open already.  The extra references
 * are kept (closing them costs O(open semaphores) each in glibc, which would
 * dominate the run); the mapping goes at teardown or exit. */
static double run_reopen(void* p, long n, const char** why) {
  struct many* m = p;
  double start = bench_cpu_now();
  int r = reopen(m, n);
  double elapsed = bench_cpu_now() - start;
  if (r != 0) {
    *why = "sem_open of an open name did not return its mapping";
    return -1;
  }
  return elapsed;
}

/* sem_open of a name this process has open already, then sem_close: a
 * program that opens a semaphore it (or a library in it) already holds. */
static double run_reopen_close(void* p, long n, const char** why) {
  struct many* m = p;
  double start = bench_cpu_now();
  for (long i = 0; i < n; ++i) {
    if (sem_open(m->target, 0) != m->target_sem || sem_close(m->target_sem) != 0) {
      *why = "sem_open of an open name did not return its mapping, or sem_close failed";
      return -1;
    }
  }
  return bench_cpu_now() - start;
}

/* --- Memory ------------------------------------------------------------------ */

struct usage {
  long rss_kb, anonymous_kb;
  int mappings;
};

static int read_usage(struct usage* u) {
  FILE* f = fopen("/proc/self/smaps_rollup", "r");
  if (f == NULL) return -1;
  char line[256];
  u->rss_kb = u->anonymous_kb = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    sscanf(line, "Rss: %ld kB", &u->rss_kb);
    sscanf(line, "Anonymous: %ld kB", &u->anonymous_kb);
  }
  fclose(f);
  u->mappings = count_lines("/proc/self/maps");
  return u->rss_kb < 0 || u->anonymous_kb < 0 || u->mappings < 0 ? -1 : 0;
}

int bench_memory_per_sem(int count, struct bench_memory* out, const char** why) {
  /* One first: whatever a library sets up once is not per semaphore. */
  struct many* warm = open_many(1, "warm", why);
  if (warm == NULL) return -1;
  struct usage before, after;
  if (read_usage(&before) != 0) {
    *why = "cannot read /proc/self/smaps_rollup";
    teardown_many(warm);
    return -1;
  }
  struct many* m = open_many(count, "memory", why);
  if (m == NULL) {
    teardown_many(warm);
    return -1;
  }
  if (read_usage(&after) != 0) {
    *why = "cannot read /proc/self/smaps_rollup";
    teardown_many(m);
    teardown_many(warm);
    return -1;
  }
  out->anonymous_bytes = (double)(after.anonymous_kb - before.anonymous_kb) * 1024 / count;
  out->rss_bytes = (double)(after.rss_kb - before.rss_kb) * 1024 / count;
  out->mappings = (double)(after.mappings - before.mappings) / count;
  teardown_many(m);
  teardown_many(warm);
  return 0;
}

/* --- The table --------------------------------------------------------------- */

#define CYCLE(name, what, run) {name, what, 0, setup_cycle, run, teardown_cycle}
#define MANY(n, label)                                                                \
  {"reopen/" label, "sem_open of a name already open, " label " open", n, setup_many, \
   run_reopen, teardown_many},                                                        \
  {"reopen_close/" label, "sem_open + sem_close of a name already open, " label " open", \
   n, setup_many, run_reopen_close, teardown_many}

const struct bench bench_named_table[] = {
    CYCLE("shm_cycle", "shm_open+ftruncate+mmap+munmap+close+shm_unlink", run_shm_cycle),
    CYCLE("sem_cycle", "sem_open(O_CREAT|O_EXCL)+sem_close+sem_unlink", run_sem_cycle),
    MANY(10, "10"),
    MANY(1000, "1000"),
    MANY(10000, "10000"),
    MANY(0, "max"),
};
const int bench_named_count = sizeof bench_named_table / sizeof bench_named_table[0];
