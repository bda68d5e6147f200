/* A program as a user on glibc 2.26 builds it (-lpthread): threads and a
 * named semaphore.  Built against the 2.26 sysroot by ldso_test.sh. */
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>

static void* worker(void* arg) { return arg; }

int main(void) {
  pthread_t t;
  void* result = NULL;
  if (pthread_create(&t, NULL, worker, &t) != 0 || pthread_join(t, &result) != 0) return 1;
  sem_t* s = sem_open("/ldso-test", O_CREAT, 0600, 1);
  if (s == SEM_FAILED) {
    perror("sem_open");
    return 1;
  }
  sem_close(s);
  sem_unlink("/ldso-test");
  puts("threads: ok");
  return result == &t ? 0 : 1;
}
