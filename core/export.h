// The edge between the C ABI and the internals: exported functions translate
// internal results (value or -errno) into POSIX conventions here, and nowhere
// else is errno written.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>

// Exported from the shared library; the version script assigns the version.
#define LAMBSHM_EXPORT extern "C" __attribute__((visibility("default")))

namespace lambshm {

// errno's offset from the thread pointer, or 0 until first needed.
inline constinit std::atomic<intptr_t> g_errno_offset{0};

// errno is written without a call into libc.  glibc's errno lives in
// libc.so.6's static TLS block (it is initial-exec TLS, and libc is always
// loaded at startup), so its offset from the thread pointer is fixed for the
// life of the process and the same in every thread: one __errno_location()
// gives it for all.  Worth it because some errors are the common case:
// sem_trywait's EAGAIN is what Python checks before every blocking acquire,
// and a call through libc's PLT cost as much as the rest of sem_trywait.
inline char* thread_pointer() { return static_cast<char*>(__builtin_thread_pointer()); }

// The first error in the process: through libc, learning the offset.
[[gnu::noinline, gnu::cold]] inline int fail_learning_errno_offset(int error) {
  errno = error;
  g_errno_offset.store(reinterpret_cast<char*>(&errno) - thread_pointer(),
                       std::memory_order_relaxed);
  return -1;
}

// Sets errno to `error` and returns -1.
inline int fail_with_errno(int error) {
  intptr_t offset = g_errno_offset.load(std::memory_order_relaxed);
  if (__builtin_expect(offset == 0, 0)) return fail_learning_errno_offset(error);
  *reinterpret_cast<int*>(thread_pointer() + offset) = error;
  return -1;
}

// A pointer the caller passed, made opaque to the optimiser.  glibc's headers
// declare most sem_* arguments nonnull, and GCC trusts that, even with
// -fno-delete-null-pointer-checks, once our null checks are inlined into the
// exported function: it deletes them, and a null pointer crashes instead of
// giving EINVAL.  The empty asm emits no instruction.
template <typename T>
inline T* opaque(T* p) {
  __asm__("" : "+r"(p));
  return p;
}

// r >= 0 is returned as is; -errno becomes errno and -1.
inline int posix_result(int r) {
  if (r < 0) return fail_with_errno(-r);
  return r;
}

}  // namespace lambshm
