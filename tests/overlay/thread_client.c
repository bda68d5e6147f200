/* Threads through whatever answers to libpthread.so.0: an ordinary program
 * (cc thread_client.c -pthread -lrt) that knows nothing of lambshm.  Under
 * the overlay every pthread_* call it makes resolves through the shim, so on
 * a glibc before 2.30 (one versioned lookup per file name, glibc bug 24741)
 * it only starts if the shim answers for every symbol of the stock library.
 *
 * Checks, each one TAP line: create/join, attributes, mutexes (normal,
 * recursive, error-checking), condition variables (signal, broadcast,
 * timeout), rwlocks, barriers, once, unnamed semaphores, cancellation of a
 * blocked thread with a cleanup handler (glibc unwinds with libgcc_s),
 * pthread_exit, thread-specific data destructors, __thread variables,
 * fork from a threaded process (atfork handlers, a thread in the child),
 * and exec of itself from a thread.
 *   thread_client           all checks, TAP on stdout, exit 0 when all pass
 *   thread_client exec      (the exec'd program) starts a thread, exits 0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int checks, failures;

static void check(int ok, const char* what) {
  ++checks;
  if (!ok) ++failures;
  printf("%sok %d - %s\n", ok ? "" : "not ", checks, what);
  fflush(stdout);
}

static void* return_arg(void* arg) { return arg; }

static void create_join(void) {
  pthread_t t[8];
  int ok = 1;
  for (long i = 0; i < 8; ++i) ok &= pthread_create(&t[i], NULL, return_arg, (void*)(i + 1)) == 0;
  for (long i = 0; i < 8; ++i) {
    void* r = NULL;
    ok &= pthread_join(t[i], &r) == 0 && r == (void*)(i + 1);
  }
  check(ok, "pthread_create and pthread_join: 8 threads return their values");
}

static void* report_guard(void* arg) {
  pthread_attr_t attr;
  size_t* guard = arg;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return NULL;
  pthread_attr_getguardsize(&attr, guard);
  pthread_attr_destroy(&attr);
  return arg;
}

static void attributes(void) {
  pthread_attr_t attr;
  pthread_t t;
  size_t guard = 0, seen = 0;
  void* r = NULL;
  int ok = pthread_attr_init(&attr) == 0 && pthread_attr_setguardsize(&attr, 3 * 4096) == 0 &&
           pthread_attr_setstacksize(&attr, 256 * 1024) == 0 &&
           pthread_attr_getguardsize(&attr, &guard) == 0 && guard == 3 * 4096 &&
           pthread_create(&t, &attr, report_guard, &seen) == 0 && pthread_join(t, &r) == 0 &&
           r == &seen && seen == 3 * 4096;
  pthread_attr_destroy(&attr);
  check(ok, "thread attributes: the guard size set is the one the thread gets");
}

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void* add_many(void* arg) {
  for (int i = 0; i < 100000; ++i) {
    pthread_mutex_lock(&counter_lock);
    ++counter;
    pthread_mutex_unlock(&counter_lock);
  }
  return arg;
}

static void mutexes(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; ++i) pthread_create(&t[i], NULL, add_many, NULL);
  for (int i = 0; i < 4; ++i) pthread_join(t[i], NULL);
  check(counter == 400000, "mutex: 4 threads x 100000 increments, none lost");

  pthread_mutexattr_t a;
  pthread_mutex_t m;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  int ok = pthread_mutex_init(&m, &a) == 0 && pthread_mutex_lock(&m) == 0 &&
           pthread_mutex_lock(&m) == 0 && pthread_mutex_unlock(&m) == 0 &&
           pthread_mutex_unlock(&m) == 0 && pthread_mutex_destroy(&m) == 0;
  check(ok, "recursive mutex: locked twice, unlocked twice");
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  ok = pthread_mutex_init(&m, &a) == 0 && pthread_mutex_lock(&m) == 0 &&
       pthread_mutex_lock(&m) == EDEADLK && pthread_mutex_trylock(&m) == EBUSY &&
       pthread_mutex_unlock(&m) == 0 && pthread_mutex_unlock(&m) == EPERM;
  pthread_mutex_destroy(&m);
  pthread_mutexattr_destroy(&a);
  check(ok, "error-checking mutex: EDEADLK, EBUSY, EPERM");
}

static pthread_mutex_t cv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cv_stage, cv_woken;

static void* wait_stage(void* arg) {
  pthread_mutex_lock(&cv_lock);
  while (cv_stage == 0) pthread_cond_wait(&cv, &cv_lock);
  ++cv_woken;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&cv_lock);
  return arg;
}

static void condvars(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; ++i) pthread_create(&t[i], NULL, wait_stage, NULL);
  pthread_mutex_lock(&cv_lock);
  cv_stage = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&cv_lock);
  for (int i = 0; i < 4; ++i) pthread_join(t[i], NULL);
  check(cv_woken == 4, "condition variable: a broadcast wakes 4 waiters");

  pthread_condattr_t ca;
  pthread_cond_t c;
  struct timespec until;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c, &ca);
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_nsec += 50 * 1000 * 1000;
  if (until.tv_nsec >= 1000000000) until.tv_sec += 1, until.tv_nsec -= 1000000000;
  pthread_mutex_lock(&cv_lock);
  int rc = pthread_cond_timedwait(&c, &cv_lock, &until);
  pthread_mutex_unlock(&cv_lock);
  pthread_cond_destroy(&c);
  pthread_condattr_destroy(&ca);
  check(rc == ETIMEDOUT, "condition variable on CLOCK_MONOTONIC: timedwait times out");
}

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t barrier;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs;
static void run_once(void) { ++once_runs; }

static void* sync_worker(void* arg) {
  pthread_once(&once, run_once);
  pthread_rwlock_rdlock(&rw);
  pthread_barrier_wait(&barrier);  // every reader holds the lock at once
  pthread_rwlock_unlock(&rw);
  return arg;
}

static void other_sync(void) {
  pthread_t t[3];
  pthread_barrier_init(&barrier, NULL, 3);
  for (int i = 0; i < 3; ++i) pthread_create(&t[i], NULL, sync_worker, NULL);
  for (int i = 0; i < 3; ++i) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&barrier);
  int ok = pthread_rwlock_trywrlock(&rw) == 0 && pthread_rwlock_tryrdlock(&rw) == EBUSY &&
           pthread_rwlock_unlock(&rw) == 0;
  check(ok && once_runs == 1, "rwlock shared by 3 readers at a barrier, then written; once ran once");

  sem_t s;
  int value = -1;
  ok = sem_init(&s, 0, 0) == 0 && sem_post(&s) == 0 && sem_post(&s) == 0 &&
       sem_getvalue(&s, &value) == 0 && value == 2 && sem_wait(&s) == 0 && sem_trywait(&s) == 0 &&
       sem_trywait(&s) == -1 && errno == EAGAIN && sem_destroy(&s) == 0;
  check(ok, "unnamed semaphore: post, wait, trywait's EAGAIN");
}

static int cleanup_ran;
static void note_cleanup(void* arg) { cleanup_ran = *(int*)arg; }

static void* block_forever(void* arg) {
  int mark = 7;
  pthread_cleanup_push(note_cleanup, &mark);
  pthread_mutex_lock(&cv_lock);
  pthread_mutex_unlock(&cv_lock);
  for (;;) pause();  // a cancellation point
  pthread_cleanup_pop(0);
  return arg;
}

static void* exit_nested(void* arg) {
  int mark = 9;
  pthread_cleanup_push(note_cleanup, &mark);
  pthread_exit(arg);
  pthread_cleanup_pop(0);
  return NULL;
}

static void cancellation(void) {
  pthread_t t;
  void* r = NULL;
  pthread_create(&t, NULL, block_forever, NULL);
  usleep(20 * 1000);
  int ok = pthread_cancel(t) == 0 && pthread_join(t, &r) == 0;
  check(ok && r == PTHREAD_CANCELED && cleanup_ran == 7,
        "pthread_cancel of a thread in pause(): PTHREAD_CANCELED, its cleanup handler ran");
  ok = pthread_create(&t, NULL, exit_nested, (void*)42) == 0 && pthread_join(t, &r) == 0;
  check(ok && r == (void*)42 && cleanup_ran == 9, "pthread_exit: the value, and the cleanup handler");
}

static pthread_key_t key;
static int destructed[4];
static __thread int per_thread = -1;

static void destroy(void* value) { destructed[(long)value - 1] = 1; }

static void* set_specific(void* arg) {
  long i = (long)arg;
  per_thread = (int)i * 10;
  pthread_setspecific(key, (void*)(i + 1));
  usleep(1000);
  return (void*)(long)(per_thread == i * 10 && pthread_getspecific(key) == (void*)(i + 1));
}

static void thread_locals(void) {
  pthread_t t[4];
  void* r;
  int ok = pthread_key_create(&key, destroy) == 0;
  for (long i = 0; i < 4; ++i) ok &= pthread_create(&t[i], NULL, set_specific, (void*)i) == 0;
  for (int i = 0; i < 4; ++i) ok &= pthread_join(t[i], &r) == 0 && r == (void*)1;
  check(ok && per_thread == -1, "__thread and pthread_setspecific: one value per thread");
  check(destructed[0] && destructed[1] && destructed[2] && destructed[3],
        "pthread_key_create's destructor ran for each exiting thread");
  pthread_key_delete(key);
}

static int atfork_prepare, atfork_parent, atfork_child;
/* The usual pattern: the mutex another thread may hold is taken before the
 * fork and released on both sides, so the child's copy is never locked by a
 * thread the child does not have. */
static void on_prepare(void) {
  pthread_mutex_lock(&counter_lock);
  ++atfork_prepare;
}
static void on_parent(void) {
  ++atfork_parent;
  pthread_mutex_unlock(&counter_lock);
}
static void on_child(void) {
  ++atfork_child;
  pthread_mutex_unlock(&counter_lock);
}

static void* spin_lock(void* arg) {
  for (int i = 0; i < 20000; ++i) {
    pthread_mutex_lock(&counter_lock);
    pthread_mutex_unlock(&counter_lock);
  }
  return arg;
}

static int wait_status(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void fork_exec(const char* self) {
  pthread_t busy;
  /* qemu-user can hang a child forked while another thread runs (a lock of
   * its own; docs/testing.md): there the busy thread is done first. */
  const char* emulator = getenv("LAMBSHM_TEST_EMULATOR");
  pthread_atfork(on_prepare, on_parent, on_child);
  pthread_create(&busy, NULL, spin_lock, NULL);
  if (emulator != NULL) pthread_join(busy, NULL);
  pid_t pid = fork();
  if (pid == 0) {
    /* The child: the mutex another thread was using must be usable, and
     * threads must start. */
    pthread_t t;
    void* r = NULL;
    int ok = atfork_child == 1 && pthread_mutex_lock(&counter_lock) == 0 &&
             pthread_mutex_unlock(&counter_lock) == 0 &&
             pthread_create(&t, NULL, return_arg, (void*)5) == 0 && pthread_join(t, &r) == 0 &&
             r == (void*)5;
    _exit(ok ? 0 : 1);
  }
  int status = wait_status(pid);
  if (emulator == NULL) pthread_join(busy, NULL);
  check(status == 0 && atfork_prepare == 1 && atfork_parent == 1,
        emulator == NULL
            ? "fork beside a busy thread: atfork handlers, the mutex and a thread in the child"
            : "fork after a busy thread (not beside it under an emulator): atfork handlers, the "
              "mutex and a thread in the child");

  pid = fork();
  if (pid == 0) {
    execl(self, self, "exec", (char*)NULL);
    _exit(127);
  }
  check(wait_status(pid) == 0, "exec of itself: the new program starts a thread");
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "exec") == 0) {
    pthread_t t;
    void* r = NULL;
    return pthread_create(&t, NULL, return_arg, (void*)3) == 0 && pthread_join(t, &r) == 0 &&
                   r == (void*)3
               ? 0
               : 1;
  }
  create_join();
  attributes();
  mutexes();
  condvars();
  other_sync();
  cancellation();
  thread_locals();
  fork_exec(argv[0]);
  printf("1..%d\n", checks);
  return failures == 0 ? 0 : 1;
}
