/* provided_bootstrap: stands in for the "bootstrap" of a function on an
 * OS-only runtime (provided.al2023), as far as shared memory goes: it creates
 * an shm object and a named semaphore, and a forked child opens both by name,
 * writes to the object and posts.  Prints "bootstrap: ok" or the failing call
 * and its error (exit 1).  Built against this machine's glibc (2.34+:
 * shm_open and sem_open in libc.so.6, /dev/shm hard-coded). */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *call) {
  printf("bootstrap: %s: %s\n", call, strerror(errno));
  return 1;
}

static char *map(const char *name, int flags) {
  int fd = shm_open(name, flags, 0600);
  if (fd < 0) return NULL;
  if ((flags & O_CREAT) && ftruncate(fd, 4096) != 0) return NULL;
  char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  return p == MAP_FAILED ? NULL : p;
}

int main(void) {
  char shm[64], sem[64];
  snprintf(shm, sizeof shm, "/bootstrap-shm-%d", (int)getpid());
  snprintf(sem, sizeof sem, "/bootstrap-sem-%d", (int)getpid());
  char *p = map(shm, O_CREAT | O_EXCL | O_RDWR);
  if (!p) return fail("shm_open");
  sem_t *s = sem_open(sem, O_CREAT | O_EXCL, 0600, 0);
  if (s == SEM_FAILED) return fail("sem_open");
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) return fail("fork");
  if (child == 0) {
    char *q = map(shm, O_RDWR);
    sem_t *t = sem_open(sem, 0);
    if (!q || t == SEM_FAILED) _exit(fail(!q ? "shm_open in the child" : "sem_open in the child"));
    strcpy(q, "written by the child");
    _exit(sem_post(t) == 0 ? 0 : fail("sem_post"));
  }
  if (sem_wait(s) != 0) return fail("sem_wait");
  int status;
  waitpid(child, &status, 0);
  if (strcmp(p, "written by the child") != 0) {
    printf("bootstrap: the child's write is not in the shm object\n");
    return 1;
  }
  if (sem_close(s) != 0) return fail("sem_close");
  if (sem_unlink(sem) != 0) return fail("sem_unlink");
  if (shm_unlink(shm) != 0) return fail("shm_unlink");
  printf("bootstrap: ok (shm_open, sem_open, fork)\n");
  return 0;
}
