/* An ordinary C program using POSIX shared memory and semaphores, compiled in
 * the Debian bullseye userland with its own gcc (gcc client.c -pthread -lrt):
 * it knows nothing of lambshm.  With stock glibc in a Lambda-like sandbox it
 * fails (ENOSYS); with lambshm's libraries first in the search path it works.
 *
 * What it does, checking every step:
 *  1. shm_open + ftruncate + mmap a segment; put an unnamed process-shared
 *     semaphore and a counter in it;
 *  2. sem_open a named semaphore;
 *  3. fork children that increment the counter under the unnamed semaphore
 *     and post the named one;
 *  4. fork + exec itself ("child" mode): the new program finds both objects
 *     by name, waits on the unnamed semaphore in the segment and posts;
 *  5. checks the totals, unlinks everything, and checks nothing is left.
 * Exit status 0 on success; a diagnostic on stderr otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 4
#define ROUNDS 500

struct segment {
  sem_t lock;      /* unnamed, process-shared: a mutex */
  sem_t exec_go;   /* unnamed: the exec'd child waits on it */
  long counter;
};

static char shm_name[64], sem_name[64];

static void die(const char* what) {
  fprintf(stderr, "client: %s failed: %s (errno %d)\n", what, strerror(errno), errno);
  exit(1);
}

static struct segment* map_segment(int create) {
  int fd = shm_open(shm_name, create ? O_CREAT | O_EXCL | O_RDWR : O_RDWR, 0600);
  if (fd < 0) die("shm_open");
  if (create && ftruncate(fd, sizeof(struct segment)) != 0) die("ftruncate");
  void* p = mmap(NULL, sizeof(struct segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) die("mmap");
  close(fd);
  return p;
}

static int child_after_exec(void) {
  struct segment* seg = map_segment(0);
  sem_t* done = sem_open(sem_name, 0);
  if (done == SEM_FAILED) die("sem_open (exec'd child)");
  if (sem_wait(&seg->exec_go) != 0) die("sem_wait (exec'd child)");
  if (sem_wait(&seg->lock) != 0) die("sem_wait lock (exec'd child)");
  seg->counter += 1000;
  if (sem_post(&seg->lock) != 0) die("sem_post lock (exec'd child)");
  if (sem_post(done) != 0) die("sem_post (exec'd child)");
  return sem_close(done) == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  const char* tag = argc > 2 ? argv[2] : "default";
  snprintf(shm_name, sizeof shm_name, "/client-shm-%s", tag);
  snprintf(sem_name, sizeof sem_name, "/client-sem-%s", tag);
  if (argc > 1 && strcmp(argv[1], "child") == 0) return child_after_exec();

  struct segment* seg = map_segment(1);
  if (sem_init(&seg->lock, 1, 1) != 0) die("sem_init lock");
  if (sem_init(&seg->exec_go, 1, 0) != 0) die("sem_init exec_go");
  sem_t* done = sem_open(sem_name, O_CREAT | O_EXCL, 0600, 0);
  if (done == SEM_FAILED) die("sem_open");
  if (sem_open(sem_name, O_CREAT | O_EXCL, 0600, 0) != SEM_FAILED || errno != EEXIST)
    die("sem_open O_EXCL of an existing name (expected EEXIST)");

  for (int c = 0; c < CHILDREN; ++c) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      for (int i = 0; i < ROUNDS; ++i) {
        if (sem_wait(&seg->lock) != 0) _exit(2);
        seg->counter++;
        if (sem_post(&seg->lock) != 0) _exit(3);
      }
      _exit(sem_post(done) == 0 ? 0 : 4);
    }
  }
  pid_t exec_child = fork();
  if (exec_child == 0) {
    execl("/proc/self/exe", argv[0], "child", tag, (char*)NULL);
    _exit(127);
  }
  if (sem_post(&seg->exec_go) != 0) die("sem_post exec_go");
  for (int i = 0; i < CHILDREN + 1; ++i)
    if (sem_wait(done) != 0) die("sem_wait done");
  int failures = 0, status;
  while (wait(&status) > 0)
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failures++;
  long expected = CHILDREN * ROUNDS + 1000;
  if (failures || seg->counter != expected) {
    fprintf(stderr, "client: counter %ld (expected %ld), %d children failed\n", seg->counter,
            expected, failures);
    return 1;
  }
  int value = -1;
  if (sem_getvalue(done, &value) != 0 || value != 0) die("sem_getvalue");
  if (sem_close(done) != 0) die("sem_close");
  if (sem_close(done) == 0 || errno != EINVAL) die("second sem_close (expected EINVAL)");
  if (sem_unlink(sem_name) != 0) die("sem_unlink");
  if (shm_unlink(shm_name) != 0) die("shm_unlink");
  if (shm_open(shm_name, O_RDWR, 0) >= 0 || errno != ENOENT) die("shm_open after unlink");
  printf("client: ok: counter %ld from %d forked children and one exec'd program\n", seg->counter,
         CHILDREN);
  return 0;
}
