/* A second LD_PRELOAD library, in the manner of libfaketime, to show that
 * liblambshm-preload.so composes with others in either order:
 *   - time() returns a fixed 1234567890: something lambshm does not touch;
 *   - shm_open() notes the call on stderr ("compose: shm_open NAME") and
 *     forwards to the next definition (dlsym RTLD_NEXT), as wrappers do;
 *   - with COMPOSE_CTOR_NAME=NAME, its constructor creates an shm object and
 *     a named semaphore NAME before main (left for the test to find and
 *     remove) and reports "compose-ctor: ok" or the first failure: calls from
 *     another library's start-up code must work, and lambshm has no
 *     initialisation of its own that could still be pending then.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

time_t time(time_t* out) {
  if (out) *out = 1234567890;
  return 1234567890;
}

int shm_open(const char* name, int oflag, mode_t mode) {
  static int (*next)(const char*, int, mode_t);
  if (!next) next = (int (*)(const char*, int, mode_t))dlsym(RTLD_NEXT, "shm_open");
  fprintf(stderr, "compose: shm_open %s\n", name);
  return next(name, oflag, mode);
}

static void fail(const char* what) {
  fprintf(stderr, "compose-ctor: %s failed: %s\n", what, strerror(errno));
}

__attribute__((constructor)) static void life_cycle(void) {
  const char* name = getenv("COMPOSE_CTOR_NAME");
  if (!name) return;
  int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return fail("shm_open");
  close(fd);
  sem_t* sem = sem_open(name, O_CREAT | O_EXCL, 0600, 1);
  if (sem == SEM_FAILED) return fail("sem_open");
  if (sem_wait(sem) != 0) return fail("sem_wait");
  if (sem_close(sem) != 0) return fail("sem_close");
  fprintf(stderr, "compose-ctor: ok\n");
}
