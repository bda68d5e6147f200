// The process's umask (umask.h).
#include "umask.h"

#include <fcntl.h>
#include <pthread.h>

#include <cerrno>
#include <cstring>

#include "linux_syscall.h"
#include "mutex.h"

namespace lambshm {

namespace {

// The umask as last set or read, and by which process: a vfork child that
// calls umask() writes here, in its parent's memory, under its own pid.
Mutex g_mutex;
pid_t g_pid = 0;  // whose value g_mask is (0: none)
mode_t g_mask = 0;

// Every umask() of this process comes through set_umask: defined by the
// preload library (LD_PRELOAD puts its umask first for every caller), absent
// (null) elsewhere.  Hidden, so it is settled when the library is linked.
extern "C" __attribute__((weak, visibility("hidden"))) const bool lambshm_umask_interposed;
bool interposed() { return &lambshm_umask_interposed != nullptr; }

int read_from_proc() {
  int fd = sys::openat(AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  char buf[4096];
  long n = sys::read(fd, buf, sizeof buf - 1);
  sys::close(fd);
  if (n <= 0) return n < 0 ? (int)n : -EIO;
  buf[n] = '\0';
  const char* line = strstr(buf, "\nUmask:\t");
  if (line == nullptr) return -ENOSYS;  // before Linux 4.7
  int mask = 0;
  for (const char* p = line + 8; *p >= '0' && *p <= '7'; ++p) mask = mask * 8 + (*p - '0');
  return mask & 0777;
}

// fork() copies g_mutex as it is: a child forked while another thread held
// it would wait forever, in shm_open with a bucket of the name table locked.
// Held across fork() instead (registered at the first use, as fd_registry's).
std::atomic<int> g_handlers{0};  // 0 none, 1 registering, 2 registered
void fork_prepare() { g_mutex.lock(); }
void fork_parent() { g_mutex.unlock(); }
void fork_child() { g_mutex.reset_after_fork(); }
void ensure_fork_handlers() {
  if (g_handlers.load(std::memory_order_acquire) == 2) return;
  int expected = 0;
  if (g_handlers.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    g_handlers.store(2, std::memory_order_release);
  }
}

}  // namespace

int current_umask() {
  pid_t self = sys::getpid();
  ensure_fork_handlers();
  MutexLock hold(g_mutex);
  if (interposed() && g_pid == self) return (int)g_mask;
  int mask = read_from_proc();
  if (mask >= 0 && interposed()) {
    g_pid = self;
    g_mask = (mode_t)mask;
  }
  return mask;
}

mode_t set_umask(mode_t mask) {
  pid_t self = sys::getpid();
  ensure_fork_handlers();
  MutexLock hold(g_mutex);
  auto old = (mode_t)sys::call(SYS_umask, mask & 0777);
  g_pid = self;
  g_mask = mask & 0777;
  return old;
}

}  // namespace lambshm
