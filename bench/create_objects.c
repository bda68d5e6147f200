/* Small objects and contended exclusive creates, in P processes at once
 * (bench/create.py drives it, against stock glibc or lambshm preloaded).
 *
 *   create_objects small P COUNT     each process: COUNT times shm_open(O_CREAT|O_EXCL),
 *                                    ftruncate 4 KiB, mmap, touch, munmap, close,
 *                                    shm_unlink, on a name of its own
 *   create_objects sem P COUNT       each process: COUNT times sem_open(O_CREAT|O_EXCL),
 *                                    sem_close, sem_unlink, on a name of its own
 *   create_objects phases N          for a syscall profile (bench/create.py --profile):
 *                                    N creates (O_RDWR|O_CREAT|O_EXCL, ftruncate 4 KiB,
 *                                    close), N opens (O_RDWR, close) twice, N creates
 *                                    that lose (O_RDONLY|O_CREAT|O_EXCL: EEXIST), N
 *                                    shm_unlinks, N whole small lives; each phase
 *                                    starts with write(-1, "phase NAME"), which fails
 *                                    with EBADF and marks the trace
 *   create_objects contend P N MS    each process tries shm_open(name_i,
 *                                    O_RDONLY|O_CREAT|O_EXCL, 0600) for i = 0..N-1,
 *                                    sleeping 0 to MS ms (uniform) after each try;
 *                                    each name must be created exactly once, every
 *                                    other try must fail with EEXIST
 *
 * Prints "wall SECONDS cpu SECONDS calls N": wall clock from the moment all P
 * processes are released until the last one is done (fork and exit outside),
 * and the processes' CPU time (user + system; not the keeper's).  contend also
 * prints "created N eexist M".  Exits non-zero if any call failed or a name
 * was created other than once.
 *
 * The parent runs one create and unlink before it releases the processes, so
 * a keeper's start is not measured (contend's whole-program time includes it).
 *
 * The sleeps are drawn from a generator seeded with the process's index, so
 * every implementation runs the same schedule. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct shared {
  double end;       /* when the last process finished (max over processes) */
  int failed;
  long eexist;
  int created[];    /* contend: successful creates of each name */
};

static struct shared* g;
static const char* g_mode;
static long g_count;  /* small, sem: cycles; contend: names */
static int g_sleep_ms;
static pid_t g_parent;

static void name_of(char* out, size_t size, const char* tag, long i) {
  snprintf(out, size, "/lsc-%d-%s-%ld", (int)g_parent, tag, i);
}

static int fail(const char* what, const char* name) {
  fprintf(stderr, "create_objects: %s %s: %s\n", what, name, strerror(errno));
  return 1;
}

static int small_life(int index) {
  char name[64];
  name_of(name, sizeof name, "small", index);
  for (long i = 0; i < g_count; ++i) {
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return fail("shm_open", name);
    if (ftruncate(fd, 4096) != 0) return fail("ftruncate", name);
    char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return fail("mmap", name);
    p[0] = 1;
    if (munmap(p, 4096) != 0 || close(fd) != 0) return fail("munmap or close", name);
    if (shm_unlink(name) != 0) return fail("shm_unlink", name);
  }
  return 0;
}

static int sem_life(int index) {
  char name[64];
  name_of(name, sizeof name, "sem", index);
  for (long i = 0; i < g_count; ++i) {
    sem_t* s = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    if (s == SEM_FAILED) return fail("sem_open", name);
    if (sem_close(s) != 0) return fail("sem_close", name);
    if (sem_unlink(name) != 0) return fail("sem_unlink", name);
  }
  return 0;
}

static int contend(int index) {
  unsigned seed = 0x9e3779b9u * (unsigned)(index + 1);
  long eexist = 0;
  for (long i = 0; i < g_count; ++i) {
    char name[64];
    name_of(name, sizeof name, "race", i);
    int fd = shm_open(name, O_RDONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
      __atomic_add_fetch(&g->created[i], 1, __ATOMIC_RELAXED);
      close(fd);
    } else if (errno == EEXIST) {
      ++eexist;
    } else {
      return fail("shm_open", name);
    }
    if (g_sleep_ms > 0) {
      long ns = (long)(rand_r(&seed) % (g_sleep_ms * 1000 + 1)) * 1000;
      struct timespec ts = {ns / 1000000000, ns % 1000000000};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
  }
  __atomic_add_fetch(&g->eexist, eexist, __ATOMIC_RELAXED);
  return 0;
}

static void store_max(double* where, double value) {
  double old;
  __atomic_load(where, &old, __ATOMIC_RELAXED);
  while (value > old &&
         !__atomic_compare_exchange(where, &old, &value, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

static void mark(const char* phase) {
  /* The keeper reads hand-overs in batches and sees unlinks through inotify:
   * a pause lets it finish the phase's work before the next mark. */
  if (strcmp(phase, "create") != 0) usleep(300 * 1000);
  char text[64];
  int n = snprintf(text, sizeof text, "phase %s", phase);
  if (write(-1, text, (size_t)n) >= 0) abort();
}

static int phases(long n) {
  char name[64];
  mark("create");
  for (long i = 0; i < n; ++i) {
    name_of(name, sizeof name, "phase", i);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0 || close(fd) != 0) return fail("create", name);
  }
  for (int round = 1; round <= 2; ++round) {
    mark(round == 1 ? "open1" : "open2");
    for (long i = 0; i < n; ++i) {
      name_of(name, sizeof name, "phase", i);
      int fd = shm_open(name, O_RDWR, 0);
      if (fd < 0 || close(fd) != 0) return fail("open", name);
    }
  }
  mark("eexist");
  for (long i = 0; i < n; ++i) {
    name_of(name, sizeof name, "phase", i);
    if (shm_open(name, O_RDONLY | O_CREAT | O_EXCL, 0600) >= 0 || errno != EEXIST)
      return fail("losing create", name);
  }
  mark("unlink");
  for (long i = 0; i < n; ++i) {
    name_of(name, sizeof name, "phase", i);
    if (shm_unlink(name) != 0) return fail("shm_unlink", name);
  }
  mark("life");
  g_count = n;
  int r = small_life(0);
  mark("end");
  return r;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "phases") == 0) {
    g_parent = getpid();
    return phases(atol(argv[2]));
  }
  if (argc < 4) {
    fprintf(stderr, "usage: %s small|sem P COUNT | contend P N SLEEP_MS\n", argv[0]);
    return 2;
  }
  g_mode = argv[1];
  int procs = atoi(argv[2]);
  g_count = atol(argv[3]);
  g_sleep_ms = argc > 4 ? atoi(argv[4]) : 0;
  int (*body)(int) = strcmp(g_mode, "small") == 0 ? small_life
                     : strcmp(g_mode, "sem") == 0 ? sem_life
                     : strcmp(g_mode, "contend") == 0 ? contend : NULL;
  if (body == NULL || procs < 1 || g_count < 1) return 2;
  g_parent = getpid();
  size_t size = sizeof *g + (body == contend ? g_count * sizeof(int) : 0);
  g = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (g == MAP_FAILED) return fail("mmap", "shared");

  /* One cycle first, in the parent: a keeper that is not running yet starts
   * now, outside the measured part, and the children inherit its connection. */
  char warm[64];
  name_of(warm, sizeof warm, "warm", 0);
  if (body == sem_life) {
    sem_t* s = sem_open(warm, O_CREAT | O_EXCL, 0600, 0);
    if (s == SEM_FAILED) return fail("sem_open", warm);
    sem_close(s);
    sem_unlink(warm);
  } else {
    int fd = shm_open(warm, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return fail("shm_open", warm);
    close(fd);
    shm_unlink(warm);
  }

  /* All start together: each child blocks reading a pipe until the parent
   * closes its end, once every child exists. */
  int gate[2];
  if (pipe(gate) != 0) return fail("pipe", "");
  pid_t* pids = calloc(procs, sizeof *pids);
  for (int i = 0; i < procs; ++i) {
    pids[i] = fork();
    if (pids[i] < 0) return fail("fork", "");
    if (pids[i] == 0) {
      close(gate[1]);
      char c;
      while (read(gate[0], &c, 1) < 0 && errno == EINTR) {}
      int r = body(i);
      store_max(&g->end, now());
      if (r != 0) __atomic_store_n(&g->failed, 1, __ATOMIC_RELAXED);
      _exit(r);
    }
  }
  close(gate[0]);
  double start = now();
  close(gate[1]);
  for (int i = 0; i < procs; ++i) {
    int status;
    if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
      g->failed = 1;
  }
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
  long calls = (long)procs * g_count;
  printf("wall %.6f cpu %.6f calls %ld\n", g->end - start, cpu, calls);
  if (body == contend) {
    long created = 0, wrong = 0;
    for (long i = 0; i < g_count; ++i) {
      created += g->created[i];
      wrong += g->created[i] != 1;
      char name[64];
      name_of(name, sizeof name, "race", i);
      shm_unlink(name);
    }
    printf("created %ld eexist %ld\n", created, g->eexist);
    if (wrong != 0 || g->eexist != calls - g_count) {
      fprintf(stderr, "create_objects: %ld names not created exactly once; %ld EEXIST of %ld\n",
              wrong, g->eexist, calls - g_count);
      g->failed = 1;
    }
  }
  return g->failed ? 1 : 0;
}
