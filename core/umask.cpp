// The process's umask (umask.h).
#include "umask.h"

#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "fd_registry.h"
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

// Not interposed (the overlay): the umask last seen, tagged with the pid.
std::atomic<uint64_t> g_seen{0};
constexpr uint64_t kSeen = 1u << 31;

// The umask when umask() is not ours: the value last seen is written back
// with umask(2), which returns the value it replaces.  When that is the same
// value, nothing changed, and nobody could see a difference.  When the
// program changed it since, the stale value was in force for a moment and is
// replaced at once: other threads creating files in that moment got the
// process's previous umask.  The first read of a process is from /proc.
int guessed_umask(pid_t self) {
  uint64_t seen = g_seen.load(std::memory_order_relaxed);
  int mask;
  if ((seen & kSeen) != 0 && (pid_t)(seen >> 32) == self) {
    auto guess = (mode_t)(seen & 0777);
    auto now = (mode_t)sys::call(SYS_umask, guess);
    if (now == guess) return (int)guess;
    sys::call(SYS_umask, now);
    mask = (int)now;
  } else if ((mask = read_from_proc()) < 0) {
    return mask;
  }
  g_seen.store(((uint64_t)(uint32_t)self << 32) | kSeen | (uint64_t)mask,
               std::memory_order_relaxed);
  return mask;
}

}  // namespace

// The lock is held only inside a fork_registry Section, so that no fork
// copies it held.
int current_umask() {
  pid_t self = fd_registry::self_pid();
  if (!interposed()) return guessed_umask(self);
  {
    fd_registry::Section section;
    MutexLock hold(g_mutex);
    if (g_pid == self) return (int)g_mask;
  }
  int mask = read_from_proc();
  if (mask >= 0) {
    fd_registry::Section section;
    MutexLock hold(g_mutex);
    // Unless umask() changed it meanwhile, which the value read may predate.
    if (g_pid != self) {
      g_pid = self;
      g_mask = (mode_t)mask;
    }
  }
  return mask;
}

mode_t set_umask(mode_t mask) {
  fd_registry::ensure_fork_handler();
  pid_t self = sys::getpid();
  fd_registry::Section section;
  MutexLock hold(g_mutex);
  auto old = (mode_t)sys::call(SYS_umask, mask & 0777);
  g_pid = self;
  g_mask = mask & 0777;
  return old;
}

}  // namespace lambshm
