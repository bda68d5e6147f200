/* Large shared memory objects rewritten under a memory cap, and the cost of
 * a small object's whole life (bench/large.py drives it).
 *
 *   large_objects large MIB PASSES   one object of MIB MiB, written PASSES
 *                                    times; prints "pass N SECONDS" per pass
 *   large_objects small COUNT        COUNT times shm_open(O_CREAT|O_EXCL),
 *                                    ftruncate 4 KiB, mmap, touch, munmap,
 *                                    close, shm_unlink; prints "cycle USEC"
 *
 * Plain C and ordinary shm_open: stock glibc, or lambshm through LD_PRELOAD.
 * Wall-clock time: writeback throttling is time spent sleeping. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  char name[64];
  snprintf(name, sizeof name, "/lambshm-large-%d", (int)getpid());
  if (strcmp(argv[1], "large") == 0 && argc == 4) {
    size_t size = (size_t)atol(argv[2]) << 20;
    int passes = atoi(argv[3]);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) { perror("shm_open"); return 1; }
    char* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    for (int i = 0; i < passes; ++i) {
      double t = now();
      memset(p, i + 1, size);
      printf("pass %d %.6f\n", i, now() - t);
      fflush(stdout);
    }
    munmap(p, size);
    close(fd);
    shm_unlink(name);
    return 0;
  }
  if (strcmp(argv[1], "small") == 0) {
    long count = atol(argv[2]);
    double t = now();
    for (long i = 0; i < count; ++i) {
      int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
      if (fd < 0 || ftruncate(fd, 4096) != 0) { perror("shm_open"); return 1; }
      char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) { perror("mmap"); return 1; }
      p[0] = 1;
      munmap(p, 4096);
      close(fd);
      if (shm_unlink(name) != 0) { perror("shm_unlink"); return 1; }
    }
    printf("cycle %.3f\n", (now() - t) / count * 1e6);
    return 0;
  }
  return 2;
}
