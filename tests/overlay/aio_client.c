/* An ordinary C program using POSIX asynchronous I/O, compiled in the Debian
 * bullseye userland with its own gcc (gcc aio_client.c -pthread -lrt -ldl):
 * it knows nothing of lambshm.  It prints a transcript of deterministic
 * observations (results, errno names, aiocb fields, data, notifications) and
 * ends with "aio-client: ok"; the line "librt: PATH" says which librt.so.1
 * served it.  Run once with stock glibc 2.31 and once with lambshm's librt
 * first in the search path, the transcripts must be equal.
 *
 * What it does: reads and writes at offsets; aio_fsync; errors refused at
 * submission and errors reported later; aio_suspend's returns; aio_cancel of
 * running, queued and finished requests; one descriptor's queue ordered by
 * aio_reqprio; SIGEV_SIGNAL and SIGEV_THREAD notifications; lio_listio in
 * both modes, and on x86_64 the GLIBC_2.2.5 lio_listio (reached with dlvsym),
 * which notifies only the list.
 * A request that must stay pending reads from an empty pipe until the
 * program writes to it; nothing depends on timing.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

static const char* err_name(int e) {
  switch (e) {
    case 0: return "0";
    case EINPROGRESS: return "EINPROGRESS";
    case ECANCELED: return "ECANCELED";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EIO: return "EIO";
    case EINTR: return "EINTR";
    default: {
      static char buf[32];
      snprintf(buf, sizeof buf, "errno %d", e);
      return buf;
    }
  }
}

/* A call's result, and errno when it failed. */
#define CALL(expr)                                                             \
  do {                                                                         \
    errno = 0;                                                                 \
    long r_ = (long)(expr);                                                    \
    printf("%s = %ld%s%s\n", #expr, r_, r_ == -1 ? " " : "",                   \
           r_ == -1 ? err_name(errno) : "");                                   \
  } while (0)

static void show(const char* what, struct aiocb* cb) {
  int e = aio_error(cb);
  printf("%s: error %s", what, err_name(e));
  if (e != EINPROGRESS) printf(", return %ld", (long)aio_return(cb));
  printf(", opcode %d, reqprio %d, notify %d\n", cb->aio_lio_opcode, cb->aio_reqprio,
         cb->aio_sigevent.sigev_notify);
}

static void check(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "aio-client: %s\n", what);
    ++failures;
  }
}

static void wait_for(struct aiocb* cb) {
  const struct aiocb* list[1] = {cb};
  while (aio_error(cb) == EINPROGRESS) aio_suspend(list, 1, NULL);
}

/* The number /proc/PID/syscall shows for a task blocked in read(2): the
 * system call the kernel is serving, which under a user-mode emulator is the
 * emulator's own, of the host architecture (qemu-aarch64 on x86_64 shows
 * x86_64's read, 0, not aarch64's 63).  Learned once from a child blocked in
 * read: the pipe's number and the call, the same twice in a row. */
static long read_number(void) {
  static long number = -1;
  if (number >= 0) return number;
  number = SYS_read;
  int fds[2];
  if (pipe(fds) != 0) return number;
  pid_t child = fork();
  if (child == 0) {
    char c;
    close(fds[1]);
    _exit(read(fds[0], &c, 1) == 1 ? 0 : 1);
  }
  close(fds[0]);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/syscall", (int)child);
  long last = -1;
  for (int i = 0; child > 0 && i < 3000; ++i) {
    long nr = -1;
    unsigned long arg0 = 0;
    FILE* f = fopen(path, "r");
    if (f != NULL) {
      if (fscanf(f, "%ld %lx", &nr, &arg0) != 2 || arg0 != (unsigned long)fds[0]) nr = -1;
      fclose(f);
    }
    if (nr >= 0 && nr == last) {
      number = nr;
      break;
    }
    last = nr;
    usleep(10000);
  }
  if (child > 0) {
    if (write(fds[1], "x", 1) != 1) kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  close(fds[1]);
  return number;
}

/* Whether a thread of ours is blocked in read(fd): the request has a worker. */
static int blocked_in_read(int fd) {
  long read_nr = read_number();
  DIR* d = opendir("/proc/self/task");
  struct dirent* e;
  int found = 0;
  while (d != NULL && (e = readdir(d)) != NULL && !found) {
    char path[300];
    long nr = -1;
    unsigned long arg0 = 0;
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
    FILE* f = fopen(path, "r");
    if (f == NULL) continue;
    if (fscanf(f, "%ld %lx", &nr, &arg0) == 2 && nr == read_nr && arg0 == (unsigned long)fd)
      found = 1;
    fclose(f);
  }
  if (d != NULL) closedir(d);
  return found;
}

static void wait_running(int fd) {
  for (int i = 0; i < 6000 && !blocked_in_read(fd); ++i) usleep(10000);
  check(blocked_in_read(fd), "no worker blocked in read on the pipe within 60 s");
}

static struct aiocb cb_for(int fd, volatile void* buf, size_t n, off_t off, int opcode) {
  struct aiocb cb;
  memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_buf = buf;
  cb.aio_nbytes = n;
  cb.aio_offset = off;
  cb.aio_lio_opcode = opcode;
  cb.aio_sigevent.sigev_notify = SIGEV_NONE;
  return cb;
}

static int sig_list, sig_entry;

/* Signals of `sig` queued now, as "[code value]..." (and takes them). */
static const char* queued(int sig) {
  static char out[512];
  sigset_t set;
  siginfo_t info;
  struct timespec zero = {0, 0};
  out[0] = '\0';
  sigemptyset(&set);
  sigaddset(&set, sig);
  while (sigtimedwait(&set, &info, &zero) == sig) {
    size_t n = strlen(out);
    snprintf(out + n, sizeof out - n, "[%d %d%s]", info.si_code, info.si_value.sival_int,
             info.si_pid == getpid() ? "" : " other pid");
  }
  return out;
}

static int take(int sig, siginfo_t* info) {
  sigset_t set;
  struct timespec wait = {60, 0};
  sigemptyset(&set);
  sigaddset(&set, sig);
  return sigtimedwait(&set, info, &wait) == sig;
}

/* A new, already unlinked file in /tmp. */
static int temp_file(void) {
  char name[] = "/tmp/aio-client-XXXXXX";
  int fd = mkstemp(name);
  if (fd < 0) {
    perror("mkstemp");
    exit(2);
  }
  unlink(name);
  return fd;
}

static void files(void) {
  printf("-- files\n");
  int fd = temp_file();
  static char data[] = "0123456789", back[11];
  struct aiocb w = cb_for(fd, data, 10, 3, 0), r = cb_for(fd, back, 10, 5, 77);
  w.aio_reqprio = 2;
  CALL(aio_write(&w));
  wait_for(&w);
  show("write", &w);
  CALL(aio_read(&r));
  wait_for(&r);
  show("read", &r);
  printf("data %s\n", back);
  struct aiocb s = cb_for(fd, NULL, 0, 0, 0);
  s.aio_reqprio = 9;
  CALL(aio_fsync(O_SYNC, &s));
  wait_for(&s);
  show("fsync", &s);
  CALL(aio_fsync(O_DSYNC, &s));
  wait_for(&s);
  show("fdatasync", &s);
  CALL(aio_fsync(0, &s));
  int ro = dup(fd);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  close(ro);
  ro = open(path, O_RDONLY);
  s.aio_fildes = ro;
  CALL(aio_fsync(O_DSYNC, &s));
  wait_for(&s);
  show("fsync of a read-only descriptor", &s);
  s.aio_fildes = 987654;
  CALL(aio_fsync(O_SYNC, &s));
  close(ro);

  struct aiocb bad = cb_for(fd, back, 1, 0, 0);
  bad.aio_reqprio = -1;
  CALL(aio_read(&bad));
  show("negative reqprio", &bad);
  bad.aio_reqprio = 0;
  bad.aio_fildes = 987654;
  CALL(aio_read(&bad));
  wait_for(&bad);
  show("bad descriptor", &bad);
  bad.aio_fildes = fd;
  bad.aio_offset = -1;
  CALL(aio_write(&bad));
  wait_for(&bad);
  show("negative offset", &bad);
  bad.aio_offset = 0;
  bad.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  bad.aio_sigevent.sigev_signo = 100;
  CALL(aio_write(&bad));
  wait_for(&bad);
  show("signal number 100", &bad);
  close(fd);
}

static void pipes(void) {
  printf("-- pipes\n");
  int p[2];
  if (pipe(p) != 0) exit(2);
  static char got[6];
  int prios[6] = {0, 5, 0, 3, 0, 20};
  struct aiocb cbs[6];
  for (int i = 0; i < 6; ++i) {
    cbs[i] = cb_for(p[0], &got[i], 1, 1000, 0);
    cbs[i].aio_reqprio = prios[i];
    CALL(aio_read(&cbs[i]));
  }
  wait_running(p[0]);
  const struct aiocb* list[3] = {NULL, &cbs[5], &cbs[0]};
  struct timespec zero = {0, 0}, tiny = {0, 10000000};
  CALL(aio_suspend(list, 3, &zero));
  CALL(aio_suspend(list, 3, &tiny));
  CALL(aio_suspend(list, -1, NULL));
  CALL(aio_suspend(list, 1, NULL));
  CALL(write(p[1], "ABCDEF", 6));
  for (int i = 0; i < 6; ++i) wait_for(&cbs[i]);
  printf("order %.6s\n", got);
  CALL(aio_suspend(list, 3, NULL));

  printf("-- cancel\n");
  static char c[4];
  CALL(aio_cancel(987654, NULL));
  CALL(aio_cancel(p[0], NULL));
  for (int i = 0; i < 4; ++i) {
    cbs[i] = cb_for(p[0], &c[i], 1, 0, 0);
    CALL(aio_read(&cbs[i]));
  }
  cbs[2].aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  cbs[2].aio_sigevent.sigev_signo = sig_entry;
  cbs[2].aio_sigevent.sigev_value.sival_int = 2;
  wait_running(p[0]);
  CALL(aio_cancel(p[1], &cbs[1]));
  CALL(aio_cancel(p[0], &cbs[0]));
  CALL(aio_cancel(p[0], &cbs[2]));
  show("canceled", &cbs[2]);
  printf("its signal %s\n", queued(sig_entry));
  CALL(aio_cancel(p[0], &cbs[2]));
  CALL(aio_cancel(p[0], NULL));
  show("canceled with the rest", &cbs[3]);
  show("running", &cbs[0]);
  CALL(write(p[1], "Z", 1));
  wait_for(&cbs[0]);
  show("finished", &cbs[0]);
  printf("data %c\n", c[0]);
  CALL(aio_cancel(p[0], &cbs[0]));
  close(p[0]);
  close(p[1]);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int called;
static char callback_saw[128];

static void callback(union sigval value) {
  /* glibc runs this with no signal blocked: keep the process-directed
     notifications of later requests for the main thread. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  struct aiocb* cb = value.sival_ptr;
  pthread_mutex_lock(&lock);
  snprintf(callback_saw, sizeof callback_saw, "error %s return %ld", err_name(aio_error(cb)),
           (long)aio_return(cb));
  ++called;
  pthread_cond_signal(&cond);
  pthread_mutex_unlock(&lock);
}

static void wait_called(int n) {
  pthread_mutex_lock(&lock);
  while (called < n) pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
}

static void notifications(void) {
  printf("-- notifications\n");
  int fd = temp_file();
  static char data[] = "abcd";
  struct aiocb w = cb_for(fd, data, 4, 0, 0);
  w.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  w.aio_sigevent.sigev_signo = sig_entry;
  w.aio_sigevent.sigev_value.sival_int = 99;
  CALL(aio_write(&w));
  siginfo_t info;
  check(take(sig_entry, &info), "no SIGEV_SIGNAL notification");
  printf("signal code %d value %d %s, then %s\n", info.si_code, info.si_value.sival_int,
         info.si_pid == getpid() ? "from us" : "from elsewhere", err_name(aio_error(&w)));

  struct aiocb t = cb_for(fd, data, 4, 4, 0);
  t.aio_sigevent.sigev_notify = SIGEV_THREAD;
  t.aio_sigevent.sigev_notify_function = callback;
  t.aio_sigevent.sigev_value.sival_ptr = &t;
  CALL(aio_write(&t));
  wait_called(1);
  printf("callback saw %s\n", callback_saw);
  close(fd);
}

typedef int (*lio_fn)(int, struct aiocb* const[], int, struct sigevent*);

static void lists(const char* title, lio_fn lio) {
  printf("-- %s\n", title);
  int fd = temp_file();
  static char x[] = "XXXX", y[] = "YYYY", back[9];
  struct aiocb w1 = cb_for(fd, x, 4, 0, LIO_WRITE), nop = cb_for(fd, y, 4, 50, LIO_NOP);
  struct aiocb w2 = cb_for(fd, y, 4, 4, LIO_WRITE);
  struct aiocb* none[1] = {NULL};
  CALL(lio(2, none, 1, NULL));
  CALL(lio(LIO_WAIT | 128, none, 1, NULL));
  int value = 10;
  struct aiocb* entries[3] = {&w1, &nop, &w2};
  for (int i = 0; i < 3; ++i) {
    entries[i]->aio_sigevent.sigev_notify = SIGEV_SIGNAL;
    entries[i]->aio_sigevent.sigev_signo = sig_entry;
    entries[i]->aio_sigevent.sigev_value.sival_int = value++;
  }
  struct aiocb* list[4] = {&w1, NULL, &nop, &w2};
  CALL(lio(LIO_WAIT, list, 4, NULL));
  show("w1", &w1);
  show("nop", &nop);
  show("w2", &w2);
  printf("entry signals %s\n", queued(sig_entry));

  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = sig_list;
  sev.sigev_value.sival_int = 7;
  w1.aio_sigevent.sigev_notify = w2.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
  CALL(lio(LIO_NOWAIT, list, 4, &sev));
  printf("w1 notify after submission %d, nop %d\n", w1.aio_sigevent.sigev_notify,
         nop.aio_sigevent.sigev_notify);
  siginfo_t info;
  check(take(sig_list, &info), "no list notification");
  printf("list signal code %d value %d\n", info.si_code, info.si_value.sival_int);
  show("w1", &w1);
  show("w2", &w2);
  printf("entry signals %s\n", queued(sig_entry));

  struct aiocb* nops[1] = {&nop};
  CALL(lio(LIO_NOWAIT, nops, 1, &sev));
  printf("nothing submitted: list signals %s\n", queued(sig_list));

  struct aiocb r = cb_for(fd, back, 8, 0, LIO_READ), bad = cb_for(987654, back, 1, 0, LIO_READ);
  struct aiocb odd = cb_for(fd, back, 1, 0, 42);
  struct aiocb* mixed[3] = {&r, &bad, &odd};
  CALL(lio(LIO_WAIT, mixed, 3, NULL));
  show("read", &r);
  printf("read back %.8s\n", back);
  show("bad descriptor", &bad);
  show("opcode 42", &odd);
  struct aiocb refused = cb_for(fd, x, 1, 0, LIO_WRITE);
  refused.aio_reqprio = 50;
  struct aiocb* partly[2] = {&refused, &r};
  CALL(lio(LIO_WAIT, partly, 2, NULL));
  CALL(lio(LIO_WAIT, partly, 1, NULL));
  close(fd);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  sig_list = SIGRTMIN + 2;
  sig_entry = SIGRTMIN + 3;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig_list);
  sigaddset(&set, sig_entry);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  Dl_info info;
  if (dladdr((void*)aio_read, &info) != 0) printf("librt: %s\n", info.dli_fname);

  files();
  pipes();
  notifications();
  lists("lio_listio", lio_listio);
#if defined(__x86_64__)
  void* librt = dlopen("librt.so.1", RTLD_NOW | RTLD_NOLOAD);
  lio_fn old = librt != NULL ? (lio_fn)dlvsym(librt, "lio_listio", "GLIBC_2.2.5") : NULL;
  check(old != NULL, "no lio_listio@GLIBC_2.2.5");
  if (old != NULL) lists("lio_listio@GLIBC_2.2.5", old);
#endif
  if (failures != 0) return 1;
  printf("aio-client: ok\n");
  return 0;
}
