// The raw system calls of the aio implementation, on top of core/linux_syscall.h.
//
// Why raw: the workers must not be cancellation points (glibc's pread and
// fsync are), the signal mask must be set exactly (glibc's sigprocmask and
// sigfillset hide SIGCANCEL and SIGSETXID, which is what we want here, but
// only some of its versions are importable from 2.26), and the notification
// signals need a hand-made siginfo (rt_sigqueueinfo), which glibc 2.26 does
// not export.  Each returns the kernel's result: >= 0, or -errno.
#pragma once

#include <signal.h>
#include <sys/syscall.h>

#include <cstdint>

#include "linux_syscall.h"

namespace lambshm::aio::sys {

using lambshm::sys::call;

inline long pread(int fd, void* buf, size_t len, off_t off) {
  return call(SYS_pread64, fd, buf, len, off);
}
inline long pwrite(int fd, const void* buf, size_t len, off_t off) {
  return call(SYS_pwrite64, fd, buf, len, off);
}
inline long read(int fd, void* buf, size_t len) { return call(SYS_read, fd, buf, len); }
inline long write(int fd, const void* buf, size_t len) { return call(SYS_write, fd, buf, len); }
inline long fsync(int fd) { return call(SYS_fsync, fd); }
inline long fdatasync(int fd) { return call(SYS_fdatasync, fd); }
inline int fcntl_getfl(int fd) { return (int)call(SYS_fcntl, fd, F_GETFL); }

// The kernel's signal set: 64 bits, signal n is bit n - 1.
using KernelSigset = uint64_t;
inline constexpr size_t kKernelSigsetSize = sizeof(KernelSigset);
inline int sigprocmask(int how, const KernelSigset* set, KernelSigset* old) {
  return (int)call(SYS_rt_sigprocmask, how, set, old, kKernelSigsetSize);
}
// Every signal but the two glibc keeps for itself (SIGCANCEL = 32 for
// pthread_cancel, SIGSETXID = 33 for setuid() in threaded programs): a thread
// blocking those could neither be cancelled nor let setuid() finish.  glibc's
// sigfillset leaves out the same two.
inline constexpr KernelSigset kAllButInternal =
    ~KernelSigset{0} & ~(KernelSigset{1} << (32 - 1)) & ~(KernelSigset{1} << (33 - 1));

inline int rt_sigqueueinfo(pid_t pid, int sig, siginfo_t* info) {
  return (int)call(SYS_rt_sigqueueinfo, pid, sig, info);
}
inline int rt_tgsigqueueinfo(pid_t tgid, pid_t tid, int sig, siginfo_t* info) {
  return (int)call(SYS_rt_tgsigqueueinfo, tgid, tid, sig, info);
}
inline int tgkill(pid_t tgid, pid_t tid, int sig) { return (int)call(SYS_tgkill, tgid, tid, sig); }
inline uid_t getuid() { return (uid_t)call(SYS_getuid); }
inline pid_t getpid() { return lambshm::sys::getpid(); }

// Largest signal number the kernel accepts (its _NSIG); 0 is valid too (no signal).
inline constexpr int kMaxSignal = 64;

}  // namespace lambshm::aio::sys
