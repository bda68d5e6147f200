/* An ordinary C program using librt's timers, message queues and clocks,
 * compiled in the Debian bullseye userland with its own gcc
 * (gcc -O2 -D_FORTIFY_SOURCE=2 rt_client.c -pthread -lrt -ldl): it knows
 * nothing of lambshm.
 *
 * "rt_client transcript" prints one line per check, deterministic results
 * only (return values, errno names, signal codes, values passed through), so
 * that the transcript with stock glibc 2.31's librt and with lambshm's librt
 * first in LD_LIBRARY_PATH can be compared line by line.  Exit status 0 when
 * every call behaved as POSIX and glibc document.
 * "rt_client where" prints which shared object defines each entry point.
 *
 * Covered: every notification kind of timers (SIGEV_NONE, SIGEV_SIGNAL,
 * SIGEV_THREAD, SIGEV_THREAD_ID, a null sigevent), overruns, the old x86_64
 * timer ABI (timer_*@GLIBC_2.2.5) and librt's clock_*@GLIBC_2.2.5 as a
 * program linked before glibc 2.17 binds them, mq_* with every
 * notification kind, errors, cancellation, and the fortify check of
 * __mq_open_2.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "symver.h"  /* core/symver.h, copied beside this file */

#if defined(__x86_64__)
/* What a program linked before glibc 2.17 (clock_*) and 2.3.3 (timers)
 * references: librt's oldest versions. */
#define OLD_ABI 1
int old_clock_gettime(clockid_t, struct timespec*);
int old_clock_getres(clockid_t, struct timespec*);
int old_clock_nanosleep(clockid_t, int, const struct timespec*, struct timespec*);
int old_clock_getcpuclockid(pid_t, clockid_t*);
int old_clock_settime(clockid_t, const struct timespec*);
int old_timer_create(clockid_t, struct sigevent*, int*);
int old_timer_delete(int);
int old_timer_settime(int, int, const struct itimerspec*, struct itimerspec*);
int old_timer_gettime(int, struct itimerspec*);
int old_timer_getoverrun(int);
LAMBSHM_SYMVER(old_clock_gettime, "clock_gettime@GLIBC_2.2.5");
LAMBSHM_SYMVER(old_clock_getres, "clock_getres@GLIBC_2.2.5");
LAMBSHM_SYMVER(old_clock_nanosleep, "clock_nanosleep@GLIBC_2.2.5");
LAMBSHM_SYMVER(old_clock_getcpuclockid, "clock_getcpuclockid@GLIBC_2.2.5");
LAMBSHM_SYMVER(old_clock_settime, "clock_settime@GLIBC_2.2.5");
LAMBSHM_SYMVER(old_timer_create, "timer_create@GLIBC_2.2.5");
LAMBSHM_SYMVER(old_timer_delete, "timer_delete@GLIBC_2.2.5");
LAMBSHM_SYMVER(old_timer_settime, "timer_settime@GLIBC_2.2.5");
LAMBSHM_SYMVER(old_timer_gettime, "timer_gettime@GLIBC_2.2.5");
LAMBSHM_SYMVER(old_timer_getoverrun, "timer_getoverrun@GLIBC_2.2.5");
#endif

static int failures;

static const char* err_name(int e) {
  switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EBUSY: return "EBUSY";
    case EMSGSIZE: return "EMSGSIZE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ESRCH: return "ESRCH";
    case EPERM: return "EPERM";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return "other";
  }
}

/* One transcript line; `ok` is what POSIX/glibc say must hold. */
static void line(int ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(int ok, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("%s\n", ok ? "" : "  <-- unexpected");
  if (!ok) failures++;
  fflush(stdout);
}

/* The user-mode emulator this runs under (rt_client_test.sh sets
 * LAMBSHM_TEST_EMULATOR when the sandbox runs another architecture), or
 * NULL.  Only to skip, with a "SKIP: " line, a check it cannot emulate. */
static const char* emulator;

static void skip(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void skip(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("SKIP: %s ", emulator);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
}

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }
static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

static int wait_signal(int sig, siginfo_t* info) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  struct timespec limit = {30, 0};
  return sigtimedwait(&set, info, &limit);
}

static void block(int sig) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* Polls until *flag is set, for at most 30 s. */
static int await(volatile int* flag) {
  for (int i = 0; i < 30000 && !*flag; i++) usleep(1000);
  return *flag;
}

/* --- clocks --------------------------------------------------------------- */

static void clocks(void) {
  struct timespec ts, res;
  int r = clock_getres(CLOCK_MONOTONIC, &res);
  line(r == 0 && ns(res) > 0, "clock_getres(MONOTONIC) = %d", r);
  r = clock_gettime(CLOCK_MONOTONIC, &ts);
  line(r == 0, "clock_gettime(MONOTONIC) = %d", r);
  r = clock_gettime(12345, &ts);
  line(r == -1 && errno == EINVAL, "clock_gettime(12345) = %d %s", r, err_name(errno));
  struct timespec bad = {0, 1000000000};
  r = clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL);
  line(r == EINVAL, "clock_nanosleep(bad ns) = %s", err_name(r));
#ifdef OLD_ABI
  r = old_clock_getres(CLOCK_REALTIME, &res);
  line(r == 0, "clock_getres@GLIBC_2.2.5(REALTIME) = %d", r);
  struct timespec a, b, c;
  clock_gettime(CLOCK_MONOTONIC, &a);
  r = old_clock_gettime(CLOCK_MONOTONIC, &b);
  clock_gettime(CLOCK_MONOTONIC, &c);
  line(r == 0 && ns(a) <= ns(b) && ns(b) <= ns(c), "clock_gettime@GLIBC_2.2.5 = %d, in order %d",
       r, ns(a) <= ns(b) && ns(b) <= ns(c));
  r = old_clock_gettime(-1, &b);
  line(r == -1 && errno == EINVAL, "clock_gettime@GLIBC_2.2.5(-1) = %d %s", r, err_name(errno));
  struct timespec zero = {0, 0};
  r = old_clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &zero, NULL);
  line(r == 0, "clock_nanosleep@GLIBC_2.2.5(past) = %d", r);
  r = old_clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &zero, NULL);
  line(r == EINVAL, "clock_nanosleep@GLIBC_2.2.5(thread cpu) = %s", err_name(r));
  clockid_t cpu;
  r = old_clock_getcpuclockid(getpid(), &cpu);
  line(r == 0 && old_clock_gettime(cpu, &b) == 0, "clock_getcpuclockid@GLIBC_2.2.5(self) = %d", r);
  r = old_clock_getcpuclockid(4194314, &cpu);
  line(r == ESRCH, "clock_getcpuclockid@GLIBC_2.2.5(no such pid) = %s", err_name(r));
  r = old_clock_settime(CLOCK_MONOTONIC, &zero);
  line(r == -1 && errno == EINVAL, "clock_settime@GLIBC_2.2.5(MONOTONIC) = %d %s", r,
       err_name(errno));
  clock_gettime(CLOCK_REALTIME, &a);
  r = old_clock_settime(CLOCK_REALTIME, &a); /* uid 993 in the sandbox */
  line(r == -1 && errno == EPERM, "clock_settime@GLIBC_2.2.5(REALTIME) unprivileged = %d %s", r,
       err_name(errno));
#endif
}

/* --- timers --------------------------------------------------------------- */

static volatile int thread_calls, thread_value, thread_detached, thread_elsewhere;
static pthread_t main_thread;

static void on_timer(union sigval v) {
  pthread_attr_t attr;
  int state = -1;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getdetachstate(&attr, &state);
    pthread_attr_destroy(&attr);
  }
  thread_detached = state == PTHREAD_CREATE_DETACHED;
  thread_elsewhere = !pthread_equal(pthread_self(), main_thread);
  thread_value = v.sival_int;
  __sync_fetch_and_add(&thread_calls, 1);
}

struct receiver {
  volatile pid_t tid;
  int sig, got, code, value;
};

static void* receive_one(void* p) {
  struct receiver* r = p;
  block(r->sig);
  r->tid = tid();
  siginfo_t info;
  r->got = wait_signal(r->sig, &info);
  r->code = info.si_code;
  r->value = info.si_value.sival_int;
  return NULL;
}

static void timers(void) {
  struct sigevent ev;
  timer_t t;
  struct itimerspec v, arm = {{0, 0}, {100, 0}}, soon = {{0, 0}, {0, 1000000}};

  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_NONE;
  int r = timer_create(CLOCK_MONOTONIC, &ev, &t);
  line(r == 0, "timer_create(NONE) = %d", r);
  r = timer_settime(t, 0, &arm, NULL);
  line(r == 0, "timer_settime = %d", r);
  r = timer_gettime(t, &v);
  line(r == 0 && ns(v.it_value) > 0 && ns(v.it_value) <= ns(arm.it_value),
       "timer_gettime = %d, within bounds", r);
  r = timer_getoverrun(t);
  line(r == 0, "timer_getoverrun = %d", r);
  struct itimerspec badv = {{0, 0}, {0, 1000000000}};
  r = timer_settime(t, 0, &badv, NULL);
  line(r == -1 && errno == EINVAL, "timer_settime(bad ns) = %d %s", r, err_name(errno));
  r = timer_delete(t);
  line(r == 0, "timer_delete = %d", r);
  r = timer_delete(t);
  line(r == -1 && errno == EINVAL, "timer_delete again = %d %s", r, err_name(errno));
  r = timer_create(12345, &ev, &t);
  line(r == -1 && errno == EINVAL, "timer_create(bad clock) = %d %s", r, err_name(errno));
  ev.sigev_notify = 99;
  r = timer_create(CLOCK_MONOTONIC, &ev, &t);
  line(r == -1 && errno == EINVAL, "timer_create(bad notify) = %d %s", r, err_name(errno));

  /* SIGEV_SIGNAL, then a null sigevent (SIGALRM with the timer id). */
  int sig = SIGRTMIN + 1;
  block(sig);
  block(SIGALRM);
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = sig;
  ev.sigev_value.sival_int = 1234;
  timer_create(CLOCK_MONOTONIC, &ev, &t);
  timer_settime(t, 0, &soon, NULL);
  siginfo_t info;
  r = wait_signal(sig, &info);
  line(r == sig && info.si_code == SI_TIMER && info.si_value.sival_int == 1234,
       "SIGEV_SIGNAL: signal %d, SI_TIMER %d, value %d", r - SIGRTMIN, info.si_code == SI_TIMER,
       info.si_value.sival_int);
  timer_delete(t);
  timer_create(CLOCK_REALTIME, NULL, &t);
  timer_settime(t, 0, &soon, NULL);
  r = wait_signal(SIGALRM, &info);
  if (emulator != NULL) {
    /* lambshm leaves the value to the kernel (the timer id); qemu-user gives
     * the guest an id of its own and delivers the host's. */
    line(r == SIGALRM, "null sigevent: SIGALRM %d", r == SIGALRM);
    skip("cannot give a timer created without a sigevent its id as the signal's value");
  } else {
    line(r == SIGALRM && info.si_value.sival_ptr == t,
         "null sigevent: SIGALRM %d, value is the id %d", r == SIGALRM,
         info.si_value.sival_ptr == t);
  }
  timer_delete(t);

  /* Overrun: a 1 ms timer while its first signal stays pending 50 ms. */
  ev.sigev_value.sival_int = 0;
  timer_create(CLOCK_MONOTONIC, &ev, &t);
  struct itimerspec every_ms = {{0, 1000000}, {0, 1000000}};
  timer_settime(t, 0, &every_ms, NULL);
  struct timespec pause_ = {0, 50000000};
  nanosleep(&pause_, NULL);
  wait_signal(sig, &info);
  r = timer_getoverrun(t);
  line(r >= 1, "overrun >= 1: %d", r >= 1);
  timer_delete(t);

  /* SIGEV_THREAD_ID: to one other thread. */
  struct receiver rec = {0, SIGRTMIN + 2, 0, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, receive_one, &rec);
  while (rec.tid == 0) usleep(100);
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD_ID;
  ev.sigev_signo = rec.sig;
  ev.sigev_value.sival_int = 55;
  ev._sigev_un._tid = rec.tid;
  r = timer_create(CLOCK_MONOTONIC, &ev, &t);
  timer_settime(t, 0, &soon, NULL);
  pthread_join(th, NULL);
  line(r == 0 && rec.got == rec.sig && rec.code == SI_TIMER && rec.value == 55,
       "SIGEV_THREAD_ID: create %d, received %d, value %d", r, rec.got == rec.sig, rec.value);
  timer_delete(t);

  /* SIGEV_THREAD, with attributes. */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1 << 20);
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = on_timer;
  ev.sigev_notify_attributes = &attr;
  ev.sigev_value.sival_int = 77;
  r = timer_create(CLOCK_MONOTONIC, &ev, &t);
  pthread_attr_destroy(&attr);
  timer_settime(t, 0, &soon, NULL);
  await(&thread_calls);
  line(r == 0 && thread_calls == 1 && thread_value == 77 && thread_detached && thread_elsewhere,
       "SIGEV_THREAD: create %d, calls %d, value %d, detached %d, another thread %d", r,
       thread_calls, thread_value, thread_detached, thread_elsewhere);
  r = timer_delete(t);
  line(r == 0, "timer_delete(THREAD) = %d", r);

#ifdef OLD_ABI
  int old;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_NONE;
  r = old_timer_create(CLOCK_MONOTONIC, &ev, &old);
  line(r == 0 && old == 0, "timer_create@GLIBC_2.2.5 = %d, id %d", r, old);
  r = old_timer_settime(old, 0, &arm, NULL);
  line(r == 0, "timer_settime@GLIBC_2.2.5 = %d", r);
  r = old_timer_gettime(old, &v);
  line(r == 0 && ns(v.it_value) > 0 && ns(v.it_value) <= ns(arm.it_value),
       "timer_gettime@GLIBC_2.2.5 = %d, within bounds", r);
  r = old_timer_getoverrun(old);
  line(r == 0, "timer_getoverrun@GLIBC_2.2.5 = %d", r);
  r = old_timer_delete(old);
  line(r == 0, "timer_delete@GLIBC_2.2.5 = %d", r);
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = on_timer;
  ev.sigev_value.sival_int = 78;
  r = old_timer_create(CLOCK_MONOTONIC, &ev, &old);
  old_timer_settime(old, 0, &soon, NULL);
  await(&thread_calls); /* already 1: wait for the second */
  for (int i = 0; i < 30000 && thread_calls < 2; i++) usleep(1000);
  line(r == 0 && thread_calls == 2 && thread_value == 78,
       "timer_create@GLIBC_2.2.5(THREAD) = %d, id %d, value %d", r, old, thread_value);
  old_timer_delete(old);
#endif
}

/* --- message queues ----------------------------------------------------- */

static volatile int mq_thread_value, mq_thread_calls;
static void on_message(union sigval v) {
  mq_thread_value = v.sival_int;
  mq_thread_calls++;
}

static void* blocked_receive(void* p) {
  char buf[64];
  mq_receive(*(mqd_t*)p, buf, sizeof buf, NULL);
  return (void*)1;
}

/* mq_notify of every kind on an empty queue `q`; `none` is SIGEV_NONE. */
static void notifications(mqd_t q, struct sigevent* none) {
  char buf[64];
  int sig = SIGRTMIN + 3;
  block(sig);
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = sig;
  ev.sigev_value.sival_int = 5;
  int r = mq_notify(q, &ev);
  int busy = mq_notify(q, none);
  line(r == 0 && busy == -1 && errno == EBUSY, "mq_notify(SIGNAL) = %d, again %d %s", r, busy,
       err_name(errno));
  mq_send(q, "x", 1, 0);
  siginfo_t info;
  r = wait_signal(sig, &info);
  line(r == sig && info.si_code == SI_MESGQ && info.si_value.sival_int == 5,
       "notified by signal: SI_MESGQ %d, value %d", info.si_code == SI_MESGQ,
       info.si_value.sival_int);
  mq_receive(q, buf, sizeof buf, NULL);
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD;
  ev.sigev_notify_function = on_message;
  ev.sigev_value.sival_int = 6;
  r = mq_notify(q, &ev);
  mq_send(q, "y", 1, 0);
  await(&mq_thread_calls);
  line(r == 0 && mq_thread_calls == 1 && mq_thread_value == 6,
       "mq_notify(THREAD) = %d, calls %d, value %d", r, mq_thread_calls, mq_thread_value);
  r = mq_notify(q, &ev);
  int removed = mq_notify(q, NULL);
  int replaced = mq_notify(q, none);
  line(r == 0 && removed == 0 && replaced == 0, "mq_notify(THREAD) %d, removed %d, replaced %d", r,
       removed, replaced);
  mq_receive(q, buf, sizeof buf, NULL);
}

static void queues(void) {
  char name[64], buf[64];
  snprintf(name, sizeof name, "/rt-client-%d", (int)getpid());
  struct mq_attr attr = {0, 4, 32, 0}, got;
  unsigned prio;

  mqd_t q = mq_open("noslash", O_RDWR | O_CREAT, 0600, &attr);
  line(q == -1 && errno == EINVAL, "mq_open(noslash) = %d %s", q, err_name(errno));
  q = mq_open("/", O_RDWR | O_CREAT, 0600, &attr);
  line(q == -1 && errno == ENOENT, "mq_open(/) = %d %s", q, err_name(errno));
  q = mq_open("/a/b", O_RDWR | O_CREAT, 0600, &attr);
  line(q == -1 && errno == EACCES, "mq_open(/a/b) = %d %s", q, err_name(errno));
  q = mq_open(name, O_RDWR);
  line(q == -1 && errno == ENOENT, "mq_open(missing) = %d %s", q, err_name(errno));
  struct mq_attr zero = {0, 0, 32, 0};
  q = mq_open(name, O_RDWR | O_CREAT, 0600, &zero);
  line(q == -1 && errno == EINVAL, "mq_open(maxmsg 0) = %d %s", q, err_name(errno));

  q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
  line(q >= 0, "mq_open(create) ok %d", q >= 0);
  mqd_t again = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
  line(again == -1 && errno == EEXIST, "mq_open(excl again) = %d %s", again, err_name(errno));

  int r = mq_getattr(q, &got);
  line(r == 0 && got.mq_maxmsg == 4 && got.mq_msgsize == 32 && got.mq_curmsgs == 0,
       "mq_getattr = %d, maxmsg %ld msgsize %ld curmsgs %ld", r, got.mq_maxmsg, got.mq_msgsize,
       got.mq_curmsgs);
  mq_send(q, "low", 3, 1);
  mq_send(q, "high", 4, 9);
  r = mq_send(q, buf, 33, 0);
  line(r == -1 && errno == EMSGSIZE, "mq_send(too big) = %d %s", r, err_name(errno));
  r = mq_send(q, buf, 1, MQ_PRIO_MAX);
  line(r == -1 && errno == EINVAL, "mq_send(prio MQ_PRIO_MAX) = %d %s", r, err_name(errno));
  ssize_t n = mq_receive(q, buf, 31, NULL);
  line(n == -1 && errno == EMSGSIZE, "mq_receive(small buffer) = %zd %s", n, err_name(errno));
  n = mq_receive(q, buf, sizeof buf, &prio);
  line(n == 4 && prio == 9 && memcmp(buf, "high", 4) == 0, "mq_receive = %zd \"%.*s\" prio %u", n,
       (int)(n > 0 ? n : 0), buf, prio);
  n = mq_receive(q, buf, sizeof buf, &prio);
  line(n == 3 && prio == 1, "mq_receive = %zd \"%.*s\" prio %u", n, (int)(n > 0 ? n : 0), buf, prio);
  struct timespec past = {1, 0};
  n = mq_timedreceive(q, buf, sizeof buf, NULL, &past);
  line(n == -1 && errno == ETIMEDOUT, "mq_timedreceive(empty, past) = %zd %s", n, err_name(errno));
  struct mq_attr nb = {O_NONBLOCK, 0, 0, 0}, old;
  r = mq_setattr(q, &nb, &old);
  n = mq_receive(q, buf, sizeof buf, NULL);
  line(r == 0 && old.mq_flags == 0 && n == -1 && errno == EAGAIN,
       "mq_setattr(O_NONBLOCK) = %d, then mq_receive %zd %s", r, n, err_name(errno));
  nb.mq_flags = 0;
  mq_setattr(q, &nb, NULL);

  /* Notification: SIGEV_SIGNAL (with SIGEV_NONE's EBUSY), then SIGEV_THREAD. */
  struct sigevent none;
  memset(&none, 0, sizeof none);
  none.sigev_notify = SIGEV_NONE;
  if (emulator != NULL && mq_notify(q, NULL) == -1 && errno == ENOSYS)
    skip("cannot register a notification: mq_notify fails with ENOSYS there");
  else
    notifications(q, &none);

  /* Cancellation point: a thread blocked in mq_receive. */
  pthread_t th;
  void* result = NULL;
  pthread_create(&th, NULL, blocked_receive, &q);
  pthread_cancel(th);
  pthread_join(th, &result);
  line(result == PTHREAD_CANCELED, "mq_receive cancelled %d", result == PTHREAD_CANCELED);

  /* __mq_open_2: what mq_open(name, oflag) becomes under _FORTIFY_SOURCE. */
  volatile int oflag = O_RDONLY;
  mqd_t q2 = mq_open(name, oflag);
  line(q2 >= 0, "mq_open(name, O_RDONLY) [fortified] ok %d", q2 >= 0);
  mq_close(q2);
  int fds[2];
  if (pipe(fds) == 0) {
    pid_t child = fork();
    if (child == 0) {
      dup2(fds[1], 2);
      oflag = O_RDWR | O_CREAT;
      mq_open(name, oflag); /* fatal */
      _exit(0);
    }
    close(fds[1]);
    char msg[512] = {0};
    ssize_t len = 0, k;
    while ((k = read(fds[0], msg + len, sizeof msg - 1 - len)) > 0) len += k;
    close(fds[0]);
    int status;
    waitpid(child, &status, 0);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    int said = strstr(msg, "*** invalid mq_open call: O_CREAT without mode and attr ***") != NULL;
    line(aborted && said, "mq_open(name, O_CREAT) [fortified]: SIGABRT %d, message %d", aborted,
         said);
  }

  r = mq_close(q);
  line(r == 0, "mq_close = %d", r);
  r = mq_close(q);
  line(r == -1 && errno == EBADF, "mq_close again = %d %s", r, err_name(errno));
  r = mq_unlink(name);
  line(r == 0, "mq_unlink = %d", r);
  r = mq_unlink(name);
  line(r == -1 && errno == ENOENT, "mq_unlink again = %d %s", r, err_name(errno));
  r = mq_unlink("noslash");
  line(r == -1 && errno == EINVAL, "mq_unlink(noslash) = %d %s", r, err_name(errno));
}

static void where(void) {
  const void* fns[] = {(void*)timer_create, (void*)mq_open, (void*)mq_notify};
  const char* names[] = {"timer_create", "mq_open", "mq_notify"};
  for (int i = 0; i < 3; i++) {
    Dl_info info;
    dladdr(fns[i], &info);
    printf("%s %s\n", names[i], info.dli_fname);
  }
#ifdef OLD_ABI
  Dl_info info;
  dladdr((void*)old_clock_gettime, &info);
  printf("clock_gettime@GLIBC_2.2.5 %s\n", info.dli_fname);
  dladdr((void*)old_timer_create, &info);
  printf("timer_create@GLIBC_2.2.5 %s\n", info.dli_fname);
#endif
}

int main(int argc, char** argv) {
  main_thread = pthread_self();
  emulator = getenv("LAMBSHM_TEST_EMULATOR");
  if (emulator != NULL && *emulator == '\0') emulator = NULL;
  if (argc > 1 && strcmp(argv[1], "where") == 0) {
    where();
    return 0;
  }
  clocks();
  timers();
  queues();
  printf("rt_client: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
