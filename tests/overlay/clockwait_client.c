/* What GCC 10's libstdc++ makes of std::condition_variable::wait_for, and
 * sem_clockwait: both reference libpthread.so.0 at GLIBC_2.30, so on glibc
 * 2.30-2.33 the program needs that node of whatever library answers to
 * libpthread.so.0.  Built in the bullseye userland with its own gcc. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static int ready;

static struct timespec in_ms(long ms) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_nsec += ms * 1000000;
  t.tv_sec += t.tv_nsec / 1000000000;
  t.tv_nsec %= 1000000000;
  return t;
}

static void* poster(void* unused) {
  (void)unused;
  pthread_mutex_lock(&lock);
  ready = 1;
  pthread_cond_signal(&cond);
  pthread_mutex_unlock(&lock);
  sem_post(&sem);
  return NULL;
}

int main(void) {
  if (sem_init(&sem, 0, 0) != 0) return perror("sem_init"), 1;
  /* Nothing posts yet: a monotonic deadline 20 ms ahead passes. */
  struct timespec soon = in_ms(20);
  if (sem_clockwait(&sem, CLOCK_MONOTONIC, &soon) != -1 || errno != ETIMEDOUT)
    return fprintf(stderr, "sem_clockwait: expected ETIMEDOUT\n"), 1;
  /* Called once whatever the threads' timing (the poster may be done before
     the loop below waits), so the test always sees where it binds. */
  pthread_mutex_lock(&lock);
  int early = pthread_cond_clockwait(&cond, &lock, CLOCK_MONOTONIC, &soon);
  pthread_mutex_unlock(&lock);
  if (early != ETIMEDOUT) return fprintf(stderr, "pthread_cond_clockwait: %d\n", early), 1;
  pthread_t t;
  pthread_create(&t, NULL, poster, NULL);
  struct timespec later = in_ms(10000);
  pthread_mutex_lock(&lock);
  int r = 0;
  while (!ready && r == 0) r = pthread_cond_clockwait(&cond, &lock, CLOCK_MONOTONIC, &later);
  pthread_mutex_unlock(&lock);
  if (r != 0) return fprintf(stderr, "pthread_cond_clockwait: %d\n", r), 1;
  if (sem_clockwait(&sem, CLOCK_MONOTONIC, &later) != 0) return perror("sem_clockwait"), 1;
  pthread_join(t, NULL);
  puts("clockwait: ok");
  return 0;
}
