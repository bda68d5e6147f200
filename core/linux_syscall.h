// Raw Linux system calls for x86_64 and aarch64.
//
// Why not libc's wrappers: this code runs inside replacements for glibc's own
// librt and libpthread, and must
//  - import nothing newer than glibc 2.26 (glibc 2.33 turned fstat and friends
//    into new symbols that Amazon Linux 2 does not have);
//  - not be a cancellation point where glibc's implementation is not one
//    (open() is a cancellation point; shm_open and sem_open are not);
//  - report errors as values: every wrapper returns the kernel's result,
//    >= 0 on success or -errno on failure, and never touches errno.
#pragma once

#include <fcntl.h>
#include <linux/futex.h>
#include <linux/memfd.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

// Linux 5.9; the same number on x86_64 and aarch64 (the unified table).
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

namespace lambshm::sys {

#if defined(__x86_64__)
inline long syscall6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
inline long syscall6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory", "cc");
  return x0;
}
#else
#error "lambshm supports x86_64 and aarch64"
#endif

template <typename A = long, typename B = long, typename C = long, typename D = long,
          typename E = long, typename F = long>
inline long call(long n, A a = 0, B b = 0, C c = 0, D d = 0, E e = 0, F f = 0) {
  return syscall6(n, (long)a, (long)b, (long)c, (long)d, (long)e, (long)f);
}

// The kernel's struct stat is glibc's on both architectures.
#if defined(__x86_64__)
static_assert(sizeof(struct stat) == 144);
#else
static_assert(sizeof(struct stat) == 128);
#endif

inline int openat(int dirfd, const char* path, int flags, mode_t mode = 0) {
  return (int)call(SYS_openat, dirfd, path, flags, mode);
}
inline int close(int fd) {
  // Linux releases the descriptor even when close reports EINTR: never retry.
  return (int)call(SYS_close, fd);
}
inline int dup3(int oldfd, int newfd, int flags) {
  return (int)call(SYS_dup3, oldfd, newfd, flags);
}
inline int fcntl(int fd, int cmd, long arg) { return (int)call(SYS_fcntl, fd, cmd, arg); }
inline int fstat(int fd, struct stat* st) { return (int)call(SYS_fstat, fd, st); }
inline int fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  return (int)call(SYS_newfstatat, dirfd, path, st, flags);
}
inline int mkdirat(int dirfd, const char* path, mode_t mode) {
  return (int)call(SYS_mkdirat, dirfd, path, mode);
}
inline int fchmod(int fd, mode_t mode) { return (int)call(SYS_fchmod, fd, mode); }
inline int linkat(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                  int flags) {
  return (int)call(SYS_linkat, olddirfd, oldpath, newdirfd, newpath, flags);
}
inline int unlinkat(int dirfd, const char* path, int flags) {
  return (int)call(SYS_unlinkat, dirfd, path, flags);
}
inline long pwrite(int fd, const void* buf, size_t len, off_t off) {
  return call(SYS_pwrite64, fd, buf, len, off);
}
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)  // Linux 3.15; glibc 2.26's headers lack it
#endif
inline int renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                     unsigned flags) {
  return (int)call(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}
inline long write(int fd, const void* buf, size_t len) { return call(SYS_write, fd, buf, len); }
inline long getrandom(void* buf, size_t len, unsigned flags) {
  return call(SYS_getrandom, buf, len, flags);
}
inline uid_t geteuid() { return (uid_t)call(SYS_geteuid); }
// The kernel's struct rlimit64 is glibc's struct rlimit on both architectures.
inline int getrlimit(int resource, struct rlimit* out) {
  return (int)call(SYS_prlimit64, 0, resource, nullptr, out);
}
// The kernel's sched_getaffinity: the size of the mask it wrote, or -errno.
inline int sched_getaffinity(pid_t pid, size_t size, void* mask) {
  return (int)call(SYS_sched_getaffinity, pid, size, mask);
}
inline pid_t getpid() { return (pid_t)call(SYS_getpid); }
inline uid_t getuid() { return (uid_t)call(SYS_getuid); }
inline long pread(int fd, void* buf, size_t len, off_t off) {
  return call(SYS_pread64, fd, buf, len, off);
}
inline long read(int fd, void* buf, size_t len) { return call(SYS_read, fd, buf, len); }
inline int ftruncate(int fd, off_t length) { return (int)call(SYS_ftruncate, fd, length); }
inline int fstatfs(int fd, struct statfs* st) { return (int)call(SYS_fstatfs, fd, st); }
// memfd_create is not in glibc 2.26's libc: the system call, -ENOSYS before Linux 3.17.
inline int memfd_create(const char* name, unsigned flags) {
  return (int)call(SYS_memfd_create, name, flags);
}
inline int socket(int domain, int type, int protocol) {
  return (int)call(SYS_socket, domain, type, protocol);
}
inline int socketpair(int domain, int type, int protocol, int sv[2]) {
  return (int)call(SYS_socketpair, domain, type, protocol, sv);
}
inline int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  return (int)call(SYS_connect, fd, addr, len);
}
inline long sendmsg(int fd, const struct msghdr* msg, int flags) {
  return call(SYS_sendmsg, fd, msg, flags);
}
inline long recvmsg(int fd, struct msghdr* msg, int flags) {
  return call(SYS_recvmsg, fd, msg, flags);
}
inline int getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
  return (int)call(SYS_getsockopt, fd, level, name, value, len);
}
inline int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  return (int)call(SYS_setsockopt, fd, level, name, value, len);
}
inline int ppoll(struct pollfd* fds, unsigned n, const struct timespec* timeout) {
  return (int)call(SYS_ppoll, fds, n, timeout, nullptr, 8);
}
inline pid_t wait4(pid_t pid, int* status, int options) {
  return (pid_t)call(SYS_wait4, pid, status, options, nullptr);
}

// mmap returns an address or -errno; callers test with is_error().
inline long mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return call(SYS_mmap, addr, len, prot, flags, fd, off);
}
inline int munmap(void* addr, size_t len) { return (int)call(SYS_munmap, addr, len); }
inline bool is_error(long r) { return r < 0 && r > -4096; }

inline long futex(void* word, int op, uint32_t val, const struct timespec* timeout,
                  uint32_t* word2, uint32_t val3) {
  return call(SYS_futex, word, op, val, timeout, word2, val3);
}

}  // namespace lambshm::sys
