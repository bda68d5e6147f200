// The raw system calls of the aio implementation, on top of core/linux_syscall.h.
//
// Why raw: the workers must not be cancellation points (glibc's pread and
// fsync are), and the notification signals need a hand-made siginfo
// (rt_sigqueueinfo), which glibc 2.26 does not export.  (The signal masks of
// workers and notification threads are set by notify/notify_thread.h.)  Each
// returns the kernel's result: >= 0, or -errno.
#pragma once

#include <signal.h>
#include <sys/syscall.h>

#include "linux_syscall.h"

namespace lambshm::aio::sys {

using lambshm::sys::call;

using lambshm::sys::getpid;
using lambshm::sys::pwrite;
using lambshm::sys::write;

inline long pread(int fd, void* buf, size_t len, off_t off) {
  return call(SYS_pread64, fd, buf, len, off);
}
inline long read(int fd, void* buf, size_t len) { return call(SYS_read, fd, buf, len); }
inline long fsync(int fd) { return call(SYS_fsync, fd); }
inline long fdatasync(int fd) { return call(SYS_fdatasync, fd); }
inline int fcntl_getfl(int fd) { return (int)call(SYS_fcntl, fd, F_GETFL); }

inline int rt_sigqueueinfo(pid_t pid, int sig, siginfo_t* info) {
  return (int)call(SYS_rt_sigqueueinfo, pid, sig, info);
}
inline int rt_tgsigqueueinfo(pid_t tgid, pid_t tid, int sig, siginfo_t* info) {
  return (int)call(SYS_rt_tgsigqueueinfo, tgid, tid, sig, info);
}
inline int tgkill(pid_t tgid, pid_t tid, int sig) { return (int)call(SYS_tgkill, tgid, tid, sig); }
inline uid_t getuid() { return (uid_t)call(SYS_getuid); }

// Largest signal number the kernel accepts (its _NSIG); 0 is valid too (no signal).
inline constexpr int kMaxSignal = 64;

}  // namespace lambshm::aio::sys
